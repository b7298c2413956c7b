//! Fixed-point values at a chosen scale, and the batched products the functions are built
//! from.
//!
//! The functions work on raw shares with an explicit number of fractional bits, so a
//! polynomial can keep its sum of terms at a finer scale and truncate once, and so
//! integer-valued shares (bits, octave indicators) need no truncation at all.
//!
//! A share is a flat ring tensor wherever the session computes: every step here is a tensor
//! operation or a protocol primitive on tensors, so a share on a device stays there and
//! only what a step sends crosses to the host. Public constants enter as scalar operations
//! (`add_scalar`, `mul_scalar`), never as uploaded tensors.

use cloak_dealer::BilinearOp;
use cloak_ring::RingTensor;

use crate::ashare::AShare;
use crate::error::{Result, invalid};
use crate::primitives::Context;
use crate::session::Session;

/// One party's share of a fixed-point tensor with `frac` fractional bits, flat (`[n]`).
#[derive(Clone)]
pub(crate) struct Fx {
    pub(crate) share: RingTensor<u64>,
    pub(crate) frac: u32,
}

/// `t` as a flat `[n]` tensor where it lives (one copy on the host, a shared buffer on a
/// device).
pub(crate) fn flat(t: &RingTensor<u64>) -> Result<RingTensor<u64>> {
    let n = t.len();
    if t.is_host() {
        return Ok(RingTensor::from_vec(&[n], t.as_slice().into_owned())?);
    }
    Ok(t.reshape(&[n])?)
}

/// `t` under `shape` (same element count), consuming it: no copy on the host.
pub(crate) fn shaped(t: RingTensor<u64>, shape: &[usize]) -> Result<RingTensor<u64>> {
    if t.is_host() {
        return Ok(RingTensor::from_vec(shape, t.into_vec())?);
    }
    Ok(t.reshape(shape)?)
}

/// A tensor shaped and placed as `like` with every element `value`: built on the host for
/// a host tensor, and from `like` by scalar operations on a device (no upload).
pub(crate) fn filled_like(like: &RingTensor<u64>, value: u64) -> RingTensor<u64> {
    if like.is_host() {
        RingTensor::full(like.shape(), value)
    } else {
        like.and_scalar(0).add_scalar(value)
    }
}

impl Fx {
    pub(crate) fn from_ashare(x: &AShare) -> Result<Self> {
        Ok(Self { share: flat(x.share_tensor())?, frac: x.session().fixed_point().frac_bits() })
    }

    pub(crate) fn len(&self) -> usize {
        self.share.len()
    }

    /// A public constant at scale `frac` (party 0 holds it), shaped and placed as `like`.
    pub(crate) fn constant_like(like: &Fx, value: f64, frac: u32, rank: usize) -> Self {
        let v = if rank == 0 { encode(value, frac) } else { 0 };
        Self { share: filled_like(&like.share, v), frac }
    }

    /// Adds a public constant.
    pub(crate) fn add_const(self, value: f64, rank: usize) -> Self {
        if rank != 0 {
            return self;
        }
        let c = encode(value, self.frac);
        Self { share: self.share.add_scalar(c), frac: self.frac }
    }

    /// `self + other` at the same scale.
    pub(crate) fn add(&self, other: &Fx) -> Result<Self> {
        debug_assert_eq!(self.frac, other.frac);
        Ok(Self { share: self.share.add(&other.share)?, frac: self.frac })
    }

    /// `self - other` at the same scale.
    pub(crate) fn sub(&self, other: &Fx) -> Result<Self> {
        debug_assert_eq!(self.frac, other.frac);
        Ok(Self { share: self.share.sub(&other.share)?, frac: self.frac })
    }

    /// `-self`.
    pub(crate) fn neg(&self) -> Self {
        Self { share: self.share.neg(), frac: self.frac }
    }

    /// The same value read at a finer scale (`frac + bits`): exact, no communication.
    pub(crate) fn refine(&self, bits: u32) -> Result<Self> {
        Ok(Self { share: self.share.shl(bits)?, frac: self.frac + bits })
    }

    /// The value divided by `2^bits` exactly, by reading the same shares at a finer scale.
    pub(crate) fn div_pow2_exact(&self, bits: u32) -> Self {
        Self { share: self.share.clone(), frac: self.frac + bits }
    }

    /// Multiplies by an integer (no truncation).
    pub(crate) fn mul_int(&self, k: i64) -> Self {
        Self { share: self.share.mul_scalar(k as u64), frac: self.frac }
    }

    /// Wraps as an [`AShare`] of `shape`; the scale must be the session's.
    pub(crate) fn into_ashare(self, session: &Session, shape: &[usize]) -> Result<AShare> {
        let f = session.fixed_point().frac_bits();
        if self.frac != f {
            return Err(invalid("functions", format!("scale 2^-{} for 2^-{f}", self.frac)));
        }
        Ok(AShare::from_share(session, shaped(self.share, shape)?))
    }
}

/// `k` bits finer than `f`, within what a product can hold (`2f`, and 30 bits).
pub(crate) fn finer(f: u32, k: u32) -> u32 {
    (f + k).min(2 * f).min(30).max(f)
}

/// `round(value * 2^frac)` as a ring element.
pub(crate) fn encode(value: f64, frac: u32) -> u64 {
    (value * (frac as f64).exp2()).round() as i64 as u64
}

/// The value at a coarser scale `frac` (truncation by the difference), or unchanged.
pub(crate) fn rescale(state: &mut Context, x: Fx, frac: u32) -> Result<Fx> {
    if x.frac < frac {
        return x.refine(frac - x.frac);
    }
    let bits = x.frac - frac;
    Ok(Fx { share: state.truncate(x.share, bits)?, frac })
}

/// The pieces `lengths` of a flat tensor, in order.
pub(crate) fn split(t: RingTensor<u64>, lengths: &[usize]) -> Result<Vec<RingTensor<u64>>> {
    if let [only] = lengths
        && *only == t.len()
    {
        return Ok(vec![t]);
    }
    let mut offset = 0;
    lengths
        .iter()
        .map(|&n| {
            offset += n;
            Ok(t.slice(0, offset - n, offset, 1)?)
        })
        .collect()
}

/// The flat tensors one after the other (the one tensor itself when there is one).
pub(crate) fn joined(parts: &[&RingTensor<u64>]) -> Result<RingTensor<u64>> {
    match parts {
        [only] => Ok((*only).clone()),
        _ => Ok(RingTensor::concat(parts, 0)?),
    }
}

/// Elementwise products `a_k * b_k`, all in one Beaver round, each truncated to its
/// `out_frac` (its truncations together in at most one more round).
pub(crate) fn mul_many_to(state: &mut Context, pairs: &[(&Fx, &Fx, u32)]) -> Result<Vec<Fx>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    if pairs.iter().any(|(a, b, out)| a.len() != b.len() || *out > a.frac + b.frac) {
        return Err(invalid("functions", "products of unequal lengths, or gaining precision"));
    }
    let lengths: Vec<usize> = pairs.iter().map(|(a, _, _)| a.len()).collect();
    let total: usize = lengths.iter().sum();
    let x = joined(&pairs.iter().map(|(a, _, _)| &a.share).collect::<Vec<_>>())?;
    let y = joined(&pairs.iter().map(|(_, b, _)| &b.share).collect::<Vec<_>>())?;
    let op = BilinearOp::Mul { lhs: vec![total], rhs: vec![total] };
    let shift = |(a, b, out): &(&Fx, &Fx, u32)| a.frac + b.frac - out;
    let z = if pairs.iter().all(|p| shift(p) == shift(&pairs[0])) {
        // One shift: the product truncates in the same call (locally when it can).
        let z = state.beaver_truncated(&op, &x, &y, shift(&pairs[0]))?;
        split(z, &lengths)?
    } else {
        let z = state.beaver(&op, &x, &y)?;
        let pieces = split(z, &lengths)?.into_iter().zip(pairs.iter().map(shift)).collect();
        state.truncate_many(pieces)?
    };
    Ok(z.into_iter().zip(pairs).map(|(share, (_, _, frac))| Fx { share, frac: *frac }).collect())
}

/// Elementwise products, all in one round, each truncated to `out_frac`.
pub(crate) fn mul_many(
    state: &mut Context,
    pairs: &[(&Fx, &Fx)],
    out_frac: u32,
) -> Result<Vec<Fx>> {
    let with: Vec<(&Fx, &Fx, u32)> = pairs.iter().map(|(a, b)| (*a, *b, out_frac)).collect();
    mul_many_to(state, &with)
}

/// `x * x` with a square pair (half the bytes of a product), truncated to `out_frac`.
pub(crate) fn square(state: &mut Context, x: &Fx, out_frac: u32) -> Result<Fx> {
    let z = state.square(&x.share)?;
    let z = state.truncate(z, 2 * x.frac - out_frac)?;
    Ok(Fx { share: z, frac: out_frac })
}

/// One elementwise product truncated to `out_frac`.
pub(crate) fn mul(state: &mut Context, a: &Fx, b: &Fx, out_frac: u32) -> Result<Fx> {
    Ok(mul_many(state, &[(a, b)], out_frac)?.remove(0))
}
