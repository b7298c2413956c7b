//! Test inputs of the battery.

use ndarray::ArrayD;

/// A deterministic generator for the battery's inputs (an LCG; test data, never shares).
#[derive(Clone, Debug)]
pub struct Lcg(u64);

impl Lcg {
    /// The generator from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / (1u64 << 53) as f64
    }

    /// An array of `shape` uniform in `[lo, hi)`.
    pub fn array(&mut self, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
        let n = shape.iter().product();
        let v = (0..n).map(|_| lo + (hi - lo) * self.uniform()).collect();
        ArrayD::from_shape_vec(shape, v).unwrap_or_else(|_| unreachable!("length of the shape"))
    }
}
