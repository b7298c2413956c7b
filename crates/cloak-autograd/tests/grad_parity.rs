//! The autograd backend parity suite (`cloak_autograd::conformance`) for the secure
//! backend, 2 and 3 parties, both truncations; and the plain backend's gradients against
//! central finite differences. Tolerances: see the suite's documentation.

use cloak_autograd::conformance::{Case, output_shape, parity, run_graph, secure};
use cloak_autograd::{Plain, Var};
use cloak_mpc::{SessionConfig, Truncation};
use cloak_ring::testing::TestRng;
use ndarray::ArrayD;

fn assert_parity(parties: usize, config: SessionConfig) {
    let mismatches = parity(&secure(parties, config));
    assert!(mismatches.is_empty(), "{parties} parties: {mismatches:#?}");
}

#[test]
fn secure_matches_plain_two_parties() {
    assert_parity(2, SessionConfig::default());
}

#[test]
fn secure_matches_plain_three_parties() {
    assert_parity(3, SessionConfig::default());
}

#[test]
fn secure_with_dealer_pairs_matches_plain_two_parties() {
    assert_parity(
        2,
        SessionConfig { truncation: Truncation::DealerPairs.into(), ..Default::default() },
    );
}

/// The plain backend's gradients against central differences of `<seed, f(x)>`.
#[test]
fn plain_gradients_match_finite_differences() {
    let h = 1e-6;
    for (k, case) in Case::ALL.into_iter().enumerate() {
        // Kinks (relu, abs, hardtanh, max) are avoided by the inputs' spacing: a step of
        // 1e-6 does not cross one at these random points.
        let mut rng = TestRng::new(5000 + k as u64);
        let inputs = case.inputs(&mut rng);
        let seed = rng.array(&output_shape(case, &inputs).unwrap(), -1.0, 1.0);
        let (_, grads) = run_graph(&Plain, case, &inputs, &seed).unwrap();
        let objective = |xs: &[ArrayD<f64>]| -> f64 {
            let vars: Vec<Var<Plain>> =
                xs.iter().map(|v| Var::constant(&Plain, v.clone())).collect();
            let y = case.build(&vars).unwrap().value();
            y.iter().zip(&seed).map(|(a, b)| a * b).sum()
        };
        for (i, g) in grads.iter().enumerate() {
            for j in 0..inputs[i].len() {
                let mut plus = inputs.clone();
                let mut minus = inputs.clone();
                plus[i].as_slice_mut().unwrap()[j] += h;
                minus[i].as_slice_mut().unwrap()[j] -= h;
                let numeric = (objective(&plus) - objective(&minus)) / (2.0 * h);
                let analytic = g.as_slice().unwrap()[j];
                assert!(
                    (numeric - analytic).abs() <= 1e-6 * (1.0 + analytic.abs()),
                    "{case:?} input {i}[{j}]: analytic {analytic}, numeric {numeric}"
                );
            }
        }
    }
}
