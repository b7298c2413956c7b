//! The one error type of `cloak-ring`.
//!
//! Every variant carries the values a user needs to find the mistake (the shapes that did not
//! match, the value that did not fit), because a failure deep inside a protocol is otherwise
//! very hard to trace back to the input that caused it.

use thiserror::Error;

/// Errors of ring arithmetic, fixed-point encoding and tensor operations.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RingError {
    /// Two operands' shapes are incompatible for `op` (after broadcasting, where it applies).
    #[error("{op}: shapes {lhs:?} and {rhs:?} are incompatible")]
    ShapeMismatch {
        /// The operation that was attempted.
        op: &'static str,
        /// Shape of the left operand.
        lhs: Vec<usize>,
        /// Shape of the right operand.
        rhs: Vec<usize>,
    },
    /// A shape argument is invalid for `op` (wrong number of elements, wrong rank, ...).
    #[error("{op}: invalid shape {shape:?}: {reason}")]
    InvalidShape {
        /// The operation that was attempted.
        op: &'static str,
        /// The offending shape.
        shape: Vec<usize>,
        /// Why it is invalid.
        reason: String,
    },
    /// An axis argument does not exist in a tensor of `ndim` dimensions.
    #[error("{op}: axis {axis} out of range for a tensor of {ndim} dimensions")]
    AxisOutOfRange {
        /// The operation that was attempted.
        op: &'static str,
        /// The requested axis.
        axis: usize,
        /// The tensor's number of dimensions.
        ndim: usize,
    },
    /// An index (or slice bound) is outside an axis of length `len`.
    #[error("{op}: index {index} out of range for axis {axis} of length {len}")]
    IndexOutOfRange {
        /// The operation that was attempted.
        op: &'static str,
        /// The axis indexed.
        axis: usize,
        /// The offending index.
        index: usize,
        /// The axis length.
        len: usize,
    },
    /// A value to encode is NaN or infinite.
    #[error("cannot encode {value} (element {index}): not a finite number")]
    NotFinite {
        /// The offending value.
        value: f64,
        /// Its flat (row-major) index in the input, 0 for scalars.
        index: usize,
    },
    /// A value to encode is outside the range the fixed-point format represents. The
    /// message names the element, not its value: the value is often a private input, and
    /// messages travel (a party's failure is announced to its peers) and get logged; the
    /// owner reads it from the `value` field.
    #[error(
        "cannot encode element {index}: outside [{min}, {max}], the range representable with \
         {frac_bits} fractional bits in a {ring_bits}-bit ring"
    )]
    OutOfRange {
        /// The offending value.
        value: f64,
        /// Its flat (row-major) index in the input, 0 for scalars.
        index: usize,
        /// Smallest representable value.
        min: f64,
        /// Largest representable value.
        max: f64,
        /// Fractional bits of the format.
        frac_bits: u32,
        /// Bits of the ring.
        ring_bits: u32,
    },
    /// The fixed-point precision does not fit the ring.
    #[error("{frac_bits} fractional bits do not fit a {ring_bits}-bit ring (at most {max})")]
    InvalidPrecision {
        /// Requested fractional bits.
        frac_bits: u32,
        /// Bits of the ring.
        ring_bits: u32,
        /// Largest accepted value.
        max: u32,
    },
    /// A byte buffer does not have the length the shape and element width require.
    #[error("wire decoding: expected {expected} bytes for shape {shape:?}, got {got}")]
    ByteLength {
        /// Expected length in bytes.
        expected: usize,
        /// Received length in bytes.
        got: usize,
        /// The shape being decoded.
        shape: Vec<usize>,
    },
    /// A convolution's parameters do not fit its operands.
    #[error("{op}: {reason}")]
    InvalidConv {
        /// The operation that was attempted.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A device failed an operation (lost, out of memory, handed a foreign buffer).
    #[error("device {device}: {reason}")]
    Device {
        /// The device's label (`cuda:0`, `sim:1`).
        device: String,
        /// What failed.
        reason: String,
    },
    /// The operands of `op` live on different devices.
    #[error("{op}: operands on {lhs} and {rhs}; move one with to_device or to_host")]
    DeviceMismatch {
        /// The operation that was attempted.
        op: &'static str,
        /// Where the left operand lives.
        lhs: String,
        /// Where the right operand lives.
        rhs: String,
    },
    /// An argument is out of its allowed range (shift amount, bit index, ...).
    #[error("{op}: invalid argument: {reason}")]
    InvalidArgument {
        /// The operation that was attempted.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The number of elements of `shape`, or a typed error if it overflows `usize` (a corrupt or
/// hostile shape must not wrap around to a small count).
pub fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
        RingError::InvalidShape {
            op,
            shape: shape.to_vec(),
            reason: "element count overflows usize".into(),
        }
    })
}

/// Result alias of `cloak-ring`.
pub type Result<T, E = RingError> = std::result::Result<T, E>;
