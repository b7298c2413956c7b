//! Elementwise wrapping arithmetic, shifts and bitwise operations, with NumPy broadcasting.

use ndarray::{ArrayD, IxDyn, Zip};

use super::RingTensor;
use crate::element::RingElement;
use crate::error::{Result, RingError};

/// The NumPy broadcast of two shapes, or `None` if they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let ndim = a.len().max(b.len());
    let mut out = vec![0; ndim];
    for i in 0..ndim {
        let da = if i + a.len() >= ndim { a[i + a.len() - ndim] } else { 1 };
        let db = if i + b.len() >= ndim { b[i + b.len() - ndim] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

impl<T: RingElement> RingTensor<T> {
    /// Applies `f` elementwise to `self` and `other`, broadcasting both to their common shape.
    ///
    /// Same-shape contiguous operands take a flat loop that the compiler vectorises; the
    /// general case goes through ndarray's broadcasting `Zip`.
    pub fn zip_with(
        &self,
        other: &Self,
        op: &'static str,
        f: impl Fn(T, T) -> T + Sync + Send,
    ) -> Result<Self> {
        if self.shape() == other.shape()
            && let (Some(a), Some(b)) = (self.data.as_slice(), other.data.as_slice())
        {
            let v: Vec<T> = a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
            return Self::from_vec(self.shape(), v);
        }
        let shape = broadcast_shapes(self.shape(), other.shape()).ok_or_else(|| {
            RingError::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: other.shape().to_vec() }
        })?;
        let dim = IxDyn(&shape);
        let mismatch = || RingError::ShapeMismatch {
            op,
            lhs: self.shape().to_vec(),
            rhs: other.shape().to_vec(),
        };
        let a = self.data.broadcast(dim.clone()).ok_or_else(mismatch)?;
        let b = other.data.broadcast(dim).ok_or_else(mismatch)?;
        let data: ArrayD<T> = Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y));
        Ok(Self { data })
    }

    /// In-place `self = f(self, other)`, with `other` broadcast to `self`'s shape.
    pub fn zip_assign(
        &mut self,
        other: &Self,
        op: &'static str,
        f: impl Fn(T, T) -> T,
    ) -> Result<()> {
        let mismatch = || RingError::ShapeMismatch {
            op,
            lhs: self.shape().to_vec(),
            rhs: other.shape().to_vec(),
        };
        let b = other.data.broadcast(self.data.raw_dim()).ok_or_else(mismatch)?;
        Zip::from(&mut self.data).and(&b).for_each(|x, &y| *x = f(*x, y));
        Ok(())
    }

    /// Wrapping elementwise sum (broadcasting).
    pub fn add(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "add", |x, y| x.wrapping_add(&y))
    }

    /// Wrapping elementwise difference (broadcasting).
    pub fn sub(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "sub", |x, y| x.wrapping_sub(&y))
    }

    /// Wrapping elementwise product (broadcasting).
    pub fn mul(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "mul", |x, y| x.wrapping_mul(&y))
    }

    /// In-place wrapping sum, `other` broadcast to `self`'s shape.
    pub fn add_assign(&mut self, other: &Self) -> Result<()> {
        self.zip_assign(other, "add_assign", |x, y| x.wrapping_add(&y))
    }

    /// In-place wrapping difference, `other` broadcast to `self`'s shape.
    pub fn sub_assign(&mut self, other: &Self) -> Result<()> {
        self.zip_assign(other, "sub_assign", |x, y| x.wrapping_sub(&y))
    }

    /// Wrapping negation (additive inverse).
    pub fn neg(&self) -> Self {
        self.map(|x| x.wrapping_neg())
    }

    /// Adds a ring scalar to every element.
    pub fn add_scalar(&self, s: T) -> Self {
        self.map(|x| x.wrapping_add(&s))
    }

    /// Subtracts a ring scalar from every element.
    pub fn sub_scalar(&self, s: T) -> Self {
        self.map(|x| x.wrapping_sub(&s))
    }

    /// Multiplies every element by a ring scalar.
    pub fn mul_scalar(&self, s: T) -> Self {
        self.map(|x| x.wrapping_mul(&s))
    }

    fn check_shift(op: &'static str, bits: u32) -> Result<()> {
        if bits >= T::BITS {
            return Err(RingError::InvalidArgument {
                op,
                reason: format!("shift by {bits} bits in a {}-bit ring", T::BITS),
            });
        }
        Ok(())
    }

    /// Arithmetic right shift: the two's-complement reading divided by `2^bits`, rounded toward
    /// negative infinity (what fixed-point truncation needs).
    pub fn shr_arithmetic(&self, bits: u32) -> Result<Self> {
        Self::check_shift("shr_arithmetic", bits)?;
        Ok(self.map(|x| x.arithmetic_shr(bits)))
    }

    /// Logical right shift (zeros shifted in).
    pub fn shr_logical(&self, bits: u32) -> Result<Self> {
        Self::check_shift("shr_logical", bits)?;
        Ok(self.map(|x| x >> bits as usize))
    }

    /// Left shift (multiplication by `2^bits`, wrapping).
    pub fn shl(&self, bits: u32) -> Result<Self> {
        Self::check_shift("shl", bits)?;
        Ok(self.map(|x| x << bits as usize))
    }

    /// Elementwise XOR (broadcasting): addition of XOR shares.
    pub fn xor(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "xor", |x, y| x ^ y)
    }

    /// Elementwise AND (broadcasting).
    pub fn and(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "and", |x, y| x & y)
    }

    /// Elementwise OR (broadcasting).
    pub fn or(&self, other: &Self) -> Result<Self> {
        self.zip_with(other, "or", |x, y| x | y)
    }

    /// Elementwise bitwise NOT.
    pub fn not(&self) -> Self {
        self.map(|x| !x)
    }

    /// ANDs every element with a constant mask.
    pub fn and_scalar(&self, mask: T) -> Self {
        self.map(|x| x & mask)
    }

    /// XORs every element with a constant.
    pub fn xor_scalar(&self, s: T) -> Self {
        self.map(|x| x ^ s)
    }
}
