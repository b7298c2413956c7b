//! The ring layer's conformance suites on the GPU: every device operation against the host
//! bit for bit (with residency: a chain of operations moves nothing until its wire bytes),
//! and every product against the naive references. Skipped, with a message, where there is
//! no CUDA device.
//!
//! The suites' macros (`device_conformance_tests!`, `backend_conformance_tests!`) expand to
//! one test per check and per ring, with no way to skip, and also instantiate `u32`, which
//! this device does not implement; so the checks run here from their lists, for `u64`.

mod common;

use cloak_ring::conformance::{self, device::device_checks};
use cloak_ring::{Backend, Device};

#[test]
fn device_suite_on_the_gpu() {
    let Some(gpu) = common::gpu_or_skip() else { return };
    eprintln!("running the device suite on {} ({})", gpu.label(), gpu.name());
    // A fresh handle per check: its own transfer counters.
    common::run_checks("device suite", device_checks::<u64>(), |check| {
        let dev = cloak_gpu::CudaDevice::new(gpu.ordinal()).expect("the GPU opened once");
        check(&dev.handle());
    });
}

/// The device suite run above checks the keystream (the GPU's against the host reference,
/// nothing crossing); this holds without a GPU, so that a suite without it cannot pass here
/// unnoticed.
#[test]
fn the_device_suite_checks_the_keystream() {
    let names: Vec<&str> = device_checks::<u64>().iter().map(|(name, _)| *name).collect();
    assert!(names.contains(&"keystream"), "device checks: {names:?}");
}

#[test]
fn backend_suite_on_the_gpu() {
    let Some(gpu) = common::gpu_or_skip() else { return };
    common::run_checks("backend suite", conformance::checks::<u64>(), |check| {
        check(&gpu as &dyn Backend<u64>);
    });
}
