//! Shared tensors and the MPC protocols of Cloak.
//!
//! A [`Session`] is one party's context (communicator, dealer, seeds, configuration). An
//! [`AShare`] is its share of a secret fixed-point tensor; every party runs the same program
//! on its shares, and only what the program reveals becomes public. Protocols:
//!
//! - linear operations, shape operations and products with public values: local;
//! - division by a public integer: one round with a dealer division pair, within two units
//!   in the last place at any magnitude ([`AShare::div_int`]);
//! - products of shared values (elementwise, matmul, convolutions and their gradients):
//!   Beaver triples, one round; then truncation ([`Truncation`]). A right operand used for
//!   many products (a model's weight) can be fixed once ([`AShare::fix`], [`FixedOperand`]),
//!   after which each product opens only its left operand;
//! - binary shares ([`BShare`]), A2B and B2A conversions, comparisons, ReLU, max/argmax
//!   and pooling on top.
//!
//! Every protocol step sends one message per peer per round, and its rounds and bytes are
//! counted under the operation's label in [`Session::comm_stats`].
//!
//! ```
//! use cloak_mpc::{AShare, SessionConfig, run_local};
//! use ndarray::{ArrayD, IxDyn};
//!
//! // Two parties on this machine: party 0 owns `x`, party 1 owns `y`.
//! let x = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.5, -2.0, 0.25]).unwrap();
//! let y = ArrayD::from_shape_vec(IxDyn(&[3]), vec![4.0, 3.0, -8.0]).unwrap();
//! let outcomes = run_local(2, &SessionConfig::default(), |s| {
//!     let xs = AShare::share(s, 0, (s.rank() == 0).then_some(&x), &[3])?;
//!     let ys = AShare::share(s, 1, (s.rank() == 1).then_some(&y), &[3])?;
//!     let product = xs.mul(&ys)?.relu()?; // max(x * y, 0), computed on shares
//!     product.reveal()
//! });
//! for revealed in outcomes {
//!     let revealed = revealed.unwrap();
//!     assert!((revealed[0] - 6.0).abs() < 1e-3 && revealed[1] == 0.0 && revealed[2] == 0.0);
//! }
//! ```

// Layers inside the crate, bottom up (`cargo xtask layers` checks there is no circle):
// error; primitives (the public protocol context and strategies); config; session, launch;
// ashare, binary; convert, compare, reduce, pool; functions; conformance.
mod ashare;
mod binary;
mod compare;
mod config;
pub mod conformance;
mod convert;
mod error;
pub mod functions;
mod launch;
mod pool;
pub mod primitives;
mod reduce;
mod session;

pub use ashare::{AShare, FixedOperand};
pub use binary::BShare;
pub use config::{
    DealerKind, DomainChecks, ErfMethod, ExpMethod, FunctionConfig, LogMethod, ReciprocalMethod,
    SessionConfig, SigmoidMethod, SqrtMethod, TrigMethod,
};
pub use error::{MpcError, Result};
pub use functions::DomainStat;
pub use launch::{PartyOutcomes, run_dealer, run_local, run_local_typed, run_local_with};
pub use primitives::{ComparisonStrategy, ComputeDevice, Truncation, TruncationStrategy};
pub use reduce::{MaxMethod, PAIRWISE_LIMIT};
pub use session::Session;

/// What users of this crate pass around with shared tensors, re-exported so that they need
/// not depend on the lower crates for it.
pub use cloak_comm::runner::PartyFailure;
pub use cloak_ring::{FixedPoint, Pool2dSpec, RingTensor};
