//! Every fixture imported and run on the plain `f64` backend against torch's output.
//!
//! Torch computed in float32, we in f64 from the same float32 weights and input, so the
//! difference is float32 rounding: about `2^-24` relative per operation, accumulated over a
//! few hundred operations at most in these small models. The tolerance `1e-4 * (1 + max|y|)`
//! is above that by a wide margin and far below any real error (a wrong padding, axis or
//! attribute changes outputs by 1e-2 or more).

mod common;

use cloak_autograd::{Backend, Plain, Var};
use cloak_nn::{Module, ModuleExt};

#[test]
fn every_fixture_matches_torch_in_f64() {
    let fixtures = common::all();
    assert!(fixtures.len() >= 40, "only {} fixtures found", fixtures.len());
    let mut failures = Vec::new();
    for f in &fixtures {
        let result = (|| -> Result<f64, Box<dyn std::error::Error>> {
            let model = f.load()?;
            let shape = f.input.shape().to_vec();
            let net = model.build(&Plain, &shape)?;
            net.load_state(0, model.weights())?;
            let encoded = model.encode_input(&f.input)?;
            let x = Var::constant(&Plain, Plain.input(0, Some(&encoded), encoded.shape())?);
            let y = net.forward(&x)?.value();
            if y.shape() != f.expected.shape() && y.len() != f.expected.len() {
                return Err(format!(
                    "output shape {:?}, torch {:?}",
                    y.shape(),
                    f.expected.shape()
                )
                .into());
            }
            let y = y
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(f.expected.shape().to_vec())?;
            let scale = f.expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let err = common::max_abs_diff(&y, &f.expected);
            if err > 1e-4 * (1.0 + scale) {
                return Err(format!("max abs error {err:.3e} (scale {scale:.3})").into());
            }
            Ok(err)
        })();
        match result {
            Ok(err) => println!("{:<45} ok   {err:.2e}", f.name),
            Err(e) => {
                println!("{:<45} FAIL {e}", f.name);
                failures.push(format!("{}: {e}", f.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
}
