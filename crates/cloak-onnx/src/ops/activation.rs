//! Activations. Piecewise-linear ones are built from one comparison each (ReLU, a clamp);
//! smooth ones use the protocol layer's approximations (sigmoid, tanh, erf, softmax), whose
//! domains and errors are documented in `cloak-mpc`.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use cloak_autograd::{Backend, Var};

use super::Ctx;
use crate::error::Result;
use crate::value::{Val, norm_axis};

/// `clamp(x, lo, hi)` for optional bounds: one comparison per bound given.
fn clip<B: Backend>(x: &Var<B>, lo: Option<f64>, hi: Option<f64>) -> Result<Var<B>> {
    Ok(match (lo, hi) {
        (Some(l), Some(h)) if l <= h => x.hardtanh(l, h)?,
        // ONNX: min > max gives max everywhere, a public constant.
        (Some(_), Some(h)) => {
            let b = x.backend();
            Var::constant(&b, b.public(&ndarray::ArrayD::from_elem(x.shape(), h))?)
        }
        (Some(l), None) => x.add_scalar(-l)?.relu()?.add_scalar(l)?,
        (None, Some(h)) => x.neg()?.add_scalar(h)?.relu()?.neg()?.add_scalar(h)?,
        (None, None) => x.clone(),
    })
}

fn bound<B: Backend>(c: &Ctx<'_, B>, i: usize, attr: &str) -> Result<Option<f64>> {
    if c.opt(i).is_some() {
        let v = c.public(i, attr)?;
        return Ok(v.iter().next().copied());
    }
    Ok(if c.node.has(attr) { Some(c.node.float_or(attr, 0.0)?) } else { None })
}

pub(super) fn activation<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let x = c.var(0)?;
    let n = c.node;
    Ok(Val::Private(match n.op() {
        "Relu" => x.relu()?,
        "LeakyRelu" => {
            // relu(x) (1 - a) + a x: one comparison.
            let a = n.float_or("alpha", 0.01)?;
            x.relu()?.mul_scalar(1.0 - a)?.add(&x.mul_scalar(a)?)?
        }
        "Clip" => clip(&x, bound(c, 1, "min")?, bound(c, 2, "max")?)?,
        "Sigmoid" => x.sigmoid()?,
        "Tanh" => x.tanh()?,
        "HardSigmoid" => {
            let (a, b) = (n.float_or("alpha", 0.2)?, n.float_or("beta", 0.5)?);
            x.mul_scalar(a)?.add_scalar(b)?.hardtanh(0.0, 1.0)?
        }
        "HardSwish" => x.mul(&x.mul_scalar(1.0 / 6.0)?.add_scalar(0.5)?.hardtanh(0.0, 1.0)?)?,
        "Erf" => x.erf()?,
        _ => {
            // Gelu (opset 20).
            let approx = n.string_or("approximate", "none")?;
            let inner = match approx.as_str() {
                "none" => x.mul_scalar(FRAC_1_SQRT_2)?.erf()?,
                "tanh" => {
                    let cube = x.square()?.mul(&x)?;
                    x.add(&cube.mul_scalar(0.044715)?)?.mul_scalar((2.0 / PI).sqrt())?.tanh()?
                }
                other => return Err(n.attr_error("approximate", format!("`{other}`"))),
            };
            x.mul_scalar(0.5)?.mul(&inner.add_scalar(1.0)?)?
        }
    }))
}

pub(super) fn softmax<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let x = c.var(0)?;
    let r = x.shape().len();
    let axis = c.node.int_or("axis", -1)?;
    let ax = norm_axis(axis, r)
        .ok_or_else(|| c.node.attr_error("axis", format!("{axis} for rank {r}")))?;
    Ok(Val::Private(if c.node.op() == "Softmax" { x.softmax(ax)? } else { x.log_softmax(ax)? }))
}
