//! Fully connected layer.

use cloak_autograd::{Backend, Var};

use super::fixed_weights::FixedWeights;
use crate::error::Result;
use crate::init::Init;
use crate::module::{Module, TensorKind, join};

/// `y = x W^T + b` with `W` of shape `[out, in]` (PyTorch's layout).
///
/// From the second pass at the same weight on, the product is by the weight fixed once
/// (see [`Backend::prepare_rhs`]): on shares, each pass then opens only its input's mask,
/// not the weight's again. Training, which changes the weight every step, never fixes it, and
/// a weight is fixed at most once, since the dealer keeps every persistent mask for the
/// session: once a fixed weight changes, products by it are plain again.
#[derive(Debug)]
pub struct Linear<B: Backend> {
    /// `[out, in]`.
    pub weight: Var<B>,
    /// `[out]`, if any.
    pub bias: Option<Var<B>>,
    fixed: FixedWeights<B>,
}

impl<B: Backend> Linear<B> {
    /// A layer with PyTorch's default initialisation (Kaiming uniform, `a = sqrt(5)`; bias
    /// uniform in `±1/sqrt(in)`).
    ///
    /// # Errors
    /// A zero `in_features`; the backend's errors.
    pub fn new(
        init: &mut Init<B>,
        in_features: usize,
        out_features: usize,
        bias: bool,
    ) -> Result<Self> {
        let weight = init.kaiming_uniform(&[out_features, in_features], in_features)?;
        let bias =
            if bias { Some(init.kaiming_uniform(&[out_features], in_features)?) } else { None };
        Ok(Self::from_parts(weight, bias))
    }

    /// A layer with the given weight `[out, in]` and bias `[out]`.
    #[must_use]
    pub fn from_parts(weight: Var<B>, bias: Option<Var<B>>) -> Self {
        Self { weight, bias, fixed: FixedWeights::default() }
    }
}

impl<B: Backend> Module<B> for Linear<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let y = self.fixed.matmul(0, x, &self.weight, &self.weight.t()?)?;
        Ok(match &self.bias {
            Some(b) => y.add(b)?,
            None => y,
        })
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        f(&join(prefix, "weight"), &self.weight, TensorKind::Parameter);
        if let Some(b) = &self.bias {
            f(&join(prefix, "bias"), b, TensorKind::Parameter);
        }
    }
}
