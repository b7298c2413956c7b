//! Non-blocking writing of one outgoing frame.
//!
//! The payload is borrowed from the caller for the duration of the transfer, so bulk data is
//! never copied in user space. Small payloads are copied next to their header so that a
//! whole small message leaves in one system call (what keeps a ping-pong round fast);
//! `writev` is avoided because, unlike `send`, it cannot suppress `SIGPIPE` when the peer is
//! gone, and a host process that does not ignore that signal would be killed.

use std::io::{self, Write};

use crate::wire::{HEADER_LEN, Header};

/// Payloads up to this size travel in one buffer with their header.
const COALESCE: usize = 64 * 1024;

/// One frame being written.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    pub(crate) peer: usize,
    /// The header, followed by the payload when that is small.
    head: Vec<u8>,
    /// The payload when it is large, else empty.
    body: &'a [u8],
    written: usize,
}

impl<'a> Outgoing<'a> {
    /// A frame with `header` and `payload` for `peer`.
    pub(crate) fn new(peer: usize, header: &Header, payload: &'a [u8]) -> Self {
        let small = payload.len() <= COALESCE;
        let mut head = Vec::with_capacity(HEADER_LEN + if small { payload.len() } else { 0 });
        head.extend_from_slice(&header.encode());
        if small {
            head.extend_from_slice(payload);
        }
        Outgoing { peer, head, body: if small { &[] } else { payload }, written: 0 }
    }

    /// Whether the whole frame has been handed to the kernel.
    pub(crate) fn done(&self) -> bool {
        self.written == self.head.len() + self.body.len()
    }

    /// Gives up on this frame (its peer is gone), so that the transfer can finish the rest.
    pub(crate) fn abandon(&mut self) {
        self.written = self.head.len() + self.body.len();
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
            let mut frame = Outgoing::new(2, &header, &payload);
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
}
