//! The protocol primitives every shared-tensor operation is built from, public so that a
//! new protocol can be written in any crate.
//!
//! A [`Context`] is one party's view of a computation. Its methods work on this party's raw
//! shares: additive shares of ring values as `RingTensor<u64>` (the value is the wrapping
//! sum of every party's share) and XOR shares of bits packed in `u64` words (the value is
//! the XOR of the shares). Get it from a session with
//! [`Session::context`](crate::Session::context), and label its traffic with
//! [`Session::scoped`](crate::Session::scoped); wrap results back with
//! [`AShare::from_share`](crate::AShare::from_share).
//!
//! | primitive | rounds | sent to each peer (`n` elements) | invariant |
//! |---|---|---|---|
//! | [`open_words`](Context::open_words), [`open_parts`](Context::open_parts), [`open_tensors`](Context::open_tensors) | 1 | 8 B per word, all parts in one message | everyone learns the sum (or XOR) of the shares |
//! | [`open_words_to`](Context::open_words_to) | 1 | 8 B per word, to the owner only | only the owner learns it |
//! | [`beaver`](Context::beaver) (any [`BilinearOp`](cloak_dealer::BilinearOp)) | 1 | 8 B per word of both operands | shares of `op(x, y)` at the product's scale |
//! | [`beaver_fixed_rhs`](Context::beaver_fixed_rhs) | 1 | 8 B per word of the left operand | as `beaver`, right operand opened once |
//! | [`square`](Context::square) | 1 | `8n` B | shares of `x * x` |
//! | [`and_words`](Context::and_words) | 1 | 16 B per word of gates | XOR shares of `x & y` |
//! | [`and_monomials`](Context::and_monomials), [`and_monomials_tensors`](Context::and_monomials_tensors) | 1 | 8 B per word of every variable | XOR shares of products of any number of bits |
//! | [`carry_tree`](Context::carry_tree), [`carry_lookahead`](Context::carry_lookahead) | `ceil(log2 n)`, `ceil(log4 n)` | 52, 34 bits per chain for 16 positions | XOR shares of the carry out of `n` positions |
//! | [`add_binary_words`](Context::add_binary_words) (A2B adder) | 7 (2 parties) | 192 B per element (12 AND words) | XOR shares of the sum of XOR-shared values |
//! | [`add_binary_tensors`](Context::add_binary_tensors), [`and_tensor_pairs`](Context::and_tensor_pairs) | as their word forms | as their word forms | the same, on tensors where the shares live |
//! | [`msb_of_sum_planes`](Context::msb_of_sum_planes) (the sign circuit) | 7 (2 parties) | about 45 B per element (181 AND gates) | XOR shares of the top bit of the sum |
//! | [`msb_of_sum_plane_tensors`](Context::msb_of_sum_plane_tensors) | as its word form | as its word form | the same, on `[64, W]` plane tensors where the shares live |
//! | [`words_to_arith`](Context::words_to_arith), [`words_to_arith_tensor`](Context::words_to_arith_tensor) (B2A of words) | 1 | `8n` B | additive shares of XOR-shared words |
//! | [`bits_to_arith`](Context::bits_to_arith) (B2A of bits) | 1 | `n / 8` B | additive 0/1 shares of XOR-shared bits |
//! | [`mul_by_xor_bits`](Context::mul_by_xor_bits) | 1 | `n / 8 + 16n` B | shares of `b * x` for an XOR-shared bit `b` |
//! | [`truncate`](Context::truncate), [`truncate_many`](Context::truncate_many) | 0 or 1 | by strategy | shares of `x / 2^bits`, within one unit |
//! | [`divide_with_pair`](Context::divide_with_pair) | 1 | `8n` B | shares of `x / d`, within two units |
//! | [`truncate_times_ltz`](Context::truncate_times_ltz) | 4 with dealer digits and dealer pairs (fused), else truncation + `times_ltz` | 12.4 B per element fused | `y = x / 2^bits`, `[y < 0] * y`, `[y < 0]` |
//! | [`ltz_packed`](Context::ltz_packed), [`ltz_packed_tensor`](Context::ltz_packed_tensor), [`ltz_arith`](Context::ltz_arith), [`times_ltz`](Context::times_ltz) | by strategy | by strategy | `[x < 0]`, XOR or additive |
//!
//! Two choices that protocols differ in are strategies, selected in
//! [`SessionConfig`](crate::SessionConfig): the comparison ([`ComparisonProtocol`], built in:
//! [`DealerDigits`], the default; [`DealerBits`]; [`BitPlaneCarry`]; and, for two parties,
//! [`FunctionSecretSharing`], one online round) and the truncation ([`TruncationProtocol`], built in: [`Truncation`]).
//! A new one is a type implementing the trait, handed to the configuration with
//! [`ComparisonStrategy::new`] or [`TruncationStrategy::new`]; every comparison, ReLU, max,
//! pooling and function of the layers above then uses it.
//!
//! A comparison strategy in a few lines (CrypTen's: the top bit of the full binary sum):
//!
//! ```
//! use cloak_mpc::primitives::{ComparisonProtocol, ComparisonStrategy, Context};
//! use cloak_mpc::{AShare, Result, SessionConfig, run_local};
//! use cloak_ring::RingTensor;
//!
//! struct FullAdder;
//!
//! impl ComparisonProtocol for FullAdder {
//!     fn name(&self) -> &'static str {
//!         "full-adder"
//!     }
//!     fn ltz_packed(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<Vec<u64>> {
//!         let values = ctx.own_as_binary_values(&x.as_slice());
//!         let sums = ctx.add_binary_words(values)?;
//!         let mut packed = vec![0u64; sums.len().div_ceil(64)];
//!         for (k, w) in sums.iter().enumerate() {
//!             packed[k / 64] |= (w >> 63) << (k % 64);
//!         }
//!         Ok(packed)
//!     }
//! }
//!
//! let config = SessionConfig { comparison: ComparisonStrategy::new(FullAdder), ..Default::default() };
//! let x = ndarray::arr1(&[-1.5, 2.0]).into_dyn();
//! let out = run_local(2, &config, |s| {
//!     AShare::share(s, 0, (s.rank() == 0).then_some(&x), &[2])?.relu()?.reveal()
//! });
//! assert_eq!(out[0].as_ref().unwrap(), &ndarray::arr1(&[0.0, 2.0]).into_dyn());
//! ```
//!
//! Round batching: every primitive that opens several things opens them in one message per
//! peer; to batch across primitives, gather the masked values yourself and call
//! [`open_parts`](Context::open_parts) once, as [`mul_by_xor_bits`](Context::mul_by_xor_bits)
//! does with its bit and its Beaver masks.
//!
//! Every party must call the same primitives in the same order with the same shapes.
//! Shares are secret: never log them; a party sees only its own.

mod adder;
mod adder_tensors;
mod and;
mod b2a;
mod b2a_tensors;
mod beaver;
mod bit_tensors;
mod context;
mod dcf;
mod digits;
mod divide_device;
mod edabits;
mod fss;
mod fss_trunc;
mod inject;
mod lookahead;
mod monomials;
mod open;
mod placement;
mod sign;
mod sign_circuits;
mod sign_planes;
mod sign_tensor;
mod strategy;
mod trunc;

pub use adder_tensors::pack_bits;
pub use beaver::fused_mul;
pub(crate) use bit_tensors::unpack_bits;
pub use context::Context;
pub(crate) use context::Parts;
pub use digits::DealerDigits;
pub use edabits::DealerBits;
pub use fss::{DEFAULT_KEY_BUDGET, FunctionSecretSharing, SignKeys, fss_correlations};
pub use fss_trunc::{FssTruncation, TruncKeys};
pub use inject::gather_bits;
pub use monomials::{MAX_MONOMIAL_DEGREE, mask_subsets};
pub use placement::ComputeDevice;
pub use sign::{BitPlaneCarry, ComparisonProtocol, ComparisonStrategy, TruncatedSign};
pub use sign_planes::bit_plane_tensor;
pub use trunc::{Truncation, TruncationProtocol, TruncationStrategy};
