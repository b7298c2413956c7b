//! Incremental, non-blocking frame parsing for one TCP link.
//!
//! Small frames are read in bulk through a staging buffer (one system call fetches a header
//! and its payload, and often several frames); large payloads are read straight into a
//! vector of the announced length, so bulk data is copied once, by the kernel.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};

use crate::wire::{FrameKind, HEADER_LEN, Header};
use crate::{CommError, MessageTag, Op};

/// Size of the staging buffer; payloads needing at least half of it bypass it.
const STAGING: usize = 64 * 1024;

/// A complete frame of an operation.
pub(crate) struct Frame {
    pub(crate) tag: MessageTag,
    pub(crate) payload: Vec<u8>,
}

impl fmt::Debug for Frame {
    /// The tag and length only: payloads are secret shares.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame").field("tag", &self.tag).field("len", &self.payload.len()).finish()
    }
}

/// Why a call to [`FrameReader::read_from`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadStatus {
    /// The socket has no more data for now.
    WouldBlock,
    /// The byte budget was used up; there may be more data.
    Budget,
    /// A frame was completed and the caller asked to stop there.
    Frame,
    /// The peer closed its side of the connection.
    Eof,
}

/// A frame whose header has arrived but whose payload is still being read.
struct Partial {
    tag: MessageTag,
    payload: Vec<u8>,
    filled: usize,
}

impl fmt::Debug for Partial {
    /// The tag and progress only, never the bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Partial")
            .field("tag", &self.tag)
            .field("len", &self.payload.len())
            .field("filled", &self.filled)
            .finish()
    }
}

/// Parser state of one direction of one link.
pub(crate) struct FrameReader {
    peer: usize,
    max_len: u64,
    staging: Box<[u8]>,
    start: usize,
    end: usize,
    partial: Option<Partial>,
}

impl fmt::Debug for FrameReader {
    /// How much is buffered, never the bytes (the staging buffer holds payloads).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReader")
            .field("peer", &self.peer)
            .field("max_len", &self.max_len)
            .field("staged", &(self.end - self.start))
            .field("partial", &self.partial)
            .finish()
    }
}

impl FrameReader {
    /// A reader for frames from `peer`, rejecting payloads longer than `max_len`.
    pub(crate) fn new(peer: usize, max_len: u64) -> Self {
        FrameReader {
            peer,
            max_len,
            staging: vec![0u8; STAGING].into_boxed_slice(),
            start: 0,
            end: 0,
            partial: None,
        }
    }

    /// The tag of the frame being read, if its payload is incomplete: lets the caller reject
    /// a frame of the wrong operation before its payload has arrived.
    pub(crate) fn pending_tag(&self) -> Option<MessageTag> {
        self.partial.as_ref().map(|p| p.tag)
    }

    /// Reads what `src` has (at most about `budget` bytes), appending each complete frame to
    /// `out`, and stopping after the first one if `one_frame`. Returns why it stopped and how
    /// many bytes it read.
    pub(crate) fn read_from<R: Read>(
        &mut self,
        src: &mut R,
        out: &mut VecDeque<Frame>,
        budget: usize,
        one_frame: bool,
    ) -> Result<(ReadStatus, usize), CommError> {
        let mut total = 0usize;
        loop {
            if let Some(partial) = &mut self.partial {
                let need = partial.payload.len() - partial.filled;
                let take = need.min(self.end - self.start);
                partial.payload[partial.filled..partial.filled + take]
                    .copy_from_slice(&self.staging[self.start..self.start + take]);
                self.start += take;
                partial.filled += take;
                if partial.filled == partial.payload.len() {
                    if let Some(done) = self.partial.take() {
                        out.push_back(Frame { tag: done.tag, payload: done.payload });
                    }
                    if one_frame {
                        return Ok((ReadStatus::Frame, total));
                    }
                    continue;
                }
                if total >= budget {
                    return Ok((ReadStatus::Budget, total));
                }
                if need - take >= STAGING / 2 {
                    match read_some(src, &mut partial.payload[partial.filled..], self.peer)? {
                        Some(0) => return Ok((ReadStatus::Eof, total)),
                        Some(n) => {
                            partial.filled += n;
                            total += n;
                            continue;
                        }
                        None => return Ok((ReadStatus::WouldBlock, total)),
                    }
                }
            } else if self.end - self.start >= HEADER_LEN {
                self.start_frame()?;
                continue;
            } else if total >= budget {
                return Ok((ReadStatus::Budget, total));
            }
            // Refill the staging buffer, keeping the few unconsumed bytes at its front.
            if self.start > 0 {
                self.staging.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match read_some(src, &mut self.staging[self.end..], self.peer)? {
                Some(0) => return Ok((ReadStatus::Eof, total)),
                Some(n) => {
                    self.end += n;
                    total += n;
                }
                None => return Ok((ReadStatus::WouldBlock, total)),
            }
        }
    }

    /// Parses the header at the front of the staging buffer and allocates its payload, after
    /// checking the announced length.
    fn start_frame(&mut self) -> Result<(), CommError> {
        let mut bytes = [0u8; HEADER_LEN];
        bytes.copy_from_slice(&self.staging[self.start..self.start + HEADER_LEN]);
        let header = Header::decode(&bytes)
            .map_err(|reason| CommError::Malformed { peer: self.peer, reason })?;
        let FrameKind::Op(kind) = header.kind else {
            let reason = format!("setup frame {:?} on an established link", header.kind);
            return Err(CommError::Malformed { peer: self.peer, reason });
        };
        if header.len > self.max_len {
            return Err(CommError::TooLarge {
                peer: self.peer,
                len: header.len,
                max: self.max_len,
            });
        }
        let len = usize::try_from(header.len).map_err(|_| CommError::TooLarge {
            peer: self.peer,
            len: header.len,
            max: self.max_len,
        })?;
        self.start += HEADER_LEN;
        let tag = MessageTag { seq: header.seq, op: Op::with_aux(kind, header.aux) };
        self.partial = Some(Partial { tag, payload: vec![0u8; len], filled: 0 });
        Ok(())
    }
}

/// One `read`, retried on interruption: `Some(n)` bytes (0 at end of stream) or `None` when
/// the socket has nothing for now.
fn read_some<R: Read>(
    src: &mut R,
    buf: &mut [u8],
    peer: usize,
) -> Result<Option<usize>, CommError> {
    loop {
        match src.read(buf) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CommError::from_io(peer, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OpKind;

    /// A socket stand-in that hands out at most `chunk` bytes per read and then reports
    /// `WouldBlock` once between chunks, like a non-blocking socket under load.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        chunk: usize,
        blocked: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.blocked = !self.blocked;
            if self.blocked && self.at < self.data.len() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = self.chunk.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn frame(seq: u64, payload: &[u8]) -> Vec<u8> {
        let kind = FrameKind::Op(OpKind::Exchange);
        let header = Header { kind, seq, aux: 0, len: payload.len() as u64 };
        let mut out = header.encode().to_vec();
        out.extend_from_slice(payload);
        out
    }

    fn read_all(data: Vec<u8>, chunk: usize) -> (Vec<Frame>, Result<ReadStatus, CommError>) {
        read_all_in(data, chunk, false)
    }

    fn read_all_in(
        data: Vec<u8>,
        chunk: usize,
        one: bool,
    ) -> (Vec<Frame>, Result<ReadStatus, CommError>) {
        let mut src = Trickle { data, at: 0, chunk, blocked: false };
        let mut reader = FrameReader::new(3, 1 << 20);
        let mut out = VecDeque::new();
        loop {
            match reader.read_from(&mut src, &mut out, 1000, one) {
                Ok((ReadStatus::Eof, _)) => return (out.into(), Ok(ReadStatus::Eof)),
                Ok(_) => {}
                Err(e) => return (out.into(), Err(e)),
            }
        }
    }

    #[test]
    fn frames_survive_any_chunking() {
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let payloads: Vec<Vec<u8>> = vec![vec![], b"abc".to_vec(), big, vec![7; 40_000]];
        let mut stream = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            stream.extend(frame(i as u64, p));
        }
        for (chunk, one) in
            [1, 7, 32, 33, 4096, 1 << 20].into_iter().flat_map(|c| [(c, false), (c, true)])
        {
            let (frames, status) = read_all_in(stream.clone(), chunk, one);
            assert!(matches!(status, Ok(ReadStatus::Eof)), "chunk {chunk}");
            let got: Vec<&Vec<u8>> = frames.iter().map(|f| &f.payload).collect();
            assert_eq!(got, payloads.iter().collect::<Vec<_>>(), "chunk {chunk}");
            assert!(frames.iter().enumerate().all(|(i, f)| f.tag.seq == i as u64));
        }
    }

    #[test]
    fn bad_magic_is_malformed_naming_the_peer() {
        let (_, status) = read_all(vec![0xAB; 64], 64);
        assert!(matches!(status, Err(CommError::Malformed { peer: 3, .. })), "{status:?}");
    }

    #[test]
    fn setup_frame_on_a_link_is_malformed() {
        let header = Header { kind: FrameKind::Hello, seq: 0, aux: 0, len: 0 }.encode();
        let (_, status) = read_all(header.to_vec(), 64);
        assert!(matches!(status, Err(CommError::Malformed { peer: 3, .. })), "{status:?}");
    }

    #[test]
    fn huge_length_is_rejected_before_allocating() {
        let kind = FrameKind::Op(OpKind::Barrier);
        let header = Header { kind, seq: 0, aux: 0, len: u64::MAX }.encode();
        let (_, status) = read_all(header.to_vec(), 64);
        assert!(
            matches!(status, Err(CommError::TooLarge { peer: 3, len: u64::MAX, max: 1_048_576 })),
            "{status:?}"
        );
    }

    #[test]
    fn debug_shows_lengths_not_bytes() {
        let mut data = frame(0, &[171; 100]);
        data.extend(frame(1, &[171; 100]));
        data.truncate(HEADER_LEN + 100 + HEADER_LEN + 50);
        let mut src = Trickle { data, at: 0, chunk: 1 << 20, blocked: true };
        let mut reader = FrameReader::new(0, 1 << 20);
        let mut out = VecDeque::new();
        reader.read_from(&mut src, &mut out, 1 << 20, true).expect("in-memory read");
        let shown = format!("{reader:?} {out:?}");
        assert_eq!(out.len(), 1);
        assert!(reader.end > reader.start, "bytes staged");
        reader.read_from(&mut src, &mut out, 1 << 20, false).expect("in-memory read");
        assert!(reader.partial.is_some());
        let shown = format!("{shown} {reader:?} {out:?}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(shown.len() < 1000, "{shown}");
    }

    #[test]
    fn truncated_frame_stays_pending() {
        let mut data = frame(0, &[1; 100]);
        data.truncate(50);
        let mut src = Trickle { data, at: 0, chunk: 64, blocked: false };
        let mut reader = FrameReader::new(0, 1 << 20);
        let mut out = VecDeque::new();
        let mut status = Ok(ReadStatus::WouldBlock);
        for _ in 0..10 {
            status = reader.read_from(&mut src, &mut out, 1 << 20, false).map(|s| s.0);
            if !matches!(status, Ok(ReadStatus::WouldBlock)) {
                break;
            }
        }
        assert!(matches!(status, Ok(ReadStatus::Eof)), "{status:?}");
        assert!(out.is_empty());
        assert!(reader.pending_tag().is_some_and(|t| t.op.kind == OpKind::Exchange));
    }
}
