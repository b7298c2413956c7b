//! The one seam between the graph and the arithmetic: a [`Backend`] owns a tensor type and
//! the operations the backward rules need.
//!
//! Two backends ship: [`Secure`](crate::Secure) (secret-shared [`AShare`](cloak_mpc::AShare)
//! tensors, every operation a protocol) and [`Plain`](crate::Plain) (`ArrayD<f64>`, the
//! same computation in the clear). Every layer, loss and optimizer is written once against
//! this trait, so a model built on `Plain` from the same seed is the reference that a
//! private run is checked against, gradients included.

use std::fmt::Debug;

use cloak_mpc::Pool2dSpec;
use cloak_ring::Conv2dSpec;
use ndarray::ArrayD;

use crate::error::{Result, invalid, shape_mismatch};
use crate::prepared::PreparedRhs;

/// Where [`Backend::erf_grad`]'s default clamps `a^2`: `exp(-16)` is below a fixed-point
/// unit, and `exp(-16 / 2)` is at the edge of the secure `exp`'s domain.
const ERF_GRAD_CLAMP: f64 = 16.0;

/// `t` (NCHW) cut to its first `shape[2]` rows and `shape[3]` columns; an error if it is
/// smaller or differs on the leading axes.
fn crop_to<B: Backend>(b: &B, t: B::Tensor, shape: &[usize]) -> Result<B::Tensor> {
    let have = B::shape(&t);
    let fits = have.len() == 4
        && shape.len() == 4
        && have[..2] == shape[..2]
        && have[2] >= shape[2]
        && have[3] >= shape[3];
    if !fits {
        return Err(shape_mismatch("conv_transpose2d_input_grad", &have, shape));
    }
    let t = if have[2] > shape[2] { b.slice(&t, 2, 0, shape[2])? } else { t };
    if have[3] > shape[3] { b.slice(&t, 3, 0, shape[3]) } else { Ok(t) }
}

/// Tensor arithmetic for one kind of tensor. All operations are SPMD: with the secure
/// backend every party calls the same operations in the same order.
pub trait Backend: Clone + Debug + 'static {
    /// The tensor type: cheap to clone is not required, but it is cloned into graphs.
    type Tensor: Clone + Debug;

    /// A short name for messages ("plain", "secure").
    fn name(&self) -> &'static str;
    /// This party's rank (0 for the plain backend).
    fn rank(&self) -> usize;
    /// The number of computing parties (1 for the plain backend).
    fn parties(&self) -> usize;
    /// The smallest positive value the backend represents (`2^-f` for fixed point, `0` for
    /// f64): optimizers and losses keep their epsilons at least a few of these.
    fn resolution(&self) -> f64;

    /// The tensor's shape.
    fn shape(t: &Self::Tensor) -> Vec<usize>;

    // ----- creation and disclosure -------------------------------------------------------

    /// A tensor known to `owner` only: the owner passes `value`, the others `None`; every
    /// party passes the shape.
    fn input(
        &self,
        owner: usize,
        value: Option<&ArrayD<f64>>,
        shape: &[usize],
    ) -> Result<Self::Tensor>;
    /// A value every party knows.
    fn public(&self, value: &ArrayD<f64>) -> Result<Self::Tensor>;
    /// Zeros.
    fn zeros(&self, shape: &[usize]) -> Self::Tensor;
    /// Opens the value to every party.
    fn reveal(&self, t: &Self::Tensor) -> Result<ArrayD<f64>>;
    /// Opens the value to `party` only (`None` elsewhere).
    fn reveal_to(&self, t: &Self::Tensor, party: usize) -> Result<Option<ArrayD<f64>>>;
    /// This party's raw words of the tensor (its share; f64 bits for the plain backend),
    /// for saving.
    fn export_words(&self, t: &Self::Tensor) -> Vec<u64>;
    /// The inverse of [`export_words`](Self::export_words).
    fn import_words(&self, shape: &[usize], words: Vec<u64>) -> Result<Self::Tensor>;

    // ----- linear, local ---------------------------------------------------------------

    /// `a + b`, broadcasting.
    fn add(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor>;
    /// `a - b`, broadcasting.
    fn sub(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor>;
    /// `-a`.
    fn neg(&self, a: &Self::Tensor) -> Self::Tensor;
    /// `a + c` for a public scalar.
    fn add_scalar(&self, a: &Self::Tensor, c: f64) -> Result<Self::Tensor>;
    /// `a * c` for a public scalar.
    fn mul_scalar(&self, a: &Self::Tensor, c: f64) -> Result<Self::Tensor>;
    /// `a + p` for a public tensor, broadcasting.
    fn add_public(&self, a: &Self::Tensor, p: &ArrayD<f64>) -> Result<Self::Tensor>;
    /// `a * p` for a public tensor, broadcasting.
    fn mul_public(&self, a: &Self::Tensor, p: &ArrayD<f64>) -> Result<Self::Tensor>;
    /// `a @ p` for a public matrix (the last axis of `a` against the first of `p`).
    fn matmul_public(&self, a: &Self::Tensor, p: &ArrayD<f64>) -> Result<Self::Tensor>;
    /// Sum along `axis`.
    fn sum(&self, a: &Self::Tensor, axis: usize, keepdim: bool) -> Result<Self::Tensor>;
    /// Sums broadcast axes away so that the result has `shape` (the adjoint of
    /// [`broadcast_to`](Self::broadcast_to)).
    fn sum_to_shape(&self, a: &Self::Tensor, shape: &[usize]) -> Result<Self::Tensor>;
    /// Broadcasts to `shape`.
    fn broadcast_to(&self, a: &Self::Tensor, shape: &[usize]) -> Result<Self::Tensor>;
    /// Same elements, new shape.
    fn reshape(&self, a: &Self::Tensor, shape: &[usize]) -> Result<Self::Tensor>;
    /// Axes reordered.
    fn permute(&self, a: &Self::Tensor, axes: &[usize]) -> Result<Self::Tensor>;
    /// Concatenation along `axis`.
    fn concat(&self, parts: &[&Self::Tensor], axis: usize) -> Result<Self::Tensor>;
    /// Elements `start..end` along `axis`.
    fn slice(
        &self,
        a: &Self::Tensor,
        axis: usize,
        start: usize,
        end: usize,
    ) -> Result<Self::Tensor>;
    /// Zero padding of the last two axes by `(top/bottom, left/right)`, or the adjoint
    /// (cropping) for `crop`.
    fn pad2d(&self, a: &Self::Tensor, pad: (usize, usize), crop: bool) -> Result<Self::Tensor>;
    /// Constant padding of every axis: `pads[i] = (before, after)` copies of the public
    /// `value` on axis `i` (`pads.len()` must be the rank). Its adjoint is a crop, made of
    /// [`slice`](Self::slice)s.
    fn pad(&self, a: &Self::Tensor, pads: &[(usize, usize)], value: f64) -> Result<Self::Tensor>;
    /// The slices of `a` at the public `indices` along `axis`, in order, repeats allowed.
    fn index_select(
        &self,
        a: &Self::Tensor,
        axis: usize,
        indices: &[usize],
    ) -> Result<Self::Tensor>;
    /// `a` with slice `k` of `src` added at position `indices[k]` along `axis`, repeated
    /// indices accumulating: the adjoint of [`index_select`](Self::index_select), which its
    /// backward rule applies to zeros. `src` is `a`'s shape with `indices.len()` on `axis`.
    fn index_add(
        &self,
        a: &Self::Tensor,
        axis: usize,
        indices: &[usize],
        src: &Self::Tensor,
    ) -> Result<Self::Tensor>;

    // ----- products ----------------------------------------------------------------------

    /// Elementwise product, broadcasting.
    fn mul(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor>;
    /// Elementwise square.
    fn square(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// Matrix product (2-d, or batched over leading axes as the protocol layer allows).
    fn matmul(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor>;
    /// 2-d convolution of NCHW `x` by `[O, C/g, kh, kw]` `w`.
    fn conv2d(&self, x: &Self::Tensor, w: &Self::Tensor, spec: &Conv2dSpec)
    -> Result<Self::Tensor>;
    /// The convolution's gradient with respect to its input.
    fn conv2d_input_grad(
        &self,
        grad: &Self::Tensor,
        w: &Self::Tensor,
        input_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<Self::Tensor>;
    /// The convolution's gradient with respect to its weight.
    fn conv2d_weight_grad(
        &self,
        x: &Self::Tensor,
        grad: &Self::Tensor,
        weight_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<Self::Tensor>;
    /// Transposed 2-d convolution (PyTorch's `ConvTranspose2d`, ONNX's `ConvTranspose`) of
    /// NCHW `x` by `w` of shape `[C_in, C_out/groups, kh, kw]`: the input gradient of the
    /// convolution `spec` with weight `w` read as OIHW, onto an output of
    /// `(h - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1` rows (and
    /// as many columns by the second components). `output_padding` must be smaller than
    /// the stride or the dilation, as PyTorch requires.
    fn conv_transpose2d(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        spec: &Conv2dSpec,
        output_padding: (usize, usize),
    ) -> Result<Self::Tensor>;
    /// The transposed convolution's gradient with respect to its input (of `input_shape`):
    /// the convolution `spec` of `grad` by the same weight. That convolution has
    /// `h + output_padding / stride` rows, more than `h` when the output padding is not
    /// below the stride (possible with dilation); the extra ones belong to no input pixel
    /// and are cropped.
    fn conv_transpose2d_input_grad(
        &self,
        grad: &Self::Tensor,
        w: &Self::Tensor,
        input_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<Self::Tensor> {
        let full = self.conv2d(grad, w, spec)?;
        crop_to(self, full, input_shape)
    }
    /// The transposed convolution's gradient with respect to its weight (of
    /// `weight_shape`). With `y = conv_transpose2d(x, w)`, `<y, grad> = <x, conv2d(grad, w)>`,
    /// so this is the weight gradient of the convolution `conv2d(grad, w)` at output gradient
    /// `x`, zero-padded at the end to that convolution's output size (see
    /// [`conv_transpose2d_input_grad`](Self::conv_transpose2d_input_grad)).
    fn conv_transpose2d_weight_grad(
        &self,
        x: &Self::Tensor,
        grad: &Self::Tensor,
        weight_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<Self::Tensor> {
        let (sx, sg) = (Self::shape(x), Self::shape(grad));
        let (&[n, c, h, w], &[_, _, oh, ow], &[_, _, kh, kw]) =
            (sx.as_slice(), sg.as_slice(), weight_shape)
        else {
            return Err(shape_mismatch("conv_transpose2d_weight_grad", &sx, weight_shape));
        };
        let (rows, cols) = spec.output_hw((oh, ow), (kh, kw)).ok_or_else(|| {
            invalid(
                "conv_transpose2d_weight_grad",
                format!("kernel {kh}x{kw} with {spec:?} does not fit gradient {oh}x{ow}"),
            )
        })?;
        let (Some(extra_h), Some(extra_w)) = (rows.checked_sub(h), cols.checked_sub(w)) else {
            return Err(shape_mismatch("conv_transpose2d_weight_grad", &sx, &[n, c, rows, cols]));
        };
        let padded = if (extra_h, extra_w) == (0, 0) {
            x.clone()
        } else {
            self.pad(x, &[(0, 0), (0, 0), (0, extra_h), (0, extra_w)], 0.0)?
        };
        self.conv2d_weight_grad(grad, &padded, weight_shape, spec)
    }

    /// Prepares `w` as the fixed right operand of later products
    /// ([`conv2d_prepared`](Self::conv2d_prepared), [`matmul_prepared`](Self::matmul_prepared)),
    /// or `None` where the backend gains nothing (the default). The secure backend opens the
    /// weight's persistent mask here, once, so that each later product sends only its input's
    /// (`None` there too where the session's dealer has no persistent masks).
    ///
    /// # Errors
    /// The backend's protocol errors.
    fn prepare_rhs(&self, _w: &Self::Tensor) -> Result<Option<PreparedRhs>> {
        Ok(None)
    }

    /// `conv2d(x, w)` where `prepared` came from [`prepare_rhs`](Self::prepare_rhs)`(w)`; the
    /// default ignores it.
    ///
    /// # Errors
    /// As [`conv2d`](Self::conv2d).
    fn conv2d_prepared(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        _prepared: &PreparedRhs,
        spec: &Conv2dSpec,
    ) -> Result<Self::Tensor> {
        self.conv2d(x, w, spec)
    }

    /// `relu(conv2d(x, w) + bias)`, the weight prepared
    /// ([`prepare_rhs`](Self::prepare_rhs)) or not, `bias` broadcastable to the output: a
    /// convolution and the ReLU after it, at inference (no gradient is recorded). The
    /// default runs them in turn; a backend may fuse the product's rescaling with the
    /// comparison (the secure backend does: one round and one opening fewer per layer).
    ///
    /// # Errors
    /// As [`conv2d`](Self::conv2d) and [`relu_with_grad`](Self::relu_with_grad), and a
    /// bias that does not broadcast to the output.
    fn conv2d_relu(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        prepared: Option<&PreparedRhs>,
        bias: Option<&Self::Tensor>,
        spec: &Conv2dSpec,
    ) -> Result<Self::Tensor> {
        let y = match prepared {
            Some(p) => self.conv2d_prepared(x, w, p, spec)?,
            None => self.conv2d(x, w, spec)?,
        };
        let y = match bias {
            Some(b) => self.add(&y, &self.broadcast_to(b, &Self::shape(&y))?)?,
            None => y,
        };
        Ok(self.relu_with_grad(&y)?.0)
    }

    /// `matmul(x, w)` for a 2-d `w` that `prepared` came from; the default ignores it.
    ///
    /// # Errors
    /// As [`matmul`](Self::matmul).
    fn matmul_prepared(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        _prepared: &PreparedRhs,
    ) -> Result<Self::Tensor> {
        self.matmul(x, w)
    }

    // ----- comparisons and pooling -------------------------------------------------------

    /// `max(a, 0)` and the mask `[a >= 0]` (0/1).
    fn relu_with_grad(&self, a: &Self::Tensor) -> Result<(Self::Tensor, Self::Tensor)>;
    /// `a` clamped into `[lo, hi]`, and the mask `[lo < a < hi]` (0/1) of where it passes.
    fn clamp_with_grad(
        &self,
        a: &Self::Tensor,
        lo: f64,
        hi: f64,
    ) -> Result<(Self::Tensor, Self::Tensor)>;
    /// `sign(a)` as `-1/+1` (`+1` at zero).
    fn sign(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// `|a|`.
    fn abs(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// Maximum along `axis`.
    fn max(&self, a: &Self::Tensor, axis: usize, keepdim: bool) -> Result<Self::Tensor>;
    /// One-hot (0/1, same shape) of the first maximum along `axis`.
    fn argmax_onehot(&self, a: &Self::Tensor, axis: usize) -> Result<Self::Tensor>;
    /// The maximum along `axis` and the one-hot (0/1, shape of `a`) of the first maximum,
    /// for max's backward rule. The default runs [`max`](Self::max) and
    /// [`argmax_onehot`](Self::argmax_onehot); a backend whose maximum finds the winner
    /// anyway (the secure one's tree) overrides it to pay for the comparisons once.
    fn max_with_onehot(
        &self,
        a: &Self::Tensor,
        axis: usize,
        keepdim: bool,
    ) -> Result<(Self::Tensor, Self::Tensor)> {
        Ok((self.max(a, axis, keepdim)?, self.argmax_onehot(a, axis)?))
    }
    /// Max pooling: the pooled tensor and the one-hot `[n, c, oh, ow, kh*kw]` of each
    /// window's first maximum (padding never wins).
    fn max_pool2d(
        &self,
        x: &Self::Tensor,
        spec: &Pool2dSpec,
    ) -> Result<(Self::Tensor, Self::Tensor)>;
    /// Max pooling without the one-hot, when no gradient will flow back (inference). The
    /// default drops [`max_pool2d`](Self::max_pool2d)'s one-hot; a backend whose one-hot
    /// costs extra (the shared one) skips it.
    fn max_pool2d_values(&self, x: &Self::Tensor, spec: &Pool2dSpec) -> Result<Self::Tensor> {
        Ok(self.max_pool2d(x, spec)?.0)
    }
    /// Routes the pooled gradient back through the one-hot.
    fn max_pool2d_backward(
        &self,
        grad: &Self::Tensor,
        onehot: &Self::Tensor,
        input_shape: &[usize],
        spec: &Pool2dSpec,
    ) -> Result<Self::Tensor>;
    /// Average pooling (zero padding counted, as PyTorch's default).
    fn avg_pool2d(&self, x: &Self::Tensor, spec: &Pool2dSpec) -> Result<Self::Tensor>;
    /// The adjoint of [`avg_pool2d`](Self::avg_pool2d).
    fn avg_pool2d_backward(
        &self,
        grad: &Self::Tensor,
        input_shape: &[usize],
        spec: &Pool2dSpec,
    ) -> Result<Self::Tensor>;

    // ----- functions ---------------------------------------------------------------------

    /// `exp(a)`.
    fn exp(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// `ln(a)`.
    fn log(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// `1 / a`.
    fn reciprocal(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// `sqrt(a)`.
    fn sqrt(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// `1 / sqrt(a)`.
    fn inv_sqrt(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// The logistic function.
    fn sigmoid(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// `tanh(a)`.
    fn tanh(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// The error function `erf(a)`.
    fn erf(&self, a: &Self::Tensor) -> Result<Self::Tensor>;
    /// erf's derivative `2 / sqrt(pi) * exp(-a^2)`, for erf's backward rule.
    ///
    /// The default suits fixed-point backends, whose `exp` holds on a bounded domain only
    /// (`|x| <= 8` for `cloak-mpc`'s default, and far below it the series grows without
    /// bound, so `exp(-a^2)` at `|a| = 10` would be garbage, not 0). So `a^2` is clamped at
    /// 16 with one ReLU (`2 / sqrt(pi) * exp(-16) = 1.3e-7` is below the 16-bit fixed-point
    /// unit, so the clamp changes nothing representable) and `exp(-a^2 / 2)` squared, which
    /// keeps `exp`'s argument in `[-8, 0]`: one comparison, one `exp`, three products.
    /// An exact backend overrides it with the formula.
    fn erf_grad(&self, a: &Self::Tensor) -> Result<Self::Tensor> {
        let sq = self.square(a)?;
        let (excess, _) = self.relu_with_grad(&self.add_scalar(&sq, -ERF_GRAD_CLAMP)?)?;
        let clamped = self.sub(&sq, &excess)?;
        let half = self.exp(&self.mul_scalar(&clamped, -0.5)?)?;
        self.mul_scalar(&self.square(&half)?, std::f64::consts::FRAC_2_SQRT_PI)
    }
    /// `softmax` along `axis`.
    fn softmax(&self, a: &Self::Tensor, axis: usize) -> Result<Self::Tensor>;
    /// `log_softmax` along `axis`.
    fn log_softmax(&self, a: &Self::Tensor, axis: usize) -> Result<Self::Tensor>;
    /// `softmax` and `log_softmax` along `axis` together (a backend may share work between
    /// them, as the secure one does).
    fn softmax_and_log_softmax(
        &self,
        a: &Self::Tensor,
        axis: usize,
    ) -> Result<(Self::Tensor, Self::Tensor)> {
        Ok((self.softmax(a, axis)?, self.log_softmax(a, axis)?))
    }
}
