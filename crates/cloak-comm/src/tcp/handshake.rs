//! Blocking frame I/O for connection setup on connections to known peers (introducing this
//! party, reading the answer), before a link is handed to the event loop.
//!
//! Setup is sequential and short, so blocking sockets with a deadline are simpler and just
//! as good as the event loop here. Incoming connections, which may be anyone's, are instead
//! read without blocking by the acceptor (`accept`).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::channel::{Channel, TlsFailure};
use crate::CommError;
use crate::wire::{FrameKind, HEADER_LEN, Header, MAX_ABORT_PAYLOAD, decode_abort};

/// A connection during setup.
pub(crate) type SetupChannel = Channel<TcpStream>;

/// Setup frames are tiny; anything longer is not a peer of ours.
const MAX_SETUP_PAYLOAD: u64 = 1 << 20;

/// What went wrong on a connection to a known peer during setup, before it is reported as a
/// [`CommError`].
#[derive(Debug)]
pub(crate) enum SetupFail {
    Io(io::Error),
    TimedOut,
    Bad(String),
    /// The TLS handshake or a TLS record failed (certificate, alert, corruption).
    Tls(String),
    /// The peer refused this party, with its reason (the payload of a refusal).
    Refused(String),
    /// The peer gave up and said why (an abort frame): `origin` failed first.
    Aborted {
        origin: usize,
        reason: String,
    },
}

impl SetupFail {
    /// Reports the failure on the link to `peer` at `addr`.
    pub(crate) fn for_peer(self, peer: usize, addr: &str, timeout: Duration) -> CommError {
        match self {
            SetupFail::Io(e) => CommError::from_io(peer, e),
            SetupFail::TimedOut => CommError::Timeout { peer, after: timeout },
            SetupFail::Bad(reason) => CommError::Malformed { peer, reason },
            SetupFail::Tls(reason) => CommError::Tls { peer, addr: addr.to_owned(), reason },
            SetupFail::Refused(reason) => super::refusal::parse(&reason, peer, addr)
                .unwrap_or_else(|| CommError::Refused { peer, addr: addr.to_owned(), reason }),
            SetupFail::Aborted { origin, reason } => {
                CommError::Aborted { origin, via: peer, reason }
            }
        }
    }

    /// Classifies an I/O error: TLS failures, timeouts, the rest.
    pub(crate) fn from_io(e: io::Error) -> SetupFail {
        if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<TlsFailure>()) {
            return SetupFail::Tls(tls.0.to_string());
        }
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => SetupFail::TimedOut,
            _ => SetupFail::Io(e),
        }
    }
}

/// Completes a TLS handshake (a client's: it reads the server's answer) by `deadline`.
pub(crate) fn handshake(stream: &mut SetupChannel, deadline: Instant) -> Result<(), SetupFail> {
    while stream.is_handshaking() {
        let left = remaining(deadline)?;
        stream.socket().set_read_timeout(Some(left)).map_err(SetupFail::Io)?;
        stream.socket().set_write_timeout(Some(left)).map_err(SetupFail::Io)?;
        match stream.advance_handshake() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(SetupFail::from_io(e)),
        }
    }
    Ok(())
}

/// Writes one whole frame.
pub(crate) fn write_frame(
    stream: &mut SetupChannel,
    kind: FrameKind,
    aux: u64,
    payload: &[u8],
    deadline: Instant,
) -> Result<(), SetupFail> {
    let header = Header { kind, seq: 0, aux, len: payload.len() as u64 };
    let mut bytes = header.encode().to_vec();
    bytes.extend_from_slice(payload);
    stream.socket().set_write_timeout(Some(remaining(deadline)?)).map_err(SetupFail::Io)?;
    stream.write_all(&bytes).map_err(SetupFail::from_io)?;
    stream.flush().map_err(SetupFail::from_io)
}

/// Reads one whole frame of kind `kind` from a peer of a `world`-party network, waiting
/// until `deadline` at most; a refusal frame instead is [`SetupFail::Refused`] with its text,
/// and an abort frame (the peer gave up on the rendezvous, see [`crate::wire`])
/// [`SetupFail::Aborted`] with the party it names.
pub(crate) fn read_frame(
    stream: &mut SetupChannel,
    kind: FrameKind,
    world: usize,
    deadline: Instant,
) -> Result<(Header, Vec<u8>), SetupFail> {
    let mut bytes = [0u8; HEADER_LEN];
    read_exact(stream, &mut bytes, deadline)?;
    let header = Header::decode(&bytes).map_err(SetupFail::Bad)?;
    if header.kind != kind && !matches!(header.kind, FrameKind::Refuse | FrameKind::Abort) {
        return Err(SetupFail::Bad(format!("expected a {kind:?} frame, got {:?}", header.kind)));
    }
    let max =
        if header.kind == FrameKind::Abort { MAX_ABORT_PAYLOAD as u64 } else { MAX_SETUP_PAYLOAD };
    if header.len > max {
        return Err(SetupFail::Bad(format!("{:?} frame of {} bytes", header.kind, header.len)));
    }
    let mut payload = vec![0u8; header.len as usize];
    read_exact(stream, &mut payload, deadline)?;
    match header.kind {
        FrameKind::Refuse => {
            Err(SetupFail::Refused(String::from_utf8_lossy(&payload).into_owned()))
        }
        FrameKind::Abort => match decode_abort(&payload, world) {
            Ok((origin, reason)) => Err(SetupFail::Aborted { origin, reason }),
            Err(reason) => Err(SetupFail::Bad(reason)),
        },
        _ => Ok((header, payload)),
    }
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

fn read_exact(
    stream: &mut SetupChannel,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<(), SetupFail> {
    let mut filled = 0;
    while filled < buf.len() {
        stream.socket().set_read_timeout(Some(remaining(deadline)?)).map_err(SetupFail::Io)?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(SetupFail::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(SetupFail::from_io(e)),
        }
    }
    Ok(())
}

fn remaining(deadline: Instant) -> Result<Duration, SetupFail> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() { Err(SetupFail::TimedOut) } else { Ok(left) }
}
