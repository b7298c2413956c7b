//! ONNX import: a model trained in PyTorch (or anything that exports ONNX) runs privately
//! in Cloak, or in plain `f64` as its reference, forward and backward.
//!
//! - [`OnnxModel::load`] parses and checks a `.onnx` file (opsets 13 to 21, both of
//!   PyTorch's exporters) without trusting it: truncated or hostile files, cycles, unknown
//!   data types and oversized declarations are typed errors, never panics or huge
//!   allocations.
//! - The model's tensors split into **public** structure (the graph, shapes, constants that
//!   only shapes, indices or exponents use) and the **owner's weights**.
//!   [`OnnxModel::public_bytes`] is what the other parties receive; the weights are
//!   secret-shared by [`load_state`](cloak_nn::ModuleExt::load_state) and never travel in
//!   the clear.
//! - [`OnnxModel::build`] binds the model to any autograd backend for an input shape: every
//!   public computation is folded and every shape inferred first, identically at every
//!   party. The result is a [`cloak_nn::Module`], so it runs, reveals, checkpoints and
//!   fine-tunes (backward through the imported graph) like a hand-written model.
//! - [`OnnxModel::report`] describes the model before any party starts: operators,
//!   parameters, multiply-accumulates, non-linear elements and the estimated rounds and bytes
//!   per party, and lists every node that is not supported.
//! - The first graph input is the data owner's: real numbers, or integer **token ids**
//!   ([`InputKind::TokenIds`]), which the data owner encodes one-hot in the clear
//!   ([`OnnxModel::encode_input`], checking every id) before sharing, so that each embedding
//!   lookup `Gather(table, ids)` is one product `one_hot @ table` (one round; each of two
//!   parties sends `8 (n vocab + vocab d)` bytes for `n` ids into a `vocab x d` table). Further
//!   graph inputs are **public** ([`OnnxModel::set_public_input`], the same value at every
//!   party: a key-padding mask), and what depends on them alone is folded. A public `-inf`
//!   (a mask's fill) that meets private data becomes `-32768`, which a softmax weighs as 0.
//! - Transformer encoders as PyTorch exports them (`nn.TransformerEncoder`,
//!   `nn.MultiheadAttention`, BERT-style models): LayerNormalization (or the ReduceMean, Sub,
//!   Pow, Sqrt, Div it decomposes into, where `a / sqrt(v)` runs as `a * v^-0.5`,
//!   [`ImportOptions::inv_sqrt`]), Erf-based GELU, products of two shared operands, Softmax,
//!   head reshapes and transposes, masks.
//!
//! ```no_run
//! use cloak_autograd::{Backend, Plain, Var};
//! use cloak_nn::{Module, ModuleExt};
//! use cloak_onnx::OnnxModel;
//!
//! let model = OnnxModel::load("model.onnx")?;
//! let shape = model.default_input_shape().unwrap_or_default();
//! let net = model.build(&Plain, &shape)?;
//! net.load_state(0, model.weights())?;
//! let x = ndarray::ArrayD::zeros(shape.clone());
//! let y = net.forward(&Var::constant(&Plain, Plain.input(0, Some(&x), &shape)?))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attr;
mod error;
mod fold;
mod graph;
mod inputs;
mod model;
mod ops;
mod report;
mod rewrite;
pub mod tensor;
mod value;

pub mod proto {
    //! The ONNX protobuf messages, generated from `proto/onnx.proto` (ONNX 1.17) at build
    //! time by `protobuf-codegen`'s pure-Rust parser.
    #![allow(clippy::all, clippy::pedantic, missing_docs, missing_debug_implementations)]
    #![allow(unused_qualifications, rust_2018_idioms, unreachable_pub)]
    include!(concat!(env!("OUT_DIR"), "/onnx_proto/mod.rs"));
}

pub use error::{OnnxError, Result, UnsupportedNode};
pub use graph::{NodeRecord, OnnxGraph, StepInfo};
pub use inputs::{InputKind, PublicInput};
pub use model::{ImportOptions, MAX_FILE_BYTES, MAX_OPSET, MIN_OPSET, OnnxModel, PrivateTensor};
pub use ops::SUPPORTED_OPS;
pub use report::{COSTS, KindCost, ModelReport, OpCount};
