//! The products on the GPU: [`CudaDevice`] as a ring [`Backend`].
//!
//! Operands live on this GPU or on the host (uploaded, counted); results stay on the GPU.
//! Shapes are checked with the ring layer's own validators first, so the errors are the
//! CPU backend's, and only then does anything reach the device.

use cloak_ring::{
    Backend, Conv2dSpec, Device, DeviceBuffer, RingError, RingTensor,
    conv_transpose2d_output_shape, conv2d_output_shape, matmul_dims,
};

use crate::buffer::GpuBuffer;
use crate::context::wrap;
use crate::conv::{self, Engine, GpuEngine, SCRATCH_ELEMS};
use crate::device::{CudaDevice, GemmMethod};
use crate::gemm::Product;
use crate::limbs;

type Result<T> = std::result::Result<T, RingError>;

impl CudaDevice {
    /// A tensor's buffer on this GPU: its own if it lives here, uploaded if it is on the host.
    fn operand(&self, op: &'static str, t: &RingTensor<u64>) -> Result<DeviceBuffer> {
        match t.device_buffer() {
            Some((dev, buf)) if dev.label() == self.label() => Ok(buf.clone()),
            Some((dev, _)) => {
                Err(RingError::DeviceMismatch { op, lhs: self.label(), rhs: dev.label() })
            }
            None => self.upload_counted(&t.as_slice()).map(wrap),
        }
    }

    /// Both operands' buffers on this GPU.
    fn operands(
        &self,
        op: &'static str,
        a: &RingTensor<u64>,
        b: &RingTensor<u64>,
    ) -> Result<(DeviceBuffer, DeviceBuffer)> {
        Ok((self.operand(op, a)?, self.operand(op, b)?))
    }

    /// A result buffer as a tensor on this GPU.
    fn resident(&self, buf: GpuBuffer, shape: &[usize]) -> RingTensor<u64> {
        RingTensor::from_device_buffer(self.handle(), wrap(buf), shape)
    }

    /// The input gradient of a convolution (and so the transposed convolution).
    fn input_grad(
        &self,
        (dy, dys): (&RingTensor<u64>, [usize; 4]),
        w: &RingTensor<u64>,
        xs: [usize; 4],
        p: &Conv2dSpec,
        op: &'static str,
    ) -> Result<RingTensor<u64>> {
        let (bdy, bw) = self.operands(op, dy, w)?;
        let (gdy, gw) = (self.gpu().buffer(&bdy)?, self.gpu().buffer(&bw)?);
        let ws = shape4(w.shape());
        let dx =
            conv::input_grad(&GpuEngine(self.gpu()), (gdy, dys), (gw, ws), xs, p, SCRATCH_ELEMS)?;
        Ok(self.resident(dx, &xs))
    }
}

/// A shape the validators showed has four axes.
fn shape4(s: &[usize]) -> [usize; 4] {
    let mut out = [0; 4];
    for (o, &d) in out.iter_mut().zip(s) {
        *o = d;
    }
    out
}

impl Backend<u64> for CudaDevice {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn matmul(&self, a: &RingTensor<u64>, b: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        let (d, out_shape) = matmul_dims(a.shape(), b.shape())?;
        let (ba, bb) = self.operands("matmul", a, b)?;
        let (ga, gb) = (self.gpu().buffer(&ba)?, self.gpu().buffer(&bb)?);
        let engine = GpuEngine(self.gpu());
        let mut c = engine.alloc(d.batch * d.m * d.n)?;
        let product = if d.b_batched {
            Product::dense(d.batch, d.m, d.k, d.n)
        } else {
            // One right matrix for the whole batch: the batch folds into the rows.
            Product::dense(1, d.batch * d.m, d.k, d.n)
        };
        let (batch, m) = (product.outer, product.m);
        if self.gemm_method() == GemmMethod::Fp64Limbs && limbs::fits_cublas(batch, m, d.k, d.n) {
            let blas = self.gpu().blas().map_err(|e| self.gpu().err("matmul", e))?;
            let (av, bv) = (ga.slice.slice(..ga.len), gb.slice.slice(..gb.len));
            let len_c = c.len;
            let mut cv = c.slice.slice_mut(..len_c);
            limbs::gemm(self.gpu(), blas, &av, &bv, &mut cv, (batch, m, d.k, d.n), false)?;
        } else {
            engine.gemm((ga, 0), (gb, 0), (&mut c, 0), &product)?;
        }
        Ok(self.resident(c, &out_shape))
    }

    fn conv2d(
        &self,
        x: &RingTensor<u64>,
        w: &RingTensor<u64>,
        p: &Conv2dSpec,
    ) -> Result<RingTensor<u64>> {
        let out = conv2d_output_shape(x.shape(), w.shape(), p)?;
        let (bx, bw) = self.operands("conv2d", x, w)?;
        let (gx, gw) = (self.gpu().buffer(&bx)?, self.gpu().buffer(&bw)?);
        let (xs, ws) = (shape4(x.shape()), shape4(w.shape()));
        let y = conv::conv2d(
            &GpuEngine(self.gpu()),
            (gx, xs),
            (gw, ws),
            p,
            (out[2], out[3]),
            SCRATCH_ELEMS,
        )?;
        Ok(self.resident(y, &out))
    }

    fn conv2d_input_grad(
        &self,
        dy: &RingTensor<u64>,
        w: &RingTensor<u64>,
        x_shape: &[usize],
        p: &Conv2dSpec,
    ) -> Result<RingTensor<u64>> {
        let out = conv2d_output_shape(x_shape, w.shape(), p)?;
        if dy.shape() != out {
            return Err(RingError::ShapeMismatch {
                op: "conv2d_input_grad",
                lhs: dy.shape().to_vec(),
                rhs: out.to_vec(),
            });
        }
        self.input_grad((dy, out), w, shape4(x_shape), p, "conv2d_input_grad")
    }

    fn conv2d_weight_grad(
        &self,
        x: &RingTensor<u64>,
        dy: &RingTensor<u64>,
        w_shape: &[usize],
        p: &Conv2dSpec,
    ) -> Result<RingTensor<u64>> {
        let out = conv2d_output_shape(x.shape(), w_shape, p)?;
        if dy.shape() != out {
            return Err(RingError::ShapeMismatch {
                op: "conv2d_weight_grad",
                lhs: dy.shape().to_vec(),
                rhs: out.to_vec(),
            });
        }
        let (bx, bdy) = self.operands("conv2d_weight_grad", x, dy)?;
        let (gx, gdy) = (self.gpu().buffer(&bx)?, self.gpu().buffer(&bdy)?);
        let ws = shape4(w_shape);
        let dw = conv::weight_grad(
            &GpuEngine(self.gpu()),
            (gx, shape4(x.shape())),
            (gdy, out),
            ws,
            p,
            SCRATCH_ELEMS,
        )?;
        Ok(self.resident(dw, &ws))
    }

    fn conv_transpose2d(
        &self,
        x: &RingTensor<u64>,
        w: &RingTensor<u64>,
        p: &Conv2dSpec,
        output_padding: (usize, usize),
    ) -> Result<RingTensor<u64>> {
        let out = conv_transpose2d_output_shape(x.shape(), w.shape(), p, output_padding)?;
        // The input gradient of the convolution with weight w read as OIHW, with x as its
        // output gradient and the transposed convolution's output as its input.
        self.input_grad((x, shape4(x.shape())), w, out, p, "conv_transpose2d")
    }
}
