//! The TCP communicator: one connection per pair of parties, driven by a `mio` event loop.
//!
//! Each transfer interleaves non-blocking writes and reads over all links in one loop, so
//! two parties sending each other gigabytes at once never deadlock, and incoming frames for
//! later operations are buffered rather than left to fill the kernel buffers. On any error
//! the communicator shuts down every socket, so the failure reaches every other party at
//! once (each sees this party disconnect) instead of after its own timeout.

mod handshake;
mod reader;
mod setup;
mod writer;

use std::collections::VecDeque;
use std::net::{Shutdown, TcpListener};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use self::reader::{Frame, FrameReader, ReadStatus};
use self::writer::Outgoing;
use crate::op::{check_tag, validate_transfer};
use crate::wire::{FrameKind, Header};
use crate::{CommConfig, CommError, CommStats, Communicator, Launch, MessageTag, Op, Rendezvous};

/// Bytes moved on one link before the loop turns to the others: keeps a fast stream in one
/// direction from starving the other direction and the other links.
const BUDGET: usize = 4 << 20;

/// The link to one peer.
#[derive(Debug)]
struct Link {
    stream: mio::net::TcpStream,
    reader: FrameReader,
    /// Frames read ahead of the operation that will consume them.
    inbox: VecDeque<Frame>,
    /// The peer closed its side (or the connection broke, see `read_error`); what it sent
    /// before is still in `inbox`.
    eof: bool,
    /// Why reading stopped, when it was an error rather than an orderly close.
    read_error: Option<CommError>,
    send_seq: u64,
    recv_seq: u64,
    /// Whether a read might find data: false from a `WouldBlock` until the poller reports
    /// the socket readable again (edge-triggered), so idle links cost no system calls.
    readable: bool,
    /// The same for writing.
    writable: bool,
}

/// A party's endpoint over TCP.
///
/// Build one with [`TcpComm::connect`] (every party's address known),
/// [`TcpComm::rendezvous`] (only rank 0's address known), [`TcpComm::from_env`] (launcher
/// variables), or a whole local network with [`TcpComm::create_local`].
#[derive(Debug)]
pub struct TcpComm {
    rank: usize,
    world: usize,
    config: CommConfig,
    poll: Poll,
    events: Events,
    /// Indexed by peer rank; `None` for this party itself and after a failure.
    links: Vec<Option<Link>>,
    stats: CommStats,
    failed: Option<String>,
}

impl TcpComm {
    /// Joins the mesh as `rank`, where `parties[r]` is the `host:port` that party `r`
    /// listens on; this party binds its own entry.
    pub fn connect<S: AsRef<str>>(
        rank: usize,
        parties: &[S],
        config: &CommConfig,
    ) -> Result<TcpComm, CommError> {
        let parties: Vec<String> = parties.iter().map(|p| p.as_ref().to_owned()).collect();
        let own = parties.get(rank).ok_or(CommError::InvalidRank { rank, world: parties.len() })?;
        let listener = TcpListener::bind(own)
            .map_err(|source| CommError::Listen { addr: own.clone(), source })?;
        Self::with_listener(rank, &listener, &parties, config)
    }

    /// Like [`TcpComm::connect`], with this party's listener already bound (lets a caller
    /// bind port 0 and publish the port it got, with no race for a free port).
    pub fn with_listener<S: AsRef<str>>(
        rank: usize,
        listener: &TcpListener,
        parties: &[S],
        config: &CommConfig,
    ) -> Result<TcpComm, CommError> {
        let parties: Vec<String> = parties.iter().map(|p| p.as_ref().to_owned()).collect();
        let links = setup::mesh_from_list(rank, listener, &parties, config)?;
        Self::from_links(rank, links, config)
    }

    /// Joins a `world`-party mesh through rank 0, which listens on `master` (`host:port`);
    /// every other party listens on an ephemeral port and registers it with rank 0.
    pub fn rendezvous(
        rank: usize,
        world: usize,
        master: &str,
        config: &CommConfig,
    ) -> Result<TcpComm, CommError> {
        let links = setup::mesh_from_master(rank, world, master, config)?;
        Self::from_links(rank, links, config)
    }

    /// Joins the mesh described by `launch`.
    pub fn from_launch(launch: &Launch, config: &CommConfig) -> Result<TcpComm, CommError> {
        match &launch.rendezvous {
            Rendezvous::Parties(parties) => Self::connect(launch.rank, parties, config),
            Rendezvous::Master(master) => {
                Self::rendezvous(launch.rank, launch.world_size, master, config)
            }
        }
    }

    /// Joins the mesh described by the launcher variables of this process (see
    /// [`Launch::from_env`]).
    pub fn from_env(config: &CommConfig) -> Result<TcpComm, CommError> {
        Self::from_launch(&Launch::from_env()?, config)
    }

    /// A whole `n`-party mesh over loopback in this process, in rank order: for tests and
    /// benchmarks. Move each endpoint into its own thread.
    pub fn create_local(n: usize, config: &CommConfig) -> Result<Vec<TcpComm>, CommError> {
        let listeners = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| CommError::Listen { addr: "127.0.0.1:0".into(), source })?;
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| CommError::Listen { addr: "127.0.0.1:0".into(), source })?;
        let results: Vec<Result<TcpComm, CommError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = listeners
                .iter()
                .enumerate()
                .map(|(rank, listener)| {
                    let addrs = &addrs;
                    scope.spawn(move || Self::with_listener(rank, listener, addrs, config))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(CommError::Failed { cause: "mesh setup thread panicked".into() })
                    })
                })
                .collect()
        });
        results.into_iter().collect()
    }

    /// Hands connected links to the event loop.
    fn from_links(
        rank: usize,
        links: setup::Links,
        config: &CommConfig,
    ) -> Result<TcpComm, CommError> {
        let world = links.len();
        let poll = Poll::new().map_err(|source| CommError::Poll { source })?;
        let mut out = Vec::with_capacity(world);
        for (peer, link) in links.into_iter().enumerate() {
            let Some(stream) = link else {
                out.push(None);
                continue;
            };
            let io_err = |e| CommError::from_io(peer, e);
            stream.set_nonblocking(true).map_err(io_err)?;
            let mut stream = mio::net::TcpStream::from_std(stream);
            poll.registry()
                .register(&mut stream, Token(peer), Interest::READABLE | Interest::WRITABLE)
                .map_err(io_err)?;
            out.push(Some(Link {
                stream,
                reader: FrameReader::new(peer, config.max_message),
                inbox: VecDeque::new(),
                eof: false,
                read_error: None,
                send_seq: 0,
                recv_seq: 0,
                readable: true,
                writable: true,
            }));
        }
        Ok(TcpComm {
            rank,
            world,
            config: config.clone(),
            poll,
            events: Events::with_capacity(64),
            links: out,
            stats: CommStats::default(),
            failed: None,
        })
    }

    fn link(&mut self, peer: usize) -> Result<&mut Link, CommError> {
        // Validation guarantees `peer` is another valid rank, so a missing link means the
        // communicator failed; report that rather than panicking.
        self.links
            .get_mut(peer)
            .and_then(Option::as_mut)
            .ok_or_else(|| CommError::Failed { cause: format!("no link to peer {peer}") })
    }

    fn run(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError> {
        let max = self.config.max_message;
        let mut outgoing = Vec::with_capacity(sends.len());
        for &(to, data) in sends {
            if data.len() as u64 > max {
                return Err(CommError::TooLarge { peer: to, len: data.len() as u64, max });
            }
        }
        for &(to, data) in sends {
            let link = self.link(to)?;
            let kind = FrameKind::Op(op.kind);
            let header = Header { kind, seq: link.send_seq, aux: op.aux, len: data.len() as u64 };
            link.send_seq += 1;
            outgoing.push(Outgoing::new(to, &header, data));
        }

        let mut received: Vec<Option<Vec<u8>>> = vec![None; recv_from.len()];
        let mut missing = recv_from.len();
        let mut waiting = vec![false; self.world];
        recv_from.iter().for_each(|&p| waiting[p] = true);
        // A broken link is reported when this party needs a message over it, or after the
        // receives otherwise: if a peer's message explains the failure (it diverged), that
        // is more useful to report than the disconnection it caused.
        let mut send_error = None;
        let mut last_progress = Instant::now();
        loop {
            let mut progress = false;
            for frame in outgoing.iter_mut().filter(|f| !f.done()) {
                let peer = frame.peer;
                let link = self.link(peer)?;
                if !link.writable {
                    continue;
                }
                match frame.write_to(&mut link.stream, BUDGET) {
                    Ok((n, blocked)) => {
                        progress |= n > 0;
                        link.writable = !blocked;
                    }
                    Err(e) => {
                        frame.abandon();
                        send_error.get_or_insert(CommError::from_io(peer, e));
                    }
                }
            }
            // Read a link when this transfer still needs a message from it, or from every
            // link while this party's own writes are pending: draining peers that are
            // themselves blocked writing to us is what prevents a send-send deadlock. Other
            // data stays in the kernel buffers, so a fast sender is held back by TCP flow
            // control instead of filling this process's memory.
            let writes_pending = outgoing.iter().any(|f| !f.done());
            for (peer, link) in self.links.iter_mut().enumerate() {
                let Some(link) = link.as_mut().filter(|l| l.readable && !l.eof) else {
                    continue;
                };
                let wanted = waiting[peer] && link.inbox.is_empty();
                if !wanted && !writes_pending {
                    continue;
                }
                let (stream, inbox) = (&mut link.stream, &mut link.inbox);
                match link.reader.read_from(stream, inbox, BUDGET, !writes_pending) {
                    Ok((status, n)) => {
                        progress |=
                            n > 0 || matches!(status, ReadStatus::Budget | ReadStatus::Frame);
                        link.eof = status == ReadStatus::Eof;
                        link.readable = status != ReadStatus::WouldBlock;
                    }
                    // Garbage on any link is fatal at once.
                    Err(e @ (CommError::Malformed { .. } | CommError::TooLarge { .. })) => {
                        return Err(e);
                    }
                    Err(e) => {
                        link.eof = true;
                        link.read_error = Some(e);
                    }
                }
            }
            for (slot, &peer) in recv_from.iter().enumerate() {
                if received[slot].is_some() {
                    continue;
                }
                let link = self.link(peer)?;
                let expected = MessageTag { seq: link.recv_seq, op };
                if let Some(frame) = link.inbox.pop_front() {
                    check_tag(peer, expected, frame.tag)?;
                    link.recv_seq += 1;
                    received[slot] = Some(frame.payload);
                    waiting[peer] = false;
                    missing -= 1;
                } else if link.eof {
                    return Err(link.read_error.take().unwrap_or(CommError::Disconnected { peer }));
                } else if let Some(tag) = link.reader.pending_tag() {
                    // Reject a diverged peer before its whole payload has arrived.
                    check_tag(peer, expected, tag)?;
                }
            }
            if missing == 0 && outgoing.iter().all(Outgoing::done) {
                return match send_error {
                    Some(error) => Err(error),
                    None => Ok(received.into_iter().map(Option::unwrap_or_default).collect()),
                };
            }

            let now = Instant::now();
            if progress {
                last_progress = now;
                continue;
            }
            let deadline = last_progress + self.config.timeout;
            if now >= deadline {
                let waiting_recv = recv_from.iter().zip(&received).find(|(_, r)| r.is_none());
                let waiting_send = outgoing.iter().find(|f| !f.done()).map(|f| f.peer);
                let peer = waiting_recv.map(|(p, _)| *p).or(waiting_send).unwrap_or(self.rank);
                return Err(CommError::Timeout { peer, after: self.config.timeout });
            }
            // Shortly after progress, poll without sleeping: the next bytes usually follow
            // within microseconds, and waking a sleeping thread costs tens of them.
            let spinning = now < last_progress + self.config.spin;
            let wait = if spinning { Duration::ZERO } else { deadline - now };
            self.poll
                .poll(&mut self.events, Some(wait))
                .or_else(
                    |e| if e.kind() == std::io::ErrorKind::Interrupted { Ok(()) } else { Err(e) },
                )
                .map_err(|source| CommError::Poll { source })?;
            for event in self.events.iter() {
                if let Some(Some(link)) = self.links.get_mut(event.token().0) {
                    // Errors and hang-ups surface through the next read or write.
                    let broken =
                        event.is_error() || event.is_read_closed() || event.is_write_closed();
                    link.readable |= event.is_readable() || broken;
                    link.writable |= event.is_writable() || broken;
                }
            }
        }
    }

    /// Closes every link so that all peers notice this party's failure at once.
    fn fail(&mut self, error: &CommError) {
        self.failed = Some(error.to_string());
        for link in self.links.iter_mut() {
            if let Some(l) = link.take() {
                // The sockets are being dropped anyway; a failed shutdown changes nothing.
                let _ = l.stream.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Communicator for TcpComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.world
    }

    fn transfer(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError> {
        if let Some(cause) = &self.failed {
            return Err(CommError::Failed { cause: cause.clone() });
        }
        validate_transfer(self.rank, self.world, sends, recv_from)?;
        let result = self.run(op, sends, recv_from);
        if let Err(error) = &result {
            self.fail(error);
        }
        result
    }

    fn stats(&self) -> &CommStats {
        &self.stats
    }

    fn stats_mut(&mut self) -> &mut CommStats {
        &mut self.stats
    }
}
