//! Reductions along one axis for the plain backend: sum, max, the one-hot of the first
//! maximum, and the numerically stable softmax and log-softmax.

use ndarray::{ArrayD, ArrayView1, Axis};

use super::check_axis;
use crate::error::{Result, invalid};

/// Whether `v` beats the current maximum `best`: strictly greater, or the first NaN (NaN
/// propagates through maxima as in PyTorch).
fn beats(v: f64, best: f64) -> bool {
    v > best || (v.is_nan() && !best.is_nan())
}

/// The index of the first maximum of a non-empty lane.
fn first_argmax(lane: ArrayView1<'_, f64>) -> usize {
    let mut best = 0;
    for (i, &v) in lane.iter().enumerate().skip(1) {
        if beats(v, lane[best]) {
            best = i;
        }
    }
    best
}

/// An error unless `axis` is an axis of `a` with at least one element (maxima of nothing
/// are undefined).
fn check_nonempty_axis(op: &'static str, a: &ArrayD<f64>, axis: usize) -> Result<()> {
    check_axis(op, a, axis)?;
    if a.shape()[axis] == 0 {
        return Err(invalid(op, format!("axis {axis} of shape {:?} is empty", a.shape())));
    }
    Ok(())
}

/// Sum along `axis`, keeping it with length 1 for `keepdim`.
pub(super) fn sum(a: &ArrayD<f64>, axis: usize, keepdim: bool) -> Result<ArrayD<f64>> {
    check_axis("sum", a, axis)?;
    let s = a.sum_axis(Axis(axis));
    Ok(if keepdim { s.insert_axis(Axis(axis)) } else { s })
}

/// Maximum along `axis`, keeping it with length 1 for `keepdim`.
pub(super) fn max(a: &ArrayD<f64>, axis: usize, keepdim: bool) -> Result<ArrayD<f64>> {
    check_nonempty_axis("max", a, axis)?;
    let m = a.map_axis(Axis(axis), |lane| lane[first_argmax(lane)]);
    Ok(if keepdim { m.insert_axis(Axis(axis)) } else { m })
}

/// The 0/1 tensor (shape of `a`) with a 1 at the first maximum of every lane along `axis`.
pub(super) fn argmax_onehot(a: &ArrayD<f64>, axis: usize) -> Result<ArrayD<f64>> {
    check_nonempty_axis("argmax_onehot", a, axis)?;
    let mut out = ArrayD::zeros(a.raw_dim());
    for (lane, mut hot) in a.lanes(Axis(axis)).into_iter().zip(out.lanes_mut(Axis(axis))) {
        hot[first_argmax(lane)] = 1.0;
    }
    Ok(out)
}

/// Applies `f(lane, max)` to every lane along `axis`, where `max` is the lane's maximum
/// (`-inf` for an empty lane): the shared shape of the stable softmax variants.
fn per_lane(
    op: &'static str,
    a: &ArrayD<f64>,
    axis: usize,
    f: impl Fn(ndarray::ArrayViewMut1<'_, f64>, f64),
) -> Result<ArrayD<f64>> {
    check_axis(op, a, axis)?;
    let mut out = a.as_standard_layout().into_owned();
    for lane in out.lanes_mut(Axis(axis)) {
        let m = lane.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        f(lane, m);
    }
    Ok(out)
}

/// `exp(a - max) / sum(exp(a - max))` along `axis`.
pub(super) fn softmax(a: &ArrayD<f64>, axis: usize) -> Result<ArrayD<f64>> {
    per_lane("softmax", a, axis, |mut lane, m| {
        lane.mapv_inplace(|v| (v - m).exp());
        let s = lane.sum();
        lane.mapv_inplace(|e| e / s);
    })
}

/// `(a - max) - ln(sum(exp(a - max)))` along `axis`.
pub(super) fn log_softmax(a: &ArrayD<f64>, axis: usize) -> Result<ArrayD<f64>> {
    per_lane("log_softmax", a, axis, |mut lane, m| {
        let lse = lane.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
        lane.mapv_inplace(|v| (v - m) - lse);
    })
}
