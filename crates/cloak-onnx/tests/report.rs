//! The model report against what a private run actually costs, and what the other parties
//! receive of a model.

mod common;

use cloak_autograd::{Backend, Secure, Var};
use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_nn::{Module, ModuleExt};
use cloak_onnx::OnnxModel;

/// Rounds and bytes party 0 sent in a real two-party run of `file`.
fn measured(file: &str) -> (u64, u64, cloak_onnx::ModelReport) {
    let model = OnnxModel::load(common::fixtures().join(file)).expect("loads");
    let input = common::read_npy(
        &common::fixtures().join(format!("{}.input.npy", file.split('.').next().unwrap())),
    );
    let shape = input.shape().to_vec();
    let report = model.report(&shape).expect("report");
    // Token ids are shared one-hot (the data owner's encoding).
    let input = model.encode_input(&input).expect("valid input");
    let encoded = input.shape().to_vec();
    let out = run_local_typed(2, &SessionConfig::default(), |s| {
        let go = || -> Result<(u64, u64), Box<dyn std::error::Error + Send + Sync>> {
            let b = Secure::new(s);
            let net = model.build(&b, &shape)?;
            net.load_state(0, if s.rank() == 0 { model.weights() } else { None })?;
            let x = Var::constant(&b, b.input(1, (s.rank() == 1).then_some(&input), &encoded)?);
            s.reset_stats();
            // Inference, as `cloak infer` runs it: nothing recorded for a backward (max
            // pooling then carries no one-hot).
            let y = cloak_autograd::no_grad(|| net.forward(&x))?;
            b.reveal_to(&y.value(), 1)?;
            let t = s.comm_stats().total();
            Ok((t.rounds, t.bytes_sent))
        };
        go()
    });
    let (rounds, bytes) = out.into_iter().next().unwrap().expect("party 0");
    (rounds, bytes, report)
}

#[test]
fn estimates_are_close_to_real_runs() {
    for file in [
        "block_resnet_basic.ts.onnx",
        "block_squeezenet_fire.ts.onnx",
        "block_classifier.ts.onnx",
        "block_squeeze_excite.ts.onnx",
        "block_mobilenetv2_inverted_residual.ts.onnx",
        "transformer_encoder_post_relu.ts.onnx",
        "transformer_block_handwritten_layernorm.dynamo.onnx",
        "bert_first_token.ts.onnx",
    ] {
        let (rounds, bytes, report) = measured(file);
        println!(
            "{file}: rounds {rounds} (estimate {}), bytes {bytes} (estimate {})",
            report.rounds, report.bytes_per_party
        );
        let ratio = report.bytes_per_party as f64 / bytes as f64;
        assert!(
            (0.5..2.0).contains(&ratio),
            "{file}: bytes estimate {} against {bytes}",
            report.bytes_per_party
        );
        let r = report.rounds as f64 / rounds as f64;
        assert!(
            (0.5..2.0).contains(&r),
            "{file}: rounds estimate {} against {rounds}",
            report.rounds
        );
    }
}

#[test]
fn the_public_part_carries_no_weight() {
    let model = OnnxModel::load(common::fixtures().join("conv2d.ts.onnx")).expect("loads");
    let public = model.public_bytes();
    let weights = model.weights().expect("the owner holds the weights");
    assert!(!weights.is_empty());
    for (name, w) in weights {
        // No weight's float32 encoding (any 4 consecutive values) appears in the public bytes.
        let vals: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        for win in vals.windows(4.min(vals.len())).take(8) {
            let needle: Vec<u8> = win.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert!(!public.windows(needle.len()).any(|h| h == needle.as_slice()), "{name} leaks");
        }
    }
    let rebuilt = OnnxModel::from_public_bytes(&public).expect("public part parses");
    assert!(rebuilt.weights().is_none());
    assert_eq!(rebuilt.private_tensors(), model.private_tensors());
    // A public part cannot pass as a model file (its weights are missing).
    assert!(OnnxModel::from_bytes(&public).is_err());
}
