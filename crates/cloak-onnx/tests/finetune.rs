//! Fine-tuning through an imported graph: the gradients of the owner's (secret-shared)
//! weights, computed by backward on shares, against the same backward in f64.
//!
//! Loss: the mean of the squared outputs. Tolerance `2e-3 (1 + |g|)`: the forward is within
//! `3e-4` (see private_fixtures.rs), and each backward product adds a truncation of `2^-16`
//! per element accumulated over the fan-in; measured below `5e-4`.

mod common;

use cloak_autograd::{Backend, Plain, Secure, Var};
use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_nn::{Module, ModuleExt};
use cloak_onnx::OnnxModel;
use ndarray::ArrayD;

fn grads<B: Backend>(
    b: &B,
    model: &OnnxModel,
    x: &ArrayD<f64>,
) -> Result<Vec<ArrayD<f64>>, Box<dyn std::error::Error + Send + Sync>> {
    let shape = x.shape().to_vec();
    let net = model.build(b, &shape)?;
    let owner = b.rank() == 0;
    net.load_state(0, if owner { model.weights() } else { None })?;
    let data_owner = if b.parties() == 1 { 0 } else { 1 };
    let xv = Var::constant(b, b.input(data_owner, (b.rank() == data_owner).then_some(x), &shape)?);
    let y = net.forward(&xv)?;
    let loss = y.square()?.mean_all()?;
    loss.backward()?;
    let mut out = Vec::new();
    for p in net.parameters() {
        out.push(b.reveal(&p.grad()?)?);
    }
    Ok(out)
}

#[test]
fn weight_gradients_on_shares_match_plain() {
    for file in ["block_classifier.ts.onnx", "linear_gemm.ts.onnx", "conv2d.ts.onnx"] {
        let path = common::fixtures().join(file);
        let model = OnnxModel::load(&path).expect("fixture loads");
        let x = common::read_npy(
            &common::fixtures().join(format!("{}.input.npy", file.split('.').next().unwrap())),
        );
        let want = grads(&Plain, &model, &x).expect("plain backward");
        assert!(!want.is_empty(), "{file} has no parameters");
        for parties in [2, 3] {
            let got = run_local_typed(parties, &SessionConfig::default(), |s| {
                grads(&Secure::new(s), &model, &x)
            });
            let got = got.into_iter().next().unwrap().expect("party 0");
            for (g, w) in got.iter().zip(&want) {
                let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let err = common::max_abs_diff(g, w);
                assert!(
                    err <= 2e-3 * (1.0 + scale),
                    "{file}, {parties} parties: gradient error {err:.3e} (scale {scale:.3})"
                );
            }
        }
    }
}
