//! The two outside pieces against the exported conformance suites.

use std::sync::{Arc, Mutex};

use cloak_dealer::TrustedFirstParty;
use cloak_mpc::conformance::{Configured, WithDealer};
use cloak_mpc::primitives::ComparisonStrategy;
use cloak_mpc::{DealerKind, SessionConfig, Truncation};
use cloak_protocols_extra::{CountingDealer, FullAdderSign, RequestCounts};

fn full_adder(truncation: Truncation, dealer: DealerKind) -> SessionConfig {
    SessionConfig {
        comparison: ComparisonStrategy::new(FullAdderSign),
        truncation: truncation.into(),
        dealer,
        ..SessionConfig::default()
    }
}

// The full-adder comparison through every protocol check (comparisons, ReLU, max, pooling
// and the functions built on them), 2 and 3 parties, with both truncations and both
// built-in dealers.
cloak_mpc::protocol_conformance_tests!(
    full_adder_tfp,
    Configured::new(full_adder(Truncation::Auto, DealerKind::TrustedFirstParty))
);

cloak_mpc::protocol_conformance_tests!(
    full_adder_dealer_pairs_ttp,
    Configured::new(full_adder(Truncation::DealerPairs, DealerKind::TrustedThirdParty))
);

/// Where the counting dealers of one run leave their counts (one per party).
fn counting(log: Arc<Mutex<Vec<Arc<Mutex<RequestCounts>>>>>) -> WithDealer {
    WithDealer::new(SessionConfig::default(), move |comm, _rank, parties| {
        let dealer = CountingDealer::new(TrustedFirstParty::setup(comm, parties)?);
        log.lock().unwrap().push(dealer.counts());
        Ok(Box::new(dealer))
    })
}

// The counting dealer through every protocol check.
cloak_mpc::protocol_conformance_tests!(counting_dealer, counting(Arc::default()));

#[test]
fn the_counting_dealer_counts_what_a_product_and_a_relu_ask_for() {
    let log: Arc<Mutex<Vec<Arc<Mutex<RequestCounts>>>>> = Arc::default();
    let factory = counting(Arc::clone(&log));
    let check = cloak_mpc::conformance::CHECKS.iter().find(|c| c.name == "relu_abs").unwrap();
    cloak_mpc::conformance::run(&factory, check).unwrap();
    let log = log.lock().unwrap();
    // Two runs (2 and 3 parties), every party's dealer counting the same requests.
    assert_eq!(log.len(), 5);
    let counts: Vec<RequestCounts> = log.iter().map(|c| c.lock().unwrap().clone()).collect();
    assert!(counts[..2].iter().all(|c| c == &counts[0]), "parties disagree: {counts:?}");
    assert!(counts[2..].iter().all(|c| c == &counts[2]), "parties disagree: {counts:?}");
    // ReLU and abs with the default comparison (dealer digits): each a mask with its digit
    // tables and two sets of mask products for the lookahead carry over the digits.
    let two = &counts[0];
    let (tables, products) = (two.by_kind["digit_tables"].0, two.by_kind["mask_products"].0);
    assert!(tables >= 2, "{two:?}");
    assert_eq!(products, 2 * tables, "{two:?}");
    assert!(two.requests() > products, "{two:?}");
}

#[test]
fn the_full_adder_strategy_is_the_one_that_runs() {
    // Same rounds as the built-in circuit for two parties, about four times its bytes: the
    // session really used the strategy it was given.
    let x = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[1000]), |i| i[0] as f64 - 500.0);
    let relu_traffic = |config: SessionConfig| {
        let out = cloak_mpc::run_local(2, &config, |s| {
            let a = cloak_mpc::AShare::share(s, 0, (s.rank() == 0).then_some(&x), &[1000])?;
            s.reset_stats();
            let r = a.relu()?;
            let t = s.comm_stats().total();
            let revealed = r.reveal()?;
            Ok::<_, cloak_mpc::MpcError>((t.rounds, t.bytes_sent, revealed))
        });
        out.into_iter().next().unwrap().unwrap()
    };
    let circuit = SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(cloak_mpc::primitives::BitPlaneCarry),
        ..SessionConfig::default()
    };
    let (builtin_rounds, builtin_bytes, builtin) = relu_traffic(circuit);
    let (rounds, bytes, revealed) =
        relu_traffic(full_adder(Truncation::Auto, DealerKind::TrustedFirstParty));
    assert_eq!(revealed, x.mapv(|v| v.max(0.0)));
    assert_eq!(builtin, revealed);
    assert_eq!(rounds, builtin_rounds);
    assert!(bytes > 3 * builtin_bytes, "{bytes} bytes against {builtin_bytes}");
}

#[test]
fn the_counting_dealer_passes_the_dealer_suite() {
    // Around both built-in providers: a counter must pass every relation through untouched,
    // custom and dealt kinds included.
    let around_tfp =
        cloak_dealer::conformance::Provider::new("counting(tfp)", 0, |comm, _, parties| {
            let inner = TrustedFirstParty::setup(comm, parties)?;
            Ok(Some(Box::new(CountingDealer::new(inner)) as Box<dyn cloak_dealer::Dealer>))
        });
    cloak_dealer::conformance::run(&around_tfp).unwrap_or_else(|e| panic!("{e}"));
    let around_ttp =
        cloak_dealer::conformance::Provider::new("counting(ttp)", 1, |comm, rank, parties| {
            if rank == parties {
                cloak_dealer::run_dealer_with(
                    comm,
                    parties,
                    &cloak_dealer::conformance::correlations(),
                )?;
                return Ok(None);
            }
            let inner = cloak_dealer::TtpClient::connect(comm, parties)?;
            Ok(Some(Box::new(CountingDealer::new(inner)) as Box<dyn cloak_dealer::Dealer>))
        });
    cloak_dealer::conformance::run(&around_ttp).unwrap_or_else(|e| panic!("{e}"));
}
