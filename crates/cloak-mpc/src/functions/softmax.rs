//! `softmax` and `log_softmax` along an axis.
//!
//! Both subtract the maximum along the axis first, so every exponent is at most 0: by all
//! pairs for short rows (9 rounds whatever the length; [`MaxMethod::for_rows`] bounds the
//! comparisons), else by a tree (4 rounds per halving with the default comparison). With
//! Cloak's `exp`, the differences are then clamped below at -32 (one ReLU, 4 rounds) and
//! `exp` is taken on `[-32, 0]` by a Chebyshev series
//! of `exp(z / 8)` over that whole interval, squared three times (degree 10: 4 + 3 rounds;
//! see `exp_nonpositive`). The clamp is where it is for long rows: every clamped difference
//! still gets `exp` of the bound, and `n - 1` of them add `(n - 1) exp(bound)` to the sum.
//! At -16 that is `1.1e-7` each, 3.7 units of `2^-16` taken from a leading weight of 1 in a
//! row of 512; at -32 it is `1.3e-14` each, nothing for any row. A series on `[-1, 1]`
//! squared 5 times would reach -32 too, in 8 rounds, amplifying its roundings 32-fold; two
//! squarings of a degree-12 series would take 6 rounds but a product more per element.
//! The sum along the axis lies in `[1, n]`, and its reciprocal (or log) is taken without
//! sign handling. For 1000x100 this is 110 rounds with the default exact truncation, where
//! CrypTen takes 116.
//!
//! Measured on rows of 128 and 512 standard normal logits times 1, 4 and 10, and on rows
//! where one logit leads the rest by 20 or more, for 2 and 3 parties: typically within 6
//! units of `f64` (8.1 seen once over repeated runs with fresh masks; the tests allow 12),
//! the leading weights within 1 (`tests/softmax_rows.rs`). Most of the error is
//! `z`'s rounding when it is mapped onto the series' interval (`t = z / 16 + 1`, at one
//! bit finer than the session): it moves `z` by several units, and so a weight by as many
//! units relative.
//!
//! With CrypTen's `exp` (the limit), the differences are not clamped, as in CrypTen: below
//! `-2^(n+1)` its `exp` is wrong, and on the rows above its weights are off by up to
//! `9e-3` (the limit's own error at differences of a few units).

use crate::ashare::AShare;
use crate::config::ExpMethod;
use crate::error::Result;
use crate::functions::fx::Fx;
use crate::reduce::MaxMethod;

/// Where the differences from the maximum are clamped, as `-2^CLAMP_LOG2`.
const CLAMP_LOG2: u32 = 5;
/// Squarings of softmax's `exp` (the series fits `exp(z / 2^EXP_SQUARINGS)`).
const EXP_SQUARINGS: u32 = 3;
/// Degree of softmax's `exp` series on `[-2^CLAMP_LOG2, 0]`.
const EXP_DEGREE: u32 = 10;

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
                ExpMethod::Squaring { .. } if (e.shape()[axis] as f64) < 8.8e6 => {
                    log.neg().unary("exp", |s, x: Fx| {
                        s.exp_nonpositive(&x, CLAMP_LOG2, EXP_SQUARINGS, EXP_DEGREE)
                    })?
                }
                _ => sum.unary("softmax", |s, x| s.reciprocal_signed(&x, true))?,
            };
            Ok((e.mul(&inv)?, z.sub(&log)?))
        })
    }

    /// `z = x - max(x)` along `axis`, and `exp(z)` (clamped as the module says).
    fn shifted_exp(&self, axis: usize) -> Result<(AShare, AShare)> {
        // Short rows (class scores) take the all-pairs maximum's constant rounds.
        let shape = self.shape();
        let n = shape.get(axis).copied().unwrap_or(0);
        let rows = self.len().checked_div(n).unwrap_or(0);
        let max = self.max_by(axis, true, MaxMethod::for_rows(rows, n))?;
        let z = self.sub(&max)?;
        let method = self.session().config().functions.exp;
        let e = match method {
            ExpMethod::Squaring { .. } => {
                let bound = f64::from(CLAMP_LOG2).exp2();
                let clamped = z.add_scalar(bound)?.relu()?.add_scalar(-bound)?;
                clamped.unary("exp", |s, x: Fx| {
                    s.exp_nonpositive(&x, CLAMP_LOG2, EXP_SQUARINGS, EXP_DEGREE)
                })?
            }
            ExpMethod::Limit { .. } => z.unary("exp", |s, x| s.exp_fx(&x, method))?,
        };
        Ok((z, e))
    }
}
