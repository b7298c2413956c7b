//! The battery's graphs, their inputs and tolerances.

use cloak_mpc::Pool2dSpec;
use cloak_ring::Conv2dSpec;
use ndarray::ArrayD;

use crate::{Backend, Result, Var};
use cloak_ring::testing::TestRng;

/// One differentiable graph of the battery: a few inputs, one operation (or a short
/// chain), a seed gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // Each name says which operation it builds.
pub enum Case {
    AddBroadcast,
    SubMul,
    Square,
    Matmul,
    MatmulBatched,
    Conv2d,
    Conv1d,
    Relu,
    Hardtanh,
    Abs,
    Sigmoid,
    Tanh,
    Exp,
    Log,
    Reciprocal,
    Sqrt,
    InvSqrt,
    Div,
    Softmax,
    LogSoftmax,
    MaxPool,
    AvgPool,
    AdaptiveAvg,
    GlobalAvg,
    Shapes,
    Reductions,
    PublicOperands,
    Erf,
    Max,
    MaxKeepdim,
    IndexSelect,
    Pad,
    ConvTranspose2d,
    ConvTranspose2dDilated,
}

impl Case {
    /// Every case.
    pub const ALL: [Case; 34] = [
        Case::AddBroadcast,
        Case::SubMul,
        Case::Square,
        Case::Matmul,
        Case::MatmulBatched,
        Case::Conv2d,
        Case::Conv1d,
        Case::Relu,
        Case::Hardtanh,
        Case::Abs,
        Case::Sigmoid,
        Case::Tanh,
        Case::Exp,
        Case::Log,
        Case::Reciprocal,
        Case::Sqrt,
        Case::InvSqrt,
        Case::Div,
        Case::Softmax,
        Case::LogSoftmax,
        Case::MaxPool,
        Case::AvgPool,
        Case::AdaptiveAvg,
        Case::GlobalAvg,
        Case::Shapes,
        Case::Reductions,
        Case::PublicOperands,
        Case::Erf,
        Case::Max,
        Case::MaxKeepdim,
        Case::IndexSelect,
        Case::Pad,
        Case::ConvTranspose2d,
        Case::ConvTranspose2dDilated,
    ];

    /// Inputs of the case's shapes and ranges.
    #[must_use]
    pub fn inputs(self, rng: &mut TestRng) -> Vec<ArrayD<f64>> {
        let g = |rng: &mut TestRng, s: &[usize]| rng.array(s, -2.0, 2.0);
        let pos = |rng: &mut TestRng, s: &[usize]| rng.array(s, 0.5, 4.0);
        match self {
            Case::AddBroadcast => vec![g(rng, &[3, 4]), g(rng, &[4])],
            Case::SubMul => vec![g(rng, &[3, 4]), g(rng, &[3, 1])],
            Case::Matmul => vec![g(rng, &[3, 5]), g(rng, &[5, 2])],
            Case::MatmulBatched => vec![g(rng, &[2, 3, 4]), g(rng, &[4, 2])],
            Case::Conv2d => vec![g(rng, &[2, 4, 6, 5]), g(rng, &[6, 2, 3, 2])],
            Case::Conv1d => vec![g(rng, &[2, 3, 9]), g(rng, &[4, 3, 3])],
            Case::MaxPool | Case::AvgPool => vec![g(rng, &[2, 2, 6, 6])],
            Case::AdaptiveAvg | Case::GlobalAvg => vec![g(rng, &[2, 3, 5, 5])],
            Case::Log | Case::Reciprocal | Case::Sqrt | Case::InvSqrt => vec![pos(rng, &[3, 4])],
            Case::Div => vec![g(rng, &[3, 4]), pos(rng, &[3, 4])],
            Case::Softmax | Case::LogSoftmax => vec![rng.array(&[4, 5], -4.0, 4.0)],
            Case::MaxKeepdim => vec![g(rng, &[3, 5, 2])],
            // [C_in, C_out/groups, kh, kw]: 4 input channels in 2 groups, 6 output channels.
            Case::ConvTranspose2d => vec![g(rng, &[2, 4, 3, 4]), g(rng, &[4, 3, 3, 2])],
            Case::ConvTranspose2dDilated => vec![g(rng, &[1, 2, 4, 3]), g(rng, &[2, 2, 2, 3])],
            _ => vec![g(rng, &[3, 4])],
        }
    }

    /// The case's graph on `x`, on any backend.
    ///
    /// # Errors
    /// The backend's error.
    pub fn build<B: Backend>(self, x: &[Var<B>]) -> Result<Var<B>> {
        let a = &x[0];
        match self {
            Case::AddBroadcast => a.add(&x[1]),
            Case::SubMul => a.sub(&x[1])?.mul(&x[1]),
            Case::Square => a.square(),
            Case::Matmul | Case::MatmulBatched => a.matmul(&x[1]),
            Case::Conv2d => {
                let spec =
                    Conv2dSpec { stride: (2, 1), padding: (1, 1), dilation: (1, 2), groups: 2 };
                a.conv2d(&x[1], &spec)
            }
            Case::Conv1d => {
                let spec = Conv2dSpec { stride: (1, 2), padding: (0, 1), ..Conv2dSpec::default() };
                a.conv1d(&x[1], &spec)
            }
            Case::Relu => a.relu(),
            Case::Hardtanh => a.hardtanh(-1.0, 1.5),
            Case::Abs => a.abs(),
            Case::Sigmoid => a.sigmoid(),
            Case::Tanh => a.tanh(),
            Case::Exp => a.exp(),
            Case::Log => a.log(),
            Case::Reciprocal => a.reciprocal(),
            Case::Sqrt => a.sqrt(),
            Case::InvSqrt => a.inv_sqrt(),
            Case::Div => a.div(&x[1]),
            Case::Softmax => a.softmax(1),
            Case::LogSoftmax => a.log_softmax(1),
            Case::MaxPool => {
                a.max_pool2d(&Pool2dSpec { kernel: (3, 3), stride: (2, 2), padding: (1, 1) })
            }
            Case::AvgPool => {
                a.avg_pool2d(&Pool2dSpec { kernel: (3, 3), stride: (2, 2), padding: (1, 1) })
            }
            Case::AdaptiveAvg => a.adaptive_avg_pool2d((2, 3)),
            Case::GlobalAvg => a.global_avg_pool2d(),
            Case::Shapes => {
                let p = a.permute(&[1, 0])?.reshape(&[2, 6])?.pad2d((1, 0))?;
                let s = p.slice(1, 1, 5)?;
                let other = a.t()?.slice(1, 0, 2)?.flatten_from(0)?.reshape(&[4, 2])?;
                Var::concat(&[&s, &other], 1)
            }
            Case::Reductions => {
                let m = a.mean(0, true)?;
                a.sub(&m)?.sum(1, false)?.add(&a.mean_all()?.broadcast_to(&[3])?)
            }
            Case::Erf => a.erf(),
            Case::Max => a.max(1, false),
            Case::MaxKeepdim => a.max(0, true),
            // Index 2 twice (its gradients add up), index 1 never (zero gradient).
            Case::IndexSelect => a.index_select(1, &[2, 0, 2, 3])?.index_select(0, &[1, 1, 0]),
            Case::Pad => a.pad(&[(1, 0), (2, 3)], -0.5),
            Case::ConvTranspose2d => {
                // Stride 2, padding 1, dilation 2, output padding 1, two groups.
                let spec =
                    Conv2dSpec { stride: (2, 2), padding: (1, 1), dilation: (2, 1), groups: 2 };
                a.conv_transpose2d(&x[1], &spec, (1, 1))
            }
            Case::ConvTranspose2dDilated => {
                // Output padding 1 at stride 1 (allowed by dilation 2): the backward's
                // convolution has a row more than the input, cropped (and padded for the
                // weight gradient).
                let spec =
                    Conv2dSpec { stride: (1, 2), padding: (0, 1), dilation: (2, 1), groups: 1 };
                a.conv_transpose2d(&x[1], &spec, (1, 0))
            }
            Case::PublicOperands => {
                // What dropout (a public mask) and fixed biases do.
                let mask = ndarray::array![0.0, 2.0, 2.0, 0.0].into_dyn();
                let shift = ndarray::array![[0.5], [-1.0], [0.25]].into_dyn();
                a.mul_public(&mask)?.add_public(&shift)?.div_scalar(4.0)?.neg()
            }
        }
    }

    /// `(abs, rel)` tolerance of a fixed-point backend's result against the plain one, at
    /// 16 fractional bits (see the module documentation).
    #[must_use]
    pub fn tolerance(self) -> (f64, f64) {
        match self {
            Case::AddBroadcast
            | Case::Shapes
            | Case::Reductions
            | Case::Relu
            | Case::Hardtanh
            | Case::Abs
            | Case::MaxPool
            | Case::AvgPool
            | Case::AdaptiveAvg
            | Case::GlobalAvg
            | Case::SubMul
            | Case::PublicOperands
            | Case::Max
            | Case::MaxKeepdim
            | Case::IndexSelect
            | Case::Pad
            | Case::Square => (1e-4, 0.0),
            Case::Matmul
            | Case::MatmulBatched
            | Case::Conv1d
            | Case::Conv2d
            | Case::ConvTranspose2d
            | Case::ConvTranspose2dDilated => (3e-4, 0.0),
            _ => (3e-4, 3e-3),
        }
    }
}
