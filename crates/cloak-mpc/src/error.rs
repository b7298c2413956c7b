//! The protocol layer's error type: one enum, with the lower layers' errors inside.

use cloak_comm::CommError;
use cloak_dealer::DealerError;
use cloak_prg::PrgError;
use cloak_ring::RingError;

/// Why a protocol failed. Shape and encoding problems are caught before anything is sent;
/// a peer that fails, stalls or diverges gives a communication error naming it.
#[derive(Debug, thiserror::Error)]
pub enum MpcError {
    /// A shape mismatch, a value that is not finite or overflows the fixed-point range, or
    /// another problem with the operands, found by the ring layer.
    #[error(transparent)]
    Ring(#[from] RingError),
    /// The communicator failed: a peer disconnected, stalled, diverged or sent garbage.
    #[error(transparent)]
    Comm(#[from] CommError),
    /// The dealer could not provide correlated randomness.
    #[error(transparent)]
    Dealer(#[from] DealerError),
    /// Seed set-up failed.
    #[error(transparent)]
    Prg(#[from] PrgError),
    /// A peer's message had the wrong size for the protocol step.
    #[error("malformed message from party {peer} in {op}: {reason}")]
    Malformed {
        /// The protocol step.
        op: &'static str,
        /// The sender.
        peer: usize,
        /// What was wrong.
        reason: String,
    },
    /// An argument the protocol cannot work with (not a shape problem).
    #[error("invalid argument to {op}: {reason}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The session's protocol context was in use: a primitive or shared-tensor operation
    /// was called while [`Session::context`](crate::Session::context) was held.
    #[error("the session's context is in use (an operation was started while a protocol held it)")]
    SessionBusy,
    /// Two shared tensors from different sessions were combined.
    #[error("{op}: operands belong to different sessions")]
    SessionMismatch {
        /// The operation.
        op: &'static str,
    },
}

/// Results of this crate.
pub type Result<T, E = MpcError> = std::result::Result<T, E>;

pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> MpcError {
    MpcError::InvalidArgument { op, reason: reason.into() }
}
