//! Comparisons and what is built on them: sign, ReLU, abs, where, clamp.
//!
//! Everything reduces to `ltz(x) = [x < 0]`, the sign bit of the shared encoding, computed
//! by the session's comparison strategy
//! ([`ComparisonProtocol`](crate::primitives::ComparisonProtocol)). With the default
//! [`BitPlaneCarry`](crate::primitives::BitPlaneCarry), for two parties: one AND level for
//! the generate bits, six for the carry tree, and one B2A round (8 rounds, as CrypTen), but
//! with a quarter of its bytes. Results are fixed-point 0/1
//! tensors; ReLU and abs multiply by the bit held at scale 1, so they need no truncation.
//! Comparisons are exact on the encoded values: `x < y` compares `x` and `y` as rounded to
//! the fixed-point grid, for `|x - y| < 2^(63 - f)` (`2^47` at 16 bits). At exactly
//! `-2^(63 - f)` the encoded difference is its own negation, so `eq(-2^47, 0)` and
//! `abs(-2^47)` are wrong there; the encoder's range (`FixedPoint::max_value`) keeps inputs
//! inside it, and sums of such inputs are the caller's to keep in range.

use ndarray::ArrayD;

use cloak_ring::RingTensor;

use crate::ashare::AShare;
use crate::error::Result;

/// Shifts scale-1 bit shares up to the fixed-point scale.
fn bits_to_fixed(x: &AShare, bits: RingTensor<u64>) -> AShare {
    let f = x.session().fixed_point().frac_bits();
    x_with(x, bits.mul_scalar(1u64 << f))
}

fn x_with(x: &AShare, share: RingTensor<u64>) -> AShare {
    AShare::from_share(x.session(), share)
}

/// `1 - b` for scale-1 bit shares (party 0 adds the one).
pub(crate) fn one_minus(rank: usize, bits: &RingTensor<u64>) -> RingTensor<u64> {
    let neg = bits.neg();
    if rank == 0 { neg.add_scalar(1) } else { neg }
}

impl AShare {
    /// Scale-1 shares of `[self < 0]`.
    pub(crate) fn ltz_bits(&self) -> Result<RingTensor<u64>> {
        self.session().context()?.ltz_arith(self.share_tensor())
    }

    /// `[self < 0]` as 0/1.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn ltz(&self) -> Result<AShare> {
        self.session().clone().scoped("ltz", || Ok(bits_to_fixed(self, self.ltz_bits()?)))
    }

    /// `[self < other]` (broadcasting).
    ///
    /// # Errors
    /// A shape mismatch, or a communication or dealer error.
    pub fn lt(&self, other: &AShare) -> Result<AShare> {
        self.session().clone().scoped("lt", || self.sub(other)?.ltz())
    }

    /// `[self > other]`.
    ///
    /// # Errors
    /// As [`lt`](Self::lt).
    pub fn gt(&self, other: &AShare) -> Result<AShare> {
        self.session().clone().scoped("gt", || other.sub(self)?.ltz())
    }

    /// `[self <= other]`.
    ///
    /// # Errors
    /// As [`lt`](Self::lt).
    pub fn le(&self, other: &AShare) -> Result<AShare> {
        self.session().clone().scoped("le", || {
            let bits = other.sub(self)?.ltz_bits()?;
            Ok(bits_to_fixed(self, one_minus(self.session().rank(), &bits)))
        })
    }

    /// `[self >= other]`.
    ///
    /// # Errors
    /// As [`lt`](Self::lt).
    pub fn ge(&self, other: &AShare) -> Result<AShare> {
        self.session().clone().scoped("ge", || {
            let bits = self.sub(other)?.ltz_bits()?;
            Ok(bits_to_fixed(self, one_minus(self.session().rank(), &bits)))
        })
    }

    /// `[self == other]`: both strict comparisons in one batched circuit (the same rounds
    /// as one comparison), `1 - lt - gt`.
    ///
    /// # Errors
    /// As [`lt`](Self::lt).
    pub fn eq(&self, other: &AShare) -> Result<AShare> {
        self.session().clone().scoped("eq", || {
            let (lt, gt) = self.both_strict(other)?;
            let ne = lt.add(&gt)?;
            Ok(bits_to_fixed(self, one_minus(self.session().rank(), &ne)))
        })
    }

    /// `[self != other]`.
    ///
    /// # Errors
    /// As [`lt`](Self::lt).
    pub fn ne(&self, other: &AShare) -> Result<AShare> {
        self.session().clone().scoped("ne", || {
            let (lt, gt) = self.both_strict(other)?;
            Ok(bits_to_fixed(self, lt.add(&gt)?))
        })
    }

    /// Scale-1 shares of `[self < other]` and `[self > other]`, in one circuit.
    fn both_strict(&self, other: &AShare) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        let d = self.sub(other)?;
        let both = AShare::concat(&[&d.flatten(), &d.neg().flatten()], 0)?;
        let bits = both.ltz_bits()?;
        let n = d.len();
        let lt = bits.slice(0, 0, n, 1)?.reshape(d.shape())?;
        let gt = bits.slice(0, n, 2 * n, 1)?.reshape(d.shape())?;
        Ok((lt, gt))
    }

    /// `[self < p]` for a public `p`.
    ///
    /// # Errors
    /// A shape mismatch or a bad public value; a communication or dealer error.
    pub fn lt_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        self.session().clone().scoped("lt", || self.sub_public(p)?.ltz())
    }

    /// `[self > p]` for a public `p`.
    ///
    /// # Errors
    /// As [`lt_public`](Self::lt_public).
    pub fn gt_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        self.session().clone().scoped("gt", || self.rsub_public(p)?.ltz())
    }

    /// `[self <= p]` for a public `p`.
    ///
    /// # Errors
    /// As [`lt_public`](Self::lt_public).
    pub fn le_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        self.session().clone().scoped("le", || {
            let bits = self.rsub_public(p)?.ltz_bits()?;
            Ok(bits_to_fixed(self, one_minus(self.session().rank(), &bits)))
        })
    }

    /// `[self >= p]` for a public `p`.
    ///
    /// # Errors
    /// As [`lt_public`](Self::lt_public).
    pub fn ge_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        self.session().clone().scoped("ge", || {
            let bits = self.sub_public(p)?.ltz_bits()?;
            Ok(bits_to_fixed(self, one_minus(self.session().rank(), &bits)))
        })
    }

    /// `[self == p]` for a public `p`.
    ///
    /// # Errors
    /// As [`lt_public`](Self::lt_public).
    pub fn eq_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        let session = self.session().clone();
        self.eq(&AShare::from_public(&session, p)?)
    }

    /// `[self != p]` for a public `p`.
    ///
    /// # Errors
    /// As [`lt_public`](Self::lt_public).
    pub fn ne_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        let session = self.session().clone();
        self.ne(&AShare::from_public(&session, p)?)
    }

    /// `-1` where negative, `+1` elsewhere (zero included).
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn sign(&self) -> Result<AShare> {
        self.session().clone().scoped("sign", || {
            let bits = self.ltz_bits()?;
            Ok(bits_to_fixed(self, self.sign_from_bits(&bits)))
        })
    }

    /// Scale-1 shares of `1 - 2b`.
    fn sign_from_bits(&self, bits: &RingTensor<u64>) -> RingTensor<u64> {
        let m = bits.mul_scalar(2).neg();
        if self.session().rank() == 0 { m.add_scalar(1) } else { m }
    }

    /// `max(self, 0)`: a comparison and one product by the bit (no truncation).
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn relu(&self) -> Result<AShare> {
        // As `relu_with_grad`, without making the derivative's shares.
        self.session().clone().scoped("relu", || {
            let (neg_x, _) = self.times_sign_bit()?;
            Ok(x_with(self, self.share_tensor().sub(&neg_x)?))
        })
    }

    /// `max(self / 2^bits, 0)`: the rescaling of a fixed-point product (`self` at the
    /// product's scale, `bits` the fractional bits to drop) and the ReLU after it, as a
    /// linear layer followed by a ReLU needs. With dealer-pair truncation (the default)
    /// and dealer digits (the default comparison) one opening serves both: 4 rounds where
    /// truncating and then `relu` take 5, and one opening of 8 bytes per element less
    /// ([`Context::truncate_times_ltz`](crate::primitives::Context::truncate_times_ltz)).
    /// The result is the one the two steps give: the truncation is never below the floor
    /// and at most one unit above.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn truncate_relu(&self, bits: u32) -> Result<AShare> {
        self.session().clone().scoped("relu", || {
            let (y, by, _) =
                self.session().context()?.truncate_times_ltz(self.share_tensor(), bits)?;
            Ok(x_with(self, y.sub(&by)?))
        })
    }

    /// `max(self, 0)` and its derivative `[self >= 0]` (0/1), for backward: the sign
    /// circuit, then one round multiplying by the XOR-shared bit directly (bit injection),
    /// which also yields the bit's additive shares.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn relu_with_grad(&self) -> Result<(AShare, AShare)> {
        self.session().clone().scoped("relu", || {
            let (neg_x, neg) = self.times_sign_bit()?;
            let out = self.share_tensor().sub(&neg_x)?;
            let keep = one_minus(self.session().rank(), &neg);
            Ok((x_with(self, out), bits_to_fixed(self, keep)))
        })
    }

    /// Shares of `[self < 0] * self` and of `[self < 0]` (scale 1): the sign circuit and
    /// one bit-injection round.
    fn times_sign_bit(&self) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        self.session().context()?.times_ltz(self.share_tensor())
    }

    /// `|self|` as `self - 2 [self < 0] self`: the sign circuit and one bit-injection round
    /// (no truncation).
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn abs(&self) -> Result<AShare> {
        self.session().clone().scoped("abs", || {
            let (neg_x, _) = self.times_sign_bit()?;
            Ok(x_with(self, self.share_tensor().sub(&neg_x.mul_scalar(2))?))
        })
    }

    /// `cond ? a : b` elementwise for a shared 0/1 `cond` (broadcasting):
    /// `b + cond * (a - b)`, one product.
    ///
    /// # Errors
    /// A shape mismatch, or a communication or dealer error.
    pub fn where_select(cond: &AShare, a: &AShare, b: &AShare) -> Result<AShare> {
        cond.session().clone().scoped("where", || cond.mul(&a.sub(b)?)?.add(b))
    }

    /// Clamps into `[lo, hi]` (public bounds): `lo + relu(x - lo) - relu(x - hi)`, both
    /// ReLUs in one batched circuit.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) if `lo > hi` or a
    /// bound is NaN; a communication or dealer error.
    pub fn clamp(&self, lo: f64, hi: f64) -> Result<AShare> {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(crate::error::invalid("clamp", format!("bounds [{lo}, {hi}]")));
        }
        self.session().clone().scoped("clamp", || {
            let flat = self.flatten();
            let both = AShare::concat(&[&flat.add_scalar(-lo)?, &flat.add_scalar(-hi)?], 0)?;
            let r = both.relu()?;
            let n = self.len();
            let low = r.slice(0, 0, n, 1)?;
            let high = r.slice(0, n, 2 * n, 1)?;
            low.sub(&high)?.add_scalar(lo)?.reshape(self.shape())
        })
    }
}
