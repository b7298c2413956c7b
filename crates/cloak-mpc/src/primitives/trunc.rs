//! Truncation strategies: dividing shared fixed-point products by `2^bits`, and division
//! by a public integer.
//!
//! Every product of the layers above is truncated by the session's
//! [`TruncationStrategy`]; a new method is a new type implementing [`TruncationProtocol`].
//! The built-in ones ([`Truncation`]):
//!
//! - local share division (two parties, opt-in; SecureML): party 0 shifts its share, party 1
//!   negates, shifts and negates back. No communication; wrong by `2^(64 - bits)` when the
//!   shares straddle the wrap-around, which happens with probability about `|x| / 2^64`.
//! - dealer truncation pairs (any number of parties; the default), one round and never a
//!   large error:
//!   with `(r, r >> bits, msb(r))` from the dealer, the parties open `c = x + 2^62 + r`
//!   (uniform, so it reveals nothing). With the bias, `x + 2^62` lies in `[0, 2^63)` for
//!   `|x| < 2^62`, so the addition wrapped exactly when `msb(r) = 1` and `msb(c) = 0`: a
//!   bit linear in the shared `msb(r)` once `c` is public. Then
//!   `(x + 2^62) >> bits = (c >> bits) - (r >> bits) + wrap * 2^(64 - bits) - borrow`, where
//!   the borrow from the low bits is 0 or 1: the result is `floor(x / 2^bits)` or one more.
//!   CrypTen's `wraps` protocol for three or more parties instead drops a term and returns
//!   values near `2^(64-f)` (its issue #402).
//!
//! Beside them, [`FssTruncation`](super::FssTruncation) (two parties) is exact to the bit
//! in one round, with about 1.9 KiB of keys per element offline.

use cloak_dealer::{Request, TruncPair};
use cloak_ring::RingTensor;

use super::context::Context;
use super::strategy::strategy_handle;
use crate::error::{Result, invalid};

/// A way of dividing additively shared ring values by `2^bits`.
pub trait TruncationProtocol: Send + Sync + 'static {
    /// A short unique name, for configuration equality and errors.
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

    /// This party's shares of `x / 2^bits` for every piece, each by its own number of bits
    /// (`bits` of 0 leaves a piece unchanged), in at most one round (one message per peer
    /// for all the pieces together).
    ///
    /// # Errors
    /// A communication or dealer error.
    fn truncate_many(
        &self,
        ctx: &mut Context,
        pieces: Vec<(RingTensor<u64>, u32)>,
    ) -> Result<Vec<RingTensor<u64>>>;

    /// Divides this party's `shares` in place with no message, if the method can, and says
    /// whether it did; products then truncate in the same call. The default cannot.
    fn truncate_local(&self, ctx: &Context, shares: &mut [u64], bits: u32) -> bool {
        let _ = (ctx, shares, bits);
        false
    }

    /// Whether this strategy truncates as dealer pairs do (never below the floor, at most
    /// one unit above, one opening of `x + 2^62 + r`), so that a comparison strategy may
    /// fuse the truncation of a product into the opening of its own comparison
    /// ([`ComparisonProtocol::truncate_times_ltz`](super::ComparisonProtocol::truncate_times_ltz)).
    /// `false` by default.
    fn fuses_with_comparison(&self, parties: usize) -> bool {
        let _ = parties;
        false
    }

    /// This party's share of `x / 2^bits` with no message, where `x` lives (a device
    /// tensor stays there), if the method can; `Ok(None)` if it needs a round. The default
    /// runs [`truncate_local`](Self::truncate_local) on the host elements, so a device
    /// tensor crosses to the host and back (counted by the device), after asking it with no
    /// element whether it divides locally at all (so that a method that never does moves
    /// nothing); a method whose local division is a tensor operation overrides it, as the
    /// built-in ones do.
    ///
    /// # Errors
    /// The device's error.
    fn truncate_local_tensor(
        &self,
        ctx: &Context,
        x: &RingTensor<u64>,
        bits: u32,
    ) -> Result<Option<RingTensor<u64>>> {
        if !self.truncate_local(ctx, &mut [], bits) {
            return Ok(None);
        }
        let mut words = x.try_to_vec()?;
        if !self.truncate_local(ctx, &mut words, bits) {
            return Ok(None);
        }
        Ok(Some(ctx.place(RingTensor::from_vec(x.shape(), words)?)?))
    }
}

strategy_handle!(
    /// The truncation strategy of a session (see [`TruncationProtocol`]); the default is
    /// [`Truncation::Auto`].
    TruncationStrategy,
    TruncationProtocol
);

impl Default for TruncationStrategy {
    fn default() -> Self {
        Self::new(Truncation::Auto)
    }
}

/// The built-in truncation methods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Truncation {
    /// The default: dealer pairs, for any number of parties. Local share division is no
    /// longer the two-party default: it is wrong by `2^(64 - 2f)` on some in-range
    /// products, and the extra round of dealer pairs costs less than that risk is worth on
    /// every network profile (loopback, LAN and WAN figures in the README).
    #[default]
    Auto,
    /// Each of two parties shifts its own share (SecureML): no communication; off by one
    /// unit in the last place usually, and wrong by about `2^(64 - 2f)` in real value with
    /// probability about `|x| / 2^(64 - 2f)` per element, where `x` is the product's real
    /// value (`|x| / 2^32` at 16 bits). Two parties only; CrypTen's default.
    LocalShares,
    /// Dealer truncation pairs: one round, any number of parties, off by at most one unit in
    /// the last place and never large (products must stay below `2^(62 - 2f)` in real value;
    /// `2^30` at 16 bits).
    DealerPairs,
}

impl Truncation {
    /// The method used with `parties` parties (`Auto` resolved: dealer pairs whatever the
    /// number of parties).
    #[must_use]
    pub fn resolve(self, _parties: usize) -> Truncation {
        match self {
            Truncation::Auto => Truncation::DealerPairs,
            other => other,
        }
    }
}

impl TruncationProtocol for Truncation {
    fn name(&self) -> &'static str {
        match self {
            Truncation::Auto => "auto",
            Truncation::LocalShares => "local-shares",
            Truncation::DealerPairs => "dealer-pairs",
        }
    }

    fn check(&self, parties: usize) -> Result<()> {
        if *self == Truncation::LocalShares && parties != 2 {
            return Err(invalid(
                "session",
                format!("local-share truncation needs 2 parties, not {parties}"),
            ));
        }
        Ok(())
    }

    fn truncate_many(
        &self,
        ctx: &mut Context,
        pieces: Vec<(RingTensor<u64>, u32)>,
    ) -> Result<Vec<RingTensor<u64>>> {
        match self.resolve(ctx.parties()) {
            Truncation::LocalShares => pieces
                .into_iter()
                .map(|(x, bits)| {
                    if !x.is_host() {
                        return local_truncate_tensor(&x, bits, ctx.is_first());
                    }
                    let shape = x.shape().to_vec();
                    let mut v = x.into_vec();
                    local_truncate(&mut v, bits, ctx.is_first());
                    Ok(RingTensor::from_vec(&shape, v)?)
                })
                .collect(),
            _ => ctx.truncate_with_pairs(pieces),
        }
    }

    fn fuses_with_comparison(&self, parties: usize) -> bool {
        self.resolve(parties) == Truncation::DealerPairs
    }

    fn truncate_local(&self, ctx: &Context, shares: &mut [u64], bits: u32) -> bool {
        let local = self.resolve(ctx.parties()) == Truncation::LocalShares;
        if local {
            local_truncate(shares, bits, ctx.is_first());
        }
        local
    }

    fn truncate_local_tensor(
        &self,
        ctx: &Context,
        x: &RingTensor<u64>,
        bits: u32,
    ) -> Result<Option<RingTensor<u64>>> {
        if self.resolve(ctx.parties()) != Truncation::LocalShares {
            return Ok(None);
        }
        local_truncate_tensor(x, bits, ctx.is_first()).map(Some)
    }
}

/// [`local_truncate`] in tensor operations (two shifts and negations), where `x` lives.
fn local_truncate_tensor(x: &RingTensor<u64>, bits: u32, first: bool) -> Result<RingTensor<u64>> {
    if bits == 0 {
        return Ok(x.clone());
    }
    Ok(if first { x.shr_arithmetic(bits)? } else { x.neg().shr_arithmetic(bits)?.neg() })
}

/// Two-party local share division in place: party 0 shifts its share arithmetically, party
/// 1 computes `-((-x) >> bits)`. No message. `bits` is below 64 (the callers check).
fn local_truncate(shares: &mut [u64], bits: u32, first: bool) {
    if bits == 0 {
        return;
    }
    if first {
        shares.iter_mut().for_each(|v| *v = ((*v as i64) >> bits) as u64);
    } else {
        shares.iter_mut().for_each(|v| {
            *v = (((v.wrapping_neg() as i64) >> bits) as u64).wrapping_neg();
        });
    }
}

/// The bias that makes every product non-negative before masking.
pub(super) const BIAS: u64 = 1 << 62;

impl Context {
    /// This party's share of `x / divisor` for a public `divisor >= 2`, with a division
    /// pair: the truncation protocol above with `2^bits` replaced by any divisor. One round.
    /// Off by at most two units whatever `|x| < 2^62`: one from the low remainders, one
    /// from the wrap term (`2^64` is not a multiple of the divisor).
    ///
    /// # Errors
    /// A communication or dealer error (a zero divisor is the dealer's typed error).
    pub fn divide_with_pair(
        &mut self,
        x: RingTensor<u64>,
        divisor: u64,
    ) -> Result<RingTensor<u64>> {
        if divisor < 2 {
            return Err(invalid(
                "divide",
                format!("division pair for divisor {divisor} (need 2 or more)"),
            ));
        }
        if !x.is_host() {
            return self.divide_on_device(x, divisor);
        }
        let pair =
            self.fetch(&Request::DivPair { shape: x.shape().to_vec(), divisor })?.into_trunc();
        let masked = self.mask_for_pair(x, &pair)?;
        let c = self.open_tensors("divide", vec![masked])?.remove(0);
        self.unmask_with_pair(&c, pair, Divisor::Int(divisor))
    }

    /// Truncation with dealer pairs, any number of parties: every piece's masked value in
    /// one opening (one round), each off by at most one unit in the last place for
    /// `|x| < 2^62`. Pieces with 0 bits are returned unchanged.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn truncate_with_pairs(
        &mut self,
        pieces: Vec<(RingTensor<u64>, u32)>,
    ) -> Result<Vec<RingTensor<u64>>> {
        let mut pairs = Vec::new();
        let mut masked = Vec::new();
        for (x, bits) in pieces.iter().filter(|(_, b)| *b > 0) {
            let pair = self
                .fetch(&Request::TruncPair { shape: x.shape().to_vec(), bits: *bits })?
                .into_trunc();
            masked.push(self.mask_for_pair(x.clone(), &pair)?);
            pairs.push(pair);
        }
        let mut opened = self.open_tensors("truncate", masked)?.into_iter().zip(pairs);
        let mut out = Vec::with_capacity(pieces.len());
        for (x, bits) in pieces {
            if bits == 0 {
                out.push(x);
            } else {
                let (c, pair) = opened.next().unwrap_or_else(|| unreachable!("one pair per piece"));
                out.push(self.unmask_with_pair(&c, pair, Divisor::Pow2(bits))?);
            }
        }
        Ok(out)
    }

    /// `x + 2^62 + r`, this party's share of what the pair protocol opens.
    pub(super) fn mask_for_pair(
        &self,
        mut x: RingTensor<u64>,
        pair: &TruncPair,
    ) -> Result<RingTensor<u64>> {
        if self.is_first() {
            x = x.add_scalar(BIAS);
        }
        Ok(x.add(&pair.r)?)
    }

    /// This party's share of the quotient once `c` is open:
    /// `c / d - r / d + wrap * floor(2^64 / d) - 2^62 / d`, the wrap bit being linear in
    /// the shared top bit of `r` once `c` is public.
    fn unmask_with_pair(
        &self,
        c: &RingTensor<u64>,
        pair: TruncPair,
        divisor: Divisor,
    ) -> Result<RingTensor<u64>> {
        let first = self.is_first();
        let wrap = divisor.of_two_to_the_64();
        let bias = divisor.quotient(BIAS);
        if let (Divisor::Pow2(bits), false) = (divisor, c.is_host() && pair.r_msb.is_host()) {
            return unmask_pow2_tensors(c, &pair, bits, wrap, bias, first);
        }
        let mut out = pair.r_shifted.neg();
        ndarray::Zip::from(out.as_array_mut())
            .and(&*c.as_array())
            .and(&*pair.r_msb.as_array())
            .for_each(|o, &c, &msb| {
                let wrapped = if c >> 63 == 0 { msb } else { 0 };
                *o = o.wrapping_add(wrapped.wrapping_mul(wrap));
                if first {
                    *o = o.wrapping_add(divisor.quotient(c).wrapping_sub(bias));
                }
            });
        Ok(out)
    }
}

/// [`Context::unmask_with_pair`] for a power of two in tensor operations, so that tensors
/// on a device stay there: `msb(r) * [c < 2^63] * 2^(64 - bits) - (r >> bits)`, plus
/// `(c >> bits) - 2^62 >> bits` at the first party.
fn unmask_pow2_tensors(
    c: &RingTensor<u64>,
    pair: &TruncPair,
    bits: u32,
    wrap: u64,
    bias: u64,
    first: bool,
) -> Result<RingTensor<u64>> {
    let c_below_half = c.shr_logical(63)?.xor_scalar(1);
    let mut out = pair.r_msb.mul(&c_below_half)?.mul_scalar(wrap).sub(&pair.r_shifted)?;
    if first {
        out = out.add(&c.shr_logical(bits)?.sub_scalar(bias))?;
    }
    Ok(out)
}

/// A public divisor: a power of two (truncation, by shifts) or any integer of at least 2.
#[derive(Clone, Copy, Debug)]
pub(super) enum Divisor {
    Pow2(u32),
    Int(u64),
}

impl Divisor {
    /// `v / d`, rounded down.
    #[inline]
    fn quotient(self, v: u64) -> u64 {
        match self {
            Divisor::Pow2(bits) => v >> bits,
            Divisor::Int(d) => v / d,
        }
    }

    /// `floor(2^64 / d)`.
    pub(super) fn of_two_to_the_64(self) -> u64 {
        match self {
            Divisor::Pow2(bits) => 1 << (64 - bits),
            Divisor::Int(d) => u64::MAX / d + u64::from(u64::MAX % d == d - 1),
        }
    }
}
