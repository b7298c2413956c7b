//! Tests of the plain backend against naive definitions, finite differences and adjoint
//! identities, with a tiny deterministic generator (no test dependencies).

mod conv;
mod ops;
mod pool;

use ndarray::{ArrayD, IxDyn};

/// xorshift64*: deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[-1, 1)`.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    fn array(&mut self, shape: &[usize]) -> ArrayD<f64> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || self.uniform())
    }
}

/// `<a, b>`, the Frobenius inner product of two same-shape tensors.
fn inner(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Asserts `|a - b| <= tol * max(1, |a|, |b|)`.
fn assert_close_scalar(a: f64, b: f64, tol: f64, what: &str) {
    let scale = 1f64.max(a.abs()).max(b.abs());
    assert!((a - b).abs() <= tol * scale, "{what}: {a} vs {b} (tolerance {tol})");
}

/// Asserts equal shapes and elementwise [`assert_close_scalar`].
fn assert_close(a: &ArrayD<f64>, b: &ArrayD<f64>, tol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        assert_close_scalar(x, y, tol, &format!("{what}[{i}]"));
    }
}
