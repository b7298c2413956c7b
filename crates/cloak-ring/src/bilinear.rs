//! The bilinear operations a Beaver triple can be made for.
//!
//! A triple for a bilinear map `f` is `(a, b, c = f(a, b))`; with it, the parties compute
//! `f(x, y)` on shared `x`, `y` by opening `x - a` and `y - b` (one round). Every product the
//! layers above use is one of these maps, so one enum covers them all and the dealer, the
//! protocol and the wire format stay in step. It lives with the ring because it is pure
//! ring arithmetic (shapes and the product itself); the dealer only adds its encoding.

use crate::tensor::linalg::{conv_transpose2d_output_shape, conv2d_output_shape, matmul_dims};
use crate::{Conv2dSpec, RingError, RingTensor, broadcast_shapes};

/// A bilinear map of two ring tensors, with its operand shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BilinearOp {
    /// Elementwise product with broadcasting.
    Mul {
        /// Left operand shape.
        lhs: Vec<usize>,
        /// Right operand shape.
        rhs: Vec<usize>,
    },
    /// (Batched) matrix product, as [`RingTensor::matmul`].
    Matmul {
        /// Left operand shape.
        lhs: Vec<usize>,
        /// Right operand shape.
        rhs: Vec<usize>,
    },
    /// 1-d convolution `[N, C, L]` by `[O, C/g, K]`, as [`RingTensor::conv1d`].
    Conv1d {
        /// Input shape.
        input: Vec<usize>,
        /// Weight shape.
        weight: Vec<usize>,
        /// Stride, padding, dilation (second components) and groups.
        spec: Conv2dSpec,
    },
    /// 2-d convolution NCHW by OIHW, as [`RingTensor::conv2d`].
    Conv2d {
        /// Input shape.
        input: Vec<usize>,
        /// Weight shape.
        weight: Vec<usize>,
        /// Stride, padding, dilation, groups.
        spec: Conv2dSpec,
    },
    /// Gradient of a conv2d with respect to its input: `(grad_out, weight) -> grad_input`.
    Conv2dInputGrad {
        /// Output-gradient shape.
        grad_out: Vec<usize>,
        /// Weight shape.
        weight: Vec<usize>,
        /// Shape of the convolution's input (the result's shape).
        input_shape: Vec<usize>,
        /// The forward convolution's parameters.
        spec: Conv2dSpec,
    },
    /// Gradient of a conv2d with respect to its weight: `(input, grad_out) -> grad_weight`.
    Conv2dWeightGrad {
        /// Input shape.
        input: Vec<usize>,
        /// Output-gradient shape.
        grad_out: Vec<usize>,
        /// Shape of the weight (the result's shape).
        weight_shape: Vec<usize>,
        /// The forward convolution's parameters.
        spec: Conv2dSpec,
    },
    /// Transposed 2-d convolution, weight `[I, O/g, kh, kw]`.
    ConvTranspose2d {
        /// Input shape.
        input: Vec<usize>,
        /// Weight shape.
        weight: Vec<usize>,
        /// Stride, padding, dilation, groups.
        spec: Conv2dSpec,
        /// Extra rows and columns on the output's bottom and right.
        output_padding: (usize, usize),
    },
}

impl BilinearOp {
    /// A short name, for statistics and errors.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            BilinearOp::Mul { .. } => "mul",
            BilinearOp::Matmul { .. } => "matmul",
            BilinearOp::Conv1d { .. } => "conv1d",
            BilinearOp::Conv2d { .. } => "conv2d",
            BilinearOp::Conv2dInputGrad { .. } => "conv2d_input_grad",
            BilinearOp::Conv2dWeightGrad { .. } => "conv2d_weight_grad",
            BilinearOp::ConvTranspose2d { .. } => "conv_transpose2d",
        }
    }

    /// Shape of the left operand.
    #[must_use]
    pub fn lhs_shape(&self) -> &[usize] {
        match self {
            BilinearOp::Mul { lhs, .. } | BilinearOp::Matmul { lhs, .. } => lhs,
            BilinearOp::Conv1d { input, .. }
            | BilinearOp::Conv2d { input, .. }
            | BilinearOp::Conv2dWeightGrad { input, .. }
            | BilinearOp::ConvTranspose2d { input, .. } => input,
            BilinearOp::Conv2dInputGrad { grad_out, .. } => grad_out,
        }
    }

    /// Shape of the right operand.
    #[must_use]
    pub fn rhs_shape(&self) -> &[usize] {
        match self {
            BilinearOp::Mul { rhs, .. } | BilinearOp::Matmul { rhs, .. } => rhs,
            BilinearOp::Conv1d { weight, .. }
            | BilinearOp::Conv2d { weight, .. }
            | BilinearOp::Conv2dInputGrad { weight, .. }
            | BilinearOp::ConvTranspose2d { weight, .. } => weight,
            BilinearOp::Conv2dWeightGrad { grad_out, .. } => grad_out,
        }
    }

    /// Shape of `f(lhs, rhs)`, or the typed error the ring layer gives for these operands.
    ///
    /// # Errors
    /// [`RingError::ShapeMismatch`] (or another shape error) if the operands do not fit.
    pub fn output_shape(&self) -> Result<Vec<usize>, RingError> {
        let mismatch = |op| RingError::ShapeMismatch {
            op,
            lhs: self.lhs_shape().to_vec(),
            rhs: self.rhs_shape().to_vec(),
        };
        match self {
            BilinearOp::Mul { lhs, rhs } => broadcast_shapes(lhs, rhs).ok_or(mismatch("mul")),
            BilinearOp::Matmul { lhs, rhs } => Ok(matmul_dims(lhs, rhs)?.1),
            BilinearOp::Conv1d { input, weight, spec } => {
                if input.len() != 3 || weight.len() != 3 {
                    return Err(mismatch("conv1d"));
                }
                let x = [input[0], input[1], 1, input[2]];
                let w = [weight[0], weight[1], 1, weight[2]];
                let spec2 = Conv2dSpec {
                    stride: (1, spec.stride.1),
                    padding: (0, spec.padding.1),
                    dilation: (1, spec.dilation.1),
                    groups: spec.groups,
                };
                let out = conv2d_output_shape(&x, &w, &spec2)?;
                Ok(vec![out[0], out[1], out[3]])
            }
            BilinearOp::Conv2d { input, weight, spec } => {
                Ok(conv2d_output_shape(input, weight, spec)?.to_vec())
            }
            BilinearOp::Conv2dInputGrad { grad_out, weight, input_shape, spec } => {
                let expect = conv2d_output_shape(input_shape, weight, spec)?;
                if grad_out[..] != expect[..] {
                    return Err(mismatch("conv2d_input_grad"));
                }
                Ok(input_shape.clone())
            }
            BilinearOp::Conv2dWeightGrad { input, grad_out, weight_shape, spec } => {
                let expect = conv2d_output_shape(input, weight_shape, spec)?;
                if grad_out[..] != expect[..] {
                    return Err(mismatch("conv2d_weight_grad"));
                }
                Ok(weight_shape.clone())
            }
            BilinearOp::ConvTranspose2d { input, weight, spec, output_padding } => {
                Ok(conv_transpose2d_output_shape(input, weight, spec, *output_padding)?.to_vec())
            }
        }
    }

    /// Computes `f(a, b)` in the ring (wrapping).
    ///
    /// # Errors
    /// A shape error if `a` or `b` does not have the declared shape or the shapes do not fit.
    pub fn apply(
        &self,
        a: &RingTensor<u64>,
        b: &RingTensor<u64>,
    ) -> Result<RingTensor<u64>, RingError> {
        if a.shape() != self.lhs_shape() || b.shape() != self.rhs_shape() {
            return Err(RingError::ShapeMismatch {
                op: self.name(),
                lhs: a.shape().to_vec(),
                rhs: b.shape().to_vec(),
            });
        }
        match self {
            BilinearOp::Mul { .. } => a.mul(b),
            BilinearOp::Matmul { .. } => a.matmul(b),
            BilinearOp::Conv1d { spec, .. } => a.conv1d(b, spec),
            BilinearOp::Conv2d { spec, .. } => a.conv2d(b, spec),
            BilinearOp::Conv2dInputGrad { input_shape, spec, .. } => {
                a.conv2d_input_grad(b, input_shape, spec)
            }
            BilinearOp::Conv2dWeightGrad { weight_shape, spec, .. } => {
                a.conv2d_weight_grad(b, weight_shape, spec)
            }
            BilinearOp::ConvTranspose2d { spec, output_padding, .. } => {
                a.conv_transpose2d(b, spec, *output_padding)
            }
        }
    }
}
