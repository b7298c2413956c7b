//! The neural-network layer's error type.

use cloak_autograd::AutogradError;
use cloak_mpc::MpcError;

/// Why building, running, saving or training a model failed.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// An operation or its backward pass failed (shapes, protocol, peers).
    #[error(transparent)]
    Autograd(#[from] AutogradError),
    /// A bad configuration value or argument.
    #[error("invalid argument to {op}: {reason}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A saved file or a data set that does not have the expected contents.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Loading state that does not fit the model.
    #[error("state for {name}: {reason}")]
    State {
        /// The parameter or buffer.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Drawing the loss curve failed.
    #[error("plot {path}: {reason}")]
    Plot {
        /// The image file.
        path: String,
        /// The drawing backend's message.
        reason: String,
    },
}

impl From<MpcError> for NnError {
    fn from(e: MpcError) -> Self {
        Self::Autograd(AutogradError::Mpc(e))
    }
}

/// Results of this crate.
pub type Result<T, E = NnError> = std::result::Result<T, E>;

pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> NnError {
    NnError::InvalidArgument { op, reason: reason.into() }
}
