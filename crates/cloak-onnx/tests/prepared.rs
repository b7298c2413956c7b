//! Repeated inference reuses the owner's weights prepared once: from the second pass on,
//! each product by a weight opens only its input's mask, so later passes send less, and
//! every pass gives the same answer.

mod common;

use cloak_autograd::{Backend, Secure, Var};
use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_nn::{Module, ModuleExt};
use cloak_onnx::OnnxModel;

#[test]
fn later_passes_send_less_and_agree() {
    // A classifier with convolutions and Gemms: each weight is larger than the input.
    let file = "block_classifier.ts.onnx";
    let model = OnnxModel::load(common::fixtures().join(file)).expect("loads");
    let x = common::read_npy(&common::fixtures().join("block_classifier.input.npy"));
    let want = common::read_npy(&common::fixtures().join("block_classifier.output.npy"));
    let shape = x.shape().to_vec();
    for parties in [2, 3] {
        let out = run_local_typed(parties, &SessionConfig::default(), |s| {
            let go = || -> Result<Vec<(u64, f64)>, Box<dyn std::error::Error + Send + Sync>> {
                let b = Secure::new(s);
                let net = model.build(&b, &shape)?;
                net.load_state(0, if s.rank() == 0 { model.weights() } else { None })?;
                let xv = Var::constant(&b, b.input(1, (s.rank() == 1).then_some(&x), &shape)?);
                let mut passes = Vec::new();
                for _ in 0..3 {
                    s.reset_stats();
                    let y = net.forward(&xv)?;
                    let sent = s.comm_stats().total().bytes_sent;
                    let y = b.reveal(&y.value())?;
                    let y = y.into_shape_with_order(want.shape().to_vec())?;
                    passes.push((sent, common::max_abs_diff(&y, &want)));
                }
                Ok(passes)
            };
            go()
        });
        let passes = out.into_iter().next().unwrap().expect("party 0");
        println!("{parties} parties: {passes:?}");
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for &(_, err) in &passes {
            // As private_fixtures.rs: smooth graph (softmax), 3e-3 (1 + |y|).
            assert!(err <= 3e-3 * (1.0 + scale), "{parties} parties: error {err:.3e}");
        }
        // The second pass prepares (opens each weight's mask once, as the first pass's
        // products did); the third sends only the inputs' masks.
        assert!(passes[2].0 < passes[0].0, "{parties} parties: {passes:?}");
        assert!(passes[2].0 < passes[1].0, "{parties} parties: {passes:?}");
    }
}
