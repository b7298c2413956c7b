//! Pooling a sequence `[N, L, E]` into one vector per sequence `[N, E]`, for a classifier
//! head: the mean over the tokens (skipping padding when a key-padding mask is given) or
//! the first token (BERT's `[CLS]`). Both are local on shares: the mask is public, so the
//! masked mean is a product with public weights `keep / count` (one truncation) and a sum.

use cloak_autograd::{Backend, Var};
use ndarray::{ArrayD, IxDyn};

use crate::error::{Result, invalid};
use crate::module::{Module, TensorKind};

/// Which token summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenPooling {
    /// The mean over the (unmasked) tokens.
    #[default]
    Mean,
    /// The first token.
    First,
}

/// Pools `[N, L, E]` to `[N, E]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenPool {
    /// Which summary.
    pub mode: TokenPooling,
}

impl TokenPool {
    /// The mean over the tokens.
    #[must_use]
    pub fn mean() -> Self {
        Self { mode: TokenPooling::Mean }
    }

    /// The first token.
    #[must_use]
    pub fn first() -> Self {
        Self { mode: TokenPooling::First }
    }

    /// Pools `x`, with `key_padding` `[N, L]` (`true` = padding, as for attention) left
    /// out of the mean; the first token is taken whatever the mask says.
    ///
    /// # Errors
    /// An input that is not `[N, L, E]`, a mask of another shape, or a sequence that is all
    /// padding (its mean is undefined).
    pub fn forward_masked<B: Backend>(
        &self,
        x: &Var<B>,
        key_padding: Option<&ArrayD<bool>>,
    ) -> Result<Var<B>> {
        let shape = x.shape();
        let &[n, l, e] = shape.as_slice() else {
            return Err(invalid("TokenPool", format!("input {shape:?}, expected [N, L, E]")));
        };
        if let Some(m) = key_padding
            && m.shape() != [n, l]
        {
            return Err(invalid("TokenPool", format!("mask {:?} for input {shape:?}", m.shape())));
        }
        if l == 0 {
            return Err(invalid("TokenPool", "a sequence of no tokens"));
        }
        match (self.mode, key_padding) {
            (TokenPooling::First, _) => Ok(x.slice(1, 0, 1)?.reshape(&[n, e])?),
            (TokenPooling::Mean, None) => Ok(x.mean(1, false)?),
            (TokenPooling::Mean, Some(m)) => {
                let mut weights = ArrayD::zeros(IxDyn(&[n, l, 1]));
                for (i, row) in m.outer_iter().enumerate() {
                    let kept = row.iter().filter(|&&pad| !pad).count();
                    if kept == 0 {
                        return Err(invalid("TokenPool", format!("sequence {i} is all padding")));
                    }
                    for (j, &pad) in row.iter().enumerate() {
                        weights[[i, j, 0]] = if pad { 0.0 } else { 1.0 / kept as f64 };
                    }
                }
                Ok(x.mul_public(&weights)?.sum(1, false)?)
            }
        }
    }
}

impl<B: Backend> Module<B> for TokenPool {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        self.forward_masked(x, None)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}
