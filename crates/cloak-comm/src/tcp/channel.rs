//! One party-to-party byte stream: plain TCP, or TLS over it.
//!
//! The event loop and the setup code read and write a [`Channel`] exactly as they would a
//! socket: `read` and `write` are non-blocking when the socket is, and return `WouldBlock`
//! only when the socket itself refused (so edge-triggered readiness stays correct). Under
//! TLS, `write` hands plaintext to rustls, which encrypts it into records that may outlive
//! the call when the socket is full: [`Channel::has_pending_output`] tells the event loop
//! that bytes are still owed to the socket, and [`Channel::push_output`] moves them.
//!
//! During setup a channel can also be *watched* ([`Channel::pull`]): what has arrived is
//! read ahead into a bounded buffer that later reads serve first, so that a party waiting
//! for other peers notices a peer that closed (or sent its abort) without losing any byte
//! of a message that arrived early.

use std::io::{self, Read, Write};

use rustls::Connection;
use rustls_pki_types::CertificateDer;

/// Most plaintext bytes a TLS channel accepts beyond what the socket has taken: bounds what
/// rustls buffers per link while keeping records large.
const TLS_SEND_LIMIT: usize = 1 << 20;

/// Most bytes [`Channel::pull`] reads ahead during setup.
const PULL_LIMIT: usize = 1 << 16;

/// A connection to one peer, generic over the socket type (`std` during setup, `mio` in the
/// event loop).
pub(crate) struct Channel<S> {
    socket: S,
    /// `None` for plain TCP.
    tls: Option<Box<Connection>>,
    /// Plaintext read ahead by [`Channel::pull`], served before anything else.
    ahead: Vec<u8>,
    /// The peer closed its side (seen by [`Channel::pull`]).
    closed: bool,
}

impl<S> std::fmt::Debug for Channel<S> {
    /// The mode and counters only: buffers hold secret shares.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("tls", &self.tls.is_some())
            .field("read_ahead", &self.ahead.len())
            .field("closed", &self.closed)
            .finish()
    }
}

impl<S> Channel<S> {
    /// A plain TCP channel.
    pub(crate) fn plain(socket: S) -> Self {
        Channel { socket, tls: None, ahead: Vec::new(), closed: false }
    }

    /// A TLS channel; `conn` is a fresh client or server connection (its handshake runs as
    /// the channel is read and written).
    pub(crate) fn tls(socket: S, conn: impl Into<Connection>) -> Self {
        let mut conn: Connection = conn.into();
        conn.set_buffer_limit(Some(TLS_SEND_LIMIT));
        Channel { socket, tls: Some(Box::new(conn)), ahead: Vec::new(), closed: false }
    }

    /// The socket.
    pub(crate) fn socket(&self) -> &S {
        &self.socket
    }

    /// The socket, for registering with a poller.
    pub(crate) fn socket_mut(&mut self) -> &mut S {
        &mut self.socket
    }

    /// The same channel over another socket type (the same connection, moved from `std` to
    /// `mio` when the event loop takes over).
    pub(crate) fn map_socket<T>(self, f: impl FnOnce(S) -> T) -> Channel<T> {
        Channel { socket: f(self.socket), tls: self.tls, ahead: self.ahead, closed: self.closed }
    }

    /// Whether the TLS handshake is still under way (never for plain TCP).
    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|c| c.is_handshaking())
    }

    /// The certificate the peer authenticated with, once the handshake is done.
    pub(crate) fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.tls.as_ref().and_then(|c| c.peer_certificates()).and_then(|chain| chain.first())
    }

    /// Whether TLS records are waiting for the socket to take them.
    pub(crate) fn has_pending_output(&self) -> bool {
        self.tls.as_ref().is_some_and(|c| c.wants_write())
    }

    /// Whether [`Channel::pull`] saw the peer close its side.
    pub(crate) fn closed(&self) -> bool {
        self.closed
    }

    /// The bytes read ahead by [`Channel::pull`], not yet consumed.
    pub(crate) fn pulled(&self) -> &[u8] {
        &self.ahead
    }
}

impl<S: Read + Write> Channel<S> {
    /// Writes pending TLS records until none are left (`Ok(false)`) or the socket refuses
    /// more (`Ok(true)`, blocked).
    pub(crate) fn push_output(&mut self) -> io::Result<bool> {
        let Some(conn) = self.tls.as_mut() else {
            return Ok(false);
        };
        while conn.wants_write() {
            match conn.write_tls(&mut Unvectored(&mut self.socket)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Reads what has arrived into the read-ahead buffer (at most [`PULL_LIMIT`] bytes in
    /// all), without blocking on a non-blocking socket; notes an orderly close in
    /// [`Channel::closed`]. Errors other than `WouldBlock` are returned.
    pub(crate) fn pull(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        while !self.closed && self.ahead.len() < PULL_LIMIT {
            let room = (PULL_LIMIT - self.ahead.len()).min(chunk.len());
            match self.read_fresh(&mut chunk[..room]) {
                Ok(0) => self.closed = true,
                Ok(n) => self.ahead.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Drives the TLS handshake as far as the socket allows (a client must read the server's
    /// answer before it is done). Plain channels have nothing to do.
    pub(crate) fn advance_handshake(&mut self) -> io::Result<()> {
        while self.is_handshaking() {
            if self.push_output()? {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let Some(conn) = self.tls.as_mut().filter(|c| c.is_handshaking()) else {
                break;
            };
            match conn.read_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => process(conn, &mut self.socket)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // The last flight (a client's Finished) may still be buffered.
        if self.push_output()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(())
    }

    /// Reads from the connection itself, bypassing the read-ahead buffer.
    fn read_fresh(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(conn) = self.tls.as_mut() else {
            return self.socket.read(buf);
        };
        let mut eof = false;
        loop {
            match conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The TCP connection ended without TLS's close: an ordinary disconnection
                // here (a killed party), reported as the end of the stream. Frames are
                // length-prefixed, so a cut inside a frame is still detected.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            // Handshake replies or alerts may be owed to the peer before it says more.
            if conn.wants_write() {
                match conn.write_tls(&mut Unvectored(&mut self.socket)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            match conn.read_tls(&mut self.socket) {
                // End of the TCP stream: the reader reports it on the next turn (plaintext
                // still buffered first, then a clean or an unexpected end).
                Ok(0) if eof => return Ok(0),
                Ok(0) => {
                    eof = true;
                    process(conn, &mut self.socket)?;
                }
                Ok(_) => process(conn, &mut self.socket)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Decrypts what arrived; on a TLS error, tries to tell the peer (an alert) and reports the
/// error as invalid data.
fn process<S: Write>(conn: &mut Connection, socket: &mut S) -> io::Result<()> {
    match conn.process_new_packets() {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = conn.write_tls(&mut Unvectored(socket));
            Err(io::Error::new(io::ErrorKind::InvalidData, TlsFailure(e)))
        }
    }
}

/// A socket seen through plain `write` only. rustls writes records with `write_vectored`,
/// which on a socket is `writev`; unlike `send` (what `write` uses), `writev` cannot
/// suppress `SIGPIPE` when the peer is gone, and a host process that does not ignore that
/// signal would be killed. One record per call costs nothing measurable.
struct Unvectored<'a, S>(&'a mut S);

impl<S: Write> Write for Unvectored<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A TLS protocol or certificate error, carried inside an `io::Error`.
#[derive(Debug)]
pub(crate) struct TlsFailure(pub(crate) rustls::Error);

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TLS: {}", self.0)
    }
}

impl std::error::Error for TlsFailure {}

impl<S: Read + Write> Read for Channel<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.ahead.is_empty() {
            let n = buf.len().min(self.ahead.len());
            buf[..n].copy_from_slice(&self.ahead[..n]);
            self.ahead.drain(..n);
            return Ok(n);
        }
        if self.closed {
            return Ok(0);
        }
        self.read_fresh(buf)
    }
}

impl<S: Read + Write> Write for Channel<S> {
    /// Plain: one socket write. TLS: first pushes out pending records; then, unless that
    /// left the socket full with a full buffer, encrypts what rustls accepts and pushes
    /// again. `WouldBlock` means the socket refused (readiness is edge-triggered).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.socket.write(buf);
        }
        let blocked = self.push_output()?;
        let conn = self.tls.as_mut().expect("checked above");
        let n = conn.writer().write(buf)?;
        if n == 0 && !buf.is_empty() {
            // rustls's buffer is full: the socket must have refused above (or the write
            // would have drained it).
            return Err(if blocked {
                io::ErrorKind::WouldBlock.into()
            } else {
                io::Error::other("TLS send buffer full with a writable socket")
            });
        }
        match self.push_output() {
            Ok(_) => Ok(n),
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.push_output()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.socket.flush()
    }
}
