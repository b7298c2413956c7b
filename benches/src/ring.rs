//! cloak-ring rows: wrapping u64 GEMM and the conv2d of a ResNet stage.

use cloak_ring::kernels::{self, Parallelism};
use cloak_ring::{Conv2dSpec, RingTensor};

use crate::harness::{Better, Options, Reps, Row, time};
use crate::limits;

fn pseudo_random(n: usize, salt: u64) -> Vec<u64> {
    // Benchmark inputs only: values do not matter to the kernels' speed, so a cheap mixer will do.
    (0..n as u64).map(|i| (i ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)).collect()
}

fn gemm_row(name: String, size: usize, par: Parallelism, threads: usize, reps: Reps) -> Row {
    let a = pseudo_random(size * size, 1);
    let b = pseudo_random(size * size, 2);
    let mut c = vec![0u64; size * size];
    let t = time(reps, || kernels::gemm_u64(size, size, size, &a, &b, &mut c, par));
    let macs = (size * size * size) as f64;
    Row {
        name,
        value: macs / t.median.as_secs_f64() / 1e9,
        unit: "G MAC/s",
        limit: Some(limits::GEMM_GMACS_PER_CORE * threads as f64),
        limit_label: "C AVX-512, per core x threads",
        better: Better::Higher,
        estimate: None,
        note: format!(
            "kernel {}, median {:.2} ms, min {:.2} ms",
            kernels::gemm_u64_kernel_name(),
            t.median.as_secs_f64() * 1e3,
            t.min.as_secs_f64() * 1e3
        ),
    }
}

fn gemm_u32_row(name: String, size: usize, reps: Reps) -> Row {
    let a: Vec<u32> = pseudo_random(size * size, 3).into_iter().map(|x| x as u32).collect();
    let b: Vec<u32> = pseudo_random(size * size, 4).into_iter().map(|x| x as u32).collect();
    let mut c = vec![0u32; size * size];
    let t =
        time(reps, || kernels::gemm_u32(size, size, size, &a, &b, &mut c, Parallelism::Sequential));
    Row {
        name,
        value: (size * size * size) as f64 / t.median.as_secs_f64() / 1e9,
        unit: "G MAC/s",
        limit: None,
        limit_label: "-",
        better: Better::Higher,
        estimate: None,
        note: format!("{:.2} ms", t.median.as_secs_f64() * 1e3),
    }
}

fn conv_row(name: String, par: Parallelism, threads: usize, reps: Reps) -> Row {
    let x = RingTensor::from_vec(&[1, 64, 56, 56], pseudo_random(64 * 56 * 56, 5)).expect("shape");
    let w = RingTensor::from_vec(&[64, 64, 3, 3], pseudo_random(64 * 64 * 9, 6)).expect("shape");
    let spec = Conv2dSpec { stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1 };
    let backend = cloak_ring::CpuBackend { parallelism: par };
    let t = time(reps, || {
        let y = cloak_ring::Backend::conv2d(&backend, &x, &w, &spec).expect("conv2d");
        std::hint::black_box(y);
    });
    let macs = (64 * 56 * 56 * 64 * 9) as f64;
    Row {
        name,
        value: t.median.as_secs_f64() * 1e3,
        unit: "ms",
        limit: Some(macs / (limits::GEMM_GMACS_PER_CORE * threads as f64 * 1e9) * 1e3),
        limit_label: "GEMM-bound time at C GEMM speed",
        better: Better::Lower,
        estimate: None,
        note: format!(
            "{:.2} G MAC/s, min {:.2} ms",
            macs / t.median.as_secs_f64() / 1e9,
            t.min.as_secs_f64() * 1e3
        ),
    }
}

fn threads_label(threads: usize) -> String {
    if threads == 1 { "1 thread".into() } else { format!("{threads} threads") }
}

/// The ring rows that `wanted` keeps.
pub fn rows(opts: &Options, wanted: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let quick = opts.quick;
    let threads = rayon::current_num_threads();
    let r =
        |warmup, timed| if quick { Reps { warmup: 1, timed: 2 } } else { Reps { warmup, timed } };
    let mut rows = Vec::new();
    for (size, reps) in [(256, r(3, 30)), (1024, r(1, 7)), (2048, r(1, 3))] {
        for (par, t) in [(Parallelism::Sequential, 1), (Parallelism::Rayon, threads)] {
            let name = format!("u64 GEMM {size}^2, {}", threads_label(t));
            if wanted(&name) {
                rows.push(gemm_row(name, size, par, t, reps));
            }
        }
    }
    let name = "u32 GEMM 1024^2, 1 thread".to_string();
    if wanted(&name) {
        rows.push(gemm_u32_row(name, 1024, r(1, 7)));
    }
    for (par, t) in [(Parallelism::Sequential, 1), (Parallelism::Rayon, threads)] {
        let name = format!("conv2d 1x64x56x56 * 64x64x3x3 p1, {}", threads_label(t));
        if wanted(&name) {
            rows.push(conv_row(name, par, t, r(2, 15)));
        }
    }
    rows
}
