//! The blocked GEMM loop nest (GotoBLAS/BLIS) over a [`MicroKernel`], on one thread or on the
//! rayon pool.
//!
//! `c = a * b` is cut into column blocks of `NC`, depth blocks of `KC` and row blocks of `MC`.
//! For each (column, depth) block the `KC x NC` slice of `b` is packed once into `NR`-wide
//! panels; for each row block the `MC x KC` slice of `a` is packed into `MR`-tall panels; then
//! the micro-kernel computes every `MR x NR` tile of `c` from one panel of each. A `b` panel is
//! reused against all `a` panels of the row block, so it stays in L1 while the `a` block streams
//! from L2. Panels are zero-padded to full tiles, so the micro-kernels never see a ragged edge;
//! edge tiles of `c` go through a small scratch tile instead.
//!
//! In parallel, `c` is cut along its longer side into independent rectangles that a team of
//! threads (the caller and rayon workers, see `team.rs`) computes, each rectangle with its own
//! packing: no thread waits for another, and each reads only the panels it packed itself (in
//! its own caches). Sharing packed blocks between threads was tried: the rendezvous per block
//! and the panels crossing between cores' caches cost more than the repacking it saves.

use std::ops::Range;

use num_traits::{WrappingAdd, Zero};

use super::buffers::{Slot, with_buffer};
use super::driver::{MicroKernel, Rhs, prefetch};
use super::{Parallelism, team};

/// Products with fewer multiply-accumulates than this (about 0.1 ms of work) stay on the
/// calling thread: below it, helpers cost more than they save.
const PAR_MIN_MACS: usize = 112 * 112 * 112;

/// Largest `MR * NR` of any micro-kernel (the size of the edge-tile scratch).
const MAX_TILE: usize = 512;

/// A raw pointer to `c` that the tasks of a team share: each writes a disjoint rectangle.
#[derive(Clone, Copy)]
struct SyncPtr<T>(*mut T);
// SAFETY: the pointer to `c` is only dereferenced by tasks that own disjoint rectangles of it,
// and `gemm_rhs` holds the `&mut` borrow of `c` until all tasks end.
unsafe impl<T: Send> Send for SyncPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SyncPtr<T> {}

/// The operands every task of one product shares.
struct Operands<'a, K: MicroKernel> {
    /// The left operand, `m x k` row-major.
    a: &'a [K::Elem],
    /// The depth (row stride of `a`).
    k: usize,
    /// The row stride of `c`.
    n: usize,
    /// The product.
    c: SyncPtr<K::Elem>,
}

/// One packed (column, depth) block of `b`.
struct PackedB<'a, K: MicroKernel> {
    /// The panels, `panel_len` words apart.
    panels: &'a [K::Word],
    panel_len: usize,
    /// First column and number of columns of the block.
    jc: usize,
    nc: usize,
    /// First depth step and number of packed units of the block.
    pc: usize,
    units: usize,
}

/// `c = a * b` (row-major `m x k` and `m x n`; `b` is `k x n` from `rhs`) with micro-kernel
/// `K`.
///
/// # Safety
///
/// The CPU supports the instructions `K` is compiled for.
pub(crate) unsafe fn gemm_rhs<K: MicroKernel, S: Rhs<K::Elem>>(
    m: usize,
    k: usize,
    n: usize,
    a: &[K::Elem],
    b: &S,
    c: &mut [K::Elem],
    par: Parallelism,
) {
    assert_eq!(a.len(), m * k, "gemm: a must hold m * k elements");
    assert_eq!(c.len(), m * n, "gemm: c must hold m * n elements");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(K::Elem::zero());
        return;
    }
    let threads = match par {
        Parallelism::Sequential => 1,
        Parallelism::Rayon => rayon::current_num_threads(),
    };
    let ops = Operands::<K> { a, k, n, c: SyncPtr(c.as_mut_ptr()) };
    if threads <= 1 || m.saturating_mul(n).saturating_mul(k) < PAR_MIN_MACS {
        // SAFETY: `c`'s borrow makes the whole of it ours; the CPU supports `K` (caller
        // contract).
        unsafe { region::<K, S>(b, &ops, 0..m, 0..n) };
    } else {
        let tasks = split::<K>(m, n, threads);
        team::run_tasks(threads - 1, tasks.len(), &|i| {
            let (rows, cols) = tasks[i].clone();
            // SAFETY: the rectangles are disjoint and inside `c`.
            unsafe { region::<K, S>(b, &ops, rows, cols) };
        });
    }
}

/// Cuts `c` into rectangles for a team of `threads`: two per thread (so that a thread slowed
/// by other work holds up the rest less), all along the longer side. Each rectangle packs its
/// own blocks of both operands, so the shorter side's operand is packed once per rectangle;
/// cutting the longer side keeps that repacking a small part of the work (at most about
/// `2 * threads / longer side` of it).
fn split<K: MicroKernel>(m: usize, n: usize, threads: usize) -> Vec<(Range<usize>, Range<usize>)> {
    let want = 2 * threads;
    if m <= n {
        let cs = n.div_ceil(want).next_multiple_of(K::NR);
        (0..n).step_by(cs).map(|j| (0..m, j..(j + cs).min(n))).collect()
    } else {
        let rs = m.div_ceil(want).next_multiple_of(K::MR);
        (0..m).step_by(rs).map(|i| (i..(i + rs).min(m), 0..n)).collect()
    }
}

/// Computes the rectangle `rows x cols` of `c` on the calling thread: for each (column, depth)
/// block, pack the block of `b` into this thread's buffer and multiply it in.
///
/// # Safety
///
/// The CPU supports `K`; the rectangle is inside `ops.c` and no one else accesses it
/// meanwhile.
unsafe fn region<K: MicroKernel, S: Rhs<K::Elem>>(
    b: &S,
    ops: &Operands<'_, K>,
    rows: Range<usize>,
    cols: Range<usize>,
) {
    let k = ops.k;
    let units_max = K::KC.min(k).div_ceil(K::KU);
    let b_len = K::NC.min(cols.len()).div_ceil(K::NR) * units_max * K::B_UNIT;
    with_buffer(Slot::B, b_len, |bp: &mut [K::Word]| {
        for jc in cols.clone().step_by(K::NC) {
            let nc = K::NC.min(cols.end - jc);
            let npanels = nc.div_ceil(K::NR);
            for pc in (0..k).step_by(K::KC) {
                let kc = K::KC.min(k - pc);
                let units = kc.div_ceil(K::KU);
                let panel_len = units * K::B_UNIT;
                let packed = &mut bp[..npanels * panel_len];
                // SAFETY: the CPU supports `K` (caller contract).
                unsafe { b.pack_block::<K>(pc, kc, jc, nc, packed, panel_len) };
                let blk = PackedB::<K> { panels: packed, panel_len, jc, nc, pc, units };
                // SAFETY: the caller's rectangle, restricted to this block's columns.
                unsafe { multiply::<K>(ops, &blk, rows.clone(), 0..npanels) };
            }
        }
    });
}

/// Multiplies rows `rows` of `a` (packed here, `MC` rows at a time, into this thread's buffer)
/// by panels `panels` of the packed block of `b`, into `c`.
///
/// # Safety
///
/// The CPU supports `K`; the rectangle of `c` (those rows, the panels' columns) is inside `c`
/// and no one else accesses it meanwhile.
unsafe fn multiply<K: MicroKernel>(
    ops: &Operands<'_, K>,
    blk: &PackedB<'_, K>,
    rows: Range<usize>,
    panels: Range<usize>,
) {
    let (mr, nr, k, n) = (K::MR, K::NR, ops.k, ops.n);
    let kc = (blk.units * K::KU).min(k - blk.pc);
    let a_panel = blk.units * K::A_UNIT;
    let a_len = K::MC.min(rows.len().next_multiple_of(mr)) / mr * a_panel;
    let accumulate = blk.pc > 0;
    with_buffer(Slot::A, a_len, |ap: &mut [K::Word]| {
        for ic in rows.clone().step_by(K::MC) {
            let mc = K::MC.min(rows.end - ic);
            for (ip, dst) in ap.chunks_exact_mut(a_panel).take(mc.div_ceil(mr)).enumerate() {
                let i0 = ic + ip * mr;
                // The next panel's rows, fetched while this one is packed.
                for i in (i0 + mr..i0 + 2 * mr).take_while(|&i| i < ic + mc) {
                    prefetch(&ops.a[i * k + blk.pc..i * k + blk.pc + kc]);
                }
                let src = &ops.a[i0 * k + blk.pc..];
                // SAFETY: the CPU supports `K` (caller contract).
                unsafe { K::pack_a(src, k, mr.min(mc - ip * mr), kc, dst) };
            }
            for jp in panels.clone() {
                let bpp = blk.panels[jp * blk.panel_len..].as_ptr();
                let j0 = blk.jc + jp * nr;
                let ncols = nr.min(blk.nc - jp * nr);
                for ip in 0..mc.div_ceil(mr) {
                    let app = ap[ip * a_panel..].as_ptr();
                    let i0 = ic + ip * mr;
                    let nrows = mr.min(mc - ip * mr);
                    // SAFETY: both panels hold `units` packed units; the tile's top-left
                    // element is inside the caller's rectangle of `c`.
                    unsafe {
                        let ct = ops.c.0.add(i0 * n + j0);
                        if nrows == mr && ncols == nr {
                            K::tile(blk.units, app, bpp, ct, n, accumulate);
                        } else {
                            edge_tile::<K>(blk.units, app, bpp, ct, n, nrows, ncols, accumulate);
                        }
                    }
                }
            }
        }
    });
}

/// A tile that overhangs the edge of `c`: computed whole into scratch, then the part inside
/// `c` is stored.
///
/// # Safety
///
/// As [`MicroKernel::tile`], except that only `rows x cols` of `c` need be valid.
#[allow(clippy::too_many_arguments)]
unsafe fn edge_tile<K: MicroKernel>(
    units: usize,
    a: *const K::Word,
    b: *const K::Word,
    c: *mut K::Elem,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    debug_assert!(K::MR * K::NR <= MAX_TILE);
    let mut tmp = [K::Elem::zero(); MAX_TILE];
    // SAFETY: `tmp` holds `MR x NR <= MAX_TILE` elements at stride `NR`; the rest is the
    // caller's contract.
    unsafe { K::tile(units, a, b, tmp.as_mut_ptr(), K::NR, false) };
    for i in 0..rows {
        for j in 0..cols {
            let v = tmp[i * K::NR + j];
            // SAFETY: `(i, j)` is inside the valid `rows x cols` part of the tile.
            unsafe {
                let dst = c.add(i * ldc + j);
                *dst = if accumulate { (*dst).wrapping_add(&v) } else { v };
            }
        }
    }
}
