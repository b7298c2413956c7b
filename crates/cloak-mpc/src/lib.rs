//! Shared tensors and the MPC protocols of Cloak.
//!
//! A [`Session`] is one party's context (communicator, dealer, seeds, configuration). An
//! [`AShare`] is its share of a secret fixed-point tensor; every party runs the same program
//! on its shares, and only what the program reveals becomes public. Protocols:
//!
//! - linear operations, shape operations and products with public values: local;
//! - products of shared values (elementwise, matmul, convolutions and their gradients):
//!   Beaver triples, one round; then truncation ([`Truncation`]);
//! - binary shares ([`BShare`]), A2B and B2A conversions, comparisons, ReLU, max/argmax
//!   and pooling on top.
//!
//! Every protocol step sends one message per peer per round, and its rounds and bytes are
//! counted under the operation's label in [`Session::comm_stats`].

mod adder;
mod ashare;
mod beaver;
mod binary;
mod compare;
mod config;
mod convert;
mod error;
mod open;
mod pool;
mod reduce;
mod session;
mod trunc;

pub use ashare::AShare;
pub use binary::BShare;
pub use config::{DealerKind, SessionConfig, Truncation};
pub use error::{MpcError, Result};
pub use pool::Pool2dSpec;
pub use reduce::MaxMethod;
pub use session::Session;
