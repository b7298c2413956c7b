//! The wrapping GEMM on the device: launches of `gemm_u64` (`kernels/gemm.cu`).
//!
//! One description, [`Product`], covers every product the device runs: plain and batched
//! matmuls, and the three products of a convolution (weights times im2col columns, the
//! transposed weights times the output gradient, the output gradient times the transposed
//! columns), which differ only in strides and in how the batch splits into images and
//! channel groups. Before launching, the host computes the furthest element each operand's
//! strides reach and refuses a product that would leave its buffer: the kernel reads and
//! writes without checks.

use cloak_ring::RingError;
use cudarc::driver::{CudaView, CudaViewMut, LaunchConfig, PushKernelArg};

use crate::context::Gpu;
use crate::kernels::Kernel;
use crate::launch::GemmArgs;

type Result<T> = std::result::Result<T, RingError>;

/// Tile edge of the kernel (`BM` and `BN` in `gemm.cu`).
const TILE: usize = 64;
/// Threads per block (`THREADS` in `gemm.cu`).
const THREADS: u32 = 256;
/// Batch entries per launch at most (CUDA's limit on a grid's third dimension).
const MAX_GRID_Z: usize = 65_535;
/// Blocks per launch at most along the first dimension.
const MAX_GRID_X: usize = (1 << 31) - 1;

/// How a matrix operand sits in its buffer: element `(i, j)` of batch entry `(z1, z2)` is at
/// `z1 * s1 + z2 * s2 + i * rs + j * cs`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Step between rows.
    pub rs: usize,
    /// Step between columns.
    pub cs: usize,
    /// Step per outer batch index.
    pub s1: usize,
    /// Step per inner batch index.
    pub s2: usize,
}

impl Layout {
    /// A row-major `rows x cols` matrix, `s1` and `s2` apart in the batch.
    pub(crate) fn row_major(cols: usize, s1: usize, s2: usize) -> Self {
        Self { rs: cols, cs: 1, s1, s2 }
    }

    /// One past the furthest element of a `rows x cols` operand over the batch, or `None`
    /// on overflow; 0 when nothing is read.
    fn reach(&self, rows: usize, cols: usize, outer: usize, inner: usize) -> Option<usize> {
        if rows == 0 || cols == 0 || outer == 0 || inner == 0 {
            return Some(0);
        }
        let last = (outer - 1)
            .checked_mul(self.s1)?
            .checked_add((inner - 1).checked_mul(self.s2)?)?
            .checked_add((rows - 1).checked_mul(self.rs)?)?
            .checked_add((cols - 1).checked_mul(self.cs)?)?;
        last.checked_add(1)
    }
}

/// `C[z] (m x n) = A[z] (m x k) * B[z] (k x n)` (or `+=` with `accumulate`) mod 2^64, for
/// every batch entry `z = (z1, z2)` of `outer x inner`. C's columns are contiguous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Product {
    /// Rows of A and C.
    pub m: usize,
    /// Columns of B and C.
    pub n: usize,
    /// The inner dimension.
    pub k: usize,
    /// Outer batch extent.
    pub outer: usize,
    /// Inner batch extent.
    pub inner: usize,
    /// Where A's elements are.
    pub a: Layout,
    /// Where B's elements are.
    pub b: Layout,
    /// Where C's elements are (`cs` must be 1).
    pub c: Layout,
    /// Add to C instead of replacing it.
    pub accumulate: bool,
}

impl Product {
    /// One (or a batch with equal strides of) row-major product(s) of contiguous matrices.
    pub(crate) fn dense(batch: usize, m: usize, k: usize, n: usize) -> Self {
        Self {
            m,
            n,
            k,
            outer: batch,
            inner: 1,
            a: Layout::row_major(k, m * k, 0),
            b: Layout::row_major(n, k * n, 0),
            c: Layout::row_major(n, m * n, 0),
            accumulate: false,
        }
    }
}

/// Checks that every element the product touches lies inside its operand.
fn check_bounds(p: &Product, a: usize, b: usize, c: usize) -> Result<()> {
    let overflow = || RingError::InvalidArgument {
        op: "gemm",
        reason: format!("{p:?} overflows the address space"),
    };
    let ra = p.a.reach(p.m, p.k, p.outer, p.inner).ok_or_else(overflow)?;
    let rb = p.b.reach(p.k, p.n, p.outer, p.inner).ok_or_else(overflow)?;
    let rc = p.c.reach(p.m, p.n, p.outer, p.inner).ok_or_else(overflow)?;
    if p.c.cs != 1 || ra > a || rb > b || rc > c {
        return Err(RingError::InvalidArgument {
            op: "gemm",
            reason: format!(
                "{p:?} reaches {ra}, {rb}, {rc} elements of operands holding {a}, {b}, {c}"
            ),
        });
    }
    Ok(())
}

/// Runs the product on the device's stream.
pub(crate) fn gemm(
    gpu: &Gpu,
    a: &CudaView<'_, u64>,
    b: &CudaView<'_, u64>,
    c: &mut CudaViewMut<'_, u64>,
    p: &Product,
) -> Result<()> {
    check_bounds(p, a.len(), b.len(), c.len())?;
    let batch = p.outer.checked_mul(p.inner).ok_or_else(|| RingError::InvalidArgument {
        op: "gemm",
        reason: format!("a batch of {} x {} entries", p.outer, p.inner),
    })?;
    if p.m == 0 || p.n == 0 || batch == 0 {
        return Ok(());
    }
    let tiles_n = p.n.div_ceil(TILE);
    let tiles =
        p.m.div_ceil(TILE).checked_mul(tiles_n).filter(|&t| t <= MAX_GRID_X).ok_or_else(|| {
            RingError::InvalidArgument {
                op: "gemm",
                reason: format!("a {} x {} product needs more than 2^31 tiles", p.m, p.n),
            }
        })?;
    let f = gpu.function(Kernel::Gemm)?;
    let mut z_base = 0;
    while z_base < batch {
        let z_len = (batch - z_base).min(MAX_GRID_Z);
        let args = GemmArgs {
            m: p.m as u64,
            n: p.n as u64,
            k: p.k as u64,
            a_rs: p.a.rs as u64,
            a_cs: p.a.cs as u64,
            b_rs: p.b.rs as u64,
            b_cs: p.b.cs as u64,
            c_rs: p.c.rs as u64,
            batch_inner: p.inner as u64,
            a_s1: p.a.s1 as u64,
            a_s2: p.a.s2 as u64,
            b_s1: p.b.s1 as u64,
            b_s2: p.b.s2 as u64,
            c_s1: p.c.s1 as u64,
            c_s2: p.c.s2 as u64,
            tiles_n: tiles_n as u64,
            z_base: z_base as u64,
            accumulate: u64::from(p.accumulate),
        };
        let cfg = LaunchConfig {
            grid_dim: (tiles as u32, 1, z_len as u32),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = gpu.stream().launch_builder(&f);
        launch.arg(a).arg(b).arg(&mut *c).arg(&args);
        // SAFETY: gemm_u64(const u64* a, const u64* b, u64* c, GemmArgs p) with 256 threads a
        // block; check_bounds showed every element the strides reach lies inside a, b and c.
        unsafe { launch.launch(cfg) }.map_err(|e| gpu.err("gemm", e))?;
        z_base += z_len;
    }
    Ok(())
}

/// The kernel's arithmetic, run on the host: tile by tile with zero padding at the edges, as
/// `gemm.cu` does, so that tests check the index calculations of every product without a
/// GPU.
#[cfg(test)]
pub(crate) mod host {
    use super::{Product, TILE};

    pub(crate) fn gemm_on_host(p: &Product, a: &[u64], b: &[u64], c: &mut [u64]) {
        let tiles_n = p.n.div_ceil(TILE);
        let tiles = p.m.div_ceil(TILE) * tiles_n;
        for z in 0..p.outer * p.inner {
            let (z1, z2) = (z / p.inner, z % p.inner);
            let ao = z1 * p.a.s1 + z2 * p.a.s2;
            let bo = z1 * p.b.s1 + z2 * p.b.s2;
            let co = z1 * p.c.s1 + z2 * p.c.s2;
            for t in 0..tiles {
                let (row0, col0) = (t / tiles_n * TILE, t % tiles_n * TILE);
                for ty in 0..16 {
                    for tx in 0..16 {
                        let mut acc = [[0u64; 4]; 4];
                        for k0 in (0..p.k).step_by(16) {
                            for kk in 0..16 {
                                let gk = k0 + kk;
                                for (i, row) in acc.iter_mut().enumerate() {
                                    let r = row0 + ty + 16 * i;
                                    let av = if r < p.m && gk < p.k {
                                        a[ao + r * p.a.rs + gk * p.a.cs]
                                    } else {
                                        0
                                    };
                                    for (j, x) in row.iter_mut().enumerate() {
                                        let cc = col0 + tx + 16 * j;
                                        let bv = if gk < p.k && cc < p.n {
                                            b[bo + gk * p.b.rs + cc * p.b.cs]
                                        } else {
                                            0
                                        };
                                        *x = x.wrapping_add(av.wrapping_mul(bv));
                                    }
                                }
                            }
                        }
                        for (i, row) in acc.iter().enumerate() {
                            for (j, x) in row.iter().enumerate() {
                                let (r, cc) = (row0 + ty + 16 * i, col0 + tx + 16 * j);
                                if r < p.m && cc < p.n {
                                    let out = &mut c[co + r * p.c.rs + cc];
                                    *out = if p.accumulate { out.wrapping_add(*x) } else { *x };
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host::gemm_on_host;
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[u64], b: &[u64]) -> Vec<u64> {
        let mut c = vec![0u64; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .fold(0u64, |s, p| s.wrapping_add(a[i * k + p].wrapping_mul(b[p * n + j])));
            }
        }
        c
    }

    #[test]
    fn the_tiling_computes_the_product_for_edge_sizes_and_transposes() {
        let mut rng = cloak_ring::testing::TestRng::new(9);
        for (m, k, n) in [(1, 1, 1), (65, 17, 63), (3, 0, 5), (70, 33, 129)] {
            let a = rng.words(m * k);
            let b = rng.words(k * n);
            let want = naive(m, k, n, &a, &b);
            let mut got = vec![7u64; m * n];
            let p = Product::dense(1, m, k, n);
            check_bounds(&p, a.len(), b.len(), got.len()).unwrap();
            gemm_on_host(&p, &a, &b, &mut got);
            assert_eq!(got, want, "{m}x{k}x{n}");
            // B stored transposed (n x k), read through strides.
            let bt: Vec<u64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let pt = Product { b: Layout { rs: 1, cs: k, s1: 0, s2: 0 }, ..p };
            let mut got = vec![0u64; m * n];
            gemm_on_host(&pt, &a, &bt, &mut got);
            assert_eq!(got, want, "{m}x{k}x{n} with B transposed");
            // Accumulating adds the product once more.
            let pa = Product { accumulate: true, ..pt };
            gemm_on_host(&pa, &a, &bt, &mut got);
            let twice: Vec<u64> = want.iter().map(|x| x.wrapping_mul(2)).collect();
            assert_eq!(got, twice);
        }
    }

    #[test]
    fn products_that_leave_their_buffers_are_refused() {
        let p = Product::dense(2, 3, 4, 5);
        assert!(check_bounds(&p, 24, 40, 30).is_ok());
        assert!(check_bounds(&p, 23, 40, 30).is_err());
        assert!(check_bounds(&p, 24, 39, 30).is_err());
        assert!(check_bounds(&p, 24, 40, 29).is_err());
        let huge = Product { a: Layout { s1: usize::MAX, ..p.a }, ..p };
        assert!(check_bounds(&huge, usize::MAX, 40, 30).is_err());
    }
}
