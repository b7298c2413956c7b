//! The portable micro-kernel (plain wrapping arithmetic the compiler may vectorise) and the
//! plain packing routines that several kernels share.
//!
//! The same generic tile body is compiled twice: for the baseline target ([`Portable`], any
//! CPU) and with AVX2 enabled ([`Avx2U32`], where `vpmulld` makes the `u32` product one
//! instruction; for `u64` AVX2 has no such instruction and `u64_avx2.rs` does better by hand).

use core::marker::PhantomData;

use super::buffers::PackWord;
use super::driver::MicroKernel;
use crate::RingElement;

/// Packs an `MR`-row panel column by column: per `k` step, the `MR` values of rows `0..rows`,
/// then zeros.
pub(crate) fn pack_cols<T: Copy + Default>(
    a: &[T],
    lda: usize,
    rows: usize,
    kc: usize,
    mr: usize,
    dst: &mut [T],
) {
    if rows == mr {
        for (p, d) in dst.chunks_exact_mut(mr).take(kc).enumerate() {
            for (i, x) in d.iter_mut().enumerate() {
                *x = a[i * lda + p];
            }
        }
    } else {
        for (p, d) in dst.chunks_exact_mut(mr).take(kc).enumerate() {
            for (i, x) in d.iter_mut().enumerate() {
                *x = if i < rows { a[i * lda + p] } else { T::default() };
            }
        }
    }
}

/// Packs an `NR`-column panel row by row: per `k` step, the `NR` values of columns `0..cols`,
/// then zeros.
pub(crate) fn pack_rows<T: Copy + Default>(
    b: &[T],
    ldb: usize,
    cols: usize,
    kc: usize,
    nr: usize,
    dst: &mut [T],
) {
    for (p, d) in dst.chunks_exact_mut(nr).take(kc).enumerate() {
        let row = &b[p * ldb..p * ldb + cols];
        if cols == nr {
            d.copy_from_slice(row);
        } else {
            for (j, x) in d.iter_mut().enumerate() {
                *x = row.get(j).copied().unwrap_or_default();
            }
        }
    }
}

/// The tile computation shared by the portable and AVX2 instances.
///
/// # Safety
///
/// As [`MicroKernel::tile`] for an `MR x NR` tile with plainly packed panels.
#[inline(always)]
unsafe fn tile_body<T: RingElement, const MR: usize, const NR: usize>(
    kc: usize,
    a: *const T,
    b: *const T,
    c: *mut T,
    ldc: usize,
    accumulate: bool,
) {
    // SAFETY: the caller guarantees `kc * MR` and `kc * NR` readable words.
    let (a, b) =
        unsafe { (std::slice::from_raw_parts(a, kc * MR), std::slice::from_raw_parts(b, kc * NR)) };
    let mut acc = [[T::zero(); NR]; MR];
    for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (row, &ai) in acc.iter_mut().zip(ak) {
            for (r, &bj) in row.iter_mut().zip(bk) {
                *r = r.wrapping_add(&ai.wrapping_mul(&bj));
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            // SAFETY: `(i, j)` is inside the caller's `MR x NR` tile.
            unsafe {
                let dst = c.add(i * ldc + j);
                *dst = if accumulate { (*dst).wrapping_add(&v) } else { v };
            }
        }
    }
}

/// The portable micro-kernel: a 4 x 8 tile of plain wrapping arithmetic, for any element.
#[derive(Debug)]
pub(crate) struct Portable<T>(PhantomData<T>);

impl<T: RingElement + PackWord> MicroKernel for Portable<T> {
    type Elem = T;
    type Word = T;
    const MR: usize = 4;
    const NR: usize = 8;
    const KU: usize = 1;
    const A_UNIT: usize = 4;
    const B_UNIT: usize = 8;
    const KC: usize = 256;
    const MC: usize = 128;
    const NC: usize = 1024;

    unsafe fn pack_a(a: &[T], lda: usize, rows: usize, kc: usize, dst: &mut [T]) {
        pack_cols(a, lda, rows, kc, Self::MR, dst);
    }

    unsafe fn pack_b(b: &[T], ldb: usize, cols: usize, kc: usize, dst: &mut [T]) {
        pack_rows(b, ldb, cols, kc, Self::NR, dst);
    }

    unsafe fn tile(
        units: usize,
        a: *const T,
        b: *const T,
        c: *mut T,
        ldc: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded contract; plain Rust needs no CPU feature.
        unsafe { tile_body::<T, 4, 8>(units, a, b, c, ldc, accumulate) }
    }
}

/// The portable `u32` tile compiled with AVX2: a 6 x 16 tile, `vpmulld` plus `vpaddd`.
#[cfg(target_arch = "x86_64")]
#[derive(Debug)]
pub(crate) struct Avx2U32;

#[cfg(target_arch = "x86_64")]
impl MicroKernel for Avx2U32 {
    type Elem = u32;
    type Word = u32;
    const MR: usize = 6;
    const NR: usize = 16;
    const KU: usize = 1;
    const A_UNIT: usize = 6;
    const B_UNIT: usize = 16;
    const KC: usize = 256;
    const MC: usize = 132;
    const NC: usize = 1024;

    unsafe fn pack_a(a: &[u32], lda: usize, rows: usize, kc: usize, dst: &mut [u32]) {
        pack_cols(a, lda, rows, kc, Self::MR, dst);
    }

    unsafe fn pack_b(b: &[u32], ldb: usize, cols: usize, kc: usize, dst: &mut [u32]) {
        pack_rows(b, ldb, cols, kc, Self::NR, dst);
    }

    unsafe fn tile(
        units: usize,
        a: *const u32,
        b: *const u32,
        c: *mut u32,
        ldc: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded contract; the dispatcher selects this kernel only with AVX2.
        unsafe { tile_avx2_u32(units, a, b, c, ldc, accumulate) }
    }
}

/// # Safety
///
/// See [`MicroKernel::tile`]; needs AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2_u32(
    kc: usize,
    a: *const u32,
    b: *const u32,
    c: *mut u32,
    ldc: usize,
    accumulate: bool,
) {
    // SAFETY: forwarded contract.
    unsafe { tile_body::<u32, 6, 16>(kc, a, b, c, ldc, accumulate) }
}
