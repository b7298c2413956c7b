//! `softmax` and `log_softmax` along an axis.
//!
//! Both subtract the maximum along the axis first (tree reduction, 8 rounds per halving),
//! so every exponent is at most 0. With Cloak's `exp`, the differences are then clamped
//! below at -16 (one ReLU, 8 rounds): `exp(-16) = 1.1e-7` is below half a unit, so nothing
//! is lost, and the `exp` that follows (`q(z / 16)^16`, 7 rounds) never leaves its domain,
//! whatever the logits. The sum along the axis lies in `[1, n]`, and its reciprocal (or
//! log) is taken without sign handling. For 1000x100 this is 92 rounds, where CrypTen
//! takes 116. The absolute error is a few units. With CrypTen's `exp` (the limit), the
//! differences are not clamped, as in CrypTen: below `-2^(n+1)` its `exp` is wrong.

use crate::ashare::AShare;
use crate::config::ExpMethod;
use crate::error::Result;
use crate::functions::fx::Fx;

/// Where the differences from the maximum are clamped, as `2^CLAMP_LOG2`.
const CLAMP_LOG2: u32 = 4;

impl AShare {
    /// `softmax` along `axis`.
    ///
    /// # Errors
    /// An axis out of range, an empty axis, or a communication or dealer error.
    pub fn softmax(&self, axis: usize) -> Result<AShare> {
        let session = self.session().clone();
        session.scoped("softmax", || {
            let (_, e) = self.shifted_exp(axis)?;
            let sum = e.sum(axis, true)?;
            let inv = sum.unary("softmax", |s, x| s.reciprocal_signed(&x, true))?;
            e.mul(&inv)
        })
    }

    /// `log_softmax` along `axis`: `z - log(sum exp(z))` with `z = x - max`.
    ///
    /// # Errors
    /// As [`softmax`](Self::softmax).
    pub fn log_softmax(&self, axis: usize) -> Result<AShare> {
        let session = self.session().clone();
        session.scoped("log_softmax", || {
            let (z, e) = self.shifted_exp(axis)?;
            let sum = e.sum(axis, true)?;
            let log = sum.unary("log_softmax", |s, x| s.log_fx(&x))?;
            z.sub(&log)
        })
    }

    /// `softmax` and `log_softmax` along `axis` together, for a cross-entropy that needs the
    /// first for its gradient and the second for its value: the maximum and the
    /// exponentials are computed once, and with Cloak's `exp` the reciprocal of the sum is
    /// `exp(-log(sum))` (the log is needed anyway; `-log(sum)` lies in `[-ln n, 0]`, inside
    /// `exp`'s domain for `n < 8.8e6`), 7 rounds where a reciprocal takes 20. For 64x10
    /// this is about half the rounds of the two calls.
    ///
    /// # Errors
    /// As [`softmax`](Self::softmax).
    pub fn softmax_and_log_softmax(&self, axis: usize) -> Result<(AShare, AShare)> {
        let session = self.session().clone();
        session.scoped("softmax", || {
            let (z, e) = self.shifted_exp(axis)?;
            let sum = e.sum(axis, true)?;
            let log = sum.unary("log_softmax", |s, x| s.log_fx(&x))?;
            let inv = match self.session().config().functions.exp {
                ExpMethod::Squaring { degree, .. } if (e.shape()[axis] as f64) < 8.8e6 => {
                    log.neg().unary("exp", |s, x: Fx| s.exp_squaring(&x, CLAMP_LOG2, degree))?
                }
                _ => sum.unary("softmax", |s, x| s.reciprocal_signed(&x, true))?,
            };
            Ok((e.mul(&inv)?, z.sub(&log)?))
        })
    }

    /// `z = x - max(x)` along `axis`, and `exp(z)` (clamped as the module says).
    fn shifted_exp(&self, axis: usize) -> Result<(AShare, AShare)> {
        let max = self.max(axis, true)?;
        let z = self.sub(&max)?;
        let method = self.session().config().functions.exp;
        let e = match method {
            ExpMethod::Squaring { degree, .. } => {
                let bound = f64::from(CLAMP_LOG2).exp2();
                let clamped = z.add_scalar(bound)?.relu()?.add_scalar(-bound)?;
                clamped.unary("exp", |s, x: Fx| s.exp_squaring(&x, CLAMP_LOG2, degree))?
            }
            ExpMethod::Limit { .. } => z.unary("exp", |s, x| s.exp_fx(&x, method))?,
        };
        Ok((z, e))
    }
}
