//! `u32` GEMM micro-kernel on AVX-512 VNNI (`vpdpwssd`).
//!
//! `vpdpwssd` adds, in each 32-bit lane, the two products of the lane's signed 16-bit halves:
//! `acc += x.w0 * y.w0 + x.w1 * y.w1`, wrapping, at the throughput of an add. Split each
//! element into signed 16-bit limbs, `x = xl + xh * 2^16` with `xl` in `[-2^15, 2^15)`; then
//! modulo `2^32`
//!
//! ```text
//! a * b = al bl + ((al bh + ah bl) << 16)
//! ```
//!
//! where `al bl` is exact in 32 bits and the bracket only matters modulo `2^16`. Per pair of
//! `k` steps and 16 lanes, three `vpdpwssd` do it all:
//!
//! - `L += (al_k, al_k+1) . (bl_k, bl_k+1)`: the low products of both steps at once;
//! - `X += (al_k, ah_k) . (bh_k, bl_k)` and the same for step `k + 1`: the cross terms;
//!
//! and the tile is `L + (X << 16)`. That is 32 products in three instructions, where `vpmulld`
//! (two uops) plus `vpaddd` needs six. The limbs are made when packing.

use core::arch::x86_64::*;

use super::driver::{MicroKernel, prefetch_tile};

/// The VNNI micro-kernel: a 6 x 32 tile, two accumulators per vector (24 registers).
#[derive(Debug)]
pub(crate) struct Vnni;

const MR: usize = 6;
const NR: usize = 32;
const NV: usize = NR / 16;

/// The signed 16-bit limbs `(xl, xh)` of `x`, as raw 16-bit patterns.
#[inline(always)]
fn limbs(x: u32) -> (u32, u32) {
    let l = x & 0xffff;
    let h = ((x >> 16) + ((x >> 15) & 1)) & 0xffff;
    (l, h)
}

/// Two 16-bit patterns in one 32-bit lane, `w0` low.
#[inline(always)]
fn pair(w0: u32, w1: u32) -> u32 {
    w0 | (w1 << 16)
}

impl MicroKernel for Vnni {
    type Elem = u32;
    type Word = u32;
    const MR: usize = MR;
    const NR: usize = NR;
    const KU: usize = 2;
    const A_UNIT: usize = 3 * MR;
    const B_UNIT: usize = 3 * NR;
    const KC: usize = 256;
    const MC: usize = 192;
    const NC: usize = 2048;

    /// Per pair of `k` steps: `(al_k, al_k+1)` for the `MR` rows, then `(al_k, ah_k)`, then
    /// `(al_k+1, ah_k+1)`.
    unsafe fn pack_a(a: &[u32], lda: usize, rows: usize, kc: usize, dst: &mut [u32]) {
        // SAFETY: the CPU has AVX-512F, as it runs this kernel (caller contract).
        unsafe { pack_a_avx512(a, lda, rows, kc, dst) }
    }

    /// Per pair of `k` steps: `(bl_k, bl_k+1)` for the `NR` columns, then `(bh_k, bl_k)`, then
    /// `(bh_k+1, bl_k+1)`.
    unsafe fn pack_b(b: &[u32], ldb: usize, cols: usize, kc: usize, dst: &mut [u32]) {
        // SAFETY: as in `pack_a`.
        unsafe { pack_b_avx512(b, ldb, cols, kc, dst) }
    }

    unsafe fn tile(
        units: usize,
        a: *const u32,
        b: *const u32,
        c: *mut u32,
        ldc: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded contract; the dispatcher selects this kernel only where the CPU has
        // AVX-512F and AVX-512 VNNI.
        unsafe { tile_vnni(units, a, b, c, ldc, accumulate) }
    }
}

/// [`MicroKernel::pack_a`], compiled for AVX-512 so that the limb split vectorises.
#[target_feature(enable = "avx512f")]
fn pack_a_avx512(a: &[u32], lda: usize, rows: usize, kc: usize, dst: &mut [u32]) {
    let row = |i: usize| if i < rows { &a[i * lda..i * lda + kc] } else { &[][..] };
    let r: [&[u32]; MR] = core::array::from_fn(row);
    for (u, d) in dst.chunks_exact_mut(3 * MR).take(kc.div_ceil(2)).enumerate() {
        for i in 0..MR {
            let (l0, h0) = limbs(r[i].get(2 * u).copied().unwrap_or(0));
            let (l1, h1) = limbs(r[i].get(2 * u + 1).copied().unwrap_or(0));
            d[i] = pair(l0, l1);
            d[MR + i] = pair(l0, h0);
            d[2 * MR + i] = pair(l1, h1);
        }
    }
}

/// [`MicroKernel::pack_b`], compiled for AVX-512 so that the limb split vectorises.
#[target_feature(enable = "avx512f")]
fn pack_b_avx512(b: &[u32], ldb: usize, cols: usize, kc: usize, dst: &mut [u32]) {
    let zeros = [0u32; NR];
    for (u, d) in dst.chunks_exact_mut(3 * NR).take(kc.div_ceil(2)).enumerate() {
        let r0 = &b[2 * u * ldb..2 * u * ldb + cols];
        let r1 = if 2 * u + 1 < kc { &b[(2 * u + 1) * ldb..(2 * u + 1) * ldb + cols] } else { &[] };
        if let (Ok(r0), Ok(r1)) = (<&[u32; NR]>::try_from(r0), <&[u32; NR]>::try_from(r1)) {
            pack_b_step(r0, r1, d);
        } else {
            let (mut f0, mut f1) = (zeros, zeros);
            f0[..r0.len()].copy_from_slice(r0);
            f1[..r1.len()].copy_from_slice(r1);
            pack_b_step(&f0, &f1, d);
        }
    }
}

/// One unit of a `b` panel from rows `k` and `k + 1`.
#[inline(always)]
fn pack_b_step(r0: &[u32; NR], r1: &[u32; NR], d: &mut [u32]) {
    for j in 0..NR {
        let (l0, h0) = limbs(r0[j]);
        let (l1, h1) = limbs(r1[j]);
        d[j] = pair(l0, l1);
        d[NR + j] = pair(h0, l0);
        d[2 * NR + j] = pair(h1, l1);
    }
}

/// # Safety
///
/// See [`MicroKernel::tile`]; needs AVX-512F and AVX-512 VNNI.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn tile_vnni(
    units: usize,
    a: *const u32,
    b: *const u32,
    c: *mut u32,
    ldc: usize,
    accumulate: bool,
) {
    prefetch_tile(c, ldc, MR, NR);
    let zero = _mm512_setzero_si512();
    let mut lo = [[zero; NV]; MR];
    let mut x = [[zero; NV]; MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..units {
        // SAFETY: each unit reads `3 * MR` words of `a` and `3 * NR` of `b`, inside the
        // caller's `units`.
        unsafe {
            let mut e = [[zero; NV]; 3];
            for (t, ev) in e.iter_mut().enumerate() {
                for (j, v) in ev.iter_mut().enumerate() {
                    *v = _mm512_loadu_si512(bp.add(t * NR + 16 * j).cast());
                }
            }
            for i in 0..MR {
                let d0 = _mm512_set1_epi32(*ap.add(i) as i32);
                let d1 = _mm512_set1_epi32(*ap.add(MR + i) as i32);
                let d2 = _mm512_set1_epi32(*ap.add(2 * MR + i) as i32);
                for j in 0..NV {
                    lo[i][j] = _mm512_dpwssd_epi32(lo[i][j], d0, e[0][j]);
                    x[i][j] = _mm512_dpwssd_epi32(x[i][j], d1, e[1][j]);
                    x[i][j] = _mm512_dpwssd_epi32(x[i][j], d2, e[2][j]);
                }
            }
            ap = ap.add(3 * MR);
            bp = bp.add(3 * NR);
        }
    }
    for i in 0..MR {
        for j in 0..NV {
            let mut r = _mm512_add_epi32(lo[i][j], _mm512_slli_epi32::<16>(x[i][j]));
            // SAFETY: row `i`, lanes `16j..16j+16` of the caller's `MR x NR` tile.
            unsafe {
                let dst = c.add(i * ldc + 16 * j);
                if accumulate {
                    r = _mm512_add_epi32(r, _mm512_loadu_si512(dst.cast()));
                }
                _mm512_storeu_si512(dst.cast(), r);
            }
        }
    }
}
