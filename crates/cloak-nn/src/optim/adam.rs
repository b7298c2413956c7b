//! Adam (Kingma and Ba), which CrypTen does not have.
//!
//! Fixed point needs three changes of form, none of substance:
//!
//! - The second moment of small gradients is below one unit (a gradient of 1e-3 squares to
//!   1e-6, a fifteenth of 2^-16). Cloak keeps the moments of `s g` instead, with the public
//!   scale `s = 2^(f/2 - 2)` (64 at 16 bits), and `m / (sqrt(v) + eps)` is unchanged when
//!   `m`, `sqrt(v)` and `eps` are all scaled by `s`. The square root's domain then bounds
//!   the gradients: `(s g)^2 < 2^(f+1)`, so `|g| < 5.6` at 16 bits (clip gradients first
//!   where they can be larger, or pick another [`AdamConfig::moment_scale`]).
//! - The moments are kept bias-corrected, `m_hat_t = a_t m_hat_(t-1) + c_t g` with
//!   `c_t = (1 - beta) / (1 - beta^t)` (1 at the first step), so that no small factor such
//!   as `1 - beta2 = 0.001` multiplies a young moment and is later divided out: every kept
//!   value has the magnitude of `(s g)^2` or `s g` itself.
//! - `eps` is raised to at least 8 units (1.2e-4 at 16 bits), and the square root is taken
//!   of `v` plus 4 units: a gradient of a unit or two is truncation noise (a dead ReLU's
//!   exact zero arrives as `±2^-16`), and Adam's scale invariance would turn it into a step
//!   of the full learning rate; with these floors it moves a parameter by a fraction of one.
//!
//! The plain backend uses `s = 1` and the exact formula (the same recurrences, which are
//! PyTorch's algebraically).

use cloak_autograd::{Backend, Var};

use super::Optimizer;
use crate::error::{Result, invalid};

/// Adam settings, PyTorch's defaults from [`AdamConfig::new`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first and second moments.
    pub betas: (f64, f64),
    /// Added to the root of the second moment.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// The public scale `s` of the kept moments with fixed-point backends; `None` for
    /// `2^(f/2 - 2)`. Ignored by backends without a resolution (plain f64).
    pub moment_scale: Option<f64>,
}

impl AdamConfig {
    /// `betas = (0.9, 0.999)`, `eps = 1e-8`, no weight decay, the default moment scale.
    #[must_use]
    pub fn new(lr: f64) -> Self {
        Self { lr, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, moment_scale: None }
    }
}

/// The Adam optimizer.
#[derive(Debug)]
pub struct Adam<B: Backend> {
    params: Vec<Var<B>>,
    moments: Vec<Option<(B::Tensor, B::Tensor)>>,
    steps: Vec<i32>,
    config: AdamConfig,
    scale: f64,
    scaled_eps: f64,
}

impl<B: Backend> Adam<B> {
    /// An optimizer over `params`.
    ///
    /// # Errors
    /// A setting out of range (betas in `[0, 1)`, positive `eps`, non-negative rest).
    pub fn new(params: Vec<Var<B>>, config: AdamConfig) -> Result<Self> {
        let AdamConfig { lr, betas, eps, weight_decay, moment_scale } = config;
        let ok = lr.is_finite()
            && lr >= 0.0
            && (0.0..1.0).contains(&betas.0)
            && (0.0..1.0).contains(&betas.1)
            && eps.is_finite()
            && eps > 0.0
            && weight_decay.is_finite()
            && weight_decay >= 0.0
            && moment_scale.is_none_or(|s| s.is_finite() && s > 0.0);
        if !ok {
            return Err(invalid("Adam", format!("{config:?}")));
        }
        let resolution = params.first().map_or(0.0, |p| p.backend().resolution());
        let scale = match (resolution > 0.0, moment_scale) {
            (false, _) => 1.0,
            (true, Some(s)) => s,
            (true, None) => resolution.sqrt().recip() / 4.0,
        };
        let scaled_eps = scale * eps.max(8.0 * resolution);
        let n = params.len();
        Ok(Self { params, moments: vec![None; n], steps: vec![0; n], config, scale, scaled_eps })
    }

    /// The public scale `s` of the kept moments (1 for the plain backend).
    #[must_use]
    pub fn moment_scale(&self) -> f64 {
        self.scale
    }
}

impl<B: Backend> Optimizer for Adam<B> {
    fn step(&mut self) -> Result<()> {
        let AdamConfig { lr, betas: (b1, b2), weight_decay, .. } = self.config;
        let s = self.scale;
        let resolution = self.params.first().map_or(0.0, |p| p.backend().resolution());
        for ((p, slot), t) in self.params.iter().zip(&mut self.moments).zip(&mut self.steps) {
            let Some(mut g) = p.grad_opt() else { continue };
            let b = p.backend();
            let value = p.value();
            if weight_decay != 0.0 {
                g = b.add(&g, &b.mul_scalar(&value, weight_decay)?)?;
            }
            let sg = if s == 1.0 { g } else { b.mul_scalar(&g, s)? };
            let g2 = b.square(&sg)?;
            *t += 1;
            let (c1, c2) = (1.0 - b1.powi(*t), 1.0 - b2.powi(*t));
            // Bias-corrected moments: m_hat = a1 m_hat + (1 - b1) / c1 g, and so for v.
            let (m, v) = match slot.take() {
                Some((m, v)) => {
                    let a1 = b1 * (1.0 - b1.powi(*t - 1)) / c1;
                    let a2 = b2 * (1.0 - b2.powi(*t - 1)) / c2;
                    (
                        b.add(&b.mul_scalar(&m, a1)?, &b.mul_scalar(&sg, (1.0 - b1) / c1)?)?,
                        b.add(&b.mul_scalar(&v, a2)?, &b.mul_scalar(&g2, (1.0 - b2) / c2)?)?,
                    )
                }
                None => (sg, g2),
            };
            // lr m_hat / (sqrt(v_hat) + eps), at scale s throughout.
            let floor = 4.0 * resolution;
            let root = if floor > 0.0 { b.sqrt(&b.add_scalar(&v, floor)?)? } else { b.sqrt(&v)? };
            let denom = b.add_scalar(&root, self.scaled_eps)?;
            let step = b.mul_scalar(&b.mul(&m, &b.reciprocal(&denom)?)?, lr)?;
            p.set_value(b.sub(&value, &step)?)?;
            *slot = Some((m, v));
        }
        Ok(())
    }

    fn zero_grad(&self) {
        for p in &self.params {
            p.zero_grad();
        }
    }
}
