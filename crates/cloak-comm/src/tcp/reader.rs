//! Incremental, non-blocking frame parsing for one TCP link.
//!
//! Small frames are read in bulk through a staging buffer (one system call fetches a header
//! and its payload, and often several frames); large payloads are read straight into the
//! payload's vector, so bulk data is copied once, by the kernel. A payload's memory grows
//! with what has arrived (doubling, from 1 MiB), never to the announced length at once: a
//! peer that announces a gigabyte and sends a megabyte costs about two.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::time::Instant;

use crate::shaper::LinkShaper;
use crate::wire::{FrameKind, HEADER_LEN, Header, MAX_ABORT_PAYLOAD, decode_abort};
use crate::{CommError, MessageTag, Op};

/// Size of the staging buffer; payloads needing at least half of it bypass it.
const STAGING: usize = 64 * 1024;

/// The first allocation of a payload, and the least by which it grows: a payload's capacity
/// is at most twice what has arrived, or this much.
const GROW: usize = 1 << 20;

/// How much of a payload's capacity is zeroed (made readable into) at a time: small enough
/// that the zeroed memory is still in cache when the kernel copies into it.
const ZERO_STEP: usize = 1 << 20;

/// A complete frame of an operation.
pub(crate) struct Frame {
    pub(crate) tag: MessageTag,
    pub(crate) payload: Vec<u8>,
    /// When a shaped link delivers it (see [`CommConfig::network`](crate::CommConfig)):
    /// the call that consumes it holds it until then. `None` unshaped.
    pub(crate) release: Option<Instant>,
}

impl Frame {
    /// What this frame counts for against the read-ahead bound: its payload and header.
    pub(crate) fn cost(&self) -> usize {
        self.payload.len() + HEADER_LEN
    }
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

/// What a frame being read will be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    /// A message of an operation.
    Op(MessageTag),
    /// The peer's abort notice.
    Abort,
}

/// A frame whose header has arrived but whose payload is still being read.
struct Partial {
    pending: Pending,
    /// The announced payload length.
    len: usize,
    /// `payload[..filled]` has arrived; `payload[filled..]` is zeroed room for what comes
    /// next. The capacity grows with what has arrived ([`Partial::room`]).
    payload: Vec<u8>,
    filled: usize,
    /// When its header was read, if the link is shaped: the stand-in for when it was sent.
    begun: Option<Instant>,
}

impl Partial {
    /// Bytes of the payload still to come.
    fn remaining(&self) -> usize {
        self.len - self.filled
    }

    /// Room for the next bytes of the payload (empty only when it is complete). The first
    /// `GROW` bytes are allocated zeroed; after that, capacity is added in proportion to
    /// what has arrived, at most `max(filled, GROW)` at a time, and zeroed `ZERO_STEP` at a
    /// time; never past the announced length.
    fn room(&mut self) -> &mut [u8] {
        let remaining = self.remaining();
        if self.payload.capacity() == 0 && remaining > 0 {
            // The first step is zeroed by the allocator, which need not touch memory fresh
            // from the kernel: as cheap as the whole payload was before it grew in steps.
            self.payload = vec![0; remaining.min(GROW)];
        } else if self.filled == self.payload.len() && remaining > 0 {
            if self.payload.len() == self.payload.capacity() {
                self.payload.reserve_exact(remaining.min(self.filled.max(GROW)));
            }
            let spare = self.payload.capacity() - self.payload.len();
            self.payload.resize(self.filled + spare.min(remaining).min(ZERO_STEP), 0);
        }
        &mut self.payload[self.filled..]
    }
}

impl fmt::Debug for Partial {
    /// The tag and progress only, never the bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Partial")
            .field("pending", &self.pending)
            .field("len", &self.len)
            .field("filled", &self.filled)
            .field("capacity", &self.payload.capacity())
            .finish()
    }
}

/// Parser state of one direction of one link.
pub(crate) struct FrameReader {
    peer: usize,
    /// Parties in the network: an abort must name one of them.
    world: usize,
    max_len: u64,
    staging: Box<[u8]>,
    start: usize,
    end: usize,
    partial: Option<Partial>,
    /// The model of the link from the peer, when the network is shaped: every frame is
    /// stamped with its release time as it completes.
    shaper: Option<LinkShaper>,
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
    /// A reader for frames from `peer` of a `world`-party network, rejecting payloads
    /// longer than `max_len`.
    pub(crate) fn new(peer: usize, world: usize, max_len: u64) -> Self {
        FrameReader {
            peer,
            world,
            max_len,
            staging: vec![0u8; STAGING].into_boxed_slice(),
            start: 0,
            end: 0,
            partial: None,
            shaper: None,
        }
    }

    /// This reader, stamping every frame with the release time `shaper` gives it (reading
    /// the header stands for sending the frame: see [`CommConfig::network`]).
    ///
    /// [`CommConfig::network`]: crate::CommConfig::network
    pub(crate) fn shaped(self, shaper: Option<LinkShaper>) -> Self {
        FrameReader { shaper, ..self }
    }

    /// The tag of the operation frame being read, if its payload is incomplete: lets the
    /// caller reject a frame of the wrong operation before its payload has arrived.
    pub(crate) fn pending_tag(&self) -> Option<MessageTag> {
        match self.partial.as_ref()?.pending {
            Pending::Op(tag) => Some(tag),
            Pending::Abort => None,
        }
    }

    /// Bytes read from the peer and not yet handed out as frames: staged, and the part of
    /// the frame being read that has arrived.
    pub(crate) fn buffered(&self) -> usize {
        self.end - self.start + self.partial.as_ref().map_or(0, |p| p.filled)
    }

    /// Reads what `src` has (at most about `budget` bytes), appending each complete frame to
    /// `out`, and stopping after the first one if `one_frame`. Returns why it stopped and how
    /// many bytes it read.
    ///
    /// An abort frame from the peer ends reading with [`CommError::Aborted`] (the frames
    /// before it are in `out`); the caller must not read this link again.
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
                if partial.remaining() == 0 {
                    if let Some(done) = self.partial.take() {
                        self.finish(done, out)?;
                    }
                    if one_frame {
                        return Ok((ReadStatus::Frame, total));
                    }
                    continue;
                }
                if self.end > self.start {
                    let room = partial.room();
                    let take = room.len().min(self.end - self.start);
                    room[..take].copy_from_slice(&self.staging[self.start..self.start + take]);
                    self.start += take;
                    partial.filled += take;
                    continue;
                }
                if total >= budget {
                    return Ok((ReadStatus::Budget, total));
                }
                if partial.remaining() >= STAGING / 2 {
                    match read_some(src, partial.room(), self.peer)? {
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

    /// Hands a complete frame out: a message into `out`, an abort as the error that ends
    /// this link.
    fn finish(&mut self, done: Partial, out: &mut VecDeque<Frame>) -> Result<(), CommError> {
        match done.pending {
            Pending::Op(tag) => {
                let bytes = (done.len + HEADER_LEN) as u64;
                let release = match (&mut self.shaper, done.begun) {
                    (Some(shaper), Some(begun)) => Some(shaper.release(begun, bytes)),
                    _ => None,
                };
                out.push_back(Frame { tag, payload: done.payload, release });
                Ok(())
            }
            Pending::Abort => {
                let peer = self.peer;
                match decode_abort(&done.payload, self.world) {
                    Ok((origin, reason)) => Err(CommError::Aborted { origin, via: peer, reason }),
                    Err(reason) => Err(CommError::Malformed { peer, reason }),
                }
            }
        }
    }

    /// Forgets everything read, for a new stream from a peer of a `world`-party network with
    /// `max_len`: lets a test run a million streams through one reader without allocating a
    /// staging buffer for each.
    #[cfg(test)]
    fn reset(&mut self, world: usize, max_len: u64) {
        (self.world, self.max_len, self.start, self.end, self.partial) =
            (world, max_len, 0, 0, None);
    }

    /// Parses the header at the front of the staging buffer, after which the payload is
    /// read, once its announced length has been checked.
    fn start_frame(&mut self) -> Result<(), CommError> {
        let mut bytes = [0u8; HEADER_LEN];
        bytes.copy_from_slice(&self.staging[self.start..self.start + HEADER_LEN]);
        let header = Header::decode(&bytes)
            .map_err(|reason| CommError::Malformed { peer: self.peer, reason })?;
        let pending = match header.kind {
            FrameKind::Op(kind) => {
                let op = Op::with_aux(kind, header.aux);
                if op.payload_len().is_some_and(|expected| expected != header.len) {
                    let reason = format!(
                        "{kind} frame (parameter {}) announcing {} bytes",
                        header.aux, header.len
                    );
                    return Err(CommError::Malformed { peer: self.peer, reason });
                }
                Pending::Op(MessageTag { seq: header.seq, op })
            }
            FrameKind::Abort => {
                if !(8..=MAX_ABORT_PAYLOAD as u64).contains(&header.len) {
                    let reason = format!("abort frame announcing {} bytes", header.len);
                    return Err(CommError::Malformed { peer: self.peer, reason });
                }
                Pending::Abort
            }
            kind => {
                let reason = format!("setup frame {kind:?} on an established link");
                return Err(CommError::Malformed { peer: self.peer, reason });
            }
        };
        let too_large =
            || CommError::TooLarge { peer: self.peer, len: header.len, max: self.max_len };
        if pending != Pending::Abort && header.len > self.max_len {
            return Err(too_large());
        }
        let len = usize::try_from(header.len).map_err(|_| too_large())?;
        self.start += HEADER_LEN;
        let begun = self.shaper.is_some().then(Instant::now);
        self.partial = Some(Partial { pending, len, payload: Vec::new(), filled: 0, begun });
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
        let mut reader = FrameReader::new(3, 4, 1 << 20);
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
    fn a_shaped_reader_stamps_each_frame_behind_the_last() {
        let profile = crate::NetProfile::new(8_000_000, std::time::Duration::from_millis(10))
            .expect("valid profile");
        let mut reader = FrameReader::new(3, 4, 1 << 20).shaped(Some(LinkShaper::new(profile)));
        let stream = [frame(0, &[1; 968]), frame(1, &[2; 1968])].concat();
        let mut src = Trickle { data: stream, at: 0, chunk: 1 << 20, blocked: true };
        let mut out = VecDeque::new();
        let before = Instant::now();
        reader.read_from(&mut src, &mut out, usize::MAX, false).expect("valid frames");
        let after = Instant::now();
        let releases: Vec<Instant> = out.iter().filter_map(|f| f.release).collect();
        assert_eq!(releases.len(), 2);
        // 1000 and 2000 bytes with their headers, a byte per microsecond, then 5 ms.
        let us = std::time::Duration::from_micros;
        assert!(releases[0] >= before + us(6_000) && releases[0] <= after + us(6_000));
        assert_eq!(releases[1] - releases[0], us(2_000));
        // Unshaped, nothing is held.
        let (frames, _) = read_all(frame(0, b"x"), 7);
        assert!(frames.iter().all(|f| f.release.is_none()));
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
        let kind = FrameKind::Op(OpKind::Exchange);
        let header = Header { kind, seq: 0, aux: 0, len: u64::MAX }.encode();
        let (_, status) = read_all(header.to_vec(), 64);
        assert!(
            matches!(status, Err(CommError::TooLarge { peer: 3, len: u64::MAX, max: 1_048_576 })),
            "{status:?}"
        );
    }

    #[test]
    fn steps_of_fixed_size_refuse_any_other_announced_length_before_allocating() {
        // Under the configured maximum, but not what the step carries.
        for (kind, aux, len) in
            [(OpKind::AllReduce, 4, 33), (OpKind::AllReduce, 4, 1 << 19), (OpKind::Barrier, 0, 1)]
        {
            let header = Header { kind: FrameKind::Op(kind), seq: 0, aux, len }.encode();
            let (_, status) = read_all(header.to_vec(), 64);
            assert!(matches!(status, Err(CommError::Malformed { peer: 3, .. })), "{status:?}");
        }
        // The right lengths pass.
        let mut ok = Header { kind: FrameKind::Op(OpKind::AllReduce), seq: 0, aux: 2, len: 16 }
            .encode()
            .to_vec();
        ok.extend([7u8; 16]);
        ok.extend(Header { kind: FrameKind::Op(OpKind::Barrier), seq: 1, aux: 0, len: 0 }.encode());
        let (frames, status) = read_all(ok, 64);
        assert!(matches!(status, Ok(ReadStatus::Eof)), "{status:?}");
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn debug_shows_lengths_not_bytes() {
        let mut data = frame(0, &[171; 100]);
        data.extend(frame(1, &[171; 100]));
        data.truncate(HEADER_LEN + 100 + HEADER_LEN + 50);
        let mut src = Trickle { data, at: 0, chunk: 1 << 20, blocked: true };
        let mut reader = FrameReader::new(0, 4, 1 << 20);
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
    fn a_payload_is_allocated_as_it_arrives() {
        // A peer announces 1 GiB (allowed) and sends 1 MiB of it: that costs about 2 MiB,
        // not the announced length; as more arrives, capacity at most doubles what is there.
        let kind = FrameKind::Op(OpKind::PointToPoint);
        let mut data = Header { kind, seq: 0, aux: 0, len: 1 << 30 }.encode().to_vec();
        data.extend(vec![9u8; 1 << 20]);
        let mut src = Trickle { data, at: 0, chunk: 1 << 16, blocked: false };
        let mut reader = FrameReader::new(0, 4, 1 << 32);
        let mut out = VecDeque::new();
        let mut status = Ok(ReadStatus::WouldBlock);
        for _ in 0..100 {
            status = reader.read_from(&mut src, &mut out, 1 << 30, false).map(|s| s.0);
            if !matches!(status, Ok(ReadStatus::WouldBlock)) {
                break;
            }
        }
        assert!(matches!(status, Ok(ReadStatus::Eof)), "{status:?}");
        let partial = reader.partial.as_ref().expect("the frame is pending");
        assert_eq!((partial.len, partial.filled), (1 << 30, 1 << 20));
        assert!(partial.payload.capacity() <= 2 << 20, "{partial:?}");
        assert_eq!(reader.buffered(), 1 << 20);
    }

    #[test]
    fn truncated_frame_stays_pending() {
        let mut data = frame(0, &[1; 100]);
        data.truncate(50);
        let mut src = Trickle { data, at: 0, chunk: 64, blocked: false };
        let mut reader = FrameReader::new(0, 4, 1 << 20);
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

    /// xorshift64*: a seeded generator, so that a failing case can be reproduced.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn one_in(&mut self, n: usize) -> bool {
            self.below(n) == 0
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    /// A socket stand-in handing out pieces of random sizes up to `max_chunk`, with a
    /// `WouldBlock` now and then.
    struct Chunky<'a> {
        data: &'a [u8],
        at: usize,
        max_chunk: usize,
        rng: Rng,
    }

    impl Read for Chunky<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at < self.data.len() && self.rng.one_in(3) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n =
                (1 + self.rng.below(self.max_chunk)).min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// How a stream ends, by the reader or by the reference decoder.
    #[derive(Debug, PartialEq, Eq)]
    enum End {
        /// The bytes ran out, at a frame boundary or inside a frame.
        Eof,
        Malformed,
        TooLarge(u64),
        Aborted(usize, String),
    }

    const ABORT_CODE: u8 = 0x50;

    /// A whole-buffer decoder written from the format's documentation, independently of the
    /// incremental reader: the frames it finds and how the stream ends.
    fn reference(bytes: &[u8], max_len: u64, world: usize) -> (Vec<(MessageTag, Vec<u8>)>, End) {
        let mut frames = Vec::new();
        let mut rest = bytes;
        loop {
            let Some((h, body)) = rest.split_first_chunk::<HEADER_LEN>() else {
                return (frames, End::Eof);
            };
            if h[0..4] != *b"CLOK" || h[4] != 1 || h[6..8] != [0, 0] {
                return (frames, End::Malformed);
            }
            let word = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().expect("8 bytes"));
            let (seq, aux, len) = (word(8), word(16), word(24));
            if h[5] == ABORT_CODE {
                if !(8..=8 + crate::wire::MAX_ABORT_REASON as u64).contains(&len) {
                    return (frames, End::Malformed);
                }
                if (body.len() as u64) < len {
                    return (frames, End::Eof);
                }
                let origin = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
                if origin >= world as u64 {
                    return (frames, End::Malformed);
                }
                let reason = crate::wire::sanitize_reason(&body[8..len as usize]);
                return (frames, End::Aborted(origin as usize, reason));
            }
            let Some(kind) = OpKind::from_code(h[5]) else {
                return (frames, End::Malformed);
            };
            // The documented fixed lengths: an all-reduce carries 8 bytes per word, a
            // barrier nothing.
            let fixed = match kind {
                OpKind::AllReduce => aux.checked_mul(8),
                OpKind::Barrier => Some(0),
                _ => None,
            };
            if fixed.is_some_and(|f| f != len) {
                return (frames, End::Malformed);
            }
            if len > max_len {
                return (frames, End::TooLarge(len));
            }
            if (body.len() as u64) < len {
                return (frames, End::Eof);
            }
            let (payload, next) = body.split_at(len as usize);
            frames.push((MessageTag { seq, op: Op::with_aux(kind, aux) }, payload.to_vec()));
            rest = next;
        }
    }

    /// Runs `bytes` through `reader` in random pieces, with random budgets and stops, until
    /// the end of the stream or an error; checks on the way that a payload's capacity stays
    /// in proportion to what has arrived.
    fn incremental(
        reader: &mut FrameReader,
        bytes: &[u8],
        rng: &mut Rng,
    ) -> (Vec<(MessageTag, Vec<u8>)>, End) {
        let small = bytes.len() <= 4096;
        let max_chunk = [1, 7, 64, 4096, 1 << 20][rng.below(5)].max(if small { 1 } else { 1024 });
        let mut src = Chunky { data: bytes, at: 0, max_chunk, rng: Rng(rng.next() | 1) };
        let mut out = VecDeque::new();
        let end = loop {
            let budget = 1 + rng.below(100_000);
            match reader.read_from(&mut src, &mut out, budget, rng.one_in(2)) {
                Ok((ReadStatus::Eof, _)) => break End::Eof,
                Ok(_) => {}
                Err(CommError::Malformed { peer: 2, .. }) => break End::Malformed,
                Err(CommError::TooLarge { peer: 2, len, max }) if max == reader.max_len => {
                    break End::TooLarge(len);
                }
                Err(CommError::Aborted { origin, via: 2, reason }) => {
                    break End::Aborted(origin, reason);
                }
                Err(e) => panic!("unexpected error {e}"),
            }
            if let Some(p) = &reader.partial {
                let bound = (2 * p.filled).max(p.filled + GROW);
                assert!(p.payload.capacity() <= bound, "{p:?} holds too much");
            }
        };
        (out.into_iter().map(|f| (f.tag, f.payload)).collect(), end)
    }

    /// A valid stream of a few frames (sometimes ending with an abort), its lengths mostly
    /// small, now and then large enough to take the direct path.
    fn valid_stream(rng: &mut Rng, world: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..1 + rng.below(4) {
            if rng.one_in(8) {
                let origin = if rng.one_in(8) { world + rng.below(3) } else { rng.below(world) };
                let len = rng.below(40);
                let mut reason = rng.bytes(len);
                if rng.one_in(2) {
                    reason.retain(|b| b.is_ascii_graphic());
                }
                let payload = [&(origin as u64).to_le_bytes()[..], &reason].concat();
                let len = payload.len() as u64;
                let header = Header { kind: FrameKind::Abort, seq: 0, aux: 0, len };
                out.extend_from_slice(&header.encode());
                out.extend_from_slice(&payload);
                break;
            }
            let len =
                if rng.one_in(500) { STAGING / 2 + rng.below(200_000) } else { rng.below(64) };
            let kind = FrameKind::Op(OpKind::ALL[rng.below(OpKind::ALL.len())]);
            let header = Header { kind, seq: rng.next(), aux: rng.next(), len: len as u64 };
            out.extend_from_slice(&header.encode());
            out.extend(rng.bytes(len));
        }
        out
    }

    /// Damages a stream the ways a broken or hostile peer might: a byte changed anywhere,
    /// a header's length or kind replaced, the stream cut short.
    fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
        // Headers are at the front often enough; aim the field changes at the first one.
        match rng.below(8) {
            0 | 1 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            2 if bytes.len() >= HEADER_LEN => {
                // Any length; a short one; one far beyond what follows, but allowed.
                let len = match rng.below(4) {
                    0 => rng.next(),
                    1 => rng.next() % 2048,
                    2 => rng.next() % (1 << 31),
                    _ => u64::from_le_bytes(bytes[24..32].try_into().expect("8 bytes")) ^ 1,
                };
                bytes[24..32].copy_from_slice(&len.to_le_bytes());
            }
            3 if bytes.len() >= HEADER_LEN => {
                bytes[5] = if rng.one_in(2) { ABORT_CODE } else { rng.next() as u8 };
            }
            4 | 5 => bytes.truncate(rng.below(bytes.len() + 1)),
            _ => {}
        }
        bytes
    }

    #[test]
    fn a_million_random_and_damaged_streams_decode_as_the_reference_says() {
        let mut rng = Rng(0x00c1_0a4c_0ffe_e5ed);
        let mut reader = FrameReader::new(2, 3, 1 << 20);
        let mut ends = [0usize; 4];
        for case in 0..1_000_000u32 {
            let world = 3 + rng.below(3);
            let max_len = [16, 1000, 1 << 20, 1 << 32][rng.below(4)];
            let bytes = if rng.one_in(10) {
                let len = rng.below(200);
                rng.bytes(len)
            } else {
                let valid = valid_stream(&mut rng, world);
                mutate(&mut rng, valid)
            };
            reader.reset(world, max_len);
            let expected = reference(&bytes, max_len, world);
            let got = incremental(&mut reader, &bytes, &mut rng);
            assert!(got == expected, "case {case}: got {:?}, expected {:?}", got.1, expected.1);
            let end = match expected.1 {
                End::Eof => 0,
                End::Malformed => 1,
                End::TooLarge(_) => 2,
                End::Aborted(..) => 3,
            };
            ends[end] += 1;
        }
        // Every way of ending was exercised many times.
        assert!(ends.iter().all(|&n| n > 10_000), "{ends:?}");
    }
}
