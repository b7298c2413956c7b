//! The autodiff layer's error type: one enum with structured fields, the protocol layer's
//! errors inside.

use cloak_mpc::MpcError;

/// Why a differentiable operation, a backward pass or a gradient query failed.
#[derive(Debug, thiserror::Error)]
pub enum AutogradError {
    /// The protocol layer failed (a peer, the dealer, a value out of the fixed-point range).
    #[error(transparent)]
    Mpc(#[from] MpcError),
    /// Operand shapes that do not fit the operation.
    #[error("{op}: shapes {lhs:?} and {rhs:?} do not fit")]
    ShapeMismatch {
        /// The operation.
        op: &'static str,
        /// The first operand's shape.
        lhs: Vec<usize>,
        /// The second operand's shape (or the expected one).
        rhs: Vec<usize>,
    },
    /// An argument the operation cannot work with (not a shape pair).
    #[error("invalid argument to {op}: {reason}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `backward` reached a node whose graph was already consumed by an earlier backward
    /// pass (graphs are freed as they are used, as in PyTorch without `retain_graph`).
    #[error("backward through {op} a second time: its graph was freed by the first backward")]
    GraphFreed {
        /// The operation whose saved tensors are gone.
        op: &'static str,
    },
    /// `backward` was called on a tensor that no gradient flows to.
    #[error("backward on a tensor that does not require grad")]
    NoGradFn,
    /// `backward` without an explicit gradient needs a one-element output.
    #[error("backward without a gradient needs a one-element output, got shape {shape:?}")]
    NotScalar {
        /// The output's shape.
        shape: Vec<usize>,
    },
    /// A gradient was asked of a tensor that has none.
    #[error("{what} has no gradient: {reason}")]
    MissingGrad {
        /// What was asked.
        what: String,
        /// Why there is none.
        reason: &'static str,
    },
    /// A value that is NaN or infinite where a finite one is needed.
    #[error("{op}: value {value} is not finite")]
    NotFinite {
        /// The operation.
        op: &'static str,
        /// The offending value.
        value: f64,
    },
}

/// Results of this crate.
pub type Result<T, E = AutogradError> = std::result::Result<T, E>;

pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> AutogradError {
    AutogradError::InvalidArgument { op, reason: reason.into() }
}

pub(crate) fn shape_mismatch(op: &'static str, lhs: &[usize], rhs: &[usize]) -> AutogradError {
    AutogradError::ShapeMismatch { op, lhs: lhs.to_vec(), rhs: rhs.to_vec() }
}
