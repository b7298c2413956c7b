//! 2-d pooling: windows are gathered locally (an unfold), then reduced.
//!
//! Max pooling reduces each window with the tree max and returns the one-hot of the
//! winner in every window, which is what its backward pass needs
//! ([`AShare::max_pool2d_backward`]). Average pooling is a local sum and one exact division
//! by the public window size ([`AShare::div_int`], one round; padding counts, as PyTorch's
//! default `count_include_pad`). Shares on a device pool and scatter gradients back in
//! tensor operations, where they live.

use cloak_ring::{Pool2dSpec, RingTensor};
use ndarray::{Array4, Ix4, s};

use crate::ashare::AShare;
use crate::error::{Result, invalid};
use crate::reduce::MaxMethod;

/// Ring value padded windows see for max pooling with a comparison of `k`-bit inputs
/// ([`ComparisonProtocol::input_bits`](crate::primitives::ComparisonProtocol::input_bits)):
/// `-2^(k-2)` (`-2^62` for the whole ring), below every input with `|x| < 2^(k-2)`, whose
/// differences with it stay within the `k` bits the comparison handles.
fn max_pool_pad(bits: u32) -> u64 {
    (1u64 << (bits.clamp(3, 64) - 2)).wrapping_neg()
}

/// Checks an NCHW input and returns `(n, c, h, w, oh, ow)`.
fn dims(shape: &[usize], spec: &Pool2dSpec, op: &'static str) -> Result<[usize; 6]> {
    if shape.len() != 4 {
        return Err(invalid(op, format!("input of shape {shape:?}, expected NCHW")));
    }
    let (oh, ow) = spec
        .output_hw(shape[2], shape[3])
        .ok_or_else(|| invalid(op, format!("{spec:?} does not fit input {shape:?}")))?;
    Ok([shape[0], shape[1], shape[2], shape[3], oh, ow])
}

/// `[n, c, oh, ow, kh * kw]` windows of a padded NCHW share.
fn unfold(x: &RingTensor<u64>, spec: &Pool2dSpec, oh: usize, ow: usize) -> Result<RingTensor<u64>> {
    if !x.is_host() {
        return unfold_tensors(x, spec, oh, ow);
    }
    let host = x.as_array();
    let a = host
        .view()
        .into_dimensionality::<Ix4>()
        .map_err(|_| invalid("pool", "input is not 4-d"))?;
    let (n, c) = (a.shape()[0], a.shape()[1]);
    let (kh, kw) = spec.kernel;
    let (sh, sw) = spec.stride;
    let mut out = ndarray::Array5::<u64>::zeros((n, c, oh, ow, kh * kw));
    for di in 0..kh {
        for dj in 0..kw {
            let win = a.slice(s![
                ..,
                ..,
                di..di + sh * (oh - 1) + 1;sh,
                dj..dj + sw * (ow - 1) + 1;sw
            ]);
            out.slice_mut(s![.., .., .., .., di * kw + dj]).assign(&win);
        }
    }
    Ok(RingTensor::from_array(out.into_dyn()))
}

/// [`unfold`] in tensor operations (a strided slice per window position, then one
/// assembly), so that a share on a device stays there.
fn unfold_tensors(
    x: &RingTensor<u64>,
    spec: &Pool2dSpec,
    oh: usize,
    ow: usize,
) -> Result<RingTensor<u64>> {
    if x.ndim() != 4 {
        return Err(invalid("pool", "input is not 4-d"));
    }
    let (kh, kw) = spec.kernel;
    let (sh, sw) = spec.stride;
    let mut parts = Vec::with_capacity(kh * kw);
    for di in 0..kh {
        for dj in 0..kw {
            let rows = x.slice(2, di, di + sh * (oh - 1) + 1, sh)?;
            parts.push(rows.slice(3, dj, dj + sw * (ow - 1) + 1, sw)?.unsqueeze(4)?);
        }
    }
    let refs: Vec<&RingTensor<u64>> = parts.iter().collect();
    Ok(RingTensor::concat(&refs, 4)?)
}

impl AShare {
    /// Max pooling of an NCHW tensor: the pooled `[n, c, oh, ow]` tensor and the 0/1
    /// one-hot `[n, c, oh, ow, kh * kw]` of each window's (first) maximum.
    ///
    /// # Errors
    /// A non-4-d input or a window that does not fit; a communication or dealer error.
    pub fn max_pool2d(&self, spec: &Pool2dSpec) -> Result<(AShare, AShare)> {
        let [_, _, _, _, oh, ow] = dims(self.shape(), spec, "max_pool2d")?;
        let session = self.session().clone();
        session.scoped("max_pool2d", || {
            self.pooling_windows(spec, oh, ow)?.max_with_argmax(4, false, MaxMethod::Tree)
        })
    }

    /// Max pooling without the one-hot, for inference: the same tree with no one-hot to
    /// carry (the one-hot multiplies the selection's bytes by the window size).
    ///
    /// # Errors
    /// As [`max_pool2d`](Self::max_pool2d).
    pub fn max_pool2d_values(&self, spec: &Pool2dSpec) -> Result<AShare> {
        let [_, _, _, _, oh, ow] = dims(self.shape(), spec, "max_pool2d")?;
        let session = self.session().clone();
        session.scoped("max_pool2d", || self.pooling_windows(spec, oh, ow)?.max(4, false))
    }

    /// The `[n, c, oh, ow, kh * kw]` windows of this tensor padded for max pooling.
    fn pooling_windows(&self, spec: &Pool2dSpec, oh: usize, ow: usize) -> Result<AShare> {
        let session = self.session();
        let (ph, pw) = spec.padding;
        let bits = session.config().comparison.input_bits();
        let fill = if session.rank() == 0 { max_pool_pad(bits) } else { 0 };
        let pads = [(0, 0), (0, 0), (ph, ph), (pw, pw)];
        let padded = AShare::from_share(session, self.share_tensor().pad(&pads, fill)?);
        let windows = unfold(padded.share_tensor(), spec, oh, ow)?;
        Ok(AShare::from_share(session, windows))
    }

    /// Backward of [`max_pool2d`](Self::max_pool2d): routes `grad_out` (`[n, c, oh, ow]`)
    /// to each window's maximum, summing where windows overlap. One product round.
    ///
    /// # Errors
    /// Shapes that do not match the forward pass; a communication or dealer error.
    pub fn max_pool2d_backward(
        grad_out: &AShare,
        onehot: &AShare,
        input_shape: &[usize],
        spec: &Pool2dSpec,
    ) -> Result<AShare> {
        let [n, c, h, w, oh, ow] = dims(input_shape, spec, "max_pool2d_backward")?;
        let k = spec.kernel.0 * spec.kernel.1;
        if grad_out.shape() != [n, c, oh, ow] || onehot.shape() != [n, c, oh, ow, k] {
            return Err(invalid(
                "max_pool2d_backward",
                format!(
                    "gradient {:?} and one-hot {:?} do not match input {input_shape:?}",
                    grad_out.shape(),
                    onehot.shape()
                ),
            ));
        }
        let session = grad_out.session().clone();
        session.scoped("max_pool2d_backward", || {
            let routed = onehot.mul(&grad_out.unsqueeze(4)?)?;
            let share = routed.share_tensor();
            if !share.is_host() {
                let dims = [n, c, h, w, oh, ow];
                let tap = |t: usize| Ok(share.slice(4, t, t + 1, 1)?.reshape(&[n, c, oh, ow])?);
                let inner = scatter_windows_tensors(dims, spec, tap)?;
                return Ok(AShare::from_share(&session, inner));
            }
            let host = share.as_array();
            let r = host.view();
            let dims = [n, c, h, w, oh, ow];
            let inner = scatter_windows(dims, spec, |tap| r.slice(s![.., .., .., .., tap]));
            Ok(AShare::from_share(&session, RingTensor::from_array(inner.into_dyn())))
        })
    }

    /// Average pooling of an NCHW tensor (zero padding counted in the average).
    ///
    /// # Errors
    /// A non-4-d input or a window that does not fit; a truncation error.
    pub fn avg_pool2d(&self, spec: &Pool2dSpec) -> Result<AShare> {
        let [_, _, _, _, oh, ow] = dims(self.shape(), spec, "avg_pool2d")?;
        let session = self.session().clone();
        session.scoped("avg_pool2d", || {
            let (ph, pw) = spec.padding;
            let padded = self.pad(&[(0, 0), (0, 0), (ph, ph), (pw, pw)], 0.0)?;
            let windows = unfold(padded.share_tensor(), spec, oh, ow)?;
            let sums = windows.sum_axis(4, false)?;
            let k = (spec.kernel.0 * spec.kernel.1) as u64;
            AShare::from_share(&session, sums).div_int(k)
        })
    }

    /// Backward of [`avg_pool2d`](Self::avg_pool2d): the pooled gradient (`[n, c, oh, ow]`)
    /// divided by the window size (one round, as the forward pass), then added to every
    /// input position of its window, locally.
    ///
    /// # Errors
    /// A gradient that does not match the forward pass; a communication or dealer error.
    pub fn avg_pool2d_backward(
        grad_out: &AShare,
        input_shape: &[usize],
        spec: &Pool2dSpec,
    ) -> Result<AShare> {
        let [n, c, h, w, oh, ow] = dims(input_shape, spec, "avg_pool2d_backward")?;
        if grad_out.shape() != [n, c, oh, ow] {
            return Err(invalid(
                "avg_pool2d_backward",
                format!("gradient {:?} does not match input {input_shape:?}", grad_out.shape()),
            ));
        }
        let session = grad_out.session().clone();
        session.scoped("avg_pool2d_backward", || {
            let scaled = grad_out.div_int((spec.kernel.0 * spec.kernel.1) as u64)?;
            let share = scaled.share_tensor();
            if !share.is_host() {
                let dims = [n, c, h, w, oh, ow];
                let inner = scatter_windows_tensors(dims, spec, |_| Ok(share.clone()))?;
                return Ok(AShare::from_share(&session, inner));
            }
            let host = share.as_array();
            let g = host.view().into_dimensionality::<Ix4>().map_err(|_| {
                invalid("avg_pool2d_backward", format!("gradient {:?}", grad_out.shape()))
            })?;
            let inner = scatter_windows([n, c, h, w, oh, ow], spec, |_| g.view());
            Ok(AShare::from_share(&session, RingTensor::from_array(inner.into_dyn())))
        })
    }
}

/// Adds the `[n, c, oh, ow]` values `tap(di * kw + dj)` of each window tap to the input
/// positions that tap covers (wrapping), dropping padding: the adjoint of gathering the
/// windows, shared by both pooling backwards.
fn scatter_windows<'a, D: ndarray::Dimension>(
    [n, c, h, w, oh, ow]: [usize; 6],
    spec: &Pool2dSpec,
    tap: impl Fn(usize) -> ndarray::ArrayView<'a, u64, D>,
) -> Array4<u64> {
    let (ph, pw) = spec.padding;
    let (sh, sw) = spec.stride;
    let (kh, kw) = spec.kernel;
    let mut acc = Array4::<u64>::zeros((n, c, h + 2 * ph, w + 2 * pw));
    for di in 0..kh {
        for dj in 0..kw {
            let part = tap(di * kw + dj);
            let mut dst = acc.slice_mut(s![
                ..,
                ..,
                di..di + sh * (oh - 1) + 1;sh,
                dj..dj + sw * (ow - 1) + 1;sw
            ]);
            dst.zip_mut_with(&part, |d, &p| *d = d.wrapping_add(p));
        }
    }
    acc.slice(s![.., .., ph..ph + h, pw..pw + w]).to_owned()
}

/// [`scatter_windows`] in tensor operations, so that a share on a device stays there: each
/// tap's `[n, c, oh, ow]` values are spread to the input positions they came from (zeros
/// between them, for strides above one, and around them, by padding), added up, and the
/// padding is dropped.
fn scatter_windows_tensors(
    [n, c, h, w, oh, ow]: [usize; 6],
    spec: &Pool2dSpec,
    tap: impl Fn(usize) -> Result<RingTensor<u64>>,
) -> Result<RingTensor<u64>> {
    let (ph, pw) = spec.padding;
    let (sh, sw) = spec.stride;
    let (kh, kw) = spec.kernel;
    let (hp, wp) = (h + 2 * ph, w + 2 * pw);
    if oh == 0 || ow == 0 {
        return Err(invalid("pool_backward", "no windows"));
    }
    let (span_h, span_w) = (sh * (oh - 1) + 1, sw * (ow - 1) + 1);
    let mut acc: Option<RingTensor<u64>> = None;
    for di in 0..kh {
        for dj in 0..kw {
            let part = tap(di * kw + dj)?;
            if part.shape() != [n, c, oh, ow] {
                return Err(invalid("pool_backward", format!("a tap of shape {:?}", part.shape())));
            }
            let rows = spread(&part, 2, sh, span_h)?;
            let cols = spread(&rows, 3, sw, span_w)?;
            let placed =
                cols.pad(&[(0, 0), (0, 0), (di, hp - di - span_h), (dj, wp - dj - span_w)], 0)?;
            acc = Some(match acc {
                Some(a) => a.add(&placed)?,
                None => placed,
            });
        }
    }
    let acc = acc.ok_or_else(|| invalid("pool_backward", "an empty window"))?;
    Ok(acc.slice(2, ph, ph + h, 1)?.slice(3, pw, pw + w, 1)?)
}

/// Spreads axis `axis` (2 or 3) of a 4-d tensor to `stride` apart: element `i` moves to
/// `i * stride`, zeros between, `span` long in all.
fn spread(t: &RingTensor<u64>, axis: usize, stride: usize, span: usize) -> Result<RingTensor<u64>> {
    if stride == 1 {
        return Ok(t.clone());
    }
    let mut shape = t.shape().to_vec();
    let mut pads = vec![(0, 0); shape.len() + 1];
    pads[axis + 1] = (0, stride - 1);
    let wide = t.unsqueeze(axis + 1)?.pad(&pads, 0)?;
    shape[axis] *= stride;
    Ok(wide.reshape(&shape)?.slice(axis, 0, span, 1)?)
}
