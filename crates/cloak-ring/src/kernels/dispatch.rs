//! The public GEMM entry points (the fastest kernel, or an explicit one for tests and
//! benchmarks), batched products, and the crate's entry for products whose right operand is
//! not a dense matrix.

use super::Parallelism;
use super::buffers::PackWord;
use super::driver::{Dense, Rhs};
use super::portable::Portable;
use super::select::{GemmKernel, U32Kernel, U64Kernel, gemm_u32_kernel, gemm_u64_kernel};
use super::{blocking, skinny, team};
use crate::RingElement;

/// Batches whose products together have fewer multiply-accumulates than this stay on the
/// calling thread.
const BATCH_PAR_MIN_MACS: usize = 112 * 112 * 112;

/// Wrapping `c = a * b` in `Z_2^64`: `c` (`m x n`, row-major, overwritten) from `a` (`m x k`)
/// and `b` (`k x n`), with the fastest kernel for this CPU.
///
/// With `k == 0`, `c` is filled with zeros.
///
/// # Panics
///
/// If the slice lengths are not `m * k`, `k * n` and `m * n` (callers check shapes first).
pub fn gemm_u64(
    m: usize,
    k: usize,
    n: usize,
    a: &[u64],
    b: &[u64],
    c: &mut [u64],
    par: Parallelism,
) {
    if skinny::wanted(m, k, n) {
        return skinny::gemm(m, k, n, a, b, c);
    }
    assert_eq!(b.len(), k * n, "gemm: b must hold k * n elements");
    run_u64(gemm_u64_kernel(), m, k, n, a, &Dense { b, ld: n }, c, par);
}

/// [`gemm_u64`] with an explicit kernel (see [`GemmKernel::for_u64`]).
///
/// # Panics
///
/// As [`gemm_u64`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_u64_with(
    kernel: U64Kernel,
    m: usize,
    k: usize,
    n: usize,
    a: &[u64],
    b: &[u64],
    c: &mut [u64],
    par: Parallelism,
) {
    assert_eq!(b.len(), k * n, "gemm: b must hold k * n elements");
    run_u64(kernel.kernel(), m, k, n, a, &Dense { b, ld: n }, c, par);
}

/// Wrapping `c = a * b` in `Z_2^32`; as [`gemm_u64`].
///
/// # Panics
///
/// As [`gemm_u64`].
pub fn gemm_u32(
    m: usize,
    k: usize,
    n: usize,
    a: &[u32],
    b: &[u32],
    c: &mut [u32],
    par: Parallelism,
) {
    if skinny::wanted(m, k, n) {
        return skinny::gemm(m, k, n, a, b, c);
    }
    assert_eq!(b.len(), k * n, "gemm: b must hold k * n elements");
    run_u32(gemm_u32_kernel(), m, k, n, a, &Dense { b, ld: n }, c, par);
}

/// [`gemm_u32`] with an explicit kernel (see [`GemmKernel::for_u32`]).
///
/// # Panics
///
/// As [`gemm_u64`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_u32_with(
    kernel: U32Kernel,
    m: usize,
    k: usize,
    n: usize,
    a: &[u32],
    b: &[u32],
    c: &mut [u32],
    par: Parallelism,
) {
    assert_eq!(b.len(), k * n, "gemm: b must hold k * n elements");
    run_u32(kernel.kernel(), m, k, n, a, &Dense { b, ld: n }, c, par);
}

/// Runs `kernel`, which the caller has checked supports `u64` here.
#[allow(clippy::too_many_arguments)]
fn run_u64<S: Rhs<u64>>(
    kernel: GemmKernel,
    m: usize,
    k: usize,
    n: usize,
    a: &[u64],
    b: &S,
    c: &mut [u64],
    par: Parallelism,
) {
    // SAFETY (all arms): each x86 kernel is reached only when `supports_u64` found the CPU
    // features it is compiled for.
    match kernel {
        #[cfg(target_arch = "x86_64")]
        GemmKernel::Avx512Ifma if kernel.supports_u64() => unsafe {
            blocking::gemm_rhs::<super::u64_ifma::Ifma, S>(m, k, n, a, b, c, par)
        },
        #[cfg(target_arch = "x86_64")]
        GemmKernel::Avx512 if kernel.supports_u64() => unsafe {
            blocking::gemm_rhs::<super::u64_avx512::Avx512, S>(m, k, n, a, b, c, par)
        },
        #[cfg(target_arch = "x86_64")]
        GemmKernel::Avx2 if kernel.supports_u64() => unsafe {
            blocking::gemm_rhs::<super::u64_avx2::Avx2, S>(m, k, n, a, b, c, par)
        },
        _ => portable(m, k, n, a, b, c, par),
    }
}

/// Runs `kernel`, which the caller has checked supports `u32` here.
#[allow(clippy::too_many_arguments)]
fn run_u32<S: Rhs<u32>>(
    kernel: GemmKernel,
    m: usize,
    k: usize,
    n: usize,
    a: &[u32],
    b: &S,
    c: &mut [u32],
    par: Parallelism,
) {
    // SAFETY (all arms): as in `run_u64`, with `supports_u32`.
    match kernel {
        #[cfg(target_arch = "x86_64")]
        GemmKernel::Avx512Vnni if kernel.supports_u32() => unsafe {
            blocking::gemm_rhs::<super::u32_vnni::Vnni, S>(m, k, n, a, b, c, par)
        },
        #[cfg(target_arch = "x86_64")]
        GemmKernel::Avx512 if kernel.supports_u32() => unsafe {
            blocking::gemm_rhs::<super::u32_avx512::Avx512U32, S>(m, k, n, a, b, c, par)
        },
        #[cfg(target_arch = "x86_64")]
        GemmKernel::Avx2 if kernel.supports_u32() => unsafe {
            blocking::gemm_rhs::<super::portable::Avx2U32, S>(m, k, n, a, b, c, par)
        },
        _ => portable(m, k, n, a, b, c, par),
    }
}

/// The portable kernel for either width.
fn portable<T: RingElement + PackWord, S: Rhs<T>>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    b: &S,
    c: &mut [T],
    par: Parallelism,
) {
    // SAFETY: the portable kernel needs no CPU feature.
    unsafe { blocking::gemm_rhs::<Portable<T>, S>(m, k, n, a, b, c, par) }
}

/// `batch` independent wrapping products `c_i = a_i * b_i`, each `a_i` (`m x k`), `b_i`
/// (`k x n`) and `c_i` (`m x n`) stored one after the other.
///
/// With [`Parallelism::Rayon`], batches of small products are spread over the pool one product
/// per task; large products are parallelised inside instead.
///
/// # Panics
///
/// If the slice lengths are not `batch` times the matrix sizes.
#[allow(clippy::too_many_arguments)]
pub fn gemm_batched<T: RingElement>(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    b: &[T],
    c: &mut [T],
    par: Parallelism,
) {
    assert_eq!(a.len(), batch * m * k, "gemm_batched: a must hold batch * m * k elements");
    assert_eq!(b.len(), batch * k * n, "gemm_batched: b must hold batch * k * n elements");
    assert_eq!(c.len(), batch * m * n, "gemm_batched: c must hold batch * m * n elements");
    if batch == 0 || m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(T::zero());
        return;
    }
    let per = m * n * k;
    let threads = match par {
        Parallelism::Sequential => 1,
        Parallelism::Rayon => rayon::current_num_threads(),
    };
    let spread = threads > 1
        && batch > 1
        && batch.saturating_mul(per) >= BATCH_PAR_MIN_MACS
        && (batch >= threads || per < BATCH_PAR_MIN_MACS);
    let (sa, sb, sc) = (m * k, k * n, m * n);
    if spread {
        team::for_each_chunk(threads - 1, c, sc, &|i, ci| {
            T::gemm(m, k, n, &a[i * sa..][..sa], &b[i * sb..][..sb], ci, Parallelism::Sequential);
        });
    } else {
        let items = c.chunks_exact_mut(sc).zip(a.chunks_exact(sa)).zip(b.chunks_exact(sb));
        for ((ci, ai), bi) in items {
            T::gemm(m, k, n, ai, bi, ci, par);
        }
    }
}

/// Ring elements with GEMM kernels, for the crate's own callers that bring their own right
/// operand (convolutions gathering im2col on the fly).
pub(crate) trait KernelElem: RingElement + PackWord {
    /// `c = a * b` with the fastest kernel, `b` (`k x n`) from `rhs`.
    fn gemm_rhs<S: Rhs<Self>>(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        b: &S,
        c: &mut [Self],
        par: Parallelism,
    );
}

impl KernelElem for u64 {
    fn gemm_rhs<S: Rhs<u64>>(
        m: usize,
        k: usize,
        n: usize,
        a: &[u64],
        b: &S,
        c: &mut [u64],
        par: Parallelism,
    ) {
        run_u64(gemm_u64_kernel(), m, k, n, a, b, c, par);
    }
}

impl KernelElem for u32 {
    fn gemm_rhs<S: Rhs<u32>>(
        m: usize,
        k: usize,
        n: usize,
        a: &[u32],
        b: &S,
        c: &mut [u32],
        par: Parallelism,
    ) {
        run_u32(gemm_u32_kernel(), m, k, n, a, b, c, par);
    }
}
