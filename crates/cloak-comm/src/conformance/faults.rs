//! How calls fail: bad arguments are typed errors that leave the endpoint usable; a party
//! that runs another program, aborts or vanishes ends every other party's wait with a typed
//! error naming it, promptly or at worst at the timeout, never with a hang.

use std::time::{Duration, Instant};

use super::{Factory, TIMEOUT, all_ok, run};
use crate::runner::PartyFailure;
use crate::{CommError, OpKind};

/// The timeout of the checks where a party fails: short, since failing parties must not
/// need it (those that do still finish within it).
const FAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Slack over the timeout for thread scheduling on a loaded machine.
const SLACK: Duration = Duration::from_secs(2);

/// The error of a party that must have failed.
fn error_of<'a, R: std::fmt::Debug>(
    what: &str,
    world: usize,
    rank: usize,
    outcome: &'a Result<R, PartyFailure<CommError>>,
) -> &'a CommError {
    match outcome {
        Err(PartyFailure::Error(e)) => e,
        other => panic!("{what} ({world} parties): party {rank} should have failed, got {other:?}"),
    }
}

/// Whether `e` names `culprit` as the party that failed.
fn names(e: &CommError, culprit: usize) -> bool {
    match e {
        CommError::Disconnected { peer }
        | CommError::Timeout { peer, .. }
        | CommError::Io { peer, .. } => *peer == culprit,
        CommError::Aborted { origin, .. } => *origin == culprit,
        _ => false,
    }
}

/// Bad ranks, a message to oneself and a wrong number of messages are typed errors, and the
/// endpoint still works afterwards.
pub fn bad_arguments(make: &Factory, world: usize) {
    let outcomes = run(make, world, TIMEOUT, |c| {
        let (me, n) = (c.rank(), c.world_size());
        let errors = vec![
            c.send(me, b"x").map(drop),
            c.send(n, b"x").map(drop),
            c.recv(n + 7).map(drop),
            c.broadcast(n, b"x").map(drop),
            c.gather(n + 1, b"x").map(drop),
            c.exchange_all(&[&b"x"[..]]).map(drop),
        ];
        c.barrier()?;
        Ok(errors)
    });
    for (r, errors) in all_ok("bad_arguments", world, outcomes).into_iter().enumerate() {
        let kinds: Vec<&str> = errors
            .iter()
            .map(|e| match e {
                Err(CommError::InvalidArgument { .. }) => "invalid argument",
                Err(CommError::InvalidRank { .. }) => "invalid rank",
                Err(_) => "another error",
                Ok(()) => "accepted",
            })
            .collect();
        let want = [
            "invalid argument",
            "invalid rank",
            "invalid rank",
            "invalid rank",
            "invalid rank",
            "invalid argument",
        ];
        assert_eq!(
            kinds, want,
            "bad_arguments ({world} parties): party {r}: send to self, send/recv/broadcast/\
             gather out of range, exchange_all with 1 message"
        );
    }
}

/// A party that runs another collective than its peers is reported as out of sync (by the
/// peers that see its message), or as the culprit (by those told by them).
pub fn out_of_sync(make: &Factory, world: usize) {
    let outcomes = run(make, world, FAULT_TIMEOUT, |c| {
        if c.rank() == 0 {
            c.broadcast(0, b"diverged")?;
        } else {
            c.all_gather(b"share")?;
        }
        c.barrier()
    });
    let mut seen = false;
    for (rank, outcome) in outcomes.iter().enumerate().skip(1) {
        match error_of("out_of_sync", world, rank, outcome) {
            CommError::OutOfSync { peer: 0, expected, got } => {
                assert_eq!(
                    (expected.op.kind, got.op.kind),
                    (OpKind::AllGather, OpKind::Broadcast),
                    "out_of_sync ({world} parties): party {rank}: the operations named"
                );
                seen = true;
            }
            CommError::Aborted { origin: 0, .. } => {}
            e => panic!("out_of_sync ({world} parties): party {rank}: {e}"),
        }
    }
    assert!(seen, "out_of_sync ({world} parties): no party reported OutOfSync");
}

/// A party that calls `abort` after a first round: every other party fails at its next
/// round with `Aborted` naming it and carrying the reason, well before the timeout; the
/// aborter's own later calls fail with `Failed`.
pub fn aborting_peer(make: &Factory, world: usize) {
    const REASON: &str = "input has NaN at element 2";
    let aborter = world - 1;
    let start = Instant::now();
    let outcomes = run(make, world, FAULT_TIMEOUT, |c| {
        c.all_gather(b"round 1")?;
        if c.rank() == aborter {
            c.abort(REASON);
            return c.barrier();
        }
        c.all_gather(b"round 2").map(drop)
    });
    let elapsed = start.elapsed();
    for (rank, outcome) in outcomes.iter().enumerate() {
        let e = error_of("aborting_peer", world, rank, outcome);
        let ok = match e {
            CommError::Failed { cause } if rank == aborter => cause.contains(REASON),
            CommError::Aborted { origin, reason, .. } if rank != aborter => {
                *origin == aborter && reason == REASON
            }
            _ => false,
        };
        assert!(ok, "aborting_peer ({world} parties): party {rank} (aborter {aborter}): {e}");
    }
    assert!(
        elapsed < FAULT_TIMEOUT,
        "aborting_peer ({world} parties): took {elapsed:?}, as long as the timeout: the abort \
         was not delivered"
    );
}

/// A party that drops its endpoint between rounds: every other party's next round fails
/// with a typed error naming it (disconnected, aborted by it, or timed out waiting for it)
/// within the timeout, instead of hanging.
pub fn dropped_peer(make: &Factory, world: usize) {
    let dropped = world - 1;
    let start = Instant::now();
    let outcomes = run(make, world, FAULT_TIMEOUT, |c| {
        c.barrier()?;
        if c.rank() == dropped {
            return Ok(()); // returning drops the endpoint
        }
        c.all_gather(b"share").map(drop)
    });
    assert!(
        outcomes[dropped].is_ok(),
        "dropped_peer ({world} parties): the dropping party failed: {:?}",
        outcomes[dropped]
    );
    for (rank, outcome) in outcomes.iter().enumerate().take(dropped) {
        let e = error_of("dropped_peer", world, rank, outcome);
        assert!(
            names(e, dropped),
            "dropped_peer ({world} parties): party {rank} must fail naming party {dropped}: {e}"
        );
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed < FAULT_TIMEOUT + SLACK,
        "dropped_peer ({world} parties): parties hung for {elapsed:?} (timeout {FAULT_TIMEOUT:?})"
    );
}
