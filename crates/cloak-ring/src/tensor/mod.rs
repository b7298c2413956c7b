//! `RingTensor`: an n-dimensional tensor of ring elements.
//!
//! All arithmetic wraps modulo `2^BITS`, which is what additive secret sharing needs. A
//! tensor's elements live on the host (an ndarray) or on a [`Device`](crate::tensor::device::Device)
//! ([`storage`] says how); every operation dispatches on where its operands live, and heavy
//! kernels (GEMM, convolution) go through the [`Backend`](crate::tensor::backend::Backend) seam.

mod arith;
pub mod backend;
mod bytes;
pub mod device;
mod encode;
pub mod linalg;
mod shape_ops;
mod storage;

use std::borrow::Cow;

use ndarray::{ArrayD, IxDyn};

use crate::element::RingElement;
use crate::error::{Result, RingError, checked_numel};

pub use arith::broadcast_shapes;
pub use linalg::Conv2dSpec;
use storage::Storage;

/// An n-dimensional tensor over the ring `T` (`u64` by default), on the host or on a device.
#[derive(Clone)]
pub struct RingTensor<T: RingElement = u64> {
    storage: Storage<T>,
}

impl<T: RingElement> RingTensor<T> {
    /// A tensor of zeros. Like `vec!`, panics if the element count overflows `usize`; the
    /// constructors that take untrusted shapes (`from_vec`, `from_le_bytes`) return errors.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::host(ArrayD::from_elem(IxDyn(shape), T::zero()))
    }

    /// A tensor with every element equal to `value`.
    pub fn full(shape: &[usize], value: T) -> Self {
        Self::host(ArrayD::from_elem(IxDyn(shape), value))
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
        Ok(Self::host(data))
    }

    /// Wraps an ndarray array (on the host).
    pub fn from_array(data: ArrayD<T>) -> Self {
        Self::host(data)
    }

    /// The elements as a host array: borrowed on the host, downloaded from a device.
    ///
    /// # Panics
    /// If the tensor's device fails the download (see [`device`](crate::tensor::device)).
    pub fn as_array(&self) -> Cow<'_, ArrayD<T>> {
        match &self.storage {
            Storage::Host(a) => Cow::Borrowed(a),
            Storage::Device(d) => Cow::Owned(d.download_array()),
        }
    }

    /// Mutable access to the elements as a host array; a device tensor moves to the host
    /// first (one download).
    ///
    /// # Panics
    /// If the tensor's device fails the download (see [`device`](crate::tensor::device)).
    pub fn as_array_mut(&mut self) -> &mut ArrayD<T> {
        if let Storage::Device(d) = &self.storage {
            self.storage = Storage::Host(d.download_array());
        }
        match &mut self.storage {
            Storage::Host(a) => a,
            Storage::Device(_) => unreachable!("moved to the host above"),
        }
    }

    /// Unwraps into a host array (downloading a device tensor).
    ///
    /// # Panics
    /// If the tensor's device fails the download (see [`device`](crate::tensor::device)).
    pub fn into_array(self) -> ArrayD<T> {
        match self.storage {
            Storage::Host(a) => a,
            Storage::Device(d) => d.download_array(),
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match &self.storage {
            Storage::Host(a) => a.shape(),
            Storage::Device(d) => &d.shape,
        }
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Host(a) => a.len(),
            Storage::Device(d) => d.buffer.len(),
        }
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements in row-major order (downloaded from a device).
    ///
    /// # Panics
    /// If the tensor's device fails the download (see [`device`](crate::tensor::device)).
    pub fn to_vec(&self) -> Vec<T> {
        self.as_slice().into_owned()
    }

    /// The elements in row-major order, consuming the tensor (no copy when already standard
    /// layout on the host).
    ///
    /// # Panics
    /// If the tensor's device fails the download (see [`device`](crate::tensor::device)).
    pub fn into_vec(self) -> Vec<T> {
        let data = match self.storage {
            Storage::Host(a) => a,
            Storage::Device(d) => return d.download(),
        };
        if data.is_standard_layout() {
            // A standard-layout array is contiguous, but an array sliced in place keeps its
            // whole buffer: cut the raw vector down to the elements the tensor covers.
            let len = data.len();
            let (mut v, offset) = data.into_raw_vec_and_offset();
            let start = offset.unwrap_or(0);
            v.truncate(start + len);
            v.drain(..start);
            v
        } else {
            data.iter().copied().collect()
        }
    }

    /// Row-major contiguous data, borrowing when possible (downloaded from a device).
    ///
    /// # Panics
    /// If the tensor's device fails the download (see [`device`](crate::tensor::device)).
    pub fn as_slice(&self) -> Cow<'_, [T]> {
        match &self.storage {
            Storage::Host(a) => match a.as_slice() {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(a.iter().copied().collect()),
            },
            Storage::Device(d) => Cow::Owned(d.download()),
        }
    }

    /// Makes host storage row-major contiguous (after a transpose, for instance), so that
    /// kernels can take it as a slice; device buffers always are.
    pub fn into_standard_layout(self) -> Self {
        match self.storage {
            Storage::Host(a) if !a.is_standard_layout() => {
                Self::host(a.as_standard_layout().into_owned())
            }
            storage => Self { storage },
        }
    }

    /// Applies `f` to every element. `f` is host code: a device tensor makes the round trip
    /// (one download, one upload), so protocol code uses the named operations instead.
    ///
    /// # Panics
    /// If the tensor's device fails the transfers (see [`device`](crate::tensor::device)).
    pub fn map(&self, f: impl Fn(T) -> T) -> Self {
        match &self.storage {
            Storage::Host(a) => Self::host(a.mapv(f)),
            Storage::Device(d) => {
                let host: Vec<T> = d.download().into_iter().map(f).collect();
                Self::on_device(d.with_host(&host))
            }
        }
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
        Ok(self.as_slice()[0])
    }
}

impl<T: RingElement> PartialEq for RingTensor<T> {
    /// Same shape and same elements, wherever each lives (a device tensor is downloaded).
    fn eq(&self, other: &Self) -> bool {
        self.shape() == other.shape() && self.as_slice() == other.as_slice()
    }
}

impl<T: RingElement> Eq for RingTensor<T> {}

impl<T: RingElement> std::fmt::Debug for RingTensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.storage {
            Storage::Host(a) => f.debug_struct("RingTensor").field("data", a).finish(),
            // Printing would download: a device tensor shows where it is and its shape.
            Storage::Device(d) => f
                .debug_struct("RingTensor")
                .field("device", &d.device.label())
                .field("shape", &d.shape)
                .finish(),
        }
    }
}

impl<T: RingElement> From<ArrayD<T>> for RingTensor<T> {
    fn from(data: ArrayD<T>) -> Self {
        Self::from_array(data)
    }
}
