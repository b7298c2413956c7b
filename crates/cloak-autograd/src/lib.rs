//! Reverse-mode automatic differentiation over Cloak's tensors.
//!
//! A [`Var`] is a tensor in a graph: operations on it record their backward rules, and
//! [`Var::backward`] runs them in reverse, accumulating gradients in the leaves that
//! require grad. The arithmetic comes from a [`Backend`], and the same graph code runs on:
//!
//! - [`Secure`]: secret-shared tensors of a `cloak-mpc` session, where every operation,
//!   backward rules included, is a protocol and nothing is revealed;
//! - [`Plain`]: `f64` arrays in the clear, the reference that private gradients are checked
//!   against (and itself checked against finite differences).
//!
//! Backward rules reuse what the forward pass computed: ReLU's mask, the one-hot of max
//! pooling and of `max` along an axis, the output of sigmoid, tanh, exp and softmax. So a
//! secure backward costs products, not second approximations. Recording stops inside [`no_grad`]; a graph is freed by the
//! backward pass that uses it, and a second one is a typed error.
//!
//! ```
//! use cloak_autograd::{Plain, Var};
//! use ndarray::array;
//!
//! let w = Var::leaf(&Plain, array![[1.0, 2.0], [3.0, 4.0]].into_dyn(), true);
//! let x = Var::constant(&Plain, array![[1.0], [-1.0]].into_dyn());
//! // w x = [-1, -1]^T: the second row of w is shifted so that its unit passes ReLU.
//! let shift = Var::constant(&Plain, array![[0.0], [2.0]].into_dyn());
//! let loss = w.matmul(&x)?.add(&shift)?.relu()?.sum_all()?;
//! loss.backward()?;
//! // d loss / d w = [relu'(-1) x^T; relu'(1) x^T] = [[0, 0], [1, -1]].
//! assert_eq!(w.grad()?, array![[0.0, 0.0], [1.0, -1.0]].into_dyn());
//! # Ok::<(), cloak_autograd::AutogradError>(())
//! ```

mod backend;
pub mod conformance;
mod error;
mod ops;
pub mod plain;
mod prepared;
mod secure;
mod var;

pub use backend::Backend;
pub use error::{AutogradError, Result};
pub use plain::Plain;
pub use prepared::PreparedRhs;
pub use secure::Secure;
pub use var::{BackwardFn, NoGradGuard, ParentGrads, Var, is_grad_enabled, no_grad};
