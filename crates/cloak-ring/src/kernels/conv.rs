//! 2-d convolutions (NCHW data, OIHW weights, groups) and their gradients, as im2col + GEMM.
//!
//! Per image and group, the forward convolution is `W_g (O/g x I/g*kh*kw)` times the im2col
//! matrix of the image; the im2col matrix is gathered while the GEMM packs it (see
//! `im2col.rs`), never stored. The input gradient multiplies `W_g^T` by the output gradient
//! and scatters the result back with col2im; the weight gradient multiplies the output
//! gradient by the transposed im2col matrix and sums over images. A transposed convolution
//! is exactly the input gradient of the convolution whose weight it shares.
//!
//! Shapes are checked by the callers (`RingTensor` returns typed errors); here inconsistent
//! shapes are a bug and panic with a message.

use std::any::TypeId;

use super::dispatch::KernelElem;
use super::driver::Dense;
use super::im2col::{DenseT, Geometry, Im2col};
use super::{Parallelism, team};
use crate::RingElement;

/// Products with fewer multiply-accumulates than this are not worth a task of their own.
const PAR_MIN_MACS: usize = 112 * 112 * 112;

/// Stride, zero padding, dilation (each `(height, width)`) and groups of a 2-d convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dParams {
    /// Step between output positions, in input pixels.
    pub stride: (usize, usize),
    /// Zeros added on both sides of the input.
    pub padding: (usize, usize),
    /// Step between kernel taps, in input pixels.
    pub dilation: (usize, usize),
    /// Channel groups: input and output channels split into `groups` independent convolutions.
    pub groups: usize,
}

impl Default for Conv2dParams {
    /// Stride 1, no padding, no dilation, one group.
    fn default() -> Self {
        Self { stride: (1, 1), padding: (0, 0), dilation: (1, 1), groups: 1 }
    }
}

impl Conv2dParams {
    /// Output height and width for an input of `in_hw` and a kernel of `kernel_hw`:
    /// `(in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1` per dimension.
    ///
    /// `None` if the dilated kernel does not fit the padded input, or a stride, dilation or
    /// kernel size is zero.
    pub fn output_hw(
        &self,
        in_hw: (usize, usize),
        kernel_hw: (usize, usize),
    ) -> Option<(usize, usize)> {
        let dim = |i: usize, k: usize, s: usize, p: usize, d: usize| {
            if s == 0 || d == 0 || k == 0 {
                return None;
            }
            let span = d.checked_mul(k - 1)?.checked_add(1)?;
            let padded = i.checked_add(p.checked_mul(2)?)?;
            Some(padded.checked_sub(span)? / s + 1)
        };
        let h = dim(in_hw.0, kernel_hw.0, self.stride.0, self.padding.0, self.dilation.0)?;
        let w = dim(in_hw.1, kernel_hw.1, self.stride.1, self.padding.1, self.dilation.1)?;
        Some((h, w))
    }

    fn geometry(
        &self,
        channels: usize,
        in_hw: (usize, usize),
        kernel_hw: (usize, usize),
        out_hw: (usize, usize),
    ) -> Geometry {
        Geometry {
            channels,
            in_hw,
            kernel_hw,
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            out_hw,
        }
    }
}

/// 2-d convolution: `y[n, o, oh, ow] = sum over c in o's group, kh, kw of
/// x[n, g * I + c, oh * s - p + kh * d, ow * s - p + kw * d] * w[o, c, kh, kw]` (zero outside
/// the input), for `x` of shape `x_shape` (NCHW) and `w` of shape `w_shape` (OIHW, `I` input
/// channels per group). Returns `y`, of shape `[N, O, OH, OW]` with `(OH, OW)` from
/// [`Conv2dParams::output_hw`].
///
/// # Panics
///
/// If the shapes are inconsistent (slice lengths, channels, groups) or the kernel does not fit.
pub fn conv2d<T: RingElement>(
    x: &[T],
    x_shape: [usize; 4],
    w: &[T],
    w_shape: [usize; 4],
    p: &Conv2dParams,
    par: Parallelism,
) -> Vec<T> {
    let geo = check(x_shape, w_shape, p, "conv2d");
    let [n, _, _, _] = x_shape;
    assert_eq!(x.len(), x_shape.iter().product::<usize>(), "conv2d: x does not match x_shape");
    let mut y = vec![T::zero(); n * w_shape[0] * geo.cols()];
    by_width(
        x,
        w,
        &mut y,
        |x, w, y| conv2d_into(x, x_shape, w, w_shape, p.groups, geo, y, par),
        |x, w, y| conv2d_into(x, x_shape, w, w_shape, p.groups, geo, y, par),
    );
    y
}

/// Gradient of [`conv2d`] with respect to its input: the transposed convolution of `dy`
/// (shape `dy_shape`, NCHW) with `w`. Returns `dx`, of shape `x_shape`.
///
/// `dy_shape`'s spatial size is taken as given: positions that map outside the input (as the
/// extra rows of a transposed convolution's output padding do) contribute nothing.
///
/// # Panics
///
/// If the shapes are inconsistent.
pub fn conv2d_input_grad<T: RingElement>(
    dy: &[T],
    dy_shape: [usize; 4],
    w: &[T],
    w_shape: [usize; 4],
    x_shape: [usize; 4],
    p: &Conv2dParams,
    par: Parallelism,
) -> Vec<T> {
    let geo = check_grad(x_shape, w_shape, dy_shape, p, "conv2d_input_grad");
    assert_eq!(
        dy.len(),
        dy_shape.iter().product::<usize>(),
        "conv2d_input_grad: dy does not match dy_shape"
    );
    let mut dx = vec![T::zero(); x_shape.iter().product()];
    by_width(
        dy,
        w,
        &mut dx,
        |dy, w, dx| input_grad_into(dy, w, w_shape, p.groups, geo, dx, par),
        |dy, w, dx| input_grad_into(dy, w, w_shape, p.groups, geo, dx, par),
    );
    dx
}

/// Gradient of [`conv2d`] with respect to its weight:
/// `dw[o, c, kh, kw] = sum over n, oh, ow of dy[n, o, oh, ow] * x[n, g * I + c, ...]` (the
/// input pixel that tap `(kh, kw)` sees at `(oh, ow)`). Returns `dw`, of shape `w_shape`.
///
/// # Panics
///
/// If the shapes are inconsistent.
pub fn conv2d_weight_grad<T: RingElement>(
    x: &[T],
    x_shape: [usize; 4],
    dy: &[T],
    dy_shape: [usize; 4],
    w_shape: [usize; 4],
    p: &Conv2dParams,
    par: Parallelism,
) -> Vec<T> {
    let geo = check_grad(x_shape, w_shape, dy_shape, p, "conv2d_weight_grad");
    assert_eq!(
        x.len(),
        x_shape.iter().product::<usize>(),
        "conv2d_weight_grad: x does not match x_shape"
    );
    assert_eq!(
        dy.len(),
        dy_shape.iter().product::<usize>(),
        "conv2d_weight_grad: dy does not match dy_shape"
    );
    let mut dw = vec![T::zero(); w_shape.iter().product()];
    by_width(
        x,
        dy,
        &mut dw,
        |x, dy, dw| weight_grad_into(x, x_shape, dy, w_shape, p.groups, geo, dw, par),
        |x, dy, dw| weight_grad_into(x, x_shape, dy, w_shape, p.groups, geo, dw, par),
    );
    dw
}

/// Transposed 2-d convolution (PyTorch's `conv_transpose2d`): `x` of shape `[N, I, H, W]`,
/// `w` of shape `[I, O / groups, kh, kw]`; returns `y` of shape `[N, O, OH, OW]` with
/// `OH = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1` (and
/// likewise `OW`). It is the input gradient of the convolution with weight `w` read as OIHW.
///
/// # Panics
///
/// If the shapes are inconsistent or the padding exceeds the output.
pub fn conv_transpose2d<T: RingElement>(
    x: &[T],
    x_shape: [usize; 4],
    w: &[T],
    w_shape: [usize; 4],
    p: &Conv2dParams,
    output_padding: (usize, usize),
    par: Parallelism,
) -> Vec<T> {
    let [n, _, h, wd] = x_shape;
    let [_, og, kh, kw] = w_shape;
    let dim = |i: usize, s: usize, pad: usize, d: usize, k: usize, op: usize| {
        assert!(i > 0 && k > 0, "conv_transpose2d: empty input or kernel");
        ((i - 1) * s + d * (k - 1) + op + 1).checked_sub(2 * pad)
    };
    let oh = dim(h, p.stride.0, p.padding.0, p.dilation.0, kh, output_padding.0);
    let ow = dim(wd, p.stride.1, p.padding.1, p.dilation.1, kw, output_padding.1);
    let (Some(oh), Some(ow)) = (oh, ow) else {
        panic!("conv_transpose2d: padding {:?} exceeds the output", p.padding);
    };
    conv2d_input_grad(x, x_shape, w, w_shape, [n, og * p.groups, oh, ow], p, par)
}

/// Checks a forward convolution's shapes; returns the geometry of one image-and-group.
fn check(x_shape: [usize; 4], w_shape: [usize; 4], p: &Conv2dParams, op: &str) -> Geometry {
    let [_, c, h, w] = x_shape;
    let [o, ig, kh, kw] = w_shape;
    assert!(
        p.groups > 0 && c == ig * p.groups && o % p.groups == 0,
        "{op}: channels {c} (input) and {o} (output) do not split into {} groups of {ig} inputs",
        p.groups
    );
    let out = p.output_hw((h, w), (kh, kw));
    let Some(out_hw) = out else {
        panic!("{op}: kernel {kh}x{kw} does not fit input {h}x{w} with {p:?}");
    };
    p.geometry(ig, (h, w), (kh, kw), out_hw)
}

/// Checks a gradient's shapes: as [`check`], but the output size is `dy_shape`'s.
fn check_grad(
    x_shape: [usize; 4],
    w_shape: [usize; 4],
    dy_shape: [usize; 4],
    p: &Conv2dParams,
    op: &str,
) -> Geometry {
    let [n, c, h, w] = x_shape;
    let [o, ig, kh, kw] = w_shape;
    assert!(
        p.groups > 0 && c == ig * p.groups && o % p.groups == 0,
        "{op}: channels {c} (input) and {o} (output) do not split into {} groups of {ig} inputs",
        p.groups
    );
    assert!(
        dy_shape[0] == n && dy_shape[1] == o,
        "{op}: output gradient {dy_shape:?} does not match input {x_shape:?} and weight {w_shape:?}"
    );
    assert!(
        p.stride.0 > 0 && p.stride.1 > 0 && p.dilation.0 > 0 && p.dilation.1 > 0,
        "{op}: zero stride or dilation in {p:?}"
    );
    p.geometry(ig, (h, w), (kh, kw), (dy_shape[2], dy_shape[3]))
}

/// Runs `f64` or `f32` on the operands viewed as `u64` or `u32`, whichever `T` is (the ring
/// element trait is sealed to those two), so that the kernels can pick the width's GEMM.
fn by_width<T: RingElement>(
    a: &[T],
    b: &[T],
    out: &mut [T],
    f64: impl FnOnce(&[u64], &[u64], &mut [u64]),
    f32: impl FnOnce(&[u32], &[u32], &mut [u32]),
) {
    if let (Some(a), Some(b), Some(out)) = (retype(a), retype(b), retype_mut(out)) {
        f64(a, b, out);
    } else if let (Some(a), Some(b), Some(out)) = (retype(a), retype(b), retype_mut(out)) {
        f32(a, b, out);
    }
}

/// `s` as a slice of `U`, if `T` is `U`.
fn retype<T: 'static, U: 'static>(s: &[T]) -> Option<&[U]> {
    // SAFETY: `T` and `U` are the same type.
    (TypeId::of::<T>() == TypeId::of::<U>())
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<U>(), s.len()) })
}

/// `s` as a mutable slice of `U`, if `T` is `U`.
fn retype_mut<T: 'static, U: 'static>(s: &mut [T]) -> Option<&mut [U]> {
    // SAFETY: `T` and `U` are the same type; the borrow of `s` moves into the result.
    (TypeId::of::<T>() == TypeId::of::<U>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<U>(), s.len()) })
}

/// Runs `job(i, chunk, inner)` for each `chunk_len`-sized chunk `i` of `out`: in parallel
/// with sequential GEMMs when there are enough chunks (or they are too small to split
/// inside), else one after the other with `par` GEMMs.
fn run_jobs<E: Send>(
    out: &mut [E],
    chunk_len: usize,
    macs_per_job: usize,
    par: Parallelism,
    job: impl Fn(usize, &mut [E], Parallelism) + Sync,
) {
    if chunk_len == 0 {
        return;
    }
    let jobs = out.len() / chunk_len;
    let threads = match par {
        Parallelism::Sequential => 1,
        Parallelism::Rayon => rayon::current_num_threads(),
    };
    let spread = threads > 1
        && jobs > 1
        && jobs.saturating_mul(macs_per_job) >= PAR_MIN_MACS
        && (jobs >= threads || macs_per_job < PAR_MIN_MACS);
    if spread {
        team::for_each_chunk(threads - 1, out, chunk_len, &|i, chunk| {
            job(i, chunk, Parallelism::Sequential);
        });
    } else {
        for (i, chunk) in out.chunks_exact_mut(chunk_len).enumerate() {
            job(i, chunk, par);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn conv2d_into<E: KernelElem>(
    x: &[E],
    x_shape: [usize; 4],
    w: &[E],
    w_shape: [usize; 4],
    groups: usize,
    geo: Geometry,
    y: &mut [E],
    par: Parallelism,
) {
    assert_eq!(w.len(), w_shape.iter().product::<usize>(), "conv2d: w does not match w_shape");
    let og = w_shape[0] / groups;
    let (r, cols, img) = (geo.rows(), geo.cols(), geo.image_len());
    let c = x_shape[1];
    run_jobs(y, og * cols, og * r * cols, par, |i, yj, inner| {
        let (ni, gi) = (i / groups, i % groups);
        let xg = &x[(ni * c + gi * geo.channels) * geo.in_hw.0 * geo.in_hw.1..][..img];
        let wg = &w[gi * og * r..][..og * r];
        E::gemm_rhs(og, r, cols, wg, &Im2col { x: xg, geo }, yj, inner);
    });
}

#[allow(clippy::too_many_arguments)]
fn input_grad_into<E: KernelElem>(
    dy: &[E],
    w: &[E],
    w_shape: [usize; 4],
    groups: usize,
    geo: Geometry,
    dx: &mut [E],
    par: Parallelism,
) {
    assert_eq!(
        w.len(),
        w_shape.iter().product::<usize>(),
        "conv2d_input_grad: w does not match w_shape"
    );
    let o = w_shape[0];
    let og = o / groups;
    let (r, cols) = (geo.rows(), geo.cols());
    // W_g^T (r x og) for every group, so that the GEMM's left operand is row-major.
    let mut wt = vec![E::zero(); groups * r * og];
    for gi in 0..groups {
        for oi in 0..og {
            for ri in 0..r {
                wt[(gi * r + ri) * og + oi] = w[(gi * og + oi) * r + ri];
            }
        }
    }
    run_jobs(dx, geo.image_len(), r * og * cols, par, |i, dxj, inner| {
        let (ni, gi) = (i / groups, i % groups);
        let dyg = &dy[(ni * o + gi * og) * cols..][..og * cols];
        let mut dcols = vec![E::zero(); r * cols];
        let wtg = &wt[gi * r * og..][..r * og];
        E::gemm_rhs(r, og, cols, wtg, &Dense { b: dyg, ld: cols }, &mut dcols, inner);
        geo.col2im(&dcols, dxj);
    });
}

#[allow(clippy::too_many_arguments)]
fn weight_grad_into<E: KernelElem>(
    x: &[E],
    x_shape: [usize; 4],
    dy: &[E],
    w_shape: [usize; 4],
    groups: usize,
    geo: Geometry,
    dw: &mut [E],
    par: Parallelism,
) {
    let [n, c, h, wd] = x_shape;
    let o = w_shape[0];
    let og = o / groups;
    let (r, cols, img) = (geo.rows(), geo.cols(), geo.image_len());
    let per_image = og * cols * r;
    // dW_g += dy[ni, g] (og x cols) * im2col(x[ni, g])^T (cols x r), one image at a time.
    let image_term = |ni: usize, gi: usize, inner: Parallelism| {
        let xg = &x[(ni * c + gi * geo.channels) * h * wd..][..img];
        let im = geo.im2col(xg);
        let dyg = &dy[(ni * o + gi * og) * cols..][..og * cols];
        let mut t = vec![E::zero(); og * r];
        E::gemm_rhs(og, cols, r, dyg, &DenseT { m: &im, ld: cols }, &mut t, inner);
        t
    };
    let add = |acc: &mut [E], t: &[E]| {
        for (a, b) in acc.iter_mut().zip(t) {
            *a = a.wrapping_add(b);
        }
    };
    run_jobs(dw, og * r, n * per_image, par, |gi, dwg, inner| {
        let threads = match inner {
            Parallelism::Sequential => 1,
            Parallelism::Rayon => rayon::current_num_threads(),
        };
        if threads > 1 && n > 1 && per_image < PAR_MIN_MACS && n * per_image >= PAR_MIN_MACS {
            // Images spread over the team, each task summing a run of them into its own
            // partial gradient.
            let per_task = n.div_ceil(2 * threads);
            let mut partial = vec![E::zero(); n.div_ceil(per_task) * og * r];
            team::for_each_chunk(threads - 1, &mut partial, og * r, &|t, acc| {
                for ni in t * per_task..((t + 1) * per_task).min(n) {
                    add(acc, &image_term(ni, gi, Parallelism::Sequential));
                }
            });
            for part in partial.chunks_exact(og * r) {
                add(dwg, part);
            }
        } else {
            for ni in 0..n {
                add(dwg, &image_term(ni, gi, inner));
            }
        }
    });
}
