//! `cloak-ring`: the ring `Z_2^64` (and `Z_2^32`), fixed-point encoding, ring tensors and the
//! CPU kernels that every layer of Cloak stands on.

pub mod element;
pub mod kernels;

pub use element::RingElement;
pub use kernels::Parallelism;
