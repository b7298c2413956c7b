//! Helpers shared by the test files: a deterministic input generator and running one
//! program on the plain backend and on 2 or 3 parties.

#![allow(dead_code)]

use cloak_autograd::{Plain, Secure};
use cloak_mpc::{SessionConfig, run_local_typed};
use ndarray::ArrayD;

/// The workspace's seeded generator of test inputs (not for shares).
pub use cloak_ring::testing::TestRng;

/// Runs `f` on every party of a `parties`-party session (threads) and returns party 0's
/// result after checking that every party returned the same.
pub fn secure<R: Send + PartialEq + std::fmt::Debug>(
    parties: usize,
    f: impl Fn(&Secure) -> cloak_nn::Result<R> + Sync,
) -> R {
    let outcomes =
        run_local_typed(parties, &SessionConfig::default(), |session| f(&Secure::new(session)));
    let mut results: Vec<R> = outcomes.into_iter().map(|o| o.unwrap()).collect();
    let first = results.remove(0);
    for r in &results {
        assert_eq!(r, &first, "parties disagree on a revealed value");
    }
    first
}

pub fn plain<R>(f: impl Fn(&Plain) -> cloak_nn::Result<R>) -> R {
    f(&Plain).unwrap()
}

/// Asserts `|got - want| <= abs + rel |want|` elementwise.
pub fn close(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>, abs: f64, rel: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let bound = abs + rel * w.abs();
        assert!((g - w).abs() <= bound, "{what}[{i}]: got {g}, want {w} (bound {bound})");
    }
}
