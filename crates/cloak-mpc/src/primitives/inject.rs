//! Bit injection: multiplying an additively shared tensor by XOR-shared bits in one round.
//!
//! With a random bit `r` shared both ways and a Beaver triple for `r * x`, the parties open
//! `z = b ^ r` (one bit per element) together with the Beaver masks of `r * x`, in one
//! message per peer. Then `b = z + r - 2 z r` and `b x = (1 - 2 z) (r x) + z x`, both linear
//! in the shares once `z` is public. ReLU, abs and the selections of max are one round
//! shorter than converting the bit first (B2A) and multiplying after, as CrypTen does.

use cloak_dealer::{BilinearOp, RandomBits, Request, Triple};
use cloak_ring::RingTensor;

use super::beaver::fused_mul;
use super::context::Context;
use crate::error::{Result, invalid};

impl Context {
    /// Shares of `b * x` and of `b` (0/1 at scale 1) for additively shared `x` and XOR-shared
    /// bits `b` packed 64 per word (bit `k` of the packing belongs to element `k` of `x` in
    /// row-major order). One round: `ceil(n / 64)` words of masked bits and the `2n` words
    /// of a Beaver product, in one message per peer.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for a packing of
    /// the wrong length; a communication or dealer error.
    pub fn mul_by_xor_bits(
        &mut self,
        x: &RingTensor<u64>,
        packed: &[u64],
    ) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        let n = x.len();
        if packed.len() != n.div_ceil(64) {
            return Err(invalid("bit_mul", format!("{} words for {n} bits", packed.len())));
        }
        let shape = x.shape().to_vec();
        let (bits, triple) = self.bit_injection_material(&shape)?;
        let r = bits.arith.reshape(&shape)?;
        let masked: Vec<u64> =
            packed.iter().zip(bits.xor.as_slice().iter()).map(|(b, r)| b ^ r).collect();
        let eps = x.sub(&triple.a)?.into_vec();
        let delta = r.sub(&triple.b)?.into_vec();
        let mut opened = self.open_parts("bit_mul", vec![masked, eps, delta], &|i| i == 0)?;
        let delta = RingTensor::from_vec(&shape, opened.pop().unwrap_or_default())?;
        let eps = RingTensor::from_vec(&shape, opened.pop().unwrap_or_default())?;
        let z = opened.pop().unwrap_or_default();
        let rank0 = self.is_first();
        let rx = fused_mul(triple.a, triple.b, triple.c, &eps, &delta, rank0);
        let x_flat = x.as_slice();
        let (rx, r) = (rx.as_slice(), r.as_slice());
        let mut bx = Vec::with_capacity(n);
        let mut b = Vec::with_capacity(n);
        for k in 0..n {
            let zk = (z[k / 64] >> (k % 64)) & 1 == 1;
            if zk {
                bx.push(x_flat[k].wrapping_sub(rx[k]));
                b.push(r[k].wrapping_neg().wrapping_add(u64::from(rank0)));
            } else {
                bx.push(rx[k]);
                b.push(r[k]);
            }
        }
        Ok((RingTensor::from_vec(&shape, bx)?, RingTensor::from_vec(&shape, b)?))
    }
}

impl Context {
    /// What one bit injection of `shape` spends: random bits shared both ways, and a Beaver
    /// triple for their product with the operand.
    pub(crate) fn bit_injection_material(
        &mut self,
        shape: &[usize],
    ) -> Result<(RandomBits, Triple)> {
        let n = cloak_ring::error::checked_numel("bit_mul", shape)?;
        let op = BilinearOp::Mul { lhs: shape.to_vec(), rhs: shape.to_vec() };
        Ok((
            self.fetch(&Request::RandomBits { count: n })?.into_bits(),
            self.fetch(&Request::Triple(op))?.into_triple(),
        ))
    }
}

/// Bit `k` of the output is bit `source(k)` of `packed`: a local rearrangement of
/// XOR-shared bits (each party moves its own shares), for broadcasting a bit over several
/// elements.
#[must_use]
pub fn gather_bits(packed: &[u64], n: usize, source: impl Fn(usize) -> usize) -> Vec<u64> {
    let mut out = vec![0u64; n.div_ceil(64)];
    for k in 0..n {
        let s = source(k);
        let bit = (packed[s / 64] >> (s % 64)) & 1;
        out[k / 64] |= bit << (k % 64);
    }
    out
}
