//! Neural networks over secret shares, as PyTorch users write them.
//!
//! Every layer, loss and optimizer is written once over an autograd
//! [`Backend`](cloak_autograd::Backend): built on [`Secure`](cloak_autograd::Secure) it
//! trains and runs on secret-shared weights and data; built on
//! [`Plain`](cloak_autograd::Plain) from the same seed it is the f64 reference with the same
//! initial weights.
//!
//! - [`Module`] (forward, named parameters and buffers, train/eval) and [`ModuleExt`]
//!   (parameter lists, [`load_state`](ModuleExt::load_state) to share an owner's weights,
//!   [`reveal_state_to`](ModuleExt::reveal_state_to) to open them to one party), and
//!   [`checkpoint`] for saving each party's shares.
//! - [`layers`]: Linear, Conv1d, Conv2d, BatchNorm, activations, pooling, Dropout, Flatten,
//!   Sequential and Residual; for transformers, Embedding (public ids, or ids private to
//!   their owner as a shared one-hot), learned and sinusoidal positions, LayerNorm, GELU
//!   (erf and tanh forms), MultiheadAttention with key-padding and attention masks,
//!   TransformerEncoderLayer (pre- and post-norm) and TransformerEncoder, and mean or
//!   first-token pooling.
//! - [`loss`]: MSE, L1, cross-entropy, BCE and BCE-with-logits.
//! - [`optim`]: SGD (momentum, weight decay), Adam, gradient clipping.
//! - [`data`]: CSV data sets, seeded splits, and row- or column-split ownership.
//! - [`train`]: a training loop with a progress bar and a loss-curve plot.
//! - [`models`]: LeNet, ResNet-18 and an MLP, as the benchmarks use them.

mod agree;
pub mod checkpoint;
pub mod data;
mod error;
mod init;
pub mod layers;
pub mod loss;
pub mod models;
mod module;
pub mod optim;
pub mod train;

pub use error::{NnError, Result};
pub use init::Init;
pub use module::{Module, ModuleExt, StateDict, TensorKind, join};
