//! Non-blocking writing of one outgoing frame.
//!
//! The payload is borrowed from the caller for the duration of the transfer, so bulk data
//! that the kernel takes during the call is never copied in user space; only the tail still
//! unsent when the transfer returns is copied ([`Outgoing::into_owned`]) into the link's
//! queue, for later calls to finish. Small payloads are copied next to their header so that a
//! whole small message leaves in one system call (what keeps a ping-pong round fast);
//! `writev` is avoided because, unlike `send`, it cannot suppress `SIGPIPE` when the peer is
//! gone, and a host process that does not ignore that signal would be killed.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

use crate::wire::{HEADER_LEN, Header};

/// Payloads up to this size travel in one buffer with their header.
const COALESCE: usize = 64 * 1024;

/// One frame being written (or the unsent rest of one).
pub(crate) struct Outgoing<'a> {
    /// The header, followed by the payload when that is small.
    head: Vec<u8>,
    /// The payload when it is large, else empty.
    body: Cow<'a, [u8]>,
    written: usize,
}

impl fmt::Debug for Outgoing<'_> {
    /// Lengths only: payloads are secret shares.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("len", &(self.head.len() + self.body.len()))
            .field("written", &self.written)
            .finish()
    }
}

impl<'a> Outgoing<'a> {
    /// A frame with `header` and `payload`.
    pub(crate) fn new(header: &Header, payload: &'a [u8]) -> Self {
        let small = payload.len() <= COALESCE;
        let mut head = Vec::with_capacity(HEADER_LEN + if small { payload.len() } else { 0 });
        head.extend_from_slice(&header.encode());
        if small {
            head.extend_from_slice(payload);
        }
        let body = Cow::Borrowed(if small { &[][..] } else { payload });
        Outgoing { head, body, written: 0 }
    }

    /// Whether the whole frame has been handed to the kernel.
    pub(crate) fn done(&self) -> bool {
        self.remaining() == 0
    }

    /// Bytes not yet handed to the kernel.
    pub(crate) fn remaining(&self) -> usize {
        self.head.len() + self.body.len() - self.written
    }

    /// The unsent rest of this frame, owning its bytes: what a transfer leaves in the link's
    /// queue when it returns before the kernel has taken the whole frame. Copies only what is
    /// still borrowed and unsent.
    pub(crate) fn into_owned(self) -> Outgoing<'static> {
        let Outgoing { mut head, body, written } = self;
        let (head, body) = if written < head.len() {
            head.drain(..written);
            (head, body.into_owned())
        } else {
            let skip = written - head.len();
            let body = match body {
                Cow::Borrowed(b) => b[skip..].to_vec(),
                Cow::Owned(mut b) => {
                    b.drain(..skip);
                    b
                }
            };
            (Vec::new(), body)
        };
        Outgoing { head, body: Cow::Owned(body), written: 0 }
    }

    /// Writes as much as `dst` takes, up to about `budget` bytes; returns the bytes written
    /// and whether `dst` refused more (`WouldBlock`, which is not an error).
    pub(crate) fn write_to<W: Write>(
        &mut self,
        dst: &mut W,
        budget: usize,
    ) -> io::Result<(usize, bool)> {
        let mut total = 0;
        while !self.done() && total < budget {
            let chunk = if self.written < self.head.len() {
                &self.head[self.written..]
            } else {
                &self.body[self.written - self.head.len()..]
            };
            match dst.write(chunk) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((total, true)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((total, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OpKind;
    use crate::wire::FrameKind;

    /// Accepts at most `chunk` bytes per write, refusing every other call.
    struct Choked {
        out: Vec<u8>,
        chunk: usize,
        refuse: bool,
    }

    impl Write for Choked {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.refuse = !self.refuse;
            if self.refuse {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.chunk);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_header_then_payload_in_pieces() {
        for len in [0usize, 5, COALESCE, COALESCE + 1, 300_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let header =
                Header { kind: FrameKind::Op(OpKind::Gather), seq: 9, aux: 1, len: len as u64 };
            let mut frame = Outgoing::new(&header, &payload);
            let mut dst = Choked { out: Vec::new(), chunk: 10_007, refuse: false };
            let mut calls = 0;
            while !frame.done() && calls < 1000 {
                frame.write_to(&mut dst, 50_000).expect("in-memory write");
                calls += 1;
            }
            assert!(frame.done(), "len {len}");
            assert_eq!(&dst.out[..HEADER_LEN], &header.encode());
            assert_eq!(&dst.out[HEADER_LEN..], &payload[..], "len {len}");
        }
    }

    #[test]
    fn the_owned_rest_continues_where_the_borrowed_frame_stopped() {
        // Stop after each amount, convert, finish: the bytes on the wire are the same.
        for (len, stop) in [(5usize, 0usize), (5, 20), (COALESCE + 1, 0), (COALESCE + 1, 10)]
            .into_iter()
            .chain([(300_000, 32), (300_000, 10_007), (300_000, 300_031)])
        {
            let payload: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
            let header =
                Header { kind: FrameKind::Op(OpKind::Gather), seq: 1, aux: 0, len: len as u64 };
            let mut frame = Outgoing::new(&header, &payload);
            let mut dst = Choked { out: Vec::new(), chunk: stop.max(1), refuse: true };
            if stop > 0 {
                frame.write_to(&mut dst, stop).expect("in-memory write");
            }
            let written = dst.out.len();
            let mut rest = frame.into_owned();
            assert_eq!(rest.remaining(), HEADER_LEN + len - written, "len {len} stop {stop}");
            dst.chunk = 1 << 20;
            while !rest.done() {
                rest.write_to(&mut dst, usize::MAX).expect("in-memory write");
            }
            assert_eq!(&dst.out[..HEADER_LEN], &header.encode());
            assert_eq!(&dst.out[HEADER_LEN..], &payload[..], "len {len} stop {stop}");
        }
    }

    #[test]
    fn debug_shows_lengths_not_bytes() {
        let header = Header { kind: FrameKind::Op(OpKind::Gather), seq: 0, aux: 0, len: 3 };
        let shown = format!("{:?}", Outgoing::new(&header, &[171, 171, 171]));
        assert!(!shown.contains("171"), "{shown}");
        assert!(shown.contains("35"), "{shown}");
    }
}
