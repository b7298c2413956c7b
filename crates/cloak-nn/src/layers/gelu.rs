//! GELU, `x Phi(x)`, in PyTorch's two forms. Both are built from differentiable operations
//! ([`Var::erf`] or [`Var::tanh`] and products), so the backward comes from autograd.
//!
//! Costs on shares: the exact form is one `erf` (the saturated Chebyshev series: 14 rounds,
//! absolute error about `3e-5`) and one product; its backward adds `erf`'s derivative (one
//! `exp` behind a comparison that keeps it in its domain) and products. The tanh form is
//! two products for `x^3`, one `tanh` (14 rounds, error about `1.6e-4` near its saturation
//! bound) and one product; its backward reuses the saved `tanh` (products only). Measured
//! for two parties on 80 values: exact 15 rounds forward and 19 backward, tanh 17 and 7.
//! So the exact form is the cheaper one to run, the tanh form the cheaper one to train.

use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_PI};

use cloak_autograd::{Backend, Var};

use crate::error::Result;
use crate::module::{Module, TensorKind};

/// The cubic coefficient of the tanh approximation.
const TANH_CUBIC: f64 = 0.044715;

/// Which GELU (PyTorch's `approximate` argument).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GeluApproximate {
    /// `x (1 + erf(x / sqrt 2)) / 2`, PyTorch's default.
    #[default]
    None,
    /// `x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2`.
    Tanh,
}

/// GELU of `x`, elementwise.
///
/// # Errors
/// The backend's protocol errors.
pub fn gelu<B: Backend>(x: &Var<B>, approximate: GeluApproximate) -> Result<Var<B>> {
    let inner = match approximate {
        GeluApproximate::None => x.mul_scalar(FRAC_1_SQRT_2)?.erf()?,
        GeluApproximate::Tanh => {
            let cube = x.square()?.mul(x)?;
            x.add(&cube.mul_scalar(TANH_CUBIC)?)?.mul_scalar(FRAC_2_PI.sqrt())?.tanh()?
        }
    };
    Ok(x.mul(&inner.add_scalar(1.0)?)?.mul_scalar(0.5)?)
}

/// The GELU activation as a layer.
// PyTorch's name, spelt as PyTorch spells it (as `ReLU` is).
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GELU {
    /// Which form.
    pub approximate: GeluApproximate,
}

impl GELU {
    /// GELU in the given form.
    #[must_use]
    pub fn new(approximate: GeluApproximate) -> Self {
        Self { approximate }
    }
}

impl<B: Backend> Module<B> for GELU {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        gelu(x, self.approximate)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}
