//! Persistent masks and triples with a fixed right operand (`Request::TripleFixedRhs`), from
//! the trusted first party and the third-party dealer, for 2 and 3 parties and matmul and
//! conv2d: every party's `persistent_share` adds up to a mask `B`, the triple's shares add
//! up to `(a, c = op(a, B))`, the same mask gives the same `B` across requests and calls
//! while `a` is fresh, and different masks differ. Also: no communication for a share;
//! a mask never taken, a mask reused at another shape or an oversized mask is a typed
//! error at the parties, and at the third-party dealer when a hostile party 0 sends it; a
//! provider without persistent masks says so.

mod common;

use std::time::Duration;

use cloak_comm::runner::run_threads;
use cloak_comm::{CommConfig, Communicator, OpStats};
use cloak_dealer::{
    BilinearOp, DEALER_LABEL, Dealer, DealerError, DealerStats, Pending, Request, Shares,
    TrustedFirstParty, TtpClient, encode_request, run_dealer,
};
use cloak_prg::Seed;
use cloak_ring::RingTensor;
use common::{spec, sum, unwrap_all};

fn quick() -> CommConfig {
    CommConfig::with_timeouts(Duration::from_secs(10))
}

/// The products tested: a matmul with a batched left operand and a grouped, strided conv.
fn ops() -> Vec<BilinearOp> {
    vec![
        BilinearOp::Matmul { lhs: vec![2, 4, 5], rhs: vec![5, 3] },
        BilinearOp::Conv2d {
            input: vec![2, 4, 6, 6],
            weight: vec![6, 2, 3, 3],
            spec: spec(2, 1, 1, 2),
        },
    ]
}

/// What one party got: for each op, its persistent shares of mask `2k` (twice) and of mask
/// `2k + 1`, and its shares of two triples on mask `2k`.
struct Got {
    masks: Vec<[RingTensor<u64>; 3]>,
    triples: Vec<[Shares; 2]>,
}

/// The program every party runs against its dealer.
fn program(dealer: &mut dyn Dealer, comm: &mut dyn Communicator) -> Result<Got, DealerError> {
    let (mut masks, mut triples) = (Vec::new(), Vec::new());
    for (k, op) in ops().into_iter().enumerate() {
        let m = 2 * k as u64;
        let before = comm.stats().total();
        let b = dealer.persistent_share(m, op.rhs_shape())?;
        let other = dealer.persistent_share(m + 1, op.rhs_shape())?;
        assert_eq!(comm.stats().total(), before, "a persistent share is drawn locally");
        let request = Request::TripleFixedRhs { op: op.clone(), mask: m };
        let first = dealer.fetch(&request, comm)?;
        let again = dealer.persistent_share(m, op.rhs_shape())?;
        let second = dealer.triple_fixed_rhs(&op, m, comm)?;
        let second = Shares::new(vec![second.a], vec![second.c]);
        masks.push([b, again, other]);
        triples.push([first, second]);
    }
    Ok(Got { masks, triples })
}

/// Reconstructs and checks every party's outcome.
fn check(got: &[Got]) {
    for (k, op) in ops().iter().enumerate() {
        let share = |i: usize| sum(&got.iter().map(|g| &g.masks[k][i]).collect::<Vec<_>>());
        let (b, again, other) = (share(0), share(1), share(2));
        assert_eq!(b.shape(), op.rhs_shape());
        assert_eq!(b, again, "{op:?}: the same mask twice");
        assert_ne!(b, other, "{op:?}: two masks");
        for g in got {
            assert_eq!(g.masks[k][0], g.masks[k][1], "a party's share of one mask is fixed");
        }
        let mut lefts = Vec::new();
        for t in 0..2 {
            let a = sum(&got.iter().map(|g| &g.triples[k][t].free[0]).collect::<Vec<_>>());
            let c = sum(&got.iter().map(|g| &g.triples[k][t].dependent[0]).collect::<Vec<_>>());
            assert_eq!(a.shape(), op.lhs_shape());
            assert_eq!(c, op.apply(&a, &b).expect("valid op"), "{op:?} #{t}: c != op(a, B)");
            assert!(a.to_vec().iter().any(|&v| v != 0));
            lefts.push(a);
        }
        assert_ne!(lefts[0], lefts[1], "{op:?}: a is fresh per request");
        assert_ne!(got[0].masks[k][0], got[1].masks[k][0], "parties' shares differ");
    }
}

#[test]
fn trusted_first_party() {
    for parties in [2, 3] {
        let outcomes = run_threads(parties, &quick(), |mut comm| {
            let master = Seed::from_bytes([41; 16]);
            let mut dealer = TrustedFirstParty::from_master(&master, comm.rank(), parties)?;
            let got = program(&mut dealer, &mut comm)?;
            assert_eq!(comm.stats().total(), OpStats::default(), "no communication");
            Ok::<_, DealerError>(got)
        });
        check(&unwrap_all(outcomes));
    }
}

/// Runs `party` at ranks `0..parties` against a third-party dealer at rank `parties`;
/// returns the parties' results and the dealer's.
fn with_ttp<R: Send>(
    parties: usize,
    close: bool,
    party: impl Fn(&mut TtpClient, &mut dyn Communicator) -> Result<R, DealerError> + Sync,
) -> (Vec<R>, Result<DealerStats, DealerError>) {
    let outcomes = run_threads(parties + 1, &quick(), |mut comm| {
        if comm.rank() == parties {
            return Ok(Err(run_dealer(&mut comm, parties)));
        }
        let mut client = TtpClient::connect(&mut comm, parties)?;
        let out = party(&mut client, &mut comm)?;
        if close {
            client.close(&mut comm)?;
        }
        Ok::<_, DealerError>(Ok(out))
    });
    let mut results = Vec::new();
    let mut dealer = None;
    for o in unwrap_all(outcomes) {
        match o {
            Ok(r) => results.push(r),
            Err(d) => dealer = Some(d),
        }
    }
    (results, dealer.expect("the dealer's result"))
}

#[test]
fn third_party_dealer() {
    for parties in [2, 3] {
        let (got, dealer) = with_ttp(parties, true, |client, comm| {
            let got = program(client, comm)?;
            let dealer = comm.stats().get(DEALER_LABEL).copied().unwrap_or_default();
            // Only party 0 talks to the dealer: a request and a correction per triple.
            let rounds = if comm.rank() == 0 { 1 + 2 * 4 } else { 1 };
            assert_eq!(dealer.rounds, rounds, "party {}'s dealer rounds", comm.rank());
            Ok(got)
        });
        assert_eq!(dealer.expect("the dealer serves").requests, 4);
        check(&got);
    }
}

fn is_ring_error(r: &Result<Pending, DealerError>) -> bool {
    matches!(r, Err(DealerError::Ring(_)))
}

/// A mask never taken, a mask at another shape, and a mask too large to hold are typed
/// errors before anything is sent; the provider stays usable.
#[test]
fn parties_refuse_bad_masks() {
    let matmul = |n: usize| BilinearOp::Matmul { lhs: vec![4, 5], rhs: vec![5, n] };
    let bad = |dealer: &mut dyn Dealer, comm: &mut dyn Communicator| {
        let before = comm.stats().total();
        let never = Request::TripleFixedRhs { op: matmul(3), mask: 9 };
        assert!(is_ring_error(&dealer.begin(&never, comm)), "a mask never taken");
        dealer.persistent_share(9, &[5, 3])?;
        let other = Request::TripleFixedRhs { op: matmul(2), mask: 9 };
        assert!(is_ring_error(&dealer.begin(&other, comm)), "a mask at another shape");
        let r = dealer.persistent_share(9, &[5, 2]);
        assert!(matches!(r, Err(DealerError::Ring(_))), "a share at another shape");
        let r = dealer.persistent_share(10, &[1 << 40]);
        assert!(matches!(r, Err(DealerError::Ring(_))), "an oversized mask");
        let huge = BilinearOp::Matmul { lhs: vec![1, 1 << 20], rhs: vec![1 << 20, 1 << 20] };
        let r = Request::TripleFixedRhs { op: huge, mask: 11 }.layout();
        assert!(matches!(r, Err(DealerError::Ring(_))), "an oversized fixed operand");
        assert_eq!(comm.stats().total(), before, "nothing sent");
        let ok = dealer.triple_fixed_rhs(&matmul(3), 9, comm)?;
        assert_eq!(ok.c.shape(), &[4, 3]);
        Ok::<_, DealerError>(())
    };
    let outcomes = run_threads(2, &quick(), |mut comm| {
        let master = Seed::from_bytes([42; 16]);
        let mut dealer = TrustedFirstParty::from_master(&master, comm.rank(), 2)?;
        bad(&mut dealer, &mut comm)
    });
    unwrap_all(outcomes);
    let (_, dealer) = with_ttp(2, true, |client, comm| bad(client, comm));
    assert_eq!(dealer.expect("the dealer serves").requests, 1);
}

/// A hostile party 0 asks the third-party dealer for a known mask at another shape: the
/// dealer refuses with a typed error instead of serving a prefix of the mask's streams.
#[test]
fn third_party_dealer_refuses_a_mask_at_another_shape() {
    let valid = Request::TripleFixedRhs {
        op: BilinearOp::Matmul { lhs: vec![4, 5], rhs: vec![5, 3] },
        mask: 7,
    };
    let hostile = Request::TripleFixedRhs {
        op: BilinearOp::Matmul { lhs: vec![4, 5], rhs: vec![5, 2] },
        mask: 7,
    };
    let (_, dealer) = with_ttp(2, false, |client, comm| {
        client.persistent_share(7, &[5, 3])?;
        client.fetch(&valid, comm)?;
        if comm.rank() == 0 {
            let mut m = vec![1u8];
            m.extend(1u64.to_le_bytes());
            m.extend(encode_request(&hostile));
            comm.send(2, &m)?;
        }
        Ok(())
    });
    assert!(matches!(dealer, Err(DealerError::Ring(_))), "{dealer:?}");
}

/// The default for providers without per-party seeds.
#[test]
fn other_providers_refuse_persistent_masks() {
    struct Plain(DealerStats);
    impl Dealer for Plain {
        fn name(&self) -> &'static str {
            "plain"
        }
        fn rank(&self) -> usize {
            0
        }
        fn parties(&self) -> usize {
            2
        }
        fn fetch(&mut self, _: &Request, _: &mut dyn Communicator) -> Result<Shares, DealerError> {
            unreachable!("not called")
        }
        fn stats(&self) -> &DealerStats {
            &self.0
        }
    }
    let mut boxed: Box<dyn Dealer> = Box::new(Plain(DealerStats::default()));
    let r = boxed.persistent_share(0, &[2]);
    assert!(
        matches!(r, Err(DealerError::Unsupported { provider: "plain", .. })),
        "{:?}",
        r.map(|t| t.shape().to_vec())
    );
}
