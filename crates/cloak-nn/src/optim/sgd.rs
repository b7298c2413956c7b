//! Stochastic gradient descent with momentum and weight decay (PyTorch's update rule).

use cloak_autograd::{Backend, Var};

use super::Optimizer;
use crate::error::{Result, invalid};

/// SGD settings; `momentum` and `weight_decay` default to 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 for none).
    pub momentum: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

impl SgdConfig {
    /// Plain SGD at learning rate `lr`.
    #[must_use]
    pub fn new(lr: f64) -> Self {
        Self { lr, momentum: 0.0, weight_decay: 0.0 }
    }
}

/// `g += wd p; v = mu v + g; p -= lr v` (PyTorch's SGD without dampening or Nesterov).
#[derive(Debug)]
pub struct Sgd<B: Backend> {
    params: Vec<Var<B>>,
    velocity: Vec<Option<B::Tensor>>,
    config: SgdConfig,
}

impl<B: Backend> Sgd<B> {
    /// An optimizer over `params`.
    ///
    /// # Errors
    /// A negative or non-finite setting.
    pub fn new(params: Vec<Var<B>>, config: SgdConfig) -> Result<Self> {
        let SgdConfig { lr, momentum, weight_decay } = config;
        for (name, v) in [("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)] {
            if !v.is_finite() || v < 0.0 {
                return Err(invalid("Sgd", format!("{name} = {v}")));
            }
        }
        let velocity = vec![None; params.len()];
        Ok(Self { params, velocity, config })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> SgdConfig {
        self.config
    }

    /// Changes the learning rate (schedules).
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }
}

impl<B: Backend> Optimizer for Sgd<B> {
    fn step(&mut self) -> Result<()> {
        let SgdConfig { lr, momentum, weight_decay } = self.config;
        for (p, vel) in self.params.iter().zip(&mut self.velocity) {
            let Some(mut g) = p.grad_opt() else { continue };
            let b = p.backend();
            let value = p.value();
            if weight_decay != 0.0 {
                g = b.add(&g, &b.mul_scalar(&value, weight_decay)?)?;
            }
            if momentum != 0.0 {
                let v = match vel.take() {
                    Some(v) => b.add(&b.mul_scalar(&v, momentum)?, &g)?,
                    None => g,
                };
                g = v.clone();
                *vel = Some(v);
            }
            p.set_value(b.sub(&value, &b.mul_scalar(&g, lr)?)?)?;
        }
        Ok(())
    }

    fn zero_grad(&self) {
        for p in &self.params {
            p.zero_grad();
        }
    }
}
