//! Convolutions.

use cloak_autograd::{Backend, Var};
use cloak_ring::Conv2dSpec;

use super::fixed_weights::FixedWeights;
use crate::error::{Result, invalid};
use crate::init::Init;
use crate::module::{Module, TensorKind, join};

/// 2-d convolution over NCHW inputs, weight `[out, in/groups, kh, kw]`.
///
/// From the second pass at the same weight on, the convolution is by the weight fixed once,
/// as [`Linear`](super::Linear)'s product is.
#[derive(Debug)]
pub struct Conv2d<B: Backend> {
    /// `[out, in/groups, kh, kw]`.
    pub weight: Var<B>,
    /// `[out]`, if any.
    pub bias: Option<Var<B>>,
    /// Stride, padding, dilation and groups.
    pub spec: Conv2dSpec,
    fixed: FixedWeights<B>,
}

impl<B: Backend> Conv2d<B> {
    /// A layer with PyTorch's default initialisation (`fan_in = in/groups * kh * kw`).
    ///
    /// # Errors
    /// Channels not divisible by `groups`, a zero size; the backend's errors.
    pub fn new(
        init: &mut Init<B>,
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        spec: Conv2dSpec,
        bias: bool,
    ) -> Result<Self> {
        let g = spec.groups;
        if g == 0 || !in_channels.is_multiple_of(g) || !out_channels.is_multiple_of(g) {
            return Err(invalid(
                "Conv2d",
                format!("{in_channels} -> {out_channels} channels in {g} groups"),
            ));
        }
        let fan_in = in_channels / g * kernel.0 * kernel.1;
        let weight =
            init.kaiming_uniform(&[out_channels, in_channels / g, kernel.0, kernel.1], fan_in)?;
        let bias = if bias { Some(init.kaiming_uniform(&[out_channels], fan_in)?) } else { None };
        Ok(Self::from_parts(weight, bias, spec))
    }

    /// A layer with the given weight `[out, in/groups, kh, kw]`, bias `[out]` and spec.
    #[must_use]
    pub fn from_parts(weight: Var<B>, bias: Option<Var<B>>, spec: Conv2dSpec) -> Self {
        Self { weight, bias, spec, fixed: FixedWeights::default() }
    }
}

impl<B: Backend> Module<B> for Conv2d<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let y = self.fixed.conv2d(x, &self.weight, &self.spec)?;
        Ok(match &self.bias {
            Some(b) => y.add(&b.reshape(&[1, b.numel(), 1, 1])?)?,
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

/// 1-d convolution over NCL inputs, weight `[out, in/groups, k]`.
#[derive(Debug)]
pub struct Conv1d<B: Backend> {
    /// `[out, in/groups, k]`.
    pub weight: Var<B>,
    /// `[out]`, if any.
    pub bias: Option<Var<B>>,
    /// Stride, padding, dilation (second components) and groups.
    pub spec: Conv2dSpec,
}

impl<B: Backend> Conv1d<B> {
    /// A layer with PyTorch's default initialisation.
    ///
    /// # Errors
    /// Channels not divisible by `groups`, a zero size; the backend's errors.
    pub fn new(
        init: &mut Init<B>,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        groups: usize,
        bias: bool,
    ) -> Result<Self> {
        if groups == 0
            || !in_channels.is_multiple_of(groups)
            || !out_channels.is_multiple_of(groups)
        {
            return Err(invalid(
                "Conv1d",
                format!("{in_channels} -> {out_channels} channels in {groups} groups"),
            ));
        }
        let fan_in = in_channels / groups * kernel;
        let weight = init.kaiming_uniform(&[out_channels, in_channels / groups, kernel], fan_in)?;
        let bias = if bias { Some(init.kaiming_uniform(&[out_channels], fan_in)?) } else { None };
        let spec = Conv2dSpec {
            stride: (1, stride),
            padding: (0, padding),
            dilation: (1, dilation),
            groups,
        };
        Ok(Self { weight, bias, spec })
    }
}

impl<B: Backend> Module<B> for Conv1d<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let y = x.conv1d(&self.weight, &self.spec)?;
        Ok(match &self.bias {
            Some(b) => y.add(&b.reshape(&[1, b.numel(), 1])?)?,
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
