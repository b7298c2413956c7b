//! Device-resident ring tensors ([`Device`], [`SimulatedDevice`]): defined beside the tensor
//! type, whose storage holds device buffers, and re-exported here.

pub use crate::tensor::device::*;
