//! The protocol layer on a CUDA device: the whole protocol conformance suite and a private
//! inference with every share in GPU memory, two parties sharing one GPU. Skipped, with a
//! message, where there is no GPU; `cargo xtask gpu-check` runs it with
//! `CLOAK_REQUIRE_GPU=1`, which turns the skip into a failure.

use cloak::gpu::CudaDevice;
use cloak::mpc::ComputeDevice;
use cloak::mpc::conformance::{Configured, run_all};
use cloak::prelude::*;
use ndarray::ArrayD;

/// GPU 0, or `None` after saying why the test is skipped.
fn gpu_or_skip() -> Option<CudaDevice> {
    match CudaDevice::new(0) {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var("CLOAK_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("CLOAK_REQUIRE_GPU=1 but no CUDA device: {e}")
        }
        Err(e) => {
            eprintln!("skipped: no CUDA device: {e}");
            None
        }
    }
}

fn on_gpu(gpu: &CudaDevice) -> SessionConfig {
    SessionConfig { device: ComputeDevice::on(gpu.handle()), ..SessionConfig::default() }
}

#[test]
fn the_protocol_suite_passes_with_every_share_on_the_gpu() {
    let Some(gpu) = gpu_or_skip() else { return };
    let failures = run_all(&Configured::new(on_gpu(&gpu)));
    assert!(failures.is_empty(), "{} failure(s):\n{failures:#?}", failures.len());
    let local = SessionConfig { truncation: Truncation::LocalShares.into(), ..on_gpu(&gpu) };
    let failures = run_all(&Configured::new(local));
    assert!(failures.is_empty(), "local shares: {failures:#?}");
}

#[test]
fn the_digits_cnn_on_the_gpu_predicts_as_the_plain_model() {
    let Some(gpu) = gpu_or_skip() else { return };
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models");
    let model = cloak::from_onnx(models.join("digits_cnn.onnx")).expect("the example model");
    let x: ArrayD<f64> = cloak::npy::read(models.join("digits_sample.npy")).expect("the digits");
    let net = model.build(&Plain, x.shape()).expect("builds");
    net.load_state(0, model.weights()).expect("weights load");
    let plain = Plain.reveal(&net.forward(&Var::constant(&Plain, x.clone())).unwrap().value());
    let plain = plain.expect("plain logits");
    let outputs = cloak::run_local(2, &on_gpu(&gpu), |s| {
        cloak::infer(s, &model, Roles::default(), Some(&x), x.shape())
    })
    .expect("runs on the GPU");
    let out = outputs.into_iter().flatten().next().expect("a party learns the output");
    // The facade test derives this bound (tests/facade.rs, TOL).
    let d = out.iter().zip(&plain).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(d <= 0.05, "logits differ by {d}");
    assert_eq!(cloak::predicted_classes(&out).unwrap(), (0..8).collect::<Vec<_>>());
}
