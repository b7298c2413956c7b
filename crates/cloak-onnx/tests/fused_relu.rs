//! A convolution whose output only a ReLU reads runs with the ReLU fused into it at
//! inference (`Backend::conv2d_relu`: the product's rescaling and the comparison from one
//! opening): against torch's output, with 2 and 3 parties, on every fixture that has such
//! a pair; and against the same model run step by step (with gradients recorded, which
//! does not fuse), one round fewer per fused pair.
//!
//! Tolerance: `3e-3 (1 + |y|)`, the private fixtures' bound for graphs with the smooth
//! functions (two of these have a sigmoid or a BatchNorm); the fused rescaling is the same
//! truncation as the stepwise one (at most one unit of `2^-16` above the floor).

mod common;

use cloak_autograd::{Backend, Plain, Secure, Var, no_grad};
use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_nn::{Module, ModuleExt};
use cloak_onnx::OnnxModel;
use ndarray::ArrayD;

/// Fixtures with a convolution read only by a ReLU, and how many such pairs each has.
const PAIRS: &[(&str, u64)] = &[
    ("block_classifier.ts.onnx", 1),
    ("block_resnet_basic.ts.onnx", 1),
    ("block_split.ts.onnx", 1),
    ("block_squeeze_excite.ts.onnx", 1),
    ("block_squeezenet_fire.ts.onnx", 3),
    ("block_upsample.ts.onnx", 1),
    ("relu_batchnorm2d.ts.onnx", 1),
];

/// The output revealed to every party and party 0's rounds for the forward pass, with the
/// pass run under `no_grad` (fused) or not.
fn run(model: &OnnxModel, input: &ArrayD<f64>, parties: usize, fused: bool) -> (ArrayD<f64>, u64) {
    let shape = input.shape().to_vec();
    let out = run_local_typed(parties, &SessionConfig::default(), |s| {
        let go = || -> Result<(ArrayD<f64>, u64), Box<dyn std::error::Error + Send + Sync>> {
            let b = Secure::new(s);
            let net = model.build(&b, &shape)?;
            net.load_state(0, if s.rank() == 0 { model.weights() } else { None })?;
            let x = Var::constant(&b, b.input(1, (s.rank() == 1).then_some(input), &shape)?);
            s.reset_stats();
            let y = if fused { no_grad(|| net.forward(&x))? } else { net.forward(&x)? };
            let rounds = s.comm_stats().total().rounds;
            Ok((b.reveal(&y.value())?, rounds))
        };
        go()
    });
    out.into_iter().next().expect("party 0").expect("party 0 ran")
}

#[test]
fn fused_convolutions_match_torch_and_save_a_round_each() {
    for &(file, pairs) in PAIRS {
        let model = OnnxModel::load(common::fixtures().join(file)).expect("loads");
        let stem = file.split('.').next().expect("a stem");
        let input = common::read_npy(&common::fixtures().join(format!("{stem}.input.npy")));
        let want = common::read_npy(&common::fixtures().join(format!("{stem}.output.npy")));
        for parties in [2, 3] {
            let (fused, fused_rounds) = run(&model, &input, parties, true);
            let (stepwise, stepwise_rounds) = run(&model, &input, parties, false);
            for (what, got) in [("fused", &fused), ("stepwise", &stepwise)] {
                assert_eq!(got.shape(), want.shape(), "{file}: {what}");
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!(
                        (g - w).abs() <= 3e-3 * (1.0 + w.abs()),
                        "{file}, {parties} parties, {what}: {g} against torch's {w}"
                    );
                }
            }
            assert_eq!(
                fused_rounds + pairs,
                stepwise_rounds,
                "{file}, {parties} parties: {pairs} fused pairs"
            );
        }
    }
}

#[test]
fn the_default_fused_convolution_is_the_two_steps() {
    // The plain backend keeps `Backend::conv2d_relu`'s default: the convolution, the bias
    // and the ReLU in turn, so with and without gradients the outputs are the same floats.
    for &(file, _) in PAIRS {
        let model = OnnxModel::load(common::fixtures().join(file)).expect("loads");
        let stem = file.split('.').next().expect("a stem");
        let input = common::read_npy(&common::fixtures().join(format!("{stem}.input.npy")));
        let shape = input.shape().to_vec();
        let net = model.build(&Plain, &shape).expect("builds");
        net.load_state(0, model.weights()).expect("loads its weights");
        let x = Var::constant(&Plain, Plain.input(0, Some(&input), &shape).expect("input"));
        let fused = no_grad(|| net.forward(&x)).expect("runs").value();
        let stepwise = net.forward(&x).expect("runs").value();
        assert_eq!(fused, stepwise, "{file}");
    }
}

#[test]
fn the_report_counts_the_fused_round() {
    // Two blocks whose every cost the report models exactly: its estimate is the fused
    // pass's rounds and the output's reveal.
    for file in ["block_resnet_basic.ts.onnx", "block_squeezenet_fire.ts.onnx"] {
        let model = OnnxModel::load(common::fixtures().join(file)).expect("loads");
        let stem = file.split('.').next().expect("a stem");
        let input = common::read_npy(&common::fixtures().join(format!("{stem}.input.npy")));
        let report = model.report(input.shape()).expect("a report");
        let (_, fused_rounds) = run(&model, &input, 2, true);
        assert_eq!(report.rounds, fused_rounds + 1, "{file}");
    }
}
