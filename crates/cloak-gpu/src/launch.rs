//! What crosses from the host to a kernel: argument structs, operation codes, grid sizes.
//!
//! Kernels take shapes and strides as small structs passed by value (no device allocation
//! per launch). Each struct here is `#[repr(C)]` with only `u64` fields, the same fields in
//! the same order as its twin in `kernels/*.cu`, so the two layouts agree without padding
//! rules; a unit test in `kernels.rs` compares the field counts.

use cloak_ring::RingError;
use cloak_ring::device::{BinaryOp, UnaryOp};
use cudarc::driver::{DeviceRepr, LaunchConfig};

/// The largest rank of a strided operation (`MAX_RANK` in `elementwise.cu`). Higher ranks
/// are refused with [`RingError::InvalidShape`].
pub const MAX_RANK: usize = 8;

/// Threads per block of the elementwise kernels.
const THREADS: u32 = 256;

/// Blocks of a grid-stride launch at most: enough to fill any current GPU many times over.
const MAX_BLOCKS: u64 = 1 << 16;

/// A row-major index space read through two strided operands (`Indexing` in
/// `elementwise.cu`): element `i` reads `offset_a + sum_d c_d * sa[d]` and
/// `offset_b + sum_d c_d * sb[d]`, `c` being `i`'s coordinates in `shape`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Indexing {
    /// Axes in use (at most [`MAX_RANK`]).
    pub rank: u64,
    /// Elements of the index space.
    pub n: u64,
    /// First position in operand a.
    pub offset_a: u64,
    /// First position in operand b.
    pub offset_b: u64,
    /// Extent of each axis.
    pub shape: [u64; MAX_RANK],
    /// Strides of operand a.
    pub sa: [u64; MAX_RANK],
    /// Strides of operand b.
    pub sb: [u64; MAX_RANK],
}

// SAFETY: `#[repr(C)]`, plain `u64`s; the kernels declare the same struct.
unsafe impl DeviceRepr for Indexing {}

impl Indexing {
    /// An index space of `shape` read through strides `sa` and `sb` from offsets.
    ///
    /// # Errors
    /// [`RingError::InvalidShape`] for a rank above [`MAX_RANK`].
    pub fn new(
        op: &'static str,
        shape: &[usize],
        (offset_a, sa): (usize, &[usize]),
        (offset_b, sb): (usize, &[usize]),
    ) -> Result<Self, RingError> {
        if shape.len() > MAX_RANK {
            return Err(RingError::InvalidShape {
                op,
                shape: shape.to_vec(),
                reason: format!("the CUDA device handles at most {MAX_RANK} axes"),
            });
        }
        let mut p = Indexing {
            rank: shape.len() as u64,
            n: shape.iter().product::<usize>() as u64,
            offset_a: offset_a as u64,
            offset_b: offset_b as u64,
            ..Indexing::default()
        };
        for (d, &extent) in shape.iter().enumerate() {
            p.shape[d] = extent as u64;
            p.sa[d] = sa.get(d).copied().unwrap_or(0) as u64;
            p.sb[d] = sb.get(d).copied().unwrap_or(0) as u64;
        }
        Ok(p)
    }
}

/// The arguments of `gemm_u64` (`GemmArgs` in `gemm.cu`); see [`crate::gemm`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GemmArgs {
    /// Rows of A and C.
    pub m: u64,
    /// Columns of B and C.
    pub n: u64,
    /// Columns of A, rows of B.
    pub k: u64,
    /// A's row stride.
    pub a_rs: u64,
    /// A's column stride.
    pub a_cs: u64,
    /// B's row stride.
    pub b_rs: u64,
    /// B's column stride.
    pub b_cs: u64,
    /// C's row stride (its column stride is 1).
    pub c_rs: u64,
    /// The batch index z splits as `z / batch_inner`, `z % batch_inner`.
    pub batch_inner: u64,
    /// A's offset per outer batch step.
    pub a_s1: u64,
    /// A's offset per inner batch step.
    pub a_s2: u64,
    /// B's offset per outer batch step.
    pub b_s1: u64,
    /// B's offset per inner batch step.
    pub b_s2: u64,
    /// C's offset per outer batch step.
    pub c_s1: u64,
    /// C's offset per inner batch step.
    pub c_s2: u64,
    /// Tiles across C's columns (the block index splits into tile row and column).
    pub tiles_n: u64,
    /// The batch index of this launch's first z block.
    pub z_base: u64,
    /// Non-zero: add the product to C instead of replacing C.
    pub accumulate: u64,
}

// SAFETY: `#[repr(C)]`, plain `u64`s; the kernel declares the same struct.
unsafe impl DeviceRepr for GemmArgs {}

/// The geometry of an im2col / col2im launch (`ConvGeometry` in `conv.cu`); see
/// [`crate::conv`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Images.
    pub images: u64,
    /// Channel groups.
    pub groups: u64,
    /// Input channels per group.
    pub channels: u64,
    /// Input height.
    pub h: u64,
    /// Input width.
    pub w: u64,
    /// Kernel height.
    pub kh: u64,
    /// Kernel width.
    pub kw: u64,
    /// Stride in height.
    pub sh: u64,
    /// Stride in width.
    pub sw: u64,
    /// Padding in height.
    pub ph: u64,
    /// Padding in width.
    pub pw: u64,
    /// Dilation in height.
    pub dh: u64,
    /// Dilation in width.
    pub dw: u64,
    /// Output height.
    pub oh: u64,
    /// Output width.
    pub ow: u64,
    /// im2col offset per image.
    pub s_n: u64,
    /// im2col offset per group.
    pub s_g: u64,
    /// im2col offset per row.
    pub s_r: u64,
}

// SAFETY: `#[repr(C)]`, plain `u64`s; the kernels declare the same struct.
unsafe impl DeviceRepr for ConvGeometry {}

/// The arguments of `limb_split_u64` and `limb_combine_u64` (`LimbArgs` in `limbs.cu`); see
/// [`crate::limbs`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimbArgs {
    /// Elements to split or combine.
    pub n: u64,
    /// Distance between consecutive planes, in doubles.
    pub plane: u64,
    /// Non-zero: add the combined product to the output instead of replacing it.
    pub accumulate: u64,
}

// SAFETY: `#[repr(C)]` plain old data, matching `LimbArgs` in `limbs.cu`.
unsafe impl DeviceRepr for LimbArgs {}

/// The code of a binary operation in `elementwise.cu` (`OP_*`).
pub fn binary_code(op: BinaryOp) -> u32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Xor => 3,
        BinaryOp::And => 4,
        BinaryOp::Or => 5,
    }
}

/// The code and constant of a unary operation in `elementwise.cu` (`UOP_*`).
///
/// # Errors
/// [`RingError::InvalidArgument`] for a shift of 64 bits or more (undefined in CUDA C; the
/// tensor layer refuses them first).
pub fn unary_code(op: UnaryOp<u64>) -> Result<(u32, u64), RingError> {
    let shift = |bits: u32| {
        if bits < 64 {
            Ok(u64::from(bits))
        } else {
            Err(RingError::InvalidArgument {
                op: "shift",
                reason: format!("shift by {bits} bits in a 64-bit ring"),
            })
        }
    };
    Ok(match op {
        UnaryOp::Neg => (0, 0),
        UnaryOp::Not => (1, 0),
        UnaryOp::AddScalar(s) => (2, s),
        UnaryOp::SubScalar(s) => (3, s),
        UnaryOp::MulScalar(s) => (4, s),
        UnaryOp::AndScalar(s) => (5, s),
        UnaryOp::XorScalar(s) => (6, s),
        UnaryOp::ShrArithmetic(b) => (7, shift(b)?),
        UnaryOp::ShrLogical(b) => (8, shift(b)?),
        UnaryOp::Shl(b) => (9, shift(b)?),
    })
}

/// A grid-stride launch over `n` elements (`n > 0`): 256 threads a block, as many blocks as
/// elements need up to a cap (the kernels loop over the rest).
pub fn elementwise_config(n: usize) -> LaunchConfig {
    let blocks = (n as u64).div_ceil(u64::from(THREADS)).clamp(1, MAX_BLOCKS);
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The limb pairs `(i, j)` with `i + j < 4` of the FP64-limb matmul, in the order of the
/// product planes (`limb_combine_u64` walks them in this order): part of that kernel's
/// launch contract, like [`LimbArgs`].
pub(crate) const PAIRS: [(u32, u32); 10] =
    [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (3, 0)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_structs_are_plain_u64_arrays() {
        assert_eq!(std::mem::size_of::<Indexing>(), (4 + 3 * MAX_RANK) * 8);
        assert_eq!(std::mem::size_of::<GemmArgs>(), 18 * 8);
        assert_eq!(std::mem::size_of::<ConvGeometry>(), 18 * 8);
    }

    #[test]
    fn ranks_above_the_limit_are_refused() {
        let shape = vec![1; MAX_RANK + 1];
        assert!(matches!(
            Indexing::new("t", &shape, (0, &[]), (0, &[])),
            Err(RingError::InvalidShape { .. })
        ));
        let p = Indexing::new("t", &[2, 3], (1, &[3, 1]), (0, &[0, 1])).unwrap();
        assert_eq!((p.rank, p.n, p.offset_a), (2, 6, 1));
        assert_eq!(
            (&p.shape[..2], &p.sa[..2], &p.sb[..2]),
            (&[2, 3][..], &[3, 1][..], &[0, 1][..])
        );
    }

    #[test]
    fn shifts_of_the_ring_width_are_refused() {
        assert_eq!(unary_code(UnaryOp::ShrArithmetic(63)).unwrap(), (7, 63));
        assert!(unary_code(UnaryOp::Shl(64)).is_err());
        assert_eq!(unary_code(UnaryOp::MulScalar(5)).unwrap(), (4, 5));
    }

    #[test]
    fn launches_cover_every_element_with_capped_grids() {
        assert_eq!(elementwise_config(1).grid_dim.0, 1);
        assert_eq!(elementwise_config(257).grid_dim.0, 2);
        assert_eq!(elementwise_config(usize::MAX / 2).grid_dim.0 as u64, MAX_BLOCKS);
    }
}
