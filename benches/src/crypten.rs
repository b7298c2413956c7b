//! CrypTen 0.4.1's figures on this kind of machine, the peer baseline of the protocol rows.
//!
//! Copied from `benches/data/crypten-0.4.1-baseline.md` (two parties as processes, trusted
//! first party, one thread each, 16 fractional bits). Bytes are party 0's sent plus received
//! (CrypTen counts 8 bytes per element and an all-reduce as a send and a receive).

/// One row of CrypTen's table.
#[derive(Clone, Copy, Debug)]
pub struct Baseline {
    /// Median seconds per operation.
    pub median_s: f64,
    /// Communication rounds logged by party 0.
    pub rounds: u64,
    /// Party 0's bytes, MiB.
    pub bytes_mib: f64,
    /// Max abs error against float32 torch.
    pub max_abs_err: f64,
}

/// Elementwise product of 1M elements.
pub const MUL_1M: Baseline =
    Baseline { median_s: 0.0853, rounds: 1, bytes_mib: 30.52, max_abs_err: 9.92e-05 };
/// 256 x 256 matrix product.
pub const MATMUL_256: Baseline =
    Baseline { median_s: 0.0117, rounds: 1, bytes_mib: 2.00, max_abs_err: 0.0011 };
/// 1024 x 1024 matrix product.
pub const MATMUL_1024: Baseline =
    Baseline { median_s: 0.3875, rounds: 1, bytes_mib: 32.00, max_abs_err: 0.00246 };
/// conv2d 1x64x56x56 by 64x64x3x3, padding 1.
pub const CONV2D: Baseline =
    Baseline { median_s: 0.0671, rounds: 1, bytes_mib: 3.62, max_abs_err: 0.00102 };
/// ReLU of 1M elements.
pub const RELU_1M: Baseline =
    Baseline { median_s: 1.4069, rounds: 9, bytes_mib: 442.50, max_abs_err: 1.53e-05 };
/// `x < y` of 1M elements (CrypTen got 2 of them wrong).
pub const LT_1M: Baseline =
    Baseline { median_s: 1.2779, rounds: 8, bytes_mib: 411.99, max_abs_err: 1.0 };
