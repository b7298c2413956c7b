//! `exp`.
//!
//! Default ([`ExpMethod::Squaring`]): `exp(x) = q(x / 2^s)^(2^s)` with `q` a Chebyshev
//! series of degree `d` fitted to `exp` on `[-1, 1]`. The division by `2^s` is exact (the
//! same shares read at a finer scale), `q` is evaluated one bit finer than the session, so
//! the `2^s`-fold amplification of its relative error by the squarings starts from half a
//! unit. Domain `|x| <= 2^s` (8 by default); relative error about
//! `2^s (fit + 2 u / exp(-1)) + sum_j 2^(s-j) u / exp(x / 2^j)`, under `1e-3` on `[-4, 4]`
//! wherever `exp(x) >= 0.1`, and `ceil(log2 d) + s` rounds (6 by default, against 8 for
//! CrypTen's limit, which is 3.5% off at `|x| = 4`).
//!
//! Below the domain, `q` stays small for `x / 2^s` down to about -3 (so `exp` is about 0
//! down to `x = -3 2^s`), and grows beyond; above it, the output soon leaves the
//! fixed-point range. With [`DomainChecks::All`](crate::DomainChecks::All) the elements
//! outside `[-2^s, 2^s]` are counted (one comparison, 8 rounds).

use super::FnCtx;
use crate::ashare::AShare;
use crate::config::ExpMethod;
use crate::error::{Result, invalid};
use crate::functions::fx::{Fx, rescale, square};
use crate::functions::poly::{chebyshev_basis, chebyshev_fit, chebyshev_sum, to_unit_interval};

impl AShare {
    /// `exp(x)` elementwise, by the session's [`ExpMethod`] (see the module documentation
    /// of [`functions::exp`](crate::functions::exp) for domains and errors).
    ///
    /// # Errors
    /// A communication or dealer error, or an unusable method parameter.
    pub fn exp(&self) -> Result<AShare> {
        self.unary("exp", |s, x| {
            let method = s.cfg.exp;
            s.exp_fx(&x, method)
        })
    }
}

impl FnCtx<'_> {
    /// `exp(x)` at `x`'s scale by `method`.
    pub(crate) fn exp_fx(&mut self, x: &Fx, method: ExpMethod) -> Result<Fx> {
        match method {
            ExpMethod::Squaring { squarings, degree } => {
                let bound = f64::from(squarings).exp2();
                self.check_interval("exp", x, -bound, bound)?;
                self.exp_squaring(x, squarings, degree)
            }
            ExpMethod::Limit { iterations } => {
                let bound = f64::from(iterations).exp2();
                self.check_interval("exp", x, -bound, bound)?;
                self.exp_limit(x, iterations)
            }
        }
    }

    /// `q(x / 2^s)^(2^s)`.
    pub(crate) fn exp_squaring(&mut self, x: &Fx, squarings: u32, degree: u32) -> Result<Fx> {
        if degree == 0 || degree > 64 || squarings > 20 {
            return Err(invalid("exp", format!("degree {degree}, {squarings} squarings")));
        }
        let f = x.frac;
        let fine = super::fx::finer(f, 1);
        // t = x / 2^s one bit finer (exact division, then one rounding).
        let t = rescale(self, x.div_pow2_exact(squarings), fine)?;
        let coeffs = chebyshev_fit(f64::exp, -1.0, 1.0, degree as usize);
        let basis = chebyshev_basis(self, &t, degree as usize)?;
        let mut v = chebyshev_sum(self, &basis, &coeffs, fine)?;
        for _ in 0..squarings {
            v = square(self, &v, f)?;
        }
        rescale(self, v, f)
    }

    /// `exp(x)` for `x` in `[-2^b, 0]` (`b = bound_log2`), as softmax needs it:
    /// `g(x)^(2^s)` with `g` a Chebyshev series of `exp(x / 2^s)` fitted on the whole
    /// interval (so `t = x / 2^(b-1) + 1` is exact up to one rounding at the finer scale),
    /// then `s = squarings` squarings. Each squaring doubles the relative error before it,
    /// so a series of higher degree over the wide interval and few squarings beat many
    /// squarings of a series on `[-1, 1]`: with `b = 5`, `s = 3` and degree 10 the fit is
    /// within `1e-7` relative for `x >= -12` (below, `exp` is under a unit); 4 + 3 rounds.
    /// The series and the first squaring run one bit finer than the session; `t`'s
    /// rounding there moves `x` by a few units of the session (`2^(b-1)` times a rounding
    /// at `2^-(f+1)`), the largest part of the relative error.
    pub(crate) fn exp_nonpositive(
        &mut self,
        x: &Fx,
        bound_log2: u32,
        squarings: u32,
        degree: u32,
    ) -> Result<Fx> {
        if degree == 0 || degree > 64 || squarings > 20 || bound_log2 == 0 || bound_log2 > 20 {
            return Err(invalid(
                "exp",
                format!("degree {degree}, {squarings} squarings on [-2^{bound_log2}, 0]"),
            ));
        }
        let f = x.frac;
        let fine = super::fx::finer(f, 1);
        let lo = -f64::from(bound_log2).exp2();
        let xf = rescale(self, x.clone(), fine)?;
        let t = to_unit_interval(self, &xf, lo, 0.0)?;
        let scale = f64::from(squarings).exp2();
        let coeffs = chebyshev_fit(|z| (z / scale).exp(), lo, 0.0, degree as usize);
        let basis = chebyshev_basis(self, &t, degree as usize)?;
        let mut v = chebyshev_sum(self, &basis, &coeffs, fine)?;
        for _ in 0..squarings {
            v = square(self, &v, f)?;
        }
        rescale(self, v, f)
    }

    /// CrypTen's `(1 + x / 2^n)^(2^n)`.
    pub(crate) fn exp_limit(&mut self, x: &Fx, iterations: u32) -> Result<Fx> {
        if iterations > 30 {
            return Err(invalid("exp", format!("{iterations} iterations")));
        }
        let f = x.frac;
        let rank = self.rank();
        let mut v = rescale(self, x.div_pow2_exact(iterations), f)?.add_const(1.0, rank);
        for _ in 0..iterations {
            v = square(self, &v, f)?;
        }
        Ok(v)
    }
}
