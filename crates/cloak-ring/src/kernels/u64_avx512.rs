//! `u64` GEMM micro-kernel on AVX-512DQ: `vpmullq` (the low 64 bits of 64 x 64-bit products,
//! eight lanes) plus `vpaddq`.
//!
//! `vpmullq` is three uops on the two 512-bit ports, so a multiply-accumulate of eight lanes
//! costs about two cycles whatever the tile; the tile only has to keep the ports busy and the
//! loads few. An 8 x 24 tile uses 24 accumulators, three `b` vectors and broadcasts of `a`
//! straight from memory.

use core::arch::x86_64::*;

use super::driver::{MicroKernel, prefetch_tile};

/// The `vpmullq` micro-kernel: an 8 x 24 tile.
#[derive(Debug)]
pub(crate) struct Avx512;

const MR: usize = 8;
const NR: usize = 24;

impl MicroKernel for Avx512 {
    type Elem = u64;
    type Word = u64;
    const MR: usize = MR;
    const NR: usize = NR;
    const KU: usize = 1;
    const A_UNIT: usize = MR;
    const B_UNIT: usize = NR;
    const KC: usize = 192;
    const MC: usize = 192;
    const NC: usize = 1032;

    unsafe fn pack_a(a: &[u64], lda: usize, rows: usize, kc: usize, dst: &mut [u64]) {
        super::portable::pack_cols(a, lda, rows, kc, MR, dst);
    }

    unsafe fn pack_b(b: &[u64], ldb: usize, cols: usize, kc: usize, dst: &mut [u64]) {
        super::portable::pack_rows(b, ldb, cols, kc, NR, dst);
    }

    unsafe fn tile(
        units: usize,
        a: *const u64,
        b: *const u64,
        c: *mut u64,
        ldc: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded contract; the dispatcher selects this kernel only where the CPU has
        // AVX-512F and AVX-512DQ.
        unsafe { tile_avx512(units, a, b, c, ldc, accumulate) }
    }
}

/// # Safety
///
/// See [`MicroKernel::tile`]; needs AVX-512F and AVX-512DQ.
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn tile_avx512(
    kc: usize,
    a: *const u64,
    b: *const u64,
    c: *mut u64,
    ldc: usize,
    accumulate: bool,
) {
    prefetch_tile(c, ldc, MR, NR);
    let mut acc = [[_mm512_setzero_si512(); NR / 8]; MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: each step reads `MR` words of `a` and `NR` of `b`, inside the caller's `kc`.
        unsafe {
            let bv = [
                _mm512_loadu_si512(bp.cast()),
                _mm512_loadu_si512(bp.add(8).cast()),
                _mm512_loadu_si512(bp.add(16).cast()),
            ];
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_epi64(*ap.add(i) as i64);
                for (r, &bj) in row.iter_mut().zip(&bv) {
                    *r = _mm512_add_epi64(*r, _mm512_mullo_epi64(ai, bj));
                }
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, &r) in row.iter().enumerate() {
            // SAFETY: row `i`, lanes `8j..8j+8` of the caller's `MR x NR` tile.
            unsafe {
                let dst = c.add(i * ldc + 8 * j);
                let v = if accumulate {
                    _mm512_add_epi64(r, _mm512_loadu_si512(dst.cast()))
                } else {
                    r
                };
                _mm512_storeu_si512(dst.cast(), v);
            }
        }
    }
}
