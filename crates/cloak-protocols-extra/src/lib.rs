//! Protocol pieces written outside Cloak's protocol and dealer crates, using only their
//! public APIs: a template for researchers, and the proof that the seams hold.
//!
//! - [`FullAdderSign`]: CrypTen's comparison (the sign bit is the top bit of the full A2B
//!   sum, a Kogge-Stone adder over 64-bit words) as a
//!   [`ComparisonProtocol`](cloak_mpc::primitives::ComparisonProtocol), written with the
//!   primitives of [`cloak_mpc::primitives`].
//! - [`CountingDealer`]: wraps any [`Dealer`](cloak_dealer::Dealer) and counts the requests
//!   it passes on, by kind, and their words.
//!
//! Both pass the exported conformance suites (see this crate's tests).

mod counting;
mod full_adder;

pub use counting::{CountingDealer, RequestCounts};
pub use full_adder::FullAdderSign;
