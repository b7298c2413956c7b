//! Powers, norms, variance and standard deviation, and the clamps layers use.

use super::FnCtx;
use crate::ashare::AShare;
use crate::error::{Result, invalid};
use crate::functions::fx::{Fx, mul, mul_many};

impl AShare {
    /// `x^p` elementwise for an integer `p`: square-and-multiply (`ceil(log2 p) + 1` rounds
    /// at most, the multiplications riding with the squarings), `1/x^|p|` for negative `p`
    /// by [`reciprocal`](Self::reciprocal) (CrypTen's `pow` computes `x^(3(p-1)/2)` for odd
    /// `p >= 5`).
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn pow(&self, p: i32) -> Result<AShare> {
        self.unary("pow", |s, x| {
            let positive = s.pow_fx(&x, p.unsigned_abs())?;
            if p < 0 { s.reciprocal_fx(&positive) } else { Ok(positive) }
        })
    }

    /// `x^p` elementwise for a real `p`, for positive `x`: the integer method when `p` is
    /// an integer, otherwise `exp(p log x)` (so `log`'s and `exp`'s domains apply to `x`
    /// and to `p log x`).
    ///
    /// # Errors
    /// A `p` that is not finite, or a communication or dealer error.
    pub fn pow_real(&self, p: f64) -> Result<AShare> {
        if !p.is_finite() {
            return Err(invalid("pow", format!("exponent {p}")));
        }
        if p.fract() == 0.0 && p.abs() <= f64::from(i32::MAX) {
            return self.pow(p as i32);
        }
        self.unary("pow", |s, x| {
            let l = s.log_fx(&x)?;
            let scaled = super::lincomb::mul_const(s, &l, p)?;
            let method = s.cfg.exp;
            s.exp_fx(&scaled, method)
        })
    }

    /// The Euclidean norm of all elements, as a tensor of shape `[]`: `sqrt(sum x^2)`. The
    /// sum of squares must lie in `sqrt`'s domain (below `2^(f+1)`); a larger one gives 0 and
    /// is counted in the domain report.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn norm(&self) -> Result<AShare> {
        let session = self.session().clone();
        session.scoped("norm", || self.square()?.sum_all().sqrt())
    }

    /// The Euclidean norm along `axis`.
    ///
    /// # Errors
    /// An axis out of range, or a communication or dealer error.
    pub fn norm_along(&self, axis: usize, keepdim: bool) -> Result<AShare> {
        let session = self.session().clone();
        session.scoped("norm", || self.square()?.sum(axis, keepdim)?.sqrt())
    }

    /// Variance along `axis` (divided by `n - 1` when `unbiased`, by `n` otherwise): the
    /// mean (one exact division), the squared deviations (one round), their mean.
    ///
    /// # Errors
    /// An axis out of range, fewer than two elements when `unbiased`, or a communication or
    /// dealer error.
    pub fn var(&self, axis: usize, keepdim: bool, unbiased: bool) -> Result<AShare> {
        let n = *self.shape().get(axis).ok_or_else(|| invalid("var", format!("axis {axis}")))?;
        let divisor = if unbiased { n.saturating_sub(1) } else { n };
        if divisor == 0 {
            return Err(invalid("var", format!("{n} elements along axis {axis}")));
        }
        let session = self.session().clone();
        session.scoped("var", || {
            let mean = self.mean(axis, true)?;
            let dev = self.sub(&mean)?.square()?;
            dev.sum(axis, keepdim)?.div_int(divisor as u64)
        })
    }

    /// Standard deviation along `axis`: `sqrt(var)`.
    ///
    /// # Errors
    /// As [`var`](Self::var).
    pub fn std(&self, axis: usize, keepdim: bool, unbiased: bool) -> Result<AShare> {
        let session = self.session().clone();
        session.scoped("std", || self.var(axis, keepdim, unbiased)?.sqrt())
    }

    /// `min(max(x, lo), hi)`, the `Hardtanh` of layers (default `[-1, 1]`).
    ///
    /// # Errors
    /// Bounds that are NaN or out of order, or a communication or dealer error.
    pub fn hardtanh(&self, lo: f64, hi: f64) -> Result<AShare> {
        self.clamp(lo, hi)
    }

    /// `min(max(x, 0), 6)`.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn relu6(&self) -> Result<AShare> {
        self.clamp(0.0, 6.0)
    }
}

impl FnCtx<'_> {
    /// `x^p` for `p >= 0` by square-and-multiply, the product with each set bit batched
    /// with the next squaring.
    pub(crate) fn pow_fx(&mut self, x: &Fx, p: u32) -> Result<Fx> {
        let f = x.frac;
        if p == 0 {
            return Ok(Fx::constant_like(x, 1.0, f, self.rank()));
        }
        let mut acc: Option<Fx> = None;
        let mut base = x.clone();
        let mut rest = p;
        loop {
            let bit = rest & 1 == 1;
            rest >>= 1;
            match (bit, rest > 0, acc.take()) {
                (true, true, Some(a)) => {
                    let out = mul_many(self, &[(&a, &base), (&base, &base)], f)?;
                    let mut out = out.into_iter();
                    acc = out.next();
                    base = out.next().unwrap_or_else(|| unreachable!());
                }
                (true, false, Some(a)) => return mul(self, &a, &base, f),
                (true, _, None) => {
                    if rest == 0 {
                        return Ok(base);
                    }
                    acc = Some(base.clone());
                    base = mul(self, &base, &base, f)?;
                }
                (false, _, a) => {
                    acc = a;
                    base = mul(self, &base, &base, f)?;
                }
            }
        }
    }
}
