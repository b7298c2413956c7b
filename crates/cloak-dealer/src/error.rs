//! The dealer's error type.

use cloak_comm::CommError;
use cloak_ring::RingError;

/// Why a dealer request failed.
#[derive(Debug, thiserror::Error)]
pub enum DealerError {
    /// The request's shapes are inconsistent (for example a matmul with mismatched inner
    /// dimensions); the ring layer says which.
    #[error("invalid request: {0}")]
    Ring(#[from] RingError),
    /// Talking to the dealer (or, at the dealer, to a party) failed.
    #[error("dealer communication failed: {0}")]
    Comm(#[from] CommError),
    /// A request or correction on the wire could not be decoded.
    #[error("malformed dealer message from rank {peer}: {reason}")]
    Malformed {
        /// Who sent it.
        peer: usize,
        /// What was wrong.
        reason: String,
    },
    /// The dealer and party 0 disagree on which request comes next: the parties are not
    /// running the same program.
    #[error(
        "dealer out of sync: party asked for request #{party_counter}, dealer is at #{dealer_counter}"
    )]
    OutOfSync {
        /// The party's request counter.
        party_counter: u64,
        /// The dealer's request counter.
        dealer_counter: u64,
    },
    /// The layout of parties and dealer is impossible (fewer than two parties, a rank out
    /// of range, a dealer rank that collides with a party).
    #[error("invalid dealer setup: {reason}")]
    Setup {
        /// What was wrong.
        reason: String,
    },
    /// The provider does not offer this kind of randomness (for example persistent masks
    /// from a provider without per-party seeds).
    #[error("the {provider} dealer does not support {what}")]
    Unsupported {
        /// The provider's name.
        provider: &'static str,
        /// What was asked.
        what: &'static str,
    },
    /// A request of a custom kind the dealer has no decoder for (see
    /// [`Correlations`](crate::Correlations)).
    #[error("the dealer does not know the correlation kind {kind:?}")]
    UnknownCorrelation {
        /// The kind asked for.
        kind: String,
    },
    /// A custom correlation broke its own contract (values of shapes other than its
    /// layout's, a decoder that made another kind, no relation at all).
    #[error("correlation {kind:?}: {reason}")]
    Correlation {
        /// The kind.
        kind: String,
        /// What was wrong.
        reason: String,
    },
    /// The operating system could not provide entropy for fresh seeds.
    #[error("could not draw seeds: {0}")]
    Prg(#[from] cloak_prg::PrgError),
}
