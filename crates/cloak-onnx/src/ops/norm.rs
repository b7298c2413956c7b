//! Normalisations in inference form. BatchNorm's per-channel scale and shift are computed
//! once per call from the (usually private) parameters: one inverse square root over the
//! channels; instance and layer normalisation need one over the data's statistics.
//! (A BatchNorm right after a convolution is usually folded into it at the model owner; see
//! `fold.rs`.)

use cloak_autograd::{Backend, Var};

use super::Ctx;
use super::arith::{Bin, bin_vals};
use crate::error::Result;
use crate::value::{Val, norm_axis};

fn no_extra_outputs<B: Backend>(c: &Ctx<'_, B>) -> Result<()> {
    if c.node.proto.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(c
            .node
            .attr_error("outputs", "only the normalised output is supported (inference)"));
    }
    Ok(())
}

/// `v` reshaped to broadcast along axis 1 of a rank-`rank` tensor.
fn channel_shape(channels: usize, rank: usize) -> Vec<usize> {
    let mut s = vec![1; rank];
    s[1] = channels;
    s
}

pub(super) fn batch_norm<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    if c.node.int_or("training_mode", 0)? != 0 {
        return Err(c.node.attr_error("training_mode", "BatchNormalization in training mode"));
    }
    no_extra_outputs(c)?;
    let s = c.shape(0)?;
    if s.len() < 2 {
        return Err(c.err(format!("BatchNormalization of {s:?}")));
    }
    let ch = s[1];
    for i in 1..5 {
        if c.shape(i)?.iter().product::<usize>() != ch {
            return Err(
                c.err(format!("parameter {i} has shape {:?}, expected [{ch}]", c.shape(i)?))
            );
        }
    }
    let eps = c.node.float_or("epsilon", 1e-5)?;
    let shape = channel_shape(ch, s.len());
    let params_public = (1..5).all(|i| c.inputs[i].as_ref().is_some_and(Val::is_public));
    let (scale, shift) = if params_public {
        let p =
            |i: usize| c.public(i, "a parameter").map(|a| a.iter().copied().collect::<Vec<f64>>());
        let (g, b, m, v) = (p(1)?, p(2)?, p(3)?, p(4)?);
        let sc: Vec<f64> = (0..ch).map(|k| g[k] / (v[k] + eps).sqrt()).collect();
        let sh: Vec<f64> = (0..ch).map(|k| b[k] - m[k] * sc[k]).collect();
        let arr = |v: Vec<f64>| {
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v)
                .map_err(|e| c.err(e.to_string()))
        };
        (Val::float(arr(sc)?), Val::float(arr(sh)?))
    } else {
        let r = |i: usize| -> Result<Var<B>> { Ok(c.var(i)?.reshape(&shape)?) };
        let inv = r(4)?.add_scalar(eps)?.inv_sqrt()?;
        let sc = r(1)?.mul(&inv)?;
        let sh = r(2)?.sub(&r(3)?.mul(&sc)?)?;
        (Val::Private(sc), Val::Private(sh))
    };
    let y = bin_vals(c, Bin::Mul, c.input(0)?, &scale)?;
    bin_vals(c, Bin::Add, &y, &shift)
}

/// `(x - mean) / sqrt(var + eps)` over the last axis of a 2-d `x`.
fn standardise<B: Backend>(x: &Var<B>, eps: f64) -> Result<Var<B>> {
    let d = x.sub(&x.mean(1, true)?)?;
    let var = d.square()?.mean(1, true)?;
    Ok(d.mul(&var.add_scalar(eps)?.inv_sqrt()?)?)
}

pub(super) fn instance_norm<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let s = c.shape(0)?;
    if s.len() < 3 {
        return Err(c.err(format!("InstanceNormalization of {s:?}")));
    }
    let eps = c.node.float_or("epsilon", 1e-5)?;
    let (n, ch) = (s[0], s[1]);
    let inner: usize = s[2..].iter().product();
    let y = standardise(&c.var(0)?.reshape(&[n * ch, inner])?, eps)?.reshape(&s)?;
    let shape = channel_shape(ch, s.len());
    let scale = crate::ops::shape::reshape_val(c, c.input(1)?, &shape)?;
    let bias = crate::ops::shape::reshape_val(c, c.input(2)?, &shape)?;
    let y = bin_vals(c, Bin::Mul, &Val::Private(y), &scale)?;
    bin_vals(c, Bin::Add, &y, &bias)
}

pub(super) fn layer_norm<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    no_extra_outputs(c)?;
    let s = c.shape(0)?;
    let axis = c.node.int_or("axis", -1)?;
    let ax = norm_axis(axis, s.len())
        .ok_or_else(|| c.node.attr_error("axis", format!("{axis} for rank {}", s.len())))?;
    let eps = c.node.float_or("epsilon", 1e-5)?;
    let outer: usize = s[..ax].iter().product();
    let inner: usize = s[ax..].iter().product();
    let y = Val::Private(standardise(&c.var(0)?.reshape(&[outer, inner])?, eps)?.reshape(&s)?);
    let y = bin_vals(c, Bin::Mul, &y, c.input(1)?)?;
    match c.opt(2) {
        Some(b) => bin_vals(c, Bin::Add, &y, b),
        None => Ok(y),
    }
}
