//! What the GPU tests share: opening GPU 0 or saying why the test is skipped.

// Each test binary uses part of this module.
#![allow(dead_code)]

use cloak_gpu::CudaDevice;

/// GPU 0, or `None` after printing `skipped: no CUDA device: <reason>`.
///
/// With `CLOAK_REQUIRE_GPU=1` (as `cargo xtask gpu-check` sets it) a missing GPU fails the
/// test instead: on the machine meant to run them, skipping would hide a broken setup.
pub fn gpu_or_skip() -> Option<CudaDevice> {
    match CudaDevice::new(0) {
        Ok(dev) => Some(dev),
        Err(e) if std::env::var("CLOAK_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("CLOAK_REQUIRE_GPU=1 but no CUDA device: {e}")
        }
        Err(e) => {
            eprintln!("skipped: no CUDA device: {e}");
            None
        }
    }
}

/// Runs every named check, each under `catch_unwind`, and fails once at the end listing
/// every check that failed (one broken kernel does not hide the others).
pub fn run_checks<C: Copy>(suite: &str, checks: Vec<(&'static str, C)>, run: impl Fn(C)) {
    let mut failed = Vec::new();
    for (name, check) in checks {
        eprintln!("{suite}: {name}");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(check)));
        if let Err(payload) = outcome {
            let why = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{name}: {why}"));
        }
    }
    assert!(failed.is_empty(), "{suite}: {} check(s) failed:\n{}", failed.len(), failed.join("\n"));
}
