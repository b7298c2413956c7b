//! `sin` and `cos`.
//!
//! Default ([`TrigMethod::Reduced`]): `x` in turns, `x / 2 pi`, is reduced modulo 1 by each
//! party alone. Each multiplies its share by `round(2^(64 - f) / 2 pi)`: the shares then add
//! up to the turns times `2^64`, modulo `2^64`, which is the fraction of a turn. Each party
//! reads its own share as a fraction in `[0, 1]`, rounded to `f + 1` bits, so the fractions
//! add up to `g` in `[0, N]` for `N` parties, with `g = x / 2 pi` modulo 1 within
//! `N 2^-(f+2)` turns. No
//! message is sent for this. Then a Chebyshev series for `sin(2 pi g)` (or `cos`) on
//! `[0, N]` follows, of the least degree within `1e-6` there (16 for two parties: 4
//! rounds). The absolute error is about `2 pi N u / 4` from the reduction plus a few units
//! (`1e-4` for two parties at 16 bits), and `2 pi |x| 2^(f - 65)` from the constant's
//! rounding, which stays below `1e-6` while `|x| <= 2^(44 - f)`. The series' degree grows
//! with `N`; beyond 8 parties it no longer reaches `1e-6` within degree 64.
//! CrypTen's method is `(1 + i x / 2^10)^(2^10)`, whose error grows as `x^2`.

use std::f64::consts::PI;

use super::FnCtx;
use crate::ashare::AShare;
use crate::config::TrigMethod;
use crate::error::{Result, invalid};
use crate::functions::fx::{Fx, mul_many, rescale};
use crate::functions::poly::{chebyshev_eval, fit_within};

/// `round(2^64 / 2 pi)`.
const INV_TWO_PI_Q64: u64 = 2_935_890_503_282_001_226;

impl AShare {
    /// `sin(x)` elementwise, by the session's [`TrigMethod`].
    ///
    /// # Errors
    /// A communication or dealer error, or an unusable method parameter.
    pub fn sin(&self) -> Result<AShare> {
        self.unary("sin", |s, x| s.trig_fx(&x, false))
    }

    /// `cos(x)` elementwise, by the session's [`TrigMethod`].
    ///
    /// # Errors
    /// A communication or dealer error, or an unusable method parameter.
    pub fn cos(&self) -> Result<AShare> {
        self.unary("cos", |s, x| s.trig_fx(&x, true))
    }
}

impl FnCtx<'_> {
    /// `sin(x)`, or `cos(x)` when `cosine`.
    fn trig_fx(&mut self, x: &Fx, cosine: bool) -> Result<Fx> {
        match self.cfg.trig {
            TrigMethod::Reduced => self.trig_reduced(x, cosine),
            TrigMethod::Limit { iterations } => {
                let (re, im) = self.eix_limit(x, iterations)?;
                Ok(if cosine { re } else { im })
            }
        }
    }

    fn trig_reduced(&mut self, x: &Fx, cosine: bool) -> Result<Fx> {
        let f = x.frac;
        // c = round(2^(64 - f) / 2 pi), from 2^64 / 2 pi in integers (exact for every f).
        let c = (INV_TWO_PI_Q64 + ((1u64 << f) >> 1)) >> f;
        // Each party's fraction of a turn, rounded to f + 1 bits: the top bits of its share
        // times c.
        let gf = super::fx::finer(f, 1);
        let half = 1u64 << (63 - gf);
        let g = x.share.mul_scalar(c).shr_logical(1)?.add_scalar(half >> 1).shr_logical(63 - gf)?;
        let g = Fx { share: g, frac: gf };
        let span = self.parties() as f64;
        let target = move |t: f64| if cosine { (2.0 * PI * t).cos() } else { (2.0 * PI * t).sin() };
        let coeffs = fit_within(target, 0.0, span, 1e-6, 64);
        let p = chebyshev_eval(self, &g, 0.0, span, &coeffs)?;
        rescale(self, p, f)
    }

    /// CrypTen's `exp(i x)` as `(1 + i x / 2^n)^(2^n)`: the real and imaginary parts.
    fn eix_limit(&mut self, x: &Fx, iterations: u32) -> Result<(Fx, Fx)> {
        if iterations > 30 {
            return Err(invalid("trig", format!("{iterations} iterations")));
        }
        let f = x.frac;
        let rank = self.rank();
        let mut re = Fx::constant_like(x, 1.0, f, rank);
        let mut im = rescale(self, x.div_pow2_exact(iterations), f)?;
        for _ in 0..iterations {
            let out = mul_many(self, &[(&re, &re), (&im, &im), (&re, &im)], f)?;
            re = out[0].sub(&out[1])?;
            im = out[2].mul_int(2);
        }
        Ok((re, im))
    }
}
