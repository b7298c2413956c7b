//! 2-d max and average pooling and their backward passes for the plain backend.
//!
//! Windows start at `o * stride - padding`; positions in the padding are skipped by max
//! pooling (they never win) and count as zeros in the average, which always divides by
//! `kh * kw` (PyTorch's `count_include_pad=True`). The padding is at most half the window,
//! so every window holds at least one real pixel.

use cloak_mpc::Pool2dSpec;
use ndarray::ArrayD;

use super::{from_vec, numel, to_vec};
use crate::error::{Result, invalid, shape_mismatch};

/// The checked dimensions of one pooling.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// Input planes: batch times channels.
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    spec: Pool2dSpec,
}

impl Geometry {
    /// Checks an NCHW input shape against the window.
    fn new(op: &'static str, shape: &[usize], spec: &Pool2dSpec) -> Result<Self> {
        let &[n, c, h, w] = shape else {
            return Err(invalid(op, format!("input of shape {shape:?}, expected NCHW")));
        };
        numel(op, shape)?;
        let dim = |i: usize, k: usize, st: usize, p: usize| {
            if k == 0 || st == 0 || p > k / 2 {
                return None;
            }
            let padded = i.checked_add(2 * p)?;
            (padded >= k).then(|| (padded - k) / st + 1)
        };
        let fit = dim(h, spec.kernel.0, spec.stride.0, spec.padding.0).zip(dim(
            w,
            spec.kernel.1,
            spec.stride.1,
            spec.padding.1,
        ));
        let (oh, ow) =
            fit.ok_or_else(|| invalid(op, format!("{spec:?} does not fit input {shape:?}")))?;
        numel(op, &[n, c, oh, ow, spec.kernel.0, spec.kernel.1])?;
        Ok(Self { planes: n * c, h, w, oh, ow, spec: *spec })
    }

    /// The window size `kh * kw`.
    fn window(&self) -> usize {
        self.spec.kernel.0 * self.spec.kernel.1
    }

    /// The output shape `[N, C, oh, ow]` of an input of `shape`.
    fn out_shape(&self, shape: &[usize]) -> Vec<usize> {
        vec![shape[0], shape[1], self.oh, self.ow]
    }

    /// Calls `f(out_index, tap, in_index)` for every window position that is a real
    /// pixel, windows in row-major order and taps `di * kw + dj` in row-major order within
    /// each; `out_index` and `in_index` are row-major offsets into the output and input.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize)) {
        let ((kh, kw), (sh, sw), (ph, pw)) =
            (self.spec.kernel, self.spec.stride, self.spec.padding);
        for plane in 0..self.planes {
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    let out = (plane * self.oh + oy) * self.ow + ox;
                    for di in 0..kh {
                        let Some(iy) = (oy * sh + di).checked_sub(ph).filter(|&y| y < self.h)
                        else {
                            continue;
                        };
                        for dj in 0..kw {
                            if let Some(ix) = (ox * sw + dj).checked_sub(pw).filter(|&x| x < self.w)
                            {
                                f(out, di * kw + dj, (plane * self.h + iy) * self.w + ix);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Checks that `t` has shape `expected`.
fn check_shape(op: &'static str, t: &ArrayD<f64>, expected: &[usize]) -> Result<()> {
    if t.shape() != expected {
        return Err(shape_mismatch(op, t.shape(), expected));
    }
    Ok(())
}

/// Max pooling: the maxima `[N, C, oh, ow]` and the one-hot `[N, C, oh, ow, kh * kw]` of
/// each window's first maximum (padding never wins; NaN wins, as it propagates in PyTorch).
pub(super) fn max_pool2d(x: &ArrayD<f64>, spec: &Pool2dSpec) -> Result<(ArrayD<f64>, ArrayD<f64>)> {
    let op = "max_pool2d";
    let geo = Geometry::new(op, x.shape(), spec)?;
    let xv = to_vec(x);
    let outs = geo.planes * geo.oh * geo.ow;
    // The winning (tap, value) of each window so far.
    let mut best: Vec<Option<(usize, f64)>> = vec![None; outs];
    geo.for_each_tap(|o, tap, i| {
        let v = xv[i];
        if best[o].is_none_or(|(_, b)| v > b || (v.is_nan() && !b.is_nan())) {
            best[o] = Some((tap, v));
        }
    });
    let k = geo.window();
    let mut onehot = vec![0.0; outs * k];
    let mut out = vec![f64::NEG_INFINITY; outs];
    for (o, b) in best.iter().enumerate() {
        if let Some((tap, v)) = *b {
            out[o] = v;
            onehot[o * k + tap] = 1.0;
        }
    }
    let out_shape = geo.out_shape(x.shape());
    let mut hot_shape = out_shape.clone();
    hot_shape.push(k);
    Ok((from_vec(op, &out_shape, out)?, from_vec(op, &hot_shape, onehot)?))
}

/// Routes `grad` (`[N, C, oh, ow]`) to the input pixels `onehot` marks, summing where
/// windows overlap; marks in the padding are dropped.
pub(super) fn max_pool2d_backward(
    grad: &ArrayD<f64>,
    onehot: &ArrayD<f64>,
    input_shape: &[usize],
    spec: &Pool2dSpec,
) -> Result<ArrayD<f64>> {
    let op = "max_pool2d_backward";
    let geo = Geometry::new(op, input_shape, spec)?;
    let out_shape = geo.out_shape(input_shape);
    check_shape(op, grad, &out_shape)?;
    let k = geo.window();
    let mut hot_shape = out_shape;
    hot_shape.push(k);
    check_shape(op, onehot, &hot_shape)?;
    let (gv, hv) = (to_vec(grad), to_vec(onehot));
    let mut dx = vec![0.0; numel(op, input_shape)?];
    geo.for_each_tap(|o, tap, i| {
        let m = hv[o * k + tap];
        // Unmarked taps add nothing, even for an infinite gradient.
        if m != 0.0 {
            dx[i] += gv[o] * m;
        }
    });
    from_vec(op, input_shape, dx)
}

/// Average pooling: each window's sum of real pixels divided by `kh * kw`.
pub(super) fn avg_pool2d(x: &ArrayD<f64>, spec: &Pool2dSpec) -> Result<ArrayD<f64>> {
    let op = "avg_pool2d";
    let geo = Geometry::new(op, x.shape(), spec)?;
    let xv = to_vec(x);
    let mut out = vec![0.0; geo.planes * geo.oh * geo.ow];
    geo.for_each_tap(|o, _, i| out[o] += xv[i]);
    let size = geo.window() as f64;
    out.iter_mut().for_each(|v| *v /= size);
    from_vec(op, &geo.out_shape(x.shape()), out)
}

/// The adjoint of [`avg_pool2d`]: each window's gradient divided by `kh * kw`, added to its
/// real pixels.
pub(super) fn avg_pool2d_backward(
    grad: &ArrayD<f64>,
    input_shape: &[usize],
    spec: &Pool2dSpec,
) -> Result<ArrayD<f64>> {
    let op = "avg_pool2d_backward";
    let geo = Geometry::new(op, input_shape, spec)?;
    check_shape(op, grad, &geo.out_shape(input_shape))?;
    let size = geo.window() as f64;
    let gv: Vec<f64> = grad.iter().map(|g| g / size).collect();
    let mut dx = vec![0.0; numel(op, input_shape)?];
    geo.for_each_tap(|o, _, i| dx[i] += gv[o]);
    from_vec(op, input_shape, dx)
}
