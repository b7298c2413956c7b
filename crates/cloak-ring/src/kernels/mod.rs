//! CPU kernels on raw row-major slices: wrapping GEMM in `Z_2^64` and `Z_2^32`, and the
//! convolutions built on it (im2col + GEMM).
//!
//! Every MPC multiplication of tensors (Beaver products of matmuls and convolutions) ends up in
//! one of these GEMMs, so they decide how fast the whole system is. The design follows
//! GotoBLAS/BLIS (`blocking.rs`): operands are packed into cache-sized blocks laid out for a
//! register-tiled micro-kernel, and the micro-kernel is written per instruction set:
//!
//! - `u64`, AVX-512 IFMA (`u64_ifma.rs`): three 52-bit multiply-adds per eight products, a
//!   third fewer vector uops than `vpmullq` plus `vpaddq`;
//! - `u64`, AVX-512DQ (`u64_avx512.rs`): `vpmullq` plus `vpaddq`;
//! - `u64`, AVX2 (`u64_avx2.rs`): `vpmuludq` for the low halves, one `vpmulld` for both cross
//!   terms, folded once per tile;
//! - `u32`, AVX-512 VNNI (`u32_vnni.rs`): signed 16-bit limbs with `vpdpwssd`, 32 products in
//!   three instructions;
//! - `u32`, AVX-512F (`u32_avx512.rs`): `vpmulld` plus `vpaddd`;
//! - plain Rust everywhere else (`portable.rs`; for `u32` also compiled for AVX2, where it
//!   becomes `vpmulld`).
//!
//! The fastest kernel the CPU supports is picked at run time (`select.rs`, detected once); the
//! `*_with` functions take an explicit, checked kernel so that every path can be tested on one
//! machine. With [`Parallelism::Rayon`], large products are split among the calling thread and
//! the rayon pool's workers (`team.rs`).

mod blocking;
mod buffers;
pub mod conv;
mod dispatch;
mod driver;
mod im2col;
mod portable;
mod select;
mod skinny;
mod team;
#[cfg(target_arch = "x86_64")]
mod u32_avx512;
#[cfg(target_arch = "x86_64")]
mod u32_vnni;
#[cfg(target_arch = "x86_64")]
mod u64_avx2;
#[cfg(target_arch = "x86_64")]
mod u64_avx512;
#[cfg(target_arch = "x86_64")]
mod u64_ifma;

pub use dispatch::{gemm_batched, gemm_u32, gemm_u32_with, gemm_u64, gemm_u64_with};
pub use select::{
    GemmKernel, U32Kernel, U64Kernel, gemm_u32_kernel, gemm_u32_kernel_name, gemm_u64_kernel,
    gemm_u64_kernel_name,
};

/// How many threads a kernel may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Parallelism {
    /// The calling thread only.
    Sequential,
    /// The calling thread plus the current rayon pool's workers, for problems big enough to pay
    /// for it (small ones stay on the calling thread).
    #[default]
    Rayon,
}
