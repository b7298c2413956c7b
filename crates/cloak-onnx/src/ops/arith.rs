//! Arithmetic: elementwise operators, powers, matrix products.
//!
//! A public operand keeps an operation local wherever the backend allows (`add_public`,
//! `mul_public`, `matmul_public`, scalars with extra precision); only a product of two private
//! operands costs a Beaver round.

use cloak_autograd::{Backend, Var};
use ndarray::{ArrayD, IxDyn};

use super::Ctx;
use crate::error::Result;
use crate::tensor::DType;
use crate::value::{
    Val, broadcast_public, broadcast_shape, broadcast_var, finite, scalar_of, zip_public,
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bin {
    Add,
    Sub,
    Mul,
    Div,
}

fn join_dtype(a: DType, b: DType) -> DType {
    if a == DType::Float || b == DType::Float { DType::Float } else { DType::Int }
}

/// `a (op) b` on values, broadcasting.
pub(crate) fn bin_vals<B: Backend>(
    c: &Ctx<'_, B>,
    op: Bin,
    a: &Val<B>,
    b: &Val<B>,
) -> Result<Val<B>> {
    let shape = broadcast_shape(&a.shape(), &b.shape()).ok_or_else(|| {
        c.err(format!("shapes {:?} and {:?} do not broadcast", a.shape(), b.shape()))
    })?;
    match (a, b) {
        (Val::Public(x, dx), Val::Public(y, dy)) => {
            let d = join_dtype(*dx, *dy);
            let int = d == DType::Int;
            let f = move |u: f64, v: f64| match op {
                Bin::Add => u + v,
                Bin::Sub => u - v,
                Bin::Mul => u * v,
                Bin::Div if int => {
                    if v == 0.0 {
                        0.0
                    } else {
                        (u / v).trunc()
                    }
                }
                Bin::Div => u / v,
            };
            Ok(Val::Public(zip_public(x, y, f).ok_or_else(|| c.err("shapes do not broadcast"))?, d))
        }
        (Val::Private(v), Val::Public(p, _)) => {
            let v = broadcast_var(v, &shape)?;
            let p = &*finite(p);
            let scalar = scalar_of(p);
            Ok(Val::Private(match (op, scalar) {
                (Bin::Add, Some(s)) => v.add_scalar(s)?,
                (Bin::Sub, Some(s)) => v.add_scalar(-s)?,
                (Bin::Mul, Some(s)) => v.mul_scalar(s)?,
                (Bin::Div, Some(s)) => v.div_scalar(s)?,
                (Bin::Add, None) => v.add_public(&broadcast_public(p, &shape)?)?,
                (Bin::Sub, None) => v.add_public(&broadcast_public(&p.mapv(|x| -x), &shape)?)?,
                (Bin::Mul, None) => v.mul_public(&broadcast_public(p, &shape)?)?,
                (Bin::Div, None) => {
                    v.mul_public(&broadcast_public(&p.mapv(|x| 1.0 / x), &shape)?)?
                }
            }))
        }
        (Val::Public(p, _), Val::Private(v)) => {
            let p = Val::Public(p.clone(), DType::Float);
            match op {
                Bin::Add | Bin::Mul => bin_vals(c, op, b, a),
                Bin::Sub => bin_vals(c, Bin::Add, &Val::Private(v.neg()?), &p),
                Bin::Div => bin_vals(c, Bin::Mul, &Val::Private(v.reciprocal()?), &p),
            }
        }
        (Val::Private(x), Val::Private(y)) => {
            let (x, y) = (broadcast_var(x, &shape)?, broadcast_var(y, &shape)?);
            Ok(Val::Private(match op {
                Bin::Add => x.add(&y)?,
                Bin::Sub => x.sub(&y)?,
                Bin::Mul => x.mul(&y)?,
                Bin::Div => x.div(&y)?,
            }))
        }
    }
}

pub(super) fn binary<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let op = match c.node.op() {
        "Add" => Bin::Add,
        "Sub" => Bin::Sub,
        "Mul" => Bin::Mul,
        _ => Bin::Div,
    };
    bin_vals(c, op, c.input(0)?, c.input(1)?)
}

pub(super) fn unary<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let op = c.node.op();
    if let Val::Public(a, d) = c.input(0)? {
        // Folded in f64: Neg and Abs keep the type (exact on integers too); the others are
        // float functions (PyTorch's attention scale is `1 / sqrt(head_dim)` of a cast shape).
        return Ok(match op {
            "Neg" => Val::Public(a.mapv(|v| -v), *d),
            "Abs" => Val::Public(a.mapv(f64::abs), *d),
            "Exp" => Val::float(a.mapv(f64::exp)),
            "Log" => Val::float(a.mapv(f64::ln)),
            "Sqrt" => Val::float(a.mapv(f64::sqrt)),
            _ => Val::float(a.mapv(f64::recip)),
        });
    }
    let x = c.var(0)?;
    Ok(Val::Private(match op {
        "Neg" => x.neg()?,
        "Abs" => x.abs()?,
        "Exp" => x.exp()?,
        "Log" => x.log()?,
        "Sqrt" => x.sqrt()?,
        _ => x.reciprocal()?,
    }))
}

/// `x^n` for an integer `n >= 1` by square-and-multiply.
fn int_pow<B: Backend>(x: &Var<B>, n: u32) -> Result<Var<B>> {
    if n == 1 {
        return Ok(x.clone());
    }
    let half = int_pow(x, n / 2)?.square()?;
    Ok(if n % 2 == 1 { half.mul(x)? } else { half })
}

pub(super) fn pow<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let e = c.public(1, "the exponent")?;
    let p = scalar_of(e).ok_or_else(|| c.err("only a scalar exponent is supported"))?;
    let x = c.var(0)?;
    let is_int = p.fract() == 0.0 && p.abs() <= 64.0;
    Ok(Val::Private(if p == 1.0 {
        x
    } else if p == 0.0 {
        return Ok(Val::float(ArrayD::ones(IxDyn(&x.shape()))));
    } else if p == 0.5 {
        x.sqrt()?
    } else if p == -0.5 {
        x.inv_sqrt()?
    } else if is_int && p > 0.0 {
        int_pow(&x, p as u32)?
    } else if is_int {
        int_pow(&x, (-p) as u32)?.reciprocal()?
    } else {
        // x^p = exp(p ln x), for positive x.
        x.log()?.mul_scalar(p)?.exp()?
    }))
}

/// `x @ p` for a public matrix `p` (local on shares, one truncation); backward `g @ p^T`.
fn matmul_public_var<B: Backend>(x: &Var<B>, p: &ArrayD<f64>) -> Result<Var<B>> {
    let out = x.backend().matmul_public(&x.value(), p)?;
    let pt = p.t().to_owned();
    Ok(Var::from_op("matmul_public", out, &[x], move |b, g| {
        Ok(vec![Some(b.matmul_public(g, &pt)?)])
    })?)
}

fn swap_last(r: usize) -> Vec<usize> {
    let mut axes: Vec<usize> = (0..r).collect();
    axes.swap(r - 2, r - 1);
    axes
}

fn transpose_val<B: Backend>(v: &Val<B>) -> Result<Val<B>> {
    let r = v.shape().len();
    Ok(match v {
        Val::Public(a, d) => Val::Public(
            a.clone().permuted_axes(IxDyn(&swap_last(r))).as_standard_layout().into_owned(),
            *d,
        ),
        Val::Private(x) => Val::Private(x.permute(&swap_last(r))?),
    })
}

/// NumPy matrix product of values (1-d operands promoted, batch axes broadcast).
/// `rhs_weight`: the input index of `b` and whether it was transposed, when `b` may be one of
/// the owner's weights (a prepared operand is then used where the backend has one).
pub(crate) fn matmul_vals<B: Backend>(
    c: &Ctx<'_, B>,
    a: &Val<B>,
    b: &Val<B>,
    rhs_weight: Option<(usize, bool)>,
) -> Result<Val<B>> {
    let (sa, sb) = (a.shape(), b.shape());
    if sa.is_empty() || sb.is_empty() {
        return Err(c.err("MatMul of a scalar"));
    }
    let a_vec = sa.len() == 1;
    let b_vec = sb.len() == 1;
    let a = if a_vec { crate::ops::shape::reshape_val(c, a, &[1, sa[0]])? } else { a.clone() };
    let b = if b_vec { crate::ops::shape::reshape_val(c, b, &[sb[0], 1])? } else { b.clone() };
    let (sa, sb) = (a.shape(), b.shape());
    let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
    let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
    if k != k2 {
        return Err(c.err(format!("MatMul of {sa:?} and {sb:?}: inner dimensions differ")));
    }
    let batch = broadcast_shape(&sa[..sa.len() - 2], &sb[..sb.len() - 2])
        .ok_or_else(|| c.err(format!("MatMul batch axes of {sa:?} and {sb:?} do not broadcast")))?;
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    let out = match (&a, &b) {
        (Val::Public(x, _), Val::Public(y, _)) => {
            // Folded in f64 (weights never reach here: they are private).
            let fa = broadcast_public(x, &[batch.clone(), vec![m, k]].concat())?;
            let fb = broadcast_public(y, &[batch.clone(), vec![k, n]].concat())?;
            let bsz: usize = batch.iter().product();
            let fa =
                fa.into_shape_with_order(IxDyn(&[bsz, m, k])).map_err(|e| c.err(e.to_string()))?;
            let fb =
                fb.into_shape_with_order(IxDyn(&[bsz, k, n])).map_err(|e| c.err(e.to_string()))?;
            let mut o = ArrayD::zeros(IxDyn(&[bsz, m, n]));
            for t in 0..bsz {
                for i in 0..m {
                    for j in 0..n {
                        o[[t, i, j]] = (0..k).map(|l| fa[[t, i, l]] * fb[[t, l, j]]).sum();
                    }
                }
            }
            Val::float(
                o.into_shape_with_order(IxDyn(&out_shape)).map_err(|e| c.err(e.to_string()))?,
            )
        }
        (Val::Private(x), Val::Public(p, _)) if sb.len() == 2 => {
            Val::Private(matmul_public_var(x, p)?)
        }
        (Val::Public(p, _), Val::Private(y)) if sa.len() == 2 => {
            // p @ y = (y^T @ p^T)^T, a public product on the right.
            let yt = y.permute(&swap_last(sb.len()))?;
            let pt = p.t().to_owned();
            let r = matmul_public_var(&yt, &pt)?;
            Val::Private(r.permute(&swap_last(sb.len()))?)
        }
        _ => {
            let x = a.to_var(c.backend)?;
            let y = b.to_var(c.backend)?;
            if sb.len() == 2 {
                let prepared = match rhs_weight {
                    Some((i, t)) => c.prepared(i, t, &y)?,
                    None => None,
                };
                Val::Private(match prepared {
                    Some(p) => x.matmul_prepared(&y, &p)?,
                    None => x.matmul(&y)?,
                })
            } else {
                let x = broadcast_var(&x, &[batch.clone(), vec![m, k]].concat())?;
                let y = broadcast_var(&y, &[batch.clone(), vec![k, n]].concat())?;
                Val::Private(x.matmul(&y)?)
            }
        }
    };
    let mut final_shape = batch;
    if !a_vec {
        final_shape.push(m);
    }
    if !b_vec {
        final_shape.push(n);
    }
    if out.shape() == final_shape {
        Ok(out)
    } else {
        crate::ops::shape::reshape_val(c, &out, &final_shape)
    }
}

pub(super) fn matmul<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    matmul_vals(c, c.input(0)?, c.input(1)?, Some((1, false)))
}

pub(super) fn gemm<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    if a.shape().len() != 2 || b.shape().len() != 2 {
        return Err(c.err(format!(
            "Gemm needs 2-d operands, got {:?} and {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let a = if c.node.int_or("transA", 0)? != 0 { transpose_val(a)? } else { a.clone() };
    let trans_b = c.node.int_or("transB", 0)? != 0;
    let b = if trans_b { transpose_val(b)? } else { b.clone() };
    let alpha = c.node.float_or("alpha", 1.0)?;
    let beta = c.node.float_or("beta", 1.0)?;
    let mut y = matmul_vals(c, &a, &b, Some((1, trans_b)))?;
    if alpha != 1.0 {
        y = bin_vals(c, Bin::Mul, &y, &Val::float(ArrayD::from_elem(IxDyn(&[]), alpha)))?;
    }
    if let Some(bias) = c.opt(2)
        && beta != 0.0
    {
        let bias = if beta == 1.0 {
            bias.clone()
        } else {
            bin_vals(c, Bin::Mul, bias, &Val::float(ArrayD::from_elem(IxDyn(&[]), beta)))?
        };
        let out = bin_vals(c, Bin::Add, &y, &bias)?;
        if out.shape() != y.shape() {
            return Err(c.err(format!(
                "Gemm bias {:?} does not broadcast to {:?}",
                bias.shape(),
                y.shape()
            )));
        }
        y = out;
    }
    Ok(y)
}
