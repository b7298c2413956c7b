//! Gradient clipping, on shares with the secure backend: neither the gradients nor their
//! norm are revealed.

use cloak_autograd::{Backend, Var};

use crate::error::{Result, invalid};

/// Clamps every gradient element into `[-limit, limit]`.
///
/// # Errors
/// A negative or non-finite `limit`; the backend's errors.
pub fn clip_grad_value<B: Backend>(params: &[Var<B>], limit: f64) -> Result<()> {
    if !limit.is_finite() || limit < 0.0 {
        return Err(invalid("clip_grad_value", format!("limit {limit}")));
    }
    for p in params {
        if let Some(g) = p.grad_opt() {
            let (clamped, _) = p.backend().clamp_with_grad(&g, -limit, limit)?;
            p.set_grad(clamped)?;
        }
    }
    Ok(())
}

/// Scales all gradients together by `min(1, max_norm / ||g||)`, `||g||` the 2-norm of all of
/// them concatenated (PyTorch's `clip_grad_norm_`). Returns the norm as a tensor of the
/// backend, shape `[1]` (still secret with the secure backend), or `None` if no parameter
/// has a gradient.
///
/// The norm is computed of `g / max_norm` (a public scaling), so that with fixed point it
/// stays in the square root's domain up to `||g|| < 362 max_norm` at 16 bits (clip by value
/// first where gradients can be larger). Elements below about `2^(-f/2) max_norm`
/// contribute their squares only to within a unit each; clipping acts only above
/// `max_norm`, where that precision is ample.
///
/// # Errors
/// A non-positive or non-finite `max_norm`; the backend's errors.
pub fn clip_grad_norm<B: Backend>(params: &[Var<B>], max_norm: f64) -> Result<Option<B::Tensor>> {
    if !max_norm.is_finite() || max_norm <= 0.0 {
        return Err(invalid("clip_grad_norm", format!("max_norm {max_norm}")));
    }
    let with_grad: Vec<(&Var<B>, B::Tensor)> =
        params.iter().filter_map(|p| p.grad_opt().map(|g| (p, g))).collect();
    let Some((first, _)) = with_grad.first() else { return Ok(None) };
    let b = first.backend();
    let resolution = b.resolution();
    let flat: Vec<B::Tensor> = with_grad
        .iter()
        .map(|(_, g)| {
            let n: usize = B::shape(g).iter().product();
            b.reshape(g, &[n])
        })
        .collect::<std::result::Result<_, _>>()?;
    let refs: Vec<&B::Tensor> = flat.iter().collect();
    let all = b.mul_scalar(&b.concat(&refs, 0)?, 1.0 / max_norm)?;
    let sum_sq = b.sum(&b.square(&all)?, 0, true)?;
    // ||g|| / max_norm, kept a few units above zero so the reciprocal is in its domain.
    let rel = b.add_scalar(&b.sqrt(&b.add_scalar(&sum_sq, 4.0 * resolution)?)?, 1e-6)?;
    let ratio = b.reciprocal(&rel)?;
    let (coef, _) = b.clamp_with_grad(&ratio, 0.0, 1.0)?;
    for (p, g) in &with_grad {
        let shape = B::shape(g);
        p.set_grad(b.mul(g, &b.broadcast_to(&coef, &shape)?)?)?;
    }
    Ok(Some(b.mul_scalar(&rel, max_norm)?))
}
