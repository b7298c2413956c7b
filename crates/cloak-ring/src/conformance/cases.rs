//! Seeded inputs for the conformance suite: ring values that stress kernels, random shapes
//! that are rarely multiples of a kernel's tiles, and random convolution geometries.

use crate::element::RingElement;
use crate::tensor::{Conv2dSpec, RingTensor};
use crate::testing::TestRng;

/// Words at the limb boundaries of split-multiply kernels (the 52-bit IFMA limb, 32- and
/// 16-bit halves with their sign bits) and the extremes; for `u32` their low halves.
const SPECIAL: [u64; 14] = [
    0,
    1,
    u64::MAX,
    (1 << 52) - 1,
    1 << 52,
    (1 << 63) | ((1 << 52) - 1),
    0xFFF0_0000_0000_0FFF,
    0x8000_8000_8000_8000,
    0x7FFF_7FFF_7FFF_7FFF,
    0xFFFF_FFFF_0000_0000,
    0x0000_0000_FFFF_FFFF,
    1 << 63,
    1 << 31,
    0x7FFF_FFFF,
];

/// `len` ring elements: one in three from a list of limb-boundary words, the rest uniform.
pub fn values<T: RingElement>(rng: &mut TestRng, len: usize) -> Vec<T> {
    (0..len)
        .map(|_| {
            let r = rng.next_u64();
            let v = if r.is_multiple_of(3) {
                SPECIAL[(r >> 8) as usize % SPECIAL.len()]
            } else {
                rng.next_u64()
            };
            T::from_u64_wrapping(v)
        })
        .collect()
}

/// A tensor of `shape` filled by [`values`].
pub fn tensor<T: RingElement>(rng: &mut TestRng, shape: &[usize]) -> RingTensor<T> {
    let data = values(rng, shape.iter().product());
    RingTensor::from_vec(shape, data).unwrap_or_else(|e| panic!("test tensor {shape:?}: {e}"))
}

/// Uniform in `lo..=hi`.
pub fn between(rng: &mut TestRng, lo: usize, hi: usize) -> usize {
    lo + (rng.next_u64() % (hi - lo + 1) as u64) as usize
}

/// One convolution geometry: input `[n, groups * ig, h, w]`, weight `[groups * og, ig, kh, kw]`
/// (read as `[groups * ig, og, kh, kw]` by transposed convolutions).
#[derive(Clone, Copy, Debug)]
pub struct ConvCase {
    /// Batch.
    pub n: usize,
    /// Input channels per group.
    pub ig: usize,
    /// Output channels per group.
    pub og: usize,
    /// Input height and width.
    pub hw: (usize, usize),
    /// Kernel height and width.
    pub khw: (usize, usize),
    /// Stride, padding, dilation and groups.
    pub spec: Conv2dSpec,
}

impl ConvCase {
    /// A random case within `max_hw` (inputs of 1 to `max_hw` pixels a side).
    pub fn random(rng: &mut TestRng, max_hw: usize) -> Self {
        let mut pair = |lo, hi| (between(rng, lo, hi), between(rng, lo, hi));
        let (stride, padding, dilation) = (pair(1, 3), pair(0, 2), pair(1, 2));
        let (hw, khw) = (pair(1, max_hw), pair(1, 3));
        let groups = between(rng, 1, 3);
        Self {
            n: between(rng, 1, 2),
            ig: between(rng, 1, 3),
            og: between(rng, 1, 3),
            hw,
            khw,
            spec: Conv2dSpec { stride, padding, dilation, groups },
        }
    }

    /// The NCHW input shape.
    pub fn x_shape(&self) -> [usize; 4] {
        [self.n, self.spec.groups * self.ig, self.hw.0, self.hw.1]
    }

    /// The OIHW weight shape of a convolution.
    pub fn w_shape(&self) -> [usize; 4] {
        [self.spec.groups * self.og, self.ig, self.khw.0, self.khw.1]
    }

    /// The `[I, O/groups, kh, kw]` weight shape of a transposed convolution.
    pub fn wt_shape(&self) -> [usize; 4] {
        [self.spec.groups * self.ig, self.og, self.khw.0, self.khw.1]
    }
}
