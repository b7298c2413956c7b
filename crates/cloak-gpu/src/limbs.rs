//! The second GEMM method: 16-bit limbs on FP64 (cuBLAS DGEMM), as CrypTen multiplies ring
//! matrices on a GPU.
//!
//! Each `u64` operand splits into four 16-bit limbs held as `f64`, `x = sum_l x_l 2^(16 l)`.
//! The wrapping product is then `A B = sum_(i+j<4) (A_i B_j) 2^(16 (i+j)) mod 2^64`: the ten
//! limb-pair products with `i + j < 4` (the other six are shifted out entirely). Each entry
//! of `A_i B_j` is a sum of `k` products below `(2^16 - 1)^2`, so it is an exact integer
//! below 2^53, whatever order DGEMM adds in, as long as `k (2^16 - 1)^2 < 2^53`, that is
//! `k <= 2^21` ([`MAX_CHUNK_K`]); a longer inner dimension goes in chunks of at most that,
//! accumulated in `u64`. `limb_split_u64` (in `kernels/limbs.cu`) makes the limb planes and
//! `limb_combine_u64` turns the ten products into `u64` (each converted exactly, shifted,
//! added mod 2^64).
//!
//! The method runs only for [`Backend::matmul`](cloak_ring::Backend::matmul) (the
//! convolutions use the integer kernel), and only where `libcublas` loads: it is loaded at
//! run time and its absence makes the method unavailable, nothing more.

use std::ops::Range;

use cloak_ring::RingError;
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig, StridedBatchedConfig};
use cudarc::driver::{CudaView, CudaViewMut, PushKernelArg};

use crate::context::Gpu;
use crate::kernels::Kernel;
use crate::launch::{LimbArgs, PAIRS, elementwise_config};

type Result<T> = std::result::Result<T, RingError>;

/// Bits per limb.
#[cfg(test)]
const LIMB_BITS: u32 = 16;
/// Limbs per word.
pub(crate) const LIMBS: usize = 4;
/// The longest inner dimension one round of DGEMMs takes exactly: `k (2^16 - 1)^2 < 2^53`.
pub(crate) const MAX_CHUNK_K: usize = 1 << 21;

/// The pieces of the inner dimension, each at most `chunk` long (`chunk > 0`).
pub(crate) fn k_chunks(k: usize, chunk: usize) -> impl Iterator<Item = Range<usize>> {
    crate::staging::chunks(k, chunk)
}

/// Limb `l` of `x` as a double, as `limb_split_u64` computes it.
#[cfg(test)]
fn limb(x: u64, l: usize) -> f64 {
    ((x >> (LIMB_BITS as usize * l)) & 0xffff) as f64
}

/// The wrapping sum of the ten limb-pair products (in [`PAIRS`] order), each an exact
/// integer below 2^53, shifted into place: `limb_combine_u64` for one element.
#[cfg(test)]
fn combine(products: &[f64; 10]) -> u64 {
    let mut acc = 0u64;
    for (&p, &(i, j)) in products.iter().zip(&PAIRS) {
        // `as` saturates where the kernel's conversion is undefined; both are exact for the
        // integers below 2^53 the products are.
        acc = acc.wrapping_add((p as u64) << (LIMB_BITS * (i + j)));
    }
    acc
}

/// Whether cuBLAS's `int` arguments hold a dense `batch` of `m x k` times `k x n` products.
pub(crate) fn fits_cublas(batch: usize, m: usize, k: usize, n: usize) -> bool {
    let max = i32::MAX as usize;
    let elems = |r: usize, c: usize| r.checked_mul(c).and_then(|x| x.checked_mul(batch));
    batch <= max
        && m <= max
        && n <= max
        && k <= max
        && [elems(m, k), elems(k, n), elems(m, n)]
            .iter()
            .all(|e| e.and_then(|e| e.checked_mul(PAIRS.len())).is_some())
}

/// `C[z] = A[z] B[z]` (or `+=` with `accumulate`) mod 2^64 for a dense row-major batch:
/// A is `batch` matrices `m x k` back to back, B `batch` matrices `k x n` (or one, with
/// `batch == 1`), C `batch` matrices `m x n`. The caller checked [`fits_cublas`] and the
/// operands' lengths.
pub(crate) fn gemm(
    gpu: &Gpu,
    blas: &CudaBlas,
    a: &CudaView<'_, u64>,
    b: &CudaView<'_, u64>,
    c: &mut CudaViewMut<'_, u64>,
    (batch, m, k, n): (usize, usize, usize, usize),
    accumulate: bool,
) -> Result<()> {
    let (len_a, len_b, len_c) = (batch * m * k, batch * n * k, batch * m * n);
    if len_c == 0 {
        return Ok(());
    }
    if a.len() < len_a || b.len() < len_b || c.len() < len_c {
        return Err(gpu.err("gemm (fp64 limbs)", "an operand is shorter than the product"));
    }
    let err = |during: &'static str| move |e: cudarc::driver::DriverError| gpu.err(during, e);
    let stream = gpu.stream();
    // SAFETY (all three): every element is written (by the split kernel, by DGEMM with beta 0)
    // before it is read.
    let mut pa = unsafe { stream.alloc::<f64>((LIMBS * len_a).max(1)) }.map_err(err("alloc"))?;
    let mut pb = unsafe { stream.alloc::<f64>((LIMBS * len_b).max(1)) }.map_err(err("alloc"))?;
    let mut prod = unsafe { stream.alloc::<f64>(PAIRS.len() * len_c) }.map_err(err("alloc"))?;
    let split = gpu.function(Kernel::LimbSplit)?;
    for (src, planes, len) in [(a, &mut pa, len_a), (b, &mut pb, len_b)] {
        if len == 0 {
            continue;
        }
        let args = LimbArgs { n: len as u64, plane: len as u64, accumulate: 0 };
        let mut launch = stream.launch_builder(&split);
        launch.arg(src).arg(&mut *planes).arg(&args);
        // SAFETY: limb_split_u64(const u64* x, double* planes, LimbArgs): x holds len words,
        // planes 4 len doubles.
        unsafe { launch.launch(elementwise_config(len)) }.map_err(err("limb split"))?;
    }
    let combine = gpu.function(Kernel::LimbCombine)?;
    let to_int = |x: usize| x as i32; // fits_cublas showed every value fits.
    let chunks: Vec<Range<usize>> =
        if k == 0 { std::iter::once(0..0).collect() } else { k_chunks(k, MAX_CHUNK_K).collect() };
    for (round, ks) in chunks.into_iter().enumerate() {
        for (q, &(i, j)) in PAIRS.iter().enumerate() {
            let mut out = prod.slice_mut(q * len_c..(q + 1) * len_c);
            if ks.is_empty() {
                stream.memset_zeros(&mut out).map_err(err("gemm (fp64 limbs)"))?;
                continue;
            }
            // Row-major C = A B is column-major C^T = B^T A^T: B's plane is cuBLAS's first
            // operand (n x kc, leading dimension n), A's its second (kc x m, leading k).
            let bj = pb.slice(j as usize * len_b + ks.start * n..);
            let ai = pa.slice(i as usize * len_a + ks.start..);
            let cfg = StridedBatchedConfig {
                gemm: GemmConfig {
                    transa: cublasOperation_t::CUBLAS_OP_N,
                    transb: cublasOperation_t::CUBLAS_OP_N,
                    m: to_int(n),
                    n: to_int(m),
                    k: to_int(ks.len()),
                    alpha: 1.0,
                    lda: to_int(n),
                    ldb: to_int(k),
                    beta: 0.0,
                    ldc: to_int(n),
                },
                batch_size: to_int(batch),
                stride_a: (k * n) as i64,
                stride_b: (m * k) as i64,
                stride_c: (m * n) as i64,
            };
            // SAFETY: the planes hold batch x (k x n) and batch x (m x k) doubles from the
            // offsets given, and out holds batch x (m x n); the leading dimensions are the
            // row lengths of the row-major matrices.
            unsafe { blas.gemm_strided_batched(cfg, &bj, &ai, &mut out) }
                .map_err(|e| gpu.err("cuBLAS DGEMM", e))?;
        }
        let args = LimbArgs {
            n: len_c as u64,
            plane: len_c as u64,
            accumulate: u64::from(accumulate || round > 0),
        };
        let mut launch = stream.launch_builder(&combine);
        launch.arg(&prod).arg(&mut *c).arg(&args);
        // SAFETY: limb_combine_u64(const double* p, u64* c, LimbArgs): p holds 10 len_c
        // doubles, c len_c words.
        unsafe { launch.launch(elementwise_config(len_c)) }.map_err(err("limb combine"))?;
    }
    Ok(())
}

/// The method run on the host, step by step as on the GPU: split into limb planes, the ten
/// products in `f64` per chunk of at most `chunk` along k, recombined and accumulated in
/// `u64`. Tests compare it with the CPU backend; with `chunk` above [`MAX_CHUNK_K`] it shows
/// why the chunking is needed.
#[cfg(test)]
pub(crate) fn gemm_on_host(
    (m, k, n): (usize, usize, usize),
    a: &[u64],
    b: &[u64],
    chunk: usize,
) -> Vec<u64> {
    let planes = |x: &[u64]| -> Vec<Vec<f64>> {
        (0..LIMBS).map(|l| x.iter().map(|&v| limb(v, l)).collect()).collect()
    };
    let (pa, pb) = (planes(a), planes(b));
    let mut c = vec![0u64; m * n];
    for ks in k_chunks(k, chunk) {
        for r in 0..m {
            for col in 0..n {
                let mut products = [0f64; 10];
                for (p, &(i, j)) in products.iter_mut().zip(&PAIRS) {
                    let (ai, bj) = (&pa[i as usize], &pb[j as usize]);
                    *p = ks.clone().fold(0.0, |s, t| s + ai[r * k + t] * bj[t * n + col]);
                }
                let x = &mut c[r * n + col];
                *x = x.wrapping_add(combine(&products));
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloak_ring::testing::TestRng;
    use cloak_ring::{Backend, CpuBackend, RingTensor};

    fn cpu(m: usize, k: usize, n: usize, a: &[u64], b: &[u64]) -> Vec<u64> {
        let ta = RingTensor::from_vec(&[m, k], a.to_vec()).unwrap();
        let tb = RingTensor::from_vec(&[k, n], b.to_vec()).unwrap();
        CpuBackend::default().matmul(&ta, &tb).unwrap().as_slice().to_vec()
    }

    #[test]
    fn limbs_and_combining_rebuild_words_and_products() {
        for x in [0, 1, 0xffff, 0x1_0000, u64::MAX, 0x0123_4567_89ab_cdef] {
            let back: u64 = (0..LIMBS).map(|l| (limb(x, l) as u64) << (16 * l)).sum();
            assert_eq!(back, x);
            for y in [0, 1, u64::MAX, 0xfedc_ba98_7654_3210] {
                let mut products = [0f64; 10];
                for (p, &(i, j)) in products.iter_mut().zip(&PAIRS) {
                    *p = limb(x, i as usize) * limb(y, j as usize);
                }
                assert_eq!(combine(&products), x.wrapping_mul(y), "{x:#x} * {y:#x}");
            }
        }
        // Exactly the pairs that land below bit 64, each once.
        let mut pairs: Vec<_> = (0..4).flat_map(|i| (0..4 - i).map(move |j| (i, j))).collect();
        pairs.sort_unstable();
        assert_eq!(pairs, PAIRS.to_vec());
    }

    #[test]
    fn the_limb_method_matches_the_cpu_for_random_and_extreme_values() {
        let mut rng = TestRng::new(31);
        for (m, k, n) in [(1, 1, 1), (7, 13, 5), (33, 65, 17), (4, 0, 3)] {
            let (a, b) = (rng.words(m * k), rng.words(k * n));
            assert_eq!(gemm_on_host((m, k, n), &a, &b, MAX_CHUNK_K), cpu(m, k, n, &a, &b));
            let (ones_a, ones_b) = (vec![u64::MAX; m * k], vec![u64::MAX; k * n]);
            let want = cpu(m, k, n, &ones_a, &ones_b);
            assert_eq!(gemm_on_host((m, k, n), &ones_a, &ones_b, MAX_CHUNK_K), want);
            // Small chunks accumulate to the same product.
            assert_eq!(gemm_on_host((m, k, n), &a, &b, 3), cpu(m, k, n, &a, &b));
        }
    }

    #[test]
    fn inner_dimensions_at_and_past_the_chunk_limit_are_exact() {
        // All bits set is the worst case for the f64 sums: every limb product is
        // (2^16 - 1)^2, and k of them reach 2^53 just past k = 2^21.
        let mut rng = TestRng::new(32);
        for k in [MAX_CHUNK_K, MAX_CHUNK_K + 5] {
            let (m, n) = (2, 1);
            let (a, b) = (vec![u64::MAX; m * k], vec![u64::MAX; k * n]);
            let want = cpu(m, k, n, &a, &b);
            assert_eq!(gemm_on_host((m, k, n), &a, &b, MAX_CHUNK_K), want, "k = {k}");
            let mut a = rng.words(m * k);
            a[0] = u64::MAX;
            let b = rng.words(k * n);
            assert_eq!(gemm_on_host((m, k, n), &a, &b, MAX_CHUNK_K), cpu(m, k, n, &a, &b));
        }
    }

    #[test]
    fn without_chunking_long_inner_dimensions_lose_exactness() {
        // (2^16 - 1)^2 is a little below 2^32, so the f64 sums stay exact a little past
        // k = 2^21; at 2^22 all-ones limbs sum to about 2^54 and odd terms round away. The
        // chunk limit is what keeps the method exact.
        let (m, k, n) = (1, 2 * MAX_CHUNK_K, 1);
        let (a, b) = (vec![u64::MAX; m * k], vec![u64::MAX; k * n]);
        let want = cpu(m, k, n, &a, &b);
        assert_eq!(gemm_on_host((m, k, n), &a, &b, MAX_CHUNK_K), want);
        assert_ne!(gemm_on_host((m, k, n), &a, &b, k), want, "unchunked");
    }

    #[test]
    fn cublas_limits_are_respected() {
        assert!(fits_cublas(1, 4096, 4096, 4096));
        assert!(fits_cublas(3, 0, 5, 7));
        assert!(!fits_cublas(1, 1 << 31, 1, 1));
        assert!(!fits_cublas(1 << 31, 1, 1, 1));
        assert!(!fits_cublas(1, 1, usize::MAX / 4, 1 << 20));
    }

    // --- limbs.cu itself, compiled for the host. ------------------------------------------

    /// Makes `limbs.cu` plain C++: qualifiers dropped, the thread indices as globals.
    const HOST_PRELUDE: &str = r#"
#include <cstdio>
#include <vector>
struct Dim3 { unsigned int x, y, z; };
static Dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
"#;

    /// Reads cases from stdin (`m k n chunk grid block`, then A and B in hex, row-major) and
    /// prints C: the kernels' split, ten row-major f64 products per chunk of k (what the
    /// cuBLAS calls compute) and the kernels' combine, every launch run thread by thread
    /// over a `grid x block` grid.
    const HOST_MAIN: &str = r#"
template <class F> static void launch(unsigned grid, unsigned block, F f) {
    gridDim.x = grid; blockDim.x = block;
    for (unsigned b = 0; b < grid; ++b)
        for (unsigned t = 0; t < block; ++t) { blockIdx.x = b; threadIdx.x = t; f(); }
}
static const unsigned PI[10] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 3};
static const unsigned PJ[10] = {0, 1, 2, 3, 0, 1, 2, 0, 1, 0};
int main() {
    unsigned long long m, k, n, chunk;
    unsigned grid, block;
    while (scanf("%llu %llu %llu %llu %u %u", &m, &k, &n, &chunk, &grid, &block) == 6) {
        std::vector<u64> a(m * k), b(k * n), c(m * n + 2, 0x5a5a5a5a5a5a5a5aull);
        for (auto& x : a) if (scanf("%llx", &x) != 1) return 2;
        for (auto& x : b) if (scanf("%llx", &x) != 1) return 2;
        std::vector<double> pa(4 * a.size() + 1), pb(4 * b.size() + 1), prod(10 * m * n + 1);
        LimbArgs sa = {a.size(), a.size(), 0}, sb = {b.size(), b.size(), 0};
        launch(grid, block, [&] { limb_split_u64(a.data(), pa.data(), sa); });
        launch(grid, block, [&] { limb_split_u64(b.data(), pb.data(), sb); });
        unsigned long long k0 = 0;
        int round = 0;
        do {
            unsigned long long k1 = k0 + chunk < k ? k0 + chunk : k;
            for (int q = 0; q < 10; ++q)
                for (unsigned long long r = 0; r < m; ++r)
                    for (unsigned long long j = 0; j < n; ++j) {
                        double s = 0;
                        for (unsigned long long p = k0; p < k1; ++p)
                            s += pa[PI[q] * a.size() + r * k + p] * pb[PJ[q] * b.size() + p * n + j];
                        prod[q * m * n + r * n + j] = s;
                    }
            LimbArgs ca = {m * n, m * n, (u64)(round > 0)};
            launch(grid, block, [&] { limb_combine_u64(prod.data(), c.data() + 1, ca); });
            k0 = k1;
            ++round;
        } while (k0 < k);
        if (c[0] != 0x5a5a5a5a5a5a5a5aull || c[m * n + 1] != 0x5a5a5a5a5a5a5a5aull) {
            printf("guard\n");
            continue;
        }
        for (unsigned long long e = 0; e < m * n; ++e) printf("%016llx ", c[e + 1]);
        printf("\n");
    }
}
"#;

    #[test]
    fn the_kernel_source_run_on_the_host_multiplies_like_the_cpu() {
        let dir = std::env::temp_dir().join(format!("cloak-gpu-limbs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let kernel = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels/limbs.cu");
        let harness = dir.join("limbs_host.cpp");
        let text = format!("{HOST_PRELUDE}\n#include \"{}\"\n{HOST_MAIN}", kernel.display());
        std::fs::write(&harness, text).expect("harness written");
        let exe = dir.join("limbs_host");
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_owned());
        let built = std::process::Command::new(&cxx)
            .args(["-std=c++17", "-O2", "-o"])
            .arg(&exe)
            .arg(&harness)
            .output();
        let built = match built {
            Ok(out) => out,
            Err(e) => {
                eprintln!("skipped: no C++ compiler to run limbs.cu on the host: {cxx}: {e}");
                let _ = std::fs::remove_dir_all(&dir);
                return;
            }
        };
        // A compiler that runs but rejects the source is a failure, not a skip.
        assert!(built.status.success(), "{cxx}: {}", String::from_utf8_lossy(&built.stderr));
        let mut rng = TestRng::new(33);
        let mut cases = Vec::new();
        for (m, k, n, chunk, grid, block, ones) in [
            (7, 13, 5, MAX_CHUNK_K, 1, 1, false),
            (7, 13, 5, 4, 2, 3, false),
            (33, 65, 17, MAX_CHUNK_K, 3, 256, false),
            (33, 65, 17, MAX_CHUNK_K, 1, 7, true),
            (4, 0, 3, MAX_CHUNK_K, 2, 2, false),
            (2, MAX_CHUNK_K + 5, 1, MAX_CHUNK_K, 1, 2, true),
            (2, MAX_CHUNK_K + 5, 1, MAX_CHUNK_K, 1, 2, false),
        ] {
            let (a, b) = if ones {
                (vec![u64::MAX; m * k], vec![u64::MAX; k * n])
            } else {
                (rng.words(m * k), rng.words(k * n))
            };
            cases.push(((m, k, n), chunk, grid, block, a, b));
        }
        let mut input = String::new();
        for ((m, k, n), chunk, grid, block, a, b) in &cases {
            input += &format!("{m} {k} {n} {chunk} {grid} {block}\n");
            for w in a.iter().chain(b) {
                input += &format!("{w:x} ");
            }
            input += "\n";
        }
        let input_file = dir.join("cases.txt");
        std::fs::write(&input_file, input).expect("cases written");
        let stdin = std::fs::File::open(&input_file).expect("cases readable");
        let out = std::process::Command::new(&exe).stdin(stdin).output().expect("it runs");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.status.success(), "the compiled kernels exited with {}", out.status);
        let text = String::from_utf8(out.stdout).expect("text");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), cases.len(), "one product per case");
        for (((m, k, n), chunk, grid, block, a, b), line) in cases.iter().zip(lines) {
            let what = format!("{m}x{k}x{n}, chunk {chunk}, grid {grid} x {block}");
            assert_ne!(line, "guard", "{what}: a write outside C");
            let got: Vec<u64> =
                line.split_whitespace().map(|w| u64::from_str_radix(w, 16).unwrap()).collect();
            assert_eq!(got, cpu(*m, *k, *n, a, b), "{what}");
        }
    }
}
