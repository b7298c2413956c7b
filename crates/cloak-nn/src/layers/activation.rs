//! Parameter-free activations.

use cloak_autograd::{Backend, Var};

use crate::error::{Result, invalid};
use crate::module::{Module, TensorKind};

/// `max(x, 0)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;

/// `min(max(x, 0), 6)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU6;

/// The logistic function.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sigmoid;

/// `tanh`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh;

/// Clamp into `[min, max]`.
#[derive(Clone, Copy, Debug)]
pub struct Hardtanh {
    min: f64,
    max: f64,
}

impl Hardtanh {
    /// Clamp into `[min, max]` (PyTorch's default is `[-1, 1]`).
    ///
    /// # Errors
    /// `min > max` or a NaN bound.
    pub fn new(min: f64, max: f64) -> Result<Self> {
        if min.is_nan() || max.is_nan() || min > max {
            return Err(invalid("Hardtanh", format!("bounds [{min}, {max}]")));
        }
        Ok(Self { min, max })
    }
}

/// `softmax` along an axis.
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    /// The axis.
    pub axis: usize,
}

/// `log_softmax` along an axis.
#[derive(Clone, Copy, Debug)]
pub struct LogSoftmax {
    /// The axis.
    pub axis: usize,
}

impl<B: Backend> Module<B> for ReLU {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.relu()?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}

impl<B: Backend> Module<B> for ReLU6 {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.relu6()?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}

impl<B: Backend> Module<B> for Sigmoid {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.sigmoid()?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}

impl<B: Backend> Module<B> for Tanh {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.tanh()?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}

impl<B: Backend> Module<B> for Hardtanh {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.hardtanh(self.min, self.max)?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}

impl<B: Backend> Module<B> for Softmax {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.softmax(self.axis)?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}

impl<B: Backend> Module<B> for LogSoftmax {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.log_softmax(self.axis)?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}
