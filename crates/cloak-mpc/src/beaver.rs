//! Beaver's protocol for any bilinear map, and squaring with a square pair.
//!
//! For `z = f(x, y)` with a triple `(a, b, c = f(a, b))`: the parties open
//! `eps = x - a` and `delta = y - b` together (one round, one message per peer), and
//! party `i` keeps `c_i + f(eps, b_i) + f(a_i, delta)`, party 0 adding `f(eps, delta)`.
//! Party 0 folds that last term into its second product as `f(a_0 + eps, delta)`, so every
//! party evaluates `f` twice; an elementwise product of equal shapes is one fused pass.

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
        let mut opened = self.open_tensors(op.name(), vec![eps, delta])?;
        let delta = opened.pop().unwrap_or_else(|| unreachable!("two tensors opened"));
        let eps = opened.pop().unwrap_or_else(|| unreachable!("two tensors opened"));
        let rank0 = self.rank == 0;
        if matches!(op, BilinearOp::Mul { lhs, rhs } if lhs == rhs) {
            return Ok(fused_mul(triple.a, triple.b, triple.c, &eps, &delta, rank0));
        }
        let mut z = triple.c;
        z.add_assign(&op.apply(&eps, &triple.b)?)?;
        let left = if rank0 { triple.a.add(&eps)? } else { triple.a };
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
        let eps = self.open_tensors("square", vec![eps])?.remove(0);
        let rank0 = self.rank == 0;
        let mut z = pair.r2;
        ndarray::Zip::from(z.as_array_mut()).and(pair.r.as_array()).and(eps.as_array()).for_each(
            |z, &r, &e| {
                let t = if rank0 { r.wrapping_mul(2).wrapping_add(e) } else { r.wrapping_mul(2) };
                *z = z.wrapping_add(t.wrapping_mul(e));
            },
        );
        Ok(z)
    }
}

/// `c + eps * b + (a [+ eps at party 0]) * delta` in one pass over equal-shaped tensors.
pub(crate) fn fused_mul(
    a: RingTensor<u64>,
    b: RingTensor<u64>,
    mut c: RingTensor<u64>,
    eps: &RingTensor<u64>,
    delta: &RingTensor<u64>,
    rank0: bool,
) -> RingTensor<u64> {
    ndarray::Zip::from(c.as_array_mut())
        .and(a.as_array())
        .and(b.as_array())
        .and(eps.as_array())
        .and(delta.as_array())
        .for_each(|c, &a, &b, &e, &d| {
            let left = if rank0 { a.wrapping_add(e) } else { a };
            *c = c.wrapping_add(e.wrapping_mul(b)).wrapping_add(left.wrapping_mul(d));
        });
    c
}
