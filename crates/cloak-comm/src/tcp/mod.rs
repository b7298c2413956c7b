//! The TCP communicator: one connection per pair of parties, driven by a `mio` event loop.
//!
//! Sends are buffered: a transfer writes its frames straight from the caller's buffers as
//! far as the kernel takes them, and when it may return (its receives are done) it copies the
//! unsent tail of each frame into its link's outgoing queue. Every later call, whatever peers
//! it involves, keeps writing every link's queue, and keeps reading every link ahead of the
//! calls that will consume its frames, so parties that push large data at each other never
//! deadlock, a peer waiting on a third party never holds up this party's sends, and an abort
//! from any peer is noticed while waiting on another. The queue of one link is bounded by
//! [`CommConfig::send_buffer`]; `barrier`, [`TcpComm::flush`] and dropping the communicator
//! drain it. What is read ahead on one link is bounded by [`CommConfig::recv_buffer`]: past
//! it, the link is read only when the call waits for a frame from it, and TCP flow control
//! holds its sender back. On any error the communicator sends every peer an abort frame
//! (where its stream is at a frame boundary; see [`wire`](crate::wire)) naming the party
//! that failed first and shuts down every socket, so the failure reaches every other party
//! at once, naming the culprit, instead of after its own timeout.

mod accept;
mod channel;
mod handshake;
mod reader;
mod refusal;
mod setup;
mod writer;

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, TcpListener};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use self::channel::Channel;
use self::reader::{Frame, FrameReader, ReadStatus};
use self::writer::Outgoing;
use crate::endpoint::{AbortNotice, Endpoint, STALLED, Transport, guarded_transfer};
use crate::op::check_tag;
use crate::shaper::{LinkShaper, block_until, held_until};
use crate::wire::{FrameKind, Header, abort_payload};
use crate::{
    CommConfig, CommError, CommStats, Communicator, Launch, MessageTag, NetProfile, Op, OpKind,
    Rendezvous, Security,
};

/// Bytes moved on one link before the loop turns to the others: keeps a fast stream in one
/// direction from starving the other direction and the other links.
const BUDGET: usize = 4 << 20;

/// How long a failing party keeps trying to hand its abort frames to the kernel, in all.
const ABORT_WAIT: Duration = Duration::from_millis(5);

/// How long a call that finds a link closed without an abort (or a write to it failing)
/// keeps reading the other links for an abort that explains it, before reporting the
/// disconnection. A party that fails sends no abort on a link where it is in the middle of
/// a frame, or where the socket does not take it within [`ABORT_WAIT`]; the parties it did
/// tell pass the notice on, so it reaches this party by another link within milliseconds,
/// and names the party that failed first rather than the one that closed this link.
const EXPLAIN_WAIT: Duration = Duration::from_millis(100);

/// How long a call that timed out waits for the peer it accuses to answer (see
/// [`TcpComm::pump`]): a tenth of the timeout, between 0.1 s and 1 s. The accused must be
/// woken, read the accusation and send its own notice; on a loaded machine (many parties
/// sharing few cores) that can take far longer than the network does.
fn accuse_wait(timeout: Duration) -> Duration {
    (timeout / 10).clamp(EXPLAIN_WAIT, Duration::from_secs(1))
}

/// The link to one peer.
pub(crate) struct Link {
    /// Plain TCP or TLS over it.
    stream: Channel<mio::net::TcpStream>,
    reader: FrameReader,
    /// Frames read ahead of the operation that will consume them.
    inbox: VecDeque<Frame>,
    /// What `inbox` counts for against `recv_buffer`: payloads and headers.
    inbox_bytes: usize,
    /// The peer closed its side (or the connection broke, see `read_error`); what it sent
    /// before is still in `inbox`.
    eof: bool,
    /// Why reading stopped, when it was an error (or the peer's abort) rather than an
    /// orderly close.
    read_error: Option<CommError>,
    /// The unsent rest of frames that earlier transfers accepted, oldest first; written
    /// before anything newer.
    queue: VecDeque<Outgoing<'static>>,
    /// Bytes still to write in `queue`.
    queued: usize,
    /// Why writing stopped (the peer is gone); the queue was dropped then.
    write_error: Option<CommError>,
    /// Part of a frame has been written and the rest has not: nothing else (an abort) may
    /// be written on this link.
    mid_frame: bool,
    /// This party's abort has been written on this link: nothing may follow it.
    told: bool,
    send_seq: u64,
    recv_seq: u64,
    /// Whether a read might find data: false from a `WouldBlock` until the poller reports
    /// the socket readable again (edge-triggered), so idle links cost no system calls.
    readable: bool,
    /// The same for writing.
    writable: bool,
}

impl fmt::Debug for Link {
    /// Counts and lengths only: the buffers hold secret shares.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("send_seq", &self.send_seq)
            .field("recv_seq", &self.recv_seq)
            .field("inbox_frames", &self.inbox.len())
            .field("inbox_bytes", &self.inbox_bytes)
            .field("queued_frames", &self.queue.len())
            .field("queued_bytes", &self.queued)
            .field("stream", &self.stream)
            .field("reader", &self.reader)
            .field("eof", &self.eof)
            .field("read_error", &self.read_error)
            .field("write_error", &self.write_error)
            .finish()
    }
}

impl Link {
    /// Writes pending TLS records, the queue, then `fresh` (this transfer's frame for this
    /// peer, if any), until the socket refuses more or about `budget` bytes have gone;
    /// returns whether anything moved. Clears `writable` when the socket refused more.
    fn write_some(
        &mut self,
        fresh: &mut Option<Outgoing<'_>>,
        budget: usize,
    ) -> std::io::Result<bool> {
        let mut moved = false;
        if self.stream.has_pending_output() {
            if self.stream.push_output()? {
                self.writable = false;
                return Ok(false);
            }
            moved = true;
        }
        let mut total = 0;
        while let Some(front) = self.queue.front_mut() {
            let (n, blocked) = front.write_to(&mut self.stream, budget - total)?;
            total += n;
            self.queued -= n;
            self.mid_frame = !front.done() && (n > 0 || self.mid_frame);
            if front.done() {
                self.queue.pop_front();
            }
            if blocked {
                self.writable = false;
                return Ok(moved || total > 0);
            }
            if total >= budget {
                return Ok(true);
            }
        }
        if let Some(frame) = fresh.as_mut() {
            let (n, blocked) = frame.write_to(&mut self.stream, budget - total)?;
            total += n;
            self.mid_frame = !frame.done() && (n > 0 || self.mid_frame);
            self.writable = !blocked;
        }
        Ok(moved || total > 0)
    }

    /// Bytes read from the peer ahead of the calls that will consume them: the frames in
    /// the inbox, and what the reader holds of the next.
    fn read_ahead(&self) -> usize {
        self.inbox_bytes + self.reader.buffered()
    }

    /// Reads what the socket has for this link's reader (see [`FrameReader::read_from`]),
    /// keeping count of what lands in the inbox.
    fn read(&mut self, budget: usize, one_frame: bool) -> Result<(ReadStatus, usize), CommError> {
        let before = self.inbox.len();
        let result = self.reader.read_from(&mut self.stream, &mut self.inbox, budget, one_frame);
        self.inbox_bytes += self.inbox.iter().skip(before).map(Frame::cost).sum::<usize>();
        result
    }

    /// The next frame of the inbox.
    fn pop(&mut self) -> Option<Frame> {
        let frame = self.inbox.pop_front()?;
        self.inbox_bytes -= frame.cost();
        Some(frame)
    }

    /// Hands `frame` to the kernel, waiting for the socket between tries until `deadline`
    /// at the latest (best effort: the abort frame of a failing party). A frame cut short
    /// leaves the peer a truncated frame before the close, which it reports as this party
    /// disconnecting.
    fn write_until(&mut self, frame: &[u8], deadline: Instant) {
        let mut written = 0;
        while written < frame.len() {
            match self.stream.write(&frame[written..]) {
                Ok(0) => return,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(_) => return,
            }
        }
    }

    /// Writes the abort frame of `notice` (best effort, for at most [`ABORT_WAIT`]) where
    /// the stream is at a frame boundary and nothing has ended it yet; nothing may be
    /// written after it.
    fn tell(&mut self, notice: &AbortNotice) {
        if !self.mid_frame && self.write_error.is_none() && !self.told {
            let payload = abort_payload(notice.origin, &notice.reason);
            let header =
                Header { kind: FrameKind::Abort, seq: 0, aux: 0, len: payload.len() as u64 };
            let frame = [&header.encode()[..], &payload].concat();
            self.write_until(&frame, Instant::now() + ABORT_WAIT);
        }
        self.told = true;
    }

    /// Whether any bytes wait to be written on this link.
    fn writes_pending(&self, fresh: &Option<Outgoing<'_>>) -> bool {
        self.queued > 0
            || fresh.as_ref().is_some_and(|f| !f.done())
            || self.stream.has_pending_output()
    }
}

/// A party's endpoint over TCP.
///
/// Build one with [`TcpComm::connect`] (every party's address known),
/// [`TcpComm::rendezvous`] (only rank 0's address known), [`TcpComm::from_env`] (launcher
/// variables), or a whole local network with [`TcpComm::create_local`].
///
/// Sends are buffered as the [`Communicator`] documentation describes: a send returns once
/// its message is queued, and waits only while more than [`CommConfig::send_buffer`] bytes
/// to the same peer are still unsent. Dropping the communicator first tries to deliver what
/// is queued, for at most the timeout.
pub struct TcpComm {
    endpoint: Endpoint<Link>,
    poll: Poll,
    events: Events,
    /// At rank 0 of a master rendezvous: keeps the master port, refusing late registrations
    /// (a duplicate rank) with a clear error instead of leaving them to time out.
    _refuser: Option<setup::Refuser>,
}

impl fmt::Debug for TcpComm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TcpComm").field(&self.endpoint).finish()
    }
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
    ///
    /// Rank 0 listens only on `master`'s IP when it is an IP address (on every interface
    /// when it is the unspecified address, or not local, as behind NAT), on loopback for
    /// `localhost`, and on every interface for other host names (which may resolve
    /// differently at rank 0 than elsewhere). Every other party listens on the local address
    /// from which it reached rank 0. Connections that do not introduce themselves as parties
    /// within a few seconds are dropped without disturbing the setup.
    ///
    /// Fails at once with [`CommError::Unresolvable`] when `master` does not resolve. Rank 0
    /// keeps the master port for its communicator's lifetime; a second party claiming a rank
    /// that is already registered (then or later) fails with [`CommError::DuplicateRank`].
    pub fn rendezvous(
        rank: usize,
        world: usize,
        master: &str,
        config: &CommConfig,
    ) -> Result<TcpComm, CommError> {
        let (links, refuser) = setup::mesh_from_master(rank, world, master, config)?;
        let mut comm = Self::from_links(rank, links, config)?;
        comm._refuser = refuser;
        Ok(comm)
    }

    /// Joins the mesh described by `launch`.
    pub fn from_launch(launch: &Launch, config: &CommConfig) -> Result<TcpComm, CommError> {
        match &launch.rendezvous {
            Rendezvous::Parties(parties) => Self::connect(launch.rank, parties, config),
            Rendezvous::Master(master) => {
                Self::rendezvous(launch.rank, launch.world_size, master, config).map_err(|e| {
                    // The launcher variables are what the operator has to fix: name them.
                    match e {
                        CommError::Unresolvable { addr, source, .. } => CommError::Unresolvable {
                            addr,
                            origin: "MASTER_ADDR/MASTER_PORT".into(),
                            source,
                        },
                        e => e,
                    }
                })
            }
        }
    }

    /// Joins the mesh described by the launcher variables of this process (see
    /// [`Launch::from_env`]). When `config` leaves security at [`Security::Auto`], the
    /// environment may choose it ([`Security::from_env`]: `CLOAK_TLS_DIR`,
    /// `CLOAK_PLAINTEXT`); when it leaves [`CommConfig::network`] at `None`, so may
    /// [`NET_VAR`](crate::NET_VAR) (`CLOAK_NET`, see [`NetProfile::from_env`]).
    pub fn from_env(config: &CommConfig) -> Result<TcpComm, CommError> {
        let launch = Launch::from_env()?;
        let mut config = config.clone();
        if config.security == Security::Auto {
            config.security = Security::from_env(launch.rank, launch.world_size)?;
        }
        if config.network.is_none() {
            config.network = NetProfile::from_env()?;
        }
        Self::from_launch(&launch, &config)
    }

    /// A whole `n`-party mesh over loopback in this process, in rank order: for tests and
    /// benchmarks. Move each endpoint into its own thread.
    pub fn create_local(n: usize, config: &CommConfig) -> Result<Vec<TcpComm>, CommError> {
        Self::create_local_each(&vec![config.clone(); n])
    }

    /// [`TcpComm::create_local`] with each rank's own configuration (`configs[r]` for rank
    /// `r`): under TLS each party has its own identity, as from
    /// [`Deployment::config`](crate::tls::Deployment::config).
    pub fn create_local_each(configs: &[CommConfig]) -> Result<Vec<TcpComm>, CommError> {
        let n = configs.len();
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
                    scope.spawn(move || Self::with_listener(rank, listener, addrs, &configs[rank]))
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
            let Some(channel) = link else {
                out.push(None);
                continue;
            };
            let io_err = |e| CommError::from_io(peer, e);
            channel.socket().set_nonblocking(true).map_err(io_err)?;
            // Setup set deadlines on the blocking socket; the event loop keeps its own.
            channel.socket().set_read_timeout(None).map_err(io_err)?;
            channel.socket().set_write_timeout(None).map_err(io_err)?;
            let mut stream = channel.map_socket(mio::net::TcpStream::from_std);
            poll.registry()
                .register(stream.socket_mut(), Token(peer), Interest::READABLE | Interest::WRITABLE)
                .map_err(io_err)?;
            out.push(Some(Link {
                stream,
                reader: FrameReader::new(peer, world, config.max_message)
                    .shaped(config.network.map(LinkShaper::new)),
                inbox: VecDeque::new(),
                inbox_bytes: 0,
                eof: false,
                read_error: None,
                queue: VecDeque::new(),
                queued: 0,
                write_error: None,
                mid_frame: false,
                told: false,
                send_seq: 0,
                recv_seq: 0,
                readable: true,
                writable: true,
            }));
        }
        Ok(TcpComm {
            endpoint: Endpoint::new(rank, config, out),
            poll,
            events: Events::with_capacity(64),
            _refuser: None,
        })
    }

    /// Waits until every queued message has been handed to the kernel (not necessarily read
    /// by its receiver), reading meanwhile so that peers doing the same never deadlock.
    /// Fails like a transfer, naming a peer that had not taken everything when the timeout
    /// ran out; a failure fails the communicator. `barrier` flushes too, and so does dropping the communicator
    /// (ignoring errors); a process that exits without dropping it should flush first.
    pub fn flush(&mut self) -> Result<(), CommError> {
        self.endpoint.check_usable()?;
        let mut fresh: Vec<Option<Outgoing<'_>>> = (0..self.endpoint.world).map(|_| None).collect();
        let result = self.pump(Op::new(OpKind::Barrier), &mut fresh, &[], true);
        if let Err(error) = &result {
            crate::endpoint::fail(self, error);
        }
        result.map(drop)
    }

    /// Bytes read from `peer` ahead of the calls that will consume them (frames waiting in
    /// its inbox, each with its header, and the arrived part of the next): what
    /// [`CommConfig::recv_buffer`] bounds. For tests of that bound; 0 for an invalid rank
    /// or after a failure.
    #[doc(hidden)]
    pub fn read_ahead(&self, peer: usize) -> usize {
        self.endpoint.links.get(peer).and_then(Option::as_ref).map_or(0, Link::read_ahead)
    }

    /// The event loop of one call: writes `fresh` (this call's frame per peer, indexed by
    /// rank) after each link's queue, reads what is needed, and returns the messages of
    /// `recv_from` once they have all arrived and the sends are settled: with `flush`, every
    /// byte handed to the kernel; otherwise every frame of this call either written or
    /// queued behind at most `send_buffer` older bytes to its peer. Unsent tails are then
    /// copied into the queues.
    ///
    /// When the timeout runs out, every link is read once more (a poll cut short by a stop
    /// and a resume may not have reported what arrived meanwhile). Then the call accuses
    /// the peer it waits on, with an abort sent to that peer alone, and gives it
    /// [`accuse_wait`] to answer before reporting the timeout: a peer that is not stalled
    /// but blocked, waiting itself for more than half the timeout on another party, answers
    /// by naming that party to everyone (so a stall is named at every party even when a
    /// party waiting on a blocked one times out first, as the parties waiting on party 0
    /// while it waits on a stalled dealer do). A peer that does not answer is named.
    fn pump(
        &mut self,
        op: Op,
        fresh: &mut [Option<Outgoing<'_>>],
        recv_from: &[usize],
        flush: bool,
    ) -> Result<Vec<Vec<u8>>, CommError> {
        let world = self.endpoint.world;
        let timeout = self.endpoint.config.timeout;
        let spin = self.endpoint.config.spin;
        let send_buffer = usize::try_from(self.endpoint.config.send_buffer).unwrap_or(usize::MAX);
        let recv_buffer = usize::try_from(self.endpoint.config.recv_buffer).unwrap_or(usize::MAX);
        // A frame is held up while its link still has more than `send_buffer` older bytes to
        // write (or, when flushing, while anything is left to write).
        let holds_up = |link: &Link, frame: &Option<Outgoing<'_>>| {
            if flush {
                link.writes_pending(frame)
            } else {
                frame.as_ref().is_some_and(|f| !f.done()) && link.queued > send_buffer
            }
        };
        // A queue left by an earlier call may have become writable without this party having
        // polled since; trying costs one system call.
        for link in self.endpoint.links.iter_mut().flatten() {
            link.writable |= link.queued > 0 || link.stream.has_pending_output();
        }

        let mut received: Vec<Option<Vec<u8>>> = vec![None; recv_from.len()];
        let mut missing = recv_from.len();
        let mut waiting = vec![false; world];
        recv_from.iter().for_each(|&p| waiting[p] = true);
        // The whole call, not each gap between bytes, must finish within the timeout: a peer
        // trickling a byte now and then must not hold this party for longer.
        let started = Instant::now();
        let deadline = started + timeout;
        let mut last_progress = started;
        // Whether the links this call waits on have been read once more since an abort
        // arrived.
        let mut reread = false;
        // A link this call needs that closed without an abort, or the timeout and the peer
        // accused of it, and until when the other links may still explain it (see
        // `EXPLAIN_WAIT` and `accuse_wait`).
        let mut lost: Option<(CommError, Instant)> = None;
        // Whether every link has been read once more since the timeout ran out.
        let mut last_look = false;
        loop {
            let mut progress = false;
            // Write every link, whether or not this call involves it: what earlier calls
            // queued must keep moving while this party waits for anything.
            for (peer, (slot, frame)) in
                self.endpoint.links.iter_mut().zip(fresh.iter_mut()).enumerate()
            {
                let Some(link) = slot.as_mut() else {
                    continue;
                };
                if link.writable && link.writes_pending(frame) {
                    match link.write_some(frame, BUDGET) {
                        Ok(moved) => progress |= moved,
                        Err(e) => {
                            // The peer is gone: drop what it will never read, and report
                            // that once this call has received what it can (a message
                            // explaining the failure is more useful than the disconnection).
                            link.write_error.get_or_insert(CommError::from_io(peer, e));
                            link.queue.clear();
                            link.queued = 0;
                            *frame = None;
                            // If the peer said why it left, that is on its way to us.
                            link.readable = true;
                        }
                    }
                }
            }
            // Read every link ahead of the calls that will consume its frames, up to
            // `recv_buffer` bytes: draining peers that are blocked writing to this party is
            // what prevents a send-send deadlock, and reading links this call does not
            // involve is how an abort from them is noticed. Past the bound a link is read
            // only when this call needs a frame from it; the rest stays in the kernel
            // buffers, and TCP flow control holds the sender back instead of this process's
            // memory growing. A link this call needs is read up to that frame only, which
            // the call consumes while it is still in the cache (reading further ahead there
            // slows a receiver of a stream of large messages); if the call then waits on
            // other links, the loop reads it ahead like any other.
            for (peer, link) in self.endpoint.links.iter_mut().enumerate() {
                let Some(link) = link.as_mut().filter(|l| l.readable && !l.eof) else {
                    continue;
                };
                let wanted = waiting[peer] && link.inbox.is_empty();
                let room = recv_buffer.saturating_sub(link.read_ahead());
                let read = if wanted {
                    link.read(BUDGET, true)
                } else if room > 0 {
                    link.read(room.min(BUDGET), false)
                } else {
                    continue;
                };
                match read {
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
                    // The peer's abort, or a broken connection: the end of this link, once
                    // the frames before it have been consumed.
                    Err(e) => {
                        link.eof = true;
                        link.read_error = Some(e);
                    }
                }
            }
            // The earliest time a frame this call waits for is held until (a shaped
            // network's delivery time).
            let mut hold: Option<Instant> = None;
            let before = Instant::now();
            for (slot, &peer) in recv_from.iter().enumerate() {
                if received[slot].is_some() {
                    continue;
                }
                let link = self.endpoint.link(peer)?;
                let expected = MessageTag { seq: link.recv_seq, op };
                if let Some(held) = held_until(link.inbox.front().and_then(|f| f.release), before) {
                    hold = Some(hold.map_or(held, |h| h.min(held)));
                } else if let Some(frame) = link.pop() {
                    check_tag(peer, expected, frame.tag)?;
                    link.recv_seq += 1;
                    received[slot] = Some(frame.payload);
                    waiting[peer] = false;
                    missing -= 1;
                } else if link.eof {
                    let error = link.read_error.take().unwrap_or(CommError::Disconnected { peer });
                    if matches!(error, CommError::Aborted { .. }) {
                        // Reported below, as every abort is.
                        link.read_error = Some(error);
                    } else if lost.is_none() {
                        lost = Some((error, Instant::now() + EXPLAIN_WAIT));
                    }
                } else if let Some(tag) = link.reader.pending_tag() {
                    // Reject a diverged peer before its whole payload has arrived.
                    check_tag(peer, expected, tag)?;
                }
            }
            let links = &mut self.endpoint.links;
            let held_up = |links: &[Option<Link>], fresh: &[Option<Outgoing<'_>>]| {
                links
                    .iter()
                    .zip(fresh)
                    .position(|(l, f)| l.as_ref().is_some_and(|l| holds_up(l, f)))
            };
            // The peer this call still waits for: one that owes a message, else one that has
            // not taken this call's send.
            let waiting_on = |links: &[Option<Link>], fresh: &[Option<Outgoing<'_>>]| {
                let owing = recv_from.iter().zip(&received).find(|(_, r)| r.is_none());
                owing.map(|(p, _)| *p).or_else(|| held_up(links, fresh))
            };
            let rank = self.endpoint.rank;
            if missing == 0 && held_up(links, fresh).is_none() && lost.is_none() {
                if let Some(error) = links.iter_mut().flatten().find_map(|l| l.write_error.take()) {
                    // A peer that went away after saying why is better reported by its why,
                    // or by the notice of the party that failed first, if it comes soon.
                    match take_abort(links) {
                        Some(abort) => return Err(abort),
                        None => {
                            lost = Some((error, Instant::now() + EXPLAIN_WAIT));
                            continue;
                        }
                    }
                }
                // Keep the unsent tails, copied out of the caller's buffers.
                for (link, frame) in links.iter_mut().zip(fresh.iter_mut()) {
                    if let (Some(link), Some(frame)) = (link, frame.take())
                        && !frame.done()
                    {
                        let rest = frame.into_owned();
                        link.queued += rest.remaining();
                        link.queue.push_back(rest);
                    }
                }
                return Ok(received.into_iter().map(Option::unwrap_or_default).collect());
            }

            // The call still waits, but a peer has aborted: the computation cannot finish,
            // and the peers this call waits on may be stuck on the one that failed. First,
            // though, read the links this call waits on once more, whatever the poller has
            // reported so far: a message of the wrong operation explains more than the abort
            // it may have caused elsewhere.
            let aborted = |l: &Link| matches!(l.read_error, Some(CommError::Aborted { .. }));
            if !reread && links.iter().flatten().any(aborted) {
                reread = true;
                for &peer in recv_from {
                    if let Some(link) = links[peer].as_mut().filter(|_| waiting[peer]) {
                        link.readable = true;
                    }
                }
                continue;
            }
            if let Some(abort) = take_abort(links) {
                let accusing = match &lost {
                    Some((CommError::Timeout { peer, .. }, _)) => Some(*peer),
                    _ => None,
                };
                let blocked_on = waiting_on(links, fresh);
                if let Some(error) = settle(abort, rank, blocked_on, started, timeout, accusing) {
                    return Err(error);
                }
            }
            // A link closed without saying why, or the accused peer has not answered yet:
            // report it once the wait for an explanation is over, or at once when no link is
            // left open to bring one.
            let now = Instant::now();
            if let Some((error, until)) = lost.take() {
                let open = links.iter().flatten().any(|l| !l.eof && l.write_error.is_none());
                if now >= until || !open {
                    return Err(error);
                }
                lost = Some((error, until));
            }

            // Checked before progress is: a peer moving a byte per loop must not escape it.
            if now >= deadline && lost.is_none() {
                if !last_look {
                    last_look = true;
                    for link in links.iter_mut().flatten() {
                        link.readable = true;
                        link.writable = true;
                    }
                    continue;
                }
                let peer = waiting_on(links, fresh).unwrap_or(rank);
                let error = CommError::Timeout { peer, after: timeout };
                if let Some(link) = links.get_mut(peer).and_then(Option::as_mut) {
                    // The accusation is the last frame on this link: drop what is queued
                    // behind it.
                    link.queue.clear();
                    link.queued = 0;
                    fresh[peer] = None;
                    link.tell(&AbortNotice::for_error(rank, &error));
                }
                lost = Some((error, now + accuse_wait(timeout)));
                continue;
            }
            if progress {
                last_progress = now;
                continue;
            }
            // Shortly after progress, poll without sleeping: the next bytes usually follow
            // within microseconds, and waking a sleeping thread costs tens of them.
            let spinning = now < last_progress + spin;
            let until = lost.as_ref().map_or(deadline, |(_, until)| deadline.min(*until));
            let mut wait =
                if spinning { Duration::ZERO } else { until.saturating_duration_since(now) };
            if let Some(hold) = hold.filter(|&h| h < until) {
                wait = wait.min(wait_for_release(hold, now));
            }
            self.poll
                .poll(&mut self.events, Some(wait))
                .or_else(
                    |e| if e.kind() == std::io::ErrorKind::Interrupted { Ok(()) } else { Err(e) },
                )
                .map_err(|source| CommError::Poll { source })?;
            for event in self.events.iter() {
                if let Some(Some(link)) = self.endpoint.links.get_mut(event.token().0) {
                    // Errors and hang-ups surface through the next read or write.
                    let broken =
                        event.is_error() || event.is_read_closed() || event.is_write_closed();
                    link.readable |= event.is_readable() || broken;
                    link.writable |= event.is_writable() || broken;
                }
            }
        }
    }
}

impl Transport for TcpComm {
    type Link = Link;

    fn endpoint(&mut self) -> &mut Endpoint<Link> {
        &mut self.endpoint
    }

    fn run(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError> {
        let mut fresh: Vec<Option<Outgoing<'_>>> = (0..self.endpoint.world).map(|_| None).collect();
        for &(to, data) in sends {
            let link = self.endpoint.link(to)?;
            let kind = FrameKind::Op(op.kind);
            let header = Header { kind, seq: link.send_seq, aux: op.aux, len: data.len() as u64 };
            link.send_seq += 1;
            fresh[to] = Some(Outgoing::new(&header, data));
        }
        // A barrier promises that everything sent before it has left this party.
        self.pump(op, &mut fresh, recv_from, op.kind == OpKind::Barrier)
    }

    /// Sends the abort frame on every link whose stream is at a frame boundary (dropping
    /// what is queued behind it: the peer will not need it), trying for at most
    /// [`ABORT_WAIT`] in all, then shuts every socket down so that each peer notices at
    /// once. A link in the middle of a frame is only shut down: nothing can follow half a
    /// frame.
    fn close_links(&mut self, links: Vec<Link>, notice: &AbortNotice) {
        let payload = abort_payload(notice.origin, &notice.reason);
        let header = Header { kind: FrameKind::Abort, seq: 0, aux: 0, len: payload.len() as u64 };
        let frame = [&header.encode()[..], &payload].concat();
        let deadline = Instant::now() + ABORT_WAIT;
        for mut link in links {
            if !link.mid_frame && link.write_error.is_none() && !link.told {
                link.write_until(&frame, deadline);
            }
            // The socket is being dropped anyway; a failed shutdown changes nothing.
            let _ = link.stream.socket().shutdown(Shutdown::Both);
        }
    }
}

/// How long to poll when the next thing due is a frame held until `release`. The poller
/// counts whole milliseconds, rounding up, which would add up to a millisecond to every
/// shaped message (ten times a LAN's one-way latency): poll for the whole milliseconds
/// before [`block_until`], sleep in this thread what is left of them (reading the other
/// links that little later does no harm), and spin the last stretch (see
/// [`SPIN`](crate::shaper::SPIN)), yielding the processor between looks.
fn wait_for_release(release: Instant, now: Instant) -> Duration {
    let left = block_until(release).saturating_duration_since(now);
    let whole = Duration::from_millis(left.as_millis() as u64);
    if whole.is_zero() {
        if left.is_zero() {
            std::thread::yield_now();
        } else {
            std::thread::sleep(left);
        }
    }
    whole
}

/// What a call of party `rank` that began at `started` reports for `abort`, or `None` to
/// go on waiting: the abort, unless it accuses this party of having stalled while this
/// party is not stalled but blocked.
///
/// - Waiting on `blocked_on` for at least half the timeout (and still on time: not
///   further past its own timeout than [`accuse_wait`]), this party names the party it
///   waits on, as its own timeout would (so the notice it sends names that party), and the
///   accuser, waiting for its answer (see [`TcpComm::pump`]), learns who really stalled.
/// - Already `accusing` a peer itself (its own timeout ran out first), it names that peer
///   at once, without waiting for that peer's answer: its accuser is waiting for its own.
///   When the accusation comes from that very peer (two parties waiting on each other, a
///   program mismatch), it waits for the answer as before, and each names the other.
/// - Otherwise the accusation stands: this party had not been waiting long, or was not
///   running when its own timeout ran out (stopped, or starved of processor time).
fn settle(
    abort: CommError,
    rank: usize,
    blocked_on: Option<usize>,
    started: Instant,
    timeout: Duration,
    accusing: Option<usize>,
) -> Option<CommError> {
    let accuser = match &abort {
        CommError::Aborted { origin, reason, via }
            if *origin == rank && reason.starts_with(STALLED) =>
        {
            *via
        }
        _ => return Some(abort),
    };
    if let Some(peer) = accusing {
        return (peer != accuser).then_some(CommError::Timeout { peer, after: timeout });
    }
    let waited = started.elapsed();
    match blocked_on {
        Some(peer) if waited * 2 >= timeout && waited <= timeout + accuse_wait(timeout) => {
            // In whole milliseconds: it is shown to people.
            let after = Duration::from_millis(waited.min(timeout).as_millis() as u64);
            Some(CommError::Timeout { peer, after })
        }
        _ => Some(abort),
    }
}

/// The abort a peer has sent, if one has arrived on any link.
fn take_abort(links: &mut [Option<Link>]) -> Option<CommError> {
    links.iter_mut().flatten().find_map(|l| match l.read_error {
        Some(CommError::Aborted { .. }) => l.read_error.take(),
        _ => None,
    })
}

impl Drop for TcpComm {
    /// Delivers what is still queued (best effort, for at most the timeout), so that a party
    /// may return right after its last send. Not while the thread panics: the party has failed, and its peers should learn that at once.
    fn drop(&mut self) {
        let queued = self
            .endpoint
            .links
            .iter()
            .flatten()
            .any(|l| l.queued > 0 || l.stream.has_pending_output());
        if queued && !self.endpoint.has_failed() && !std::thread::panicking() {
            // Nobody is left to report a failure to; `flush` has closed the links then.
            let _ = self.flush();
        }
    }
}

impl Communicator for TcpComm {
    fn rank(&self) -> usize {
        self.endpoint.rank
    }

    fn world_size(&self) -> usize {
        self.endpoint.world
    }

    fn transfer(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError> {
        guarded_transfer(self, op, sends, recv_from)
    }

    fn abort(&mut self, reason: &str) {
        crate::endpoint::abort(self, reason);
    }

    fn stats(&self) -> &CommStats {
        &self.endpoint.stats
    }

    fn stats_mut(&mut self) -> &mut CommStats {
        &mut self.endpoint.stats
    }

    fn flush(&mut self) -> Result<(), CommError> {
        TcpComm::flush(self)
    }
}
