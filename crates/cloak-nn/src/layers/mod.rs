//! The layers. Each is generic over the autograd backend, so one definition serves private
//! and plain models.

mod activation;
mod batchnorm;
mod container;
mod conv;
mod dropout;
mod linear;
mod pool;

pub use activation::{Hardtanh, LogSoftmax, ReLU, ReLU6, Sigmoid, Softmax, Tanh};
pub use batchnorm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use container::{Flatten, Residual, Sequential};
pub use conv::{Conv1d, Conv2d};
pub use dropout::Dropout;
pub use linear::Linear;
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d};
