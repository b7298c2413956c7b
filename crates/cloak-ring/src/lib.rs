//! `cloak-ring`: the ring `Z_2^64` (and `Z_2^32`), fixed-point encoding, ring tensors and the
//! CPU kernels that every layer of Cloak stands on.
//!
//! - [`RingElement`]: `u64` and `u32` with wrapping arithmetic.
//! - [`FixedPoint`]: reals to ring elements and back, rounding to nearest, exact decoding.
//! - [`RingTensor`]: n-dimensional tensors with wrapping arithmetic, broadcasting, shape ops,
//!   matmul and convolutions, little-endian wire encoding.
//! - [`BitTensor`]: bit-packed booleans.
//! - [`BilinearOp`]: the bilinear maps (products, matmuls, convolutions and their
//!   gradients) a Beaver triple can be made for, with their shapes.
//! - [`Backend`]: the seam where heavy kernels run ([`CpuBackend`] by default).
//! - [`device`]: device-resident tensors ([`Device`], and [`SimulatedDevice`], which counts
//!   every transfer).
//! - [`conformance`]: the test suite every [`Backend`] must pass
//!   ([`backend_conformance_tests!`]).
//! - [`testing::TestRng`]: the workspace's seeded generator of test data (never of shares).

pub mod backend;
pub mod bilinear;
pub mod bits;
pub mod conformance;
pub mod device;
pub mod digits;
pub mod element;
pub mod error;
pub mod fixed;
pub mod kernels;
pub mod memory;
pub mod planes;
mod pool_spec;
pub mod tensor;
pub mod testing;

pub use backend::{Backend, CpuBackend};
pub use bilinear::BilinearOp;
pub use bits::BitTensor;
pub use device::{Device, DeviceBuffer, DeviceRef, SimulatedDevice};
pub use element::RingElement;
pub use error::{Result, RingError};
pub use fixed::{DEFAULT_FRAC_BITS, FixedPoint};
pub use kernels::Parallelism;
pub use planes::{from_bit_planes, to_bit_planes};
pub use pool_spec::Pool2dSpec;
pub use tensor::linalg::{
    MatmulDims, conv_transpose2d_output_shape, conv2d_output_shape, matmul_dims,
};
pub use tensor::{Conv2dSpec, RingTensor, broadcast_shapes};
