//! The backend seam: where the heavy kernels of ring tensors run.
//!
//! Protocol code calls tensor methods; tensor methods validate shapes (with the free functions
//! of [`tensor::linalg`](crate::tensor::linalg), so every backend reports the same errors) and
//! hand the arithmetic to a [`Backend`]. The CPU backend is the default; a device backend
//! (`cloak-gpu`) implements the same trait, so the layers above do not change when the kernels
//! move to an accelerator.
//!
//! Today every `RingTensor` is host-resident. Device-resident data is the next step of this
//! seam: `RingTensor` gains a storage variant holding a buffer owned by a backend, its methods
//! dispatch on it, and host views (`as_slice`, `to_vec`) download on demand; code written
//! against `RingTensor` keeps working unchanged.

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
