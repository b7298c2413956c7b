//! Beaver's protocol for any bilinear map, and squaring with a square pair.
//!
//! For `z = f(x, y)` with a triple `(a, b, c = f(a, b))`: the parties open
//! `eps = x - a` and `delta = y - b` together (one round, one message per peer), and
//! party `i` keeps `c_i + f(eps, b_i) + f(a_i, delta)`, party 0 adding `f(eps, delta)`.
//! Party 0 folds that last term into its second product as `f(a_0 + eps, delta)`, so every
//! party evaluates `f` twice.

use cloak_dealer::BilinearOp;
use cloak_ring::RingTensor;

use crate::error::Result;
use crate::session::State;

impl State {
    /// This party's share of `f(x, y)` at the product's scale (not truncated).
    pub(crate) fn beaver(
        &mut self,
        op: &BilinearOp,
        x: &RingTensor<u64>,
        y: &RingTensor<u64>,
    ) -> Result<RingTensor<u64>> {
        // Validates shapes before anything is asked of the dealer or sent.
        op.output_shape()?;
        let triple = {
            let State { comm, dealer, .. } = self;
            dealer.triple(op, comm.as_mut())?
        };
        let eps = x.sub(&triple.a)?;
        let delta = y.sub(&triple.b)?;
        let mut opened = self.open_tensors(op.name(), &[&eps, &delta])?;
        let delta = opened.pop().unwrap_or_else(|| unreachable!("two tensors opened"));
        let eps = opened.pop().unwrap_or_else(|| unreachable!("two tensors opened"));
        let mut z = triple.c;
        z.add_assign(&op.apply(&eps, &triple.b)?)?;
        let left = if self.rank == 0 { triple.a.add(&eps)? } else { triple.a };
        z.add_assign(&op.apply(&left, &delta)?)?;
        Ok(z)
    }

    /// This party's share of `x * x` elementwise at the product's scale, with a square pair:
    /// open `eps = x - r`; `x^2 = r^2 + 2 eps r + eps^2`.
    pub(crate) fn square(&mut self, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        let pair = {
            let State { comm, dealer, .. } = self;
            dealer.square(x.shape(), comm.as_mut())?
        };
        let eps = x.sub(&pair.r)?;
        let eps = self.open_tensors("square", &[&eps])?.remove(0);
        let mut z = pair.r2;
        let mut two_r = pair.r.mul_scalar(2);
        if self.rank == 0 {
            two_r.add_assign(&eps)?;
        }
        z.add_assign(&two_r.mul(&eps)?)?;
        Ok(z)
    }
}
