//! Seeded test data: one fully specified generator for every test, example and benchmark of
//! the workspace.
//!
//! [`TestRng`] is SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014), the generator Java's `SplittableRandom` and many test suites
//! use: a 64-bit counter advanced by the golden-ratio increment, then a fixed mixing
//! function. It is tiny, fast and reproducible from its specification alone, so a test's
//! inputs are the same on every machine, in every language, and after any refactoring.
//!
//! **Test data only.** It is not a cryptographic generator: its outputs are predictable from
//! any one of them. Shares, masks, seeds and anything else a party must keep secret come
//! from `cloak-prg` (AES-CTR), never from here.
//!
//! (`cloak-prg` and `cloak-comm` sit beside this crate at the bottom of the stack and cannot
//! depend on it; their tests keep their own small generators.)

use ndarray::{ArrayD, IxDyn};

/// The SplitMix64 increment: `2^64 / phi`, rounded to odd (Weyl sequence step).
pub const SPLITMIX64_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
/// First multiplier of the SplitMix64 finaliser (Stafford's "Mix13" variant of MurmurHash3's).
pub const SPLITMIX64_MUL1: u64 = 0xBF58_476D_1CE4_E5B9;
/// Second multiplier of the SplitMix64 finaliser.
pub const SPLITMIX64_MUL2: u64 = 0x94D0_49BB_1331_11EB;

/// SplitMix64: deterministic, seeded test data. Not for shares (see the module docs).
///
/// The state starts at the seed; each draw adds [`SPLITMIX64_GAMMA`] and returns the mixed
/// state, so `TestRng::new(0).next_u64()` is `0xE220_A839_7B1D_CDAF` as in the reference
/// implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRng {
    state: u64,
}

impl TestRng {
    /// A generator whose stream is fixed by `seed`.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 uniform bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(SPLITMIX64_GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(SPLITMIX64_MUL1);
        z = (z ^ (z >> 27)).wrapping_mul(SPLITMIX64_MUL2);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`, from the top 53 bits of one draw (every multiple of `2^-53` in
    /// `[0, 1)` is equally likely before scaling).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// `n` draws of [`TestRng::next_u64`].
    pub fn words(&mut self, n: usize) -> Vec<u64> {
        (0..n).map(|_| self.next_u64()).collect()
    }

    /// `n` draws of [`TestRng::uniform`].
    pub fn vec_f64(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }

    /// An array of `shape` filled in row-major order by [`TestRng::uniform`].
    pub fn array(&mut self, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || self.uniform(lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_stream() {
        // SplitMix64 seeded with 0, from the reference C implementation (Vigna, prng.di.unimi.it).
        let mut rng = TestRng::new(0);
        assert_eq!(
            rng.words(3),
            [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]
        );
    }

    #[test]
    fn helpers_draw_from_one_stream() {
        let mut a = TestRng::new(42);
        let mut b = a.clone();
        let words = a.words(4);
        let x = b.array(&[2, 2], -1.0, 3.0);
        for (w, v) in words.iter().zip(x.iter()) {
            let u = (w >> 11) as f64 / (1u64 << 53) as f64;
            assert_eq!(*v, -1.0 + 4.0 * u);
            assert!((-1.0..3.0).contains(v));
        }
        assert_eq!(a, b);
        assert_eq!(
            TestRng::new(7).vec_f64(5, 0.0, 1.0),
            TestRng::new(7).array(&[5], 0.0, 1.0).into_raw_vec_and_offset().0
        );
    }
}
