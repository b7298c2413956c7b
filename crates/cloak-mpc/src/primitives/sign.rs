//! Comparison strategies: how the sign bit `[x < 0]` of additively shared values is
//! computed. Every comparison, ReLU, max and pooling of the layers above goes through the
//! session's strategy, so a new method is a new type implementing [`ComparisonProtocol`].

use cloak_ring::{RingTensor, planes};

use super::context::Context;
use super::sign_circuits::{arith_where, packed_where, times_where};
use super::sign_planes::bit_plane_tensor;
use super::strategy::strategy_handle;
use crate::error::Result;

/// A way of computing `[x < 0]` on additive shares of ring values `x` (the two's-complement
/// sign of the sum of the shares).
///
/// Only [`ltz_packed`](Self::ltz_packed) is required; the other two have defaults built on
/// it (a B2A round, or a bit-injection round), which a strategy that gets arithmetic bits
/// more cheaply (function secret sharing, say) overrides.
/// What [`ComparisonProtocol::truncate_times_ltz`] gives: shares of `y = x / 2^bits`, of
/// `[y < 0] * y` and of `[y < 0]` (scale 1).
pub type TruncatedSign = (RingTensor<u64>, RingTensor<u64>, RingTensor<u64>);

pub trait ComparisonProtocol: Send + Sync + 'static {
    /// A short unique name (`"bit-plane-carry"`, ...), for statistics, configuration
    /// equality and errors.
    fn name(&self) -> &'static str;

    /// Refuses a number of parties the method does not support (checked when a session is
    /// made).
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) naming the limit.
    fn check(&self, parties: usize) -> Result<()> {
        let _ = parties;
        Ok(())
    }

    /// The width `k` of the inputs the method compares correctly, `|x| < 2^(k-1)` in raw
    /// ring values; 64 (the whole ring) by default. Protocols that compare against a fill
    /// value (max pooling's padding) keep it within this range.
    fn input_bits(&self) -> u32 {
        64
    }

    /// XOR shares of `[x < 0]`, packed 64 per word in row-major order (bit `k % 64` of
    /// word `k / 64` belongs to element `k`).
    ///
    /// # Errors
    /// A communication or dealer error.
    fn ltz_packed(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<Vec<u64>>;

    /// [`ltz_packed`](Self::ltz_packed) as a flat word tensor (`[ceil(n / 64)]`) where `x`
    /// lives. The default runs `ltz_packed` (through the context, so a strategy that calls
    /// back into its own dispatch is refused) and moves the words to `x`'s device; a
    /// strategy whose circuit runs in tensor operations overrides it, so that a device
    /// share stays there.
    ///
    /// # Errors
    /// A communication or dealer error.
    fn ltz_packed_tensor(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        let packed = ctx.ltz_packed(x)?;
        let words = RingTensor::from_vec(&[packed.len()], packed)?;
        Ok(match x.device() {
            Some(device) => words.to_device(device)?,
            None => words,
        })
    }

    /// Additive shares at scale 1 (0 or 1) of `[x < 0]`, in `x`'s shape. The default is
    /// [`ltz_packed`](Self::ltz_packed) then [`Context::bits_to_arith`] (one more round).
    ///
    /// # Errors
    /// A communication or dealer error.
    fn ltz_arith(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        let msb = self.ltz_packed(ctx, x)?;
        let bits = ctx.bits_to_arith(&msb, x.len())?;
        Ok(RingTensor::from_vec(x.shape(), bits)?)
    }

    /// `y = x / 2^bits` (truncated as dealer pairs truncate: never below the floor, at most
    /// one unit above), `[y < 0] * y` and `[y < 0]` (scale 1), with one opening serving
    /// the truncation and the comparison, where the strategy can; `Ok(None)` (the default)
    /// where it cannot, and [`Context::truncate_times_ltz`] truncates, then calls
    /// [`times_ltz`](Self::times_ltz). Called only when the session truncates with dealer
    /// pairs, so the fused result is the one the session would give otherwise.
    ///
    /// # Errors
    /// A communication or dealer error.
    fn truncate_times_ltz(
        &self,
        ctx: &mut Context,
        x: &RingTensor<u64>,
        bits: u32,
    ) -> Result<Option<TruncatedSign>> {
        let _ = (ctx, x, bits);
        Ok(None)
    }

    /// Shares of `[x < 0] * x` and of `[x < 0]` (scale 1): what ReLU and abs need. The
    /// default is [`ltz_packed`](Self::ltz_packed) then [`Context::mul_by_xor_bits`] (one
    /// more round).
    ///
    /// # Errors
    /// A communication or dealer error.
    fn times_ltz(
        &self,
        ctx: &mut Context,
        x: &RingTensor<u64>,
    ) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        let msb = self.ltz_packed(ctx, x)?;
        ctx.mul_by_xor_bits(x, &msb)
    }
}

strategy_handle!(
    /// The comparison strategy of a session (see [`ComparisonProtocol`]); the default is
    /// [`DealerDigits`](super::DealerDigits): 3 rounds for the sign with any number of
    /// parties (4 for ReLU) against 7 (8) for [`DealerBits`](super::DealerBits) and
    /// [`BitPlaneCarry`], 3 to 4.3 times fewer bytes than dealer bits, and measured faster
    /// on loopback and the LAN and WAN profiles (README, "LAN and WAN figures").
    ComparisonStrategy,
    ComparisonProtocol
);

impl Default for ComparisonStrategy {
    fn default() -> Self {
        Self::new(super::DealerDigits)
    }
}

/// Cloak's sign circuit, any number of parties: each party's share is a binary-shared
/// value held by that party; carry-save adders reduce `N` of them to two, and only the
/// carry into the top bit is computed, on bit planes ([`Context::msb_of_sum_planes`]).
///
/// Rounds: 7 for two parties (one AND level for the generate bits, six for the carry
/// tree), one more per carry-save layer for more parties; then one for B2A or bit
/// injection. Bytes: 181 AND gates per element (a quarter of a full adder's), each
/// opening two bits per peer.
#[derive(Clone, Copy, Debug, Default)]
pub struct BitPlaneCarry;

impl ComparisonProtocol for BitPlaneCarry {
    fn name(&self) -> &'static str {
        "bit-plane-carry"
    }

    fn ltz_packed(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<Vec<u64>> {
        let words = x.len().div_ceil(64);
        let mut own = Some(planes::to_bit_planes(&x.as_slice()));
        let values: Vec<Vec<Vec<u64>>> = (0..ctx.parties())
            .map(|p| {
                if p == ctx.rank() {
                    own.take().unwrap_or_default()
                } else {
                    vec![vec![0u64; words]; 64]
                }
            })
            .collect();
        ctx.msb_of_sum_planes(values)
    }

    fn ltz_packed_tensor(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        packed_where(ctx, x, &|c| self.ltz_packed(c, x), &|c| bit_plane_ltz_tensor(c, x))
    }

    fn ltz_arith(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        arith_where(ctx, x, &|c| self.ltz_packed(c, x), &|c| bit_plane_ltz_tensor(c, x))
    }

    fn times_ltz(
        &self,
        ctx: &mut Context,
        x: &RingTensor<u64>,
    ) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        times_where(ctx, x, &|c| self.ltz_packed(c, x), &|c| bit_plane_ltz_tensor(c, x))
    }
}

/// [`BitPlaneCarry::ltz_packed`] in tensor operations, for shares on a device: the own
/// share's bit planes built where it lives ([`bit_plane_tensor`]), the other parties'
/// values as zeros there, then [`Context::msb_of_sum_plane_tensors`]. The same rounds,
/// bytes and dealer words as the word form.
fn bit_plane_ltz_tensor(ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
    let own = bit_plane_tensor(x)?;
    let zero = own.and_scalar(0);
    let values = (0..ctx.parties())
        .map(|p| if p == ctx.rank() { own.clone() } else { zero.clone() })
        .collect();
    ctx.msb_of_sum_plane_tensors(values)
}
