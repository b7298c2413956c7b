//! Positional information for token sequences `[N, L, d]` (or `[L, d]`): positions are
//! public, so both kinds are local on shares.
//!
//! - [`PositionalEmbedding`]: a learned table `[max_len, d]` (BERT's `position_embeddings`,
//!   an `nn.Embedding` over positions), whose first `L` rows are added; the backward adds
//!   the gradient, summed over the batch, into those rows.
//! - [`SinusoidalEncoding`]: the fixed sines and cosines of "Attention is all you need",
//!   added as a public tensor; no parameters.

use cloak_autograd::{Backend, Var};
use ndarray::{ArrayD, IxDyn};

use crate::error::{Result, invalid};
use crate::init::Init;
use crate::module::{Module, TensorKind, join};

/// The length and width of a `[N, L, d]` or `[L, d]` input, checked against `d`.
fn seq_dims(op: &'static str, shape: &[usize], dim: usize) -> Result<(usize, usize)> {
    match shape {
        [.., l, d] if shape.len() <= 3 && *d == dim => Ok((*l, *d)),
        _ => Err(invalid(op, format!("input {shape:?}, expected [N, L, {dim}] or [L, {dim}]"))),
    }
}

/// Learned positional embeddings: `x + weight[..L]`.
#[derive(Debug)]
pub struct PositionalEmbedding<B: Backend> {
    /// `[max_len, d]`.
    pub weight: Var<B>,
}

impl<B: Backend> PositionalEmbedding<B> {
    /// A table for up to `max_len` positions, drawn from `N(0, 1)` as an `nn.Embedding`.
    ///
    /// # Errors
    /// A zero size; the backend's errors.
    pub fn new(init: &mut Init<B>, max_len: usize, dim: usize) -> Result<Self> {
        if max_len == 0 || dim == 0 {
            return Err(invalid("PositionalEmbedding", format!("{max_len} positions of {dim}")));
        }
        Ok(Self { weight: init.normal_param(&[max_len, dim], 1.0)? })
    }
}

impl<B: Backend> Module<B> for PositionalEmbedding<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let ws = self.weight.shape();
        let (l, _) = seq_dims("PositionalEmbedding", &x.shape(), ws[1])?;
        if l > ws[0] {
            return Err(invalid(
                "PositionalEmbedding",
                format!("{l} tokens for {} positions", ws[0]),
            ));
        }
        Ok(x.add(&self.weight.slice(0, 0, l)?)?)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        f(&join(prefix, "weight"), &self.weight, TensorKind::Parameter);
    }
}

/// Fixed sinusoidal encodings: `x + pe[..L]` with `pe[p, 2i] = sin(p / 10000^(2i/d))` and
/// `pe[p, 2i+1] = cos(p / 10000^(2i/d))`.
#[derive(Clone, Copy, Debug)]
pub struct SinusoidalEncoding {
    /// The width `d`.
    pub dim: usize,
}

impl SinusoidalEncoding {
    /// Encodings of width `dim`.
    ///
    /// # Errors
    /// A zero width.
    pub fn new(dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(invalid("SinusoidalEncoding", "width 0"));
        }
        Ok(Self { dim })
    }

    /// The encodings of positions `0..len`, `[len, dim]`.
    #[must_use]
    pub fn table(&self, len: usize) -> ArrayD<f64> {
        let d = self.dim as f64;
        ArrayD::from_shape_fn(IxDyn(&[len, self.dim]), |ix| {
            let (p, j) = (ix[0] as f64, ix[1]);
            let angle = p / 10000f64.powf((j - j % 2) as f64 / d);
            if j % 2 == 0 { angle.sin() } else { angle.cos() }
        })
    }
}

impl<B: Backend> Module<B> for SinusoidalEncoding {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let (l, _) = seq_dims("SinusoidalEncoding", &x.shape(), self.dim)?;
        Ok(x.add_public(&self.table(l))?)
    }

    /// No parameters or buffers: the table is recomputed from the width.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}
