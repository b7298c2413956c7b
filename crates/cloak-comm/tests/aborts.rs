//! A party that fails tells the others who failed first and why: an application's own
//! `abort`, a stall and a vanished party are named at every party, on both transports,
//! among 3 and 5 parties, however the failure reaches each one.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use cloak_comm::{CommConfig, CommError};
use common::{TRANSPORTS, Transport, config, error_of, run};

const REASON: &str = "input has NaN at element 2";

/// The next party after `rank`, in a ring that skips `skip`.
fn next_skipping(rank: usize, skip: usize, n: usize) -> usize {
    let next = (rank + 1) % n;
    if next == skip { (next + 1) % n } else { next }
}

/// Party `aborter` calls `abort` after a first round; the others then either run a round
/// that involves it, or wait on each other in a ring without it (nobody sends, so only the
/// abort can end their wait before the timeout).
fn application_abort(transport: Transport, n: usize, aborter: usize, involved: bool) {
    let start = Instant::now();
    let outcomes = run(transport, n, &config(5000), |c| {
        let rank = c.rank();
        c.all_gather(b"round 1")?;
        if rank == aborter {
            c.abort(REASON);
            return c.barrier();
        }
        if involved {
            c.all_gather(b"round 2").map(drop)
        } else {
            c.recv(next_skipping(rank, aborter, n)).map(drop)
        }
    });
    let what = format!("{transport:?}, {n} parties, involved: {involved}");
    for (rank, outcome) in outcomes.iter().enumerate() {
        match error_of(outcome) {
            CommError::Failed { cause } if rank == aborter => {
                assert_eq!(cause, &format!("party {aborter} failed: {REASON}"), "{what}");
            }
            // From the aborter, or from a party that heard it first and passed it on.
            CommError::Aborted { origin, via, reason } if rank != aborter && *via != rank => {
                assert_eq!((*origin, reason.as_str()), (aborter, REASON), "{what}: party {rank}");
            }
            e => panic!("{what}: party {rank}: {e}"),
        }
    }
    assert!(start.elapsed() < Duration::from_millis(2500), "{what}: waited for a timeout");
}

#[test]
fn an_application_abort_names_the_aborting_party_everywhere() {
    for transport in TRANSPORTS {
        for (n, aborter) in [(3, 1), (5, 3)] {
            application_abort(transport, n, aborter, true);
        }
    }
}

#[test]
fn an_abort_ends_waits_on_other_parties() {
    for transport in TRANSPORTS {
        for (n, aborter) in [(3, 0), (5, 2)] {
            application_abort(transport, n, aborter, false);
        }
    }
}

#[test]
fn messages_sent_before_an_abort_are_still_received() {
    for transport in TRANSPORTS {
        let outcomes = run(transport, 3, &config(5000), |c| match c.rank() {
            0 => {
                c.send(1, b"before")?;
                c.abort(REASON);
                Ok(Vec::new())
            }
            1 => {
                // Let the abort arrive behind the message.
                thread::sleep(Duration::from_millis(100));
                let first = c.recv(0)?;
                match c.recv(0) {
                    Err(CommError::Aborted { origin: 0, via: 0, reason }) if reason == REASON => {
                        Ok(first)
                    }
                    other => panic!("{transport:?}: second receive: {other:?}"),
                }
            }
            _ => c.recv(0),
        });
        assert_eq!(outcomes[0].as_ref().ok(), Some(&Vec::new()), "{transport:?}");
        assert_eq!(outcomes[1].as_ref().ok(), Some(&b"before".to_vec()), "{transport:?}");
        let e = error_of(&outcomes[2]);
        assert!(matches!(e, CommError::Aborted { origin: 0, via: 0, .. }), "{transport:?}: {e}");
    }
}

/// The last party stalls past the timeout while the others wait on it along a chain: party
/// `n - 2` on it, each other party `k` on party `k + 1`, starting half a timeout after the
/// party it waits on (a compute skew), so that the stall is noticed next to the staller
/// first. Every party must name the staller.
fn stall_along_a_chain(transport: Transport) {
    let timeout = Duration::from_millis(1000);
    for n in [3, 5] {
        let staller = n - 1;
        let start = Instant::now();
        let outcomes = run(transport, n, &CommConfig::with_timeouts(timeout), |c| {
            let rank = c.rank();
            if rank == staller {
                thread::sleep(timeout * 2);
                return c.send(rank - 1, b"late").and_then(|()| c.barrier());
            }
            thread::sleep(timeout / 2 * (staller - 1 - rank) as u32);
            let got = c.recv(rank + 1)?;
            if rank > 0 {
                c.send(rank - 1, &got)?;
            }
            Ok(())
        });
        let what = format!("{transport:?}, {n} parties");
        for (rank, outcome) in outcomes.iter().enumerate() {
            let e = error_of(outcome);
            let named = match e {
                CommError::Timeout { peer, after } => {
                    rank == staller - 1 && *peer == staller && *after == timeout
                }
                CommError::Aborted { origin, reason, .. } => {
                    *origin == staller
                        && reason
                            .starts_with(&format!("stalled: kept party {} waiting", staller - 1))
                }
                _ => false,
            };
            assert!(named, "{what}: party {rank}: {e}");
        }
        // The staller's sleep, and a margin.
        assert!(start.elapsed() < timeout * 4, "{what}: took {:?}", start.elapsed());
    }
}

#[test]
fn a_stall_is_named_at_every_party_over_channels() {
    stall_along_a_chain(Transport::Channels);
}

#[test]
fn a_stall_is_named_at_every_party_over_tcp() {
    stall_along_a_chain(Transport::Tcp);
}

#[test]
fn a_party_that_drops_its_communicator_is_named_everywhere() {
    // After a first round, party 1 returns (dropping its endpoint); party 2 waits on it,
    // every other party waits on party 2. Those learn from party 2 (or from another party
    // that heard it first) that party 1 is gone.
    let (dropper, witness) = (1, 2);
    for transport in TRANSPORTS {
        for n in [3, 5] {
            let start = Instant::now();
            let outcomes = run(transport, n, &config(5000), |c| {
                c.all_gather(b"round 1")?;
                match c.rank() {
                    r if r == dropper => Ok(()),
                    r if r == witness => c.recv(dropper).map(drop),
                    _ => c.recv(witness).map(drop),
                }
            });
            let what = format!("{transport:?}, {n} parties");
            assert!(outcomes[dropper].is_ok(), "{what}");
            for (rank, outcome) in outcomes.iter().enumerate().filter(|(r, _)| *r != dropper) {
                let e = error_of(outcome);
                if rank == witness {
                    assert!(matches!(e, CommError::Disconnected { peer: 1 }), "{what}: {e}");
                } else {
                    assert!(
                        matches!(e, CommError::Aborted { origin: 1, via, reason }
                            if reason == "disconnected" && *via != 1 && *via != rank),
                        "{what}: party {rank}: {e}"
                    );
                }
            }
            assert!(start.elapsed() < Duration::from_millis(2500), "{what}: waited for a timeout");
        }
    }
}

#[test]
fn abort_after_a_failure_changes_nothing() {
    for transport in TRANSPORTS {
        let outcomes = run(transport, 2, &config(5000), |c| {
            if c.rank() == 0 {
                c.abort("first");
                c.abort("second");
                return c.barrier();
            }
            c.recv(0).map(drop)
        });
        match error_of(&outcomes[0]) {
            CommError::Failed { cause } => assert_eq!(cause, "party 0 failed: first"),
            e => panic!("{transport:?}: {e}"),
        }
        let e = error_of(&outcomes[1]);
        assert!(
            matches!(e, CommError::Aborted { origin: 0, reason, .. } if reason == "first"),
            "{transport:?}: {e}"
        );
    }
}

#[test]
fn a_stall_behind_a_blocked_party_is_named_at_every_party() {
    // As with a stalled dealer: party 2 stalls; party 0 works a little and then waits on
    // it; party 1 waits on party 0 from the start, so its timeout runs out first. Party 1
    // must not name party 0, which is blocked, not stalled: accused, party 0 names party 2,
    // and every party names party 2.
    let timeout = Duration::from_millis(1000);
    let start = Instant::now();
    let outcomes = run(Transport::Tcp, 3, &CommConfig::with_timeouts(timeout), |c| {
        c.barrier()?;
        match c.rank() {
            0 => {
                thread::sleep(timeout / 4);
                let got = c.recv(2)?;
                c.send(1, &got)
            }
            1 => c.recv(0).map(drop),
            _ => {
                thread::sleep(timeout * 2);
                // Sends are buffered: the barrier is where the news waits for it.
                c.send(0, b"late").and_then(|()| c.barrier())
            }
        }
    });
    match error_of(&outcomes[0]) {
        CommError::Timeout { peer: 2, after } => assert!(*after <= timeout, "{after:?}"),
        e => panic!("party 0: {e}"),
    }
    let e = error_of(&outcomes[1]);
    assert!(
        matches!(e, CommError::Aborted { origin: 2, via: 0, reason }
            if reason.starts_with("stalled: kept party 0 waiting")),
        "party 1: {e}"
    );
    let e = error_of(&outcomes[2]);
    assert!(matches!(e, CommError::Aborted { origin: 2, .. }), "party 2: {e}");
    assert!(start.elapsed() < timeout * 4, "took {:?}", start.elapsed());
}
