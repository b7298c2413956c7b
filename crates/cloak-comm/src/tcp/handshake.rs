//! Blocking frame I/O for connection setup on connections to known peers (introducing this
//! party, reading rank 0's table), before a link is handed to the event loop.
//!
//! Setup is sequential and short, so plain blocking sockets with a deadline are simpler and
//! just as good as the event loop here. Incoming connections, which may be anyone's, are
//! instead read without blocking by the acceptor in `setup`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::CommError;
use crate::wire::{FrameKind, HEADER_LEN, Header};

/// Setup frames are tiny; anything longer is not a peer of ours.
const MAX_SETUP_PAYLOAD: u64 = 1 << 20;

/// What went wrong reading or writing a setup frame on a connection to a known peer, before
/// it is reported as a [`CommError`].
#[derive(Debug)]
pub(crate) enum SetupFail {
    Io(io::Error),
    TimedOut,
    Bad(String),
}

impl SetupFail {
    /// Reports the failure on the link to a known peer.
    pub(crate) fn for_peer(self, peer: usize, timeout: Duration) -> CommError {
        match self {
            SetupFail::Io(e) => CommError::from_io(peer, e),
            SetupFail::TimedOut => CommError::Timeout { peer, after: timeout },
            SetupFail::Bad(reason) => CommError::Malformed { peer, reason },
        }
    }
}

/// Writes one whole frame.
pub(crate) fn write_frame(
    stream: &mut TcpStream,
    kind: FrameKind,
    aux: u64,
    payload: &[u8],
    deadline: Instant,
) -> Result<(), SetupFail> {
    let header = Header { kind, seq: 0, aux, len: payload.len() as u64 };
    let mut bytes = header.encode().to_vec();
    bytes.extend_from_slice(payload);
    stream.set_write_timeout(Some(remaining(deadline)?)).map_err(SetupFail::Io)?;
    stream.write_all(&bytes).map_err(map_timeout)
}

/// Reads one whole frame of kind `kind`, waiting until `deadline` at most.
pub(crate) fn read_frame(
    stream: &mut TcpStream,
    kind: FrameKind,
    deadline: Instant,
) -> Result<(Header, Vec<u8>), SetupFail> {
    let mut bytes = [0u8; HEADER_LEN];
    read_exact(stream, &mut bytes, deadline)?;
    let header = Header::decode(&bytes).map_err(SetupFail::Bad)?;
    if header.kind != kind {
        return Err(SetupFail::Bad(format!("expected a {kind:?} frame, got {:?}", header.kind)));
    }
    if header.len > MAX_SETUP_PAYLOAD {
        return Err(SetupFail::Bad(format!("setup frame of {} bytes", header.len)));
    }
    let mut payload = vec![0u8; header.len as usize];
    read_exact(stream, &mut payload, deadline)?;
    Ok((header, payload))
}

/// Splits a payload of little-endian `u64`s, checking the count.
pub(crate) fn words<const N: usize>(payload: &[u8]) -> Result<[u64; N], SetupFail> {
    let values = crate::codec::u64s_from_bytes(payload).filter(|v| v.len() == N);
    let values = values.ok_or_else(|| {
        SetupFail::Bad(format!("setup payload of {} bytes, expected {}", payload.len(), 8 * N))
    })?;
    let mut out = [0u64; N];
    out.copy_from_slice(&values);
    Ok(out)
}

fn read_exact(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> Result<(), SetupFail> {
    let mut filled = 0;
    while filled < buf.len() {
        stream.set_read_timeout(Some(remaining(deadline)?)).map_err(SetupFail::Io)?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(SetupFail::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(map_timeout(e)),
        }
    }
    Ok(())
}

fn remaining(deadline: Instant) -> Result<Duration, SetupFail> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() { Err(SetupFail::TimedOut) } else { Ok(left) }
}

fn map_timeout(e: io::Error) -> SetupFail {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => SetupFail::TimedOut,
        _ => SetupFail::Io(e),
    }
}
