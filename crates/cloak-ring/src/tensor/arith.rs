//! Elementwise wrapping arithmetic, shifts and bitwise operations, with NumPy broadcasting.

use ndarray::{ArrayD, IxDyn, Zip};

use super::RingTensor;
use crate::element::RingElement;
use crate::error::{Result, RingError};
use crate::tensor::device::{BinaryOp, UnaryOp};

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
    /// general case goes through ndarray's broadcasting `Zip`. `f` is host code: operands
    /// on a device make the round trip (downloads and an upload), so protocol code uses the
    /// named operations, which stay on the device.
    pub fn zip_with(
        &self,
        other: &Self,
        op: &'static str,
        f: impl Fn(T, T) -> T + Sync + Send,
    ) -> Result<Self> {
        if let Some(device) = Self::common_device(op, self, other)? {
            let out = self.to_host()?.zip_with(&other.to_host()?, op, f)?;
            return out.to_device(&device);
        }
        let (lhs, rhs) = (self.as_array(), other.as_array());
        if self.shape() == other.shape()
            && let (Some(a), Some(b)) = (lhs.as_slice(), rhs.as_slice())
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
        let a = lhs.broadcast(dim.clone()).ok_or_else(mismatch)?;
        let b = rhs.broadcast(dim).ok_or_else(mismatch)?;
        let data: ArrayD<T> = Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y));
        Ok(Self::host(data))
    }

    /// `op` elementwise with broadcasting, on the operands' device or on the host.
    fn binary_op(&self, other: &Self, name: &'static str, op: BinaryOp) -> Result<Self> {
        let Some(device) = Self::common_device(name, self, other)? else {
            return self.host_binary(other, name, op);
        };
        let shape = broadcast_shapes(self.shape(), other.shape()).ok_or_else(|| {
            RingError::ShapeMismatch {
                op: name,
                lhs: self.shape().to_vec(),
                rhs: other.shape().to_vec(),
            }
        })?;
        let (a, b) = (self.buffer_on(&device)?, other.buffer_on(&device)?);
        let out = device.binary(op, (&a, self.shape()), (&b, other.shape()), &shape)?;
        Ok(Self::from_device_buffer(device, out, &shape))
    }

    /// `op` on the host, one closure per operation so that each loop is vectorised.
    fn host_binary(&self, other: &Self, name: &'static str, op: BinaryOp) -> Result<Self> {
        match op {
            BinaryOp::Add => self.zip_with(other, name, |x, y| x.wrapping_add(&y)),
            BinaryOp::Sub => self.zip_with(other, name, |x, y| x.wrapping_sub(&y)),
            BinaryOp::Mul => self.zip_with(other, name, |x, y| x.wrapping_mul(&y)),
            BinaryOp::Xor => self.zip_with(other, name, |x, y| x ^ y),
            BinaryOp::And => self.zip_with(other, name, |x, y| x & y),
            BinaryOp::Or => self.zip_with(other, name, |x, y| x | y),
        }
    }

    /// `op` on the host, one closure per operation (see [`host_binary`](Self::host_binary)).
    fn host_unary(&self, op: UnaryOp<T>) -> Self {
        match op {
            UnaryOp::Neg => self.map(|x| x.wrapping_neg()),
            UnaryOp::Not => self.map(|x| !x),
            UnaryOp::AddScalar(s) => self.map(|x| x.wrapping_add(&s)),
            UnaryOp::SubScalar(s) => self.map(|x| x.wrapping_sub(&s)),
            UnaryOp::MulScalar(s) => self.map(|x| x.wrapping_mul(&s)),
            UnaryOp::AndScalar(s) => self.map(|x| x & s),
            UnaryOp::XorScalar(s) => self.map(|x| x ^ s),
            UnaryOp::ShrArithmetic(b) => self.map(|x| x.arithmetic_shr(b)),
            UnaryOp::ShrLogical(b) => self.map(|x| x >> b as usize),
            UnaryOp::Shl(b) => self.map(|x| x << b as usize),
        }
    }

    /// `op` elementwise, on the tensor's device or on the host.
    ///
    /// # Panics
    /// If the tensor's device fails (see [`device`](crate::tensor::device)).
    fn unary_op(&self, op: UnaryOp<T>) -> Self {
        match self.device_data() {
            None => self.host_unary(op),
            Some(d) => {
                let out = d.device.unary(op, &d.buffer).unwrap_or_else(|e| panic!("{e}"));
                Self::on_device(d.with(out, &d.shape))
            }
        }
    }

    /// `op` elementwise with a device's failure as an error.
    fn try_unary_op(&self, op: UnaryOp<T>) -> Result<Self> {
        match self.device_data() {
            None => Ok(self.host_unary(op)),
            Some(d) => Ok(Self::on_device(d.with(d.device.unary(op, &d.buffer)?, &d.shape))),
        }
    }

    /// In-place `self = f(self, other)`, with `other` broadcast to `self`'s shape. `f` is
    /// host code: a device tensor moves to the host (see [`zip_with`](Self::zip_with)).
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
        let rhs = other.as_array();
        let b = rhs.broadcast(IxDyn(self.shape())).ok_or_else(mismatch)?;
        Zip::from(self.as_array_mut()).and(&b).for_each(|x, &y| *x = f(*x, y));
        Ok(())
    }

    /// In-place `op` with `other` broadcast to `self`'s shape, on the device if either is.
    fn assign_op(&mut self, other: &Self, name: &'static str, op: BinaryOp) -> Result<()> {
        if self.is_host() && other.is_host() {
            return match op {
                BinaryOp::Add => self.zip_assign(other, name, |x, y| x.wrapping_add(&y)),
                BinaryOp::Sub => self.zip_assign(other, name, |x, y| x.wrapping_sub(&y)),
                _ => self.zip_assign(other, name, move |x, y| op.apply(x, y)),
            };
        }
        if broadcast_shapes(self.shape(), other.shape()).as_deref() != Some(self.shape()) {
            return Err(RingError::ShapeMismatch {
                op: name,
                lhs: self.shape().to_vec(),
                rhs: other.shape().to_vec(),
            });
        }
        *self = self.binary_op(other, name, op)?;
        Ok(())
    }

    /// Wrapping elementwise sum (broadcasting).
    pub fn add(&self, other: &Self) -> Result<Self> {
        self.binary_op(other, "add", BinaryOp::Add)
    }

    /// Wrapping elementwise difference (broadcasting).
    pub fn sub(&self, other: &Self) -> Result<Self> {
        self.binary_op(other, "sub", BinaryOp::Sub)
    }

    /// Wrapping elementwise product (broadcasting).
    pub fn mul(&self, other: &Self) -> Result<Self> {
        self.binary_op(other, "mul", BinaryOp::Mul)
    }

    /// In-place wrapping sum, `other` broadcast to `self`'s shape.
    pub fn add_assign(&mut self, other: &Self) -> Result<()> {
        self.assign_op(other, "add_assign", BinaryOp::Add)
    }

    /// In-place wrapping difference, `other` broadcast to `self`'s shape.
    pub fn sub_assign(&mut self, other: &Self) -> Result<()> {
        self.assign_op(other, "sub_assign", BinaryOp::Sub)
    }

    /// Wrapping negation (additive inverse).
    pub fn neg(&self) -> Self {
        self.unary_op(UnaryOp::Neg)
    }

    /// Adds a ring scalar to every element.
    pub fn add_scalar(&self, s: T) -> Self {
        self.unary_op(UnaryOp::AddScalar(s))
    }

    /// Subtracts a ring scalar from every element.
    pub fn sub_scalar(&self, s: T) -> Self {
        self.unary_op(UnaryOp::SubScalar(s))
    }

    /// Multiplies every element by a ring scalar.
    pub fn mul_scalar(&self, s: T) -> Self {
        self.unary_op(UnaryOp::MulScalar(s))
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
        self.try_unary_op(UnaryOp::ShrArithmetic(bits))
    }

    /// Logical right shift (zeros shifted in).
    pub fn shr_logical(&self, bits: u32) -> Result<Self> {
        Self::check_shift("shr_logical", bits)?;
        self.try_unary_op(UnaryOp::ShrLogical(bits))
    }

    /// Left shift (multiplication by `2^bits`, wrapping).
    pub fn shl(&self, bits: u32) -> Result<Self> {
        Self::check_shift("shl", bits)?;
        self.try_unary_op(UnaryOp::Shl(bits))
    }

    /// Elementwise XOR (broadcasting): addition of XOR shares.
    pub fn xor(&self, other: &Self) -> Result<Self> {
        self.binary_op(other, "xor", BinaryOp::Xor)
    }

    /// Elementwise AND (broadcasting).
    pub fn and(&self, other: &Self) -> Result<Self> {
        self.binary_op(other, "and", BinaryOp::And)
    }

    /// Elementwise OR (broadcasting).
    pub fn or(&self, other: &Self) -> Result<Self> {
        self.binary_op(other, "or", BinaryOp::Or)
    }

    /// Elementwise bitwise NOT.
    pub fn not(&self) -> Self {
        self.unary_op(UnaryOp::Not)
    }

    /// ANDs every element with a constant mask.
    pub fn and_scalar(&self, mask: T) -> Self {
        self.unary_op(UnaryOp::AndScalar(mask))
    }

    /// XORs every element with a constant.
    pub fn xor_scalar(&self, s: T) -> Self {
        self.unary_op(UnaryOp::XorScalar(s))
    }
}
