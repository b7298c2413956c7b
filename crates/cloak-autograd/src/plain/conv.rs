//! 2-d convolution and its two gradients for the plain backend, by im2col and f64 GEMM.
//!
//! For sample `n` and group `g` the receptive fields form a matrix `col` of shape
//! `[C/g * kh * kw, oh * ow]` (zeros where a tap falls in the padding), and
//!
//! * forward: `y[n, group g] = W_g @ col`,
//! * input gradient: `col2im(W_g^T @ G[n, group g])`, the scatter-add adjoint of im2col, so
//!   input pixels no window reaches (a stride that does not divide the extent) get zero,
//! * weight gradient: `dW_g = sum over n of G[n, group g] @ col^T`,
//!
//! where `W_g` is the weight's rows of group `g` viewed as `[O/g, C/g * kh * kw]`.

use cloak_ring::Conv2dSpec;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array3, ArrayD, ArrayView2, ArrayViewMut2, s};

use super::{from_vec, numel, to_vec};
use crate::error::{Result, invalid, shape_mismatch};

/// The checked dimensions of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    groups: usize,
    /// Input channels per group.
    cg: usize,
    /// Output channels per group.
    og: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    spec: Conv2dSpec,
}

impl Geometry {
    /// Checks an NCHW input shape `x` against an OIHW weight shape `w`.
    fn new(op: &'static str, x: &[usize], w: &[usize], spec: &Conv2dSpec) -> Result<Self> {
        let (&[n, c, h, wd], &[o, cg, kh, kw]) = (x, w) else {
            return Err(shape_mismatch(op, x, w));
        };
        numel(op, x)?;
        numel(op, w)?;
        let groups = spec.groups;
        if groups == 0 || !c.is_multiple_of(groups) || !o.is_multiple_of(groups) {
            return Err(invalid(
                op,
                format!("groups {groups} must divide input channels {c} and output channels {o}"),
            ));
        }
        if cg.checked_mul(groups) != Some(c) {
            return Err(shape_mismatch(op, x, w));
        }
        let (oh, ow) = spec.output_hw((h, wd), (kh, kw)).ok_or_else(|| {
            invalid(op, format!("kernel {kh}x{kw} with {spec:?} does not fit input {h}x{wd}"))
        })?;
        // The im2col buffer and the output must be addressable too.
        numel(op, &[cg, kh, kw, oh, ow])?;
        numel(op, &[n, o, oh, ow])?;
        Ok(Self { n, c, h, w: wd, o, groups, cg, og: o / groups, kh, kw, oh, ow, spec: *spec })
    }

    /// Rows of the im2col matrix: taps per output channel.
    fn taps(&self) -> usize {
        self.cg * self.kh * self.kw
    }

    /// Columns of the im2col matrix: output positions per channel.
    fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// The output shape `[N, O, oh, ow]`.
    fn out_shape(&self) -> [usize; 4] {
        [self.n, self.o, self.oh, self.ow]
    }

    /// The input row tap `i` of output row `oy` reads, `None` in the padding.
    fn in_row(&self, oy: usize, i: usize) -> Option<usize> {
        let (s, p, d) = (self.spec.stride.0, self.spec.padding.0, self.spec.dilation.0);
        (oy * s + i * d).checked_sub(p).filter(|&y| y < self.h)
    }

    /// The input column tap `j` of output column `ox` reads, `None` in the padding.
    fn in_col(&self, ox: usize, j: usize) -> Option<usize> {
        let (s, p, d) = (self.spec.stride.1, self.spec.padding.1, self.spec.dilation.1);
        (ox * s + j * d).checked_sub(p).filter(|&x| x < self.w)
    }

    /// Calls `f(col_index, input_index)` for every im2col entry of sample `n`, group `g`
    /// that reads a real (non-padding) input pixel; indices are row-major offsets into the
    /// `[taps, positions]` matrix and the NCHW input.
    fn for_each_tap(&self, n: usize, g: usize, mut f: impl FnMut(usize, usize)) {
        let p = self.positions();
        for c in 0..self.cg {
            let plane = (n * self.c + g * self.cg + c) * self.h * self.w;
            for i in 0..self.kh {
                for j in 0..self.kw {
                    let row = ((c * self.kh + i) * self.kw + j) * p;
                    for oy in 0..self.oh {
                        let Some(iy) = self.in_row(oy, i) else { continue };
                        for ox in 0..self.ow {
                            if let Some(ix) = self.in_col(ox, j) {
                                f(row + oy * self.ow + ox, plane + iy * self.w + ix);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Fills `col` with the receptive fields of sample `n`, group `g`.
    fn im2col(&self, x: &[f64], n: usize, g: usize, col: &mut [f64]) {
        col.fill(0.0);
        self.for_each_tap(n, g, |ci, xi| col[ci] = x[xi]);
    }

    /// Adds `col` back onto the input pixels it was gathered from (the adjoint of
    /// [`im2col`](Self::im2col)).
    fn col2im(&self, col: &[f64], n: usize, g: usize, dx: &mut [f64]) {
        self.for_each_tap(n, g, |ci, xi| dx[xi] += col[ci]);
    }

    /// The output channels of group `g`.
    fn group_rows(&self, g: usize) -> std::ops::Range<usize> {
        g * self.og..(g + 1) * self.og
    }
}

/// Checks that `grad` has the convolution's output shape.
fn check_grad(op: &'static str, grad: &ArrayD<f64>, geo: &Geometry) -> Result<()> {
    if grad.shape() != geo.out_shape() {
        return Err(shape_mismatch(op, grad.shape(), &geo.out_shape()));
    }
    Ok(())
}

/// The weight (or its gradient) as the matrix `[O, C/g * kh * kw]`.
fn weight_matrix(op: &'static str, w: &ArrayD<f64>, geo: &Geometry) -> Result<Array2<f64>> {
    Array2::from_shape_vec((geo.o, geo.taps()), to_vec(w))
        .map_err(|_| shape_mismatch(op, w.shape(), &[geo.o, geo.taps()]))
}

/// An NCHW-like tensor as `[N, channels, positions]`.
fn as_rows(op: &'static str, t: &ArrayD<f64>, dims: (usize, usize, usize)) -> Result<Array3<f64>> {
    Array3::from_shape_vec(dims, to_vec(t))
        .map_err(|_| shape_mismatch(op, t.shape(), &[dims.0, dims.1, dims.2]))
}

/// A `[rows, cols]` matrix view over a scratch buffer.
fn matrix<'a>(
    op: &'static str,
    buf: &'a [f64],
    rows: usize,
    cols: usize,
) -> Result<ArrayView2<'a, f64>> {
    ArrayView2::from_shape((rows, cols), buf)
        .map_err(|_| shape_mismatch(op, &[buf.len()], &[rows, cols]))
}

/// `y = conv2d(x, w)`: NCHW `x`, OIHW `w` (`I = C / groups`), output `[N, O, oh, ow]`.
pub(super) fn conv2d(x: &ArrayD<f64>, w: &ArrayD<f64>, spec: &Conv2dSpec) -> Result<ArrayD<f64>> {
    let op = "conv2d";
    let geo = Geometry::new(op, x.shape(), w.shape(), spec)?;
    let (k, p) = (geo.taps(), geo.positions());
    let xv = to_vec(x);
    let wm = weight_matrix(op, w, &geo)?;
    let mut out = Array3::zeros((geo.n, geo.o, p));
    let mut col = vec![0.0; k * p];
    for n in 0..geo.n {
        for g in 0..geo.groups {
            geo.im2col(&xv, n, g, &mut col);
            let rows = geo.group_rows(g);
            general_mat_mul(
                1.0,
                &wm.slice(s![rows.clone(), ..]),
                &matrix(op, &col, k, p)?,
                0.0,
                &mut out.slice_mut(s![n, rows, ..]),
            );
        }
    }
    from_vec(op, &geo.out_shape(), out.iter().copied().collect())
}

/// `dL/dx` of `y = conv2d(x, w)` given `grad = dL/dy`; `x` has `input_shape`.
pub(super) fn conv2d_input_grad(
    grad: &ArrayD<f64>,
    w: &ArrayD<f64>,
    input_shape: &[usize],
    spec: &Conv2dSpec,
) -> Result<ArrayD<f64>> {
    let op = "conv2d_input_grad";
    let geo = Geometry::new(op, input_shape, w.shape(), spec)?;
    check_grad(op, grad, &geo)?;
    let (k, p) = (geo.taps(), geo.positions());
    let wm = weight_matrix(op, w, &geo)?;
    let gm = as_rows(op, grad, (geo.n, geo.o, p))?;
    let mut dx = vec![0.0; numel(op, input_shape)?];
    let mut dcol = vec![0.0; k * p];
    for n in 0..geo.n {
        for g in 0..geo.groups {
            let rows = geo.group_rows(g);
            let mut dcol_m = ArrayViewMut2::from_shape((k, p), &mut dcol[..])
                .map_err(|_| shape_mismatch(op, &[k * p], &[k, p]))?;
            general_mat_mul(
                1.0,
                &wm.slice(s![rows.clone(), ..]).t(),
                &gm.slice(s![n, rows, ..]),
                0.0,
                &mut dcol_m,
            );
            geo.col2im(&dcol, n, g, &mut dx);
        }
    }
    from_vec(op, input_shape, dx)
}

/// `dL/dw` of `y = conv2d(x, w)` given `grad = dL/dy`; `w` has `weight_shape`.
pub(super) fn conv2d_weight_grad(
    x: &ArrayD<f64>,
    grad: &ArrayD<f64>,
    weight_shape: &[usize],
    spec: &Conv2dSpec,
) -> Result<ArrayD<f64>> {
    let op = "conv2d_weight_grad";
    let geo = Geometry::new(op, x.shape(), weight_shape, spec)?;
    check_grad(op, grad, &geo)?;
    let (k, p) = (geo.taps(), geo.positions());
    let xv = to_vec(x);
    let gm = as_rows(op, grad, (geo.n, geo.o, p))?;
    let mut dw = Array2::zeros((geo.o, k));
    let mut col = vec![0.0; k * p];
    for n in 0..geo.n {
        for g in 0..geo.groups {
            geo.im2col(&xv, n, g, &mut col);
            let rows = geo.group_rows(g);
            general_mat_mul(
                1.0,
                &gm.slice(s![n, rows.clone(), ..]),
                &matrix(op, &col, k, p)?.t(),
                1.0,
                &mut dw.slice_mut(s![rows, ..]),
            );
        }
    }
    from_vec(op, weight_shape, dw.iter().copied().collect())
}

/// One output extent of a transposed convolution,
/// `(i - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1`, or `None`
/// if it is not positive or overflows.
fn transposed_extent(
    i: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    extra: usize,
) -> Option<usize> {
    (i - 1)
        .checked_mul(s)?
        .checked_add(d.checked_mul(k - 1)?)?
        .checked_add(extra.checked_add(1)?)?
        .checked_sub(p.checked_mul(2)?)
        .filter(|&o| o > 0)
}

/// `y = conv_transpose2d(x, w)` (PyTorch's definition) by a direct loop, the reference the
/// secure backend is checked against: every input pixel `x[n, c, i, j]` scatters
/// `x * w[c, o, a, b]` to output pixel `(i * s - p + a * d, j * s - p + b * d)` of channel
/// `g * O/g + o` (`g` the group of `c`), where that pixel exists. `x` is NCHW, `w` is
/// `[C, O/g, kh, kw]`.
pub(super) fn conv_transpose2d(
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    spec: &Conv2dSpec,
    output_padding: (usize, usize),
) -> Result<ArrayD<f64>> {
    let op = "conv_transpose2d";
    let (&[n, c, h, wd], &[wc, og, kh, kw]) = (x.shape(), w.shape()) else {
        return Err(shape_mismatch(op, x.shape(), w.shape()));
    };
    if wc != c {
        return Err(shape_mismatch(op, x.shape(), w.shape()));
    }
    let groups = spec.groups;
    if groups == 0 || !c.is_multiple_of(groups) {
        return Err(invalid(op, format!("groups {groups} must divide input channels {c}")));
    }
    let Conv2dSpec { stride: (sh, sw), padding: (ph, pw), dilation: (dh, dw), .. } = *spec;
    if [sh, sw, dh, dw, h, wd, kh, kw].contains(&0) {
        return Err(invalid(
            op,
            format!("stride, dilation, input {h}x{wd} and kernel {kh}x{kw} must be non-zero"),
        ));
    }
    if output_padding.0 >= sh.max(dh) || output_padding.1 >= sw.max(dw) {
        return Err(invalid(
            op,
            format!(
                "output padding {output_padding:?} must be smaller than stride {:?} or \
                 dilation {:?}",
                spec.stride, spec.dilation
            ),
        ));
    }
    let oh = transposed_extent(h, kh, sh, ph, dh, output_padding.0);
    let ow = transposed_extent(wd, kw, sw, pw, dw, output_padding.1);
    let (Some(oh), Some(ow)) = (oh, ow) else {
        return Err(invalid(op, format!("padding {:?} leaves no output", spec.padding)));
    };
    let co = og
        .checked_mul(groups)
        .ok_or_else(|| invalid(op, format!("{og} channels x {groups} groups overflows")))?;
    numel(op, x.shape())?;
    numel(op, w.shape())?;
    let out_shape = [n, co, oh, ow];
    let mut y = vec![0.0; numel(op, &out_shape)?];
    let (xv, wv) = (to_vec(x), to_vec(w));
    let cg = c / groups;
    for b in 0..n {
        for ci in 0..c {
            let g = ci / cg;
            for i in 0..h {
                for j in 0..wd {
                    let v = xv[((b * c + ci) * h + i) * wd + j];
                    for o in 0..og {
                        let plane = (b * co + g * og + o) * oh;
                        for a in 0..kh {
                            let Some(r) = (i * sh + a * dh).checked_sub(ph).filter(|&r| r < oh)
                            else {
                                continue;
                            };
                            for bb in 0..kw {
                                let Some(q) =
                                    (j * sw + bb * dw).checked_sub(pw).filter(|&q| q < ow)
                                else {
                                    continue;
                                };
                                y[(plane + r) * ow + q] +=
                                    v * wv[((ci * og + o) * kh + a) * kw + bb];
                            }
                        }
                    }
                }
            }
        }
    }
    from_vec(op, &out_shape, y)
}
