//! A provider of correlated randomness written outside the crate, against the public API
//! only, handed to [`Session::with_dealer`]: a wrapper that delegates to the standard
//! trusted-first-party provider (set up with [`TrustedFirstParty::setup`]) and counts the
//! requests by kind. A product, a comparison (`relu`) and a reveal for 2 and 3 parties are
//! checked against plain f64 and against the requests the wrapper saw; a provider reporting
//! the wrong rank or number of parties is refused at set-up with a typed error.
//!
//! Tolerances (as in `products.rs`): each encoded input is off by at most 2^-17
//! (`HALF_ULP`), so one product `x y` with `|x|, |y| <= 10` is off by at most
//! `20 * 2^-17 + 2^-34`, plus 2^-16 (`ULP`) for its truncation. The reveal of a shared
//! input is off by at most `HALF_ULP` (the encoding only). `relu` multiplies by a 0/1 bit
//! with no truncation, so it is off by at most the input's encoding, `HALF_ULP`.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloak_comm::runner::{PartyFailure, run_threads};
use cloak_comm::{CommConfig, Communicator};
use cloak_dealer::{Dealer, DealerError, DealerStats, Pending, Request, Shares, TrustedFirstParty};
use cloak_mpc::{MpcError, Session, SessionConfig};
use cloak_prg::Seed;
use cloak_ring::RingTensor;
use common::*;
use ndarray::ArrayD;

/// Requests seen by kind ([`Request::name`]), shared with the test.
type Counts = Arc<Mutex<BTreeMap<&'static str, usize>>>;

/// Delegates everything to `inner`, counting requests by kind; optionally lies about its
/// rank or number of parties, or declines persistent masks (as the trait's default does).
struct Counting<D> {
    inner: D,
    counts: Counts,
    rank: Option<usize>,
    parties: Option<usize>,
    persistent: bool,
}

impl<D: Dealer> Counting<D> {
    fn new(inner: D) -> Self {
        Self { inner, counts: Counts::default(), rank: None, parties: None, persistent: true }
    }

    fn count(&self, request: &Request) {
        *self.counts.lock().expect("counts lock").entry(request.name()).or_default() += 1;
    }
}

impl<D: Dealer> Dealer for Counting<D> {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn rank(&self) -> usize {
        self.rank.unwrap_or_else(|| self.inner.rank())
    }
    fn parties(&self) -> usize {
        self.parties.unwrap_or_else(|| self.inner.parties())
    }
    fn fetch(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError> {
        self.count(request);
        self.inner.fetch(request, comm)
    }
    fn begin(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Pending, DealerError> {
        self.count(request);
        self.inner.begin(request, comm)
    }
    fn finish(
        &mut self,
        pending: Pending,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError> {
        self.inner.finish(pending, comm)
    }
    fn stats(&self) -> &DealerStats {
        self.inner.stats()
    }
    fn persistent_share(
        &mut self,
        mask: u64,
        shape: &[usize],
    ) -> Result<RingTensor<u64>, DealerError> {
        if !self.persistent {
            return Err(DealerError::Unsupported {
                provider: "counting",
                what: "persistent masks",
            });
        }
        self.inner.persistent_share(mask, shape)
    }
    fn close(&mut self, comm: &mut dyn Communicator) -> Result<(), DealerError> {
        self.inner.close(comm)
    }
}

/// What one party saw: the revealed values, the wrapper's counts after each phase, and the
/// session's own request count.
struct Seen {
    revealed: Vec<ArrayD<f64>>,
    phases: Vec<BTreeMap<&'static str, usize>>,
    session_requests: u64,
}

fn comm_config() -> CommConfig {
    CommConfig::with_timeouts(Duration::from_secs(20))
}

/// Counts of `after` minus `before`, dropping zeros.
fn delta(
    before: &BTreeMap<&'static str, usize>,
    after: &BTreeMap<&'static str, usize>,
) -> BTreeMap<&'static str, usize> {
    after
        .iter()
        .map(|(k, v)| (*k, v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

#[test]
fn product_relu_and_reveal_through_a_custom_dealer() {
    let x = rand_arr(&[3, 4], -10.0, 10.0, 71);
    let y = rand_arr(&[3, 4], -10.0, 10.0, 72);
    let cfg = SessionConfig::default();
    for n in [2, 3] {
        let outcomes = run_threads(n, &comm_config(), |mut comm| -> Result<Seen, MpcError> {
            let tfp = TrustedFirstParty::setup(&mut comm, n)?;
            let wrapper = Counting::new(tfp);
            let counts = Arc::clone(&wrapper.counts);
            let snapshot = || counts.lock().expect("counts lock").clone();
            let s = Session::with_dealer(Box::new(comm), cfg.clone(), Box::new(wrapper))?;
            assert_eq!((s.rank() < n, s.parties()), (true, n));
            let mut phases = vec![snapshot()];
            let a = share0(&s, &x)?;
            let b = share_from(&s, n - 1, &y)?;
            let revealed_x = a.reveal()?;
            phases.push(snapshot());
            let product = a.mul(&b)?.reveal()?;
            phases.push(snapshot());
            let relu = a.relu()?.reveal()?;
            phases.push(snapshot());
            let session_requests = s.dealer_stats().requests;
            s.close()?;
            Ok(Seen { revealed: vec![revealed_x, product, relu], phases, session_requests })
        });
        let seen: Vec<Seen> = outcomes
            .into_iter()
            .enumerate()
            .map(|(rank, o)| o.unwrap_or_else(|e| panic!("{n} parties: party {rank} failed: {e}")))
            .collect();
        for (rank, p) in seen.iter().enumerate() {
            assert_eq!(p.revealed, seen[0].revealed, "{n}: party {rank} revealed otherwise");
            assert_eq!(p.phases, seen[0].phases, "{n}: party {rank} saw other requests");
        }
        let p = &seen[0];
        assert_close(&p.revealed[0], &x, HALF_ULP, &format!("{n}: reveal"));
        let prod_tol = 20.0 * HALF_ULP + HALF_ULP * HALF_ULP + ULP;
        assert_close(
            &p.revealed[1],
            &zip_bcast(&x, &y, |a, b| a * b),
            prod_tol,
            &format!("{n}: mul"),
        );
        assert_close(&p.revealed[2], &x.mapv(|v| v.max(0.0)), HALF_ULP, &format!("{n}: relu"));

        // Set-up and sharing and revealing use no correlated randomness.
        assert!(p.phases[0].is_empty(), "{n}: requests at set-up: {:?}", p.phases[0]);
        assert!(p.phases[1].is_empty(), "{n}: requests to share/reveal: {:?}", p.phases[1]);
        // A product: one triple and one truncation pair (automatic truncation uses dealer
        // pairs for any number of parties).
        let want: BTreeMap<&str, usize> = BTreeMap::from([("mul", 1), ("trunc_pair", 1)]);
        assert_eq!(delta(&p.phases[1], &p.phases[2]), want, "{n}: product's requests");
        // relu (the dealer-digits comparison): its mask with digit tables and the injection
        // bit, one set of mask products per level of the lookahead carry over 16 digits,
        // and nothing else (no product triple, no truncation).
        let relu = delta(&p.phases[2], &p.phases[3]);
        let want = BTreeMap::from([("digit_tables", 1), ("mask_products", 2)]);
        assert_eq!(relu, want, "{n}: relu's requests");
        // The wrapper saw every request the session made.
        let total: usize = p.phases[3].values().sum();
        assert_eq!(total as u64, p.session_requests, "{n}: requests counted");
    }
}

/// Makes a wrapper misreport its layout.
type Lie = dyn Fn(&mut Counting<TrustedFirstParty>) + Sync;

/// Runs `Session::with_dealer` at every party of `n` with a wrapper built by `lie` around
/// a trusted first party from a master seed (no message at set-up), and returns each
/// party's error.
fn refused(n: usize, lie: impl Fn(&mut Counting<TrustedFirstParty>) + Sync) -> Vec<MpcError> {
    run_threads(n, &CommConfig::with_timeouts(Duration::from_secs(5)), |comm| {
        let rank = comm.rank();
        let tfp = TrustedFirstParty::from_master(&Seed::from_bytes(SEED), rank, n)?;
        let mut wrapper = Counting::new(tfp);
        lie(&mut wrapper);
        Session::with_dealer(Box::new(comm), SessionConfig::default(), Box::new(wrapper))
            .map(|_| ())
    })
    .into_iter()
    .enumerate()
    .map(|(rank, o)| match o {
        Ok(()) => panic!("party {rank} of {n} accepted a provider that does not fit"),
        Err(PartyFailure::Error(e)) => e,
        Err(PartyFailure::Panicked(m)) => panic!("party {rank} panicked: {m}"),
    })
    .collect()
}

#[test]
fn a_provider_with_the_wrong_rank_or_party_count_is_refused() {
    for n in [2, 3] {
        let cases: [(&str, Box<Lie>); 4] = [
            ("wrong rank", Box::new(move |w| w.rank = Some((w.inner.rank() + 1) % n))),
            ("too many parties", Box::new(move |w| w.parties = Some(n + 1))),
            ("one party", Box::new(|w| w.parties = Some(1))),
            ("this rank not among the parties", Box::new(|w| w.parties = Some(w.inner.rank()))),
        ];
        for (what, lie) in cases {
            for (rank, e) in refused(n, lie).into_iter().enumerate() {
                assert!(
                    matches!(e, MpcError::Dealer(DealerError::Setup { .. })),
                    "{n} parties, {what}: party {rank} got {e:?}"
                );
            }
        }
    }
}

/// A provider without persistent masks: `fix` is its typed `Unsupported` error and
/// `try_fix` is `None`, at every party and with nothing sent, so callers that fix weights
/// as an optimisation fall back to plain products together; the parties stay in step and
/// the plain product is right (four terms of the module's product bound, one truncation).
#[test]
fn without_persistent_masks_fixing_falls_back_to_plain_products() {
    let x = rand_arr(&[3, 4], -10.0, 10.0, 73);
    let w = rand_arr(&[4, 2], -10.0, 10.0, 74);
    let want = x
        .clone()
        .into_dimensionality::<ndarray::Ix2>()
        .expect("2-d")
        .dot(&w.clone().into_dimensionality::<ndarray::Ix2>().expect("2-d"));
    for n in [2, 3] {
        let outcomes = run_threads(n, &comm_config(), |mut comm| -> Result<_, MpcError> {
            let tfp = TrustedFirstParty::setup(&mut comm, n)?;
            let mut wrapper = Counting::new(tfp);
            wrapper.persistent = false;
            let s =
                Session::with_dealer(Box::new(comm), SessionConfig::default(), Box::new(wrapper))?;
            let (xs, ws) = (share0(&s, &x)?, share_from(&s, n - 1, &w)?);
            s.reset_stats();
            let refused = ws.fix();
            assert!(
                matches!(refused, Err(MpcError::Dealer(DealerError::Unsupported { .. }))),
                "fix: {refused:?}"
            );
            assert!(ws.try_fix()?.is_none(), "try_fix");
            assert_eq!(s.comm_stats().total().bytes_sent, 0, "nothing sent");
            xs.matmul(&ws)?.reveal()
        });
        for (rank, o) in outcomes.into_iter().enumerate() {
            let got = o.unwrap_or_else(|e| panic!("{n} parties, party {rank}: {e:?}"));
            let tol = 4.0 * (20.0 * HALF_ULP) + ULP;
            for (g, w) in got.iter().zip(want.iter()) {
                assert!((g - w).abs() <= tol, "{n} parties: {g} against {w} (tolerance {tol})");
            }
        }
    }
}
