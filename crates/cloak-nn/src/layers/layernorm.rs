//! Layer normalisation over the trailing axes, PyTorch's `nn.LayerNorm`.

use cloak_autograd::{Backend, Var};

use crate::error::{Result, invalid};
use crate::init::Init;
use crate::module::{Module, TensorKind, join};

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the trailing axes
/// `normalized_shape`, with the biased variance (divided by the count), as PyTorch.
///
/// Every row's statistics go through one inverse square root over all rows at once (one
/// call: 17 rounds whatever the batch), after the mean (local) and the squared deviations
/// (one round); then one product normalises and one applies the weight (local when the
/// weight is absent): 20 rounds for two parties. The backward is products only (8 rounds):
/// the inverse square root's derivative is `-y^3 / 2` of its saved output.
///
/// The inverse square root's relative error (`4.9e-4` for Cloak's default degree-3 series)
/// carries into the output, so outputs of size 3 are off by about `1.5e-3`.
///
/// With fixed-point backends `eps` is raised to at least 4 units of the encoding, as in
/// [`BatchNorm`](super::BatchNorm): PyTorch's `1e-5` is below one unit at 16 fractional
/// bits, and a constant row (padding) would leave the inverse square root's domain.
#[derive(Debug)]
pub struct LayerNorm<B: Backend> {
    /// Scale, of `normalized_shape` (`None` without elementwise affine).
    pub weight: Option<Var<B>>,
    /// Shift, of `normalized_shape` (`None` without elementwise affine or bias).
    pub bias: Option<Var<B>>,
    normalized_shape: Vec<usize>,
    eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    /// PyTorch's defaults: `eps = 1e-5`, weight 1 and bias 0.
    ///
    /// # Errors
    /// An empty or zero-sized `normalized_shape`; the backend's errors.
    pub fn new(init: &mut Init<B>, normalized_shape: &[usize]) -> Result<Self> {
        Self::with_options(init, normalized_shape, 1e-5, true, true)
    }

    /// With explicit `eps`, `elementwise_affine` and `bias` (PyTorch's arguments).
    ///
    /// # Errors
    /// An empty or zero-sized `normalized_shape`, or `eps` not positive and finite; the
    /// backend's errors.
    pub fn with_options(
        init: &mut Init<B>,
        normalized_shape: &[usize],
        eps: f64,
        elementwise_affine: bool,
        bias: bool,
    ) -> Result<Self> {
        if normalized_shape.is_empty() || normalized_shape.contains(&0) {
            return Err(invalid("LayerNorm", format!("normalized shape {normalized_shape:?}")));
        }
        if !eps.is_finite() || eps <= 0.0 {
            return Err(invalid("LayerNorm", format!("eps {eps}")));
        }
        let eps = eps.max(4.0 * init.backend().resolution());
        let weight = if elementwise_affine {
            Some(init.constant_param(normalized_shape, 1.0)?)
        } else {
            None
        };
        let bias = if elementwise_affine && bias {
            Some(init.constant_param(normalized_shape, 0.0)?)
        } else {
            None
        };
        Ok(Self { weight, bias, normalized_shape: normalized_shape.to_vec(), eps })
    }

    /// The `eps` in use (after raising it to the backend's resolution).
    #[must_use]
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The normalised trailing shape.
    #[must_use]
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }
}

impl<B: Backend> Module<B> for LayerNorm<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let shape = x.shape();
        let k = self.normalized_shape.len();
        if shape.len() < k || shape[shape.len() - k..] != self.normalized_shape[..] {
            return Err(invalid(
                "LayerNorm",
                format!("input {shape:?} does not end in {:?}", self.normalized_shape),
            ));
        }
        let inner: usize = self.normalized_shape.iter().product();
        let rows = shape.iter().product::<usize>() / inner;
        let flat = x.reshape(&[rows, inner])?;
        let centered = flat.sub(&flat.mean(1, true)?)?;
        let var = centered.square()?.mean(1, true)?;
        let inv = var.add_scalar(self.eps)?.inv_sqrt()?;
        let mut y = centered.mul(&inv)?.reshape(&shape)?;
        if let Some(w) = &self.weight {
            y = y.mul(w)?;
        }
        if let Some(b) = &self.bias {
            y = y.add(b)?;
        }
        Ok(y)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        if let Some(w) = &self.weight {
            f(&join(prefix, "weight"), w, TensorKind::Parameter);
        }
        if let Some(b) = &self.bias {
            f(&join(prefix, "bias"), b, TensorKind::Parameter);
        }
    }
}
