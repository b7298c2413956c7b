//! One error type for user code: every layer's error converts into [`Error`] with `?`, so a
//! program that loads a model, sets up a session and runs it needs no `map_err`.

use cloak_autograd::AutogradError;
use cloak_comm::CommError;
use cloak_dealer::DealerError;
use cloak_mpc::MpcError;
use cloak_nn::NnError;
use cloak_onnx::OnnxError;

use crate::npy::NpyError;

/// Why a Cloak program failed: the error of the layer that failed (with its structured
/// fields intact, for code that wants to match on them), or a failure of the facade's own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The protocol layer (shares, protocols, the session).
    #[error(transparent)]
    Mpc(#[from] MpcError),
    /// The autodiff layer.
    #[error(transparent)]
    Autograd(#[from] AutogradError),
    /// The module layer (loading weights, training helpers).
    #[error(transparent)]
    Nn(#[from] NnError),
    /// ONNX import: reading, checking, building or running a model.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// Communication (rendezvous, a peer that died or stalled).
    #[error(transparent)]
    Comm(#[from] CommError),
    /// The correlated-randomness provider (a third-party dealer process).
    #[error(transparent)]
    Dealer(#[from] DealerError),
    /// Reading or writing a `.npy` file.
    #[error(transparent)]
    Npy(#[from] NpyError),
    /// Any other I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The caller's input cannot be shared: a wrong shape, a NaN or infinity (named by its
    /// index, never by its value), a value outside the fixed-point range. Reported at the
    /// data owner; the other parties get [`Error::Refused`].
    #[error("input: {reason}")]
    Input {
        /// What is wrong.
        reason: String,
    },
    /// Another party refused to go on: its own checks failed (it reports why), so this one
    /// stops too rather than waiting for a message that will never come.
    #[error("party {party} refused its {what}")]
    Refused {
        /// The party that refused.
        party: usize,
        /// What it refused to provide ("input", "model", ...).
        what: String,
    },
    /// An argument the facade cannot work with (a number of parties, a role out of range).
    #[error("{what}: {reason}")]
    InvalidArgument {
        /// The argument.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A compute device could not be opened (no CUDA driver on this machine, no GPU of that
    /// ordinal); the session was not started.
    #[error("device {device}: {reason}")]
    Device {
        /// The device as named (`cuda:0`).
        device: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// One party of a local run failed; the error is the one that caused the run to stop
    /// (see [`run_local`](crate::run_local)).
    #[error("party {rank}: {source}")]
    Party {
        /// The rank that failed (the dealer is the rank after the last party).
        rank: usize,
        /// Its error.
        source: Box<Error>,
    },
    /// One party of a local run panicked (a bug: Cloak's code returns errors).
    #[error("party {rank} panicked: {message}")]
    Panicked {
        /// The rank.
        rank: usize,
        /// The panic message.
        message: String,
    },
}

/// Results of the facade.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The communication error inside, at any depth of the layers.
    #[must_use]
    pub fn comm(&self) -> Option<&CommError> {
        match self {
            Error::Comm(c) => Some(c),
            Error::Mpc(m) => mpc_comm(m),
            Error::Autograd(a) => autograd_comm(a),
            Error::Nn(n) => nn_comm(n),
            Error::Onnx(o) => onnx_comm(o),
            Error::Dealer(d) => dealer_comm(d),
            Error::Party { source, .. } => source.comm(),
            _ => None,
        }
    }

    /// Whether this party failed only because another one did: a peer disconnected, stalled,
    /// aborted (said it failed) or failed the communicator, or refused to go on. When
    /// several parties fail together, the one whose error is *not* a consequence is the one
    /// to report.
    #[must_use]
    pub fn is_consequence(&self) -> bool {
        match self {
            Error::Refused { .. } => true,
            Error::Party { source, .. } => source.is_consequence(),
            Error::Nn(NnError::State { reason, .. }) => reason.ends_with("refused its state"),
            _ => matches!(
                self.comm(),
                Some(
                    CommError::Disconnected { .. }
                        | CommError::Timeout { .. }
                        | CommError::Aborted { .. }
                        | CommError::Failed { .. }
                )
            ),
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { what, reason: reason.into() }
    }
}

fn dealer_comm(e: &DealerError) -> Option<&CommError> {
    match e {
        DealerError::Comm(c) => Some(c),
        _ => None,
    }
}

fn mpc_comm(e: &MpcError) -> Option<&CommError> {
    match e {
        MpcError::Comm(c) => Some(c),
        MpcError::Dealer(d) => dealer_comm(d),
        _ => None,
    }
}

fn autograd_comm(e: &AutogradError) -> Option<&CommError> {
    match e {
        AutogradError::Mpc(m) => mpc_comm(m),
        _ => None,
    }
}

fn nn_comm(e: &NnError) -> Option<&CommError> {
    match e {
        NnError::Autograd(a) => autograd_comm(a),
        _ => None,
    }
}

fn onnx_comm(e: &OnnxError) -> Option<&CommError> {
    match e {
        OnnxError::Node { source, .. } => autograd_comm(source),
        OnnxError::Autograd(a) => autograd_comm(a),
        OnnxError::Nn(n) => nn_comm(n),
        _ => None,
    }
}
