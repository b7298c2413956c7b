//! Losses, each the mean over the batch as PyTorch's defaults. Targets are tensors of the
//! same backend (shared labels stay secret): one-hot rows for cross-entropy, 0/1 for the
//! binary losses.
//!
//! Cross-entropy and BCE-with-logits are fused operations: their backward rule is the
//! closed form (`softmax(x) - t`, `sigmoid(x) - t`), not the chain through a log, so the
//! secure backend pays for no reciprocal and the gradient has no log's error.

use cloak_autograd::{Backend, Var};
use ndarray::ArrayD;

use crate::error::{Result, invalid};

/// The most classes a data set may have: labels become one-hot rows of this width, so a
/// stray huge label (a value column taken for the label, say) must be an error, not an
/// allocation of petabytes.
pub const MAX_CLASSES: usize = 1 << 16;

fn same_shape<B: Backend>(op: &'static str, a: &Var<B>, b: &Var<B>) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(invalid(op, format!("prediction {:?}, target {:?}", a.shape(), b.shape())));
    }
    if a.numel() == 0 {
        return Err(invalid(op, "empty batch"));
    }
    Ok(())
}

/// Mean squared error.
///
/// # Errors
/// Different shapes or an empty batch; the backend's errors.
pub fn mse_loss<B: Backend>(pred: &Var<B>, target: &Var<B>) -> Result<Var<B>> {
    same_shape("mse_loss", pred, target)?;
    Ok(pred.sub(target)?.square()?.mean_all()?)
}

/// Mean absolute error (gradient `sign(pred - target)`, `+1` at zero).
///
/// # Errors
/// Different shapes or an empty batch; the backend's errors.
pub fn l1_loss<B: Backend>(pred: &Var<B>, target: &Var<B>) -> Result<Var<B>> {
    same_shape("l1_loss", pred, target)?;
    Ok(pred.sub(target)?.abs()?.mean_all()?)
}

/// Cross-entropy of `[N, K]` logits against one-hot `[N, K]` targets (or soft targets whose
/// rows sum to 1, such as label smoothing): `-mean_n sum_k t log_softmax(x)`. Backward:
/// `(softmax(x) - t) / N`, which assumes those row sums.
///
/// # Errors
/// Different or non-2-d shapes, an empty batch; the backend's errors.
pub fn cross_entropy<B: Backend>(logits: &Var<B>, target: &Var<B>) -> Result<Var<B>> {
    same_shape("cross_entropy", logits, target)?;
    let shape = logits.shape();
    if shape.len() != 2 {
        return Err(invalid("cross_entropy", format!("logits {shape:?}, expected [N, K]")));
    }
    let n = shape[0] as f64;
    let b = logits.backend();
    let (x, t) = (logits.value(), target.value());
    // The backward pass needs softmax(x): compute it with log_softmax when a graph is being
    // recorded (sharing the maximum and the exponentials), else only log_softmax.
    let recording =
        cloak_autograd::is_grad_enabled() && (logits.requires_grad() || target.requires_grad());
    let (probs, log_p) = if recording {
        let (p, l) = b.softmax_and_log_softmax(&x, 1)?;
        (Some(p), l)
    } else {
        (None, b.log_softmax(&x, 1)?)
    };
    let total = b.sum(&b.reshape(&b.mul(&t, &log_p)?, &[shape[0] * shape[1]])?, 0, true)?;
    let loss = b.mul_scalar(&total, -1.0 / n)?;
    let need_target = target.requires_grad();
    Ok(Var::from_op("cross_entropy", loss, &[logits, target], move |b, g| {
        let probs = match probs {
            Some(p) => p,
            None => b.softmax(&x, 1)?,
        };
        let scale = b.broadcast_to(&b.reshape(g, &[1, 1])?, &B::shape(&x))?;
        let gx = b.mul(&b.mul_scalar(&b.sub(&probs, &t)?, 1.0 / n)?, &scale)?;
        let gt =
            if need_target { Some(b.mul(&b.mul_scalar(&log_p, -1.0 / n)?, &scale)?) } else { None };
        Ok(vec![Some(gx), gt])
    })?)
}

/// Binary cross-entropy of probabilities against 0/1 targets:
/// `-mean(t log p + (1 - t) log(1 - p))`. `p` is clamped into `[eps, 1 - eps]` first (as
/// PyTorch clamps the log at -100); `eps` is 1e-4, or 16 units of a fixed-point encoding if
/// that is more. The clamp passes the gradient through unchanged (so a saturated
/// prediction still learns, with the gradient of the clamped value, `1/eps` at most).
///
/// # Errors
/// Different shapes or an empty batch; the backend's errors.
pub fn bce_loss<B: Backend>(prob: &Var<B>, target: &Var<B>) -> Result<Var<B>> {
    same_shape("bce_loss", prob, target)?;
    let eps = 1e-4_f64.max(16.0 * prob.backend().resolution());
    // p + (clamp(p) - p), the difference a constant: clamped values, identity gradient.
    let b = prob.backend();
    let (clamped, _) = b.clamp_with_grad(&prob.value(), eps, 1.0 - eps)?;
    let p = prob.add(&Var::constant(&b, b.sub(&clamped, &prob.value())?))?;
    let pos = target.mul(&p.log()?)?;
    let neg = target.neg()?.add_scalar(1.0)?.mul(&p.neg()?.add_scalar(1.0)?.log()?)?;
    Ok(pos.add(&neg)?.mean_all()?.neg()?)
}

/// Binary cross-entropy on logits, `mean(softplus(x) - x t)` with the stable
/// `softplus(x) = relu(x) + log(1 + exp(-|x|))`. Backward: `(sigmoid(x) - t) / n`.
///
/// `-|x|` is clamped below at -8 before `exp` (whose fixed-point domain it keeps): the
/// loss of an element with `|x| > 8` is then off by at most `log(1 + e^-8) = 3.4e-4`.
///
/// # Errors
/// Different shapes or an empty batch; the backend's errors.
pub fn bce_with_logits_loss<B: Backend>(logits: &Var<B>, target: &Var<B>) -> Result<Var<B>> {
    same_shape("bce_with_logits_loss", logits, target)?;
    let shape = logits.shape();
    let count = logits.numel();
    let n = count as f64;
    let b = logits.backend();
    let (x, t) = (logits.value(), target.value());
    let (relu, _) = b.relu_with_grad(&x)?;
    // max(-|x|, -8) = relu(8 - |x|) - 8.
    let (shifted, _) = b.relu_with_grad(&b.add_scalar(&b.neg(&b.abs(&x)?), 8.0)?)?;
    let soft = b.log(&b.add_scalar(&b.exp(&b.add_scalar(&shifted, -8.0)?)?, 1.0)?)?;
    let per = b.sub(&b.add(&relu, &soft)?, &b.mul(&x, &t)?)?;
    let loss = b.mul_scalar(&b.sum(&b.reshape(&per, &[count])?, 0, true)?, 1.0 / n)?;
    let need_target = target.requires_grad();
    Ok(Var::from_op("bce_with_logits", loss, &[logits, target], move |b, g| {
        let scale = b.broadcast_to(&b.reshape(g, &vec![1; shape.len()])?, &shape)?;
        let gx = b.mul(&b.mul_scalar(&b.sub(&b.sigmoid(&x)?, &t)?, 1.0 / n)?, &scale)?;
        let gt =
            if need_target { Some(b.mul(&b.mul_scalar(&x, -1.0 / n)?, &scale)?) } else { None };
        Ok(vec![Some(gx), gt])
    })?)
}

/// One-hot rows `[N, classes]` for plain labels (at the party that holds them).
///
/// # Errors
/// A label `>= classes`.
pub fn one_hot(labels: &[usize], classes: usize) -> Result<ArrayD<f64>> {
    if classes > MAX_CLASSES {
        return Err(invalid(
            "one_hot",
            format!("{classes} classes; at most {} are supported", MAX_CLASSES),
        ));
    }
    let mut out = ArrayD::zeros(vec![labels.len(), classes]);
    for (i, &l) in labels.iter().enumerate() {
        if l >= classes {
            // The row, not the label: messages travel and are logged, labels are data.
            return Err(invalid(
                "one_hot",
                format!("the label at row {i} is not a class index below {classes}"),
            ));
        }
        out[[i, l]] = 1.0;
    }
    Ok(out)
}
