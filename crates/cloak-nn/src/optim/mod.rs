//! Optimizers and gradient clipping, over any backend. With the secure backend every
//! update is computed on shares: parameters, gradients and moments stay secret.

mod adam;
mod clip;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use sgd::{Sgd, SgdConfig};

use crate::error::Result;

/// Updates parameters from their accumulated gradients.
pub trait Optimizer {
    /// One update. Parameters without a gradient (not reached by backward) are skipped.
    ///
    /// # Errors
    /// The backend's errors.
    fn step(&mut self) -> Result<()>;

    /// Clears the parameters' gradients.
    fn zero_grad(&self);
}
