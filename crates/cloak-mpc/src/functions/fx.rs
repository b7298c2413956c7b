//! Fixed-point values at a chosen scale, and the batched products the functions are built
//! from.
//!
//! The functions work on raw shares with an explicit number of fractional bits, so a
//! polynomial can keep its sum of terms at a finer scale and truncate once, and so
//! integer-valued shares (bits, octave indicators) need no truncation at all.

use cloak_dealer::BilinearOp;
use cloak_ring::RingTensor;

use crate::ashare::AShare;
use crate::error::{Result, invalid};
use crate::primitives::Context;
use crate::session::Session;

/// One party's share of a fixed-point tensor with `frac` fractional bits.
#[derive(Clone)]
pub(crate) struct Fx {
    pub(crate) share: Vec<u64>,
    pub(crate) frac: u32,
}

impl Fx {
    pub(crate) fn from_ashare(x: &AShare) -> Self {
        Self {
            share: x.share_tensor().as_slice().to_vec(),
            frac: x.session().fixed_point().frac_bits(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.share.len()
    }

    /// A public constant at scale `frac` (party 0 holds it).
    pub(crate) fn constant(n: usize, value: f64, frac: u32, rank: usize) -> Self {
        let v = if rank == 0 { encode(value, frac) } else { 0 };
        Self { share: vec![v; n], frac }
    }

    /// Adds a public constant.
    pub(crate) fn add_const(mut self, value: f64, rank: usize) -> Self {
        if rank == 0 {
            let c = encode(value, self.frac);
            self.share.iter_mut().for_each(|v| *v = v.wrapping_add(c));
        }
        self
    }

    /// `self + other` at the same scale.
    pub(crate) fn add(&self, other: &Fx) -> Self {
        debug_assert_eq!(self.frac, other.frac);
        let share = self.share.iter().zip(&other.share).map(|(a, b)| a.wrapping_add(*b)).collect();
        Self { share, frac: self.frac }
    }

    /// `self - other` at the same scale.
    pub(crate) fn sub(&self, other: &Fx) -> Self {
        debug_assert_eq!(self.frac, other.frac);
        let share = self.share.iter().zip(&other.share).map(|(a, b)| a.wrapping_sub(*b)).collect();
        Self { share, frac: self.frac }
    }

    /// `-self`.
    pub(crate) fn neg(&self) -> Self {
        Self { share: self.share.iter().map(|v| v.wrapping_neg()).collect(), frac: self.frac }
    }

    /// The same value read at a finer scale (`frac + bits`): exact, no communication.
    pub(crate) fn refine(&self, bits: u32) -> Self {
        Self { share: self.share.iter().map(|v| v << bits).collect(), frac: self.frac + bits }
    }

    /// The value divided by `2^bits` exactly, by reading the same shares at a finer scale.
    pub(crate) fn div_pow2_exact(&self, bits: u32) -> Self {
        Self { share: self.share.clone(), frac: self.frac + bits }
    }

    /// Multiplies by an integer (no truncation).
    pub(crate) fn mul_int(&self, k: i64) -> Self {
        let k = k as u64;
        Self { share: self.share.iter().map(|v| v.wrapping_mul(k)).collect(), frac: self.frac }
    }

    /// Wraps as an [`AShare`] of `shape`; the scale must be the session's.
    pub(crate) fn into_ashare(self, session: &Session, shape: &[usize]) -> Result<AShare> {
        let f = session.fixed_point().frac_bits();
        if self.frac != f {
            return Err(invalid("functions", format!("scale 2^-{} for 2^-{f}", self.frac)));
        }
        Ok(AShare::from_share(session, RingTensor::from_vec(shape, self.share)?))
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

/// A linear combination `sum_k c_k t_k (+ c)` of shares at scale `frac`, with public real
/// coefficients, accumulated at `frac + COEFF_BITS` and truncated once to `out_frac`.
pub(crate) struct LinComb {
    acc: Vec<u64>,
    frac: u32,
}

/// Fractional bits of the coefficients in a [`LinComb`]: 16, so that the accumulated sum is
/// at the scale of a product and local truncation fails no more often than after a `mul`.
/// Each coefficient is then rounded to `2^-17`, an error floor of about `2e-5` absolute on
/// the series (sigmoid, erf, log, sin) that does not shrink with more fractional bits.
pub(crate) const COEFF_BITS: u32 = 16;

impl LinComb {
    /// An empty combination of terms at scale `frac` (each term `t` contributes
    /// `round(c 2^COEFF_BITS) t` at scale `frac + COEFF_BITS`).
    pub(crate) fn new(n: usize, frac: u32) -> Self {
        Self { acc: vec![0; n], frac: frac + COEFF_BITS }
    }

    /// Adds `c * t` where `t` is at the combination's input scale.
    pub(crate) fn add_term(&mut self, c: f64, t: &Fx) {
        debug_assert_eq!(t.frac + COEFF_BITS, self.frac);
        let k = encode(c, COEFF_BITS);
        self.acc.iter_mut().zip(&t.share).for_each(|(a, v)| *a = a.wrapping_add(v.wrapping_mul(k)));
    }

    /// Adds `c * t` where `t` holds integer values per element (scale 1), such as bits.
    pub(crate) fn add_int_term(&mut self, c: f64, t: &[u64]) {
        let k = encode(c, self.frac);
        self.acc.iter_mut().zip(t).for_each(|(a, v)| *a = a.wrapping_add(v.wrapping_mul(k)));
    }

    /// Adds the public constant `c` (party 0).
    pub(crate) fn add_const(&mut self, c: f64, rank: usize) {
        if rank == 0 {
            let k = encode(c, self.frac);
            self.acc.iter_mut().for_each(|a| *a = a.wrapping_add(k));
        }
    }

    /// The combination at scale `out_frac` (one truncation).
    pub(crate) fn finish(self, state: &mut Context, out_frac: u32) -> Result<Fx> {
        rescale(state, Fx { share: self.acc, frac: self.frac }, out_frac)
    }
}

/// The value at a coarser scale `frac` (truncation by the difference), or unchanged.
pub(crate) fn rescale(state: &mut Context, x: Fx, frac: u32) -> Result<Fx> {
    if x.frac < frac {
        return Ok(x.refine(frac - x.frac));
    }
    let bits = x.frac - frac;
    let n = x.share.len();
    let t = state.truncate(RingTensor::from_vec(&[n], x.share)?, bits)?;
    Ok(Fx { share: t.into_vec(), frac })
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
    let total: usize = pairs.iter().map(|(a, _, _)| a.len()).sum();
    let mut xs = Vec::with_capacity(total);
    let mut ys = Vec::with_capacity(total);
    for (a, b, _) in pairs {
        xs.extend_from_slice(&a.share);
        ys.extend_from_slice(&b.share);
    }
    let x = RingTensor::from_vec(&[total], xs)?;
    let y = RingTensor::from_vec(&[total], ys)?;
    let op = BilinearOp::Mul { lhs: vec![total], rhs: vec![total] };
    let shift = |(a, b, out): &(&Fx, &Fx, u32)| a.frac + b.frac - out;
    let z = if pairs.iter().all(|p| shift(p) == shift(&pairs[0])) {
        // One shift: the product truncates in the same call (locally when it can).
        let z = state.beaver_truncated(&op, &x, &y, shift(&pairs[0]))?.into_vec();
        let mut offset = 0;
        pairs
            .iter()
            .map(|(a, _, _)| {
                offset += a.len();
                z[offset - a.len()..offset].to_vec()
            })
            .collect::<Vec<_>>()
    } else {
        let z = state.beaver(&op, &x, &y)?.into_vec();
        let mut offset = 0;
        let mut pieces = Vec::with_capacity(pairs.len());
        for p in pairs {
            let n = p.0.len();
            pieces.push((RingTensor::from_vec(&[n], z[offset..offset + n].to_vec())?, shift(p)));
            offset += n;
        }
        state.truncate_many(pieces)?.into_iter().map(RingTensor::into_vec).collect()
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
    let n = x.len();
    let z = state.square(&RingTensor::from_vec(&[n], x.share.clone())?)?;
    let z = state.truncate(z, 2 * x.frac - out_frac)?;
    Ok(Fx { share: z.into_vec(), frac: out_frac })
}

/// One elementwise product truncated to `out_frac`.
pub(crate) fn mul(state: &mut Context, a: &Fx, b: &Fx, out_frac: u32) -> Result<Fx> {
    Ok(mul_many(state, &[(a, b)], out_frac)?.remove(0))
}

/// Multiplies by a public real constant, truncating back to the input's scale. The
/// constant is encoded with up to 4 more bits when it is small (so `0.1` keeps 17
/// significant bits), which multiplies the local-truncation failure rate by up to 16.
pub(crate) fn mul_const(state: &mut Context, x: &Fx, c: f64) -> Result<Fx> {
    let extra = if c == 0.0 { 0 } else { (-c.abs().log2().floor()).clamp(0.0, 4.0) as u32 };
    let bits = COEFF_BITS + extra;
    let k = encode(c, bits);
    let share = x.share.iter().map(|v| v.wrapping_mul(k)).collect();
    rescale(state, Fx { share, frac: x.frac + bits }, x.frac)
}
