//! Products too thin or too small for the blocked kernels: fewer rows than a register tile,
//! at most half a tile of columns, or a handful of products in all (thresholds measured on
//! AVX-512 IFMA, whose tile is 4 x 16).
//!
//! The blocked path packs both operands and computes whole `MR x NR` tiles. For a row vector
//! times a matrix (`m = 1`: a linear layer on one sample) that packs the whole matrix to use
//! each element once and computes four rows for one; for a matrix times a column vector
//! (`n = 1`) it computes sixteen columns for one. Here such products are plain loops that read
//! each operand once, vectorised by the compiler along the long side (compiled for AVX-512 or
//! AVX2 where the CPU has them).

#[cfg(target_arch = "x86_64")]
use super::select::detected;
use crate::RingElement;

/// Products with at most this many multiply-accumulates are computed by plain loops, whatever
/// their shape: below it, packing costs more than the product.
const TINY_MACS: usize = 512;

/// Whether [`gemm`] is the better way to compute an `m x k` by `k x n` product.
pub(crate) fn wanted(m: usize, k: usize, n: usize) -> bool {
    m < 4 || n <= 8 || m.saturating_mul(k).saturating_mul(n) <= TINY_MACS
}

/// `c = a * b` (row-major `m x k`, `k x n`, `m x n`), wrapping.
pub(crate) fn gemm<T: RingElement>(m: usize, k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) {
    assert_eq!(a.len(), m * k, "gemm: a must hold m * k elements");
    assert_eq!(b.len(), k * n, "gemm: b must hold k * n elements");
    assert_eq!(c.len(), m * n, "gemm: c must hold m * n elements");
    #[cfg(target_arch = "x86_64")]
    {
        if detected!("avx512f", "avx512dq") {
            // SAFETY: the CPU has the features `gemm_avx512` is compiled for.
            return unsafe { gemm_avx512(m, k, n, a, b, c) };
        }
        if detected!("avx2") {
            // SAFETY: as above, for AVX2.
            return unsafe { gemm_avx2(m, k, n, a, b, c) };
        }
    }
    body(m, k, n, a, b, c);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn gemm_avx512<T: RingElement>(m: usize, k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) {
    body(m, k, n, a, b, c);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gemm_avx2<T: RingElement>(m: usize, k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) {
    body(m, k, n, a, b, c);
}

/// Rows of `c` as sums of rows of `b` when `c` is at least as wide as it is tall (the vector
/// loops run along the rows of `b`), dot products of rows of `a` with columns of `b`
/// otherwise (along the rows of `a`).
#[inline(always)]
fn body<T: RingElement>(m: usize, k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(T::zero());
        return;
    }
    if n >= m {
        // Each row of `b` is read once, for all (few) rows of `c`.
        c.fill(T::zero());
        for (p, brow) in b.chunks_exact(n).enumerate() {
            for (i, crow) in c.chunks_exact_mut(n).enumerate() {
                let x = a[i * k + p];
                for (r, &y) in crow.iter_mut().zip(brow) {
                    *r = r.wrapping_add(&x.wrapping_mul(&y));
                }
            }
        }
    } else {
        // The (few) columns of `b`, made contiguous.
        let mut bt = vec![T::zero(); n * k];
        for (p, brow) in b.chunks_exact(n).enumerate() {
            for (j, &y) in brow.iter().enumerate() {
                bt[j * k + p] = y;
            }
        }
        for (arow, crow) in a.chunks_exact(k).zip(c.chunks_exact_mut(n)) {
            for (r, bcol) in crow.iter_mut().zip(bt.chunks_exact(k)) {
                *r = arow
                    .iter()
                    .zip(bcol)
                    .fold(T::zero(), |acc, (&x, &y)| acc.wrapping_add(&x.wrapping_mul(&y)));
            }
        }
    }
}
