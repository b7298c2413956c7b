//! The requests the suite asks for: one of every kind, every bilinear op with small shapes,
//! and edge cases (broadcasting on both sides, a shared matmul right operand, groups,
//! strides, the truncation-bit extremes, a bit count that is not a multiple of 64, sizes
//! spanning several chunks of the dealer's elementwise path), and invalid requests with the
//! error each must give.

use cloak_ring::{Conv2dSpec, RingError};

use super::kinds::{Affine, RowSums, XorKeys};
use crate::{BilinearOp, Request};

/// A convolution spec with square stride, padding and dilation.
#[must_use]
pub fn spec(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dSpec {
    Conv2dSpec {
        stride: (stride, stride),
        padding: (padding, padding),
        dilation: (dilation, dilation),
        groups,
    }
}

/// One request of every built-in kind but [`Request::TripleFixedRhs`] (which needs its
/// mask taken first: [`fixed_ops`]).
#[must_use]
pub fn builtin() -> Vec<Request> {
    let n = 3 * 4096 + 1001;
    vec![
        Request::Triple(BilinearOp::Mul { lhs: vec![2, 3], rhs: vec![3] }),
        Request::Triple(BilinearOp::Mul { lhs: vec![2, 1], rhs: vec![1, 3] }),
        Request::Triple(BilinearOp::Mul { lhs: vec![n], rhs: vec![n] }),
        Request::Triple(BilinearOp::Mul { lhs: vec![1], rhs: vec![1] }),
        Request::Triple(BilinearOp::Matmul { lhs: vec![4, 5], rhs: vec![5, 3] }),
        Request::Triple(BilinearOp::Matmul { lhs: vec![2, 4, 5], rhs: vec![2, 5, 3] }),
        Request::Triple(BilinearOp::Matmul { lhs: vec![2, 4, 5], rhs: vec![5, 3] }),
        Request::Triple(BilinearOp::Conv2d {
            input: vec![1, 2, 5, 5],
            weight: vec![3, 2, 3, 3],
            spec: spec(1, 1, 1, 1),
        }),
        Request::Triple(BilinearOp::Conv2d {
            input: vec![2, 4, 6, 6],
            weight: vec![2, 2, 3, 3],
            spec: spec(2, 0, 1, 2),
        }),
        Request::Triple(BilinearOp::Conv1d {
            input: vec![2, 3, 8],
            weight: vec![4, 3, 3],
            spec: Conv2dSpec { stride: (1, 2), padding: (0, 1), dilation: (1, 1), groups: 1 },
        }),
        Request::Triple(BilinearOp::Conv2dInputGrad {
            grad_out: vec![1, 3, 5, 5],
            weight: vec![3, 2, 3, 3],
            input_shape: vec![1, 2, 5, 5],
            spec: spec(1, 1, 1, 1),
        }),
        Request::Triple(BilinearOp::Conv2dWeightGrad {
            input: vec![1, 2, 5, 5],
            grad_out: vec![1, 3, 3, 3],
            weight_shape: vec![3, 2, 3, 3],
            spec: spec(2, 1, 1, 1),
        }),
        Request::Triple(BilinearOp::ConvTranspose2d {
            input: vec![1, 2, 3, 3],
            weight: vec![2, 3, 3, 3],
            spec: spec(2, 1, 1, 1),
            output_padding: (1, 1),
        }),
        Request::Square { shape: vec![3, 4] },
        Request::Square { shape: vec![n] },
        Request::BinaryTriple { words: 5 },
        Request::BinaryTriple { words: n },
        Request::TruncPair { shape: vec![4, 3], bits: 16 },
        Request::TruncPair { shape: vec![n], bits: 16 },
        Request::TruncPair { shape: vec![7], bits: 1 },
        Request::TruncPair { shape: vec![7, 3], bits: 63 },
        Request::DivPair { shape: vec![4, 3], divisor: 3 },
        Request::DivPair { shape: vec![n], divisor: 1000 },
        Request::DivPair { shape: vec![5], divisor: 1 },
        Request::DivPair { shape: vec![5], divisor: u64::MAX },
        Request::RandomBits { count: 130 },
        Request::EdaBits { count: 130 },
        Request::EdaBits { count: 64 },
        Request::RandomBits { count: 64 },
        Request::DigitTables { count: 130, inject: false },
        Request::DigitTables { count: 130, inject: true },
        Request::DigitTables { count: 64, inject: true },
        Request::TruncDigitTables { count: 130, bits: 16 },
        Request::TruncDigitTables { count: 64, bits: 1 },
        Request::TruncDigitTables { count: 7, bits: 63 },
        Request::MaskProducts { words: 3, vars: 7, subsets: vec![0b11, 0b111, 0b1111, 0x41, 0x7f] },
        Request::MaskProducts { words: 1, vars: 32, subsets: vec![u32::MAX, 0x8000_0001] },
        Request::MaskProducts { words: 2, vars: 2, subsets: vec![0b11] },
    ]
}

/// Requests of the suite's custom kinds: elementwise (small and over several chunks),
/// general, and with dealt material.
#[must_use]
pub fn custom() -> Vec<Request> {
    vec![
        Request::custom(Affine { len: 6, scale: 3 }),
        Request::custom(Affine { len: 2 * 4096 + 7, scale: u64::MAX }),
        Request::custom(RowSums { rows: 3, cols: 4 }),
        Request::custom(XorKeys { words: 5 }),
        Request::custom(XorKeys { words: 0 }),
    ]
}

/// Requests with no element at all.
#[must_use]
pub fn empty() -> Vec<Request> {
    vec![
        Request::Triple(BilinearOp::Mul { lhs: vec![0], rhs: vec![0] }),
        Request::Triple(BilinearOp::Matmul { lhs: vec![0, 3], rhs: vec![3, 0] }),
        Request::Square { shape: vec![0, 4] },
        Request::BinaryTriple { words: 0 },
        Request::TruncPair { shape: vec![0], bits: 8 },
        Request::RandomBits { count: 0 },
        Request::EdaBits { count: 0 },
        Request::DigitTables { count: 0, inject: true },
        Request::MaskProducts { words: 0, vars: 4, subsets: vec![0b1010] },
        Request::TruncDigitTables { count: 0, bits: 16 },
    ]
}

/// Products with a fixed right operand: a matmul with a batched left operand and a
/// grouped, strided conv.
#[must_use]
pub fn fixed_ops() -> Vec<BilinearOp> {
    vec![
        BilinearOp::Matmul { lhs: vec![2, 4, 5], rhs: vec![5, 3] },
        BilinearOp::Conv2d {
            input: vec![2, 4, 6, 6],
            weight: vec![6, 2, 3, 3],
            spec: spec(2, 1, 1, 2),
        },
    ]
}

/// Says whether a ring error is the one expected.
pub type Expect = fn(&RingError) -> bool;

/// Invalid requests and the ring error each must give.
#[must_use]
pub fn invalid() -> Vec<(Request, Expect)> {
    let conv = |padding| spec(1, padding, 1, 1);
    vec![
        (Request::Triple(BilinearOp::Matmul { lhs: vec![2, 3], rhs: vec![4, 5] }), |e| {
            matches!(e, RingError::ShapeMismatch { op: "matmul", .. })
        }),
        (Request::Triple(BilinearOp::Matmul { lhs: vec![3], rhs: vec![3, 2] }), |e| {
            matches!(e, RingError::ShapeMismatch { .. })
        }),
        (Request::Triple(BilinearOp::Mul { lhs: vec![2, 3], rhs: vec![4] }), |e| {
            matches!(e, RingError::ShapeMismatch { op: "mul", .. })
        }),
        (
            Request::Triple(BilinearOp::Conv2d {
                input: vec![1, 2, 5, 5],
                weight: vec![3, 4, 3, 3],
                spec: conv(1),
            }),
            |e| matches!(e, RingError::InvalidConv { .. }),
        ),
        (
            Request::Triple(BilinearOp::Conv2d {
                input: vec![2, 5, 5],
                weight: vec![3, 2, 3, 3],
                spec: conv(1),
            }),
            |e| matches!(e, RingError::ShapeMismatch { .. }),
        ),
        (
            Request::Triple(BilinearOp::Conv2d {
                input: vec![1, 2, 2, 2],
                weight: vec![3, 2, 3, 3],
                spec: conv(0),
            }),
            |e| matches!(e, RingError::InvalidConv { .. }),
        ),
        (
            Request::Triple(BilinearOp::Conv1d {
                input: vec![1, 2, 5, 5],
                weight: vec![3, 2, 3],
                spec: conv(0),
            }),
            |e| matches!(e, RingError::ShapeMismatch { op: "conv1d", .. }),
        ),
        (
            Request::Triple(BilinearOp::Conv2dInputGrad {
                grad_out: vec![1, 3, 4, 4],
                weight: vec![3, 2, 3, 3],
                input_shape: vec![1, 2, 5, 5],
                spec: conv(1),
            }),
            |e| matches!(e, RingError::ShapeMismatch { op: "conv2d_input_grad", .. }),
        ),
        (
            Request::Triple(BilinearOp::Conv2dWeightGrad {
                input: vec![1, 2, 5, 5],
                grad_out: vec![1, 3, 5, 4],
                weight_shape: vec![3, 2, 3, 3],
                spec: conv(1),
            }),
            |e| matches!(e, RingError::ShapeMismatch { op: "conv2d_weight_grad", .. }),
        ),
        (
            Request::Triple(BilinearOp::ConvTranspose2d {
                input: vec![1, 2, 3, 3],
                weight: vec![2, 3, 3, 3],
                spec: conv(0),
                output_padding: (1, 1),
            }),
            |e| matches!(e, RingError::InvalidConv { .. }),
        ),
        (Request::TruncPair { shape: vec![4], bits: 0 }, |e| {
            matches!(e, RingError::InvalidArgument { op: "trunc_pair", .. })
        }),
        (Request::TruncPair { shape: vec![4], bits: 64 }, |e| {
            matches!(e, RingError::InvalidArgument { op: "trunc_pair", .. })
        }),
        (Request::TruncPair { shape: vec![4], bits: u32::MAX }, |e| {
            matches!(e, RingError::InvalidArgument { op: "trunc_pair", .. })
        }),
        (Request::DivPair { shape: vec![4], divisor: 0 }, |e| {
            matches!(e, RingError::InvalidArgument { op: "div_pair", .. })
        }),
        (Request::Square { shape: vec![usize::MAX, 2] }, |e| {
            matches!(e, RingError::InvalidShape { .. })
        }),
        (Request::Triple(BilinearOp::Mul { lhs: vec![1 << 40, 1 << 40], rhs: vec![1] }), |e| {
            matches!(e, RingError::InvalidShape { .. })
        }),
        (Request::RandomBits { count: usize::MAX }, |e| {
            matches!(e, RingError::InvalidShape { .. })
        }),
        (Request::TruncDigitTables { count: 4, bits: 0 }, |e| {
            matches!(e, RingError::InvalidArgument { op: "trunc_digit_tables", .. })
        }),
        (Request::TruncDigitTables { count: 4, bits: 64 }, |e| {
            matches!(e, RingError::InvalidArgument { op: "trunc_digit_tables", .. })
        }),
        (Request::MaskProducts { words: 1, vars: 0, subsets: Vec::new() }, |e| {
            matches!(e, RingError::InvalidArgument { op: "mask_products", .. })
        }),
        (Request::MaskProducts { words: 1, vars: 33, subsets: Vec::new() }, |e| {
            matches!(e, RingError::InvalidArgument { op: "mask_products", .. })
        }),
        (Request::MaskProducts { words: 1, vars: 3, subsets: vec![0b1001] }, |e| {
            matches!(e, RingError::InvalidArgument { op: "mask_products", .. })
        }),
        (Request::MaskProducts { words: 1, vars: 3, subsets: vec![0b100] }, |e| {
            matches!(e, RingError::InvalidArgument { op: "mask_products", .. })
        }),
        (Request::MaskProducts { words: 1, vars: 3, subsets: vec![0b11; 4097] }, |e| {
            matches!(e, RingError::InvalidArgument { op: "mask_products", .. })
        }),
        (Request::MaskProducts { words: usize::MAX, vars: 3, subsets: vec![0b11] }, |e| {
            matches!(e, RingError::InvalidShape { .. })
        }),
        (Request::custom(RowSums { rows: usize::MAX, cols: 2 }), |e| {
            matches!(e, RingError::InvalidShape { .. })
        }),
    ]
}
