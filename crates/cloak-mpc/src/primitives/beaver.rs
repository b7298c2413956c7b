//! Beaver's protocol for any bilinear map, and squaring with a square pair.
//!
//! For `z = f(x, y)` with a triple `(a, b, c = f(a, b))`: the parties open
//! `eps = x - a` and `delta = y - b` together (one round, one message per peer), and
//! party `i` keeps `c_i + f(eps, b_i) + f(a_i, delta)`, party 0 adding `f(eps, delta)`.
//! Party 0 folds that last term into its second product as `f(a_0 + eps, delta)`, so every
//! party evaluates `f` twice; an elementwise product of equal shapes takes two fused passes
//! (then, with local truncation, one more over the result).
//! The masks are taken before the product's share ([`cloak_dealer::Dealer::begin`]), so
//! the openings go out while the dealer computes (or sends) the correction.

use cloak_comm::{Op, OpKind};
use cloak_dealer::{BilinearOp, Pending, Request, Triple};

use super::context::Context;
use cloak_ring::RingTensor;

use crate::error::{MpcError, Result};

impl Context {
    /// This party's share of `f(x, y)` at the product's scale (not truncated), for any
    /// bilinear `op`: one round opening `x - a` and `y - b` together (their words to each
    /// peer), a triple from the dealer.
    ///
    /// # Errors
    /// A shape error for operands that do not fit `op` (before anything is sent or asked
    /// of the dealer); a communication or dealer error.
    pub fn beaver(
        &mut self,
        op: &BilinearOp,
        x: &RingTensor<u64>,
        y: &RingTensor<u64>,
    ) -> Result<RingTensor<u64>> {
        check_operands(op, x, y)?;
        let pending = self.begin_triple(op)?;
        let on_host = x.is_host() && y.is_host() && pending.free().iter().all(|t| t.is_host());
        if on_host && matches!(op, BilinearOp::Mul { lhs, rhs } if lhs == rhs) {
            return self.beaver_elementwise(pending, x, y);
        }
        let eps = x.sub(&pending.free()[0])?;
        let delta = y.sub(&pending.free()[1])?;
        let mut opened = self.open_tensors(op.name(), vec![eps, delta])?;
        let delta = opened.pop().unwrap_or_else(|| unreachable!("two tensors opened"));
        let eps = opened.pop().unwrap_or_else(|| unreachable!("two tensors opened"));
        let triple = self.finish_triple(pending)?;
        let rank0 = self.is_first();
        let mut z = triple.c;
        z.add_assign(&op.apply(&eps, &triple.b)?)?;
        let left = if rank0 { triple.a.add(&eps)? } else { triple.a };
        z.add_assign(&op.apply(&left, &delta)?)?;
        Ok(z)
    }

    /// This party's share of `f(x, y)` truncated by `bits` (the fixed-point product): an
    /// elementwise product whose truncation needs no message does it right after the
    /// product, in the same call; otherwise the truncation strategy runs (one more round
    /// for dealer pairs).
    ///
    /// # Errors
    /// As [`beaver`](Self::beaver).
    pub fn beaver_truncated(
        &mut self,
        op: &BilinearOp,
        x: &RingTensor<u64>,
        y: &RingTensor<u64>,
        bits: u32,
    ) -> Result<RingTensor<u64>> {
        let z = self.beaver(op, x, y)?;
        if bits == 0 {
            return Ok(z);
        }
        if !z.is_host() {
            return match self.truncate_local_tensor(&z, bits)? {
                Some(t) => Ok(t),
                None => self.truncate(z, bits),
            };
        }
        let shape = z.shape().to_vec();
        let mut words = z.into_vec();
        if self.truncate_local(&mut words, bits) {
            return Ok(RingTensor::from_vec(&shape, words)?);
        }
        self.truncate(RingTensor::from_vec(&shape, words)?, bits)
    }

    /// Beaver for an elementwise product of equal shapes in two passes over memory: the
    /// masked operands are written straight into the message, and the opened masks are
    /// rebuilt from the received bytes while the product is accumulated.
    fn beaver_elementwise(
        &mut self,
        pending: Pending,
        x: &RingTensor<u64>,
        y: &RingTensor<u64>,
    ) -> Result<RingTensor<u64>> {
        let n = x.len();
        let (xs, ys) = (x.as_slice(), y.as_slice());
        let mut bytes = Vec::with_capacity(16 * n);
        {
            let (a, b) = (pending.free()[0].as_slice(), pending.free()[1].as_slice());
            bytes.extend(
                xs.iter().zip(a.iter()).flat_map(|(x, a)| x.wrapping_sub(*a).to_le_bytes()),
            );
            bytes.extend(
                ys.iter().zip(b.iter()).flat_map(|(y, b)| y.wrapping_sub(*b).to_le_bytes()),
            );
        }
        let peers = self.peers();
        let sends: Vec<(usize, &[u8])> = peers.iter().map(|&p| (p, bytes.as_slice())).collect();
        let got = self.comm().step(Op::new(OpKind::ExchangeAll), &sends, &peers)?;
        self.comm().flush()?;
        for (&peer, msg) in peers.iter().zip(&got) {
            if msg.len() != bytes.len() {
                return Err(MpcError::Malformed {
                    op: "mul",
                    peer,
                    reason: format!("{} bytes, expected {}", msg.len(), bytes.len()),
                });
            }
        }
        let word = |msg: &[u8], k: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&msg[8 * k..8 * k + 8]);
            u64::from_le_bytes(w)
        };
        let rank0 = self.is_first();
        let triple = self.finish_triple(pending)?;
        let (a, b) = (triple.a.as_slice(), triple.b.as_slice());
        let shape = triple.c.shape().to_vec();
        let mut z = triple.c.into_vec();
        for k in 0..n {
            let mut e = xs[k].wrapping_sub(a[k]);
            let mut d = ys[k].wrapping_sub(b[k]);
            for msg in &got {
                e = e.wrapping_add(word(msg, k));
                d = d.wrapping_add(word(msg, n + k));
            }
            let left = if rank0 { a[k].wrapping_add(e) } else { a[k] };
            z[k] = z[k].wrapping_add(e.wrapping_mul(b[k])).wrapping_add(left.wrapping_mul(d));
        }
        Ok(RingTensor::from_vec(&shape, z)?)
    }

    /// Starts a triple for `op`: this party's masks now, the product's share after the
    /// openings ([`finish_triple`](Self::finish_triple)), so the dealer's work overlaps them.
    fn begin_triple(&mut self, op: &BilinearOp) -> Result<Pending> {
        self.begin(&Request::Triple(op.clone()))
    }

    fn finish_triple(&mut self, pending: Pending) -> Result<Triple> {
        Ok(self.finish(pending)?.into_triple())
    }

    /// This party's share of `x * x` elementwise at the product's scale, with a square pair:
    /// open `eps = x - r`; `x^2 = r^2 + 2 eps r + eps^2`. One round, half the bytes of a
    /// product.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn square(&mut self, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        let pair = self.fetch(&Request::Square { shape: x.shape().to_vec() })?.into_square();
        let eps = x.sub(&pair.r)?;
        let eps = self.open_tensors("square", vec![eps])?.remove(0);
        let rank0 = self.is_first();
        if !eps.is_host() || !pair.r.is_host() {
            // On a device: r^2 + (2r [+ eps at the first party]) * eps in tensor operations.
            let mut t = pair.r.mul_scalar(2);
            if rank0 {
                t = t.add(&eps)?;
            }
            return Ok(pair.r2.add(&t.mul(&eps)?)?);
        }
        let mut z = pair.r2;
        ndarray::Zip::from(z.as_array_mut())
            .and(&*pair.r.as_array())
            .and(&*eps.as_array())
            .for_each(|z, &r, &e| {
                let t = if rank0 { r.wrapping_mul(2).wrapping_add(e) } else { r.wrapping_mul(2) };
                *z = z.wrapping_add(t.wrapping_mul(e));
            });
        Ok(z)
    }
}

impl Context {
    /// This party's share of `op(x, w)` at the product's scale for a right operand fixed
    /// earlier: `mask` is the persistent mask `B` taken with
    /// [`take_persistent_mask`](Self::take_persistent_mask), `b` this party's share of it
    /// and `d` the opened `w - B`. One round opening only `x - a` (its words to each peer),
    /// a fixed-right-operand triple from the dealer. `label` names the step in errors.
    ///
    /// # Errors
    /// A shape error for operands that do not fit `op` (before anything is sent); a
    /// communication or dealer error (a mask never taken, or taken at another shape).
    pub fn beaver_fixed_rhs(
        &mut self,
        op: &BilinearOp,
        label: &'static str,
        x: &RingTensor<u64>,
        mask: u64,
        b: &RingTensor<u64>,
        d: &RingTensor<u64>,
    ) -> Result<RingTensor<u64>> {
        check_operands(op, x, b)?;
        if d.shape() != b.shape() {
            return Err(cloak_ring::RingError::ShapeMismatch {
                op: label,
                lhs: d.shape().to_vec(),
                rhs: b.shape().to_vec(),
            }
            .into());
        }
        let request = Request::TripleFixedRhs { op: op.clone(), mask };
        let pending = self.begin(&request)?;
        let eps = x.sub(&pending.free()[0])?;
        let eps = self.open_tensors(label, vec![eps])?.remove(0);
        let triple = self.finish(pending)?.into_fixed_rhs_triple();
        let mut z = triple.c;
        z.add_assign(&op.apply(&eps, b)?)?;
        let left = if self.is_first() { triple.a.add(&eps)? } else { triple.a };
        z.add_assign(&op.apply(&left, d)?)?;
        Ok(z)
    }
}

/// `c + eps * b + (a [+ eps at the first party]) * delta` in one pass over equal-shaped
/// tensors: a Beaver product's share once `eps` and `delta` are open.
#[must_use]
pub fn fused_mul(
    a: RingTensor<u64>,
    b: RingTensor<u64>,
    mut c: RingTensor<u64>,
    eps: &RingTensor<u64>,
    delta: &RingTensor<u64>,
    first: bool,
) -> RingTensor<u64> {
    ndarray::Zip::from(c.as_array_mut())
        .and(&*a.as_array())
        .and(&*b.as_array())
        .and(&*eps.as_array())
        .and(&*delta.as_array())
        .for_each(|c, &a, &b, &e, &d| {
            let left = if first { a.wrapping_add(e) } else { a };
            *c = c.wrapping_add(e.wrapping_mul(b)).wrapping_add(left.wrapping_mul(d));
        });
    c
}

/// Checks, before anything is asked of the dealer or sent, that `op` is consistent and that
/// the operands have its shapes: a request begun and then dropped would leave a networked
/// dealer's reply unread.
fn check_operands(op: &BilinearOp, x: &RingTensor<u64>, y: &RingTensor<u64>) -> Result<()> {
    op.output_shape()?;
    for (t, want) in [(x, op.lhs_shape()), (y, op.rhs_shape())] {
        if t.shape() != want {
            return Err(cloak_ring::RingError::ShapeMismatch {
                op: op.name(),
                lhs: t.shape().to_vec(),
                rhs: want.to_vec(),
            }
            .into());
        }
    }
    Ok(())
}
