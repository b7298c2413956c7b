//! `u64` GEMM micro-kernel on AVX2, which has no 64-bit multiply.
//!
//! With 32-bit halves `x = xl + xh * 2^32`, modulo `2^64`
//! `a * b = al bl + ((al bh + ah bl) << 32)`. `vpmuludq` gives the full 64-bit product
//! `al bl`; the two cross products are only needed modulo `2^32`, and one `vpmulld` of `a`
//! (halves `(al, ah)`) by `b` with its halves swapped (`(bh, bl)`, swapped when packing) gives
//! both at once, one per 32-bit half. The cross sums are accumulated with 32-bit adds (so the
//! halves never carry into each other) and folded and shifted once per tile.

use core::arch::x86_64::*;

use super::driver::{MicroKernel, prefetch_tile};

/// The AVX2 micro-kernel: a 6 x 4 tile, two accumulators per row (12 of 16 registers).
#[derive(Debug)]
pub(crate) struct Avx2;

const MR: usize = 6;
const NR: usize = 4;

impl MicroKernel for Avx2 {
    type Elem = u64;
    type Word = u64;
    const MR: usize = MR;
    const NR: usize = NR;
    const KU: usize = 1;
    const A_UNIT: usize = MR;
    const B_UNIT: usize = 2 * NR;
    const KC: usize = 256;
    const MC: usize = 132;
    const NC: usize = 1024;

    unsafe fn pack_a(a: &[u64], lda: usize, rows: usize, kc: usize, dst: &mut [u64]) {
        super::portable::pack_cols(a, lda, rows, kc, MR, dst);
    }

    /// Per `k` step: the `NR` values, then the same with their 32-bit halves swapped.
    unsafe fn pack_b(b: &[u64], ldb: usize, cols: usize, kc: usize, dst: &mut [u64]) {
        for (p, d) in dst.chunks_exact_mut(2 * NR).take(kc).enumerate() {
            let row = &b[p * ldb..p * ldb + cols];
            for j in 0..NR {
                let x = row.get(j).copied().unwrap_or(0);
                d[j] = x;
                d[NR + j] = x.rotate_left(32);
            }
        }
    }

    unsafe fn tile(
        units: usize,
        a: *const u64,
        b: *const u64,
        c: *mut u64,
        ldc: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded contract; the dispatcher selects this kernel only with AVX2.
        unsafe { tile_avx2(units, a, b, c, ldc, accumulate) }
    }
}

/// # Safety
///
/// See [`MicroKernel::tile`]; needs AVX2.
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2(
    kc: usize,
    a: *const u64,
    b: *const u64,
    c: *mut u64,
    ldc: usize,
    accumulate: bool,
) {
    prefetch_tile(c, ldc, MR, NR);
    let mut lo = [_mm256_setzero_si256(); MR];
    let mut x = [_mm256_setzero_si256(); MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: each step reads `MR` words of `a` and `2 * NR` of `b`, inside the caller's
        // `kc` units.
        unsafe {
            let bv = _mm256_loadu_si256(bp.cast());
            let bs = _mm256_loadu_si256(bp.add(NR).cast());
            for i in 0..MR {
                let ai = _mm256_set1_epi64x(*ap.add(i) as i64);
                lo[i] = _mm256_add_epi64(lo[i], _mm256_mul_epu32(ai, bv));
                x[i] = _mm256_add_epi32(x[i], _mm256_mullo_epi32(ai, bs));
            }
            ap = ap.add(MR);
            bp = bp.add(2 * NR);
        }
    }
    let high = _mm256_set1_epi64x(u64::MAX.wrapping_shl(32) as i64);
    for i in 0..MR {
        // ((L + H) << 32) for the cross halves L (low) and H (high) of each lane.
        let cross = _mm256_add_epi64(_mm256_slli_epi64::<32>(x[i]), _mm256_and_si256(x[i], high));
        let mut r = _mm256_add_epi64(lo[i], cross);
        // SAFETY: row `i` of the caller's `MR x NR` tile.
        unsafe {
            let dst = c.add(i * ldc);
            if accumulate {
                r = _mm256_add_epi64(r, _mm256_loadu_si256(dst.cast()));
            }
            _mm256_storeu_si256(dst.cast(), r);
        }
    }
}
