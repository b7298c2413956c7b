//! Exact truncation by function secret sharing, two parties, one online round: the result
//! is `floor(x / 2^f)` to the bit, with no error of one in the last place and none of
//! `2^(64-f)`.
//!
//! For `|x| < 2^(k-1)`, the biased `y = x + 2^(k-1)` lies in `[0, 2^k)`. The dealer draws
//! `r`; the parties open `c = y + r` (the round). Then, in integers,
//! `floor(y / 2^f) = (c >> f) - (r >> f) - [c mod 2^f < r mod 2^f] + 2^(64-f) [c < r]`,
//! and removing the bias leaves `floor(x / 2^f)`. Both brackets are comparisons of the
//! public `c` with the dealer's `r`: a DCF on the `f` low bits (payload -1), and one for
//! the wrap. For `k < 64` the wrap is `[c mod 2^k < r mod 2^k]` times the dealer's bit
//! `[r >> k is all ones]` (SIGMA's reduction), so that key has `k` levels; at `k = 64` it
//! is the plain 64-bit comparison.

use cloak_dealer::{Component, Correlation, DealerError, Layout, Request};
use cloak_prg::Prg;
use cloak_ring::RingTensor;

use super::context::Context;
use super::dcf;
use super::fss::{check_key_words, check_two, low, parse_params};
use super::trunc::TruncationProtocol;
use crate::error::{Result, invalid};

/// The dealer's material for `count` exact truncations by `shift` bits of `bits`-bit
/// inputs: `r` (additive), `r >> shift` (additive), and each party's keys (dealt: the wrap
/// key of `bits` levels, then the low-bits key of `shift` levels, one word of payload
/// each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruncKeys {
    /// Number of elements.
    pub count: usize,
    /// Bits to divide by, `f` (1 to `bits - 1`).
    pub shift: u32,
    /// Input width `k`: `|x| < 2^(k-1)` (2 to 64).
    pub bits: u32,
}

impl TruncKeys {
    /// Its kind name.
    pub const KIND: &'static str = "fss/trunc";

    pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<Self, DealerError> {
        let (count, extra) = parse_params(Self::KIND, bytes, 2)?;
        Ok(TruncKeys { count, shift: u32::from(extra[0]), bits: u32::from(extra[1]) })
    }

    fn lens(&self) -> std::result::Result<(usize, usize), DealerError> {
        let ok = (2..=64).contains(&self.bits) && self.shift >= 1 && self.shift < self.bits;
        let words = ok.then(|| self.count.checked_mul(3 * (self.bits + self.shift) as usize + 8));
        check_key_words(Self::KIND, words.flatten())?;
        Ok((dcf::keys_len(self.count, self.bits, 1), dcf::keys_len(self.count, self.shift, 1)))
    }
}

impl Correlation for TruncKeys {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn params(&self) -> Vec<u8> {
        let mut p = (self.count as u64).to_le_bytes().to_vec();
        p.push(self.shift as u8);
        p.push(self.bits as u8);
        p
    }

    fn layout(&self) -> std::result::Result<Layout, DealerError> {
        let (hi, lo) = self.lens()?;
        let n = self.count;
        Ok(Layout::new(vec![Component::arith(&[n])], vec![Component::arith(&[n])])
            .with_dealt(vec![Component::xor(hi + lo)]))
    }

    fn dependents(
        &self,
        free: &[RingTensor<u64>],
    ) -> std::result::Result<Vec<RingTensor<u64>>, DealerError> {
        let r = free.first().map(RingTensor::to_vec).unwrap_or_default();
        let shifted = r.iter().map(|r| r >> self.shift).collect();
        Ok(vec![RingTensor::from_vec(&[r.len()], shifted)?])
    }

    fn deal(
        &self,
        free: &[RingTensor<u64>],
        _dependent: &[RingTensor<u64>],
        parties: usize,
        rng: &mut Prg,
    ) -> std::result::Result<Vec<Vec<RingTensor<u64>>>, DealerError> {
        check_two(Self::KIND, parties)?;
        self.lens()?;
        let r = free.first().map(RingTensor::to_vec).unwrap_or_default();
        let (k, f) = (self.bits, self.shift);
        let wrap_value = 1u64 << (64 - f);
        let hi_alphas: Vec<u64> = r.iter().map(|r| low(*r, k)).collect();
        let hi_betas: Vec<u64> = r
            .iter()
            .map(|r| {
                let all_ones = k == 64 || (r >> k) == (1u64 << (64 - k)) - 1;
                if all_ones { wrap_value } else { 0 }
            })
            .collect();
        let lo_alphas: Vec<u64> = r.iter().map(|r| low(*r, f)).collect();
        let [mut h0, mut h1] = dcf::keys(&hi_alphas, &hi_betas, k, 1, rng);
        let [l0, l1] = dcf::keys(&lo_alphas, &vec![u64::MAX; r.len()], f, 1, rng);
        h0.extend(l0);
        h1.extend(l1);
        let shape = [h0.len()];
        Ok(vec![vec![RingTensor::from_vec(&shape, h0)?], vec![RingTensor::from_vec(&shape, h1)?]])
    }
}

/// Exact truncation by function secret sharing, two parties: one online round (8 bytes per
/// element each way) and `floor(x / 2^f)` exactly, for `|x| < 2^(k-1)` (`k` =
/// [`input_bits`](Self::input_bits), 64 by default: every ring value). Offline, each
/// party gets `24 (k + f)` bytes of keys per element (about 1.9 KiB at `k = 64, f = 16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FssTruncation {
    /// Input width `k` (2 to 64).
    pub input_bits: u32,
}

impl Default for FssTruncation {
    fn default() -> Self {
        Self { input_bits: 64 }
    }
}

impl TruncationProtocol for FssTruncation {
    fn name(&self) -> &'static str {
        "fss-exact"
    }

    fn check(&self, parties: usize) -> Result<()> {
        if parties != 2 {
            return Err(invalid(
                "session",
                format!("FSS truncation needs 2 parties, not {parties}"),
            ));
        }
        if !(2..=64).contains(&self.input_bits) {
            return Err(invalid("fss", format!("input bits {}: must be 2 to 64", self.input_bits)));
        }
        Ok(())
    }

    fn truncate_many(
        &self,
        ctx: &mut Context,
        pieces: Vec<(RingTensor<u64>, u32)>,
    ) -> Result<Vec<RingTensor<u64>>> {
        let k = self.input_bits;
        let first = ctx.is_first();
        let bias = if k == 64 { 1u64 << 63 } else { 1u64 << (k - 1) };
        let mut material = Vec::new();
        let mut masked = Vec::new();
        for (x, f) in &pieces {
            if *f == 0 {
                continue;
            }
            if *f >= k {
                return Err(invalid("truncate", format!("{f} bits of {k}-bit inputs")));
            }
            let shares =
                ctx.fetch(&Request::custom(TruncKeys { count: x.len(), shift: *f, bits: k }))?;
            let r = shares.free[0].as_slice();
            masked.push(
                x.as_slice()
                    .iter()
                    .zip(r.iter())
                    .map(|(x, r)| x.wrapping_add(*r).wrapping_add(if first { bias } else { 0 }))
                    .collect(),
            );
            material.push(shares);
        }
        let mut opened = ctx.open_words("truncate", masked, false)?.into_iter();
        let mut material = material.into_iter();
        let mut out = Vec::with_capacity(pieces.len());
        for (x, f) in pieces {
            if f == 0 {
                out.push(x);
                continue;
            }
            let (c, shares) = match (opened.next(), material.next()) {
                (Some(c), Some(s)) => (c, s),
                _ => return Err(invalid("truncate", "pieces and openings differ in number")),
            };
            let n = c.len();
            let keys = shares.dealt[0].as_slice();
            let split = dcf::keys_len(n, k, 1);
            if keys.len() != split + dcf::keys_len(n, f, 1) {
                return Err(invalid("truncate", "keys of the wrong length"));
            }
            let c_hi: Vec<u64> = c.iter().map(|v| low(*v, k)).collect();
            let c_lo: Vec<u64> = c.iter().map(|v| low(*v, f)).collect();
            let wrap = dcf::eval(ctx.rank(), &keys[..split], &c_hi, k, 1);
            let borrow = dcf::eval(ctx.rank(), &keys[split..], &c_lo, f, 1);
            let r_shifted = shares.dependent[0].as_slice();
            let unbias = bias >> f;
            let words: Vec<u64> = (0..n)
                .map(|i| {
                    let public = if first { (c[i] >> f).wrapping_sub(unbias) } else { 0 };
                    public.wrapping_sub(r_shifted[i]).wrapping_add(wrap[i]).wrapping_add(borrow[i])
                })
                .collect();
            out.push(RingTensor::from_vec(x.shape(), words)?);
        }
        Ok(out)
    }
}
