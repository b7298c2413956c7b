//! Non-linear functions on shared tensors: exp, log, reciprocal and division, square
//! roots, powers, sigmoid and tanh, softmax, erf, sin and cos, norms and moments. They are
//! methods of [`AShare`]; the submodules here document, per function, its method, domain,
//! error bound and rounds ([`exp`], [`log`], [`reciprocal`], [`sqrt`], [`saturated`] for
//! sigmoid, tanh, erf and gelu, [`softmax`], [`trig`], [`moments`]).
//!
//! Each function documents its method, domain, error bound and rounds (two parties with
//! local truncation; with dealer truncation pairs every product and rescaling takes one
//! more round). Methods are chosen in [`FunctionConfig`]: Cloak's by default, CrypTen's
//! with [`FunctionConfig::crypten`]. Inputs outside a documented domain are counted (see
//! [`DomainChecks`](crate::DomainChecks) and [`Session::domain_report`](crate::Session::domain_report)).
//!
//! Error bounds are in units of the session's precision `u = 2^-f` (`1.5e-5` at the
//! default 16 bits) plus the method's own approximation error; a truncation after a product
//! is off by up to one unit, and the bounds count those.

mod domain;
pub mod exp;
mod fx;
mod lincomb;
pub mod log;
pub mod moments;
mod normalize;
mod poly;
pub mod reciprocal;
pub mod saturated;
pub mod softmax;
pub mod sqrt;
pub mod trig;

pub use domain::DomainStat;

use std::ops::{Deref, DerefMut};

use cloak_ring::RingTensor;

use crate::ashare::AShare;
use crate::compare::one_minus;
use crate::config::FunctionConfig;
use crate::error::Result;
use crate::primitives::Context;
use fx::Fx;

/// What the functions run on: the public protocol context, and the methods the session's
/// configuration chose.
pub(crate) struct FnCtx<'a> {
    ctx: &'a mut Context,
    pub(crate) cfg: FunctionConfig,
}

impl Deref for FnCtx<'_> {
    type Target = Context;
    fn deref(&self) -> &Context {
        self.ctx
    }
}

impl DerefMut for FnCtx<'_> {
    fn deref_mut(&mut self) -> &mut Context {
        self.ctx
    }
}

impl AShare {
    /// Runs a function of the raw shares under `op`'s statistics label; `f` sees the
    /// session's state and the input at the session's scale, and returns the output at it.
    pub(crate) fn unary(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut FnCtx<'_>, Fx) -> Result<Fx>,
    ) -> Result<AShare> {
        let session = self.session().clone();
        session.scoped(op, || {
            let x = Fx::from_ashare(self)?;
            let out = {
                let mut ctx = session.context()?;
                let cfg = session.config().functions;
                f(&mut FnCtx { ctx: &mut ctx, cfg }, x)?
            };
            out.into_ashare(&session, self.shape())
        })
    }
}

impl FnCtx<'_> {
    /// Additive 0/1 shares (scale 1) of `[x < lo]` and `[x > hi]` for every element, in one
    /// batched comparison (8 rounds for two parties).
    pub(crate) fn outside_interval(
        &mut self,
        x: &Fx,
        lo: f64,
        hi: f64,
    ) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        let rank = self.rank();
        let below = x.clone().add_const(-lo, rank); // < 0 when x < lo
        let above = x.neg().add_const(hi, rank); // < 0 when x > hi
        let n = x.len();
        let both = RingTensor::concat(&[&below.share, &above.share], 0)?;
        let bits = self.ltz_arith(&both)?;
        let mut halves = fx::split(bits, &[n, n])?.into_iter();
        let lo_bits = halves.next().unwrap_or_else(|| unreachable!("two halves"));
        let hi_bits = halves.next().unwrap_or_else(|| unreachable!("two halves"));
        Ok((lo_bits, hi_bits))
    }

    /// Shares of `[x < 0]` (scale 1) and of `sign(x) = 1 - 2 [x < 0]` as an integer-valued
    /// tensor (scale 0): one comparison, 8 rounds for two parties.
    pub(crate) fn sign_fx(&mut self, x: &Fx) -> Result<(RingTensor<u64>, Fx)> {
        let ltz = self.ltz_arith(&x.share)?;
        let sign = one_minus(self.rank(), &ltz.mul_scalar(2));
        Ok((ltz, Fx { share: sign, frac: 0 }))
    }

    /// Records the elements of `x` outside `[lo, hi]` under `op`, when every domain is
    /// checked ([`DomainChecks::All`]): one batched comparison.
    pub(crate) fn check_interval(
        &mut self,
        op: &'static str,
        x: &Fx,
        lo: f64,
        hi: f64,
    ) -> Result<()> {
        if !self.domain_checks_all() {
            return Ok(());
        }
        let (below, above) = self.outside_interval(x, lo, hi)?;
        self.record_domain(op, &below.add(&above)?)
    }
}
