//! Transformer encoder blocks, PyTorch's `nn.TransformerEncoderLayer` (with
//! `batch_first=True`) and `nn.TransformerEncoder`, parameters named as PyTorch's.
//!
//! Post-norm (PyTorch's default): `x = norm1(x + sa(x)); x = norm2(x + ff(x))`. Pre-norm
//! (`norm_first`): `x = x + sa(norm1(x)); x = x + ff(norm2(x))`. The feed-forward part is
//! `linear2(activation(linear1(x)))`. Dropout (PyTorch's default 0.1) applies in training
//! only, with public masks (see [`Dropout`]); evaluation ignores it.
//!
//! On shares a block costs its attention (see [`MultiheadAttention`]), two layer norms
//! (one inverse square root each), two linear products, and the activation (ReLU: one
//! comparison; GELU: one `erf`). The residual additions are local. Measured for two
//! parties: post-norm with ReLU, `E = 8`, `H = 2`, feed-forward 16, 2 sequences of 5
//! tokens: 114 rounds and 76 KB sent per party forward, 31 rounds backward; post-norm with
//! GELU, `E = 128`, `H = 2`, feed-forward 512, 128 tokens: 153 rounds and 43 MB forward,
//! 49 rounds and 25 MB backward. The attention's softmax can be one of MPCFormer's
//! cheaper functions for a model trained with it
//! ([`EncoderLayerConfig::attention_softmax`]).

use cloak_autograd::{Backend, Var};

use super::attention::MultiheadAttention;
use super::attention_softmax::AttentionSoftmax;
use super::dropout::Dropout;
use super::gelu::{GeluApproximate, gelu};
use super::layernorm::LayerNorm;
use super::linear::Linear;
use super::mask::AttentionMask;
use crate::error::{Result, invalid};
use crate::init::Init;
use crate::module::{Module, TensorKind, join};

/// The feed-forward activation (PyTorch's `activation="relu" | "gelu"`; PyTorch's `"gelu"`
/// is the exact form).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FeedForwardActivation {
    /// ReLU.
    #[default]
    Relu,
    /// GELU in the given form.
    Gelu(GeluApproximate),
}

/// The arguments of `nn.TransformerEncoderLayer`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EncoderLayerConfig {
    /// The width `E`.
    pub d_model: usize,
    /// The number of attention heads (dividing `d_model`).
    pub nhead: usize,
    /// The feed-forward width.
    pub dim_feedforward: usize,
    /// Dropout probability in training.
    pub dropout: f64,
    /// The feed-forward activation.
    pub activation: FeedForwardActivation,
    /// The layer norms' `eps`.
    pub layer_norm_eps: f64,
    /// Pre-norm when `true`, post-norm otherwise.
    pub norm_first: bool,
    /// Whether the linear layers and layer norms have biases.
    pub bias: bool,
    /// How the attention scores become weights (not a PyTorch argument: the exact
    /// softmax unless the model was trained with an approximation).
    pub attention_softmax: AttentionSoftmax,
}

impl EncoderLayerConfig {
    /// PyTorch's defaults: `dim_feedforward = 2048`, dropout 0.1, ReLU, `eps = 1e-5`,
    /// post-norm, biases; the exact softmax.
    #[must_use]
    pub fn new(d_model: usize, nhead: usize) -> Self {
        Self {
            d_model,
            nhead,
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: FeedForwardActivation::Relu,
            layer_norm_eps: 1e-5,
            norm_first: false,
            bias: true,
            attention_softmax: AttentionSoftmax::Exact,
        }
    }
}

/// One encoder block.
#[derive(Debug)]
pub struct TransformerEncoderLayer<B: Backend> {
    /// Self-attention.
    pub self_attn: MultiheadAttention<B>,
    /// `[dim_feedforward, d_model]`.
    pub linear1: Linear<B>,
    /// `[d_model, dim_feedforward]`.
    pub linear2: Linear<B>,
    /// The norm before (pre-norm) or after (post-norm) the attention.
    pub norm1: LayerNorm<B>,
    /// The norm around the feed-forward part.
    pub norm2: LayerNorm<B>,
    activation: FeedForwardActivation,
    norm_first: bool,
    /// After the activation, after the attention, after the feed-forward part.
    dropouts: Option<[Dropout; 3]>,
}

impl<B: Backend> TransformerEncoderLayer<B> {
    /// A block as PyTorch initialises it; `dropout_seed` draws the public dropout masks
    /// (every party passes the same; unused when the dropout is 0).
    ///
    /// # Errors
    /// Zero sizes, heads not dividing the width, dropout outside `[0, 1)` or a bad `eps`;
    /// the backend's errors.
    pub fn new(init: &mut Init<B>, config: &EncoderLayerConfig, dropout_seed: u64) -> Result<Self> {
        let c = config;
        if c.dim_feedforward == 0 {
            return Err(invalid("TransformerEncoderLayer", "dim_feedforward of 0"));
        }
        let p = c.dropout;
        let self_attn = MultiheadAttention::new(init, c.d_model, c.nhead, c.bias)?
            .with_dropout(p, dropout_seed)?
            .with_softmax(c.attention_softmax)?;
        let linear1 = Linear::new(init, c.d_model, c.dim_feedforward, c.bias)?;
        let linear2 = Linear::new(init, c.dim_feedforward, c.d_model, c.bias)?;
        let norm = |init: &mut Init<B>| {
            LayerNorm::with_options(init, &[c.d_model], c.layer_norm_eps, true, c.bias)
        };
        let (norm1, norm2) = (norm(init)?, norm(init)?);
        let seed = |k: u64| dropout_seed.wrapping_add(k);
        let dropouts = if p > 0.0 {
            Some([Dropout::new(p, seed(1))?, Dropout::new(p, seed(2))?, Dropout::new(p, seed(3))?])
        } else {
            None
        };
        Ok(Self {
            self_attn,
            linear1,
            linear2,
            norm1,
            norm2,
            activation: c.activation,
            norm_first: c.norm_first,
            dropouts,
        })
    }

    fn dropout(&self, i: usize, x: Var<B>) -> Result<Var<B>> {
        match &self.dropouts {
            Some(d) => Module::<B>::forward(&d[i], &x),
            None => Ok(x),
        }
    }

    /// The attention part with its dropout.
    fn sa(&self, x: &Var<B>, mask: &AttentionMask) -> Result<Var<B>> {
        let y = self.self_attn.forward_masked(x, mask)?;
        self.dropout(1, y)
    }

    /// The feed-forward part with its dropouts.
    fn ff(&self, x: &Var<B>) -> Result<Var<B>> {
        let h = self.linear1.forward(x)?;
        let h = match self.activation {
            FeedForwardActivation::Relu => h.relu()?,
            FeedForwardActivation::Gelu(approx) => gelu(&h, approx)?,
        };
        let h = self.dropout(0, h)?;
        let y = self.linear2.forward(&h)?;
        self.dropout(2, y)
    }

    /// The block on `x` `[N, L, E]` (or `[L, E]`) with an attention mask.
    ///
    /// # Errors
    /// Shapes or a mask that do not fit; the backend's errors.
    pub fn forward_masked(&self, x: &Var<B>, mask: &AttentionMask) -> Result<Var<B>> {
        if self.norm_first {
            let x = x.add(&self.sa(&self.norm1.forward(x)?, mask)?)?;
            Ok(x.add(&self.ff(&self.norm2.forward(&x)?)?)?)
        } else {
            let x = self.norm1.forward(&x.add(&self.sa(x, mask)?)?)?;
            self.norm2.forward(&x.add(&self.ff(&x)?)?)
        }
    }
}

impl<B: Backend> Module<B> for TransformerEncoderLayer<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        self.forward_masked(x, &AttentionMask::none())
    }

    /// PyTorch's `state_dict` order.
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        self.self_attn.visit(&join(prefix, "self_attn"), f);
        self.linear1.visit(&join(prefix, "linear1"), f);
        self.linear2.visit(&join(prefix, "linear2"), f);
        self.norm1.visit(&join(prefix, "norm1"), f);
        self.norm2.visit(&join(prefix, "norm2"), f);
    }

    fn set_training(&self, training: bool) {
        self.self_attn.set_training(training);
        for d in self.dropouts.iter().flatten() {
            Module::<B>::set_training(d, training);
        }
    }
}

/// A stack of encoder blocks with an optional final norm, PyTorch's
/// `nn.TransformerEncoder` (children `layers.0`, `layers.1`, ..., and `norm`).
#[derive(Debug)]
pub struct TransformerEncoder<B: Backend> {
    /// The blocks, in order.
    pub layers: Vec<TransformerEncoderLayer<B>>,
    /// The final norm, if any (pre-norm stacks usually have one).
    pub norm: Option<LayerNorm<B>>,
}

impl<B: Backend> TransformerEncoder<B> {
    /// `num_layers` blocks of `config` (each initialised afresh, block `i`'s dropout masks
    /// from `dropout_seed + 4 i`), and a final norm when `final_norm`.
    ///
    /// # Errors
    /// As [`TransformerEncoderLayer::new`].
    pub fn new(
        init: &mut Init<B>,
        config: &EncoderLayerConfig,
        num_layers: usize,
        final_norm: bool,
        dropout_seed: u64,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|i| {
                let seed = dropout_seed.wrapping_add(4 * i as u64);
                TransformerEncoderLayer::new(init, config, seed)
            })
            .collect::<Result<Vec<_>>>()?;
        let norm = if final_norm {
            let (d, eps) = (config.d_model, config.layer_norm_eps);
            Some(LayerNorm::with_options(init, &[d], eps, true, config.bias)?)
        } else {
            None
        };
        Ok(Self { layers, norm })
    }

    /// The stack on `x` with one mask for every block.
    ///
    /// # Errors
    /// As [`TransformerEncoderLayer::forward_masked`].
    pub fn forward_masked(&self, x: &Var<B>, mask: &AttentionMask) -> Result<Var<B>> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward_masked(&h, mask)?;
        }
        match &self.norm {
            Some(n) => n.forward(&h),
            None => Ok(h),
        }
    }
}

impl<B: Backend> Module<B> for TransformerEncoder<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        self.forward_masked(x, &AttentionMask::none())
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        let layers = join(prefix, "layers");
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit(&join(&layers, &i.to_string()), f);
        }
        if let Some(n) = &self.norm {
            n.visit(&join(prefix, "norm"), f);
        }
    }

    fn set_training(&self, training: bool) {
        for layer in &self.layers {
            layer.set_training(training);
        }
    }
}
