//! Fully connected layer.

use cloak_autograd::{Backend, Var};

use crate::error::Result;
use crate::init::Init;
use crate::module::{Module, TensorKind, join};

/// `y = x W^T + b` with `W` of shape `[out, in]` (PyTorch's layout).
#[derive(Debug)]
pub struct Linear<B: Backend> {
    /// `[out, in]`.
    pub weight: Var<B>,
    /// `[out]`, if any.
    pub bias: Option<Var<B>>,
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
        Ok(Self { weight, bias })
    }
}

impl<B: Backend> Module<B> for Linear<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let y = x.matmul(&self.weight.t()?)?;
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
