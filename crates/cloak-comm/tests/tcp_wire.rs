//! TCP setup and framing against hand-made peers: garbage, oversized frames, strays,
//! missing peers, and the master rendezvous.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use cloak_comm::runner::{free_local_port, run_parties};
use cloak_comm::wire::{FrameKind, Header, MAX_ABORT_REASON, abort_payload};
use cloak_comm::{CommConfig, CommError, Communicator, OpKind, TcpComm, u64s_to_bytes};
use common::{all_ok, config};

/// Starts rank 0 of a 2-party mesh on a fresh port and runs `then` on it in a thread;
/// returns the port and the thread's result handle.
fn rank0<R: Send + 'static>(
    timeout_ms: u64,
    then: impl FnOnce(TcpComm) -> Result<R, CommError> + Send + 'static,
) -> (String, thread::JoinHandle<Result<R, CommError>>) {
    rank0_with(config(timeout_ms), then)
}

/// [`rank0`] with a whole configuration.
fn rank0_with<R: Send + 'static>(
    config: CommConfig,
    then: impl FnOnce(TcpComm) -> Result<R, CommError> + Send + 'static,
) -> (String, thread::JoinHandle<Result<R, CommError>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let parties = [addr.clone(), "127.0.0.1:9".to_owned()];
    let handle = thread::spawn(move || {
        let comm = TcpComm::with_listener(0, &listener, &parties, &config)?;
        then(comm)
    });
    (addr, handle)
}

/// Sends a hand-made hello for rank 1 claiming `world` parties, and returns rank 0's answer:
/// its frame kind and payload.
fn hello(s: &mut TcpStream, world: u64) -> (FrameKind, Vec<u8>) {
    let header = Header { kind: FrameKind::Hello, seq: 0, aux: 1, len: 16 };
    s.write_all(&header.encode()).expect("write");
    s.write_all(&u64s_to_bytes(&[world, 0])).expect("write");
    let mut answer = [0u8; 32];
    s.read_exact(&mut answer).expect("answer");
    let header = Header::decode(&answer).expect("a frame header");
    let mut payload = vec![0u8; header.len as usize];
    s.read_exact(&mut payload).expect("answer payload");
    (header.kind, payload)
}

/// A hand-made rank 1 that has completed the handshake with rank 0.
fn fake_rank1(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    let (kind, _) = hello(&mut s, 2);
    assert_eq!(kind, FrameKind::Welcome);
    s
}

/// A hand-made rank 1 joins rank 0 at `addr`, whose thread `h` runs `exchange(1, b"from 0")`,
/// and the two exchange messages.
fn exchange_as_rank1(addr: &str, h: thread::JoinHandle<Result<Vec<u8>, CommError>>) {
    let mut peer = fake_rank1(addr);
    peer.write_all(&frame(OpKind::Exchange, 0, 0, b"from 1")).expect("write");
    let mut reply = [0u8; 32 + 6];
    peer.read_exact(&mut reply).expect("read");
    assert_eq!(&reply[32..], b"from 0");
    assert_eq!(join(h).expect("exchange"), b"from 1");
}

fn frame(kind: OpKind, seq: u64, aux: u64, payload: &[u8]) -> Vec<u8> {
    let header = Header { kind: FrameKind::Op(kind), seq, aux, len: payload.len() as u64 };
    [&header.encode()[..], payload].concat()
}

fn join<R>(h: thread::JoinHandle<Result<R, CommError>>) -> Result<R, CommError> {
    h.join().expect("rank 0 thread must not panic")
}

#[test]
fn a_well_formed_hand_made_peer_is_understood() {
    let (addr, h) = rank0(2000, |mut c| c.exchange(1, b"from 0"));
    exchange_as_rank1(&addr, h);
}

#[test]
fn strays_are_dropped_while_the_mesh_is_built() {
    // Garbage, a frame of the wrong kind, a connection that closes at once and one that
    // stays silent all reach rank 0 before the real rank 1: rank 0 drops them and goes on.
    let (addr, h) = rank0(5000, |mut c| c.exchange(1, b"from 0"));
    let mut garbage = TcpStream::connect(&addr).expect("connect");
    garbage.write_all(&[0x5a; 64]).expect("write");
    let mut wrong_kind = TcpStream::connect(&addr).expect("connect");
    let header = Header { kind: FrameKind::Table, seq: 0, aux: 1, len: 16 };
    wrong_kind.write_all(&header.encode()).expect("write");
    drop(TcpStream::connect(&addr).expect("connect"));
    let _silent = TcpStream::connect(&addr).expect("connect");
    exchange_as_rank1(&addr, h);
}

#[test]
fn a_hello_from_another_world_is_refused_without_stopping_the_mesh() {
    let (addr, h) = rank0(5000, |mut c| c.exchange(1, b"from 0"));
    let mut forged = TcpStream::connect(&addr).expect("connect");
    let (kind, reason) = hello(&mut forged, 3);
    assert_eq!(kind, FrameKind::Refuse);
    let reason = String::from_utf8(reason).expect("UTF-8");
    assert!(reason.contains("world size 3"), "{reason}");
    // The real rank 1 still gets in.
    exchange_as_rank1(&addr, h);
}

#[test]
fn a_rank_that_never_comes_is_reported_with_the_refusals_meanwhile() {
    let (addr, h) = rank0(1500, |_| Ok(()));
    let mut forged = TcpStream::connect(&addr).expect("connect");
    assert_eq!(hello(&mut forged, 3).0, FrameKind::Refuse);
    match join(h) {
        Err(e @ CommError::NotConnected { .. }) => {
            let CommError::NotConnected { missing, refused, .. } = &e else { unreachable!() };
            assert_eq!(missing, &[1]);
            assert_eq!(refused.len(), 1, "{e}");
            assert!(e.to_string().contains("world size 3"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_mid_stream_is_malformed_naming_the_peer() {
    let (addr, h) = rank0(2000, |mut c| c.recv(1));
    let mut peer = fake_rank1(&addr);
    peer.write_all(b"this is not a frame header, just bytes!").expect("write");
    assert!(matches!(join(h), Err(CommError::Malformed { peer: 1, .. })));
}

#[test]
fn an_oversized_length_is_refused_before_allocating() {
    // Far beyond any memory: allocating it would abort the test process.
    let (addr, h) = rank0(2000, |mut c| c.recv(1));
    let mut peer = fake_rank1(&addr);
    let header = Header { kind: FrameKind::Op(OpKind::PointToPoint), seq: 0, aux: 0, len: 1 << 62 };
    peer.write_all(&header.encode()).expect("write");
    match join(h) {
        Err(CommError::TooLarge { peer: 1, len, max }) => {
            assert_eq!((len, max), (1 << 62, 1 << 32));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_frame_above_a_configured_limit_is_refused_at_once() {
    let config = CommConfig { max_message: 1024, ..config(5000) };
    let (addr, h) = rank0_with(config, |mut c| {
        let start = Instant::now();
        c.recv(1).map(|_| start.elapsed())
    });
    let mut peer = fake_rank1(&addr);
    let start = Instant::now();
    let header = Header { kind: FrameKind::Op(OpKind::PointToPoint), seq: 0, aux: 0, len: 1025 };
    // The header alone, its payload never sent: the refusal cannot wait for it.
    peer.write_all(&header.encode()).expect("write");
    match join(h) {
        Err(CommError::TooLarge { peer: 1, len: 1025, max: 1024 }) => {}
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(1), "refused after {:?}", start.elapsed());
}

#[test]
fn a_peer_trickling_a_frame_times_out_within_the_timeout() {
    // A valid header, then one payload byte every 300 ms: the gaps are far below the 1 s
    // timeout, but the frame would take 6 s to arrive. The receive must fail at 1 s.
    let (addr, h) = rank0(1000, |mut c| c.recv(1));
    let mut peer = fake_rank1(&addr);
    let payload = [7u8; 20];
    let bytes = frame(OpKind::PointToPoint, 0, 0, &payload);
    let start = Instant::now();
    peer.write_all(&bytes[..32]).expect("write");
    let trickle = thread::spawn(move || {
        for b in &bytes[32..] {
            thread::sleep(Duration::from_millis(300));
            // Rank 0 closes the link when it gives up.
            if peer.write_all(std::slice::from_ref(b)).is_err() {
                return;
            }
        }
    });
    let result = join(h);
    let waited = start.elapsed();
    assert!(
        matches!(result, Err(CommError::Timeout { peer: 1, after }) if after == Duration::from_secs(1)),
        "{result:?}"
    );
    assert!(waited < Duration::from_millis(2500), "gave up only after {waited:?}");
    trickle.join().expect("trickle thread");
}

#[test]
fn a_step_waiting_on_several_peers_is_bounded_as_a_whole() {
    // Each peer's message comes just inside the timeout after the previous one: a timeout
    // per message would let the step take three timeouts.
    for transport in common::TRANSPORTS {
        let timeout = Duration::from_millis(600);
        let outcomes = common::run(transport, 4, &CommConfig::with_timeouts(timeout), |c| {
            if c.rank() == 0 {
                let start = Instant::now();
                let result = c.gather(0, b"x").map(drop);
                return Ok(Some((result, start.elapsed())));
            }
            thread::sleep(Duration::from_millis(400) * c.rank() as u32);
            let _ = c.gather(0, b"x");
            Ok(None)
        });
        let (result, waited) = common::all_ok(outcomes, "gather").swap_remove(0).expect("rank 0");
        assert!(matches!(result, Err(CommError::Timeout { .. })), "{transport:?}: {result:?}");
        assert!(waited < Duration::from_millis(1100), "{transport:?}: waited {waited:?}");
    }
}

#[test]
fn a_frame_with_the_wrong_sequence_number_is_out_of_sync() {
    let (addr, h) = rank0(2000, |mut c| c.recv(1));
    let mut peer = fake_rank1(&addr);
    peer.write_all(&frame(OpKind::PointToPoint, 5, 0, b"late")).expect("write");
    match join(h) {
        Err(CommError::OutOfSync { peer: 1, expected, got }) => {
            assert_eq!((expected.seq, got.seq), (0, 5));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_peer_dying_mid_frame_is_a_disconnection() {
    let (addr, h) = rank0(2000, |mut c| c.recv(1));
    let mut peer = fake_rank1(&addr);
    let bytes = frame(OpKind::PointToPoint, 0, 0, &[7; 1000]);
    peer.write_all(&bytes[..500]).expect("write");
    drop(peer);
    assert!(matches!(join(h), Err(CommError::Disconnected { peer: 1 })));
}

fn abort_frame(payload: &[u8], len: u64) -> Vec<u8> {
    let header = Header { kind: FrameKind::Abort, seq: 0, aux: 0, len };
    [&header.encode()[..], payload].concat()
}

#[test]
fn abort_sends_the_documented_frame_and_closes() {
    let reason = "input has NaN at element 2";
    let (addr, h) = rank0(5000, move |mut c| {
        c.abort(reason);
        Ok(c.barrier())
    });
    let mut peer = fake_rank1(&addr);
    let after = join(h).expect("set up");
    assert!(matches!(&after, Err(CommError::Failed { cause }) if cause.contains(reason)));
    let mut bytes = Vec::new();
    peer.read_to_end(&mut bytes).expect("read until rank 0 closes");
    let payload = abort_payload(0, reason);
    assert_eq!(bytes, abort_frame(&payload, payload.len() as u64));
}

#[test]
fn a_hand_made_abort_comes_after_the_frames_before_it_and_is_sanitised() {
    let (addr, h) = rank0(5000, |mut c| {
        let first = c.recv(1)?;
        Ok((first, c.recv(1)))
    });
    let mut peer = fake_rank1(&addr);
    peer.write_all(&frame(OpKind::PointToPoint, 0, 0, b"first")).expect("write");
    // A line break, a terminal escape, a NUL and a byte that is not UTF-8.
    let reason = b"bad\ninput \x1b[2Jcleared\x00\xff";
    let payload = [&1u64.to_le_bytes()[..], reason].concat();
    peer.write_all(&abort_frame(&payload, payload.len() as u64)).expect("write");
    let (first, second) = join(h).expect("the frame before the abort");
    assert_eq!(first, b"first");
    match second {
        Err(CommError::Aborted { origin: 1, via: 1, reason }) => {
            assert_eq!(reason, "bad input [2Jcleared\u{fffd}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_aborts_are_refused_naming_the_peer() {
    let naming_party_5 = [&5u64.to_le_bytes()[..], b"oops"].concat();
    let cases = [
        // A rank outside the two-party network.
        abort_frame(&naming_party_5, 12),
        // Too short for a rank.
        abort_frame(b"1234", 4),
        // Longer than a reason may be: refused on the header, the payload never sent.
        abort_frame(&[], 8 + MAX_ABORT_REASON as u64 + 1),
    ];
    for bytes in cases {
        let (addr, h) = rank0(2000, |mut c| c.recv(1));
        let mut peer = fake_rank1(&addr);
        peer.write_all(&bytes).expect("write");
        let result = join(h);
        assert!(matches!(result, Err(CommError::Malformed { peer: 1, .. })), "{result:?}");
    }
}

#[test]
fn a_peer_that_never_connects_is_reported_missing() {
    let (_, h) = rank0(200, |_| Ok(()));
    assert!(matches!(join(h), Err(CommError::NotConnected { missing, .. }) if missing == [1]));
}

#[test]
fn a_peer_that_never_listens_is_a_connect_error() {
    let port = free_local_port().expect("port");
    let parties = [format!("127.0.0.1:{port}"), "127.0.0.1:0".to_owned()];
    match TcpComm::connect(1, &parties, &config(200)) {
        Err(CommError::Connect { peer: 0, addr, .. }) => assert_eq!(addr, parties[0]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn master_rendezvous_builds_a_working_mesh() {
    for n in [2, 3, 4] {
        let port = free_local_port().expect("port");
        let master = format!("127.0.0.1:{port}");
        let comms: Vec<TcpComm> = thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|rank| {
                    let master = &master;
                    s.spawn(move || TcpComm::rendezvous(rank, n, master, &config(5000)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("no panic").expect("rendezvous")).collect()
        });
        let got = all_ok(
            run_parties(comms, |mut c| {
                let mut v = [c.rank() as u64 + 1];
                c.all_reduce_sum_u64(&mut v)?;
                Ok(v[0])
            }),
            "rendezvous",
        );
        assert_eq!(got, vec![(n * (n + 1) / 2) as u64; n]);
    }
}

#[test]
fn a_registration_with_the_wrong_world_size_is_rejected_by_rank_0() {
    let port = free_local_port().expect("port");
    let master = format!("127.0.0.1:{port}");
    let m = master.clone();
    let h = thread::spawn(move || TcpComm::rendezvous(0, 2, &m, &config(3000)).map(drop));
    // Rank 1 believes in a 3-party world; retries until rank 0 listens, and is refused with
    // rank 0's reason, while rank 0 goes on waiting for a rank 1 it can work with.
    let joined = TcpComm::rendezvous(1, 3, &master, &config(3000));
    match joined {
        Err(CommError::Refused { peer: 0, reason, .. }) => {
            assert!(reason.contains("world size 3"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(join(h), Err(CommError::NotConnected { missing, .. }) if missing == [1]));
}

/// Runs a 3-party master rendezvous in which `probe` gets a connection to the master port
/// (once rank 0 listens) before the other parties start, then checks the mesh works.
fn rendezvous_despite(probe: impl FnOnce(TcpStream, u16) -> Option<TcpStream>) {
    let n = 3;
    let port = free_local_port().expect("port");
    let master = format!("127.0.0.1:{port}");
    let comms: Vec<TcpComm> = thread::scope(|s| {
        let master = &master;
        let rank0 = s.spawn(move || TcpComm::rendezvous(0, n, master, &config(5000)));
        let start = Instant::now();
        let stream = loop {
            match TcpStream::connect(master) {
                Ok(stream) => break stream,
                Err(e) if start.elapsed() > Duration::from_secs(5) => panic!("rank 0: {e}"),
                Err(_) => thread::sleep(Duration::from_millis(2)),
            }
        };
        let held = probe(stream, port);
        let others: Vec<_> = (1..n)
            .map(|rank| s.spawn(move || TcpComm::rendezvous(rank, n, master, &config(5000))))
            .collect();
        let comms = [rank0]
            .into_iter()
            .chain(others)
            .map(|h| h.join().expect("no panic").expect("rendezvous"))
            .collect();
        drop(held);
        comms
    });
    let got = all_ok(
        run_parties(comms, |mut c| {
            let mut v = [c.rank() as u64 + 1];
            c.all_reduce_sum_u64(&mut v)?;
            Ok(v[0])
        }),
        "rendezvous",
    );
    assert_eq!(got, [6, 6, 6]);
}

#[test]
fn a_probe_that_connects_and_closes_does_not_abort_the_rendezvous() {
    rendezvous_despite(|stream, _| {
        drop(stream);
        None
    });
}

#[test]
fn a_silent_connection_does_not_block_the_rendezvous() {
    // Held open and silent until the mesh is built.
    rendezvous_despite(|stream, _| Some(stream));
}

#[cfg(target_os = "linux")]
#[test]
fn rank_0_listens_only_on_the_master_address() {
    // The master is 127.0.0.1; 127.0.0.2 is another local address (all of 127/8 is
    // loopback on Linux), on which rank 0 must not be listening.
    rendezvous_despite(|stream, port| {
        let other = TcpStream::connect(("127.0.0.2", port));
        assert!(other.is_err(), "rank 0 accepts connections on 127.0.0.2");
        Some(stream)
    });
}

#[test]
fn a_party_that_dies_during_the_rendezvous_is_reported_promptly_by_name() {
    // Rank 2 (hand-made) registers with rank 0, receives the table and dies before linking to
    // rank 1. Rank 0 finishes its setup, finds rank 2 gone and aborts, naming it; rank 1,
    // still waiting for rank 2, hears that through its link to rank 0 at once, long before
    // its connect timeout.
    let port = free_local_port().expect("port");
    let master = format!("127.0.0.1:{port}");
    let slow = config(20_000);
    let (m0, m1) = (master.clone(), master.clone());
    let (c0, c1) = (slow.clone(), slow.clone());
    let r0 = thread::spawn(move || {
        let mut c = TcpComm::rendezvous(0, 3, &m0, &c0)?;
        let mut v = [1u64];
        c.all_reduce_sum_u64(&mut v).map(|()| v[0])
    });
    let started = Instant::now();
    let r1 = thread::spawn(move || TcpComm::rendezvous(1, 3, &m1, &c1).map(drop));
    let mut fake = loop {
        match TcpStream::connect(&master) {
            Ok(s) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("rank 0 never listened: {e}"),
        }
    };
    let header = Header { kind: FrameKind::Register, seq: 0, aux: 2, len: 16 };
    fake.write_all(&header.encode()).expect("write");
    fake.write_all(&u64s_to_bytes(&[3, 9])).expect("write");
    let mut table = [0u8; 32];
    fake.read_exact(&mut table).expect("the table");
    drop(fake);
    let r1 = r1.join().expect("no panic");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(
        matches!(&r1, Err(CommError::Aborted { origin: 2, via: 0, .. })),
        "rank 1 must name rank 2: {r1:?}"
    );
    let r0 = r0.join().expect("no panic");
    assert!(matches!(r0, Err(CommError::Disconnected { peer: 2 })), "{r0:?}");
}

/// A hand-made party `rank` of a `world`-party mesh built from a list of addresses, linked
/// to rank 0 at `addr` (its hello welcomed).
fn fake_rank(addr: &str, rank: u64, world: u64) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    let header = Header { kind: FrameKind::Hello, seq: 0, aux: rank, len: 16 };
    s.write_all(&header.encode()).expect("write");
    s.write_all(&u64s_to_bytes(&[world, 0])).expect("write");
    let mut answer = [0u8; 32];
    s.read_exact(&mut answer).expect("answer");
    assert_eq!(Header::decode(&answer).expect("a frame").kind, FrameKind::Welcome);
    s
}

/// Rank 0 of a 4-party mesh of hand-made peers, waiting for a message from party 1 in a
/// thread; returns the fakes 1 to 3 and the thread.
fn rank0_of_four() -> (Vec<TcpStream>, thread::JoinHandle<Result<Vec<u8>, CommError>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let parties = [addr.clone(), "127.0.0.1:9".into(), "127.0.0.1:9".into(), "127.0.0.1:9".into()];
    let h = thread::spawn(move || {
        let mut c = TcpComm::with_listener(0, &listener, &parties, &config(5000))?;
        c.recv(1)
    });
    let fakes = (1..4).map(|rank| fake_rank(&addr, rank, 4)).collect();
    (fakes, h)
}

#[test]
fn a_link_cut_mid_frame_is_explained_by_an_abort_on_another_link() {
    // Party 1 fails because party 3 did, in the middle of a frame to rank 0: it can only
    // close that link. Party 2, told by party 3, passes the notice on a moment later. Rank
    // 0, waiting for party 1, must name party 3, not report party 1's disconnection.
    let (mut fakes, h) = rank0_of_four();
    let half = frame(OpKind::PointToPoint, 0, 0, &[7; 100]);
    fakes[0].write_all(&half[..80]).expect("write");
    thread::sleep(Duration::from_millis(20));
    drop(fakes.remove(0));
    thread::sleep(Duration::from_millis(20));
    fakes[0].write_all(&abort_frame(&abort_payload(3, "input has NaN"), 21)).expect("write");
    let started = Instant::now();
    match join(h) {
        Err(CommError::Aborted { origin: 3, via: 2, reason }) => {
            assert_eq!(reason, "input has NaN")
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[test]
fn a_link_cut_without_an_explanation_is_reported_promptly() {
    // The same cut, and nobody says why: party 1's disconnection, after a short wait.
    let (mut fakes, h) = rank0_of_four();
    let half = frame(OpKind::PointToPoint, 0, 0, &[7; 100]);
    fakes[0].write_all(&half[..80]).expect("write");
    thread::sleep(Duration::from_millis(20));
    let cut = Instant::now();
    drop(fakes.remove(0));
    assert!(matches!(join(h), Err(CommError::Disconnected { peer: 1 })));
    assert!(cut.elapsed() < Duration::from_secs(2), "took {:?}", cut.elapsed());
}
