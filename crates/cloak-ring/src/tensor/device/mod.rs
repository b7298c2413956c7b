//! Device-resident ring tensors: the operations a [`Device`] runs on buffers it owns.
//!
//! A [`RingTensor`](crate::RingTensor) keeps its elements on the host (an ndarray) or in a
//! [`DeviceBuffer`] owned by a [`Device`]. Every tensor operation dispatches on where its
//! operands live, so protocol code written against `RingTensor` runs unchanged on a device,
//! and data crosses to the host only where the caller asks for it: the wire bytes
//! ([`RingTensor::to_le_bytes`](crate::RingTensor::to_le_bytes)) and explicit host views
//! ([`RingTensor::to_host`](crate::RingTensor::to_host), `to_vec`, `as_slice`).
//!
//! The trait is small on purpose: elementwise arithmetic with broadcasting ([`BinaryOp`],
//! [`UnaryOp`]), strided copies (every permute, broadcast and slice is one), assembly into a
//! filled buffer (concat, pad), gathers by index, sums along an axis, and the products of the
//! [`Backend`] supertrait. Shapes are checked on the host before a device sees them, so every
//! device reports the same shape errors.
//!
//! [`SimulatedDevice`] keeps its buffers in separate host memory and counts every transfer:
//! it runs the whole device path on machines without an accelerator, so that tests can assert
//! what crosses between host and device. `cloak-gpu` implements the trait on CUDA.
//!
//! The elementwise tensor methods without a `Result` (`neg`, `add_scalar`, `flatten`, host
//! views such as `to_vec`) panic if a device fails them (a lost device, memory exhausted):
//! a device error is not recoverable within a computation, and the methods that return
//! `Result` report it as [`RingError::Device`](crate::RingError::Device) instead.

mod host_ops;
pub mod keystream;
mod simulated;
pub mod view;

use std::any::Any;
use std::sync::Arc;

use crate::element::RingElement;
use crate::error::Result;
use crate::tensor::backend::Backend;

pub use host_ops::{assemble, binary, strided_copy, sum_axis, take, unary};
pub use simulated::{SimulatedDevice, Transfers};
pub use view::StridedView;

/// A buffer of ring elements owned by a device. Clones share the buffer (an `Arc`): buffers
/// are immutable once written, so a clone is as good as a copy.
#[derive(Clone)]
pub struct DeviceBuffer {
    inner: Arc<dyn Any + Send + Sync>,
    len: usize,
}

impl DeviceBuffer {
    /// Wraps a device's own buffer type holding `len` elements.
    pub fn new<B: Any + Send + Sync>(buffer: B, len: usize) -> Self {
        Self { inner: Arc::new(buffer), len }
    }

    /// The device's own buffer, if it has type `B` (a device reads back what it made).
    #[must_use]
    pub fn downcast<B: Any>(&self) -> Option<&B> {
        self.inner.downcast_ref::<B>()
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the contents: a buffer usually holds a share.
        write!(f, "DeviceBuffer({} elements)", self.len)
    }
}

/// Elementwise operations of two operands, with NumPy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// Wrapping sum.
    Add,
    /// Wrapping difference.
    Sub,
    /// Wrapping product.
    Mul,
    /// Bitwise XOR.
    Xor,
    /// Bitwise AND.
    And,
    /// Bitwise OR.
    Or,
}

impl BinaryOp {
    /// The operation on two elements.
    #[inline]
    pub fn apply<T: RingElement>(self, x: T, y: T) -> T {
        match self {
            BinaryOp::Add => x.wrapping_add(&y),
            BinaryOp::Sub => x.wrapping_sub(&y),
            BinaryOp::Mul => x.wrapping_mul(&y),
            BinaryOp::Xor => x ^ y,
            BinaryOp::And => x & y,
            BinaryOp::Or => x | y,
        }
    }
}

/// Elementwise operations of one operand (and a public constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp<T> {
    /// Wrapping negation.
    Neg,
    /// Bitwise NOT.
    Not,
    /// Wrapping sum with a constant.
    AddScalar(T),
    /// Wrapping difference with a constant.
    SubScalar(T),
    /// Wrapping product with a constant.
    MulScalar(T),
    /// AND with a constant mask.
    AndScalar(T),
    /// XOR with a constant.
    XorScalar(T),
    /// Arithmetic right shift (`bits < T::BITS`).
    ShrArithmetic(u32),
    /// Logical right shift (`bits < T::BITS`).
    ShrLogical(u32),
    /// Left shift (`bits < T::BITS`).
    Shl(u32),
}

impl<T: RingElement> UnaryOp<T> {
    /// The operation on one element.
    #[inline]
    pub fn apply(self, x: T) -> T {
        match self {
            UnaryOp::Neg => x.wrapping_neg(),
            UnaryOp::Not => !x,
            UnaryOp::AddScalar(s) => x.wrapping_add(&s),
            UnaryOp::SubScalar(s) => x.wrapping_sub(&s),
            UnaryOp::MulScalar(s) => x.wrapping_mul(&s),
            UnaryOp::AndScalar(s) => x & s,
            UnaryOp::XorScalar(s) => x ^ s,
            UnaryOp::ShrArithmetic(b) => x.arithmetic_shr(b),
            UnaryOp::ShrLogical(b) => x >> b as usize,
            UnaryOp::Shl(b) => x << b as usize,
        }
    }
}

/// A device that owns ring tensors' elements: an accelerator, or [`SimulatedDevice`].
///
/// Buffers are row-major and contiguous; a method gets buffers this device made (the
/// tensor layer never mixes devices) and shapes already checked against each other. The
/// products ([`Backend`]) take tensors that live on this device or on the host (the device
/// uploads host operands) and return tensors on this device.
///
/// [`device_conformance_tests!`](crate::device_conformance_tests) checks an implementation
/// against the host, operation by operation.
pub trait Device<T: RingElement>: Backend<T> {
    /// Where the data lives, as users name it (`"cuda:0"`, `"sim:1"`): two handles with the
    /// same label are the same device.
    fn label(&self) -> String;

    /// What crossed between host and device so far, for devices that count it (the
    /// conformance suite then checks that operations stay on the device).
    fn transfers(&self) -> Option<Transfers> {
        None
    }

    /// Copies host elements to a new device buffer.
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device cannot take them.
    fn upload(&self, host: &[T]) -> Result<DeviceBuffer>;

    /// Copies a buffer's elements to the host.
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn download(&self, buffer: &DeviceBuffer) -> Result<Vec<T>>;

    /// A new buffer of `len` elements equal to `value`.
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn fill(&self, len: usize, value: T) -> Result<DeviceBuffer>;

    /// `op(a, b)` elementwise, `a` and `b` broadcast to `out_shape`.
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn binary(
        &self,
        op: BinaryOp,
        a: (&DeviceBuffer, &[usize]),
        b: (&DeviceBuffer, &[usize]),
        out_shape: &[usize],
    ) -> Result<DeviceBuffer>;

    /// `op(a)` elementwise.
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn unary(&self, op: UnaryOp<T>, a: &DeviceBuffer) -> Result<DeviceBuffer>;

    /// The elements `view` selects from `src`, contiguous in the view's row-major order.
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn strided_copy(&self, src: &DeviceBuffer, view: &StridedView) -> Result<DeviceBuffer>;

    /// A buffer of `len` elements equal to `fill`, then each part's elements written (in
    /// row-major order) where its view points: concatenation and padding.
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn assemble(
        &self,
        len: usize,
        fill: T,
        parts: &[(&DeviceBuffer, StridedView)],
    ) -> Result<DeviceBuffer>;

    /// `out[i] = src[indices[i]]`: selection by public indices (the indices cross to the
    /// device; the elements do not).
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn take(&self, src: &DeviceBuffer, indices: &[usize]) -> Result<DeviceBuffer>;

    /// Wrapping sum along `axis` of a tensor of `shape` (the axis removed).
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn sum_axis(&self, src: &DeviceBuffer, shape: &[usize], axis: usize) -> Result<DeviceBuffer>;

    /// `len` words of a pseudo-random stream made on the device, so that shares drawn from
    /// a seed never cross from the host: the AES-128-CTR keystream under `key` (counter
    /// block `i` is `AES_key(i)` with `i` big-endian; see [`keystream`]), read as
    /// little-endian `T` words from word `first_word` on. This is the stream of
    /// `cloak_prg::Prg` for a seed of these bytes. `Ok(None)` if the device cannot make
    /// it (the default): the caller then draws on the host and uploads.
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn keystream(
        &self,
        key: &[u8; 16],
        first_word: u64,
        len: usize,
    ) -> Result<Option<DeviceBuffer>> {
        let _ = (key, first_word, len);
        Ok(None)
    }

    /// The little-endian wire bytes of a buffer: the one download a protocol needs. The
    /// default downloads and encodes on the host; a device may encode first.
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn to_le_bytes(&self, buffer: &DeviceBuffer) -> Result<Vec<u8>> {
        let host = self.download(buffer)?;
        let mut out = vec![0u8; host.len() * T::BYTES];
        for (chunk, &x) in out.chunks_exact_mut(T::BYTES).zip(&host) {
            x.write_le(chunk);
        }
        Ok(out)
    }

    /// A buffer from little-endian wire bytes (whole elements: the tensor layer checks the
    /// length). The default decodes on the host and uploads.
    ///
    /// # Errors
    /// [`RingError::Device`](crate::RingError::Device) if the device fails.
    fn upload_le_bytes(&self, bytes: &[u8]) -> Result<DeviceBuffer> {
        let host: Vec<T> = bytes.chunks_exact(T::BYTES).map(T::read_le).collect();
        self.upload(&host)
    }
}

/// A shared handle to a device, as tensors hold it.
pub type DeviceRef<T> = Arc<dyn Device<T>>;
