//! Building the mesh: one connection between every pair of parties.
//!
//! Within a mesh the lower rank accepts and the higher rank connects: it authenticates (under
//! TLS, see [`crate::tls`]) and sends a hello frame with its rank, the world size and the
//! session token, and the acceptor answers with a welcome, or with a refusal that says why
//! (see `refusal`). Connecting before accepting cannot deadlock: the kernel completes a
//! connection into the listen backlog before the acceptor calls `accept`, and the lowest
//! rank of any chain of waits only accepts.
//!
//! With only a master address (torchrun style), rank 0 listens on it, every other party
//! opens its own listener on an ephemeral port and registers it with rank 0, and rank 0
//! answers each with the table of all addresses. The registration connections then serve as
//! the links to rank 0, and the other parties build the rest of the mesh from the table.
//! Every party resolves the master address first and fails at once, naming it, when it
//! does not resolve. The first registration for a rank wins: rank 0 refuses any later one
//! (a second process with the same rank), during the rendezvous and, through
//! [`Refuser`], for as long as its communicator lives.
//!
//! Listening sockets are bound as narrowly as the addresses allow: rank 0 on the IP address
//! of `master` (see `master_listener` for host names), every other party on the local
//! address it reached rank 0 from, which is also the address rank 0 sees and hands out.
//! Listening ports are open to anyone; `accept` describes how strangers are kept from
//! disturbing the rendezvous.
//!
//! Whether links are encrypted is decided first ([`security`]): TLS with the configured
//! identity, or plain TCP, which [`Security::Auto`] allows only on loopback.
//!
//! A party whose setup fails tells every party it is already linked to why, in an abort
//! frame naming the party at fault as a failing communicator does (a peer that never came,
//! could not be reached, went away, or the origin of an abort it received), before it
//! closes: the others then name that party, not the one that gave up first. A party
//! waiting for the table or a welcome reads such an abort as the failure; one that keeps
//! trying to reach a peer watches its established links meanwhile; and one that loses a
//! connection to a peer that gave up looks briefly for the abort that explains it.

use std::io;
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

pub(crate) use super::accept::Refuser;
use super::accept::{Acceptor, Intro, accept_intros, watch_links};
use super::channel::Channel;
use super::handshake::{SetupChannel, SetupFail, handshake, read_frame, words, write_frame};
use crate::endpoint::AbortNotice;
use crate::tls::TlsConfig;
use crate::wire::{FrameKind, Header, abort_payload};
use crate::{CommConfig, CommError, Security};

/// How long a party that gives up during setup tries to hand its abort frames to the
/// kernel, in all (they are tiny, and the connections fresh).
const ABORT_WAIT: Duration = Duration::from_millis(20);

/// How long a party that lost a connection during setup looks on its other links for an
/// abort explaining it (the peer that closed may have given up because of a third party,
/// whose notice reaches this party by another link at about the same time).
const EXPLAIN_WAIT: Duration = Duration::from_millis(100);

/// How much longer than its own connect timeout a registered party waits for rank 0's
/// table. Rank 0 gives up at its connect timeout and then says why (a rank that never
/// came); parties started at about the same time as rank 0 (as a launcher starts them)
/// must hear that verdict rather than time out on rank 0 at the same moment.
const TABLE_GRACE: Duration = Duration::from_millis(500);

/// The connected links of one party, indexed by peer rank (`None` for itself).
pub(crate) type Links = Vec<Option<SetupChannel>>;

/// Decides how links are protected: TLS with the configured identity (which must be this
/// rank's, for this world), or plain TCP, which [`Security::Auto`] allows only when every
/// address in `addrs` is on loopback. Plain links are logged, as insecure off loopback.
pub(crate) fn security(
    config: &CommConfig,
    rank: usize,
    world: usize,
    addrs: &[&str],
) -> Result<Option<TlsConfig>, CommError> {
    match &config.security {
        Security::Tls(tls) => {
            if tls.rank() != rank {
                return Err(CommError::Credentials {
                    what: crate::tls::rank_name(tls.rank()),
                    reason: format!(
                        "this party is rank {rank}, its certificate is rank {}'s",
                        tls.rank()
                    ),
                });
            }
            tls.check_world(world)?;
            Ok(Some(tls.clone()))
        }
        Security::InsecurePlain => {
            log::warn!(
                "rank {rank}: links are plain TCP, unencrypted and unauthenticated: anyone on \
                 the network path can read every share"
            );
            Ok(None)
        }
        Security::Auto => {
            for addr in addrs {
                let off_loopback = match addr.to_socket_addrs() {
                    Ok(mut resolved) => resolved.any(|a| !a.ip().is_loopback()),
                    // Unresolvable now: the connection will report it, naming it.
                    Err(_) => false,
                };
                if off_loopback {
                    return Err(CommError::TlsRequired { addr: (*addr).to_owned() });
                }
            }
            log::info!("rank {rank}: plain TCP on loopback (insecure off this machine)");
            Ok(None)
        }
    }
}

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
    let addrs: Vec<&str> = parties.iter().map(String::as_str).collect();
    let tls = security(config, rank, world, &addrs)?;
    let deadline = Instant::now() + config.connect_timeout;
    let links: Links = (0..world).map(|_| None).collect();
    // Without a coordinator there is no session token; the world size is still checked,
    // and under TLS every peer's rank is proven by its certificate.
    let token = 0;
    let mesh = Mesh { rank, addrs: parties, token, deadline, config, tls: tls.as_ref() };
    mesh.complete(listener, links)
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
    resolve_master(master)?;
    let tls = security(config, rank, world, &[master])?;
    if rank == 0 {
        serve_master(world, master, config, tls).map(|(links, refuser)| (links, Some(refuser)))
    } else {
        join_master(rank, world, master, config, tls.as_ref()).map(|links| (links, None))
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
    tls: Option<TlsConfig>,
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
        if peer == 0 || peer >= world || u16::try_from(port).is_err() {
            return Intro::Stray;
        }
        Intro::Party(peer)
    };
    let acceptor = Acceptor {
        listener: &listener,
        kind: FrameKind::Register,
        tls: tls.as_ref(),
        deadline,
        config,
    };
    // Registrants wait for the table, their links watched meanwhile: one that closes can
    // never be replaced (the first registration of a rank wins), so the rendezvous fails at
    // once, and the others learn who went away.
    let mut table_for_all = || {
        let (registered, leftovers) =
            accept_intros(&acceptor, (1..world).collect(), None, &mut links, judge)?;
        for (peer, payload) in registered {
            let port = words::<2>(&payload).ok().and_then(|[_, p]| u16::try_from(p).ok());
            let Some(channel) = links[peer].as_ref() else { continue };
            let from = channel.socket().peer_addr().map_err(|e| CommError::from_io(peer, e))?;
            registered_from[peer] = from.to_string();
            addrs[peer] = SocketAddr::new(from.ip(), port.unwrap_or(0)).to_string();
        }

        let token = session_token();
        let mut table = format!("{token}\n");
        for addr in &addrs {
            table.push_str(addr);
            table.push('\n');
        }
        for (peer, link) in links.iter_mut().enumerate() {
            if let Some(channel) = link {
                write_frame(channel, FrameKind::Table, 0, table.as_bytes(), deadline).map_err(
                    |e| e.for_peer(peer, &registered_from[peer], config.connect_timeout),
                )?;
            }
        }
        Ok(leftovers)
    };
    match table_for_all() {
        Ok(leftovers) => {
            Ok((links, Refuser::spawn(listener, leftovers, world, registered_from, tls)))
        }
        Err(e) => Err(abandon(0, &mut links, e)),
    }
}

/// Ranks above 0: registers with rank 0, reads the table, builds the rest of the mesh.
fn join_master(
    rank: usize,
    world: usize,
    master: &str,
    config: &CommConfig,
    tls: Option<&TlsConfig>,
) -> Result<Links, CommError> {
    let deadline = Instant::now() + config.connect_timeout;
    let timeout = config.connect_timeout;
    // Listen on the address this party reaches rank 0 from: the one rank 0 sees, and so the
    // one it hands out to the others.
    let mut to_master = connect_secure(0, master, deadline, config, tls, &mut [])?;
    let local = to_master.socket().local_addr().map_err(|e| CommError::from_io(0, e))?;
    let bind = SocketAddr::new(local.ip(), 0);
    let listener = TcpListener::bind(bind)
        .map_err(|source| CommError::Listen { addr: bind.to_string(), source })?;
    let port = listener
        .local_addr()
        .map_err(|source| CommError::Listen { addr: bind.to_string(), source })?
        .port();

    let registration = crate::codec::u64s_to_bytes(&[world as u64, u64::from(port)]);
    write_frame(&mut to_master, FrameKind::Register, rank as u64, &registration, deadline)
        .map_err(|e| e.for_peer(0, master, timeout))?;
    let (_, table) = read_frame(&mut to_master, FrameKind::Table, world, deadline + TABLE_GRACE)
        .map_err(|e| e.for_peer(0, master, timeout))?;
    let (token, addrs) = parse_table(&table, world)?;

    let mut links: Links = (0..world).map(|_| None).collect();
    links[0] = Some(to_master);
    let mesh = Mesh { rank, addrs: &addrs, token, deadline, config, tls };
    mesh.complete(&listener, links)
}

/// What every party of a mesh needs to complete its links.
struct Mesh<'a> {
    rank: usize,
    /// Every party's listening address, by rank.
    addrs: &'a [String],
    token: u64,
    deadline: Instant,
    config: &'a CommConfig,
    tls: Option<&'a TlsConfig>,
}

impl Mesh<'_> {
    /// Completes `links`: connects to every lower rank not linked yet (introducing this
    /// party) and accepts every higher rank on `listener`, checking each one's hello. On a
    /// failure, tells every linked party why (see the module documentation).
    fn complete(&self, listener: &TcpListener, mut links: Links) -> Result<Links, CommError> {
        match self.link_all(listener, &mut links) {
            Ok(()) => Ok(links),
            Err(e) => {
                let e = explained(&mut links, e);
                Err(abandon(self.rank, &mut links, e))
            }
        }
    }

    fn link_all(&self, listener: &TcpListener, links: &mut Links) -> Result<(), CommError> {
        let (rank, world, token) = (self.rank, self.addrs.len(), self.token);
        for (peer, addr) in self.addrs.iter().enumerate().take(rank) {
            if links[peer].is_none() {
                links[peer] = Some(self.connect_with_hello(peer, addr, links)?);
            }
        }
        let judge = |header: &Header, payload: &[u8]| {
            let Ok([their_world, their_token]) = words::<2>(payload) else {
                return Intro::Stray;
            };
            let peer = usize::try_from(header.aux).unwrap_or(usize::MAX);
            if their_world != world as u64 {
                Intro::Reject(format!(
                    "party {peer} has world size {their_world}, party {rank} has {world}"
                ))
            } else if their_token != token {
                Intro::Reject(format!("party {peer} belongs to another session"))
            } else {
                Intro::Party(peer)
            }
        };
        let acceptor = Acceptor {
            listener,
            kind: FrameKind::Hello,
            tls: self.tls,
            deadline: self.deadline,
            config: self.config,
        };
        let expected = (rank + 1..world).collect();
        // Connections still introducing themselves once everyone is in can only be strays.
        accept_intros(&acceptor, expected, Some(FrameKind::Welcome), links, judge)?;
        Ok(())
    }

    /// Connects to `peer`, introduces this party and waits for its welcome; the established
    /// `links` are watched while the connection is retried.
    fn connect_with_hello(
        &self,
        peer: usize,
        addr: &str,
        links: &mut [Option<SetupChannel>],
    ) -> Result<SetupChannel, CommError> {
        let timeout = self.config.connect_timeout;
        let world = self.addrs.len();
        let mut channel = connect_secure(peer, addr, self.deadline, self.config, self.tls, links)?;
        let hello = crate::codec::u64s_to_bytes(&[world as u64, self.token]);
        write_frame(&mut channel, FrameKind::Hello, self.rank as u64, &hello, self.deadline)
            .map_err(|e| e.for_peer(peer, addr, timeout))?;
        read_frame(&mut channel, FrameKind::Welcome, world, self.deadline)
            .map_err(|e| e.for_peer(peer, addr, timeout))?;
        Ok(channel)
    }
}

/// Tells every party of `links` why this party's setup failed with `error`, in an abort
/// frame naming the party at fault as a failing communicator would ([`AbortNotice`]), and
/// closes the links; returns `error`. Best effort: for at most [`ABORT_WAIT`] in all, and
/// never to the party the error is about (it is gone, or it is the one at fault). Every
/// setup write is a whole frame, so each link is at a frame boundary.
fn abandon(rank: usize, links: &mut [Option<SetupChannel>], error: CommError) -> CommError {
    let notice = AbortNotice::for_error(rank, &error);
    let payload = abort_payload(notice.origin, &notice.reason);
    let deadline = Instant::now() + ABORT_WAIT;
    for (peer, link) in links.iter_mut().enumerate() {
        let Some(mut channel) = link.take() else { continue };
        if peer != notice.origin && error.peer() != Some(peer) {
            let _ = write_frame(&mut channel, FrameKind::Abort, 0, &payload, deadline);
        }
        // The connection is being dropped anyway; a failed shutdown changes nothing.
        let _ = channel.socket().shutdown(Shutdown::Both);
    }
    error
}

/// `error`, or the abort that explains it: a setup failure on the connection to one peer
/// (it closed, could not be reached, did not answer) may be the consequence of a third
/// party's failure that the peer gave up on, and that this party is being told about on
/// another link at about the same time. Looks for such an abort for at most
/// [`EXPLAIN_WAIT`].
fn explained(links: &mut [Option<SetupChannel>], error: CommError) -> CommError {
    if !matches!(
        error,
        CommError::Disconnected { .. }
            | CommError::Connect { .. }
            | CommError::Timeout { .. }
            | CommError::Io { .. }
    ) {
        return error;
    }
    let until = Instant::now() + EXPLAIN_WAIT;
    loop {
        match watch_links(links) {
            Err(abort @ CommError::Aborted { .. }) => return abort,
            // A link closed without saying why: nothing better to report.
            Err(_) => return error,
            Ok(()) if Instant::now() >= until => return error,
            Ok(()) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Parses rank 0's table: the session token, then one address per rank.
fn parse_table(table: &[u8], world: usize) -> Result<(u64, Vec<String>), CommError> {
    let bad =
        |reason: &str| CommError::Malformed { peer: 0, reason: format!("address table: {reason}") };
    let text = std::str::from_utf8(table).map_err(|_| bad("not UTF-8"))?;
    let mut lines = text.lines();
    let token = lines.next().and_then(|t| t.parse::<u64>().ok()).ok_or_else(|| bad("no token"))?;
    let addrs: Vec<String> = lines.map(str::to_owned).collect();
    if addrs.len() != world {
        return Err(bad(&format!("{} addresses for {world} parties", addrs.len())));
    }
    Ok((token, addrs))
}

/// Connects to `peer` at `addr` and, under TLS, completes the handshake (which proves the
/// listener is `peer`). A connection that breaks during the handshake (a listener shedding
/// load, a peer restarting) is retried until `deadline`; a certificate that does not check
/// out is not. Between tries, the established `watch` links are watched: a party that gave
/// up meanwhile ends the wait, with its reason.
fn connect_secure(
    peer: usize,
    addr: &str,
    deadline: Instant,
    config: &CommConfig,
    tls: Option<&TlsConfig>,
    watch: &mut [Option<SetupChannel>],
) -> Result<SetupChannel, CommError> {
    let timeout = config.connect_timeout;
    loop {
        let stream = connect_until(peer, addr, deadline, config, watch)?;
        let Some(tls) = tls else {
            return Ok(Channel::plain(stream));
        };
        let conn = tls.client(peer).map_err(|e| CommError::Tls {
            peer,
            addr: addr.to_owned(),
            reason: e.to_string(),
        })?;
        let mut channel = Channel::tls(stream, conn);
        match handshake(&mut channel, deadline) {
            Ok(()) => return Ok(channel),
            Err(SetupFail::Io(_)) if Instant::now() + Duration::from_millis(50) < deadline => {
                watch_links(watch)?;
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.for_peer(peer, addr, timeout)),
        }
    }
}

/// Connects to `addr`, retrying (with backoff, re-resolving the name) until `deadline`: the
/// peer may not be listening yet. Fails early if one of the established `watch` links
/// closes meanwhile.
fn connect_until(
    peer: usize,
    addr: &str,
    deadline: Instant,
    config: &CommConfig,
    watch: &mut [Option<SetupChannel>],
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
        watch_links(watch)?;
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
