//! `sigmoid`, `tanh`, `erf` and `gelu`: functions that level off, as a Chebyshev series on
//! an interval and their limits outside it.
//!
//! Default ([`SigmoidMethod::Saturated`], [`ErfMethod::Saturated`]): one batched comparison
//! finds `x < -L` and `x > L` (8 rounds), a Chebyshev series of degree `d` on `[-L, L]` is
//! evaluated (`ceil(log2 d)` rounds; outside the interval it overflows harmlessly), and one
//! product selects (one round): 14 rounds at the defaults. Correct on every input (no
//! domain to leave). Errors, absolute: sigmoid (`L = 10`, degree 31) `3e-5` fit, `4.5e-5`
//! just outside `L`, plus the coefficients' rounding (`3.3e-5`, see `LinComb`) and a few
//! units `u` (CrypTen's reciprocal method: `2.7e-3` on `[-8, 8]`, 23 rounds); tanh twice
//! sigmoid's on `[-5, 5]`; erf (`L = 4`, degree 25) `3e-6` fit and `2.5e-5` from the
//! coefficients, `1.6e-8` outside (CrypTen's Taylor `erf` returns -175 at 2).

use crate::ashare::AShare;
use crate::config::{ErfMethod, ExpMethod, SigmoidMethod};
use crate::error::{Result, invalid};
use crate::functions::fx::{Fx, mul, mul_many, rescale};
use crate::functions::lincomb::LinComb;

use super::FnCtx;
use crate::compare::one_minus;
use crate::functions::poly::{chebyshev_eval, chebyshev_fit, powers};

/// Half-width of the interval fitted for `erf`.
const ERF_BOUND: f64 = 4.0;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl AShare {
    /// The logistic function `1 / (1 + exp(-x))` elementwise, by the session's
    /// [`SigmoidMethod`].
    ///
    /// # Errors
    /// A communication or dealer error, or an unusable method parameter.
    pub fn sigmoid(&self) -> Result<AShare> {
        self.unary("sigmoid", |s, x| s.sigmoid_fx(&x, false))
    }

    /// `tanh(x)` elementwise, by the session's [`SigmoidMethod`].
    ///
    /// # Errors
    /// A communication or dealer error, or an unusable method parameter.
    pub fn tanh(&self) -> Result<AShare> {
        self.unary("tanh", |s, x| s.sigmoid_fx(&x, true))
    }

    /// The error function elementwise, by the session's [`ErfMethod`].
    ///
    /// # Errors
    /// A communication or dealer error, or an unusable method parameter.
    pub fn erf(&self) -> Result<AShare> {
        self.unary("erf", |s, x| s.erf_fx(&x))
    }

    /// GELU, `x (1 + erf(x / sqrt 2)) / 2`, elementwise: `erf` and one product.
    ///
    /// # Errors
    /// As [`erf`](Self::erf).
    pub fn gelu(&self) -> Result<AShare> {
        self.unary("gelu", |s, x| {
            let f = x.frac;
            let scaled = super::lincomb::mul_const(s, &x, std::f64::consts::FRAC_1_SQRT_2)?;
            let e = s.erf_fx(&scaled)?.add_const(1.0, s.rank());
            let prod = mul(s, &x, &e, f)?;
            rescale(s, prod.div_pow2_exact(1), f)
        })
    }
}

impl FnCtx<'_> {
    /// `f` fitted on `[-bound, bound]` with `terms`, and `below` / `above` outside.
    fn saturated(
        &mut self,
        x: &Fx,
        bound: f64,
        terms: u32,
        f: impl Fn(f64) -> f64,
        below: f64,
        above: f64,
    ) -> Result<Fx> {
        if terms == 0 || terms > 64 || bound.is_nan() || bound <= 0.0 {
            return Err(invalid("functions", format!("{terms} terms on [-{bound}, {bound}]")));
        }
        let frac = x.frac;
        let rank = self.rank();
        let (lo, hi) = self.outside_interval(x, -bound, bound)?;
        let coeffs = chebyshev_fit(f, -bound, bound, terms as usize);
        let fine = x.refine(super::fx::finer(frac, 1) - frac)?;
        let p = chebyshev_eval(self, &fine, -bound, bound, &coeffs)?;
        let p = rescale(self, p, frac)?;
        let inside = Fx { share: one_minus(rank, &lo).sub(&hi)?, frac: 0 };
        let selected = mul_many(self, &[(&inside, &p)], frac)?.remove(0);
        let mut out = LinComb::new(frac);
        out.add_term(1.0, &selected)?;
        out.add_int_term(below, &lo)?;
        out.add_int_term(above, &hi)?;
        out.finish(self, frac)
    }

    /// `sigmoid(x)`, or `tanh(x)` when `tanh`, by the configured method.
    pub(crate) fn sigmoid_fx(&mut self, x: &Fx, tanh: bool) -> Result<Fx> {
        match self.cfg.sigmoid_tanh {
            SigmoidMethod::Saturated { terms, bound } => {
                let bound = f64::from(bound);
                if tanh {
                    self.saturated(x, bound / 2.0, terms, f64::tanh, -1.0, 1.0)
                } else {
                    self.saturated(x, bound, terms, sigmoid, 0.0, 1.0)
                }
            }
            SigmoidMethod::Reciprocal => {
                if tanh {
                    let rank = self.rank();
                    let s = self.sigmoid_reciprocal(&x.mul_int(2))?;
                    Ok(s.mul_int(2).add_const(-1.0, rank))
                } else {
                    self.sigmoid_reciprocal(x)
                }
            }
        }
    }

    /// CrypTen's: `1 / (1 + exp(-|x|))` with a 9-squaring limit `exp` and 3 Newton
    /// iterations from 0.75, then `where(x < 0, 1 - y, y)`.
    fn sigmoid_reciprocal(&mut self, x: &Fx) -> Result<Fx> {
        let rank = self.rank();
        let f = x.frac;
        let (ltz, sign) = self.sign_fx(x)?;
        let pos = mul_many(self, &[(&sign, x)], f)?.remove(0);
        let e = self.exp_fx(&pos.neg(), ExpMethod::Limit { iterations: 9 })?;
        let den = e.add_const(1.0, rank);
        let mut y = Fx::constant_like(x, 0.75, f, rank);
        for _ in 0..3 {
            let dy = mul(self, &den, &y, f)?;
            let two_minus = dy.neg().add_const(2.0, rank);
            y = mul(self, &y, &two_minus, f)?;
        }
        // y + ltz (1 - 2y)
        let ltz_fx = Fx { share: ltz, frac: 0 };
        let flip = y.mul_int(-2).add_const(1.0, rank);
        let corr = mul_many(self, &[(&ltz_fx, &flip)], f)?.remove(0);
        y.add(&corr)
    }

    /// `erf(x)` by the configured method.
    pub(crate) fn erf_fx(&mut self, x: &Fx) -> Result<Fx> {
        match self.cfg.erf {
            ErfMethod::Saturated { terms } => {
                self.saturated(x, ERF_BOUND, terms, libm_erf, -1.0, 1.0)
            }
            ErfMethod::Taylor { iterations } => self.erf_taylor(x, iterations),
        }
    }

    /// `2/sqrt(pi) sum_{n=0..iters} (-1)^n x^(2n+1) / (n! (2n+1))`, in powers of `z = x/2`
    /// (exact, one bit finer) so that no coefficient is too small for the encoding.
    fn erf_taylor(&mut self, x: &Fx, iterations: u32) -> Result<Fx> {
        if iterations == 0 || iterations > 32 {
            return Err(invalid("erf", format!("{iterations} iterations")));
        }
        let f = x.frac;
        let z = x.div_pow2_exact(1);
        let zf = z.frac;
        let z2 = mul(self, &z, &z, zf)?;
        let even = powers(self, &z2, iterations as usize)?;
        let pairs: Vec<(&Fx, &Fx)> = even.iter().map(|p| (&z, p)).collect();
        let odd = mul_many(self, &pairs, zf)?;
        let mut comb = LinComb::new(zf);
        let scale = 2.0 / std::f64::consts::PI.sqrt();
        comb.add_term(scale * 2.0, &z)?;
        let mut factorial = 1.0;
        for (i, p) in odd.iter().enumerate() {
            let n = (i + 1) as f64;
            factorial *= n;
            let sign = if i % 2 == 0 { -1.0 } else { 1.0 };
            let power_of_two = (2.0 * n + 1.0).exp2();
            comb.add_term(scale * sign * power_of_two / (factorial * (2.0 * n + 1.0)), p)?;
        }
        comb.finish(self, f)
    }
}

/// `erf` in `f64` (Abramowitz-Stegun 7.1.26 is too coarse for fitting; this is the
/// Numerical Recipes `erfc` Chebyshev fit, relative error below `1.2e-7`).
fn libm_erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 { 1.0 - erfc } else { erfc - 1.0 }
}
