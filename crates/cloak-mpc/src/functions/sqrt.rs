//! `sqrt` and `inv_sqrt`.
//!
//! Default ([`SqrtMethod::Normalized`]): `x = m 2^e` by leading-one normalisation (14
//! rounds) and `m = x 2^-e` (one round); then `sqrt(x) = p(m) R` with `p` a Chebyshev
//! series for `sqrt` (or `1/sqrt`) on `[1, 2]` and `R = 2^(e/2)` (or `2^(-e/2)`), linear in
//! the octave indicators. The series is built directly in the terms `T_k(t) R`
//! (`T_2 R = 2 t (t R) - R`, `T_3 R = 2 T_2 (t R) - t R`), so degree 3 costs 2 rounds and
//! the whole function 17 (CrypTen's `sqrt`: 18). Domain `2^-f <= x < 2^(f+1)` (narrower
//! above 24 fractional bits, where the extreme octaves would overflow); relative
//! error of the degree-3 series `9.2e-5` for `sqrt` and `4.9e-4` for `inv_sqrt`, plus a few
//! units `u` (CrypTen's `sqrt`: `5e-3` on `[0.1, 10]`, and `inv_sqrt` off by 3.9 at 0.01).
//! Higher degrees cost one round more per doubling.

use super::FnCtx;
use crate::ashare::AShare;
use crate::config::SqrtMethod;
use crate::error::{Result, invalid};
use crate::functions::fx::{Fx, mul, mul_many, mul_many_to, square};
use crate::functions::lincomb::LinComb;
use crate::functions::poly::{chebyshev_basis, chebyshev_fit, to_unit_interval};

impl AShare {
    /// `sqrt(x)` elementwise, by the session's [`SqrtMethod`].
    ///
    /// # Errors
    /// A communication or dealer error, or an unusable method parameter.
    pub fn sqrt(&self) -> Result<AShare> {
        self.unary("sqrt", |s, x| s.sqrt_fx(&x, false))
    }

    /// `1 / sqrt(x)` elementwise, by the session's [`SqrtMethod`].
    ///
    /// # Errors
    /// A communication or dealer error, or an unusable method parameter.
    pub fn inv_sqrt(&self) -> Result<AShare> {
        self.unary("inv_sqrt", |s, x| s.sqrt_fx(&x, true))
    }
}

impl FnCtx<'_> {
    /// `sqrt(x)`, or `1/sqrt(x)` when `inverse`, at `x`'s scale.
    pub(crate) fn sqrt_fx(&mut self, x: &Fx, inverse: bool) -> Result<Fx> {
        match self.cfg.sqrt {
            SqrtMethod::Normalized { degree } => self.sqrt_normalized(x, degree, inverse),
            SqrtMethod::NewtonRaphson { iterations } => {
                let y = self.inv_sqrt_newton(x, iterations)?;
                if inverse { Ok(y) } else { mul(self, &y, x, x.frac) }
            }
        }
    }

    fn sqrt_normalized(&mut self, x: &Fx, degree: u32, inverse: bool) -> Result<Fx> {
        if degree == 0 || degree > 32 {
            return Err(invalid("sqrt", format!("degree {degree}")));
        }
        let f = x.frac;
        let mf = super::fx::finer(f, 2);
        let op = if inverse { "inv_sqrt" } else { "sqrt" };
        // The products t R hold 2^(±e/2) at scale 2f + 2: octaves whose R would overflow
        // (only above 24 fractional bits) count as outside.
        let limit = 116 - 4 * f as i32;
        let window = if inverse { (-limit, f as i32) } else { (-(f as i32), limit) };
        let (oct, m) = self.mantissa(op, x, mf, window)?;
        let half = if inverse { -0.5 } else { 0.5 };
        let r_raw = oct.weighted(|e| super::fx::encode((f64::from(e) * half).exp2(), f))?;
        let r = Fx { share: r_raw, frac: f };
        let target = move |v: f64| v.sqrt().powf(if inverse { -1.0 } else { 1.0 });
        let degree = degree as usize;
        let coeffs = chebyshev_fit(target, 1.0, 2.0, degree);
        let t = to_unit_interval(self, &m, 1.0, 2.0)?;
        // Terms T_k(t) R, k = 0..degree.
        let terms = self.chebyshev_times(&t, &r, degree)?;
        let mut comb = LinComb::new(f);
        for (c, term) in coeffs.iter().zip(&terms) {
            comb.add_term(*c, term)?;
        }
        comb.finish(self, f)
    }

    /// `T_k(t) R` for `k = 0..=degree` at `R`'s scale: two rounds up to degree 3, then the
    /// basis and one product per term.
    fn chebyshev_times(&mut self, t: &Fx, r: &Fx, degree: usize) -> Result<Vec<Fx>> {
        let f = r.frac;
        if degree <= 3 {
            let mut first = mul_many_to(self, &[(t, r, f), (t, t, t.frac)])?.into_iter();
            let tr = first.next().unwrap_or_else(|| unreachable!());
            let t2 = first
                .next()
                .unwrap_or_else(|| unreachable!())
                .mul_int(2)
                .add_const(-1.0, self.rank());
            let mut out = vec![r.clone(), tr.clone()];
            if degree >= 2 {
                let mut second = mul_many(self, &[(t, &tr), (&t2, &tr)], f)?.into_iter();
                let t_tr = second.next().unwrap_or_else(|| unreachable!());
                let t2_tr = second.next().unwrap_or_else(|| unreachable!());
                out.push(t_tr.mul_int(2).sub(r)?);
                out.push(t2_tr.mul_int(2).sub(&tr)?);
            }
            out.truncate(degree + 1);
            return Ok(out);
        }
        let basis = chebyshev_basis(self, t, degree)?;
        let pairs: Vec<(&Fx, &Fx)> = basis.iter().skip(1).map(|b| (b, r)).collect();
        let mut out = vec![r.clone()];
        out.extend(mul_many(self, &pairs, f)?);
        Ok(out)
    }

    /// CrypTen's `1/sqrt(x)`: `y = 2.2 exp(-(x/2 + 0.2)) + 0.2 - x/1024`, then
    /// `y <- y (3 - x y^2) / 2`.
    fn inv_sqrt_newton(&mut self, x: &Fx, iterations: u32) -> Result<Fx> {
        if iterations > 20 {
            return Err(invalid("sqrt", format!("{iterations} iterations")));
        }
        let rank = self.rank();
        let f = x.frac;
        let half = super::fx::rescale(self, x.div_pow2_exact(1), f)?;
        let arg = half.add_const(0.2, rank).neg();
        let method = self.cfg.exp;
        let e = self.exp_fx(&arg, method)?;
        let mut y = LinComb::new(f);
        y.add_term(2.2, &e)?;
        y.add_term(-1.0 / 1024.0, x)?;
        y.add_const(0.2, rank);
        let mut y = y.finish(self, f)?;
        for _ in 0..iterations {
            let y2 = square(self, &y, f)?;
            let xy2 = mul(self, x, &y2, f)?;
            let three_minus = xy2.neg().add_const(3.0, rank);
            let prod = mul(self, &y, &three_minus, f)?;
            y = super::fx::rescale(self, prod.div_pow2_exact(1), f)?;
        }
        Ok(y)
    }
}
