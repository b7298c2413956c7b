//! Building the mesh: one TCP connection between every pair of parties.
//!
//! Within a mesh the lower rank accepts and the higher rank connects, then sends a hello
//! frame with its rank, the world size and the session token, so the acceptor knows who is
//! calling. Connecting before accepting cannot deadlock: the kernel completes a connection
//! into the listen backlog before the acceptor calls `accept`.
//!
//! With only a master address (torchrun style), rank 0 listens on it, every other party
//! opens its own listener on an ephemeral port and registers it with rank 0, and rank 0
//! answers each with the table of all addresses. The registration connections then serve as
//! the links to rank 0, and the other parties build the rest of the mesh from the table.
//! Every party resolves the master address first and fails at once, naming it, when it
//! does not resolve. The first registration for a rank wins: rank 0 refuses any later one
//! (a second process with the same rank), during the rendezvous and, through [`Refuser`],
//! for as long as its communicator lives, answering with a refusal that the refused party
//! reports as [`CommError::DuplicateRank`].
//!
//! Listening sockets are bound as narrowly as the addresses allow: rank 0 on the IP address
//! of `master` (see `master_listener` for host names), every other party on the local
//! address it reached rank 0 from, which is also the address rank 0 sees and hands out.
//!
//! A listening port is open to anyone, so an acceptor tolerates strays: it reads every
//! unidentified connection without blocking, gives each [`HELLO_WAIT`] (at most the connect
//! timeout) to introduce itself, and drops those that send anything else, close, or stay
//! silent, while it keeps accepting. Only a well-formed introduction with another world size
//! or session token ends setup at once, with [`CommError::Handshake`]: that is a party of
//! this deployment with a different configuration, which waiting cannot fix.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use super::handshake::{read_frame, words, write_frame};
use crate::wire::{FrameKind, HEADER_LEN, Header};
use crate::{CommConfig, CommError};

/// The connected links of one party, indexed by peer rank (`None` for itself).
pub(crate) type Links = Vec<Option<TcpStream>>;

/// How long a new connection may take to introduce itself (capped by the connect timeout).
pub(crate) const HELLO_WAIT: Duration = Duration::from_secs(5);

/// Introductions (hello, registration) are two words; anything much longer is not a party.
const MAX_INTRO_PAYLOAD: u64 = 1024;

/// Builds the mesh from every party's listening address; `listener` is this party's,
/// already bound to `parties[rank]` (or to any address the others can reach).
pub(crate) fn mesh_from_list(
    rank: usize,
    listener: &TcpListener,
    parties: &[String],
    config: &CommConfig,
) -> Result<Links, CommError> {
    let world = parties.len();
    if rank >= world {
        return Err(CommError::InvalidRank { rank, world });
    }
    let deadline = Instant::now() + config.connect_timeout;
    let links: Links = (0..world).map(|_| None).collect();
    // Without a coordinator there is no shared secret; the world size is still checked.
    let token = 0;
    complete_mesh(rank, listener, parties, token, deadline, config, links)
}

/// Builds the mesh through rank 0 at `master` (`host:port`). Rank 0 also gets a
/// [`Refuser`] that keeps the master port for as long as its communicator lives.
pub(crate) fn mesh_from_master(
    rank: usize,
    world: usize,
    master: &str,
    config: &CommConfig,
) -> Result<(Links, Option<Refuser>), CommError> {
    if rank >= world {
        return Err(CommError::InvalidRank { rank, world });
    }
    if rank == 0 {
        serve_master(world, master, config).map(|(links, refuser)| (links, Some(refuser)))
    } else {
        join_master(rank, world, master, config).map(|links| (links, None))
    }
}

/// Splits `master` into host and port and resolves it, failing at once when the name does
/// not resolve: every party checks this first, because neither side can fix a bad name by
/// waiting, and rank 0 would otherwise listen on every interface for the whole connect
/// timeout and then report only that nobody came.
fn resolve_master(master: &str) -> Result<(String, u16, Vec<SocketAddr>), CommError> {
    let bad = || CommError::Config {
        var: format!("master address {master:?}"),
        reason: "expected host:port".into(),
    };
    let (host, port) = master.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse::<u16>().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let unresolvable = |source| CommError::Unresolvable {
        addr: master.to_owned(),
        origin: "the master address argument".into(),
        source,
    };
    let resolved: Vec<SocketAddr> = master.to_socket_addrs().map_err(unresolvable)?.collect();
    if resolved.is_empty() {
        return Err(unresolvable(io::Error::new(io::ErrorKind::NotFound, "no addresses")));
    }
    Ok((host.to_owned(), port, resolved))
}

/// Rank 0's listener, bound as narrowly as `master` allows: on its IP when it is an IP
/// address (every interface for the unspecified address, or when that IP is not local, as
/// behind NAT), on loopback for `localhost`, and on every interface of the name's address
/// family for any other host name, because a name can resolve differently here than at the
/// other parties (Debian maps a machine's own name to 127.0.1.1, for one).
fn master_listener(master: &str) -> Result<TcpListener, CommError> {
    let (host, port, resolved) = resolve_master(master)?;
    let host = host.as_str();
    let candidates: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) if host.eq_ignore_ascii_case("localhost") => resolved.clone(),
        Err(_) => Vec::new(),
    };
    for addr in &candidates {
        match TcpListener::bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {}
            Err(source) => return Err(CommError::Listen { addr: addr.to_string(), source }),
        }
    }
    let v6 = candidates.first().or(resolved.first()).is_some_and(SocketAddr::is_ipv6);
    let any: SocketAddr = if v6 {
        (Ipv6Addr::UNSPECIFIED, port).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, port).into()
    };
    TcpListener::bind(any).map_err(|source| CommError::Listen { addr: any.to_string(), source })
}

/// Rank 0: accepts every registration, then sends everyone the table; the listener then
/// goes on refusing late registrations (see [`Refuser`]).
fn serve_master(
    world: usize,
    master: &str,
    config: &CommConfig,
) -> Result<(Links, Refuser), CommError> {
    let deadline = Instant::now() + config.connect_timeout;
    let listener = master_listener(master)?;

    let mut links: Links = (0..world).map(|_| None).collect();
    let mut addrs: Vec<String> = vec!["-".to_owned(); world];
    let mut registered_from: Vec<String> = vec!["-".to_owned(); world];
    let judge = |header: &Header, payload: &[u8]| {
        let Ok([their_world, port]) = words::<2>(payload) else {
            return Intro::Stray;
        };
        let peer = usize::try_from(header.aux).unwrap_or(usize::MAX);
        if their_world != world as u64 {
            return Intro::Reject(format!(
                "party {peer} has world size {their_world}, rank 0 has {world}"
            ));
        }
        if u16::try_from(port).is_err() {
            return Intro::Stray;
        }
        Intro::Party(peer)
    };
    let (registered, leftovers) = accept_intros(
        &listener,
        FrameKind::Register,
        (1..world).collect(),
        deadline,
        config,
        judge,
    )?;
    for (peer, stream, payload) in registered {
        let port = words::<2>(&payload).ok().and_then(|[_, p]| u16::try_from(p).ok());
        let from = stream.peer_addr().map_err(|e| CommError::from_io(peer, e))?;
        registered_from[peer] = from.to_string();
        addrs[peer] = SocketAddr::new(from.ip(), port.unwrap_or(0)).to_string();
        links[peer] = Some(stream);
    }

    let token = session_token();
    let mut table = format!("{token}\n");
    for addr in &addrs {
        table.push_str(addr);
        table.push('\n');
    }
    for (peer, link) in links.iter_mut().enumerate() {
        if let Some(stream) = link {
            write_frame(stream, FrameKind::Table, 0, table.as_bytes(), deadline)
                .map_err(|e| e.for_peer(peer, config.connect_timeout))?;
        }
    }
    Ok((links, Refuser::spawn(listener, leftovers, world, registered_from)))
}

/// Ranks above 0: registers with rank 0, reads the table, builds the rest of the mesh.
fn join_master(
    rank: usize,
    world: usize,
    master: &str,
    config: &CommConfig,
) -> Result<Links, CommError> {
    resolve_master(master)?;
    let deadline = Instant::now() + config.connect_timeout;
    let mut to_master = connect_until(0, master, deadline, config)?;
    // Listen on the address this party reached rank 0 from: the one rank 0 sees, and so the
    // one it hands out to the others.
    let local = to_master.local_addr().map_err(|e| CommError::from_io(0, e))?;
    let bind = SocketAddr::new(local.ip(), 0);
    let listener = TcpListener::bind(bind)
        .map_err(|source| CommError::Listen { addr: bind.to_string(), source })?;
    let port = listener
        .local_addr()
        .map_err(|source| CommError::Listen { addr: bind.to_string(), source })?
        .port();

    let registration = crate::codec::u64s_to_bytes(&[world as u64, u64::from(port)]);
    let timeout = config.connect_timeout;
    write_frame(&mut to_master, FrameKind::Register, rank as u64, &registration, deadline)
        .map_err(|e| e.for_peer(0, timeout))?;
    let (_, table) = read_frame(&mut to_master, FrameKind::Table, deadline)
        .map_err(|e| e.for_peer(0, timeout))?;
    let (token, addrs) = parse_table(&table, world)?;

    let mut links: Links = (0..world).map(|_| None).collect();
    links[0] = Some(to_master);
    complete_mesh(rank, &listener, &addrs, token, deadline, config, links)
}

/// Completes `links`: connects to every lower rank not linked yet (introducing this party)
/// and accepts every higher rank on `listener`, checking each one's hello.
fn complete_mesh(
    rank: usize,
    listener: &TcpListener,
    addrs: &[String],
    token: u64,
    deadline: Instant,
    config: &CommConfig,
    mut links: Links,
) -> Result<Links, CommError> {
    let world = addrs.len();
    for (peer, addr) in addrs.iter().enumerate().take(rank) {
        if links[peer].is_none() {
            links[peer] =
                Some(connect_with_hello(rank, world, peer, addr, token, deadline, config)?);
        }
    }
    let judge = |header: &Header, payload: &[u8]| {
        let Ok([their_world, their_token]) = words::<2>(payload) else {
            return Intro::Stray;
        };
        let peer = usize::try_from(header.aux).unwrap_or(usize::MAX);
        if their_world != world as u64 {
            Intro::Reject(format!("party {peer} has world size {their_world}, this party {world}"))
        } else if their_token != token {
            Intro::Reject(format!("party {peer} belongs to another session"))
        } else {
            Intro::Party(peer)
        }
    };
    let expected = (rank + 1..world).collect();
    // Connections still introducing themselves once everyone is in can only be strays.
    let (accepted, _strays) =
        accept_intros(listener, FrameKind::Hello, expected, deadline, config, judge)?;
    for (peer, stream, _) in accepted {
        links[peer] = Some(stream);
    }
    Ok(links)
}

/// Parses rank 0's table: the session token, then one address per rank; or its refusal
/// (see [`refusal`]), reported as [`CommError::DuplicateRank`].
fn parse_table(table: &[u8], world: usize) -> Result<(u64, Vec<String>), CommError> {
    let bad =
        |reason: &str| CommError::Malformed { peer: 0, reason: format!("address table: {reason}") };
    let text = std::str::from_utf8(table).map_err(|_| bad("not UTF-8"))?;
    let mut lines = text.lines();
    if text.lines().next() == Some(REFUSED) {
        let fields: Vec<&str> = lines.skip(1).collect();
        let [rank, first, second] = fields[..] else {
            return Err(bad("malformed refusal"));
        };
        let rank = rank.parse().map_err(|_| bad("refusal without a rank"))?;
        return Err(CommError::DuplicateRank { rank, first: first.into(), second: second.into() });
    }
    let token = lines.next().and_then(|t| t.parse::<u64>().ok()).ok_or_else(|| bad("no token"))?;
    let addrs: Vec<String> = lines.map(str::to_owned).collect();
    if addrs.len() != world {
        return Err(bad(&format!("{} addresses for {world} parties", addrs.len())));
    }
    Ok((token, addrs))
}

/// Connects to `peer` and introduces this party.
fn connect_with_hello(
    rank: usize,
    world: usize,
    peer: usize,
    addr: &str,
    token: u64,
    deadline: Instant,
    config: &CommConfig,
) -> Result<TcpStream, CommError> {
    let mut stream = connect_until(peer, addr, deadline, config)?;
    let hello = crate::codec::u64s_to_bytes(&[world as u64, token]);
    write_frame(&mut stream, FrameKind::Hello, rank as u64, &hello, deadline)
        .map_err(|e| e.for_peer(peer, config.connect_timeout))?;
    Ok(stream)
}

/// A party that introduced itself: its rank, its connection and its introduction payload.
type Introduced = (usize, TcpStream, Vec<u8>);

/// What an acceptor makes of a well-formed introduction.
enum Intro {
    /// A party of this mesh, with this rank (accepted if that rank is still expected).
    Party(usize),
    /// Not one of ours after all: drop the connection and keep accepting.
    Stray,
    /// A party of this deployment with a different configuration: fail setup.
    Reject(String),
}

/// A connection accepted but not identified yet, read without blocking.
struct Unidentified {
    stream: TcpStream,
    /// The bytes of its first frame read so far.
    buf: Vec<u8>,
    filled: usize,
    header: Option<Header>,
    /// When it is dropped if it has not introduced itself.
    deadline: Instant,
}

impl Unidentified {
    /// Reads what has arrived: `Ok(Some)` once the whole first frame is in, `Ok(None)` while
    /// it is incomplete, `Err` for a connection to drop (closed, broken, or not a `kind`
    /// frame of reasonable size).
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
            match self.stream.read(&mut self.buf[self.filled..]) {
                Ok(0) => return Err(()),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
    }
}

/// Accepts connections on `listener` until every rank of `missing` has introduced itself
/// with a `kind` frame that `judge` accepts; returns each one's rank, connection (blocking,
/// configured for a link) and introduction payload. Strays are dropped (see the module
/// documentation); a rejected introduction ends setup with [`CommError::Handshake`]. Also
/// returns the connections not identified yet when the last party came in: at rank 0 these
/// may be duplicates still to be refused.
fn accept_intros(
    listener: &TcpListener,
    kind: FrameKind,
    mut missing: Vec<usize>,
    deadline: Instant,
    config: &CommConfig,
    judge: impl Fn(&Header, &[u8]) -> Intro,
) -> Result<(Vec<Introduced>, Vec<Unidentified>), CommError> {
    let listen_err = |source| CommError::Listen {
        addr: listener.local_addr().map_or_else(|_| "?".into(), |a| a.to_string()),
        source,
    };
    listener.set_nonblocking(true).map_err(listen_err)?;
    let hello_wait = HELLO_WAIT.min(config.connect_timeout);
    let mut unidentified: Vec<Unidentified> = Vec::new();
    let mut identified = Vec::new();
    while !missing.is_empty() {
        let mut progress = false;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    progress = true;
                    // A connection that cannot even be made non-blocking is dropped.
                    if stream.set_nonblocking(true).is_ok() {
                        unidentified.push(Unidentified {
                            stream,
                            buf: vec![0; HEADER_LEN],
                            filled: 0,
                            header: None,
                            deadline: Instant::now() + hello_wait,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
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
            let conn = unidentified.swap_remove(i);
            progress = true;
            let Some((header, payload)) = frame else {
                continue;
            };
            match judge(&header, &payload) {
                Intro::Party(peer) if missing.contains(&peer) => {
                    // A link that cannot be configured is as good as a stray: the real
                    // party may still connect.
                    if conn.stream.set_nonblocking(false).is_ok()
                        && configure(&conn.stream, peer).is_ok()
                    {
                        missing.retain(|&m| m != peer);
                        identified.push((peer, conn.stream, payload));
                    }
                }
                // A second registration for a rank already registered: the first wins, and
                // the later one learns why it is refused instead of waiting for a table.
                Intro::Party(peer) if kind == FrameKind::Register => {
                    if let Some((_, first, _)) = identified.iter().find(|(p, _, _)| *p == peer) {
                        let first = first
                            .peer_addr()
                            .map_or_else(|_| "an unknown address".into(), |a| a.to_string());
                        refuse(conn.stream, peer, &first);
                    }
                }
                Intro::Party(_) | Intro::Stray => {}
                Intro::Reject(reason) => {
                    let addr = conn
                        .stream
                        .peer_addr()
                        .map_or_else(|_| "an unknown address".into(), |a| a.to_string());
                    return Err(CommError::Handshake { addr, reason });
                }
            }
        }
        if missing.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(CommError::NotConnected { missing, after: config.connect_timeout });
        }
        if !progress {
            thread::sleep(Duration::from_millis(1));
        }
    }
    Ok((identified, unidentified))
}

/// First line of rank 0's answer to a registration it refuses, in place of the session
/// token; then the rank, the address it was first registered from, and the refused one's.
const REFUSED: &str = "refused";

/// The payload of a refusal (see [`REFUSED`]).
fn refusal(rank: usize, first: &str, second: &str) -> String {
    format!("{REFUSED}\n{rank}\n{first}\n{second}\n")
}

/// Tells the party on `stream`, which registered as `rank`, that `first` holds that rank
/// already. Best effort: a party that cannot be told still fails (on the closed connection).
fn refuse(mut stream: TcpStream, rank: usize, first: &str) {
    let second = stream.peer_addr().map_or_else(|_| "an unknown address".into(), |a| a.to_string());
    let payload = refusal(rank, first, &second);
    // The frame is tiny and the connection fresh, so this does not block in practice; the
    // deadline bounds it if the socket buffer were somehow full.
    if stream.set_nonblocking(false).is_ok() {
        let deadline = Instant::now() + Duration::from_secs(1);
        let _ = write_frame(&mut stream, FrameKind::Table, 0, payload.as_bytes(), deadline);
    }
}

/// Rank 0's master port after the rendezvous: a background thread that keeps accepting on
/// it and refuses every registration with [`refuse`], until dropped with the communicator.
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
    fn spawn(
        listener: TcpListener,
        pending: Vec<Unidentified>,
        world: usize,
        registered_from: Vec<String>,
    ) -> Refuser {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("cloak-refuser".into())
            .spawn(move || refuse_until(&listener, pending, world, &registered_from, &flag))
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
    stop: &AtomicBool,
) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        while let Ok((stream, _)) = listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                pending.push(Unidentified {
                    stream,
                    buf: vec![0; HEADER_LEN],
                    filled: 0,
                    header: None,
                    deadline: Instant::now() + HELLO_WAIT,
                });
            }
        }
        let now = Instant::now();
        let mut i = 0;
        while i < pending.len() {
            match pending[i].advance(FrameKind::Register) {
                Ok(None) if now < pending[i].deadline => i += 1,
                Ok(Some((header, payload))) => {
                    let conn = pending.swap_remove(i);
                    let rank = usize::try_from(header.aux).unwrap_or(usize::MAX);
                    let ours = words::<2>(&payload).is_ok_and(|[w, _]| w == world as u64);
                    if ours && (1..world).contains(&rank) {
                        refuse(conn.stream, rank, &registered_from[rank]);
                    }
                }
                Ok(None) | Err(()) => drop(pending.swap_remove(i)),
            }
        }
        thread::sleep(Refuser::TICK);
    }
}

/// Connects to `addr`, retrying (with backoff, re-resolving the name) until `deadline`: the
/// peer may not be listening yet.
fn connect_until(
    peer: usize,
    addr: &str,
    deadline: Instant,
    config: &CommConfig,
) -> Result<TcpStream, CommError> {
    let mut backoff = Duration::from_millis(5);
    loop {
        let last = match addr.to_socket_addrs() {
            Ok(candidates) => {
                let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
                for candidate in candidates {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    match TcpStream::connect_timeout(&candidate, left.min(Duration::from_secs(2))) {
                        Ok(stream) => {
                            configure(&stream, peer)?;
                            return Ok(stream);
                        }
                        Err(e) => last = e,
                    }
                }
                last
            }
            Err(e) => e,
        };
        if Instant::now() + backoff >= deadline {
            return Err(CommError::Connect {
                peer,
                addr: addr.to_owned(),
                after: config.connect_timeout,
                source: last,
            });
        }
        thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(200));
    }
}

/// Socket options for a mesh link: no Nagle delay, since protocol rounds are latency-bound.
fn configure(stream: &TcpStream, peer: usize) -> Result<(), CommError> {
    stream.set_nodelay(true).map_err(|e| CommError::from_io(peer, e))
}

/// A session token that differs between runs, so that a party of an earlier or parallel job
/// cannot join this one by accident. Not a secret: it only has to be unlikely to collide.
fn session_token() -> u64 {
    let nanos =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut x = (nanos as u64) ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    // splitmix64 finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parsing_checks_the_count_and_token() {
        let (token, addrs) = parse_table(b"42\n-\n127.0.0.1:5\n", 2).expect("valid table");
        assert_eq!(token, 42);
        assert_eq!(addrs, ["-", "127.0.0.1:5"]);
        assert!(matches!(parse_table(b"42\n-\n", 2), Err(CommError::Malformed { peer: 0, .. })));
        assert!(matches!(parse_table(b"x\n-\n-\n", 2), Err(CommError::Malformed { peer: 0, .. })));
        assert!(matches!(parse_table(&[0xff, 0xfe], 2), Err(CommError::Malformed { peer: 0, .. })));
    }

    #[test]
    fn a_refusal_parses_as_a_duplicate_rank() {
        let payload = refusal(3, "10.0.0.1:5", "10.0.0.2:6");
        match parse_table(payload.as_bytes(), 4) {
            Err(CommError::DuplicateRank { rank: 3, first, second }) => {
                assert_eq!((first.as_str(), second.as_str()), ("10.0.0.1:5", "10.0.0.2:6"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_table(b"refused\n3\n", 4), Err(CommError::Malformed { .. })));
    }

    #[test]
    fn rank_0_listens_as_narrowly_as_the_master_address_allows() {
        let ip = |master: &str| {
            master_listener(master)
                .and_then(|l| l.local_addr().map(|a| a.ip()).map_err(|e| CommError::from_io(0, e)))
        };
        assert_eq!(ip("127.0.0.1:0").ok(), Some(IpAddr::from([127, 0, 0, 1])));
        assert!(ip("localhost:0").is_ok_and(|ip| ip.is_loopback()));
        assert_eq!(ip("0.0.0.0:0").ok(), Some(IpAddr::from([0, 0, 0, 0])));
        // Not an address of this machine (TEST-NET-1): as behind NAT, every interface.
        assert_eq!(ip("192.0.2.1:0").ok(), Some(IpAddr::from([0, 0, 0, 0])));
        assert!(matches!(ip("no-port"), Err(CommError::Config { .. })));
    }

    #[test]
    fn session_tokens_are_nonzero_and_vary() {
        let a = session_token();
        thread::sleep(Duration::from_millis(1));
        assert_ne!(a, 0);
        assert_ne!(a, session_token());
    }
}
