//! Batch normalisation over the channel axis (axis 1) of `[N, C]`, `[N, C, L]` or
//! `[N, C, H, W]` inputs: PyTorch's BatchNorm1d and BatchNorm2d in one type.

use std::cell::{Cell, RefCell};

use cloak_autograd::{Backend, Var, no_grad};

use crate::error::{Result, invalid};
use crate::init::Init;
use crate::module::{Module, TensorKind, join};

/// PyTorch's name for batch normalisation of `[N, C]` or `[N, C, L]` inputs.
pub type BatchNorm1d<B> = BatchNorm<B>;

/// PyTorch's name for batch normalisation of `[N, C, H, W]` inputs.
pub type BatchNorm2d<B> = BatchNorm<B>;

/// Versions of (weight, bias, running mean, running variance), and the scale and shift.
type Folded<B> = ([u64; 4], Var<B>, Var<B>);

/// Batch normalisation. In training the batch's mean and biased variance normalise, and
/// the running statistics move by `momentum` (the variance unbiased, as PyTorch does); in
/// evaluation the running statistics normalise.
///
/// With fixed-point backends `eps` is raised to at least 4 units of the encoding, so that
/// the inverse square root stays in its domain for a constant channel (PyTorch's 1e-5 is
/// below one unit at 16 fractional bits).
#[derive(Debug)]
pub struct BatchNorm<B: Backend> {
    /// Scale `[C]`.
    pub weight: Var<B>,
    /// Shift `[C]`.
    pub bias: Var<B>,
    /// Running mean `[C]` (buffer).
    pub running_mean: Var<B>,
    /// Running variance `[C]` (buffer).
    pub running_var: Var<B>,
    eps: f64,
    momentum: f64,
    training: Cell<bool>,
    /// Evaluation's per-channel scale and shift, and the versions of the four tensors they
    /// were computed from: recomputed only when a tensor changes, so repeated inference
    /// pays the inverse square root once.
    folded: RefCell<Option<Folded<B>>>,
}

impl<B: Backend> BatchNorm<B> {
    /// PyTorch's defaults: `eps = 1e-5`, `momentum = 0.1`, weight 1, bias 0, running mean 0
    /// and variance 1; training mode.
    ///
    /// # Errors
    /// Zero channels; the backend's errors.
    pub fn new(init: &mut Init<B>, channels: usize) -> Result<Self> {
        Self::with_options(init, channels, 1e-5, 0.1)
    }

    /// With explicit `eps` and `momentum`.
    ///
    /// # Errors
    /// Zero channels, `eps <= 0` or `momentum` outside `[0, 1]`; the backend's errors.
    pub fn with_options(
        init: &mut Init<B>,
        channels: usize,
        eps: f64,
        momentum: f64,
    ) -> Result<Self> {
        if channels == 0 || eps.is_nan() || eps <= 0.0 || !(0.0..=1.0).contains(&momentum) {
            return Err(invalid(
                "BatchNorm",
                format!("{channels} channels, eps {eps}, momentum {momentum}"),
            ));
        }
        let eps = eps.max(4.0 * init.backend().resolution());
        Ok(Self {
            weight: init.constant_param(&[channels], 1.0)?,
            bias: init.constant_param(&[channels], 0.0)?,
            running_mean: init.buffer(&[channels], 0.0)?,
            running_var: init.buffer(&[channels], 1.0)?,
            eps,
            momentum,
            training: Cell::new(true),
            folded: RefCell::new(None),
        })
    }

    /// The `eps` in use (after raising it to the backend's resolution).
    #[must_use]
    pub fn eps(&self) -> f64 {
        self.eps
    }

    fn check(&self, shape: &[usize]) -> Result<Vec<usize>> {
        let c = self.weight.numel();
        if !(2..=4).contains(&shape.len()) || shape[1] != c {
            return Err(invalid("BatchNorm", format!("input {shape:?} for {c} channels")));
        }
        let mut bshape = vec![1; shape.len()];
        bshape[1] = c;
        Ok(bshape)
    }
}

impl<B: Backend> BatchNorm<B> {
    /// `weight / sqrt(running_var + eps)` and `bias - running_mean * scale`, shaped for
    /// broadcasting. Cached while the four tensors keep their versions, and while no graph
    /// is being recorded (so that gradients reach the weight and bias when one is).
    fn folded(&self, bshape: &[usize]) -> Result<(Var<B>, Var<B>)> {
        let versions = [
            self.weight.version(),
            self.bias.version(),
            self.running_mean.version(),
            self.running_var.version(),
        ];
        let recording = cloak_autograd::is_grad_enabled()
            && (self.weight.requires_grad() || self.bias.requires_grad());
        if !recording
            && let Some((v, scale, shift)) = self.folded.borrow().as_ref()
            && *v == versions
            && scale.shape() == bshape
        {
            return Ok((scale.clone(), shift.clone()));
        }
        let scale = self.running_var.add_scalar(self.eps)?.inv_sqrt()?.mul(&self.weight)?;
        let shift = self.bias.sub(&self.running_mean.mul(&scale)?)?;
        let (scale, shift) = (scale.reshape(bshape)?, shift.reshape(bshape)?);
        if !recording {
            *self.folded.borrow_mut() = Some((versions, scale.clone(), shift.clone()));
        }
        Ok((scale, shift))
    }
}

/// Mean over every axis but the channel axis, kept as size-1 axes.
fn channel_mean<B: Backend>(x: &Var<B>) -> Result<Var<B>> {
    let mut m = x.mean(0, true)?;
    for axis in 2..x.shape().len() {
        m = m.mean(axis, true)?;
    }
    Ok(m)
}

impl<B: Backend> Module<B> for BatchNorm<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let shape = x.shape();
        let bshape = self.check(&shape)?;
        let c = bshape[1];
        let gamma = self.weight.reshape(&bshape)?;
        let beta = self.bias.reshape(&bshape)?;
        if self.training.get() {
            let count = shape.iter().product::<usize>() / c;
            if count < 2 {
                return Err(invalid("BatchNorm", "training needs more than one value per channel"));
            }
            let mean = channel_mean(x)?;
            let centered = x.sub(&mean)?;
            let var = channel_mean(&centered.square()?)?;
            let inv = var.add_scalar(self.eps)?.inv_sqrt()?;
            let y = centered.mul(&inv)?.mul(&gamma)?.add(&beta)?;
            no_grad(|| -> Result<()> {
                let m = self.momentum;
                let unbiased = count as f64 / (count as f64 - 1.0);
                let rm = self
                    .running_mean
                    .mul_scalar(1.0 - m)?
                    .add(&mean.reshape(&[c])?.mul_scalar(m)?)?;
                let rv = self
                    .running_var
                    .mul_scalar(1.0 - m)?
                    .add(&var.reshape(&[c])?.mul_scalar(m * unbiased)?)?;
                self.running_mean.set_value(rm.value())?;
                self.running_var.set_value(rv.value())?;
                Ok(())
            })?;
            Ok(y)
        } else {
            let (scale, shift) = self.folded(&bshape)?;
            x.mul(&scale)?.add(&shift).map_err(Into::into)
        }
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        f(&join(prefix, "weight"), &self.weight, TensorKind::Parameter);
        f(&join(prefix, "bias"), &self.bias, TensorKind::Parameter);
        f(&join(prefix, "running_mean"), &self.running_mean, TensorKind::Buffer);
        f(&join(prefix, "running_var"), &self.running_var, TensorKind::Buffer);
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }
}
