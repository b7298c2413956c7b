//! How attention turns its scores into weights: the exact softmax, or one of the cheaper
//! normalisations that MPC-friendly transformers are trained with.
//!
//! Costs for two parties over rows of 128 (512) keys with the default session (dealer-pair
//! truncation, a round per fixed-point product), party 0's bytes sent and received per
//! score, and the largest error of a weight on shares against the method's own definition
//! in `f64`, measured on rows of normal logits times 1 and 4 with 2 and 3 parties
//! (`tests/attention_softmax.rs`):
//!
//! | method | rounds | bytes per score | error on shares |
//! |---|---:|---:|---:|
//! | [`Exact`](AttentionSoftmax::Exact) | 59 (86) | 2253 (644) | 8.1 units |
//! | [`Quad2`](AttentionSoftmax::Quad2) | 34 (34) | 88 (82) | 1.9 units |
//! | [`Relu`](AttentionSoftmax::Relu) | 36 (36) | 81 (75) | 1.0 units |
//!
//! - `Exact`: `softmax` by the session's methods (Cloak's default: the row maximum by all
//!   pairs where the rows make few enough pairs, as 8 rows of 128 keys do: 9 rounds, at
//!   more bytes; else by a tree of comparisons, 4 rounds per halving of the row, as for a
//!   batch's heads and queries over 128 keys: 78 rounds, about 650 bytes per score), the
//!   differences clamped at -32, `exp`, the reciprocal of the sum and one product, 50
//!   rounds after the maximum; see `cloak_mpc`'s `softmax`).
//! - `Quad2`: MPCFormer's "2Quad", `(x + c)^2 / sum (x + c)^2` (`c = 5` there): one square
//!   (2 rounds), the reciprocal of the row's mean and two products (32), whatever the row
//!   length.
//! - `Relu`: MPCFormer's "2ReLU", `relu(x) / sum relu(x)`: one ReLU (4 rounds), then the
//!   same 32.
//!
//! The two approximations are **different functions**, not approximations of softmax to
//! some accuracy: MPCFormer distils a trained model into a student that has them in place,
//! and a model trained with softmax gives other outputs with them. Against the exact
//! softmax, in `f64`, the largest difference of a weight over 8 rows of standard normal
//! logits times 1, 4 and 10 is:
//!
//! | keys | method | x 1 | x 4 | x 10 |
//! |---:|---|---:|---:|---:|
//! | 128 | `Quad2` (`c = 5`) | 0.177 | 0.922 | 0.933 |
//! | 128 | `Relu` | 0.120 | 0.927 | 0.946 |
//! | 512 | `Quad2` (`c = 5`) | 0.040 | 0.885 | 0.976 |
//! | 512 | `Relu` | 0.028 | 0.886 | 0.981 |
//!
//! Softmax concentrates its weight on the largest logits as they spread; `(x + 5)^2` and
//! `relu` stay polynomial or linear in them, so beyond logits of size 1 the weights have
//! little in common.
//!
//! Both are written as compositions of autograd operations, so the plain backend computes
//! the same function and the backward pass is their exact derivative (softmax's
//! `y (g - sum(g y))` would be wrong for them); they are a choice of the model (the layer's
//! [`with_softmax`](super::MultiheadAttention::with_softmax) or
//! [`EncoderLayerConfig::attention_softmax`](super::EncoderLayerConfig)), not of the
//! session, whose softmax serves losses too. Their normalisation is
//! `q_i / (n (mean(q) + eps))`, that is `q_i / (sum q + n eps)`: the mean keeps the
//! reciprocal's input within its domain for long rows of large scores, where the sum of
//! `(x + 5)^2` over 512 keys could pass `2^17`; `eps` keeps it away from 0 (a ReLU row
//! whose scores are all negative gets weights 0, not a division by 0). A weight is
//! `(q_i r) / n` with `r` the reciprocal; its error is about `(2 + 2 q_i / n)` units plus
//! `q_i`'s own error over `n (mean(q) + eps)`: a few units wherever the row's mean is not
//! tiny.
//!
//! Masked keys (a mask value at [`MASKED_SCORE`](super::MASKED_SCORE) or below) get weight
//! exactly 0 with the approximations: their `q` is multiplied by a public 0 (neither
//! `(x + c)^2` nor the row's mean vanishes at very negative scores, so adding
//! `MASKED_SCORE` as for softmax would not mask). Finite additive mask values above it are
//! added to the scores first, as for softmax.

use cloak_autograd::{Backend, Var};
use ndarray::ArrayD;

use super::mask::MASKED_SCORE;
use crate::error::{Result, invalid};

/// The attention weights' normalisation (see the module documentation for costs and
/// errors).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum AttentionSoftmax {
    /// `softmax` by the session's function methods.
    #[default]
    Exact,
    /// MPCFormer's 2Quad: `(x + c)^2 / (sum (x + c)^2 + n eps)` over the `n` keys.
    Quad2 {
        /// The shift (MPCFormer: 5).
        c: f64,
        /// The guard per key (at least [`MIN_EPS`](Self::MIN_EPS)).
        eps: f64,
    },
    /// MPCFormer's 2ReLU: `relu(x) / (sum relu(x) + n eps)` over the `n` keys.
    Relu {
        /// The guard per key (at least [`MIN_EPS`](Self::MIN_EPS)).
        eps: f64,
    },
}

impl AttentionSoftmax {
    /// The smallest `eps`: 4 units of the default 16-bit encoding, so that the reciprocal's
    /// input stays at least 3 units above 0 after the mean's rounding.
    pub const MIN_EPS: f64 = 1.0 / 16384.0;

    /// The guard per key of [`quad2`](Self::quad2) and [`relu`](Self::relu): small against a
    /// row's mean of `(x + 5)^2` or of `relu(x)` on logits of size 1 and more, large enough
    /// that the reciprocal of a near-zero mean stays accurate.
    pub const DEFAULT_EPS: f64 = 1e-3;

    /// 2Quad with MPCFormer's `c = 5` and [`DEFAULT_EPS`](Self::DEFAULT_EPS).
    #[must_use]
    pub fn quad2() -> Self {
        Self::Quad2 { c: 5.0, eps: Self::DEFAULT_EPS }
    }

    /// 2ReLU with [`DEFAULT_EPS`](Self::DEFAULT_EPS).
    #[must_use]
    pub fn relu() -> Self {
        Self::Relu { eps: Self::DEFAULT_EPS }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// A non-finite `c`, or an `eps` below [`MIN_EPS`](Self::MIN_EPS) or not finite.
    pub fn check(&self) -> Result<()> {
        let eps_ok = |eps: f64| eps.is_finite() && eps >= Self::MIN_EPS;
        match *self {
            Self::Exact => Ok(()),
            Self::Quad2 { c, eps } if c.is_finite() && eps_ok(eps) => Ok(()),
            Self::Relu { eps } if eps_ok(eps) => Ok(()),
            other => Err(invalid(
                "AttentionSoftmax",
                format!("{other:?}: c must be finite and eps at least {}", Self::MIN_EPS),
            )),
        }
    }

    /// The weights of `scores` along `axis`, nothing masked.
    ///
    /// # Errors
    /// Bad parameters, `axis` out of range, an empty axis; the backend's errors.
    pub fn forward<B: Backend>(&self, scores: &Var<B>, axis: usize) -> Result<Var<B>> {
        self.masked(scores, None, axis)
    }

    /// The weights of `scores` plus the public `additive` mask (broadcast to the scores;
    /// values at [`MASKED_SCORE`] or below mask their key) along `axis`.
    pub(crate) fn masked<B: Backend>(
        &self,
        scores: &Var<B>,
        additive: Option<&ArrayD<f64>>,
        axis: usize,
    ) -> Result<Var<B>> {
        self.check()?;
        let shape = scores.shape();
        if axis >= shape.len() || shape[axis] == 0 {
            return Err(invalid("AttentionSoftmax", format!("axis {axis} of {shape:?}")));
        }
        let (c, eps) = match *self {
            Self::Exact => {
                let x = match additive {
                    Some(m) => scores.add_public(m)?,
                    None => scores.clone(),
                };
                return Ok(x.softmax(axis)?);
            }
            Self::Quad2 { c, eps } => (Some(c), eps),
            Self::Relu { eps } => (None, eps),
        };
        let masked = |v: f64| v <= MASKED_SCORE;
        let x = match additive {
            Some(m) if m.iter().any(|&v| v != 0.0 && !masked(v)) => {
                scores.add_public(&m.mapv(|v| if masked(v) { 0.0 } else { v }))?
            }
            _ => scores.clone(),
        };
        let mut q = match c {
            Some(c) => x.add_scalar(c)?.square()?,
            None => x.relu()?,
        };
        if let Some(m) = additive.filter(|m| m.iter().any(|&v| masked(v))) {
            q = q.mul_public(&m.mapv(|v| if masked(v) { 0.0 } else { 1.0 }))?;
        }
        normalize(&q, axis, eps)
    }
}

/// `q / (n (mean(q) + eps))` along `axis` of length `n`, as `(q r) / n` with
/// `r = 1 / (mean(q) + eps)`: `q r` lies in `[0, n]`, so dividing by `n` last keeps the
/// weights' resolution (dividing `r` by `n` first would leave it a few units).
fn normalize<B: Backend>(q: &Var<B>, axis: usize, eps: f64) -> Result<Var<B>> {
    let n = q.shape()[axis] as f64;
    let r = q.mean(axis, true)?.add_scalar(eps)?.reciprocal()?;
    Ok(q.mul(&r)?.mul_scalar(1.0 / n)?)
}
