//! Helpers shared by the test files: a deterministic input generator and running one
//! program on the plain backend and on 2 or 3 parties.

#![allow(dead_code)]

use cloak_autograd::{Plain, Secure};
use cloak_mpc::{SessionConfig, run_local};
use ndarray::ArrayD;

/// A tiny deterministic generator for test inputs (not for shares).
#[derive(Debug)]
pub struct Lcg(pub u64);

impl Lcg {
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / (1u64 << 53) as f64
    }

    pub fn array(&mut self, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
        let n = shape.iter().product();
        let v = (0..n).map(|_| lo + (hi - lo) * self.uniform()).collect();
        ArrayD::from_shape_vec(shape, v).unwrap()
    }
}

/// Runs `f` on every party of a `parties`-party session (threads) and returns party 0's
/// result after checking that every party returned the same.
pub fn secure<R: Send + PartialEq + std::fmt::Debug>(
    parties: usize,
    f: impl Fn(&Secure) -> cloak_nn::Result<R> + Sync,
) -> R {
    let outcomes =
        run_local(parties, &SessionConfig::default(), |session| f(&Secure::new(session)));
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
