//! Multi-head attention, PyTorch's `nn.MultiheadAttention` with `batch_first=True`.
//!
//! Inputs are `[N, L, E]` (or unbatched `[L, E]`). The query, key and value are projected
//! by the packed `in_proj_weight [3E, E]` (one product when the three inputs are the same
//! tensor, as in self-attention), split into `H` heads of `E / H` by reshaping and
//! permuting (local), and for every head `softmax(q k^T / sqrt(E / H) + mask) v` is
//! computed with batched products over `[N, H]`; the heads are joined and projected by
//! `out_proj`.
//!
//! On shares, `q k^T` and `weights @ v` are products of two shared tensors (one Beaver
//! round each, opening the masked operands: `8 N H (L + S) dh` and `8 N H (L S + S dh)`
//! bytes to each other party); scaling `q` by the public `1/sqrt(dh)` is local. The
//! softmax over the keys is the secure softmax (the maximum by a tree of comparisons,
//! 4 rounds per halving of `S`, then the clamped `exp`, the reciprocal of the sum and one
//! product), one call for every head and query; a model trained with MPCFormer's 2Quad or
//! 2ReLU in its place selects it with [`with_softmax`](MultiheadAttention::with_softmax)
//! (34 or 36 rounds, see [`AttentionSoftmax`]). Masks are public and added before the
//! softmax (see [`AttentionMask`]). The backward is products only: the softmax's
//! derivative `y (g - sum(g y))` uses its saved output. Measured for two parties, `N = 2`,
//! `L = S = 5`, `E = 8`, `H = 2` with key padding: 64 rounds forward (most of them the
//! softmax's), 10 backward.

use cloak_autograd::{Backend, Var};

use super::attention_softmax::AttentionSoftmax;
use super::dropout::Dropout;
use super::fixed_weights::FixedWeights;
use super::linear::Linear;
use super::mask::AttentionMask;
use crate::error::{Result, invalid};
use crate::init::Init;
use crate::module::{Module, TensorKind, join};

/// Which of query, key and value are one tensor.
#[derive(Clone, Copy, Debug)]
enum Sharing {
    /// All three (self-attention): one projection product.
    All,
    /// Key and value (attention over a memory): two.
    KeyValue,
    /// None: three.
    None,
}

/// Multi-head attention with parameters named as PyTorch's (`in_proj_weight`,
/// `in_proj_bias`, `out_proj.weight`, `out_proj.bias`).
#[derive(Debug)]
pub struct MultiheadAttention<B: Backend> {
    /// `[3E, E]`: the query, key and value projections stacked.
    pub in_proj_weight: Var<B>,
    /// `[3E]`, if the layer has biases.
    pub in_proj_bias: Option<Var<B>>,
    /// The output projection `[E, E]`.
    pub out_proj: Linear<B>,
    num_heads: usize,
    /// Dropout on the attention weights (training only).
    dropout: Option<Dropout>,
    /// How the scores become weights.
    softmax: AttentionSoftmax,
    /// The input projections fixed for repeated passes (a slot per row range used).
    fixed: FixedWeights<B>,
}

impl<B: Backend> MultiheadAttention<B> {
    /// `num_heads` heads over `embed_dim`, initialised as PyTorch: `in_proj_weight`
    /// Xavier-uniform, `out_proj.weight` as a Linear's, biases 0; no dropout.
    ///
    /// # Errors
    /// Zero sizes, or `num_heads` not dividing `embed_dim`; the backend's errors.
    pub fn new(init: &mut Init<B>, embed_dim: usize, num_heads: usize, bias: bool) -> Result<Self> {
        if embed_dim == 0 || num_heads == 0 || !embed_dim.is_multiple_of(num_heads) {
            return Err(invalid(
                "MultiheadAttention",
                format!("{num_heads} heads over {embed_dim} features"),
            ));
        }
        let in_proj_weight =
            init.xavier_uniform(&[3 * embed_dim, embed_dim], embed_dim, 3 * embed_dim)?;
        let in_proj_bias =
            if bias { Some(init.constant_param(&[3 * embed_dim], 0.0)?) } else { None };
        let mut out_proj = Linear::new(init, embed_dim, embed_dim, false)?;
        if bias {
            out_proj.bias = Some(init.constant_param(&[embed_dim], 0.0)?);
        }
        Ok(Self {
            in_proj_weight,
            in_proj_bias,
            out_proj,
            num_heads,
            dropout: None,
            softmax: AttentionSoftmax::Exact,
            fixed: FixedWeights::default(),
        })
    }

    /// The normalisation of the scores (the exact softmax by default, or a cheaper
    /// function that a model must have been trained with; see [`AttentionSoftmax`]);
    /// builder style.
    ///
    /// # Errors
    /// Bad parameters of `softmax`.
    pub fn with_softmax(mut self, softmax: AttentionSoftmax) -> Result<Self> {
        softmax.check()?;
        self.softmax = softmax;
        Ok(self)
    }

    /// The normalisation of the scores.
    #[must_use]
    pub fn softmax(&self) -> AttentionSoftmax {
        self.softmax
    }

    /// Dropout with probability `p` on the attention weights in training (a public mask
    /// drawn from `seed`, see [`Dropout`]); builder style.
    ///
    /// # Errors
    /// `p` outside `[0, 1)`.
    pub fn with_dropout(mut self, p: f64, seed: u64) -> Result<Self> {
        // Checked even for p = 0, which needs no layer.
        let layer = Dropout::new(p, seed)?;
        self.dropout = (p > 0.0).then_some(layer);
        Ok(self)
    }

    /// The width `E`.
    #[must_use]
    pub fn embed_dim(&self) -> usize {
        self.in_proj_weight.shape()[1]
    }

    /// The number of heads `H`.
    #[must_use]
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// Self-attention of `x` under `mask`.
    ///
    /// # Errors
    /// As [`attention`](Self::attention).
    pub fn forward_masked(&self, x: &Var<B>, mask: &AttentionMask) -> Result<Var<B>> {
        Ok(self.attention(x, x, x, mask)?.0)
    }

    /// Attention of `query` `[N, L, E]` over `key` and `value` `[N, S, E]` (or all three
    /// unbatched): the output `[N, L, E]` and the attention weights per head
    /// `[N, H, L, S]` (PyTorch's `need_weights=True, average_attn_weights=False`; unbatched,
    /// `[L, E]` and `[H, L, S]`).
    ///
    /// # Errors
    /// Shapes that do not fit; a mask that does not fit or masks every key of a query; the
    /// backend's errors.
    pub fn attention(
        &self,
        query: &Var<B>,
        key: &Var<B>,
        value: &Var<B>,
        mask: &AttentionMask,
    ) -> Result<(Var<B>, Var<B>)> {
        let e = self.embed_dim();
        let (sq, sk, sv) = (query.shape(), key.shape(), value.shape());
        let unbatched = sq.len() == 2;
        let fits = (2..=3).contains(&sq.len())
            && sk.len() == sq.len()
            && sv == sk
            && sq[sq.len() - 1] == e
            && sk[sk.len() - 1] == e
            && (unbatched || sq[0] == sk[0]);
        if !fits {
            return Err(invalid(
                "MultiheadAttention",
                format!("query {sq:?}, key {sk:?}, value {sv:?} for width {e}"),
            ));
        }
        let sharing = if query.same_node(key) && key.same_node(value) {
            Sharing::All
        } else if key.same_node(value) {
            Sharing::KeyValue
        } else {
            Sharing::None
        };
        if !unbatched {
            return self.batched(query, key, value, sharing, mask);
        }
        let batch = |v: &Var<B>| -> Result<Var<B>> {
            let s = v.shape();
            Ok(v.reshape(&[1, s[0], s[1]])?)
        };
        let mask = mask.as_batch_of_one();
        let (out, w) =
            self.batched(&batch(query)?, &batch(key)?, &batch(value)?, sharing, &mask)?;
        let (os, ws) = (out.shape(), w.shape());
        Ok((out.reshape(&os[1..])?, w.reshape(&ws[1..])?))
    }

    /// Attention over batched inputs; `sharing` says which inputs are one tensor, whose
    /// projections then share one product.
    fn batched(
        &self,
        query: &Var<B>,
        key: &Var<B>,
        value: &Var<B>,
        sharing: Sharing,
        mask: &AttentionMask,
    ) -> Result<(Var<B>, Var<B>)> {
        let (e, h) = (self.embed_dim(), self.num_heads);
        let dh = e / h;
        let (n, l, s) = (query.shape()[0], query.shape()[1], key.shape()[1]);
        let additive = mask.additive(n, h, l, s)?;
        let (q, k, v) = match sharing {
            Sharing::All => {
                let qkv = self.project(query, 0, 3)?;
                (qkv.slice(2, 0, e)?, qkv.slice(2, e, 2 * e)?, qkv.slice(2, 2 * e, 3 * e)?)
            }
            Sharing::KeyValue => {
                let kv = self.project(key, 1, 3)?;
                (self.project(query, 0, 1)?, kv.slice(2, 0, e)?, kv.slice(2, e, 2 * e)?)
            }
            Sharing::None => {
                (self.project(query, 0, 1)?, self.project(key, 1, 2)?, self.project(value, 2, 3)?)
            }
        };
        // [N, T, E] -> [N, H, T, dh]
        let heads = |x: &Var<B>, t: usize| -> Result<Var<B>> {
            Ok(x.reshape(&[n, t, h, dh])?.permute(&[0, 2, 1, 3])?)
        };
        let q = heads(&q, l)?.mul_scalar(1.0 / (dh as f64).sqrt())?;
        let (k, v) = (heads(&k, s)?, heads(&v, s)?);
        let scores = q.matmul(&k.t()?)?;
        let weights = self.softmax.masked(&scores, additive.as_ref(), 3)?;
        let dropped = match &self.dropout {
            Some(d) => Module::<B>::forward(d, &weights)?,
            None => weights.clone(),
        };
        let ctx = dropped.matmul(&v)?.permute(&[0, 2, 1, 3])?.reshape(&[n, l, e])?;
        Ok((self.out_proj.forward(&ctx)?, weights))
    }

    /// `x @ W[a E .. b E]^T + bias[a E .. b E]`: the projections `a..b` (0 query, 1 key,
    /// 2 value) in one product.
    fn project(&self, x: &Var<B>, a: usize, b: usize) -> Result<Var<B>> {
        let e = self.embed_dim();
        let whole = (a, b) == (0, 3);
        let w = if whole {
            self.in_proj_weight.clone()
        } else {
            self.in_proj_weight.slice(0, a * e, b * e)?
        };
        let y = self.fixed.matmul(4 * a + b, x, &self.in_proj_weight, &w.t()?)?;
        Ok(match &self.in_proj_bias {
            Some(bias) if whole => y.add(bias)?,
            Some(bias) => y.add(&bias.slice(0, a * e, b * e)?)?,
            None => y,
        })
    }
}

impl<B: Backend> Module<B> for MultiheadAttention<B> {
    /// Self-attention without a mask.
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        self.forward_masked(x, &AttentionMask::none())
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        f(&join(prefix, "in_proj_weight"), &self.in_proj_weight, TensorKind::Parameter);
        if let Some(b) = &self.in_proj_bias {
            f(&join(prefix, "in_proj_bias"), b, TensorKind::Parameter);
        }
        self.out_proj.visit(&join(prefix, "out_proj"), f);
    }

    fn set_training(&self, training: bool) {
        if let Some(d) = &self.dropout {
            Module::<B>::set_training(d, training);
        }
    }
}
