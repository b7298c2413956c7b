//! The wrapping GEMM kernels against the conformance suite's naive triple loop: every kernel this CPU can run, both
//! widths, sequential and rayon, ragged and blocked sizes, and values at the limb boundaries of
//! the split-multiply kernels.

use cloak_ring::Parallelism;
use cloak_ring::conformance::{cases, reference};
use cloak_ring::kernels::{self, GemmKernel};
use cloak_ring::testing::TestRng;
use proptest::prelude::*;

/// Values that stress the limb splits (the suite's limb-boundary words mixed with uniform
/// ones), from a proptest-chosen seed.
fn tricky(seed: u64, len: usize) -> Vec<u64> {
    cases::values(&mut TestRng::new(seed), len)
}

fn naive_u64(m: usize, k: usize, n: usize, a: &[u64], b: &[u64]) -> Vec<u64> {
    reference::matmul((1, m, k, n), a, b, false)
}

fn naive_u32(m: usize, k: usize, n: usize, a: &[u32], b: &[u32]) -> Vec<u32> {
    reference::matmul((1, m, k, n), a, b, false)
}

fn u64_kernels() -> Vec<GemmKernel> {
    GemmKernel::ALL.into_iter().filter(|k| k.supports_u64()).collect()
}

fn u32_kernels() -> Vec<GemmKernel> {
    GemmKernel::ALL.into_iter().filter(|k| k.supports_u32()).collect()
}

const PARS: [Parallelism; 2] = [Parallelism::Sequential, Parallelism::Rayon];

/// A three-thread pool, so that the parallel paths run (with uneven splits) whatever the
/// machine's core count.
fn pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap())
}

/// Checks every `u64` kernel (and the dispatching entry point) on one product.
fn check_u64(m: usize, k: usize, n: usize, seed: u64) -> Result<(), TestCaseError> {
    let a = tricky(seed, m * k);
    let b = tricky(seed ^ 0xABCD, k * n);
    let want = naive_u64(m, k, n, &a, &b);
    for par in PARS {
        for kern in u64_kernels() {
            let Some(token) = kern.for_u64() else { continue };
            let mut c = vec![0xDEAD_BEEF; m * n];
            pool().install(|| kernels::gemm_u64_with(token, m, k, n, &a, &b, &mut c, par));
            prop_assert!(c == want, "kernel {} {par:?} {m}x{k}x{n}", kern.name());
        }
        let mut c = vec![7; m * n];
        kernels::gemm_u64(m, k, n, &a, &b, &mut c, par);
        prop_assert!(c == want, "gemm_u64 {par:?} {m}x{k}x{n}");
    }
    Ok(())
}

/// Checks every `u32` kernel (and the dispatching entry point) on one product.
fn check_u32(m: usize, k: usize, n: usize, seed: u64) -> Result<(), TestCaseError> {
    let a: Vec<u32> = tricky(seed, m * k).into_iter().map(|x| x as u32).collect();
    let b: Vec<u32> = tricky(seed ^ 0x1234, k * n).into_iter().map(|x| (x >> 32) as u32).collect();
    let want = naive_u32(m, k, n, &a, &b);
    for par in PARS {
        for kern in u32_kernels() {
            let Some(token) = kern.for_u32() else { continue };
            let mut c = vec![0xDEAD; m * n];
            pool().install(|| kernels::gemm_u32_with(token, m, k, n, &a, &b, &mut c, par));
            prop_assert!(c == want, "kernel {} {par:?} {m}x{k}x{n}", kern.name());
        }
        let mut c = vec![7; m * n];
        kernels::gemm_u32(m, k, n, &a, &b, &mut c, par);
        prop_assert!(c == want, "gemm_u32 {par:?} {m}x{k}x{n}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Ragged sizes: every tile edge case of every kernel.
    #[test]
    fn u64_small_sizes(m in 1usize..=70, k in 1usize..=70, n in 1usize..=70, seed: u64) {
        check_u64(m, k, n, seed)?;
    }

    #[test]
    fn u32_small_sizes(m in 1usize..=70, k in 1usize..=70, n in 1usize..=70, seed: u64) {
        check_u32(m, k, n, seed)?;
    }

    /// Vector-like products (few rows or few columns), which take the unblocked path.
    #[test]
    fn skinny_shapes(thin in 1usize..=8, k in 0usize..=300, wide in 1usize..=300, rows: bool,
                     seed: u64) {
        let (m, n) = if rows { (thin.min(3), wide) } else { (wide, thin) };
        let a = tricky(seed, m * k);
        let b = tricky(!seed, k * n);
        for par in PARS {
            let mut c = vec![9u64; m * n];
            kernels::gemm_u64(m, k, n, &a, &b, &mut c, par);
            prop_assert_eq!(&c, &naive_u64(m, k, n, &a, &b));
            let (a32, b32): (Vec<u32>, Vec<u32>) =
                (a.iter().map(|&x| x as u32).collect(), b.iter().map(|&x| x as u32).collect());
            let mut c32 = vec![9u32; m * n];
            kernels::gemm_u32(m, k, n, &a32, &b32, &mut c32, par);
            prop_assert_eq!(&c32, &naive_u32(m, k, n, &a32, &b32));
        }
    }

    /// Batched products against one naive product per item.
    #[test]
    fn batched(batch in 0usize..=5, m in 1usize..=20, k in 0usize..=20, n in 1usize..=20,
               seed: u64, rayon: bool) {
        let par = if rayon { Parallelism::Rayon } else { Parallelism::Sequential };
        let a = tricky(seed, batch * m * k);
        let b = tricky(!seed, batch * k * n);
        let mut c = vec![3u64; batch * m * n];
        pool().install(|| kernels::gemm_batched(batch, m, k, n, &a, &b, &mut c, par));
        for i in 0..batch {
            let want = naive_u64(m, k, n, &a[i * m * k..][..m * k], &b[i * k * n..][..k * n]);
            prop_assert_eq!(&c[i * m * n..][..m * n], &want[..]);
        }
        let a32: Vec<u32> = a.iter().map(|&x| x as u32).collect();
        let b32: Vec<u32> = b.iter().map(|&x| x as u32).collect();
        let mut c32 = vec![3u32; batch * m * n];
        kernels::gemm_batched(batch, m, k, n, &a32, &b32, &mut c32, par);
        for i in 0..batch {
            let want = naive_u32(m, k, n, &a32[i * m * k..][..m * k], &b32[i * k * n..][..k * n]);
            prop_assert_eq!(&c32[i * m * n..][..m * n], &want[..]);
        }
    }
}

#[test]
fn larger_ragged_product() {
    check_u64(130, 257, 67, 1).unwrap();
    check_u32(130, 257, 67, 2).unwrap();
}

/// Several row, depth and column blocks of every kernel (blocks are at most 256 rows, 256
/// depth steps and 2048 columns).
#[test]
fn multi_block_product() {
    check_u64(263, 300, 2100, 3).unwrap();
    check_u32(263, 530, 2100, 4).unwrap();
}

/// Too few rows to share among threads: the parallel split goes by columns.
#[test]
fn wide_product() {
    check_u64(5, 300, 2100, 7).unwrap();
    check_u32(3, 301, 2100, 8).unwrap();
}

/// Batches big enough for threads: large items run one after the other, each parallel inside;
/// many small items are spread over the threads.
#[test]
fn batched_in_parallel() {
    for (batch, m, k, n) in [(2, 130, 100, 120), (16, 50, 50, 50)] {
        let a = tricky(5, batch * m * k);
        let b = tricky(6, batch * k * n);
        let mut c = vec![0u64; batch * m * n];
        pool()
            .install(|| kernels::gemm_batched(batch, m, k, n, &a, &b, &mut c, Parallelism::Rayon));
        for i in 0..batch {
            let want = naive_u64(m, k, n, &a[i * m * k..][..m * k], &b[i * k * n..][..k * n]);
            assert_eq!(&c[i * m * n..][..m * n], &want[..]);
        }
    }
}

/// All-ones words: `(2^64 - 1)^2 = 1`, so each entry is `k` mod `2^64`; with `k` far beyond
/// a depth block this checks the accumulators' carries and the block-wise accumulation.
#[test]
fn long_depth_of_max_values() {
    let (m, k, n) = (9, 5000, 17);
    let a = vec![u64::MAX; m * k];
    let b = vec![u64::MAX; k * n];
    for kern in u64_kernels() {
        let mut c = vec![0; m * n];
        kernels::gemm_u64_with(kern.for_u64().unwrap(), m, k, n, &a, &b, &mut c, PARS[0]);
        assert!(c.iter().all(|&x| x == k as u64), "kernel {}", kern.name());
    }
    let a = vec![u32::MAX; m * k];
    let b = vec![u32::MAX; k * n];
    for kern in u32_kernels() {
        let mut c = vec![0; m * n];
        kernels::gemm_u32_with(kern.for_u32().unwrap(), m, k, n, &a, &b, &mut c, PARS[0]);
        assert!(c.iter().all(|&x| x == k as u32), "kernel {}", kern.name());
    }
}

#[test]
fn empty_dimensions() {
    for par in PARS {
        // k == 0: the product is the zero matrix, whatever c held.
        let mut c = vec![5u64; 12];
        kernels::gemm_u64(3, 0, 4, &[], &[], &mut c, par);
        assert_eq!(c, vec![0; 12]);
        let mut c = vec![5u32; 12];
        kernels::gemm_u32(4, 0, 3, &[], &[], &mut c, par);
        assert_eq!(c, vec![0; 12]);
        // m == 0 or n == 0: nothing to write.
        let mut c: Vec<u64> = vec![];
        kernels::gemm_u64(0, 3, 4, &[], &[1; 12], &mut c, par);
        kernels::gemm_u64(4, 3, 0, &[1; 12], &[], &mut c, par);
        let mut c = vec![5u64; 6];
        kernels::gemm_batched(2, 1, 0, 3, &[], &[], &mut c, par);
        assert_eq!(c, vec![0; 6]);
    }
}

/// The dispatcher reports the first (fastest) kernel the CPU supports, and only kernels of the
/// right width claim support.
#[test]
fn kernel_choice() {
    assert_eq!(kernels::gemm_u64_kernel(), u64_kernels()[0]);
    assert_eq!(kernels::gemm_u32_kernel(), u32_kernels()[0]);
    assert_eq!(kernels::gemm_u64_kernel_name(), u64_kernels()[0].name());
    assert_eq!(kernels::gemm_u32_kernel_name(), u32_kernels()[0].name());
    assert!(
        ["avx512ifma", "avx512", "avx2", "portable"].contains(&kernels::gemm_u64_kernel_name())
    );
    assert!(GemmKernel::Avx512Vnni.for_u64().is_none());
    assert!(GemmKernel::Avx512Ifma.for_u32().is_none());
    assert_eq!(GemmKernel::Portable.for_u64().map(|k| k.kernel()), Some(GemmKernel::Portable));
    for k in u64_kernels() {
        eprintln!("u64 kernel available: {}", k.name());
    }
    for k in u32_kernels() {
        eprintln!("u32 kernel available: {}", k.name());
    }
}
