//! `u32` GEMM micro-kernel on AVX-512F: `vpmulld` (low 32 bits of 16 products) plus
//! `vpaddd`. Used where the CPU has AVX-512 but not VNNI (see `u32_vnni.rs`).

use core::arch::x86_64::*;

use super::driver::{MicroKernel, prefetch_tile};

/// The `vpmulld` micro-kernel: a 12 x 32 tile (24 accumulators, two `b` vectors).
#[derive(Debug)]
pub(crate) struct Avx512U32;

const MR: usize = 12;
const NR: usize = 32;

impl MicroKernel for Avx512U32 {
    type Elem = u32;
    type Word = u32;
    const MR: usize = MR;
    const NR: usize = NR;
    const KU: usize = 1;
    const A_UNIT: usize = MR;
    const B_UNIT: usize = NR;
    const KC: usize = 256;
    const MC: usize = 192;
    const NC: usize = 2048;

    unsafe fn pack_a(a: &[u32], lda: usize, rows: usize, kc: usize, dst: &mut [u32]) {
        super::portable::pack_cols(a, lda, rows, kc, MR, dst);
    }

    unsafe fn pack_b(b: &[u32], ldb: usize, cols: usize, kc: usize, dst: &mut [u32]) {
        super::portable::pack_rows(b, ldb, cols, kc, NR, dst);
    }

    unsafe fn tile(
        units: usize,
        a: *const u32,
        b: *const u32,
        c: *mut u32,
        ldc: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded contract; the dispatcher selects this kernel only with AVX-512F.
        unsafe { tile_avx512_u32(units, a, b, c, ldc, accumulate) }
    }
}

/// # Safety
///
/// See [`MicroKernel::tile`]; needs AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512_u32(
    kc: usize,
    a: *const u32,
    b: *const u32,
    c: *mut u32,
    ldc: usize,
    accumulate: bool,
) {
    prefetch_tile(c, ldc, MR, NR);
    let mut acc = [[_mm512_setzero_si512(); 2]; MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: each step reads `MR` words of `a` and `NR` of `b`, inside the caller's `kc`.
        unsafe {
            let b0 = _mm512_loadu_si512(bp.cast());
            let b1 = _mm512_loadu_si512(bp.add(16).cast());
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_epi32(*ap.add(i) as i32);
                row[0] = _mm512_add_epi32(row[0], _mm512_mullo_epi32(ai, b0));
                row[1] = _mm512_add_epi32(row[1], _mm512_mullo_epi32(ai, b1));
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, &r) in row.iter().enumerate() {
            // SAFETY: row `i`, lanes `16j..16j+16` of the caller's `MR x NR` tile.
            unsafe {
                let dst = c.add(i * ldc + 16 * j);
                let v = if accumulate {
                    _mm512_add_epi32(r, _mm512_loadu_si512(dst.cast()))
                } else {
                    r
                };
                _mm512_storeu_si512(dst.cast(), v);
            }
        }
    }
}
