//! Launch mistakes that the master rendezvous must report at once and by name, not after the
//! connect timeout: an unresolvable `MASTER_ADDR`, and two processes with the same `RANK`.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use cloak_comm::runner::free_local_port;
use cloak_comm::{CommError, Communicator, Launch, TcpComm};
use common::config;

/// Long enough that an error arriving within [`PROMPT`] cannot be a timeout.
const TIMEOUT_MS: u64 = 30_000;
const PROMPT: Duration = Duration::from_secs(3);

/// The launch that torchrun's variables describe.
fn launch(rank: usize, world: usize, addr: &str, port: u16) -> Launch {
    let port = port.to_string();
    let vars = [
        ("RANK", rank.to_string()),
        ("WORLD_SIZE", world.to_string()),
        ("MASTER_ADDR", addr.to_owned()),
        ("MASTER_PORT", port),
    ];
    Launch::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .expect("valid launch variables")
}

#[test]
fn an_unresolvable_master_addr_fails_at_once_naming_it_at_every_rank() {
    for rank in [0, 1] {
        let start = Instant::now();
        let result = TcpComm::from_launch(
            &launch(rank, 2, "no-such-host.invalid", 29_500),
            &config(TIMEOUT_MS),
        );
        let e = result.expect_err("the name cannot resolve");
        assert!(matches!(e, CommError::Unresolvable { .. }), "rank {rank}: {e:?}");
        let text = e.to_string();
        assert!(text.contains("no-such-host.invalid") && text.contains("MASTER_ADDR"), "{text}");
        assert!(start.elapsed() < PROMPT, "rank {rank} took {:?}", start.elapsed());
    }
}

/// The refused party's error, checked to name rank 1 and two addresses.
fn assert_refused_rank_1<T: std::fmt::Debug>(result: &Result<T, CommError>) {
    match result {
        Err(e @ CommError::DuplicateRank { rank: 1, first, second }) => {
            assert!(first.starts_with("127.0.0.1:") && second.starts_with("127.0.0.1:"), "{e}");
            assert!(e.to_string().contains("rank 1"), "{e}");
        }
        other => panic!("expected a duplicate rank 1, got {other:?}"),
    }
}

#[test]
fn a_rank_claimed_twice_at_once_is_refused_and_the_first_claim_wins() {
    let port = free_local_port().expect("port");
    let start = Instant::now();
    thread::scope(|s| {
        // Each endpoint returns its communicator, so that rank 0 (and its port) lives until
        // every thread is done, as a real rank 0 would during the job.
        let handles: Vec<_> = [0, 1, 1]
            .into_iter()
            .map(|rank| {
                s.spawn(move || {
                    let mut comm = TcpComm::from_launch(
                        &launch(rank, 2, "127.0.0.1", port),
                        &config(TIMEOUT_MS),
                    )?;
                    comm.barrier()?;
                    Ok::<_, CommError>((comm, start.elapsed()))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("no panic")).collect();
        let elapsed: Vec<Duration> = results
            .iter()
            .map(|r| r.as_ref().map_or_else(|_| start.elapsed(), |(_, t)| *t))
            .collect();
        assert!(results[0].is_ok(), "rank 0: {:?}", results[0].as_ref().err());
        let (won, refused): (Vec<_>, Vec<_>) =
            results[1..].iter().map(|r| r.as_ref().map(drop)).partition(Result::is_ok);
        assert_eq!((won.len(), refused.len()), (1, 1), "exactly one rank 1 wins");
        for r in results[1..].iter().filter(|r| r.is_err()) {
            assert_refused_rank_1(r);
        }
        assert!(elapsed.iter().all(|t| *t < PROMPT), "took {elapsed:?}");
    });
}

#[test]
fn a_rank_claimed_after_the_rendezvous_is_refused_promptly() {
    let port = free_local_port().expect("port");
    let comms: Vec<TcpComm> = thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|rank| {
                s.spawn(move || {
                    TcpComm::from_launch(&launch(rank, 2, "127.0.0.1", port), &config(TIMEOUT_MS))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic").expect("rendezvous")).collect()
    });
    let start = Instant::now();
    let late = TcpComm::from_launch(&launch(1, 2, "127.0.0.1", port), &config(TIMEOUT_MS));
    assert_refused_rank_1(&late);
    assert!(start.elapsed() < PROMPT, "took {:?}", start.elapsed());
    // The mesh of the first claim is untouched.
    let outcomes = cloak_comm::runner::run_parties(comms, |mut c| c.barrier());
    assert!(outcomes.iter().all(Result::is_ok));
}

#[test]
fn a_rank_that_never_comes_is_named_at_the_parties_that_registered() {
    // Rank 2 never starts. Rank 0 gives up at its connect timeout; rank 1, registered and
    // waiting for the table, must learn from rank 0 that rank 2 is the one missing, not
    // report rank 0's disconnection.
    let port = free_local_port().expect("port");
    let timeout = Duration::from_millis(1000);
    let start = Instant::now();
    let results: Vec<Result<TcpComm, CommError>> = thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|rank| {
                s.spawn(move || {
                    let config = cloak_comm::CommConfig::with_timeouts(timeout);
                    TcpComm::from_launch(&launch(rank, 3, "127.0.0.1", port), &config)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic")).collect()
    });
    assert!(
        matches!(&results[0], Err(CommError::NotConnected { missing, .. }) if missing == &[2]),
        "rank 0: {:?}",
        results[0].as_ref().err()
    );
    match &results[1] {
        Err(CommError::Aborted { origin: 2, via: 0, reason }) => {
            assert_eq!(reason, "did not connect to party 0 within 1s");
        }
        other => panic!("rank 1: {:?}", other.as_ref().err()),
    }
    assert!(start.elapsed() < timeout + PROMPT, "took {:?}", start.elapsed());
}

#[test]
fn a_registered_party_that_dies_is_named_at_once() {
    // Rank 2 (hand-made) registers and dies while rank 0 still waits for rank 3: its rank
    // can never be registered again, so rank 0 gives up at once, and rank 1, waiting for
    // the table, learns that rank 2 went away.
    use std::io::Write;
    use std::net::TcpStream;

    use cloak_comm::u64s_to_bytes;
    use cloak_comm::wire::{FrameKind, Header};

    let port = free_local_port().expect("port");
    let start = Instant::now();
    let (r0, r1) = thread::scope(|s| {
        let r0 = s.spawn(move || {
            TcpComm::from_launch(&launch(0, 4, "127.0.0.1", port), &config(TIMEOUT_MS)).map(drop)
        });
        let r1 = s.spawn(move || {
            TcpComm::from_launch(&launch(1, 4, "127.0.0.1", port), &config(TIMEOUT_MS)).map(drop)
        });
        let mut fake = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(_) if start.elapsed() < PROMPT => thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("rank 0 never listened: {e}"),
            }
        };
        let header = Header { kind: FrameKind::Register, seq: 0, aux: 2, len: 16 };
        fake.write_all(&header.encode()).expect("write");
        fake.write_all(&u64s_to_bytes(&[4, 9])).expect("write");
        // Let rank 0 take the registration (and rank 1 register), then die.
        thread::sleep(Duration::from_millis(200));
        drop(fake);
        (r0.join().expect("no panic"), r1.join().expect("no panic"))
    });
    assert!(matches!(r0, Err(CommError::Disconnected { peer: 2 })), "rank 0: {r0:?}");
    assert!(
        matches!(&r1, Err(CommError::Aborted { origin: 2, via: 0, reason }) if reason == "disconnected"),
        "rank 1: {r1:?}"
    );
    assert!(start.elapsed() < PROMPT, "took {:?}", start.elapsed());
}
