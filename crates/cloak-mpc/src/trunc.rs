//! Truncation: dividing shared fixed-point products by `2^bits`.
//!
//! Two methods (see [`Truncation`](crate::Truncation)):
//!
//! - local share division (two parties; SecureML): party 0 shifts its share, party 1
//!   negates, shifts and negates back. No communication; wrong by `2^(64 - bits)` when the
//!   shares straddle the wrap-around, which happens with probability about `|x| / 2^64`.
//! - dealer truncation pairs (any number of parties), one round and never a large error:
//!   with `(r, r >> bits, msb(r))` from the dealer, the parties open `c = x + 2^62 + r`
//!   (uniform, so it reveals nothing). With the bias, `x + 2^62` lies in `[0, 2^63)` for
//!   `|x| < 2^62`, so the addition wrapped exactly when `msb(r) = 1` and `msb(c) = 0`: a
//!   bit linear in the shared `msb(r)` once `c` is public. Then
//!   `(x + 2^62) >> bits = (c >> bits) - (r >> bits) + wrap * 2^(64 - bits) - borrow`, where
//!   the borrow from the low bits is 0 or 1: the result is `floor(x / 2^bits)` or one more.
//!   CrypTen's `wraps` protocol for three or more parties instead drops a term and returns
//!   values near `2^(64-f)` (its issue #402).

use cloak_dealer::TruncPair;
use cloak_ring::RingTensor;

use crate::config::Truncation;
use crate::error::Result;
use crate::session::State;

/// Two-party local share division in place: party 0 shifts its share arithmetically, party
/// 1 computes `-((-x) >> bits)`.
pub(crate) fn local_truncate(shares: &mut [u64], bits: u32, rank0: bool) {
    if rank0 {
        shares.iter_mut().for_each(|v| *v = ((*v as i64) >> bits) as u64);
    } else {
        shares.iter_mut().for_each(|v| {
            *v = (((v.wrapping_neg() as i64) >> bits) as u64).wrapping_neg();
        });
    }
}

/// The bias that makes every product non-negative before masking.
const BIAS: u64 = 1 << 62;

impl State {
    /// The method this session uses.
    pub(crate) fn truncation(&self) -> Truncation {
        match self.config.truncation {
            Truncation::Auto if self.parties == 2 => Truncation::LocalShares,
            Truncation::Auto => Truncation::DealerPairs,
            other => other,
        }
    }

    /// This party's share of `x / 2^bits` (rounded down, or up by one unit).
    pub(crate) fn truncate(&mut self, x: RingTensor<u64>, bits: u32) -> Result<RingTensor<u64>> {
        if bits == 0 {
            return Ok(x);
        }
        match self.truncation() {
            Truncation::LocalShares => {
                let shape = x.shape().to_vec();
                let mut v = x.into_vec();
                local_truncate(&mut v, bits, self.rank == 0);
                Ok(RingTensor::from_vec(&shape, v)?)
            }
            Truncation::DealerPairs | Truncation::Auto => self.truncate_with_pair(x, bits),
        }
    }

    /// This party's share of `x / divisor` for a public `divisor >= 2`, with a division
    /// pair: the truncation protocol above with `2^bits` replaced by any divisor. Off by at
    /// most two units whatever `|x| < 2^62`: one from the low remainders, one from the
    /// wrap term (`2^64` is not a multiple of the divisor).
    pub(crate) fn divide_with_pair(
        &mut self,
        x: RingTensor<u64>,
        divisor: u64,
    ) -> Result<RingTensor<u64>> {
        let pair = {
            let State { comm, dealer, .. } = self;
            dealer.div_pair(x.shape(), divisor, comm.as_mut())?
        };
        self.divide_by_pair(x, pair, Divisor::Int(divisor), "divide")
    }

    fn truncate_with_pair(&mut self, x: RingTensor<u64>, bits: u32) -> Result<RingTensor<u64>> {
        let pair = {
            let State { comm, dealer, .. } = self;
            dealer.trunc_pair(x.shape(), bits, comm.as_mut())?
        };
        self.divide_by_pair(x, pair, Divisor::Pow2(bits), "truncate")
    }

    /// The protocol shared by truncation and division: open `c = x + 2^62 + r`, then
    /// `c / d - r / d + wrap * floor(2^64 / d) - 2^62 / d`, the wrap bit being linear in the
    /// shared top bit of `r` once `c` is public.
    fn divide_by_pair(
        &mut self,
        x: RingTensor<u64>,
        pair: TruncPair,
        divisor: Divisor,
        op: &'static str,
    ) -> Result<RingTensor<u64>> {
        let masked = self.mask_for_pair(x, &pair)?;
        let c = self.open_tensors(op, vec![masked])?.remove(0);
        Ok(self.unmask_with_pair(&c, pair, divisor))
    }

    /// `x + 2^62 + r`, this party's share of what the pair protocol opens.
    fn mask_for_pair(&self, mut x: RingTensor<u64>, pair: &TruncPair) -> Result<RingTensor<u64>> {
        if self.rank == 0 {
            x = x.add_scalar(BIAS);
        }
        Ok(x.add(&pair.r)?)
    }

    /// This party's share of the quotient once `c` is open.
    fn unmask_with_pair(
        &self,
        c: &RingTensor<u64>,
        pair: TruncPair,
        divisor: Divisor,
    ) -> RingTensor<u64> {
        let rank0 = self.rank == 0;
        let wrap = divisor.of_two_to_the_64();
        let bias = divisor.quotient(BIAS);
        let mut out = pair.r_shifted.neg();
        ndarray::Zip::from(out.as_array_mut())
            .and(c.as_array())
            .and(pair.r_msb.as_array())
            .for_each(|o, &c, &msb| {
                let wrapped = if c >> 63 == 0 { msb } else { 0 };
                *o = o.wrapping_add(wrapped.wrapping_mul(wrap));
                if rank0 {
                    *o = o.wrapping_add(divisor.quotient(c).wrapping_sub(bias));
                }
            });
        out
    }

    /// Truncates several tensors, each by its own number of bits, in at most one round
    /// (the dealer pairs' openings go in one message).
    pub(crate) fn truncate_many(
        &mut self,
        pieces: Vec<(RingTensor<u64>, u32)>,
    ) -> Result<Vec<RingTensor<u64>>> {
        if self.truncation() == Truncation::LocalShares || pieces.iter().all(|(_, b)| *b == 0) {
            return pieces.into_iter().map(|(x, bits)| self.truncate(x, bits)).collect();
        }
        let mut pairs = Vec::new();
        let mut masked = Vec::new();
        for (x, bits) in pieces.iter().filter(|(_, b)| *b > 0) {
            let pair = {
                let State { comm, dealer, .. } = self;
                dealer.trunc_pair(x.shape(), *bits, comm.as_mut())?
            };
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
                out.push(self.unmask_with_pair(&c, pair, Divisor::Pow2(bits)));
            }
        }
        Ok(out)
    }
}

/// A public divisor: a power of two (truncation, by shifts) or any integer of at least 2.
#[derive(Clone, Copy, Debug)]
enum Divisor {
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
    fn of_two_to_the_64(self) -> u64 {
        match self {
            Divisor::Pow2(bits) => 1 << (64 - bits),
            Divisor::Int(d) => u64::MAX / d + u64::from(u64::MAX % d == d - 1),
        }
    }
}
