//! Correlated randomness for Cloak's MPC protocols.
//!
//! A *dealer* hands the parties shares of random values with a known relation: Beaver
//! triples `(a, b, f(a, b))` for every bilinear op `f` the layers above use ([`BilinearOp`]),
//! square pairs, binary (AND) triples, truncation pairs valid for any number of parties,
//! random bits shared both additively and in XOR, and comparison masks (a random value with
//! its bits, edaBits, or with the tables of its 4-bit digits). Protocols spend them to
//! multiply, compare and convert in one round per step. A crate above can define further kinds
//! ([`Correlation`], asked for with [`Request::custom`]).
//!
//! # Delivery
//!
//! Every request is laid out as *free*, *dependent* and *dealt* components ([`Layout`]).
//! Every party's shares of the free components, and every party's but party 0's (the
//! *correction party*, [`CORRECTION_PARTY`]) shares of the dependent ones, come from a seed
//! it shares with the dealer, so nothing is sent for them. The dealer computes, from every
//! seed, party 0's dependent shares (the *correction*), and for a kind with dealt
//! components (keys of a function secret sharing, say: material no seed can give, different
//! per party) every party's own part. So per request:
//!
//! - built-in requests (no dealt components): one message, the correction to party 0;
//! - requests with dealt components: the correction and party 0's part to party 0, and to
//!   every other party its part.
//!
//! Two providers:
//!
//! - [`TrustedFirstParty`]: party 0 is the dealer; no communication for built-in requests,
//!   one message from party 0 to each other party for a request with dealt components.
//!   Insecure against party 0; for tests and benchmarks, as CrypTen's default.
//! - [`TtpClient`] / [`TtpServer`]: the dealer is its own process, an extra rank on the
//!   communicator (channels or TCP); party 0 sends it each request and receives the
//!   correction, one round trip per request, and the other parties hear from it only for
//!   requests with dealt components. It serves custom kinds whose decoders are registered
//!   with it ([`Correlations`], [`run_dealer_with`]).
//!
//! All dealer traffic is counted under [`DEALER_LABEL`].
//!
//! A product by a fixed operand (a model's weight, used for many inferences) reuses one
//! *persistent mask* for that operand ([`Dealer::persistent_share`],
//! [`Request::TripleFixedRhs`]), so the operand's masked value is opened once, not per
//! product.
//!
//! The arithmetic of generation is kept apart from I/O ([`generate`]), so a new provider
//! (one made by the parties themselves, say) reuses it, and [`conformance`] checks any
//! provider against the relation of every request.

mod bytes;
mod codec;
pub mod conformance;
mod correlation;
mod deliver;
mod elementwise;
mod error;
pub mod generate;
mod layout;
mod op;
pub mod persistent;
mod preprocess;
mod provider;
mod relation;
mod request;
mod shares;
mod stats;
mod streams;
mod tfp;
mod ttp;

pub use cloak_ring::BilinearOp;
pub use correlation::{
    Correlation, Correlations, CustomRequest, ElementwiseRule, MAX_KIND_LEN, MAX_PARAMS_LEN,
};
pub use error::DealerError;
pub use generate::CORRECTION_PARTY;
pub use layout::{
    Component, Layout, MAX_COMPONENT_WORDS, MAX_COMPONENTS, MAX_REQUEST_WORDS, ShareKind,
};
pub use preprocess::{PreprocessHandle, PreprocessStats, Preprocessed};
pub use provider::{Dealer, Pending};
pub use request::{MAX_MASK_SUBSETS, MAX_MASK_VARS, Request};
pub use shares::{
    BinaryTriple, DigitTableShares, EdaBitShares, FixedRhsTriple, InjectionMask, MaskProductShares,
    RandomBits, Shares, SquarePair, Triple, TruncDigitTableShares, TruncPair,
};
pub use stats::DealerStats;
pub use tfp::TrustedFirstParty;
pub use ttp::{TtpClient, TtpServer, run_dealer, run_dealer_with};

/// The statistics label under which a dealer's communication is counted.
pub const DEALER_LABEL: &str = "dealer";

/// Bytes of a request on the wire (for tests of the codec and of malformed input).
#[doc(hidden)]
pub fn encode_request(request: &Request) -> Vec<u8> {
    let mut w = bytes::Writer::default();
    codec::write_request(request, &mut w);
    w.0
}

/// Decodes [`encode_request`]'s bytes; custom kinds are unknown.
///
/// # Errors
/// [`DealerError::Malformed`] for truncated, trailing or unknown data;
/// [`DealerError::UnknownCorrelation`] for a custom kind.
#[doc(hidden)]
pub fn decode_request(data: &[u8]) -> Result<Request, DealerError> {
    decode_request_with(data, &Correlations::new())
}

/// Decodes [`encode_request`]'s bytes, custom kinds with `correlations`.
///
/// # Errors
/// As [`decode_request`], and a decoder's own error.
#[doc(hidden)]
pub fn decode_request_with(
    data: &[u8],
    correlations: &Correlations,
) -> Result<Request, DealerError> {
    let mut r = bytes::Reader::new(data, 0);
    let req = codec::read_request(&mut r, correlations)?;
    r.finish()?;
    Ok(req)
}
