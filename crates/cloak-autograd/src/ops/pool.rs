//! Pooling over NCHW tensors.

use cloak_mpc::Pool2dSpec;
use ndarray::Array2;

use crate::backend::Backend;
use crate::error::{Result, invalid};
use crate::var::{Var, is_grad_enabled};

/// The `[h*w, oh*ow]` averaging matrix of adaptive average pooling: output cell `(i, j)`
/// averages rows `floor(i h / oh) .. ceil((i+1) h / oh)` and the same for columns, as
/// PyTorch does.
fn adaptive_matrix(h: usize, w: usize, oh: usize, ow: usize) -> Array2<f64> {
    let mut m = Array2::zeros((h * w, oh * ow));
    for i in 0..oh {
        let (r0, r1) = (i * h / oh, ((i + 1) * h).div_ceil(oh));
        for j in 0..ow {
            let (c0, c1) = (j * w / ow, ((j + 1) * w).div_ceil(ow));
            let weight = 1.0 / ((r1 - r0) * (c1 - c0)) as f64;
            for r in r0..r1 {
                for c in c0..c1 {
                    m[[r * w + c, i * ow + j]] = weight;
                }
            }
        }
    }
    m
}

impl<B: Backend> Var<B> {
    /// Max pooling; the backward routes the gradient through the one-hot of each window's
    /// maximum that the forward pass produced (one product).
    ///
    /// # Errors
    /// A non-4-d input or a window that does not fit; the backend's protocol errors.
    pub fn max_pool2d(&self, spec: &Pool2dSpec) -> Result<Var<B>> {
        if !(is_grad_enabled() && self.requires_grad()) {
            // No backward will run: the one-hot is not needed.
            let out = self.backend().max_pool2d_values(&self.value(), spec)?;
            return Ok(Var::constant(&self.backend(), out));
        }
        let (out, onehot) = self.backend().max_pool2d(&self.value(), spec)?;
        let (shape, spec) = (self.shape(), *spec);
        Var::from_op("max_pool2d", out, &[self], move |b, g| {
            Ok(vec![Some(b.max_pool2d_backward(g, &onehot, &shape, &spec)?)])
        })
    }

    /// Average pooling (zero padding counted, as PyTorch's default).
    ///
    /// # Errors
    /// A non-4-d input or a window that does not fit.
    pub fn avg_pool2d(&self, spec: &Pool2dSpec) -> Result<Var<B>> {
        let out = self.backend().avg_pool2d(&self.value(), spec)?;
        let (shape, spec) = (self.shape(), *spec);
        Var::from_op("avg_pool2d", out, &[self], move |b, g| {
            Ok(vec![Some(b.avg_pool2d_backward(g, &shape, &spec)?)])
        })
    }

    /// Adaptive average pooling to `(oh, ow)`: a product with a public averaging matrix
    /// (local, one truncation), and its transpose backward.
    ///
    /// # Errors
    /// A non-4-d input, or an output larger than the input.
    pub fn adaptive_avg_pool2d(&self, out_hw: (usize, usize)) -> Result<Var<B>> {
        let shape = self.shape();
        let &[n, c, h, w] = shape.as_slice() else {
            return Err(invalid("adaptive_avg_pool2d", format!("input {shape:?}, expected NCHW")));
        };
        let (oh, ow) = out_hw;
        if oh == 0 || ow == 0 || oh > h || ow > w {
            return Err(invalid("adaptive_avg_pool2d", format!("output {out_hw:?} from {h}x{w}")));
        }
        if (oh, ow) == (1, 1) {
            return self.global_avg_pool2d();
        }
        let m = adaptive_matrix(h, w, oh, ow).into_dyn();
        let mt = m.t().to_owned();
        let flat = self.reshape(&[n * c, h * w])?;
        let out = flat.backend().matmul_public(&flat.value(), &m)?;
        let pooled = Var::from_op("adaptive_avg_pool2d", out, &[&flat], move |b, g| {
            Ok(vec![Some(b.matmul_public(g, &mt)?)])
        })?;
        pooled.reshape(&[n, c, oh, ow])
    }

    /// Global average pooling: the mean over height and width, shape `[n, c, 1, 1]`.
    ///
    /// # Errors
    /// A non-4-d input.
    pub fn global_avg_pool2d(&self) -> Result<Var<B>> {
        let shape = self.shape();
        let &[n, c, h, w] = shape.as_slice() else {
            return Err(invalid("global_avg_pool2d", format!("input {shape:?}, expected NCHW")));
        };
        self.reshape(&[n, c, h * w])?.mean(2, false)?.reshape(&[n, c, 1, 1])
    }
}
