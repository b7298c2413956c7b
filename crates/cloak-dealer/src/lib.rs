//! Correlated randomness for Cloak's MPC protocols.
//!
//! A *dealer* hands the parties shares of random values with a known relation: Beaver
//! triples `(a, b, f(a, b))` for every bilinear op `f` the layers above use ([`BilinearOp`]),
//! square pairs, binary (AND) triples, truncation pairs valid for any number of parties, and
//! random bits shared both additively and in XOR. Protocols spend them to multiply, compare
//! and convert in one round per step.
//!
//! Every party's shares come from a seed it shares with the dealer, so per request only one
//! party (party 0, the *correction party*) needs anything sent: its dependent shares,
//! computed by the dealer from every seed ([`Request`] explains the split). Two providers:
//!
//! - [`TrustedFirstParty`]: party 0 is the dealer; no communication per request. Insecure
//!   against party 0; for tests and benchmarks, as CrypTen's default.
//! - [`TtpClient`] / [`TtpServer`]: the dealer is its own process, an extra rank on the
//!   communicator (channels or TCP); only party 0 talks to it, one round trip per request.
//!
//! A product by a fixed operand (a model's weight, used for many inferences) reuses one
//! *persistent mask* for that operand ([`Dealer::persistent_share`],
//! [`Request::TripleFixedRhs`]), so the operand's masked value is opened once, not per
//! product.
//!
//! The arithmetic of generation is kept apart from I/O (`generate`), so a new provider (one
//! made by the parties themselves, say) reuses it.

mod bytes;
mod elementwise;
mod error;
mod generate;
mod op;
mod persistent;
mod provider;
mod request;
mod shares;
mod tfp;
mod ttp;

pub use cloak_ring::BilinearOp;
pub use error::DealerError;
pub use generate::{CORRECTION_PARTY, DealerStats};
pub use provider::{Dealer, Pending};
pub use request::{Component, Layout, MAX_COMPONENT_WORDS, Request, ShareKind};
pub use shares::{BinaryTriple, FixedRhsTriple, RandomBits, Shares, SquarePair, Triple, TruncPair};
pub use tfp::TrustedFirstParty;
pub use ttp::{TtpClient, TtpServer, run_dealer};

/// The statistics label under which a dealer's communication is counted.
pub const DEALER_LABEL: &str = "dealer";

/// Bytes of a request on the wire (for tests of the codec and of malformed input).
#[doc(hidden)]
pub fn encode_request(request: &Request) -> Vec<u8> {
    let mut w = bytes::Writer::default();
    request.write(&mut w);
    w.0
}

/// Decodes [`encode_request`]'s bytes.
///
/// # Errors
/// [`DealerError::Malformed`] for truncated, trailing or unknown data.
#[doc(hidden)]
pub fn decode_request(data: &[u8]) -> Result<Request, DealerError> {
    let mut r = bytes::Reader::new(data, 0);
    let req = Request::read(&mut r)?;
    r.finish()?;
    Ok(req)
}
