//! CPU kernels on raw row-major slices. (Placeholder naive versions: replaced by the tuned
//! kernels.)

/// How many threads a kernel may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Parallelism {
    /// The calling thread only.
    Sequential,
    /// The current rayon pool, for problems big enough to pay for it.
    #[default]
    Rayon,
}

/// Naive wrapping GEMM `c = a * b` (placeholder).
pub fn gemm_u64(
    m: usize,
    k: usize,
    n: usize,
    a: &[u64],
    b: &[u64],
    c: &mut [u64],
    _par: Parallelism,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0u64;
            for p in 0..k {
                acc = acc.wrapping_add(a[i * k + p].wrapping_mul(b[p * n + j]));
            }
            c[i * n + j] = acc;
        }
    }
}

/// Naive wrapping GEMM `c = a * b` (placeholder).
pub fn gemm_u32(
    m: usize,
    k: usize,
    n: usize,
    a: &[u32],
    b: &[u32],
    c: &mut [u32],
    _par: Parallelism,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0u32;
            for p in 0..k {
                acc = acc.wrapping_add(a[i * k + p].wrapping_mul(b[p * n + j]));
            }
            c[i * n + j] = acc;
        }
    }
}
