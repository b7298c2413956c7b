//! The three answers of a comparison strategy that has its sign circuit in both forms: word
//! vectors for host shares, tensor operations for device shares (which then stay on the
//! device). [`DealerBits`](super::DealerBits) and [`BitPlaneCarry`](super::BitPlaneCarry)
//! answer `ltz_packed_tensor`, `ltz_arith` and `times_ltz` through these, so the choice of
//! form is made in one place.

use cloak_ring::RingTensor;

use super::context::Context;
use crate::error::Result;

/// The word circuit: packed sign bits on the host.
pub(super) type WordCircuit<'a> = &'a dyn Fn(&mut Context) -> Result<Vec<u64>>;

/// The tensor circuit: packed sign bits (`[ceil(n / 64)]`) where the share lives.
pub(super) type TensorCircuit<'a> = &'a dyn Fn(&mut Context) -> Result<RingTensor<u64>>;

/// The packed sign bits of `x` as a word tensor where `x` lives.
pub(super) fn packed_where(
    ctx: &mut Context,
    x: &RingTensor<u64>,
    words: WordCircuit<'_>,
    tensors: TensorCircuit<'_>,
) -> Result<RingTensor<u64>> {
    if x.is_host() {
        let msb = words(ctx)?;
        return Ok(RingTensor::from_vec(&[msb.len()], msb)?);
    }
    tensors(ctx)
}

/// Additive 0/1 shares of the sign of `x`, in its shape, where it lives.
pub(super) fn arith_where(
    ctx: &mut Context,
    x: &RingTensor<u64>,
    words: WordCircuit<'_>,
    tensors: TensorCircuit<'_>,
) -> Result<RingTensor<u64>> {
    if x.is_host() {
        let msb = words(ctx)?;
        let bits = ctx.bits_to_arith(&msb, x.len())?;
        return Ok(RingTensor::from_vec(x.shape(), bits)?);
    }
    let msb = tensors(ctx)?;
    ctx.bits_to_arith_tensor(&msb, x.shape())
}

/// Shares of `[x < 0] * x` and of `[x < 0]`, where `x` lives.
pub(super) fn times_where(
    ctx: &mut Context,
    x: &RingTensor<u64>,
    words: WordCircuit<'_>,
    tensors: TensorCircuit<'_>,
) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
    if x.is_host() {
        let msb = words(ctx)?;
        return ctx.mul_by_xor_bits(x, &msb);
    }
    let msb = tensors(ctx)?;
    ctx.mul_by_xor_bits_tensor(x, &msb)
}
