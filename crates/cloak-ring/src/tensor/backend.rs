//! The backend seam: where the heavy kernels of ring tensors run.
//!
//! Protocol code calls tensor methods; tensor methods validate shapes (with the free functions
//! of [`tensor::linalg`](crate::tensor::linalg), so every backend reports the same errors) and
//! hand the arithmetic to a [`Backend`]. The CPU backend is the default; a device backend
//! (`cloak-gpu`) implements the same trait, so the layers above do not change when the kernels
//! move to an accelerator.
//!
//! A tensor on a [`Device`](crate::tensor::device::Device) runs its products on that device (a device
//! is a `Backend` too); host tensors run them on the CPU backend.

use crate::element::RingElement;
use crate::error::{Result, RingError};
use crate::kernels::{self, Parallelism};
use crate::tensor::linalg::{
    conv_transpose2d_output_shape, conv2d_output_shape, matmul_dims, shape4,
};
use crate::tensor::{Conv2dSpec, RingTensor};

/// The heavy operations of ring tensors: everything whose cost is superlinear in its inputs.
pub trait Backend<T: RingElement>: Send + Sync + std::fmt::Debug {
    /// A short name for logs and benchmark tables.
    fn name(&self) -> &'static str;

    /// Wrapping (batched) matrix product; shapes as in
    /// [`matmul_dims`].
    fn matmul(&self, a: &RingTensor<T>, b: &RingTensor<T>) -> Result<RingTensor<T>>;

    /// 2-d convolution, NCHW input and OIHW weight.
    fn conv2d(&self, x: &RingTensor<T>, w: &RingTensor<T>, p: &Conv2dSpec)
    -> Result<RingTensor<T>>;

    /// Gradient of conv2d with respect to its input.
    fn conv2d_input_grad(
        &self,
        dy: &RingTensor<T>,
        w: &RingTensor<T>,
        x_shape: &[usize],
        p: &Conv2dSpec,
    ) -> Result<RingTensor<T>>;

    /// Gradient of conv2d with respect to its weight.
    fn conv2d_weight_grad(
        &self,
        x: &RingTensor<T>,
        dy: &RingTensor<T>,
        w_shape: &[usize],
        p: &Conv2dSpec,
    ) -> Result<RingTensor<T>>;

    /// Transposed 2-d convolution, weight `[I, O/groups, kh, kw]`.
    fn conv_transpose2d(
        &self,
        x: &RingTensor<T>,
        w: &RingTensor<T>,
        p: &Conv2dSpec,
        output_padding: (usize, usize),
    ) -> Result<RingTensor<T>>;
}

/// The CPU backend: register-tiled SIMD GEMM, im2col convolutions, rayon for large problems.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend {
    /// Whether kernels may use the rayon pool.
    pub parallelism: Parallelism,
}

impl CpuBackend {
    /// A backend that keeps every kernel on the calling thread.
    pub fn sequential() -> Self {
        Self { parallelism: Parallelism::Sequential }
    }
}

impl<T: RingElement> Backend<T> for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn matmul(&self, a: &RingTensor<T>, b: &RingTensor<T>) -> Result<RingTensor<T>> {
        let (d, out_shape) = matmul_dims(a.shape(), b.shape())?;
        let av = a.as_slice();
        let bv = b.as_slice();
        let mut c = vec![T::zero(); d.batch * d.m * d.n];
        if d.b_batched {
            kernels::gemm_batched(d.batch, d.m, d.k, d.n, &av, &bv, &mut c, self.parallelism);
        } else {
            // One shared right matrix: the batch folds into the rows of one big product.
            T::gemm(d.batch * d.m, d.k, d.n, &av, &bv, &mut c, self.parallelism);
        }
        RingTensor::from_vec(&out_shape, c)
    }

    fn conv2d(
        &self,
        x: &RingTensor<T>,
        w: &RingTensor<T>,
        p: &Conv2dSpec,
    ) -> Result<RingTensor<T>> {
        let out_shape = conv2d_output_shape(x.shape(), w.shape(), p)?;
        let y = kernels::conv::conv2d(
            &x.as_slice(),
            shape4(x.shape()),
            &w.as_slice(),
            shape4(w.shape()),
            p,
            self.parallelism,
        );
        RingTensor::from_vec(&out_shape, y)
    }

    fn conv2d_input_grad(
        &self,
        dy: &RingTensor<T>,
        w: &RingTensor<T>,
        x_shape: &[usize],
        p: &Conv2dSpec,
    ) -> Result<RingTensor<T>> {
        let out_shape = conv2d_output_shape(x_shape, w.shape(), p)?;
        if dy.shape() != out_shape {
            return Err(RingError::ShapeMismatch {
                op: "conv2d_input_grad",
                lhs: dy.shape().to_vec(),
                rhs: out_shape.to_vec(),
            });
        }
        let dx = kernels::conv::conv2d_input_grad(
            &dy.as_slice(),
            out_shape,
            &w.as_slice(),
            shape4(w.shape()),
            shape4(x_shape),
            p,
            self.parallelism,
        );
        RingTensor::from_vec(x_shape, dx)
    }

    fn conv2d_weight_grad(
        &self,
        x: &RingTensor<T>,
        dy: &RingTensor<T>,
        w_shape: &[usize],
        p: &Conv2dSpec,
    ) -> Result<RingTensor<T>> {
        let out_shape = conv2d_output_shape(x.shape(), w_shape, p)?;
        if dy.shape() != out_shape {
            return Err(RingError::ShapeMismatch {
                op: "conv2d_weight_grad",
                lhs: dy.shape().to_vec(),
                rhs: out_shape.to_vec(),
            });
        }
        let dw = kernels::conv::conv2d_weight_grad(
            &x.as_slice(),
            shape4(x.shape()),
            &dy.as_slice(),
            out_shape,
            shape4(w_shape),
            p,
            self.parallelism,
        );
        RingTensor::from_vec(w_shape, dw)
    }

    fn conv_transpose2d(
        &self,
        x: &RingTensor<T>,
        w: &RingTensor<T>,
        p: &Conv2dSpec,
        output_padding: (usize, usize),
    ) -> Result<RingTensor<T>> {
        let out_shape = conv_transpose2d_output_shape(x.shape(), w.shape(), p, output_padding)?;
        let (xs, ws) = (x.shape(), w.shape());
        let y = kernels::conv::conv_transpose2d(
            &x.as_slice(),
            shape4(xs),
            &w.as_slice(),
            shape4(ws),
            p,
            output_padding,
            self.parallelism,
        );
        RingTensor::from_vec(&out_shape, y)
    }
}

/// The tensor methods of the heavy operations: each runs where its operands live, on their
/// device or on the host's default backend. They are defined here, beside the seam, so that
/// the tensor module (which the seam's signatures use) does not import the backends in turn.
impl<T: RingElement> RingTensor<T> {
    /// Runs `f` on the backend of the operands' device, or of the host.
    fn on_backend<R>(
        op: &'static str,
        a: &Self,
        b: &Self,
        f: impl FnOnce(&dyn Backend<T>) -> Result<R>,
    ) -> Result<R> {
        let device = match (a.device(), b.device()) {
            (None, None) => return f(&CpuBackend::default()),
            (Some(d), None) | (None, Some(d)) => d,
            (Some(x), Some(y)) if x.label() == y.label() => x,
            (Some(x), Some(y)) => {
                return Err(RingError::DeviceMismatch { op, lhs: x.label(), rhs: y.label() });
            }
        };
        f(&**device)
    }

    /// Wrapping matrix product (batched; see [`matmul_dims`]).
    pub fn matmul(&self, other: &Self) -> Result<Self> {
        Self::on_backend("matmul", self, other, |b| b.matmul(self, other))
    }

    /// 2-d convolution.
    pub fn conv2d(&self, weight: &Self, spec: &Conv2dSpec) -> Result<Self> {
        Self::on_backend("conv2d", self, weight, |b| b.conv2d(self, weight, spec))
    }

    /// 1-d convolution: input `[N, C, L]`, weight `[O, C/groups, K]`; computed as a 2-d
    /// convolution of height 1. `spec` uses its second components (width) for the 1-d
    /// parameters and must have stride/dilation 1 and padding 0 in height.
    pub fn conv1d(&self, weight: &Self, spec: &Conv2dSpec) -> Result<Self> {
        if self.ndim() != 3 || weight.ndim() != 3 {
            return Err(RingError::ShapeMismatch {
                op: "conv1d",
                lhs: self.shape().to_vec(),
                rhs: weight.shape().to_vec(),
            });
        }
        let x = self.unsqueeze(2)?;
        let w = weight.unsqueeze(2)?;
        let spec2 = Conv2dSpec {
            stride: (1, spec.stride.1),
            padding: (0, spec.padding.1),
            dilation: (1, spec.dilation.1),
            groups: spec.groups,
        };
        Self::on_backend("conv1d", &x, &w, |b| b.conv2d(&x, &w, &spec2))?.squeeze(2)
    }

    /// Gradient of a conv2d with respect to its input (a transposed convolution of `self`,
    /// the output gradient, with `weight`).
    pub fn conv2d_input_grad(
        &self,
        weight: &Self,
        input_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<Self> {
        Self::on_backend("conv2d_input_grad", self, weight, |b| {
            b.conv2d_input_grad(self, weight, input_shape, spec)
        })
    }

    /// Gradient of a conv2d with respect to its weight, from the input `self` and the output
    /// gradient `grad_out`.
    pub fn conv2d_weight_grad(
        &self,
        grad_out: &Self,
        weight_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<Self> {
        Self::on_backend("conv2d_weight_grad", self, grad_out, |b| {
            b.conv2d_weight_grad(self, grad_out, weight_shape, spec)
        })
    }

    /// Transposed 2-d convolution (PyTorch `conv_transpose2d`): weight `[I, O/groups, kh, kw]`.
    pub fn conv_transpose2d(
        &self,
        weight: &Self,
        spec: &Conv2dSpec,
        output_padding: (usize, usize),
    ) -> Result<Self> {
        Self::on_backend("conv_transpose2d", self, weight, |b| {
            b.conv_transpose2d(self, weight, spec, output_padding)
        })
    }
}
