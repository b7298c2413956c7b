//! Pooling layers over NCHW inputs.

use cloak_autograd::{Backend, Var};
use cloak_mpc::Pool2dSpec;

use crate::error::Result;
use crate::module::{Module, TensorKind};

/// Max pooling (the backward routes through each window's maximum).
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2d {
    /// Window, stride, padding.
    pub spec: Pool2dSpec,
}

/// Average pooling (padding counted, PyTorch's default).
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2d {
    /// Window, stride, padding.
    pub spec: Pool2dSpec,
}

/// Adaptive average pooling to a fixed output size.
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveAvgPool2d {
    /// Output height and width.
    pub output: (usize, usize),
}

/// Global average pooling: `[N, C, H, W] -> [N, C, 1, 1]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GlobalAvgPool2d;

impl MaxPool2d {
    /// A `k x k` window with stride `k`.
    #[must_use]
    pub fn square(k: usize) -> Self {
        Self { spec: Pool2dSpec::square(k) }
    }
}

impl AvgPool2d {
    /// A `k x k` window with stride `k`.
    #[must_use]
    pub fn square(k: usize) -> Self {
        Self { spec: Pool2dSpec::square(k) }
    }
}

impl<B: Backend> Module<B> for MaxPool2d {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.max_pool2d(&self.spec)?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}

impl<B: Backend> Module<B> for AvgPool2d {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.avg_pool2d(&self.spec)?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}

impl<B: Backend> Module<B> for AdaptiveAvgPool2d {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.adaptive_avg_pool2d(self.output)?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}

impl<B: Backend> Module<B> for GlobalAvgPool2d {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.global_avg_pool2d()?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}
