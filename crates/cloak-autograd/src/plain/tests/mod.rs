//! Tests of the plain backend against naive definitions, finite differences and adjoint
//! identities, on seeded inputs uniform in `[-1, 1)` from the workspace's test generator.

mod conv;
mod ops;
mod pool;

use cloak_ring::testing::TestRng;
use ndarray::ArrayD;

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
