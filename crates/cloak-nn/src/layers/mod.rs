//! The layers. Each is generic over the autograd backend, so one definition serves private
//! and plain models.

mod activation;
mod attention;
mod attention_softmax;
mod batchnorm;
mod container;
mod conv;
mod dropout;
mod embedding;
mod fixed_weights;
mod gelu;
mod layernorm;
mod linear;
mod mask;
mod pool;
mod positional;
mod token_pool;
mod transformer;

pub use activation::{Hardtanh, LogSoftmax, ReLU, ReLU6, Sigmoid, Softmax, Tanh};
pub use attention::MultiheadAttention;
pub use attention_softmax::AttentionSoftmax;
pub use batchnorm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use container::{Flatten, Residual, Sequential};
pub use conv::{Conv1d, Conv2d};
pub use dropout::Dropout;
pub use embedding::{Embedding, Tokens, one_hot};
pub use gelu::{GELU, GeluApproximate, gelu};
pub use layernorm::LayerNorm;
pub use linear::Linear;
pub use mask::{AttentionMask, AttnMask, MASKED_SCORE};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d};
pub use positional::{PositionalEmbedding, SinusoidalEncoding};
pub use token_pool::{TokenPool, TokenPooling};
pub use transformer::{
    EncoderLayerConfig, FeedForwardActivation, TransformerEncoder, TransformerEncoderLayer,
};
