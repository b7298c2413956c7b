//! Accepting parties on a listening port that anyone can reach.
//!
//! An acceptor reads every unidentified connection without blocking (under TLS, that drives
//! the handshake too), gives each [`HELLO_WAIT`] (at most the connect timeout) to
//! authenticate and introduce itself, and drops those that fail the handshake, send
//! anything else, close, or stay silent, while it keeps accepting. At most [`MAX_PENDING`]
//! connections wait to be identified (the oldest is dropped for a new one), and running out
//! of file descriptors drops the oldest instead of failing, so a flood of idle connections
//! cannot stop a rendezvous: a real party's handshake takes milliseconds, and a party whose
//! connection was dropped connects again.
//!
//! A well-formed introduction that cannot be accepted (another world size or session, a
//! certificate that is not the claimed rank's, a rank already taken) is answered with a
//! refusal that the other side reports, and noted for this party's own error should the
//! rank it claimed never come; it does not end the rendezvous.
//!
//! While it waits, the acceptor also watches the links it already has, those it has just
//! accepted included (at rank 0, the registrations waiting for the table): a peer that
//! closes one (it died, or gave up and told everyone why) ends this party's setup at once,
//! instead of after the connect timeout.

use std::io::{self, Read};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use std::collections::VecDeque;

use super::channel::Channel;
use super::handshake::{SetupChannel, words, write_frame};
use super::reader::FrameReader;
use super::refusal;
use crate::tls::TlsConfig;
use crate::wire::{FrameKind, HEADER_LEN, Header};
use crate::{CommConfig, CommError};

/// How long a new connection may take to authenticate and introduce itself (capped by the
/// connect timeout).
pub(crate) const HELLO_WAIT: Duration = Duration::from_secs(5);

/// Most connections waiting to introduce themselves at once.
pub(crate) const MAX_PENDING: usize = 64;

/// Most refusals remembered for the error of a rendezvous that times out.
const MAX_REFUSALS: usize = 4;

/// Introductions (hello, registration) are two words; anything much longer is not a party.
const MAX_INTRO_PAYLOAD: u64 = 1024;

/// A party that introduced itself: its rank and its introduction payload (its connection
/// is in the link table).
pub(crate) type Introduced = (usize, Vec<u8>);

/// What an acceptor makes of a well-formed introduction.
pub(crate) enum Intro {
    /// A party of this mesh, with this rank (accepted if that rank is still expected).
    Party(usize),
    /// Not one of ours after all: drop the connection and keep accepting.
    Stray,
    /// A party with a configuration this one cannot work with: refuse it, saying why.
    Reject(String),
}

/// A connection accepted but not identified yet, read without blocking.
pub(crate) struct Unidentified {
    channel: SetupChannel,
    /// The bytes of its first frame read so far.
    buf: Vec<u8>,
    filled: usize,
    header: Option<Header>,
    /// When it is dropped if it has not introduced itself.
    deadline: Instant,
}

impl Unidentified {
    /// Wraps a freshly accepted connection (made non-blocking; under TLS, as a server).
    fn new(
        stream: std::net::TcpStream,
        tls: Option<&TlsConfig>,
        wait: Duration,
    ) -> Option<Unidentified> {
        stream.set_nonblocking(true).ok()?;
        let channel = match tls {
            Some(tls) => Channel::tls(stream, tls.server().ok()?),
            None => Channel::plain(stream),
        };
        Some(Unidentified {
            channel,
            buf: vec![0; HEADER_LEN],
            filled: 0,
            header: None,
            deadline: Instant::now() + wait,
        })
    }

    /// The remote address, for messages.
    fn addr(&self) -> String {
        peer_addr(&self.channel)
    }

    /// Reads what has arrived: `Ok(Some)` once the whole first frame is in, `Ok(None)` while
    /// it is incomplete, `Err` for a connection to drop (closed, broken, a failed handshake,
    /// or not a `kind` frame of reasonable size).
    fn advance(&mut self, kind: FrameKind) -> Result<Option<(Header, Vec<u8>)>, ()> {
        loop {
            if self.filled == self.buf.len() {
                match self.header {
                    Some(header) => {
                        return Ok(Some((header, self.buf.split_off(HEADER_LEN))));
                    }
                    None => {
                        let mut bytes = [0u8; HEADER_LEN];
                        bytes.copy_from_slice(&self.buf);
                        let header = Header::decode(&bytes).map_err(drop)?;
                        if header.kind != kind || header.len > MAX_INTRO_PAYLOAD {
                            return Err(());
                        }
                        // Bounded just above: the cast cannot truncate.
                        self.buf.resize(HEADER_LEN + header.len as usize, 0);
                        self.header = Some(header);
                        continue;
                    }
                }
            }
            // Read exactly up to the end of the frame: anything after it belongs to the
            // link, once identified.
            match self.channel.read(&mut self.buf[self.filled..]) {
                Ok(0) => return Err(()),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
    }
}

/// The remote address of a setup connection, for messages.
pub(crate) fn peer_addr(channel: &SetupChannel) -> String {
    channel.socket().peer_addr().map_or_else(|_| "an unknown address".into(), |a| a.to_string())
}

/// Where an acceptor is, and what it must check.
pub(crate) struct Acceptor<'a> {
    pub(crate) listener: &'a TcpListener,
    pub(crate) kind: FrameKind,
    pub(crate) tls: Option<&'a TlsConfig>,
    pub(crate) deadline: Instant,
    pub(crate) config: &'a CommConfig,
}

/// Accepts connections until every rank of `missing` has introduced itself with a frame
/// that `judge` accepts and (under TLS) with its own rank's certificate; puts each one's
/// connection (blocking, configured for a link) into `links` at its rank as soon as it is
/// accepted, and returns each one's rank and introduction payload. `welcome` is sent to each
/// party as it is accepted (`None`: nothing yet). Also returns the connections not
/// identified yet when the last party came in: at rank 0 these may be duplicates still to
/// be refused. Meanwhile every link of `links` is watched (see the module documentation);
/// on an error, the links accepted so far are in `links`, for the caller to tell why.
pub(crate) fn accept_intros(
    acceptor: &Acceptor<'_>,
    mut missing: Vec<usize>,
    welcome: Option<FrameKind>,
    links: &mut [Option<SetupChannel>],
    judge: impl Fn(&Header, &[u8]) -> Intro,
) -> Result<(Vec<Introduced>, Vec<Unidentified>), CommError> {
    let Acceptor { listener, kind, tls, deadline, config } = *acceptor;
    let listen_err = |source| CommError::Listen {
        addr: listener.local_addr().map_or_else(|_| "?".into(), |a| a.to_string()),
        source,
    };
    listener.set_nonblocking(true).map_err(listen_err)?;
    let hello_wait = HELLO_WAIT.min(config.connect_timeout);
    let mut unidentified: Vec<Unidentified> = Vec::new();
    let mut identified: Vec<Introduced> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let note = |refused: &mut Vec<String>, text: String| {
        if refused.len() == MAX_REFUSALS {
            refused.remove(0);
        }
        refused.push(text);
    };
    while !missing.is_empty() {
        let mut progress = false;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    progress = true;
                    if unidentified.len() >= MAX_PENDING {
                        unidentified.remove(0);
                    }
                    unidentified.extend(Unidentified::new(stream, tls, hello_wait));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // Out of descriptors (EMFILE, ENFILE): make room by dropping the oldest
                // stranger; the connection stays in the backlog for the next turn.
                Err(e) if matches!(e.raw_os_error(), Some(23 | 24)) => {
                    if unidentified.is_empty() {
                        break;
                    }
                    unidentified.remove(0);
                }
                // A client that gave up before being accepted is no concern of ours.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => return Err(listen_err(e)),
            }
        }
        let now = Instant::now();
        let mut i = 0;
        while i < unidentified.len() {
            let before = unidentified[i].filled;
            let frame = match unidentified[i].advance(kind) {
                Ok(None) if now < unidentified[i].deadline => {
                    progress |= unidentified[i].filled > before;
                    i += 1;
                    continue;
                }
                Ok(None) | Err(()) => None,
                Ok(Some(frame)) => Some(frame),
            };
            let conn = unidentified.remove(i);
            progress = true;
            let Some((header, payload)) = frame else {
                continue;
            };
            let addr = conn.addr();
            let verdict = match judge(&header, &payload) {
                Intro::Party(peer) => {
                    match tls.map(|t| t.check_peer(conn.channel.peer_certificate(), peer)) {
                        Some(Err(reason)) => Intro::Reject(format!("party {peer}: {reason}")),
                        _ => Intro::Party(peer),
                    }
                }
                other => other,
            };
            match verdict {
                Intro::Party(peer) if missing.contains(&peer) => {
                    let mut channel = conn.channel;
                    // A link that cannot be configured or welcomed is as good as a stray:
                    // the real party may still connect.
                    if channel.socket().set_nonblocking(false).is_err()
                        || channel.socket().set_nodelay(true).is_err()
                    {
                        continue;
                    }
                    if let Some(welcome) = welcome {
                        let soon = Instant::now() + Duration::from_secs(1);
                        if write_frame(&mut channel, welcome, 0, &[], soon.min(deadline)).is_err() {
                            continue;
                        }
                    }
                    missing.retain(|&m| m != peer);
                    links[peer] = Some(channel);
                    identified.push((peer, payload));
                }
                // A second registration for a rank already registered: the first wins, and
                // the later one learns why it is refused instead of waiting for a table.
                Intro::Party(peer) => {
                    let first = identified
                        .iter()
                        .any(|(p, _)| *p == peer)
                        .then(|| links.get(peer).and_then(Option::as_ref))
                        .flatten();
                    if let Some(first) = first {
                        let first = peer_addr(first);
                        refuse(conn.channel, &refusal::duplicate(peer, &first, &addr));
                        note(&mut refused, format!("{addr} claimed rank {peer}, taken by {first}"));
                    }
                }
                Intro::Stray => {}
                Intro::Reject(reason) => {
                    refuse(conn.channel, &refusal::rejected(&reason));
                    note(&mut refused, format!("{addr}: {reason}"));
                }
            }
        }
        watch_links(links)?;
        if missing.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(CommError::NotConnected {
                missing,
                after: config.connect_timeout,
                refused,
            });
        }
        if !progress {
            thread::sleep(Duration::from_millis(1));
        }
    }
    Ok((identified, unidentified))
}

/// Fails if a peer closed one of the established `links` (what it sent before is kept for
/// the link; a close is reported as that peer's disconnection, or as the abort it sent).
pub(crate) fn watch_links(links: &mut [Option<SetupChannel>]) -> Result<(), CommError> {
    for peer in 0..links.len() {
        let Some(channel) = links[peer].as_mut() else {
            continue;
        };
        if channel.closed() {
            continue;
        }
        let pulled = channel
            .socket()
            .set_nonblocking(true)
            .and_then(|()| channel.pull())
            .and_then(|()| channel.socket().set_nonblocking(false));
        if let Err(e) = pulled {
            return Err(CommError::from_io(peer, e));
        }
        if channel.closed() {
            let world = links.len();
            let pulled = links[peer].as_ref().map_or(&[][..], |c| c.pulled());
            return Err(abort_in(pulled, peer, world).unwrap_or(CommError::Disconnected { peer }));
        }
    }
    Ok(())
}

/// The abort that `peer` sent before closing, if `bytes` (what it sent on an established
/// link during setup) hold one: a party that failed while others were still accepting
/// names the real culprit and its reason, not just its own disconnection.
fn abort_in(bytes: &[u8], peer: usize, world: usize) -> Option<CommError> {
    let mut reader = FrameReader::new(peer, world, u64::MAX);
    let mut frames = VecDeque::new();
    let mut src = bytes;
    match reader.read_from(&mut src, &mut frames, usize::MAX, false) {
        Err(e @ CommError::Aborted { .. }) => Some(e),
        _ => None,
    }
}

/// Tells the party on `channel` that it is refused, and why. Best effort: a party that
/// cannot be told still fails (on the closed connection).
pub(crate) fn refuse(mut channel: SetupChannel, text: &str) {
    // The frame is tiny and the connection fresh, so this does not block in practice; the
    // deadline bounds it if the socket buffer were somehow full.
    if channel.socket().set_nonblocking(false).is_ok() {
        let deadline = Instant::now() + Duration::from_secs(1);
        let _ = write_frame(&mut channel, FrameKind::Refuse, 0, text.as_bytes(), deadline);
    }
}

/// Rank 0's master port after the rendezvous: a background thread that keeps accepting on
/// it and refuses every registration of this world as a duplicate, until dropped with the
/// communicator.
///
/// Without it, a party started with a rank that is already taken (a second process with the
/// same `RANK`) would find the port closed once the others had registered, and would retry
/// until its connect timeout before failing with a connect error that says nothing about the
/// real problem. Holding the port also keeps another job from taking it mid-run.
pub(crate) struct Refuser {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Refuser {
    /// How often the thread looks for new connections and the stop flag.
    const TICK: Duration = Duration::from_millis(10);

    /// Starts refusing on `listener`, beginning with the connections in `pending`;
    /// `registered_from[r]` is where rank `r` registered from.
    pub(crate) fn spawn(
        listener: TcpListener,
        pending: Vec<Unidentified>,
        world: usize,
        registered_from: Vec<String>,
        tls: Option<TlsConfig>,
    ) -> Refuser {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("cloak-refuser".into())
            .spawn(move || {
                refuse_until(&listener, pending, world, &registered_from, tls.as_ref(), &flag);
            })
            .ok();
        Refuser { stop, thread }
    }
}

impl Drop for Refuser {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The loop of a [`Refuser`]: reads every new connection without blocking, as the acceptor
/// does, refuses the registrations of this world, and drops everything else.
fn refuse_until(
    listener: &TcpListener,
    mut pending: Vec<Unidentified>,
    world: usize,
    registered_from: &[String],
    tls: Option<&TlsConfig>,
    stop: &AtomicBool,
) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        while let Ok((stream, _)) = listener.accept() {
            if pending.len() >= MAX_PENDING {
                pending.remove(0);
            }
            pending.extend(Unidentified::new(stream, tls, HELLO_WAIT));
        }
        let now = Instant::now();
        let mut i = 0;
        while i < pending.len() {
            match pending[i].advance(FrameKind::Register) {
                Ok(None) if now < pending[i].deadline => i += 1,
                Ok(Some((header, payload))) => {
                    let conn = pending.remove(i);
                    let rank = usize::try_from(header.aux).unwrap_or(usize::MAX);
                    let ours = words::<2>(&payload).is_ok_and(|[w, _]| w == world as u64);
                    if ours && (1..world).contains(&rank) {
                        let second = conn.addr();
                        let text = refusal::duplicate(rank, &registered_from[rank], &second);
                        refuse(conn.channel, &text);
                    }
                }
                Ok(None) | Err(()) => drop(pending.remove(i)),
            }
        }
        thread::sleep(Refuser::TICK);
    }
}
