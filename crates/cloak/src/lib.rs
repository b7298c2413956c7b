#![doc = include_str!("../README.md")]
//!
//! ## The layers
//!
//! Each crate of the workspace is re-exported under a short name ([`ring`], [`gpu`], [`comm`],
//! [`dealer`], [`mpc`], [`autograd`], [`nn`], [`onnx`]) for what the prelude leaves out.

mod classify;
pub mod device;
mod error;
mod infer;
mod local;
pub mod npy;

use std::path::Path;

pub use cloak_autograd as autograd;
pub use cloak_comm as comm;
pub use cloak_dealer as dealer;
pub use cloak_gpu as gpu;
pub use cloak_mpc as mpc;
pub use cloak_nn as nn;
pub use cloak_onnx as onnx;
pub use cloak_ring as ring;

pub use classify::{predicted_classes, top_k};
pub use error::{Error, Result};
pub use infer::{Roles, Stage, infer, infer_observed};
pub use local::run_local;

/// What a program using Cloak needs in scope: sessions, shared tensors, the autodiff
/// backends, modules, ONNX models, and the errors of every layer.
pub mod prelude {
    pub use crate::{Error, Roles, Stage};
    pub use cloak_autograd::{AutogradError, Backend, Plain, Secure, Var};
    pub use cloak_comm::CommError;
    pub use cloak_mpc::{AShare, DealerKind, MpcError, Session, SessionConfig, Truncation};
    pub use cloak_nn::{Module, ModuleExt, NnError, StateDict};
    pub use cloak_onnx::{OnnxError, OnnxGraph, OnnxModel};
}

/// Loads and checks an ONNX model file: the model owner's view, weights included
/// ([`OnnxModel::load`](cloak_onnx::OnnxModel::load)).
///
/// # Errors
/// A missing or unreadable file, or one that is not a valid ONNX model Cloak can read.
pub fn from_onnx(path: impl AsRef<Path>) -> Result<cloak_onnx::OnnxModel> {
    Ok(cloak_onnx::OnnxModel::load(path)?)
}

/// Compiles and runs the Rust examples of the workspace README as doctests (this crate sits
/// above every crate they use), so that they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExamples;
