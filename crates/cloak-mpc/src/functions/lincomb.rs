//! Linear combinations of shares with public real coefficients, accumulated at a finer
//! scale and truncated once.

use cloak_ring::RingTensor;

use crate::error::{Result, invalid};
use crate::functions::fx::{Fx, encode, rescale};
use crate::primitives::Context;

/// Fractional bits of the coefficients in a [`LinComb`]: 16, so that the accumulated sum is
/// at the scale of a product and local truncation fails no more often than after a `mul`.
/// Each coefficient is then rounded to `2^-17`, an error floor of about `2e-5` absolute on
/// the series (sigmoid, erf, log, sin) that does not shrink with more fractional bits.
pub(crate) const COEFF_BITS: u32 = 16;

/// `acc += k t` (wrapping): one fused pass in place on the host, two tensor operations
/// where the operands live on a device.
pub(crate) fn axpy(acc: &mut RingTensor<u64>, t: &RingTensor<u64>, k: u64) -> Result<()> {
    if acc.is_host() && t.is_host() && acc.shape() == t.shape() {
        let src = t.as_slice();
        if let Some(dst) = acc.as_array_mut().as_slice_mut() {
            dst.iter_mut()
                .zip(src.iter())
                .for_each(|(a, v)| *a = a.wrapping_add(v.wrapping_mul(k)));
            return Ok(());
        }
    }
    *acc = acc.add(&t.mul_scalar(k))?;
    Ok(())
}

/// A linear combination `sum_k c_k t_k (+ c)` of shares at scale `frac`, with public real
/// coefficients, accumulated at `frac + COEFF_BITS` and truncated once to `out_frac`. The
/// public constant is kept aside and added once, as a scalar, at the end.
pub(crate) struct LinComb {
    acc: Option<RingTensor<u64>>,
    constant: u64,
    frac: u32,
}

impl LinComb {
    /// An empty combination of terms at scale `frac` (each term `t` contributes
    /// `round(c 2^COEFF_BITS) t` at scale `frac + COEFF_BITS`).
    pub(crate) fn new(frac: u32) -> Self {
        Self { acc: None, constant: 0, frac: frac + COEFF_BITS }
    }

    /// `acc += k t`; a term whose coefficient rounds to 0 adds nothing (after the first,
    /// which gives the sum its shape and place).
    fn add_raw(&mut self, k: u64, t: &RingTensor<u64>) -> Result<()> {
        match &mut self.acc {
            None => self.acc = Some(t.mul_scalar(k)),
            Some(_) if k == 0 => {}
            Some(acc) => axpy(acc, t, k)?,
        }
        Ok(())
    }

    /// Adds `c * t` where `t` is at the combination's input scale.
    pub(crate) fn add_term(&mut self, c: f64, t: &Fx) -> Result<()> {
        debug_assert_eq!(t.frac + COEFF_BITS, self.frac);
        self.add_raw(encode(c, COEFF_BITS), &t.share)
    }

    /// Adds `c * t` where `t` holds integer values per element (scale 1), such as bits.
    pub(crate) fn add_int_term(&mut self, c: f64, t: &RingTensor<u64>) -> Result<()> {
        self.add_raw(encode(c, self.frac), t)
    }

    /// Adds the public constant `c` (party 0).
    pub(crate) fn add_const(&mut self, c: f64, rank: usize) {
        if rank == 0 {
            self.constant = self.constant.wrapping_add(encode(c, self.frac));
        }
    }

    /// The combination at scale `out_frac` (one truncation).
    pub(crate) fn finish(self, state: &mut Context, out_frac: u32) -> Result<Fx> {
        let acc = self.acc.ok_or_else(|| invalid("functions", "a combination of no terms"))?;
        let acc = if self.constant == 0 { acc } else { acc.add_scalar(self.constant) };
        rescale(state, Fx { share: acc, frac: self.frac }, out_frac)
    }
}

/// Multiplies by a public real constant, truncating back to the input's scale. The
/// constant is encoded with up to 4 more bits when it is small (so `0.1` keeps 17
/// significant bits), which multiplies the local-truncation failure rate by up to 16.
pub(crate) fn mul_const(state: &mut Context, x: &Fx, c: f64) -> Result<Fx> {
    let extra = if c == 0.0 { 0 } else { (-c.abs().log2().floor()).clamp(0.0, 4.0) as u32 };
    let bits = COEFF_BITS + extra;
    let k = encode(c, bits);
    rescale(state, Fx { share: x.share.mul_scalar(k), frac: x.frac + bits }, x.frac)
}
