//! Building the mesh: one TCP connection between every pair of parties.
//!
//! Within a mesh the lower rank accepts and the higher rank connects, then sends a hello
//! frame with its rank, the world size and the session token, so the acceptor knows who is
//! calling and rejects strays. Connecting before accepting cannot deadlock: the kernel
//! completes a connection into the listen backlog before the acceptor calls `accept`.
//!
//! With only a master address (torchrun style), rank 0 listens on it, every other party
//! opens its own listener on an ephemeral port and registers it with rank 0, and rank 0
//! answers each with the table of all addresses. The registration connections then serve as
//! the links to rank 0, and the other parties build the rest of the mesh from the table.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use super::handshake::{SetupFail, read_frame, words, write_frame};
use crate::wire::FrameKind;
use crate::{CommConfig, CommError};

/// The connected links of one party, indexed by peer rank (`None` for itself).
pub(crate) type Links = Vec<Option<TcpStream>>;

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
    let mut links: Links = (0..world).map(|_| None).collect();
    // Without a coordinator there is no shared secret; the world size is still checked.
    let token = 0;
    for (peer, addr) in parties.iter().enumerate().take(rank) {
        links[peer] = Some(connect_with_hello(rank, world, peer, addr, token, deadline, config)?);
    }
    accept_hellos(listener, world, token, rank + 1..world, deadline, config, &mut links)?;
    Ok(links)
}

/// Builds the mesh through rank 0 at `master` (`host:port`).
pub(crate) fn mesh_from_master(
    rank: usize,
    world: usize,
    master: &str,
    config: &CommConfig,
) -> Result<Links, CommError> {
    if rank >= world {
        return Err(CommError::InvalidRank { rank, world });
    }
    if rank == 0 {
        serve_master(world, master, config)
    } else {
        join_master(rank, world, master, config)
    }
}

/// Rank 0: accepts every registration, then sends everyone the table.
fn serve_master(world: usize, master: &str, config: &CommConfig) -> Result<Links, CommError> {
    let deadline = Instant::now() + config.connect_timeout;
    let port =
        master.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).ok_or_else(|| {
            CommError::Config {
                var: format!("master address {master:?}"),
                reason: "expected host:port".into(),
            }
        })?;
    let family_v6 =
        master.to_socket_addrs().ok().and_then(|mut a| a.next()).is_some_and(|a| a.is_ipv6());
    let bind: SocketAddr = if family_v6 {
        (std::net::Ipv6Addr::UNSPECIFIED, port).into()
    } else {
        ([0, 0, 0, 0], port).into()
    };
    let listener = TcpListener::bind(bind)
        .map_err(|source| CommError::Listen { addr: bind.to_string(), source })?;

    let mut links: Links = (0..world).map(|_| None).collect();
    let mut addrs: Vec<String> = vec!["-".to_owned(); world];
    let mut missing: Vec<usize> = (1..world).collect();
    while !missing.is_empty() {
        let mut stream = accept_until(&listener, deadline, &missing, config)?;
        let (header, payload) = read_frame(&mut stream, FrameKind::Register, deadline)
            .map_err(|e| e.for_addr(&stream))?;
        let [their_world, port] = words::<2>(&payload).map_err(|e| e.for_addr(&stream))?;
        let peer = usize::try_from(header.aux).unwrap_or(usize::MAX);
        let reject = |reason: String| SetupFail::Bad(reason).for_addr(&stream);
        if their_world != world as u64 {
            return Err(reject(format!(
                "party {peer} has world size {their_world}, rank 0 has {world}"
            )));
        }
        if !missing.contains(&peer) {
            return Err(reject(format!("rank {peer} is out of range or registered twice")));
        }
        let ip = stream.peer_addr().map_err(|e| CommError::from_io(peer, e))?.ip();
        let port = u16::try_from(port).map_err(|_| reject(format!("listening port {port}")))?;
        addrs[peer] = SocketAddr::new(ip, port).to_string();
        configure(&stream, peer)?;
        links[peer] = Some(stream);
        missing.retain(|&m| m != peer);
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
    Ok(links)
}

/// Ranks above 0: registers with rank 0, reads the table, builds the rest of the mesh.
fn join_master(
    rank: usize,
    world: usize,
    master: &str,
    config: &CommConfig,
) -> Result<Links, CommError> {
    let deadline = Instant::now() + config.connect_timeout;
    let mut to_master = connect_until(0, master, deadline, config)?;
    let bind: SocketAddr = match to_master.local_addr() {
        Ok(local) if local.is_ipv6() => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        _ => ([0, 0, 0, 0], 0).into(),
    };
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
    for (peer, addr) in addrs.iter().enumerate().take(rank).skip(1) {
        links[peer] = Some(connect_with_hello(rank, world, peer, addr, token, deadline, config)?);
    }
    accept_hellos(&listener, world, token, rank + 1..world, deadline, config, &mut links)?;
    Ok(links)
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

/// Accepts one connection from each rank in `expected`, checking each hello.
fn accept_hellos(
    listener: &TcpListener,
    world: usize,
    token: u64,
    expected: std::ops::Range<usize>,
    deadline: Instant,
    config: &CommConfig,
    links: &mut Links,
) -> Result<(), CommError> {
    let mut missing: Vec<usize> = expected.collect();
    while !missing.is_empty() {
        let mut stream = accept_until(listener, deadline, &missing, config)?;
        let (header, payload) =
            read_frame(&mut stream, FrameKind::Hello, deadline).map_err(|e| e.for_addr(&stream))?;
        let [their_world, their_token] = words::<2>(&payload).map_err(|e| e.for_addr(&stream))?;
        let peer = usize::try_from(header.aux).unwrap_or(usize::MAX);
        let reject = |reason: String| SetupFail::Bad(reason).for_addr(&stream);
        if their_world != world as u64 {
            return Err(reject(format!(
                "party {peer} has world size {their_world}, this party {world}"
            )));
        }
        if their_token != token {
            return Err(reject(format!("party {peer} belongs to another session")));
        }
        if !missing.contains(&peer) {
            return Err(reject(format!(
                "rank {peer} is not expected to connect here (or connected twice)"
            )));
        }
        configure(&stream, peer)?;
        links[peer] = Some(stream);
        missing.retain(|&m| m != peer);
    }
    Ok(())
}

/// Waits for the next connection until `deadline`.
fn accept_until(
    listener: &TcpListener,
    deadline: Instant,
    missing: &[usize],
    config: &CommConfig,
) -> Result<TcpStream, CommError> {
    let listen_err = |source| CommError::Listen {
        addr: listener.local_addr().map_or_else(|_| "?".into(), |a| a.to_string()),
        source,
    };
    listener.set_nonblocking(true).map_err(listen_err)?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).map_err(listen_err)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(CommError::NotConnected {
                        missing: missing.to_vec(),
                        after: config.connect_timeout,
                    });
                }
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(listen_err(e)),
        }
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
    fn session_tokens_are_nonzero_and_vary() {
        let a = session_token();
        thread::sleep(Duration::from_millis(1));
        assert_ne!(a, 0);
        assert_ne!(a, session_token());
    }
}
