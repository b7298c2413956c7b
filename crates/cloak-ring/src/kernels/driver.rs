//! The seams of the blocked GEMM: the [`MicroKernel`] trait that each instruction set
//! implements, the [`Rhs`] trait through which the right operand is packed (a dense matrix
//! here, a virtual im2col matrix in `im2col.rs`), and the prefetch hints the packing and the
//! kernels share. The loop nest that drives them is in `blocking.rs`.

use super::buffers::PackWord;
use crate::RingElement;

/// A register-tiled micro-kernel and the packed operand layout it reads.
///
/// A packed `a` panel holds, for each unit of `KU` consecutive `k` steps, `A_UNIT` words
/// covering the panel's `MR` rows; a packed `b` panel holds `B_UNIT` words per unit covering its
/// `NR` columns. What the words are (plain values, pre-split limbs, ...) is the kernel's
/// business: the driver only sizes and places the panels.
pub(crate) trait MicroKernel {
    /// The ring element of the product.
    type Elem: RingElement;
    /// The word packed panels are made of.
    type Word: PackWord;
    /// Rows of a register tile.
    const MR: usize;
    /// Columns of a register tile.
    const NR: usize;
    /// `k` steps consumed together; a depth block is zero-padded to a multiple of it.
    const KU: usize;
    /// Words per unit of a packed `a` panel.
    const A_UNIT: usize;
    /// Words per unit of a packed `b` panel.
    const B_UNIT: usize;
    /// Depth block: a `b` panel (`KC / KU * B_UNIT` words) should fit in L1.
    const KC: usize;
    /// Row block (multiple of `MR`): the packed `a` block should fit in L2.
    const MC: usize;
    /// Column block (multiple of `NR`): the packed `b` block lives in L2/L3.
    const NC: usize;

    /// Packs rows `0..rows` (`rows <= MR`) and columns `0..kc` of the row-major matrix `a` (row
    /// stride `lda`) into `dst` (`kc.div_ceil(KU) * A_UNIT` words), zero-padding missing rows
    /// and `k` steps.
    ///
    /// # Safety
    ///
    /// The CPU supports the instructions the kernel is compiled for (packing may use them).
    unsafe fn pack_a(a: &[Self::Elem], lda: usize, rows: usize, kc: usize, dst: &mut [Self::Word]);

    /// Packs rows `0..kc` and columns `0..cols` (`cols <= NR`) of the row-major matrix `b` (row
    /// stride `ldb`) into `dst` (`kc.div_ceil(KU) * B_UNIT` words), zero-padding missing
    /// columns and `k` steps.
    ///
    /// # Safety
    ///
    /// As [`MicroKernel::pack_a`].
    unsafe fn pack_b(b: &[Self::Elem], ldb: usize, cols: usize, kc: usize, dst: &mut [Self::Word]);

    /// Computes the `MR x NR` tile `a_panel * b_panel` over `units` packed units and stores it
    /// to `c` (row stride `ldc`), adding it to what is there if `accumulate`.
    ///
    /// # Safety
    ///
    /// The CPU supports the instructions the kernel is compiled for; `a` and `b` are valid for
    /// reading `units * A_UNIT` and `units * B_UNIT` words; `c` is valid for reading and writing
    /// `MR` rows of `NR` elements at stride `ldc`, and nothing else accesses them meanwhile.
    unsafe fn tile(
        units: usize,
        a: *const Self::Word,
        b: *const Self::Word,
        c: *mut Self::Elem,
        ldc: usize,
        accumulate: bool,
    );
}

/// Asks for the cache lines of `s` to be brought into L1: packing reads rows of the operands
/// far apart in memory, which the hardware prefetchers do not anticipate.
#[inline(always)]
pub(crate) fn prefetch<T>(s: &[T]) {
    prefetch_bytes(s.as_ptr().cast(), size_of_val(s));
}

/// Asks for the `rows x cols` tile of `c` (row stride `ldc`) to be brought into L1. A
/// micro-kernel touches its tile of `c` only after its loop, and rows of `c` are far apart, so
/// without this each tile would end on a string of cache misses.
#[inline(always)]
pub(crate) fn prefetch_tile<T>(c: *const T, ldc: usize, rows: usize, cols: usize) {
    for i in 0..rows {
        prefetch_bytes(c.wrapping_add(i * ldc).cast(), cols * size_of::<T>());
    }
}

/// Prefetches every cache line of `bytes` bytes from `start` (any address: a prefetch never
/// faults).
#[inline(always)]
fn prefetch_bytes(start: *const i8, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint that never faults, and SSE is part of the x86_64
        // baseline.
        unsafe {
            for off in (0..bytes).step_by(64) {
                _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(off));
            }
            if bytes > 0 {
                _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(bytes - 1));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, bytes);
}

/// Where the right operand of a product comes from.
///
/// Usually a dense row-major matrix ([`Dense`]); convolutions pass a virtual im2col matrix
/// instead, gathered straight from the image while packing so that the (much larger) im2col
/// matrix is never written out.
pub(crate) trait Rhs<T>: Sync {
    /// Packs rows `k0..k0 + kc` and columns `j0..j0 + nc` of the `k x n` operand as `NR`-wide
    /// panels with [`MicroKernel::pack_b`]: panel `p` (columns `j0 + p * NR ..`) goes to
    /// `dst[p * panel_len..]`.
    ///
    /// # Safety
    ///
    /// The CPU supports the instructions `K` is compiled for.
    unsafe fn pack_block<K: MicroKernel<Elem = T>>(
        &self,
        k0: usize,
        kc: usize,
        j0: usize,
        nc: usize,
        dst: &mut [K::Word],
        panel_len: usize,
    );
}

/// A dense row-major right operand with row stride `ld`.
#[derive(Debug)]
pub(crate) struct Dense<'a, T> {
    /// The matrix.
    pub b: &'a [T],
    /// Its row stride.
    pub ld: usize,
}

/// Rows of `b` packed per sweep across a block's panels: a multiple of every kernel's `KU`.
/// Sweeping a few rows across all panels reads `b` along its rows (a handful of sequential
/// streams the prefetcher follows) instead of down its columns (a cache miss per row).
pub(crate) const SWEEP_ROWS: usize = 8;

impl<T: RingElement> Rhs<T> for Dense<'_, T> {
    unsafe fn pack_block<K: MicroKernel<Elem = T>>(
        &self,
        k0: usize,
        kc: usize,
        j0: usize,
        nc: usize,
        dst: &mut [K::Word],
        panel_len: usize,
    ) {
        for r0 in (0..kc).step_by(SWEEP_ROWS) {
            let g = SWEEP_ROWS.min(kc - r0);
            let at = r0 / K::KU * K::B_UNIT;
            let rows = &self.b[(k0 + r0) * self.ld + j0..];
            // The next sweep's rows, fetched a whole sweep ahead of their use.
            let ahead = r0 + g..(r0 + g + SWEEP_ROWS).min(kc);
            for (p, d) in dst.chunks_exact_mut(panel_len).take(nc.div_ceil(K::NR)).enumerate() {
                let j = p * K::NR;
                let cols = K::NR.min(nc - j);
                for r in ahead.clone() {
                    let row = (k0 + r) * self.ld + j0 + j;
                    prefetch(&self.b[row..row + cols]);
                }
                // SAFETY: the CPU supports `K` (caller contract).
                unsafe { K::pack_b(&rows[j..], self.ld, cols, g, &mut d[at..]) };
            }
        }
    }
}
