//! `reciprocal` and `div`.
//!
//! Default ([`ReciprocalMethod::Normalized`]): the octave of `|x|` (leading-one
//! normalisation, 14 rounds) gives `S = 2^-e` and the mantissa `m = x S` in `±[1, 2)` (one
//! round). The first guess `g(m) = sign(m) 24/17 - 8/17 m` is the best linear one on
//! `[1, 2]`, with relative error at most `1/17`, and `eps = 1 - m g(m)` follows in one
//! round. Each Goldschmidt round `q <- q (1 + eps)`, `eps <- eps^2` squares the error: after
//! 2, `(1/17)^4 = 1.2e-5`. Last, one Newton step on `y = S q` (two rounds: `m q` and `S q`
//! together, then `y (2 - m q)`) squares that and applies the octave. The mantissa steps
//! run two bits finer than the session. 20 rounds (CrypTen: 38); domain
//! `2^-f <= |x| < 2^(f+1)` (the octaves of the fixed-point format); error about
//! `2^-18 |1/x| + 2u`.
//!
//! With 2-party local truncation, a product of real value `v` at scale `2f + 2` fails with
//! probability about `|v| 2^(2f + 2 - 64)`; the largest here is `1/x`, so inputs near `2^-f`
//! are the risky ones. Above 20 fractional bits the domain's low end rises to `2^(2f - 60)`
//! so that no product overflows.

use super::FnCtx;
use crate::ashare::AShare;
use crate::config::ReciprocalMethod;
use crate::error::{Result, invalid};
use crate::functions::fx::{Fx, mul, mul_many, mul_many_to};
use crate::functions::lincomb::LinComb;

/// The best linear first guess `a - b m` for `1/m` on `[1, 2]`.
const GUESS_A: f64 = 24.0 / 17.0;
const GUESS_B: f64 = 8.0 / 17.0;

impl AShare {
    /// `1 / x` elementwise, by the session's [`ReciprocalMethod`].
    ///
    /// # Errors
    /// A communication or dealer error, or an unusable method parameter.
    pub fn reciprocal(&self) -> Result<AShare> {
        self.unary("reciprocal", |s, x| s.reciprocal_fx(&x))
    }

    /// `self / other` elementwise for shared operands of the same shape:
    /// `self * reciprocal(other)` (one round more than `reciprocal`).
    ///
    /// # Errors
    /// Shapes that differ, or as [`reciprocal`](Self::reciprocal).
    pub fn div(&self, other: &AShare) -> Result<AShare> {
        if self.shape() != other.shape() {
            return Err(invalid(
                "div",
                format!("shapes {:?} and {:?}", self.shape(), other.shape()),
            ));
        }
        self.check_session(other, "div")?;
        let session = self.session().clone();
        let inv = session.scoped("div", || other.reciprocal())?;
        session.scoped("div", || self.mul(&inv))
    }
}

impl FnCtx<'_> {
    /// `1/x` at `x`'s scale by the configured method.
    pub(crate) fn reciprocal_fx(&mut self, x: &Fx) -> Result<Fx> {
        let all_pos = self.cfg.reciprocal_all_pos;
        self.reciprocal_signed(x, all_pos)
    }

    /// `1/x` by the configured method, skipping the sign handling when `all_pos`.
    pub(crate) fn reciprocal_signed(&mut self, x: &Fx, all_pos: bool) -> Result<Fx> {
        match self.cfg.reciprocal {
            ReciprocalMethod::Normalized { iterations } => {
                self.reciprocal_normalized(x, iterations, all_pos)
            }
            ReciprocalMethod::NewtonRaphson { iterations } => {
                self.with_sign(x, all_pos, |s, pos| s.reciprocal_newton(pos, iterations))
            }
            ReciprocalMethod::Log => self.with_sign(x, all_pos, |s, pos| {
                let l = s.log_fx(pos)?;
                let method = s.cfg.exp;
                s.exp_fx(&l.neg(), method)
            }),
        }
    }

    fn reciprocal_normalized(&mut self, x: &Fx, iterations: u32, all_pos: bool) -> Result<Fx> {
        if iterations > 6 {
            return Err(invalid("reciprocal", format!("{iterations} iterations")));
        }
        let f = x.frac;
        let rank = self.rank();
        // The products S q and y (2 - m q) hold 1/|x| at scale 2f + 2 (raw 2^(2f + 2 - e)):
        // octaves below 2f - 60 would overflow, so they count as outside.
        let window = (2 * f as i32 - 60, f as i32);
        let oct = self.octaves(&x.share, f, !all_pos, window)?;
        if self.domain_checks_free() {
            let outside = oct.outside(rank)?;
            self.record_domain("reciprocal", &outside)?;
        }
        // S = 2^-e at scale f: the integer 2^(f - e) per octave.
        let scale = Fx { share: oct.weighted(|e| 1u64 << (f as i32 - e))?, frac: f };
        let mf = super::fx::finer(f, 2);
        let m = mul(self, x, &scale, mf)?;
        // g = sigma a - b m, with sigma = 1 - 2 sign: the first guess for 1/m.
        let mut g = LinComb::new(mf);
        g.add_term(-GUESS_B, &m)?;
        g.add_const(GUESS_A, rank);
        if let Some(sign) = &oct.sign {
            g.add_int_term(-2.0 * GUESS_A, sign)?;
        }
        let g = g.finish(self, mf)?;
        let sign_fx = oct.sign.as_ref().map(|s| Fx { share: s.clone(), frac: 0 });
        let mut pairs: Vec<(&Fx, &Fx, u32)> = vec![(&m, &m, mf)];
        if let Some(sf) = &sign_fx {
            pairs.push((sf, &m, mf));
        }
        let mut products = mul_many_to(self, &pairs)?.into_iter();
        let m2 = products.next().unwrap_or_else(|| unreachable!());
        // eps = 1 - m g(m) = 1 - a |m| + b m^2, |m| = m - 2 sign m.
        let mut eps = LinComb::new(mf);
        eps.add_const(1.0, rank);
        eps.add_term(-GUESS_A, &m)?;
        if let Some(sm) = products.next() {
            eps.add_term(2.0 * GUESS_A, &sm)?;
        }
        eps.add_term(GUESS_B, &m2)?;
        let mut eps = eps.finish(self, mf)?;
        // Goldschmidt on q ~ 1/m, all values near 1 (at the finer scale mf).
        let mut q = g;
        for i in 0..iterations {
            let one_plus = eps.clone().add_const(1.0, rank);
            if i + 1 == iterations {
                q = mul(self, &q, &one_plus, mf)?;
            } else {
                let out = mul_many(self, &[(&q, &one_plus), (&eps, &eps)], mf)?;
                let mut out = out.into_iter();
                q = out.next().unwrap_or_else(|| unreachable!());
                eps = out.next().unwrap_or_else(|| unreachable!());
            }
        }
        // One Newton step on y = S q, with x y = m q: `y (2 - m q)`. It squares the
        // remaining error and scales by S in the same two rounds, so the output is rounded
        // once more rather than carrying the mantissa's roundings times S.
        let out = mul_many_to(self, &[(&m, &q, mf), (&scale, &q, f)])?;
        let mut out = out.into_iter();
        let mq = out.next().unwrap_or_else(|| unreachable!());
        let y = out.next().unwrap_or_else(|| unreachable!());
        let two_minus = mq.neg().add_const(2.0, rank);
        mul(self, &y, &two_minus, f)
    }

    /// CrypTen's Newton-Raphson from `3 exp(1 - 2x) + 0.003` (with the configured `exp`),
    /// for positive `x`.
    fn reciprocal_newton(&mut self, x: &Fx, iterations: u32) -> Result<Fx> {
        if iterations > 40 {
            return Err(invalid("reciprocal", format!("{iterations} iterations")));
        }
        let rank = self.rank();
        let f = x.frac;
        let arg = x.mul_int(-2).add_const(1.0, rank);
        let method = self.cfg.exp;
        let e = self.exp_fx(&arg, method)?;
        let mut y = e.mul_int(3).add_const(0.003, rank);
        for _ in 0..iterations {
            // y (2 - x y)
            let xy = mul(self, x, &y, f)?;
            let two_minus = xy.neg().add_const(2.0, rank);
            y = mul(self, &y, &two_minus, f)?;
        }
        Ok(y)
    }

    /// CrypTen's sign handling: `sign(x) * f(sign(x) * x)`, or `f(x)` when `all_pos`.
    pub(crate) fn with_sign(
        &mut self,
        x: &Fx,
        all_pos: bool,
        f: impl FnOnce(&mut FnCtx<'_>, &Fx) -> Result<Fx>,
    ) -> Result<Fx> {
        if all_pos {
            return f(self, x);
        }
        let (_, sign) = self.sign_fx(x)?;
        let pos = mul_many(self, &[(&sign, x)], x.frac)?.remove(0);
        let out = f(self, &pos)?;
        let frac = out.frac;
        mul_many(self, &[(&sign, &out)], frac).map(|mut v| v.remove(0))
    }
}
