//! Every fixture run on secret shares (2 parties, and again with 3) against
//! torch's output: the model owner (party 0) shares the weights, the data owner (party 1)
//! the input, and the output is revealed to the data owner only.
//!
//! Tolerances, from the 16-bit fixed point (unit `u = 2^-16 = 1.5e-5`):
//! - linear and piecewise-linear graphs (products, ReLU, pooling, shapes): each product is
//!   truncated once (at most `u` each, plus the encoding of both operands, `u/2` each,
//!   times the fan-in of at most a few hundred terms of magnitude below 1): measured up to
//!   `7e-5` here; the tolerance `3e-4 (1 + |y|)` keeps a margin of about 4x;
//! - graphs with the smooth functions (exp, log, reciprocal, square roots, sigmoid, tanh,
//!   erf, softmax, normalisations), whose approximations are documented in `cloak-mpc` to
//!   relative errors of a few 1e-4 over their domains, amplified by normalisation's
//!   `1/std`: measured up to `1.1e-3` (BatchNorm on a small spread); the tolerance
//!   `3e-3 (1 + |y|)`.

mod common;

use cloak_autograd::{Backend, Secure, Var};
use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_nn::{Module, ModuleExt};
use cloak_onnx::OnnxModel;
use ndarray::ArrayD;

const SMOOTH: &[&str] = &[
    "Exp",
    "Log",
    "Reciprocal",
    "Sqrt",
    "Sigmoid",
    "Tanh",
    "Erf",
    "Gelu",
    "Softmax",
    "LogSoftmax",
    "LayerNormalization",
    "InstanceNormalization",
    "BatchNormalization",
    "Div",
    "Pow",
    "HardSwish",
    "HardSigmoid",
    "ReduceMean",
];

/// Runs `model` privately with `parties` and returns the output revealed to party 1, who
/// holds `input` (token ids are encoded one-hot by it before sharing).
fn private_output(
    model: &OnnxModel,
    f: &common::Fixture,
    parties: usize,
) -> Result<ArrayD<f64>, String> {
    let input = &model.encode_input(&f.input).map_err(|e| e.to_string())?;
    let shape = f.input.shape().to_vec();
    let encoded = model.encoded_input_shape(&shape);
    // The other parties see only the public part of the model, and set the public inputs.
    let mut public =
        OnnxModel::from_public_bytes(&model.public_bytes()).map_err(|e| e.to_string())?;
    f.set_public(&mut public).map_err(|e| e.to_string())?;
    let public = &public;
    let outcomes = run_local_typed(parties, &SessionConfig::default(), |s| {
        let run = || -> Result<Option<ArrayD<f64>>, Box<dyn std::error::Error + Send + Sync>> {
            let b = Secure::new(s);
            let mine = if s.rank() == 0 { model } else { public };
            let net = mine.build(&b, &shape)?;
            net.load_state(0, if s.rank() == 0 { model.weights() } else { None })?;
            let x = Var::constant(&b, b.input(1, (s.rank() == 1).then_some(input), &encoded)?);
            let y = net.forward(&x)?;
            Ok(b.reveal_to(&y.value(), 1)?)
        };
        run()
    });
    let mut revealed = None;
    for (rank, o) in outcomes.into_iter().enumerate() {
        match o {
            Ok(Some(y)) if rank == 1 => revealed = Some(y),
            Ok(Some(_)) => return Err(format!("party {rank} learned the output")),
            Ok(None) if rank == 1 => return Err("the data owner learned nothing".into()),
            Ok(None) => {}
            Err(e) => return Err(format!("party {rank}: {e}")),
        }
    }
    revealed.ok_or_else(|| "no output".into())
}

fn check(filter: impl Fn(&str) -> bool, parties: usize) {
    let mut failures = Vec::new();
    let mut count = 0;
    for f in common::all().iter().filter(|f| filter(&f.name)) {
        count += 1;
        let model = f.load().expect("fixture loads");
        let smooth = model
            .report(f.input.shape())
            .map(|r| r.ops.iter().any(|o| SMOOTH.contains(&o.op.as_str())))
            .unwrap_or(true);
        let scale = f.expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = if smooth { 3e-3 } else { 3e-4 } * (1.0 + scale);
        match private_output(&model, f, parties) {
            Ok(y) => {
                let y = y
                    .as_standard_layout()
                    .into_owned()
                    .into_shape_with_order(f.expected.shape().to_vec())
                    .expect("output size");
                let err = common::max_abs_diff(&y, &f.expected);
                println!("{:<45} {parties}p err {err:.2e} tol {tol:.1e}", f.name);
                if err > tol {
                    failures.push(format!("{}: error {err:.3e} above {tol:.1e}", f.name));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", f.name)),
        }
    }
    assert!(count > 0, "no fixture matched");
    assert!(
        failures.is_empty(),
        "{} of {count} failed with {parties} parties:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_privately_with_two_parties() {
    check(|_| true, 2);
}

#[test]
fn every_fixture_privately_with_three_parties() {
    check(|_| true, 3);
}
