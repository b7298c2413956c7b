//! Checks and times the CUDA device on a GPU machine:
//!
//! 1. compiles the kernels (NVRTC) and reports how long it took;
//! 2. for each GEMM method ([`GemmMethod::Int64`], the integer kernel, and
//!    [`GemmMethod::Fp64Limbs`], 16-bit limbs on cuBLAS DGEMM, where cuBLAS loads), checks
//!    the wrapping u64 matmul against the CPU backend bit for bit on awkward sizes
//!    (257 x 131 x 515, a batch, a shared right matrix, and 2 x (2^21 + 5) x 2, whose inner
//!    dimension the limb method must split in two chunks);
//! 3. times a 4096 x 4096 x 4096 GEMM with each method (tera ring multiply-accumulates per
//!    second: 4096^3 / seconds / 1e12), spot-checking entries of each result on the host,
//!    and says which method is faster (and the `CLOAK_GPU_GEMM` setting that selects it);
//! 4. times elementwise add and mul on 2^24 elements (GB/s counting two reads and one write
//!    of 8 bytes per element), checking the results against the host;
//! 5. checks the AES-128-CTR keystream (10^6 words from an odd word) against the host
//!    reference, then times 2^26 words (GB/s counting the 8 bytes written per word).
//!
//! Without a GPU it prints one line and exits 0 (exit 1 instead with `CLOAK_REQUIRE_GPU=1`,
//! as `cargo xtask gpu-check` runs it). Build in release: `cargo run --release -p cloak-gpu
//! --example gpu_check`.

use std::process::ExitCode;
use std::time::Instant;

use cloak_gpu::{CudaDevice, GemmMethod};
use cloak_ring::testing::TestRng;
use cloak_ring::{Backend, CpuBackend, Device, DeviceRef, RingError, RingTensor};

fn main() -> ExitCode {
    let gpu = match CudaDevice::new(0) {
        Ok(gpu) => gpu,
        Err(e) => {
            println!("gpu_check: skipped: no CUDA device: {e}");
            let required = std::env::var("CLOAK_REQUIRE_GPU").is_ok_and(|v| v == "1");
            return if required { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    match run(&gpu) {
        Ok(0) => {
            println!("gpu_check: all checks passed");
            ExitCode::SUCCESS
        }
        Ok(failures) => {
            println!("gpu_check: {failures} check(s) FAILED");
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("gpu_check: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn random(rng: &mut TestRng, shape: &[usize]) -> RingTensor<u64> {
    RingTensor::from_vec(shape, rng.words(shape.iter().product())).expect("shape holds the words")
}

/// Runs everything; returns the number of failed checks.
fn run(gpu: &CudaDevice) -> Result<usize, RingError> {
    println!("gpu_check: {} ({})", gpu.label(), gpu.name());
    let start = Instant::now();
    gpu.compile_kernels()?;
    println!("kernels compiled and loaded in {:.2} s", start.elapsed().as_secs_f64());
    let dev = gpu.handle();
    let mut failures = 0;
    let mut rng = TestRng::new(2024);

    let mut methods = vec![gpu.with_gemm(GemmMethod::Int64).map_err(RingError::from)?];
    match gpu.with_gemm(GemmMethod::Fp64Limbs) {
        Ok(limbs) => methods.push(limbs),
        Err(e) => println!("gemm method fp64 (16-bit limbs on cuBLAS DGEMM): unavailable: {e}"),
    }
    let mut timings = Vec::new();
    for method in &methods {
        let name = method.gemm_method().name();
        let mdev = method.handle();
        for (a_shape, b_shape) in [
            (vec![257, 131], vec![131, 515]),
            (vec![4, 100, 67], vec![4, 67, 129]),
            (vec![3, 70, 65], vec![65, 66]),
            (vec![2, (1 << 21) + 5], vec![(1 << 21) + 5, 2]),
        ] {
            let (a, b) = (random(&mut rng, &a_shape), random(&mut rng, &b_shape));
            let want = CpuBackend::default().matmul(&a, &b)?;
            let got = a.to_device(&mdev)?.matmul(&b.to_device(&mdev)?)?.to_host()?;
            let wrong =
                got.as_slice().iter().zip(want.as_slice().iter()).filter(|(g, w)| g != w).count();
            let verdict = if wrong == 0 { "ok" } else { "FAILED" };
            println!(
                "gemm ({name}) {a_shape:?} x {b_shape:?} against the CPU: {verdict} \
                 ({wrong} elements differ)"
            );
            failures += usize::from(wrong > 0);
        }
        let (secs, wrong) = time_gemm(method, &mdev, &mut rng, 4096)?;
        failures += wrong;
        timings.push((method.gemm_method(), secs));
    }
    let macs = 4096f64.powi(3);
    if let Some(&(best, secs)) = timings.iter().min_by(|x, y| x.1.total_cmp(&y.1)) {
        let all: Vec<String> = timings
            .iter()
            .map(|(m, s)| format!("{} {:.3} T ring-MAC/s", m.name(), macs / s / 1e12))
            .collect();
        println!(
            "gemm 4096^3: faster method: {} ({:.3} T ring-MAC/s; {}); select it with {}={}",
            best.name(),
            macs / secs / 1e12,
            all.join(", "),
            GemmMethod::ENV,
            best.name()
        );
    }

    failures += time_elementwise(gpu, &dev, &mut rng, 1 << 24)?;
    failures += time_keystream(gpu, 1 << 26)?;
    Ok(failures)
}

/// Times an n x n x n GEMM with `gpu`'s method; spot-checks 256 entries of the result.
/// Returns the seconds per product and the number of failed checks.
fn time_gemm(
    gpu: &CudaDevice,
    dev: &DeviceRef<u64>,
    rng: &mut TestRng,
    n: usize,
) -> Result<(f64, usize), RingError> {
    let name = gpu.gemm_method().name();
    let (a, b) = (random(rng, &[n, n]), random(rng, &[n, n]));
    let (da, db) = (a.to_device(dev)?, b.to_device(dev)?);
    let c = da.matmul(&db)?; // warm-up
    gpu.synchronize()?;
    let reps = 5;
    let start = Instant::now();
    for _ in 0..reps {
        drop(da.matmul(&db)?);
    }
    gpu.synchronize()?;
    let secs = start.elapsed().as_secs_f64() / f64::from(reps);
    let macs = (n as f64).powi(3);
    println!(
        "gemm ({name}) {n}x{n}x{n} u64: {:.2} ms, {:.3} T ring-MAC/s",
        secs * 1e3,
        macs / secs / 1e12
    );
    let c = c.to_host()?;
    let (av, bv, cv) = (a.as_slice(), b.as_slice(), c.as_slice());
    let mut wrong = 0;
    for _ in 0..256 {
        let (i, j) = ((rng.next_u64() as usize) % n, (rng.next_u64() as usize) % n);
        let want =
            (0..n).fold(0u64, |s, p| s.wrapping_add(av[i * n + p].wrapping_mul(bv[p * n + j])));
        wrong += usize::from(cv[i * n + j] != want);
    }
    let verdict = if wrong == 0 { "ok" } else { "FAILED" };
    println!("gemm ({name}) {n}^3 spot check of 256 entries: {verdict} ({wrong} differ)");
    Ok((secs, usize::from(wrong > 0)))
}

/// Times elementwise add and mul on `n` elements, checking both. Returns failed checks.
fn time_elementwise(
    gpu: &CudaDevice,
    dev: &DeviceRef<u64>,
    rng: &mut TestRng,
    n: usize,
) -> Result<usize, RingError> {
    let (a, b) = (random(rng, &[n]), random(rng, &[n]));
    let (da, db) = (a.to_device(dev)?, b.to_device(dev)?);
    let mut failures = 0;
    type Op = fn(&RingTensor<u64>, &RingTensor<u64>) -> Result<RingTensor<u64>, RingError>;
    let ops: [(&str, Op); 2] = [("add", RingTensor::add), ("mul", RingTensor::mul)];
    for (name, op) in ops {
        let got = op(&da, &db)?; // warm-up, checked below
        gpu.synchronize()?;
        let reps = 20;
        let start = Instant::now();
        for _ in 0..reps {
            drop(op(&da, &db)?);
        }
        gpu.synchronize()?;
        let secs = start.elapsed().as_secs_f64() / f64::from(reps);
        let bytes = 3.0 * 8.0 * n as f64;
        let ok = got.to_host()?.as_slice() == op(&a, &b)?.as_slice();
        println!(
            "{name} on {n} u64: {:.3} ms, {:.0} GB/s, {}",
            secs * 1e3,
            bytes / secs / 1e9,
            if ok { "matches the host" } else { "FAILED: differs from the host" }
        );
        failures += usize::from(!ok);
    }
    Ok(failures)
}

/// Checks 10^6 keystream words against the host reference, then times `n` words. Returns
/// failed checks.
fn time_keystream(gpu: &CudaDevice, n: usize) -> Result<usize, RingError> {
    let key: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(29) ^ 0x6b);
    let make = |first: u64, len: usize| {
        Device::<u64>::keystream(gpu, &key, first, len)?.ok_or_else(|| RingError::Device {
            device: gpu.label(),
            reason: "the CUDA device made no keystream".to_owned(),
        })
    };
    let (first, len) = (12_345, 1_000_000);
    let got = Device::<u64>::download(gpu, &make(first, len)?)?;
    let want = cloak_ring::device::keystream::keystream::<u64>(&key, first, len);
    let wrong = got.iter().zip(&want).filter(|(g, w)| g != w).count();
    let verdict = if wrong == 0 { "ok" } else { "FAILED" };
    println!(
        "keystream of {len} words from word {first} against the host: {verdict} ({wrong} differ)"
    );
    drop(make(0, n)?); // warm-up
    gpu.synchronize()?;
    let reps: u32 = 10;
    let start = Instant::now();
    for rep in 0..reps {
        // A fresh stretch of the stream each time: nothing to reuse.
        drop(make(u64::from(rep) * n as u64, n)?);
    }
    gpu.synchronize()?;
    let secs = start.elapsed().as_secs_f64() / f64::from(reps);
    let bytes = 8.0 * n as f64;
    println!("keystream of {n} u64: {:.3} ms, {:.1} GB/s", secs * 1e3, bytes / secs / 1e9);
    Ok(usize::from(wrong > 0))
}
