//! `u64` GEMM micro-kernel on AVX-512 IFMA (`vpmadd52luq` / `vpmadd52huq`).
//!
//! IFMA multiplies the low 52 bits of two lanes and adds the low (or high) 52 bits of the
//! 104-bit product to a 64-bit accumulator, in one instruction with the throughput of an add.
//! Split `x = x0 + x1 * 2^52` (`x0` 52 bits, `x1` 12 bits); then modulo `2^64`
//!
//! ```text
//! a * b = lo52(a0 b0) + 2^52 * (hi52(a0 b0) + a0 b1 + a1 b0)
//! ```
//!
//! and the bracket only matters modulo `2^12`, so only the low 12 bits of `a0` and `b0` (call
//! them `a0'`, `b0'`) enter the cross terms. Packing `u = a0' + a1 * 2^40` and
//! `v = b1 * 2^40 + b0'` makes bits 40..52 of `lo52(u v)` equal `a0' b1 + a1 b0'` modulo `2^12`
//! (the `a0' b0'` term stays below bit 24, the `a1 b1` term starts at bit 80). Summed over
//! `kc < 2^16` steps the low terms stay below bit 40, so per tile, with accumulators
//! `L += lo52(a b)`, `H += hi52(a b)` and `X += lo52(u v)`,
//!
//! ```text
//! c = L + ((H + (X >> 40)) << 52)        (mod 2^64)
//! ```
//!
//! Three IFMA instructions per eight products, against `vpmullq` (three uops) plus `vpaddq`
//! for the plain AVX-512 kernel: a third fewer uops on the two vector ports that bound both.
//! IFMA ignores the top 12 bits of its inputs, so `a` and `b` themselves serve as `a0`, `b0`.

use core::arch::x86_64::*;

use super::driver::{MicroKernel, prefetch_tile};

/// The IFMA micro-kernel: a 4 x 16 tile, three accumulators per vector (24 registers).
#[derive(Debug)]
pub(crate) struct Ifma;

const MR: usize = 4;
const NR: usize = 16;
/// Bits 52..64 of a lane (the `x1` limb) and the low 12 bits (`x0'`).
const LOW12: u64 = (1 << 12) - 1;

// The cross-term accumulator is exact only over fewer than 2^16 depth steps per tile.
const _: () = assert!(<Ifma as MicroKernel>::KC < 1 << 16);

/// The cross-term operand of `x`: `x0' + x1 * 2^40` (see the module docs).
#[inline(always)]
fn cross(x: u64) -> u64 {
    (x & LOW12) | ((x >> 52) << 40)
}

impl MicroKernel for Ifma {
    type Elem = u64;
    type Word = u64;
    const MR: usize = MR;
    const NR: usize = NR;
    const KU: usize = 1;
    const A_UNIT: usize = 2 * MR;
    const B_UNIT: usize = 2 * NR;
    const KC: usize = 128;
    const MC: usize = 256;
    const NC: usize = 256;

    /// Per `k` step: the `MR` values of the column, then their cross operands.
    unsafe fn pack_a(a: &[u64], lda: usize, rows: usize, kc: usize, dst: &mut [u64]) {
        // SAFETY: the CPU has AVX-512F, as it runs this kernel (caller contract).
        unsafe { pack_a_avx512(a, lda, rows, kc, dst) }
    }

    /// Per `k` step: the `NR` values of the row, then their cross operands.
    unsafe fn pack_b(b: &[u64], ldb: usize, cols: usize, kc: usize, dst: &mut [u64]) {
        // SAFETY: as in `pack_a`.
        unsafe { pack_b_avx512(b, ldb, cols, kc, dst) }
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
        // AVX-512F and IFMA.
        unsafe { tile_ifma(units, a, b, c, ldc, accumulate) }
    }
}

/// [`MicroKernel::pack_a`], compiled for AVX-512 so that the split vectorises.
#[target_feature(enable = "avx512f")]
fn pack_a_avx512(a: &[u64], lda: usize, rows: usize, kc: usize, dst: &mut [u64]) {
    let row = |i: usize| if i < rows { &a[i * lda..i * lda + kc] } else { &[][..] };
    let r: [&[u64]; MR] = core::array::from_fn(row);
    for (p, d) in dst.chunks_exact_mut(2 * MR).take(kc).enumerate() {
        for i in 0..MR {
            let x = r[i].get(p).copied().unwrap_or(0);
            d[i] = x;
            d[MR + i] = cross(x);
        }
    }
}

/// [`MicroKernel::pack_b`], compiled for AVX-512 so that the split vectorises.
#[target_feature(enable = "avx512f")]
fn pack_b_avx512(b: &[u64], ldb: usize, cols: usize, kc: usize, dst: &mut [u64]) {
    for (p, d) in dst.chunks_exact_mut(2 * NR).take(kc).enumerate() {
        let row = &b[p * ldb..p * ldb + cols];
        if let Ok(row) = <&[u64; NR]>::try_from(row) {
            for j in 0..NR {
                d[j] = row[j];
                d[NR + j] = cross(row[j]);
            }
        } else {
            for j in 0..NR {
                let x = row.get(j).copied().unwrap_or(0);
                d[j] = x;
                d[NR + j] = cross(x);
            }
        }
    }
}

/// # Safety
///
/// See [`MicroKernel::tile`]; needs AVX-512F and AVX-512 IFMA.
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn tile_ifma(
    kc: usize,
    a: *const u64,
    b: *const u64,
    c: *mut u64,
    ldc: usize,
    accumulate: bool,
) {
    prefetch_tile(c, ldc, MR, NR);
    let zero = _mm512_setzero_si512();
    let mut lo = [[zero; 2]; MR];
    let mut hi = [[zero; 2]; MR];
    let mut x = [[zero; 2]; MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: each step reads `2 * MR` words of `a` and `2 * NR` words of `b`, inside the
        // `kc` units the caller guarantees.
        unsafe {
            let b0 = _mm512_loadu_si512(bp.cast());
            let b1 = _mm512_loadu_si512(bp.add(8).cast());
            let v0 = _mm512_loadu_si512(bp.add(16).cast());
            let v1 = _mm512_loadu_si512(bp.add(24).cast());
            for i in 0..MR {
                let ai = _mm512_set1_epi64(*ap.add(i) as i64);
                let ui = _mm512_set1_epi64(*ap.add(MR + i) as i64);
                lo[i][0] = _mm512_madd52lo_epu64(lo[i][0], ai, b0);
                hi[i][0] = _mm512_madd52hi_epu64(hi[i][0], ai, b0);
                x[i][0] = _mm512_madd52lo_epu64(x[i][0], ui, v0);
                lo[i][1] = _mm512_madd52lo_epu64(lo[i][1], ai, b1);
                hi[i][1] = _mm512_madd52hi_epu64(hi[i][1], ai, b1);
                x[i][1] = _mm512_madd52lo_epu64(x[i][1], ui, v1);
            }
            ap = ap.add(2 * MR);
            bp = bp.add(2 * NR);
        }
    }
    for i in 0..MR {
        for j in 0..2 {
            let top = _mm512_add_epi64(hi[i][j], _mm512_srli_epi64::<40>(x[i][j]));
            let mut r = _mm512_add_epi64(lo[i][j], _mm512_slli_epi64::<52>(top));
            // SAFETY: row `i`, lanes `8j..8j+8` of the caller's `MR x NR` tile.
            unsafe {
                let dst = c.add(i * ldc + 8 * j);
                if accumulate {
                    r = _mm512_add_epi64(r, _mm512_loadu_si512(dst.cast()));
                }
                _mm512_storeu_si512(dst.cast(), r);
            }
        }
    }
}
