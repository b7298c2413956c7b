//! `log`.
//!
//! Default ([`LogMethod::Normalized`]): `x = m 2^e` with `m` in `[1, 2)` by leading-one
//! normalisation (14 rounds), `m = x 2^-e` (one round), then `log m` by a Chebyshev series
//! of degree `d` on `[1, 2]` (`ceil(log2 d)` rounds) plus `e ln 2`. 18 rounds at the
//! default degree 7 (CrypTen: 32); domain `2^-f <= x < 2^(f+1)`; absolute error about
//! `2e-7 + 2 u / m + u` plus the coefficients' rounding (`2.4e-5`, see `LinComb`), a few
//! units at any magnitude (CrypTen's: 1.5e-2 on `[0.1, 10]`). The input itself is only known to `u`, which near `2^-f` limits any method.

use super::FnCtx;
use crate::ashare::AShare;
use crate::config::{ExpMethod, LogMethod};
use crate::error::{Result, invalid};
use crate::functions::fx::{Fx, mul, mul_many};
use crate::functions::lincomb::LinComb;
use crate::functions::poly::{
    chebyshev_basis, chebyshev_comb, chebyshev_fit, powers, to_unit_interval,
};

impl AShare {
    /// `ln(x)` elementwise, by the session's [`LogMethod`].
    ///
    /// # Errors
    /// A communication or dealer error, or an unusable method parameter.
    pub fn log(&self) -> Result<AShare> {
        self.unary("log", |s, x| s.log_fx(&x))
    }
}

impl FnCtx<'_> {
    /// `ln(x)` at `x`'s scale by the configured method.
    pub(crate) fn log_fx(&mut self, x: &Fx) -> Result<Fx> {
        match self.cfg.log {
            LogMethod::Normalized { degree } => self.log_normalized(x, degree),
            LogMethod::Householder { iterations, exp_iterations, order } => {
                self.log_householder(x, iterations, exp_iterations, order)
            }
        }
    }

    /// The octaves of positive `x` (recorded against `op`'s domain), `S = 2^-e` at `x`'s
    /// scale, and the mantissa `m = x S` at scale `mf`.
    pub(crate) fn mantissa(
        &mut self,
        op: &'static str,
        x: &Fx,
        mf: u32,
        window: (i32, i32),
    ) -> Result<(super::normalize::Octaves, Fx)> {
        let f = x.frac;
        let oct = self.octaves(&x.share, f, false, window)?;
        if self.domain_checks_free() {
            let outside = oct.outside(self.rank())?;
            self.record_domain(op, &outside)?;
        }
        let scale = Fx { share: oct.weighted(|e| 1u64 << (f as i32 - e))?, frac: f };
        let m = mul(self, x, &scale, mf)?;
        Ok((oct, m))
    }

    fn log_normalized(&mut self, x: &Fx, degree: u32) -> Result<Fx> {
        if degree == 0 || degree > 32 {
            return Err(invalid("log", format!("degree {degree}")));
        }
        let f = x.frac;
        let mf = super::fx::finer(f, 2);
        let (oct, m) = self.mantissa("log", x, mf, (-(f as i32), f as i32))?;
        let t = to_unit_interval(self, &m, 1.0, 2.0)?;
        let coeffs = chebyshev_fit(f64::ln, 1.0, 2.0, degree as usize);
        let basis = chebyshev_basis(self, &t, degree as usize)?;
        let mut comb = chebyshev_comb(self.rank(), &basis, &coeffs)?;
        for (e, h) in oct.iter() {
            comb.add_int_term(f64::from(e) * std::f64::consts::LN_2, h)?;
        }
        comb.finish(self, f)
    }

    /// CrypTen's: `y = x/120 - 20 exp(-2x - 1) + 3`, then `iterations` of
    /// `y -= sum_{i=1..order} h^i / i` with `h = 1 - x exp(-y)` (each `exp` by the limit of
    /// `exp_iterations`).
    fn log_householder(
        &mut self,
        x: &Fx,
        iterations: u32,
        exp_iterations: u32,
        order: u32,
    ) -> Result<Fx> {
        if order == 0 || order > 32 || iterations > 10 {
            return Err(invalid("log", format!("order {order}, {iterations} iterations")));
        }
        let rank = self.rank();
        let f = x.frac;
        let init_exp = self.cfg.exp;
        let arg = x.mul_int(-2).add_const(-1.0, rank);
        let e = self.exp_fx(&arg, init_exp)?;
        let mut y = LinComb::new(f);
        y.add_term(1.0 / 120.0, x)?;
        y.add_term(-20.0, &e)?;
        y.add_const(3.0, rank);
        let mut y = y.finish(self, f)?;
        let inner = ExpMethod::Limit { iterations: exp_iterations };
        for _ in 0..iterations {
            let e = self.exp_fx(&y.neg(), inner)?;
            let xe = mul_many(self, &[(x, &e)], f)?.remove(0);
            let h = xe.neg().add_const(1.0, rank);
            let hp = powers(self, &h, order as usize)?;
            let mut step = LinComb::new(f);
            for (i, p) in hp.iter().enumerate() {
                step.add_term(1.0 / (i + 1) as f64, p)?;
            }
            let step = step.finish(self, f)?;
            y = y.sub(&step)?;
        }
        Ok(y)
    }
}
