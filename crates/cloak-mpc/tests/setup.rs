//! Secure session set-up over channels, for 2, 3 and 4 parties.
//!
//! - `Session::setup` with the trusted first party: one "setup" round of pairwise seeds (16
//!   bytes from each lower rank to each higher one) and one "dealer" round in which party 0
//!   sends each other party its 16-byte seed; then products, relu and A2B/B2A come out
//!   right, the dealer never talks again, and seeds are fresh (another set-up shares the
//!   same value differently).
//! - The trusted third party: an extra rank runs `cloak_dealer::run_dealer`; the parties
//!   compute a mul, a matmul and a relu correctly; under `cloak_dealer::DEALER_LABEL` party 0
//!   has exactly one round trip per request (and the close), the others only the set-up
//!   seed; the dealer serves as many requests as party 0 made and returns `Ok` after
//!   `Session::close`.
//!
//! Inputs are on the 2^-16 grid, so encoding is exact: products are within one truncation
//! (2^-16), relu and A2B/B2A are exact.

mod common;

use std::time::Duration;

use cloak_comm::runner::run_threads;
use cloak_comm::{CommConfig, CommStats, Communicator, OpStats};
use cloak_dealer::{DEALER_LABEL, DealerStats, run_dealer};
use cloak_mpc::{DealerKind, MpcError, Session, SessionConfig};
use cloak_ring::RingTensor;
use common::*;
use ndarray::{ArrayD, Ix2};

/// What a party computed with a securely set-up session.
#[derive(Debug)]
struct Computed {
    mul: ArrayD<f64>,
    matmul: ArrayD<f64>,
    relu: ArrayD<f64>,
    roundtrip: ArrayD<f64>,
    share_of_x: RingTensor<u64>,
}

fn inputs() -> (ArrayD<f64>, ArrayD<f64>) {
    (grid(&rand_arr(&[4, 6], -4.0, 4.0, 100)), grid(&rand_arr(&[6, 3], -4.0, 4.0, 101)))
}

fn compute(s: &Session, x: &ArrayD<f64>, y: &ArrayD<f64>) -> Result<Computed, MpcError> {
    let a = share0(s, x)?;
    let b = share_from(s, s.parties() - 1, y)?;
    let row = b.slice(0, 0, 4, 1)?.sum(1, false)?; // [4]
    Ok(Computed {
        mul: a.mul(&row.unsqueeze(1)?)?.reveal()?,
        matmul: a.matmul(&b)?.reveal()?,
        relu: a.relu()?.reveal()?,
        roundtrip: a.to_binary()?.to_arith()?.reveal()?,
        share_of_x: a.share_tensor().clone(),
    })
}

fn check(c: &Computed, x: &ArrayD<f64>, y: &ArrayD<f64>, what: &str) {
    let x2 = x.view().into_dimensionality::<Ix2>().unwrap();
    let y2 = y.view().into_dimensionality::<Ix2>().unwrap();
    let row = y2.slice(ndarray::s![0..4, ..]).sum_axis(ndarray::Axis(1));
    let mul = &x2 * &row.insert_axis(ndarray::Axis(1));
    // Grid inputs are encoded exactly (and so is a sum of them): only the one truncation.
    assert_close(&c.mul, &mul.into_dyn(), ULP, &format!("{what}: mul"));
    assert_close(&c.matmul, &x2.dot(&y2).into_dyn(), ULP, &format!("{what}: matmul"));
    assert_close(&c.relu, &x.mapv(|v| v.max(0.0)), 0.0, &format!("{what}: relu"));
    assert_close(&c.roundtrip, x, 0.0, &format!("{what}: a2b/b2a"));
}

fn counts(s: Option<&OpStats>) -> (u64, u64, u64) {
    s.map_or((0, 0, 0), |s| (s.rounds, s.bytes_sent, s.bytes_received))
}

#[test]
fn trusted_first_party_setup() {
    let (x, y) = inputs();
    let comm_cfg = CommConfig::with_timeouts(Duration::from_secs(20));
    for p in PARTIES {
        let mut shares = Vec::new();
        for attempt in 0..2 {
            let out = run_threads(p, &comm_cfg, |comm| {
                let s = Session::setup(Box::new(comm), SessionConfig::default())?;
                assert_eq!((s.parties(), s.config().dealer), (p, DealerKind::TrustedFirstParty));
                let setup = s.comm_stats();
                let c = compute(&s, &x, &y)?;
                let after = s.comm_stats();
                s.close()?;
                Ok::<_, MpcError>((s.rank(), setup, after, c))
            });
            for (rank, o) in out.into_iter().enumerate() {
                let (r, setup, after, c) = o.unwrap_or_else(|e| panic!("party {rank}: {e}"));
                assert_eq!(r, rank);
                let what = format!("{p} parties, party {rank}, set-up {attempt}");
                // Pairwise seeds: 16 bytes to each higher rank, from each lower rank.
                let higher = (p - 1 - rank) as u64;
                let pair = (1, 16 * higher, 16 * rank as u64);
                assert_eq!(counts(setup.get("setup")), pair, "{what}: pair seeds");
                let dealer = if rank == 0 { (1, 16 * (p as u64 - 1), 0) } else { (1, 0, 16) };
                assert_eq!(counts(setup.get(DEALER_LABEL)), dealer, "{what}: dealer seeds");
                assert_eq!(setup.total().rounds, 2, "{what}: nothing else at set-up");
                assert_eq!(
                    counts(after.get(DEALER_LABEL)),
                    dealer,
                    "{what}: the first party's dealer never talks again"
                );
                check(&c, &x, &y, &what);
                if rank == 1 {
                    shares.push(c.share_of_x);
                }
            }
        }
        // Fresh seeds: party 1's share of the same value differs between set-ups.
        assert_ne!(shares[0], shares[1], "{p} parties: two set-ups gave the same shares");
    }
}

/// What a rank of a third-party run returns.
#[derive(Debug)]
enum Role {
    Party {
        computed: Box<Computed>,
        dealer: OpStats,
        total_dealer: OpStats,
        requests: u64,
        ops: CommStats,
    },
    Dealer(DealerStats),
}

#[test]
fn trusted_third_party_dealer() {
    let (x, y) = inputs();
    let comm_cfg = CommConfig::with_timeouts(Duration::from_secs(20));
    for p in [2, 3, 4] {
        let out = run_threads(p + 1, &comm_cfg, |mut comm| {
            if comm.rank() == p {
                return Ok(Role::Dealer(run_dealer(&mut comm, p)?));
            }
            let cfg = SessionConfig { dealer: DealerKind::TrustedThirdParty, ..Default::default() };
            let s = Session::setup(Box::new(comm), cfg)?;
            assert_eq!(s.parties(), p);
            let setup = s.comm_stats();
            let computed = Box::new(compute(&s, &x, &y)?);
            let ops = s.comm_stats();
            let dealer = ops.get(DEALER_LABEL).copied().unwrap_or_default();
            let requests = s.dealer_stats().requests;
            s.close()?;
            let total_dealer = s.comm_stats().get(DEALER_LABEL).copied().unwrap_or_default();
            assert_eq!(counts(setup.get(DEALER_LABEL)), (1, 0, 16), "set-up: one seed");
            Ok::<_, MpcError>(Role::Party { computed, dealer, total_dealer, requests, ops })
        });
        let mut party0_requests = None;
        let mut served = None;
        for (rank, o) in out.into_iter().enumerate() {
            let what = format!("{p} parties + dealer, rank {rank}");
            match o.unwrap_or_else(|e| panic!("{what}: {e}")) {
                Role::Party { computed, dealer, total_dealer, requests, ops } => {
                    check(&computed, &x, &y, &what);
                    // The dealer's traffic stays out of the operations' labels: a mul of
                    // [4, 6] by [4, 1] opens 28 words and truncates 24, a
                    // relu has as many rounds as with the first-party dealer.
                    let peers = p as u64 - 1;
                    let mul = ops.get("mul").copied().unwrap_or_default();
                    let (rounds, words) = (2, 28 + 24);
                    assert_eq!((mul.rounds, mul.bytes_sent), (rounds, peers * words * 8), "{what}");
                    let relu = ops.get("relu").map(|o| o.rounds);
                    // Dealer digits, the default comparison: 4 rounds for any number of parties.
                    assert_eq!(relu, Some(4), "{what}: relu rounds");
                    assert!(requests > 0);
                    if rank == 0 {
                        // The set-up seed, then per request a send and a receive.
                        assert_eq!(dealer.rounds, 1 + 2 * requests, "{what}: dealer rounds");
                        assert_eq!(dealer.messages, requests, "{what}: requests sent");
                        assert!(dealer.bytes_received > 16 && dealer.bytes_sent > 0);
                        // Closing sends one more message.
                        assert_eq!(total_dealer.rounds, dealer.rounds + 1, "{what}: close");
                        party0_requests = Some(requests);
                    } else {
                        let seed_only = (1, 0, 16);
                        assert_eq!(counts(Some(&dealer)), seed_only, "{what}: dealer traffic");
                        assert_eq!(counts(Some(&total_dealer)), seed_only, "{what}: close");
                    }
                }
                Role::Dealer(stats) => {
                    assert_eq!(rank, p, "the dealer is the last rank");
                    served = Some(stats.requests);
                }
            }
        }
        assert_eq!(served, party0_requests, "{p} parties: requests served");
    }
}

#[test]
fn the_network_profile_reaches_the_runners_communicators() {
    let wan = cloak_comm::NetProfile::WAN;
    let config = SessionConfig { network: Some(wan), ..SessionConfig::default() };
    assert_eq!(config.comm_config().network, Some(wan));
    assert_eq!(SessionConfig::default().comm_config().network, None);
}
