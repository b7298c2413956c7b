//! Peers that die, stall, diverge or misuse the API: every party must end with a typed
//! error naming the peer, within the timeout, on both transports.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use cloak_comm::runner::{PartyFailure, run_parties, run_threads};
use cloak_comm::{CommConfig, CommError, Communicator, OpKind, TcpComm};
use common::{TRANSPORTS, config, error_of, run};

#[test]
fn a_peer_that_exits_mid_protocol_fails_every_other_party() {
    for transport in TRANSPORTS {
        let start = Instant::now();
        let outcomes = run(transport, 3, &config(5000), |c| {
            c.barrier()?;
            if c.rank() == 2 {
                return Ok(()); // exits, dropping its endpoint, before the next round
            }
            c.all_gather(b"share").map(drop)
        });
        assert!(outcomes[2].is_ok());
        for (rank, outcome) in outcomes.iter().enumerate().take(2) {
            let e = error_of(outcome);
            // The peer that left, seen leaving or named by the other survivor.
            assert!(
                matches!(
                    e,
                    CommError::Disconnected { peer: 2 } | CommError::Aborted { origin: 2, .. }
                ),
                "{transport:?} {rank}: {e}"
            );
        }
        assert!(start.elapsed() < Duration::from_secs(4), "{transport:?}: not prompt");
    }
}

#[test]
fn failure_propagates_along_a_chain_of_waiting_parties() {
    // Party 2 dies; party 1 waits on party 2; party 0 waits on party 1 (alive, but stuck).
    // Party 0 must learn of the failure from party 1 promptly, not after its own timeout,
    // and learn that party 2 is the one that failed.
    for transport in TRANSPORTS {
        let start = Instant::now();
        let outcomes = run(transport, 3, &config(3000), |c| match c.rank() {
            0 => c.recv(1).map(drop),
            1 => c.recv(2).and_then(|m| c.send(0, &m)),
            _ => Ok(()),
        });
        assert!(matches!(error_of(&outcomes[1]), CommError::Disconnected { peer: 2 }));
        let e = error_of(&outcomes[0]);
        assert!(
            matches!(e, CommError::Aborted { origin: 2, via: 1, reason } if reason == "disconnected"),
            "{transport:?}: {e}"
        );
        assert_eq!(e.to_string(), "party 2 failed: disconnected (reported by party 1)");
        assert!(start.elapsed() < Duration::from_secs(2), "{transport:?}: waited for a timeout");
    }
}

#[test]
fn a_stalled_peer_times_out_naming_it() {
    for transport in TRANSPORTS {
        let timeout = Duration::from_millis(300);
        let outcomes = run(transport, 3, &CommConfig::with_timeouts(timeout), |c| {
            if c.rank() == 1 {
                thread::sleep(timeout * 2);
            }
            let start = Instant::now();
            // Two rounds: the stalled party may still complete the first with the messages
            // its peers sent before giving up, but no later one.
            let result = c.all_gather(b"x").and_then(|_| c.barrier());
            Ok((result, start.elapsed()))
        });
        let outcomes = common::all_ok(outcomes, "stall");
        for rank in [0, 2] {
            let (result, waited) = &outcomes[rank];
            // Each times out itself, or hears first from the other that party 1 stalled.
            let named = match result {
                Err(CommError::Timeout { peer: 1, after }) => *after == timeout,
                Err(CommError::Aborted { origin: 1, via, reason }) => {
                    *via == 2 - rank && reason.starts_with("stalled")
                }
                _ => false,
            };
            assert!(named, "{transport:?} party {rank}: {result:?}");
            assert!(*waited < timeout * 3, "{transport:?}: waited {waited:?}");
        }
        // The stalled party wakes up to find its peers gone, having named it.
        match &outcomes[1].0 {
            Err(CommError::Aborted { origin: 1, reason, .. }) => {
                assert!(reason.starts_with("stalled: kept party"), "{transport:?}: {reason}");
            }
            other => panic!("{transport:?}: the stalled party got {other:?}"),
        }
    }
}

#[test]
fn a_party_running_another_collective_is_out_of_sync() {
    for transport in TRANSPORTS {
        let outcomes = run(transport, 3, &config(2000), |c| {
            if c.rank() == 0 {
                c.broadcast(0, b"diverged")?;
            } else {
                c.all_gather(b"share")?;
            }
            c.barrier()
        });
        // Each of the parties that kept in step finds party 0 out of sync, unless the other
        // one's failure notice (naming that finding) reaches it first; one of them finds
        // it directly.
        let mut direct = 0;
        for rank in [1, 2] {
            match error_of(&outcomes[rank]) {
                CommError::OutOfSync { peer: 0, expected, got } => {
                    assert_eq!(expected.op.kind, OpKind::AllGather);
                    assert_eq!((got.op.kind, got.op.aux, got.seq), (OpKind::Broadcast, 0, 0));
                    direct += 1;
                }
                CommError::Aborted { origin, reason, .. }
                    if *origin == 3 - rank && reason.contains("out of sync with peer 0") => {}
                e => panic!("{transport:?} party {rank}: {e}"),
            }
        }
        assert!(direct >= 1, "{transport:?}: no party found party 0 out of sync itself");
        assert!(outcomes[0].is_err(), "{transport:?}: the diverged party must fail too");
    }
}

#[test]
fn a_skipped_send_is_out_of_sync_naming_the_peer() {
    for transport in TRANSPORTS {
        let outcomes = run(transport, 2, &config(2000), |c| {
            if c.rank() == 0 {
                c.barrier() // forgot `c.send(1, ..)` first
            } else {
                c.recv(0)?;
                c.barrier()
            }
        });
        let e = error_of(&outcomes[1]);
        assert!(
            matches!(e, CommError::OutOfSync { peer: 0, expected, got }
                if expected.op.kind == OpKind::PointToPoint && got.op.kind == OpKind::Barrier),
            "{transport:?}: {e}"
        );
        assert!(e.to_string().contains("peer 0"), "{e}");
        assert!(outcomes[0].is_err());
    }
}

#[test]
fn mismatched_roots_and_lengths_are_out_of_sync() {
    for transport in TRANSPORTS {
        let outcomes = run(transport, 2, &config(2000), |c| {
            let mut v = vec![1u64; 3 + c.rank()];
            c.all_reduce_sum_u64(&mut v)
        });
        for (rank, peer) in [(0, 1), (1, 0)] {
            let e = error_of(&outcomes[rank]);
            assert!(
                matches!(e, CommError::OutOfSync { peer: p, .. } if *p == peer),
                "{transport:?} {rank}: {e}"
            );
        }
        let outcomes = run(transport, 2, &config(300), |c| {
            // Each party thinks the other is the root: both wait to receive.
            c.broadcast(1 - c.rank(), b"").map(drop)
        });
        // Neither sends, so one times out naming the other; the other times out too, or
        // hears first from the one that gave up that it is the one that stalled.
        let errors = [error_of(&outcomes[0]), error_of(&outcomes[1])];
        for (rank, (e, peer)) in errors.iter().zip([1, 0]).enumerate() {
            let named = match e {
                CommError::Timeout { peer: p, .. } => *p == peer,
                CommError::Aborted { origin, via, .. } => *origin == rank && *via == peer,
                _ => false,
            };
            assert!(named, "{transport:?}: {e}");
        }
        assert!(errors.iter().any(|e| matches!(e, CommError::Timeout { .. })), "{errors:?}");
    }
}

#[test]
fn a_panicking_party_is_reported_and_its_peers_fail() {
    let outcomes = run_threads(3, &config(5000), |mut c| {
        if c.rank() == 1 {
            panic!("party 1 blew up");
        }
        c.all_gather(b"x").map(drop)
    });
    assert!(matches!(&outcomes[1], Err(PartyFailure::Panicked(m)) if m.contains("blew up")));
    for rank in [0, 2] {
        let e = error_of(&outcomes[rank]);
        assert!(
            matches!(e, CommError::Disconnected { peer: 1 } | CommError::Aborted { origin: 1, .. }),
            "party {rank}: {e}"
        );
    }
}

#[test]
fn a_party_panicking_with_queued_sends_fails_its_peers_at_once() {
    // Party 0's 64 MiB to party 1 (which waits on party 2) is mostly queued when party 0
    // panics: its communicator must not try to deliver it, but close at once.
    let start = Instant::now();
    let comms = TcpComm::create_local(3, &config(5000)).expect("loopback mesh");
    let outcomes = run_parties(comms, |mut c| match c.rank() {
        0 => {
            c.send(1, &vec![7; 64 << 20])?;
            panic!("party 0 blew up");
        }
        1 => c.recv(2).map(drop),
        _ => c.recv(0).map(drop),
    });
    assert!(matches!(&outcomes[0], Err(PartyFailure::Panicked(m)) if m.contains("blew up")));
    assert!(matches!(error_of(&outcomes[2]), CommError::Disconnected { peer: 0 }));
    // Party 1 hears it from party 2, which names party 0.
    let e = error_of(&outcomes[1]);
    assert!(matches!(e, CommError::Aborted { origin: 0, via: 2, .. }), "{e}");
    assert!(start.elapsed() < Duration::from_secs(3), "waited for a timeout");
}

#[test]
fn bad_arguments_are_typed_errors_and_do_not_poison() {
    for transport in TRANSPORTS {
        let outcomes = run(transport, 2, &config(2000), |c| {
            let me = c.rank();
            let errors = vec![
                c.send(me, b"x").map(drop),
                c.send(2, b"x").map(drop),
                c.recv(9).map(drop),
                c.broadcast(5, b"x").map(drop),
                c.gather(2, b"x").map(drop),
                c.exchange_all(&[b"x"]).map(drop),
            ];
            c.barrier()?; // still usable
            Ok(errors)
        });
        for errors in common::all_ok(outcomes, "bad arguments") {
            let kinds: Vec<&str> = errors
                .iter()
                .map(|e| match e {
                    Err(CommError::InvalidArgument { .. }) => "arg",
                    Err(CommError::InvalidRank { .. }) => "rank",
                    _ => "other",
                })
                .collect();
            assert_eq!(kinds, ["arg", "rank", "rank", "rank", "rank", "arg"], "{transport:?}");
        }
    }
}

#[test]
fn oversized_sends_are_refused_and_a_failed_communicator_stays_failed() {
    for transport in TRANSPORTS {
        let config = CommConfig { max_message: 16, ..config(2000) };
        let outcomes = run(transport, 2, &config, |c| {
            if c.rank() == 1 {
                return c.recv(0).map(|_| Vec::new());
            }
            let first = c.send(1, &[0; 17]);
            let second = c.send(1, &[0; 1]);
            Ok(vec![first, second])
        });
        let results = match &outcomes[0] {
            Ok(r) => r,
            Err(e) => panic!("{transport:?}: {e:?}"),
        };
        assert!(
            matches!(results[0], Err(CommError::TooLarge { peer: 1, len: 17, max: 16 })),
            "{transport:?}: {:?}",
            results[0]
        );
        assert!(matches!(results[1], Err(CommError::Failed { .. })), "{:?}", results[1]);
        // Party 1 learns why party 0 gave up.
        let e = error_of(&outcomes[1]);
        assert!(
            matches!(e, CommError::Aborted { origin: 0, via: 0, reason }
                if reason.contains("message of 17 bytes")),
            "{transport:?}: {e}"
        );
    }
}
