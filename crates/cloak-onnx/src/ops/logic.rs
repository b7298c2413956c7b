//! Comparisons, selection and elementwise extrema. Comparisons and selection conditions are
//! folded when public (masks, shape checks); `Where` with a public condition and private
//! branches is two local products by the public mask; `Max`/`Min` of private values use one
//! ReLU each (`max(a, b) = b + relu(a - b)`).

use cloak_autograd::{Backend, Var};
use ndarray::ArrayD;

use super::Ctx;
use crate::error::Result;
use crate::tensor::DType;
use crate::value::{Val, broadcast_public, broadcast_shape, broadcast_var, zip_public};

fn public_pair<'a, B: Backend>(c: &'a Ctx<'_, B>) -> Result<(&'a ArrayD<f64>, &'a ArrayD<f64>)> {
    let what = "a comparison operand (private comparisons as graph nodes are not supported)";
    Ok((c.public(0, what)?, c.public(1, what)?))
}

fn bool_of(v: bool) -> f64 {
    f64::from(u8::from(v))
}

pub(super) fn logic<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let op = c.node.op();
    let bad = || c.err("operand shapes do not broadcast");
    Ok(match op {
        "Not" => Val::Public(c.public(0, "the operand")?.mapv(|v| bool_of(v == 0.0)), DType::Bool),
        "Equal" | "Less" | "Greater" => {
            let (a, b) = public_pair(c)?;
            let f = match op {
                "Equal" => |x: f64, y: f64| bool_of(x == y),
                "Less" => |x: f64, y: f64| bool_of(x < y),
                _ => |x: f64, y: f64| bool_of(x > y),
            };
            Val::Public(zip_public(a, b, f).ok_or_else(bad)?, DType::Bool)
        }
        "Mod" => {
            let (a, b) = public_pair(c)?;
            let fmod = c.node.int_or("fmod", 0)? != 0;
            let d = match c.input(0)? {
                Val::Public(_, d) => *d,
                Val::Private(_) => DType::Float,
            };
            let f = move |x: f64, y: f64| {
                if fmod { x % y } else { x - y * (x / y).floor() }
            };
            Val::Public(zip_public(a, b, f).ok_or_else(bad)?, d)
        }
        _ => {
            // Where(cond, x, y)
            let cond = c.public(0, "the condition of Where")?;
            let (x, y) = (c.input(1)?, c.input(2)?);
            let shape = broadcast_shape(
                &broadcast_shape(cond.shape(), &x.shape()).ok_or_else(bad)?,
                &y.shape(),
            )
            .ok_or_else(bad)?;
            let m = broadcast_public(cond, &shape)?.mapv(|v| bool_of(v != 0.0));
            if let (Val::Public(a, d), Val::Public(b, _)) = (x, y) {
                let (a, b) = (broadcast_public(a, &shape)?, broadcast_public(b, &shape)?);
                let mut out = a.clone();
                ndarray::Zip::from(&mut out).and(&m).and(&b).for_each(|o, &m, &b| {
                    if m == 0.0 {
                        *o = b;
                    }
                });
                return Ok(Val::Public(out, *d));
            }
            let pick = |v: &Val<B>, mask: &ArrayD<f64>| -> Result<Var<B>> {
                let v = broadcast_var(&v.to_var(c.backend)?, &shape)?;
                Ok(v.mul_public(mask)?)
            };
            let inv = m.mapv(|v| 1.0 - v);
            Val::Private(pick(x, &m)?.add(&pick(y, &inv)?)?)
        }
    })
}

pub(super) fn min_max<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let is_max = c.node.op() == "Max";
    let parts: Vec<&Val<B>> = c.inputs.iter().flatten().collect();
    let mut acc = (*parts.first().ok_or_else(|| c.err("no operands"))?).clone();
    for p in &parts[1..] {
        acc = match (&acc, p) {
            (Val::Public(a, d), Val::Public(b, _)) => {
                let f = if is_max { f64::max } else { f64::min };
                Val::Public(
                    zip_public(a, b, f).ok_or_else(|| c.err("operand shapes do not broadcast"))?,
                    *d,
                )
            }
            _ => {
                let shape = broadcast_shape(&acc.shape(), &p.shape())
                    .ok_or_else(|| c.err("operand shapes do not broadcast"))?;
                let a = broadcast_var(&acc.to_var(c.backend)?, &shape)?;
                let b = broadcast_var(&p.to_var(c.backend)?, &shape)?;
                // max(a, b) = b + relu(a - b); min(a, b) = a - relu(a - b).
                let r = a.sub(&b)?.relu()?;
                Val::Private(if is_max { b.add(&r)? } else { a.sub(&r)? })
            }
        };
    }
    Ok(acc)
}
