//! The offline phase: a `Preprocessed` dealer records a pass, obtains its material ahead of
//! time, and serves the next pass with no dealer traffic or work; results stay those of
//! the plain computation. Products are within one truncation (2^-16) of f64 on grid
//! inputs; ReLU is exact.

mod common;

use cloak_dealer::{DEALER_LABEL, Preprocessed, TrustedFirstParty};
use cloak_mpc::primitives::FunctionSecretSharing;
use cloak_mpc::{ComparisonStrategy, Session, SessionConfig};
use common::*;

#[test]
fn a_prepared_pass_has_no_dealer_traffic_and_the_same_results() {
    let x = grid(&arr(&[300], values(300, -3.0, 3.0, 5)));
    let y = grid(&arr(&[300], values(300, -3.0, 3.0, 6)));
    let want_mul = &x * &y;
    let want_relu = x.mapv(|v| v.max(0.0));
    for (parties, comparison) in [
        (2, ComparisonStrategy::new(FunctionSecretSharing::default())),
        (2, ComparisonStrategy::default()),
        (3, ComparisonStrategy::default()),
    ] {
        let config = SessionConfig { comparison, ..SessionConfig::default() };
        let comm_cfg = cloak_comm::CommConfig::with_timeouts(std::time::Duration::from_secs(20));
        let outcomes = cloak_comm::runner::run_threads(parties, &comm_cfg, |mut comm| {
            let tfp = TrustedFirstParty::setup(&mut comm, parties)?;
            let (dealer, handle) = Preprocessed::new(tfp);
            let s = Session::with_dealer(Box::new(comm), config.clone(), Box::new(dealer))?;
            let a = share0(&s, &x)?;
            let b = share_from(&s, parties - 1, &y)?;
            let pass = || -> Result<_, cloak_mpc::MpcError> {
                let m = a.mul(&b)?;
                let r = m.relu()?.add(&a.relu()?)?;
                Ok((m.reveal()?, a.relu()?.reveal()?, r.reveal()?))
            };
            handle.record();
            let first = pass()?;
            handle.stop();
            s.context()?.prepare_dealer()?;
            s.reset_stats();
            let requests = s.dealer_stats().requests;
            let second = pass()?;
            let dealer_bytes = s.comm_stats().get(DEALER_LABEL).map_or(0, |o| o.bytes_sent);
            let new_requests = s.dealer_stats().requests - requests;
            // A pass that differs (no product) misses the plan and still computes right.
            s.context()?.prepare_dealer()?;
            let other = a.relu()?.reveal()?;
            Ok::<_, cloak_mpc::MpcError>((
                first,
                second,
                dealer_bytes,
                new_requests,
                other,
                handle.stats(),
            ))
        });
        for (rank, o) in outcomes.into_iter().enumerate() {
            let (first, second, dealer_bytes, new_requests, other, stats) =
                o.unwrap_or_else(|e| panic!("{parties} parties, rank {rank}: {e}"));
            let what = format!("{parties} parties, rank {rank}");
            assert_close(&second.0, &want_mul, ULP + 1e-9, &what);
            assert_close(&second.1, &want_relu, 0.0, &what);
            assert_close(&first.0, &second.0, ULP, &what);
            assert_close(&other, &want_relu, 0.0, &what);
            assert_eq!(dealer_bytes, 0, "{what}: dealer traffic in the prepared pass");
            assert_eq!(new_requests, 0, "{what}: provider requests in the prepared pass");
            assert!(stats.planned >= 4, "{what}: {stats:?}");
            assert_eq!(stats.served, stats.planned as u64, "{what}: {stats:?}");
            assert!(stats.misses >= 1, "{what}: {stats:?}");
            assert_eq!(stats.prepares, 2, "{what}: {stats:?}");
        }
    }
}
