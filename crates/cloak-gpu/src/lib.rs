//! # cloak-gpu
//!
//! A CUDA implementation of the ring layer's [`Device`](cloak_ring::Device) for `u64` (the
//! ring Z_2^64): ring tensors live in GPU memory, and every tensor operation of a protocol
//! (elementwise wrapping arithmetic, shifts and bit operations with broadcasting, permutes,
//! slices, concatenation and padding, gathers, axis sums, matrix products, convolutions and
//! their gradients) runs on the GPU. Data crosses to the host only where the protocol asks
//! for it: the wire bytes of a message. The dealer's seed-derived material is made on the GPU
//! too: [`Device::keystream`](cloak_ring::Device::keystream) runs AES-128 in counter mode
//! there, so a party's shares drawn from a seed never cross from the host.
//!
//! ```no_run
//! use cloak_gpu::CudaDevice;
//! use cloak_ring::RingTensor;
//!
//! match CudaDevice::new(0) {
//!     Ok(gpu) => {
//!         let dev = gpu.handle();
//!         let x = RingTensor::<u64>::from_vec(&[2, 2], vec![1, 2, 3, 4])?.to_device(&dev)?;
//!         let y = x.matmul(&x)?.add(&x)?; // on the GPU
//!         let bytes = y.try_to_le_bytes()?; // one download
//!         # let _ = bytes;
//!     }
//!     Err(why) => eprintln!("no CUDA device, staying on the CPU: {why}"),
//! }
//! # Ok::<(), cloak_ring::RingError>(())
//! ```
//!
//! ## Building without CUDA
//!
//! The crate builds on every machine: `cudarc` loads the driver (`libcuda.so`) and NVRTC
//! (`libnvrtc.so`) at run time, and no CUDA toolkit is needed to compile. The kernels are
//! CUDA C (`kernels/*.cu`), embedded in the library and compiled by NVRTC on the GPU machine
//! the first time they are used. [`CudaDevice::new`] returns a [`GpuError`] (never panics)
//! where the driver, NVRTC or the GPU is missing; tests that need a GPU print
//! `skipped: no CUDA device: <reason>` and pass.
//!
//! ## What is verified where
//!
//! **The CUDA kernels are compiled and run only on a machine with a GPU; CI checks that the
//! crate builds, and skips the GPU tests. None of them, the keystream kernel included, has
//! been run on a GPU yet.** On machines without a GPU, the tests check what can be checked
//! there: that opening a device fails with a readable error; that every kernel the Rust side
//! launches is defined in its source with matching argument structs and operation codes;
//! the index arithmetic of the GEMM tiling and of every convolution plan (im2col and col2im
//! layouts, batch strides, chunking), run by host emulations of the kernels and compared bit
//! for bit with the CPU backend; and the keystream: the host's AES-128 key schedule against
//! FIPS-197 appendix A.1, and the kernel's per-thread code (tables, rounds, counter, odd
//! first words and partial last blocks, grid-stride steps) both emulated in Rust and, where
//! a C++ compiler is at hand, `aes.cu` itself compiled for the host, against FIPS-197's
//! vectors and the ring layer's reference stream. What only a GPU shows (NVRTC accepting
//! the sources, shared memory and barriers, the launches themselves) is checked by
//! `cargo xtask gpu-check`, which runs the ring layer's device and backend conformance suites
//! on the GPU (the keystream among them) and times the GEMM, elementwise and keystream
//! kernels.
//!
//! ## Running on a GPU machine
//!
//! Needs the NVIDIA driver (`libcuda.so.1`) and NVRTC from a CUDA 12 toolkit
//! (`libnvrtc.so.12`, found through the loader's path: add the toolkit's `lib64` to
//! `LD_LIBRARY_PATH` if it is not in a system directory). Then, from the workspace root:
//!
//! ```text
//! cargo xtask gpu-check        # everything below, in one go
//! CLOAK_REQUIRE_GPU=1 cargo test --release -p cloak-gpu -- --nocapture --test-threads=1
//! cargo run --release -p cloak-gpu --example gpu_check
//! ```
//!
//! `CLOAK_REQUIRE_GPU=1` turns the tests' skip into a failure, so that a broken setup on the
//! machine meant to run them does not pass silently (cuBLAS missing included, for the FP64
//! limb GEMM's test).
//!
//! The second GEMM method ([`GemmMethod::Fp64Limbs`]) also needs cuBLAS from the toolkit
//! (`libcublas.so.12`, found like NVRTC); without it only that method is unavailable. To run
//! every suite through it (the conformance suites' matmuls included):
//!
//! ```text
//! CLOAK_GPU_GEMM=fp64 CLOAK_REQUIRE_GPU=1 cargo test --release -p cloak-gpu -- --nocapture --test-threads=1
//! ```
//!
//! ## Design
//!
//! - One context and one stream per GPU, shared by every handle: operations queue in order
//!   and never wait on each other explicitly; downloads wait for the stream.
//! - What crosses to and from the host (the wire bytes of a message, the values opened to
//!   a party, any upload or download) goes through one page-locked (pinned) staging buffer
//!   per GPU, allocated at the first transfer, grown on demand to at most 2^25 words (larger
//!   transfers are chunked) and reused, behind a mutex; wire bytes are encoded straight out
//!   of it and decoded straight into it. Where the driver refuses page-locked memory, the
//!   transfer takes the plain path through pageable memory instead. Transfers are counted
//!   the same either way. Never run on a GPU yet: without one, the tests check the sizing
//!   and chunking logic and the byte encoding; on a GPU, a test compares the wire bytes of
//!   odd sizes and of a chunked transfer with the host's.
//! - Every kernel is a plain loop over its output with `unsigned long long` arithmetic, which
//!   wraps mod 2^64 exactly as the host does. Shapes and strides travel as small structs by
//!   value (rank at most 8; more is a typed error). The host checks every bound the kernels
//!   rely on before launching.
//! - Two GEMM methods compute [`Backend::matmul`](cloak_ring::Backend::matmul), bit for bit
//!   the same, chosen per handle ([`CudaDevice::with_gemm`], or `CLOAK_GPU_GEMM=int64|fp64`
//!   when a device is opened; [`GemmMethod::Int64`] by default until measurements say
//!   otherwise): the 64-bit integer kernel below, and 16-bit limbs on FP64, as CrypTen does
//!   (each word split into four limbs held as doubles, the ten limb-pair products with
//!   i + j < 4 by cuBLAS DGEMM, exact below 2^53 for inner dimensions up to 2^21 and chunked
//!   beyond, recombined mod 2^64 by a kernel). The limb method needs `libcublas`, loaded at
//!   run time (its absence makes the method unavailable, nothing else), takes scratch of
//!   four doubles per element of A and B and ten per element of C, and leaves products too large for cuBLAS's 32-bit sizes,
//!   and every convolution, to the integer kernel. `examples/gpu_check.rs` checks both
//!   against the CPU and says which is faster. **Neither cuBLAS nor `kernels/limbs.cu` has
//!   run on a GPU yet**: without one, the tests check the method by a host emulation (split,
//!   ten f64 products with the same chunking, recombination) and by `limbs.cu` itself
//!   compiled for the host, both against the CPU backend bit for bit for random and all-bits-
//!   set operands and inner dimensions at and past 2^21, and show that without the chunking
//!   the result is wrong at k = 2^22. The cuBLAS call (column-major operands, leading
//!   dimensions, batch strides) is checked only on a GPU.
//! - The GEMM is tiled through shared memory (64 x 64 tiles, 4 x 4 per thread) for any m, n,
//!   k, with strided operands and a two-level batch, so the convolution products (weights
//!   times im2col columns, transposed weights times output gradients, output gradients times
//!   transposed columns) are GEMM launches too. Nothing falls back to the CPU.
//! - The keystream kernel (`kernels/aes.cu`) encrypts one counter block per thread and
//!   grid-stride step with table-based AES-128 (four 1 KiB T-tables built in shared memory
//!   from the S-box in constant memory); the host expands the key and passes the 176 bytes of
//!   round keys by value, so making a stream uploads nothing. A stream may start at any word
//!   (an odd first word begins mid-block) and end at any word.

mod backend;
mod buffer;
mod context;
mod conv;
mod device;
mod elementwise;
mod error;
mod gemm;
mod kernels;
mod keystream;
mod launch;
mod limbs;
mod probe;
mod staging;

pub use device::{CudaDevice, GemmMethod};
pub use error::GpuError;
pub use launch::MAX_RANK;
pub use probe::{cublas_library_present, driver_library_present, nvrtc_library_present};
