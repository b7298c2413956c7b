//! Throwaway timing of the GEMM kernels: `cargo run --release -p cloak-ring --example gemm_speed`.

use std::time::Instant;

use cloak_ring::Parallelism;
use cloak_ring::kernels::{self, GemmKernel};

fn data(n: usize, salt: u64) -> Vec<u64> {
    (0..n as u64).map(|i| (i ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)).collect()
}

fn best<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> =
        args.get(1).map_or(vec![256, 1024], |s| s.split(',').map(|x| x.parse().unwrap()).collect());
    let which = args.get(2).cloned().unwrap_or_else(|| "all".into());
    if which == "dist" {
        for s in sizes.iter().copied() {
            let (a, b) = (data(s * s, 1), data(s * s, 2));
            let mut c = vec![0u64; s * s];
            for par in [Parallelism::Sequential, Parallelism::Rayon] {
                let mut v: Vec<f64> = (0..60)
                    .map(|_| best(1, || kernels::gemm_u64(s, s, s, &a, &b, &mut c, par)) * 1e6)
                    .collect();
                v.sort_by(f64::total_cmp);
                println!(
                    "{s} {par:?}: min {:.0} p25 {:.0} med {:.0} p75 {:.0} us",
                    v[0], v[15], v[30], v[45]
                );
            }
        }
        return;
    }
    if which == "shapes" {
        let naive = |m: usize, k: usize, n: usize, a: &[u64], b: &[u64], c: &mut [u64]| {
            for i in 0..m {
                let row = &mut c[i * n..(i + 1) * n];
                row.fill(0);
                for p in 0..k {
                    let x = a[i * k + p];
                    for (r, &y) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                        *r = r.wrapping_add(x.wrapping_mul(y));
                    }
                }
            }
        };
        for (m, k, n) in [
            (6, 1024, 1024),
            (8, 1024, 1024),
            (12, 1024, 1024),
            (16, 1024, 1024),
            (1024, 1024, 6),
            (1024, 1024, 8),
            (1024, 1024, 12),
            (1024, 1024, 16),
            (8, 256, 256),
            (256, 256, 8),
            (2, 2, 2),
            (4, 4, 4),
            (8, 8, 8),
            (12, 12, 12),
            (16, 16, 16),
            (1, 1024, 1024),
            (2, 1024, 1024),
            (4, 1024, 1024),
            (1024, 1024, 1),
            (1024, 1024, 4),
            (1, 64, 64),
            (8, 64, 64),
        ] {
            let (a, b) = (data(m * k, 1), data(k * n, 2));
            let mut c = vec![0u64; m * n];
            let reps = (20_000_000 / (m * n * k)).max(3);
            let t1 = best(5, || {
                for _ in 0..reps {
                    kernels::gemm_u64(m, k, n, &a, &b, &mut c, Parallelism::Sequential);
                }
            }) / reps as f64;
            let t2 = best(5, || {
                for _ in 0..reps {
                    naive(m, k, n, &a, &b, &mut c);
                    std::hint::black_box(&mut c);
                }
            }) / reps as f64;
            println!("{m}x{k}x{n}: blocked {:.3} us, naive {:.3} us", t1 * 1e6, t2 * 1e6);
        }
        return;
    }
    if which == "small" {
        for s in [2usize, 4, 8, 12, 16, 32, 64, 128, 192, 256] {
            for par in [Parallelism::Sequential, Parallelism::Rayon] {
                let (a, b) = (data(s * s, 1), data(s * s, 2));
                let mut c = vec![0u64; s * s];
                let reps = 20_000_000 / (s * s * s).max(1000);
                let t = best(5, || {
                    for _ in 0..reps {
                        kernels::gemm_u64(s, s, s, &a, &b, &mut c, par);
                    }
                }) / reps as f64;
                println!(
                    "u64 {s:4}^3 {par:?}: {:9.3} us/call, {:6.2} G MAC/s",
                    t * 1e6,
                    (s * s * s) as f64 / t / 1e9
                );
            }
        }
        return;
    }
    if which == "conv" {
        let x = data(64 * 56 * 56, 5);
        let w = data(64 * 64 * 9, 6);
        let p = kernels::conv::Conv2dParams { padding: (1, 1), ..Default::default() };
        let macs = (64 * 56 * 56 * 64 * 9) as f64;
        for par in [Parallelism::Sequential, Parallelism::Rayon] {
            let t = best(10, || {
                let y = kernels::conv::conv2d(&x, [1, 64, 56, 56], &w, [64, 64, 3, 3], &p, par);
                std::hint::black_box(y);
            });
            println!(
                "conv2d 1x64x56x56 * 64x64x3x3 {par:?}: {:.2} ms ({:.2} G MAC/s)",
                t * 1e3,
                macs / t / 1e9
            );
        }
        return;
    }
    for &s in &sizes {
        let (a, b) = (data(s * s, 1), data(s * s, 2));
        let mut c = vec![0u64; s * s];
        let reps = if s <= 256 {
            50
        } else if s <= 1024 {
            5
        } else {
            2
        };
        let macs = (s * s * s) as f64;
        for k in GemmKernel::ALL {
            if which != "all" && which != k.name() {
                continue;
            }
            let Some(kk) = k.for_u64() else { continue };
            if k == GemmKernel::Portable && s > 1024 {
                continue;
            }
            for par in [Parallelism::Sequential, Parallelism::Rayon] {
                let t = best(reps, || kernels::gemm_u64_with(kk, s, s, s, &a, &b, &mut c, par));
                println!(
                    "u64 {s:5} {:11} {par:?}: {:7.2} G MAC/s ({:.2} ms)",
                    k.name(),
                    macs / t / 1e9,
                    t * 1e3
                );
            }
        }
        let (a32, b32): (Vec<u32>, Vec<u32>) =
            (a.iter().map(|&x| x as u32).collect(), b.iter().map(|&x| x as u32).collect());
        let mut c32 = vec![0u32; s * s];
        for k in GemmKernel::ALL {
            if which != "all" && which != k.name() {
                continue;
            }
            let Some(kk) = k.for_u32() else { continue };
            if k == GemmKernel::Portable && s > 1024 {
                continue;
            }
            let t = best(reps, || {
                kernels::gemm_u32_with(kk, s, s, s, &a32, &b32, &mut c32, Parallelism::Sequential)
            });
            println!(
                "u32 {s:5} {:11} Sequential: {:7.2} G MAC/s ({:.2} ms)",
                k.name(),
                macs / t / 1e9,
                t * 1e3
            );
        }
    }
}
