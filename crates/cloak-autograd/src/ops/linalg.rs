//! Matrix products and convolutions.

use cloak_ring::Conv2dSpec;

use crate::backend::Backend;
use crate::error::{AutogradError, Result, invalid, shape_mismatch};
use crate::prepared::PreparedRhs;
use crate::var::{Var, is_grad_enabled};

/// Copies of both operands when the backward pass will be recorded, else `None`.
fn saved_operands<B: Backend>(a: &Var<B>, b: &Var<B>) -> Option<(B::Tensor, B::Tensor)> {
    let recorded = is_grad_enabled() && (a.requires_grad() || b.requires_grad());
    recorded.then(|| (a.value(), b.value()))
}

/// The permutation swapping the last two of `nd` axes.
fn swap_last(nd: usize) -> Vec<usize> {
    let mut axes: Vec<usize> = (0..nd).collect();
    axes.swap(nd - 2, nd - 1);
    axes
}

impl<B: Backend> Var<B> {
    /// Matrix product: `[m, k] @ [k, n]`, `[.., m, k] @ [k, n]` (a batch against one
    /// matrix, as a linear layer applies), or `[.., m, k] @ [.., k, n]` with equal batch
    /// axes. One product; its backward two.
    ///
    /// # Errors
    /// Shapes that do not fit; the backend's protocol errors.
    pub fn matmul(&self, other: &Var<B>) -> Result<Var<B>> {
        self.matmul_with(other, None)
    }

    /// The matrix product, with a 2-d right operand prepared or not; the backward is the
    /// same.
    fn matmul_with(&self, other: &Var<B>, prepared: Option<&PreparedRhs>) -> Result<Var<B>> {
        let (sa, sb) = (self.shape(), other.shape());
        let batched_rhs = sb.len() > 2;
        let fits = sa.len() >= 2
            && sb.len() >= 2
            && sa[sa.len() - 1] == sb[sb.len() - 2]
            && (!batched_rhs || sa[..sa.len() - 2] == sb[..sb.len() - 2]);
        if !fits {
            return Err(shape_mismatch("matmul", &sa, &sb));
        }
        let b = self.backend();
        let out = {
            let (x, y) = (self.value_ref(), other.value_ref());
            match prepared {
                Some(p) if !batched_rhs => b.matmul_prepared(&x, &y, p)?,
                _ => b.matmul(&x, &y)?,
            }
        };
        let (need_x, need_y) = (self.requires_grad(), other.requires_grad());
        let saved = saved_operands(self, other);
        Var::from_op("matmul", out, &[self, other], move |b, g| {
            let (x, y) = saved.ok_or(AutogradError::GraphFreed { op: "matmul" })?;
            let gx = if need_x {
                let yt = b.permute(&y, &swap_last(sb.len()))?;
                Some(b.matmul(g, &yt)?)
            } else {
                None
            };
            let gy = if !need_y {
                None
            } else if batched_rhs {
                let xt = b.permute(&x, &swap_last(sa.len()))?;
                Some(b.matmul(&xt, g)?)
            } else {
                // Fold the batch into the rows: gy = x_2d^T @ g_2d.
                let k = sa[sa.len() - 1];
                let n = sb[1];
                let rows = sa[..sa.len() - 1].iter().product::<usize>();
                let x2 = b.reshape(&x, &[rows, k])?;
                let g2 = b.reshape(g, &[rows, n])?;
                Some(b.matmul(&b.permute(&x2, &[1, 0])?, &g2)?)
            };
            Ok(vec![gx, gy])
        })
    }

    /// 2-d convolution of NCHW `self` by a `[O, C/groups, kh, kw]` weight (stride,
    /// padding, dilation and groups in `spec`). One product; its backward two.
    ///
    /// # Errors
    /// Shapes that do not fit; the backend's protocol errors.
    pub fn conv2d(&self, weight: &Var<B>, spec: &Conv2dSpec) -> Result<Var<B>> {
        self.conv2d_with(weight, None, spec)
    }

    /// [`conv2d`](Self::conv2d) by a weight prepared with
    /// [`Backend::prepare_rhs`]: the same value and gradients, computed with the prepared
    /// operand (on shares, only the input's mask is opened).
    ///
    /// # Errors
    /// As [`conv2d`](Self::conv2d).
    pub fn conv2d_prepared(
        &self,
        weight: &Var<B>,
        prepared: &PreparedRhs,
        spec: &Conv2dSpec,
    ) -> Result<Var<B>> {
        self.conv2d_with(weight, Some(prepared), spec)
    }

    /// The convolution, with the weight prepared or not; the backward is the same.
    fn conv2d_with(
        &self,
        weight: &Var<B>,
        prepared: Option<&PreparedRhs>,
        spec: &Conv2dSpec,
    ) -> Result<Var<B>> {
        let (sx, sw) = (self.shape(), weight.shape());
        if sx.len() != 4 || sw.len() != 4 {
            return Err(shape_mismatch("conv2d", &sx, &sw));
        }
        let b = self.backend();
        let out = {
            let (x, w) = (self.value_ref(), weight.value_ref());
            match prepared {
                Some(p) => b.conv2d_prepared(&x, &w, p, spec)?,
                None => b.conv2d(&x, &w, spec)?,
            }
        };
        let spec = *spec;
        let (need_x, need_w) = (self.requires_grad(), weight.requires_grad());
        // The operands are copied for the backward only when it will be recorded: a
        // weight can be large, and inference never needs the copy.
        let saved = saved_operands(self, weight);
        Var::from_op("conv2d", out, &[self, weight], move |b, g| {
            let (x, w) = saved.ok_or(AutogradError::GraphFreed { op: "conv2d" })?;
            let gx = if need_x { Some(b.conv2d_input_grad(g, &w, &sx, &spec)?) } else { None };
            let gw = if need_w { Some(b.conv2d_weight_grad(&x, g, &sw, &spec)?) } else { None };
            Ok(vec![gx, gw])
        })
    }

    /// `[.., m, k] @ [k, n]` by a 2-d weight prepared with [`Backend::prepare_rhs`]: the same
    /// value and gradients as [`matmul`](Self::matmul).
    ///
    /// # Errors
    /// Shapes that do not fit; the backend's protocol errors.
    pub fn matmul_prepared(&self, weight: &Var<B>, prepared: &PreparedRhs) -> Result<Var<B>> {
        let (sa, sb) = (self.shape(), weight.shape());
        if sb.len() != 2 {
            return Err(shape_mismatch("matmul", &sa, &sb));
        }
        self.matmul_with(weight, Some(prepared))
    }

    /// Transposed 2-d convolution (PyTorch's `ConvTranspose2d`, ONNX's `ConvTranspose`) of
    /// NCHW `self` by a `[C_in, C_out/groups, kh, kw]` weight, where `spec` holds the
    /// stride, padding, dilation and groups of the convolution it transposes and
    /// `output_padding` (below the stride or the dilation) adds rows and columns at the
    /// end: the output has `(h - 1) * stride - 2 * padding + dilation * (kh - 1) +
    /// output_padding + 1` rows, and columns likewise. One product; its backward two: the
    /// convolution `conv2d(g, w, spec)` to the input (it is the adjoint), and that
    /// convolution's weight gradient to the weight.
    ///
    /// # Errors
    /// Non-4-d operands or a weight whose first axis is not `C_in` (`ShapeMismatch`);
    /// groups, strides, paddings or output paddings that do not fit; the backend's protocol
    /// errors.
    pub fn conv_transpose2d(
        &self,
        weight: &Var<B>,
        spec: &Conv2dSpec,
        output_padding: (usize, usize),
    ) -> Result<Var<B>> {
        let (sx, sw) = (self.shape(), weight.shape());
        if sx.len() != 4 || sw.len() != 4 || sw[0] != sx[1] {
            return Err(shape_mismatch("conv_transpose2d", &sx, &sw));
        }
        let b = self.backend();
        let (x, w) = (self.value(), weight.value());
        let out = b.conv_transpose2d(&x, &w, spec, output_padding)?;
        let spec = *spec;
        let (need_x, need_w) = (self.requires_grad(), weight.requires_grad());
        Var::from_op("conv_transpose2d", out, &[self, weight], move |b, g| {
            let gx =
                if need_x { Some(b.conv_transpose2d_input_grad(g, &w, &sx, &spec)?) } else { None };
            let gw = if need_w {
                Some(b.conv_transpose2d_weight_grad(&x, g, &sw, &spec)?)
            } else {
                None
            };
            Ok(vec![gx, gw])
        })
    }

    /// 1-d convolution of NCL `self` by a `[O, C/groups, k]` weight, as a 2-d convolution
    /// of height 1 (`spec`'s second components apply; its first must be the identity).
    ///
    /// # Errors
    /// Shapes that do not fit; a spec with a non-trivial first component.
    pub fn conv1d(&self, weight: &Var<B>, spec: &Conv2dSpec) -> Result<Var<B>> {
        let (sx, sw) = (self.shape(), weight.shape());
        if sx.len() != 3 || sw.len() != 3 {
            return Err(shape_mismatch("conv1d", &sx, &sw));
        }
        if spec.stride.0 != 1 || spec.padding.0 != 0 || spec.dilation.0 != 1 {
            return Err(invalid("conv1d", format!("spec {spec:?} acts on a height axis")));
        }
        let x4 = self.reshape(&[sx[0], sx[1], 1, sx[2]])?;
        let w4 = weight.reshape(&[sw[0], sw[1], 1, sw[2]])?;
        let y = x4.conv2d(&w4, spec)?;
        let sy = y.shape();
        y.reshape(&[sy[0], sy[1], sy[3]])
    }
}
