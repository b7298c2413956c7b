//! Fixed-point encoding of reals into the ring.
//!
//! A real `x` is stored as the ring element `round(x * 2^f) mod 2^BITS`, read back as a signed
//! two's-complement integer divided by `2^f`. Encoding rounds to nearest (ties away from zero),
//! so the encoding error is at most `2^-(f+1)`; decoding is exact up to f64's 53-bit mantissa.
//! Both fix bugs in CrypTen 0.4.1, which truncates on encode and decodes negatives one unit too
//! low just above a negative integer.

use crate::element::RingElement;
use crate::error::{Result, RingError};

/// Default number of fractional bits (CrypTen's `precision_bits`).
pub const DEFAULT_FRAC_BITS: u32 = 16;

/// A fixed-point format: how many of the ring's bits are fractional.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FixedPoint {
    frac_bits: u32,
}

impl Default for FixedPoint {
    fn default() -> Self {
        Self { frac_bits: DEFAULT_FRAC_BITS }
    }
}

impl FixedPoint {
    /// A format with `frac_bits` fractional bits for the ring `T`.
    ///
    /// At least one integer bit besides the sign must remain, so `frac_bits <= BITS - 2`.
    pub fn new<T: RingElement>(frac_bits: u32) -> Result<Self> {
        let max = T::BITS - 2;
        if frac_bits > max {
            return Err(RingError::InvalidPrecision { frac_bits, ring_bits: T::BITS, max });
        }
        Ok(Self { frac_bits })
    }

    /// Number of fractional bits.
    pub fn frac_bits(self) -> u32 {
        self.frac_bits
    }

    /// The scale `2^f` as a float.
    pub fn scale(self) -> f64 {
        (self.frac_bits as f64).exp2()
    }

    /// Largest encodable f64 for ring `T`: `(2^(BITS-1) - 1) / 2^f`, or the largest f64 below
    /// `2^(BITS-1-f)` where that is not representable (64-bit rings need 63 mantissa bits).
    pub fn max_value<T: RingElement>(self) -> f64 {
        let exact = (((1i128 << (T::BITS - 1)) - 1) as f64) / self.scale();
        let bound = (1i128 << (T::BITS - 1)) as f64 / self.scale();
        if exact < bound { exact } else { bound.next_down() }
    }

    /// Smallest encodable value for ring `T`: `-2^(BITS-1) / 2^f`.
    pub fn min_value<T: RingElement>(self) -> f64 {
        (-(1i128 << (T::BITS - 1)) as f64) / self.scale()
    }

    /// Encodes one value, rounding to nearest. `index` is reported in errors.
    pub fn encode_at<T: RingElement>(self, value: f64, index: usize) -> Result<T> {
        if !value.is_finite() {
            return Err(RingError::NotFinite { value, index });
        }
        let scaled = (value * self.scale()).round();
        let bound = (1i128 << (T::BITS - 1)) as f64;
        // `scaled` is an integer-valued float; the representable integers are [-bound, bound).
        if scaled < -bound || scaled >= bound {
            return Err(RingError::OutOfRange {
                value,
                index,
                min: self.min_value::<T>(),
                max: self.max_value::<T>(),
                frac_bits: self.frac_bits,
                ring_bits: T::BITS,
            });
        }
        Ok(T::from_i128_wrapping(scaled as i128))
    }

    /// Encodes one value, rounding to nearest.
    pub fn encode<T: RingElement>(self, value: f64) -> Result<T> {
        self.encode_at(value, 0)
    }

    /// Decodes one ring element: `(t >> f) + (t mod 2^f) / 2^f` with an arithmetic shift, which
    /// is exact for negatives (unlike a division that rounds toward zero).
    pub fn decode<T: RingElement>(self, t: T) -> f64 {
        let signed = t.to_signed_i128();
        let int_part = signed >> self.frac_bits;
        let frac_part = signed & ((1i128 << self.frac_bits) - 1);
        int_part as f64 + frac_part as f64 / self.scale()
    }

    /// Largest error of `decode(encode(x))` for any representable `x`: half a unit in the last
    /// place, `2^-(f+1)`.
    pub fn encode_error_bound(self) -> f64 {
        0.5 / self.scale()
    }
}
