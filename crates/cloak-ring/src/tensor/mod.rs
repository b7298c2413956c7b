//! `RingTensor`: an n-dimensional tensor of ring elements.
//!
//! All arithmetic wraps modulo `2^BITS`, which is what additive secret sharing needs. The
//! tensor is host-resident (ndarray); heavy kernels (GEMM, convolution) go through the
//! [`Backend`](crate::backend::Backend) seam so that a device backend can take them over.

mod arith;
mod bytes;
mod encode;
pub mod linalg;
mod shape_ops;

use ndarray::{ArrayD, IxDyn};

use crate::element::RingElement;
use crate::error::{Result, RingError, checked_numel};

pub use arith::broadcast_shapes;
pub use linalg::Conv2dSpec;

/// An n-dimensional tensor over the ring `T` (`u64` by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingTensor<T: RingElement = u64> {
    data: ArrayD<T>,
}

impl<T: RingElement> RingTensor<T> {
    /// A tensor of zeros. Like `vec!`, panics if the element count overflows `usize`; the
    /// constructors that take untrusted shapes (`from_vec`, `from_le_bytes`) return errors.
    pub fn zeros(shape: &[usize]) -> Self {
        Self { data: ArrayD::from_elem(IxDyn(shape), T::zero()) }
    }

    /// A tensor with every element equal to `value`.
    pub fn full(shape: &[usize], value: T) -> Self {
        Self { data: ArrayD::from_elem(IxDyn(shape), value) }
    }

    /// A zero-dimensional tensor holding one element.
    pub fn scalar(value: T) -> Self {
        Self::full(&[], value)
    }

    /// A tensor from row-major data; the length must match the shape.
    pub fn from_vec(shape: &[usize], data: Vec<T>) -> Result<Self> {
        let expected = checked_numel("from_vec", shape)?;
        if data.len() != expected {
            return Err(RingError::InvalidShape {
                op: "from_vec",
                shape: shape.to_vec(),
                reason: format!("{} elements given, the shape holds {expected}", data.len()),
            });
        }
        let data = ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| {
            RingError::InvalidShape { op: "from_vec", shape: shape.to_vec(), reason: e.to_string() }
        })?;
        Ok(Self { data })
    }

    /// Wraps an ndarray array.
    pub fn from_array(data: ArrayD<T>) -> Self {
        Self { data }
    }

    /// The underlying host array.
    pub fn as_array(&self) -> &ArrayD<T> {
        &self.data
    }

    /// Mutable access to the underlying host array.
    pub fn as_array_mut(&mut self) -> &mut ArrayD<T> {
        &mut self.data
    }

    /// Unwraps into the ndarray array.
    pub fn into_array(self) -> ArrayD<T> {
        self.data
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.data.ndim()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements in row-major order.
    pub fn to_vec(&self) -> Vec<T> {
        self.as_slice().into_owned()
    }

    /// The elements in row-major order, consuming the tensor (no copy when already standard
    /// layout).
    pub fn into_vec(self) -> Vec<T> {
        if self.data.is_standard_layout() {
            // A standard-layout array is contiguous, but an array sliced in place keeps its
            // whole buffer: cut the raw vector down to the elements the tensor covers.
            let len = self.data.len();
            let (mut v, offset) = self.data.into_raw_vec_and_offset();
            let start = offset.unwrap_or(0);
            v.truncate(start + len);
            v.drain(..start);
            v
        } else {
            self.data.iter().copied().collect()
        }
    }

    /// Row-major contiguous data, borrowing when possible.
    pub fn as_slice(&self) -> std::borrow::Cow<'_, [T]> {
        match self.data.as_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(self.data.iter().copied().collect()),
        }
    }

    /// Makes the storage row-major contiguous (after a transpose, for instance), so that
    /// kernels can take it as a slice.
    pub fn into_standard_layout(self) -> Self {
        if self.data.is_standard_layout() {
            self
        } else {
            Self { data: self.data.as_standard_layout().into_owned() }
        }
    }

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(T) -> T) -> Self {
        Self { data: self.data.mapv(f) }
    }

    /// The single element of a one-element tensor.
    pub fn item(&self) -> Result<T> {
        if self.len() != 1 {
            return Err(RingError::InvalidShape {
                op: "item",
                shape: self.shape().to_vec(),
                reason: "item() needs exactly one element".into(),
            });
        }
        Ok(*self.data.iter().next().expect("one element"))
    }
}

impl<T: RingElement> From<ArrayD<T>> for RingTensor<T> {
    fn from(data: ArrayD<T>) -> Self {
        Self::from_array(data)
    }
}
