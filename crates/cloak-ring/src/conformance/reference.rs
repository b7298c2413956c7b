//! Naive references for the conformance suite, written from the definitions with plain loops
//! and no code shared with the kernels: a backend that agrees with these is right, not merely
//! consistent with the CPU backend.
//!
//! Shapes are computed here too, independently of `tensor::linalg`, so that a wrong output
//! shape is caught as well as a wrong value.

use crate::element::RingElement;
use crate::tensor::Conv2dSpec;

/// Wrapping `[batch, m, k] x [batch or 1, k, n]`, row-major; `b_shared` reuses one right matrix.
pub fn matmul<T: RingElement>(
    (batch, m, k, n): (usize, usize, usize, usize),
    a: &[T],
    b: &[T],
    b_shared: bool,
) -> Vec<T> {
    let mut c = vec![T::zero(); batch * m * n];
    for t in 0..batch {
        let (a, c) = (&a[t * m * k..], &mut c[t * m * n..]);
        let b = if b_shared { b } else { &b[t * k * n..] };
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::zero();
                for p in 0..k {
                    acc = acc.wrapping_add(&a[i * k + p].wrapping_mul(&b[p * n + j]));
                }
                c[i * n + j] = acc;
            }
        }
    }
    c
}

/// The output height and width of a conv2d, or `None` when the kernel does not fit.
pub fn conv2d_hw(
    hw: (usize, usize),
    khw: (usize, usize),
    p: &Conv2dSpec,
) -> Option<(usize, usize)> {
    let dim = |i: usize, k: usize, s: usize, pad: usize, d: usize| {
        let span = d * (k - 1) + 1;
        (i + 2 * pad).checked_sub(span).map(|r| r / s + 1)
    };
    Some((
        dim(hw.0, khw.0, p.stride.0, p.padding.0, p.dilation.0)?,
        dim(hw.1, khw.1, p.stride.1, p.padding.1, p.dilation.1)?,
    ))
}

/// The output height and width of a transposed conv2d, or `None` when padding leaves none.
pub fn conv_transpose2d_hw(
    hw: (usize, usize),
    khw: (usize, usize),
    p: &Conv2dSpec,
    output_padding: (usize, usize),
) -> Option<(usize, usize)> {
    let dim = |i: usize, k: usize, s: usize, pad: usize, d: usize, o: usize| {
        ((i - 1) * s + d * (k - 1) + o + 1).checked_sub(2 * pad).filter(|&v| v > 0)
    };
    Some((
        dim(hw.0, khw.0, p.stride.0, p.padding.0, p.dilation.0, output_padding.0)?,
        dim(hw.1, khw.1, p.stride.1, p.padding.1, p.dilation.1, output_padding.1)?,
    ))
}

/// Calls `f(x index, w index, y index)` for every product term of a conv2d of an NCHW input
/// of shape `xs` by an OIHW weight of shape `ws` into an output of `out_hw`.
fn for_each_conv_term(
    xs: [usize; 4],
    ws: [usize; 4],
    p: &Conv2dSpec,
    out_hw: (usize, usize),
    mut f: impl FnMut(usize, usize, usize),
) {
    let [n, ci, h, w] = xs;
    let [o, ig, kh, kw] = ws;
    let og = o / p.groups;
    for ni in 0..n {
        for oi in 0..o {
            let g = oi / og;
            for oh in 0..out_hw.0 {
                for ow in 0..out_hw.1 {
                    for cc in 0..ig {
                        for a in 0..kh {
                            for b in 0..kw {
                                // Input pixel seen at output (oh, ow) by tap (a, b), if inside.
                                let ih =
                                    (oh * p.stride.0 + a * p.dilation.0).checked_sub(p.padding.0);
                                let iw =
                                    (ow * p.stride.1 + b * p.dilation.1).checked_sub(p.padding.1);
                                let (Some(ih), Some(iw)) = (ih, iw) else { continue };
                                if ih >= h || iw >= w {
                                    continue;
                                }
                                let xi = ((ni * ci + g * ig + cc) * h + ih) * w + iw;
                                let wi = ((oi * ig + cc) * kh + a) * kw + b;
                                let yi = ((ni * o + oi) * out_hw.0 + oh) * out_hw.1 + ow;
                                f(xi, wi, yi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Wrapping conv2d: `y[n, o, oh, ow] = sum x[n, c, ih, iw] * w[o, c, kh, kw]` over the taps.
pub fn conv2d<T: RingElement>(
    x: &[T],
    xs: [usize; 4],
    w: &[T],
    ws: [usize; 4],
    p: &Conv2dSpec,
    out_hw: (usize, usize),
) -> Vec<T> {
    let mut y = vec![T::zero(); xs[0] * ws[0] * out_hw.0 * out_hw.1];
    for_each_conv_term(xs, ws, p, out_hw, |xi, wi, yi| {
        y[yi] = y[yi].wrapping_add(&x[xi].wrapping_mul(&w[wi]))
    });
    y
}

/// The input gradient of [`conv2d`]: every term sends `dy * w` back to its input pixel.
pub fn conv2d_input_grad<T: RingElement>(
    dy: &[T],
    w: &[T],
    xs: [usize; 4],
    ws: [usize; 4],
    p: &Conv2dSpec,
    out_hw: (usize, usize),
) -> Vec<T> {
    let mut dx = vec![T::zero(); xs.iter().product()];
    for_each_conv_term(xs, ws, p, out_hw, |xi, wi, yi| {
        dx[xi] = dx[xi].wrapping_add(&dy[yi].wrapping_mul(&w[wi]))
    });
    dx
}

/// The weight gradient of [`conv2d`]: every term sends `dy * x` to its weight tap.
pub fn conv2d_weight_grad<T: RingElement>(
    x: &[T],
    dy: &[T],
    xs: [usize; 4],
    ws: [usize; 4],
    p: &Conv2dSpec,
    out_hw: (usize, usize),
) -> Vec<T> {
    let mut dw = vec![T::zero(); ws.iter().product()];
    for_each_conv_term(xs, ws, p, out_hw, |xi, wi, yi| {
        dw[wi] = dw[wi].wrapping_add(&dy[yi].wrapping_mul(&x[xi]))
    });
    dw
}

/// PyTorch's ConvTranspose2d by its own definition: each input pixel scatters `x * w` to
/// output `i * stride - padding + k * dilation`. `x` is `[n, groups * ic, h, w]`, `w` is
/// `[groups * ic, oc, kh, kw]`, the output `[n, groups * oc, out_hw]`.
pub fn conv_transpose2d<T: RingElement>(
    x: &[T],
    xs: [usize; 4],
    w: &[T],
    ws: [usize; 4],
    p: &Conv2dSpec,
    out_hw: (usize, usize),
) -> Vec<T> {
    let [n, ci, h, wd] = xs;
    let [_, oc, kh, kw] = ws;
    let icg = ci / p.groups;
    let co = oc * p.groups;
    let mut y = vec![T::zero(); n * co * out_hw.0 * out_hw.1];
    for ni in 0..n {
        for c in 0..ci {
            let g = c / icg;
            for ih in 0..h {
                for iw in 0..wd {
                    for o in 0..oc {
                        for a in 0..kh {
                            for b in 0..kw {
                                let oy =
                                    (ih * p.stride.0 + a * p.dilation.0).checked_sub(p.padding.0);
                                let ox =
                                    (iw * p.stride.1 + b * p.dilation.1).checked_sub(p.padding.1);
                                let (Some(oy), Some(ox)) = (oy, ox) else { continue };
                                if oy >= out_hw.0 || ox >= out_hw.1 {
                                    continue;
                                }
                                let xv = x[((ni * ci + c) * h + ih) * wd + iw];
                                let wv = w[((c * oc + o) * kh + a) * kw + b];
                                let yi = ((ni * co + g * oc + o) * out_hw.0 + oy) * out_hw.1 + ox;
                                y[yi] = y[yi].wrapping_add(&xv.wrapping_mul(&wv));
                            }
                        }
                    }
                }
            }
        }
    }
    y
}
