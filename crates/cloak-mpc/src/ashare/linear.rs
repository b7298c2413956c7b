//! Local operations: sums, differences, and products with public values.

use ndarray::ArrayD;

use cloak_ring::{RingError, RingTensor};

use super::AShare;
use crate::error::{Result, invalid};

impl AShare {
    /// `self + other` (broadcasting), local.
    ///
    /// # Errors
    /// A shape mismatch, or operands from different sessions.
    pub fn add(&self, other: &AShare) -> Result<AShare> {
        self.check_session(other, "add")?;
        Ok(self.with_share(self.share.add(&other.share)?))
    }

    /// `self - other` (broadcasting), local.
    ///
    /// # Errors
    /// A shape mismatch, or operands from different sessions.
    pub fn sub(&self, other: &AShare) -> Result<AShare> {
        self.check_session(other, "sub")?;
        Ok(self.with_share(self.share.sub(&other.share)?))
    }

    /// `-self`, local.
    #[must_use]
    pub fn neg(&self) -> AShare {
        self.with_share(self.share.neg())
    }

    /// Encodes a public operand at the session's scale.
    pub(crate) fn encode_public(&self, value: &ArrayD<f64>) -> Result<RingTensor<u64>> {
        Ok(RingTensor::<u64>::encode(value, self.session.fixed_point())?)
    }

    /// Adds an already encoded public tensor (party 0 adds it).
    pub(crate) fn add_public_ring(&self, p: &RingTensor<u64>) -> Result<AShare> {
        let shape = cloak_ring::broadcast_shapes(self.shape(), p.shape()).ok_or_else(|| {
            RingError::ShapeMismatch {
                op: "add_public",
                lhs: self.shape().to_vec(),
                rhs: p.shape().to_vec(),
            }
        })?;
        if self.session.rank() == 0 {
            Ok(self.with_share(self.share.add(p)?))
        } else {
            Ok(self.with_share(self.share.broadcast_to(&shape)?))
        }
    }

    /// `self + p` for a public `p` (broadcasting), local.
    ///
    /// # Errors
    /// A shape mismatch, or a public value that is not finite or overflows the encoding.
    pub fn add_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        self.add_public_ring(&self.encode_public(p)?)
    }

    /// `self - p` for a public `p` (broadcasting), local.
    ///
    /// # Errors
    /// As [`add_public`](Self::add_public).
    pub fn sub_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        self.add_public_ring(&self.encode_public(p)?.neg())
    }

    /// `p - self` for a public `p` (broadcasting), local.
    ///
    /// # Errors
    /// As [`add_public`](Self::add_public).
    pub fn rsub_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        self.neg().add_public(p)
    }

    /// `self + c` for a public scalar, local.
    ///
    /// # Errors
    /// A scalar that is not finite or overflows the encoding.
    pub fn add_scalar(&self, c: f64) -> Result<AShare> {
        let e = self.session.fixed_point().encode::<u64>(c)?;
        Ok(if self.session.rank() == 0 {
            self.with_share(self.share.add_scalar(e))
        } else {
            self.clone()
        })
    }

    /// `self * k` for a public integer, local and exact (no truncation).
    #[must_use]
    pub fn mul_int(&self, k: i64) -> AShare {
        self.with_share(self.share.mul_scalar(k as u64))
    }

    /// `self * c` for a public scalar: exact for integers, otherwise one truncation.
    ///
    /// A scalar below 1 in magnitude is encoded with `f + k` fractional bits, `k` chosen so
    /// that it keeps `f` significant bits (`|c| 2^k` in `[1/2, 1)`), and the product is
    /// truncated by `f + k` bits: `1e-6` or `1 / 200000` are then as precise, relative to
    /// themselves, as `0.5` is, where encoding them at `f` bits would round them to 0. The
    /// product's magnitude, and so the chance of a two-party local truncation failing, is
    /// that of an ordinary product by a value in `[1/2, 1)`.
    ///
    /// # Errors
    /// A scalar that is not finite or overflows the encoding; a truncation error.
    pub fn mul_scalar(&self, c: f64) -> Result<AShare> {
        if c.fract() == 0.0 && c.abs() < 9.0e15 {
            return Ok(self.mul_int(c as i64));
        }
        // The encoding's own checks: a scalar that is not finite or out of range.
        self.session.fixed_point().encode::<u64>(c)?;
        let f = self.session.fixed_point().frac_bits();
        // Extra bits so that |c| 2^k >= 1/2, with f + k at most 62 (below that |c| < 2^-62+f
        // and the product is below half a unit anyway).
        let k = if c.abs() >= 0.5 {
            0
        } else {
            let want = (-c.abs().log2()).floor().max(0.0) as u32;
            want.min(62 - f)
        };
        let m = (c * f64::from(f + k).exp2()).round();
        let session = self.session.clone();
        session.scoped("truncate", || {
            let out = session.context()?.truncate(self.share.mul_scalar(m as i64 as u64), f + k)?;
            Ok(self.with_share(out))
        })
    }

    /// `self * p` elementwise for a public `p` (broadcasting): local product, one truncation.
    ///
    /// # Errors
    /// A shape mismatch, a bad public value, or a truncation error.
    pub fn mul_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        let e = self.encode_public(p)?;
        self.truncated(self.share.mul(&e)?)
    }

    /// `self / d` for a public scalar `d` (multiplication by the encoded `1/d`).
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for `d` zero or not
    /// finite.
    pub fn div_scalar(&self, d: f64) -> Result<AShare> {
        if d == 0.0 || !d.is_finite() {
            return Err(invalid("div_scalar", format!("division by {d}")));
        }
        self.mul_scalar(1.0 / d)
    }

    /// `self / d` for a public positive integer `d`, accurate to two units in the last
    /// place whatever the magnitude of `self` (a division pair from the dealer, one round;
    /// `d = 1` is free). Prefer it to [`div_scalar`](Self::div_scalar), whose product with
    /// the encoded `1/d` is off by up to `|self| * 2^-(f+1)`, for sums and means of many
    /// elements.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for `d = 0`; a
    /// communication or dealer error.
    pub fn div_int(&self, d: u64) -> Result<AShare> {
        match d {
            0 => Err(invalid("div_int", "division by zero")),
            1 => Ok(self.clone()),
            _ => {
                let session = self.session.clone();
                session.scoped("div", || {
                    let out = session.context()?.divide_with_pair((*self.share).clone(), d)?;
                    Ok(self.with_share(out))
                })
            }
        }
    }

    /// `self / p` elementwise for a public `p` (broadcasting).
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) if an element of `p`
    /// is zero; otherwise as [`mul_public`](Self::mul_public).
    pub fn div_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        if let Some(i) = p.iter().position(|&v| v == 0.0) {
            return Err(invalid("div_public", format!("division by zero at element {i}")));
        }
        self.mul_public(&p.mapv(|v| 1.0 / v))
    }

    /// Sum along `axis`, local.
    ///
    /// # Errors
    /// An axis out of range.
    pub fn sum(&self, axis: usize, keepdim: bool) -> Result<AShare> {
        Ok(self.with_share(self.share.sum_axis(axis, keepdim)?))
    }

    /// Sum of every element, as a tensor of shape `[]`, local.
    #[must_use]
    pub fn sum_all(&self) -> AShare {
        if !self.share.is_host() && !self.share.is_empty() {
            // Summed where the share lives, so no element crosses to the host. A device
            // that fails the sum fails the host form below as well, which reports it as
            // the ring's other infallible operations do.
            if let Ok(total) = self.share.flatten().sum_axis(0, false) {
                return self.with_share(total);
            }
        }
        self.with_share(RingTensor::scalar(self.share.sum_all()))
    }

    /// Mean along `axis`: a local sum and one exact division by the public length
    /// ([`div_int`](Self::div_int), one round).
    ///
    /// # Errors
    /// An axis out of range or an empty axis.
    pub fn mean(&self, axis: usize, keepdim: bool) -> Result<AShare> {
        let n = *self.shape().get(axis).ok_or(RingError::AxisOutOfRange {
            op: "mean",
            axis,
            ndim: self.shape().len(),
        })?;
        self.sum(axis, keepdim)?.div_int(n as u64)
    }

    /// Mean of every element, as a tensor of shape `[]` (one exact division, one round).
    ///
    /// # Errors
    /// An empty tensor.
    pub fn mean_all(&self) -> Result<AShare> {
        self.sum_all().div_int(self.len() as u64)
    }

    /// Truncates a product at twice the scale back to the session's scale.
    pub(crate) fn truncated(&self, product: RingTensor<u64>) -> Result<AShare> {
        let f = self.session.fixed_point().frac_bits();
        let session = self.session.clone();
        session.scoped("truncate", || {
            let out = session.context()?.truncate(product, f)?;
            Ok(self.with_share(out))
        })
    }
}
