//! The trusted-first-party dealer beyond the conformance suite (`conformance.rs`, which
//! checks every relation, empty requests and statistics): the typed helpers (also through
//! `Box<dyn Dealer>`) match `fetch`, master-seeded providers are deterministic, `setup`
//! costs exactly one round under the dealer label with no communication per request
//! afterwards, the relation checks catch a corrupted share, and `Debug` is redacted.

mod common;

use cloak_comm::runner::run_threads;
use cloak_comm::{CommConfig, Communicator, OpStats};
use cloak_dealer::{DEALER_LABEL, Dealer, DealerError, Request, Shares, TrustedFirstParty};
use cloak_prg::Seed;
use cloak_ring::RingTensor;
use common::{catalogue, check_run, unwrap_all};

fn master(byte: u8) -> Seed {
    Seed::from_bytes([byte; 16])
}

/// Every party fetches `requests` in order from a master-seeded provider; returns each
/// party's shares in rank order. Checks that no communication happened.
fn run_master(seed: &Seed, parties: usize, requests: &[Request]) -> Vec<Vec<Shares>> {
    let outcomes = run_threads(parties, &CommConfig::default(), |mut comm| {
        let mut dealer = TrustedFirstParty::from_master(seed, comm.rank(), parties)?;
        assert_eq!((dealer.rank(), dealer.parties(), dealer.name()), (comm.rank(), parties, "tfp"));
        let shares = requests
            .iter()
            .map(|r| dealer.fetch(r, &mut comm))
            .collect::<Result<Vec<_>, DealerError>>()?;
        assert_eq!(comm.stats().total(), OpStats::default(), "from_master must not communicate");
        Ok::<_, DealerError>(shares)
    });
    unwrap_all(outcomes)
}

#[test]
fn from_master_is_deterministic_and_fresh_per_request() {
    let requests = vec![Request::Square { shape: vec![6] }, Request::Square { shape: vec![6] }];
    let first = run_master(&master(1), 3, &requests);
    let again = run_master(&master(1), 3, &requests);
    let other = run_master(&master(2), 3, &requests);
    for p in 0..3 {
        for k in 0..2 {
            assert_eq!(first[p][k].free, again[p][k].free, "party {p} request {k}");
            assert_eq!(first[p][k].dependent, again[p][k].dependent, "party {p} request {k}");
            assert_ne!(first[p][k].free, other[p][k].free, "another master, other shares");
        }
        // The same request twice draws new randomness.
        assert_ne!(first[p][0].free, first[p][1].free, "party {p}: request 1 reuses request 0");
    }
    // ... and so do the true values.
    let value = |k: usize| common::sum(&first.iter().map(|p| &p[k].free[0]).collect::<Vec<_>>());
    assert_ne!(value(0), value(1));
}

/// Each party's typed helpers, through a boxed trait object, reconstruct to valid relations.
#[test]
fn typed_helpers_through_a_boxed_dealer() {
    let op = cloak_dealer::BilinearOp::Matmul { lhs: vec![3, 4], rhs: vec![4, 2] };
    for parties in 2..=4 {
        let outcomes = run_threads(parties, &CommConfig::default(), |mut comm| {
            let mut dealer: Box<dyn Dealer> =
                Box::new(TrustedFirstParty::from_master(&master(3), comm.rank(), parties)?);
            let t = dealer.triple(&op, &mut comm)?;
            let s = dealer.square(&[5], &mut comm)?;
            let b = dealer.binary_triple(3, &mut comm)?;
            let tr = dealer.trunc_pair(&[4], 20, &mut comm)?;
            let bits = dealer.random_bits(70, &mut comm)?;
            dealer.close(&mut comm)?;
            dealer.close(&mut comm)?;
            assert_eq!(dealer.stats().requests, 5);
            Ok::<_, DealerError>((t, s, b, tr, bits))
        });
        let all = unwrap_all(outcomes);
        let arith = |v: Vec<&RingTensor<u64>>| common::sum(&v);
        let bin = |v: Vec<&RingTensor<u64>>| common::xor(&v);
        let (a, b, c) = (
            arith(all.iter().map(|x| &x.0.a).collect()),
            arith(all.iter().map(|x| &x.0.b).collect()),
            arith(all.iter().map(|x| &x.0.c).collect()),
        );
        assert_eq!(c, a.matmul(&b).expect("matmul"), "triple");
        let (r, r2) = (
            arith(all.iter().map(|x| &x.1.r).collect()),
            arith(all.iter().map(|x| &x.1.r2).collect()),
        );
        assert_eq!(r2, r.mul(&r).expect("mul"), "square");
        let (x, y, z) = (
            bin(all.iter().map(|x| &x.2.a).collect()),
            bin(all.iter().map(|x| &x.2.b).collect()),
            bin(all.iter().map(|x| &x.2.c).collect()),
        );
        assert_eq!(z, x.and(&y).expect("and"), "binary triple");
        let r = arith(all.iter().map(|x| &x.3.r).collect());
        assert_eq!(
            arith(all.iter().map(|x| &x.3.r_shifted).collect()),
            r.shr_logical(20).expect("shift")
        );
        assert_eq!(
            arith(all.iter().map(|x| &x.3.r_msb).collect()),
            r.shr_logical(63).expect("shift")
        );
        let words = bin(all.iter().map(|x| &x.4.xor).collect()).to_vec();
        let bits = arith(all.iter().map(|x| &x.4.arith).collect()).to_vec();
        assert_eq!((words.len(), bits.len()), (2, 70));
        for (i, bit) in bits.into_iter().enumerate() {
            assert_eq!(bit, (words[i / 64] >> (i % 64)) & 1, "bit {i}");
        }
    }
}

/// `setup` over channels: one round under the dealer label at every party, the previous
/// label restored, and no communication at all per request afterwards.
#[test]
fn setup_costs_one_round_then_nothing() {
    let requests = vec![
        Request::Triple(cloak_dealer::BilinearOp::Matmul {
            lhs: vec![2, 4, 5],
            rhs: vec![2, 5, 3],
        }),
        Request::BinaryTriple { words: 4 },
        Request::TruncPair { shape: vec![3, 2], bits: 16 },
        Request::RandomBits { count: 130 },
    ];
    for parties in 2..=4 {
        let outcomes = run_threads(parties, &CommConfig::default(), |mut comm| {
            comm.set_label("online");
            let mut dealer = TrustedFirstParty::setup(&mut comm, parties)?;
            assert_eq!(comm.stats().label(), "online", "setup restores the label");
            let after_setup = comm.stats().clone();
            let dealer_stats = *after_setup.get(DEALER_LABEL).expect("setup is counted");
            assert_eq!(dealer_stats.rounds, 1, "rank {}: setup rounds", comm.rank());
            assert_eq!(after_setup.total().rounds, 1, "setup is the only communication");
            if comm.rank() == 0 {
                assert_eq!(dealer_stats.bytes_sent, 16 * (parties as u64 - 1));
            } else {
                assert_eq!(dealer_stats.bytes_received, 16);
            }
            let shares = requests
                .iter()
                .map(|r| dealer.fetch(r, &mut comm))
                .collect::<Result<Vec<_>, DealerError>>()?;
            assert_eq!(comm.stats().total().rounds, 1, "fetches communicate");
            assert_eq!(comm.stats().get(DEALER_LABEL).map(|s| s.rounds), Some(1));
            Ok::<_, DealerError>(shares)
        });
        check_run(&requests, &unwrap_all(outcomes));
    }
}

/// Seeds from `setup` are fresh: two sessions give different shares.
#[test]
fn setup_draws_fresh_seeds() {
    let request = Request::Square { shape: vec![8] };
    let session = || {
        let outcomes = run_threads(2, &CommConfig::default(), |mut comm| {
            let mut dealer = TrustedFirstParty::setup(&mut comm, 2)?;
            dealer.fetch(&request, &mut comm)
        });
        unwrap_all(outcomes)
    };
    let (one, two) = (session(), session());
    for p in 0..2 {
        assert_ne!(one[p].free, two[p].free, "party {p}");
    }
}

/// A communicator with more ranks than parties: the extra rank is not a party (setup
/// rejects it) and the parties are unaffected.
#[test]
fn setup_on_a_larger_world_ignores_extra_ranks() {
    let request = Request::Square { shape: vec![3] };
    let outcomes =
        run_threads(3, &CommConfig::default(), |mut comm| {
            match TrustedFirstParty::setup(&mut comm, 2) {
                Ok(mut dealer) => Ok(Some(dealer.fetch(&request, &mut comm)?)),
                Err(DealerError::Setup { .. }) if comm.rank() == 2 => Ok(None),
                Err(e) => Err(e),
            }
        });
    let all = unwrap_all(outcomes);
    assert!(all[2].is_none());
    let shares: Vec<Shares> = all.into_iter().flatten().collect();
    let (free, dependent) = common::reconstruct(&request, &shares);
    common::check_relation(&request, &free, &dependent);
}

/// The checks above are not vacuous: changing one party's share of any dependent component
/// (what the dealer computes) breaks the reconstructed relation and is caught.
#[test]
fn a_corrupted_share_is_caught() {
    let requests = catalogue();
    let per_party = run_master(&master(9), 2, &requests);
    for (k, request) in requests.iter().enumerate() {
        for party in 0..2 {
            for i in 0..per_party[party][k].dependent.len() {
                let mut shares: Vec<Shares> = per_party.iter().map(|p| p[k].clone()).collect();
                let t = &mut shares[party].dependent[i];
                let mut v = t.to_vec();
                // Changes the value by an odd amount (additive) or by every bit (XOR).
                v[0] = !v[0];
                *t = RingTensor::from_vec(t.shape(), v).expect("same shape");
                let values = cloak_dealer::conformance::reconstruct(request, &shares)
                    .expect("shares of the right shapes");
                let caught = cloak_dealer::conformance::relation(request, &values, None);
                assert!(caught.is_err(), "{request:?}: party {party}'s component {i} corrupted");
            }
        }
    }
}

/// `Debug` of shares shows shapes, never values: a mask share in a log next to an opened
/// value would give an input share away.
#[test]
fn debug_output_of_shares_is_redacted() {
    use cloak_dealer::{Dealer, TrustedFirstParty};
    let op = cloak_dealer::BilinearOp::Mul { lhs: vec![3], rhs: vec![3] };
    let outcomes =
        cloak_comm::runner::run_threads(2, &cloak_comm::CommConfig::default(), |mut comm| {
            let rank = cloak_comm::Communicator::rank(&comm);
            let mut d = TrustedFirstParty::from_master(&master(3), rank, 2)?;
            let pending = d.begin(&Request::Triple(op.clone()), &mut comm)?;
            let pending_text = format!("{pending:?}");
            let triple = d.finish(pending, &mut comm)?.into_triple();
            Ok::<_, cloak_dealer::DealerError>((
                format!("{triple:?}"),
                pending_text,
                triple.a.to_vec(),
            ))
        });
    for o in outcomes {
        let (text, pending_text, a) = o.expect("party");
        assert!(text.contains("shape"), "{text}");
        for v in a {
            assert!(!text.contains(&v.to_string()), "{text} shows {v}");
            assert!(!pending_text.contains(&v.to_string()), "{pending_text} shows {v}");
        }
    }
}
