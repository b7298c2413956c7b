//! The backend seam: where the heavy kernels of ring tensors run ([`Backend`], with
//! [`CpuBackend`] on the host). Defined beside the tensor type, whose signatures and storage
//! it shares (a device is a backend that owns tensors' elements), and re-exported here.

pub use crate::tensor::backend::*;
