//! Broadcasting and layout operations of the plain backend: NumPy broadcasting for
//! elementwise operations, its adjoint `sum_to_shape`, and the reshapes, permutations,
//! concatenations, slices and paddings the layers need.

use cloak_ring::broadcast_shapes;
use ndarray::{ArrayD, Axis, IxDyn, Slice, Zip, concatenate};

use super::{check_axis, from_vec, numel, to_vec};
use crate::error::{Result, invalid, shape_mismatch};

/// `f` applied elementwise to `a` and `b` broadcast to their common (NumPy) shape.
pub(super) fn zip_broadcast(
    op: &'static str,
    a: &ArrayD<f64>,
    b: &ArrayD<f64>,
    f: impl Fn(f64, f64) -> f64,
) -> Result<ArrayD<f64>> {
    if a.shape() == b.shape() {
        return Ok(Zip::from(a).and(b).map_collect(|&x, &y| f(x, y)));
    }
    let err = || shape_mismatch(op, a.shape(), b.shape());
    let shape = broadcast_shapes(a.shape(), b.shape()).ok_or_else(err)?;
    let av = a.broadcast(IxDyn(&shape)).ok_or_else(err)?;
    let bv = b.broadcast(IxDyn(&shape)).ok_or_else(err)?;
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

/// `a` broadcast to `shape` (a copy).
pub(super) fn broadcast_to(a: &ArrayD<f64>, shape: &[usize]) -> Result<ArrayD<f64>> {
    numel("broadcast_to", shape)?;
    let view = a
        .broadcast(IxDyn(shape))
        .ok_or_else(|| shape_mismatch("broadcast_to", a.shape(), shape))?;
    Ok(view.to_owned())
}

/// Sums `a` over its leading extra axes and over the axes where `shape` has 1 and `a` not,
/// so that the result has `shape`: the adjoint of [`broadcast_to`].
pub(super) fn sum_to_shape(a: &ArrayD<f64>, shape: &[usize]) -> Result<ArrayD<f64>> {
    let op = "sum_to_shape";
    let err = || shape_mismatch(op, a.shape(), shape);
    let lead = a.ndim().checked_sub(shape.len()).ok_or_else(err)?;
    let tail = &a.shape()[lead..];
    if tail.iter().zip(shape).any(|(&d, &t)| d != t && t != 1) {
        return Err(err());
    }
    let mut out = a.clone();
    for _ in 0..lead {
        out = out.sum_axis(Axis(0));
    }
    for (i, (&t, &d)) in shape.iter().zip(tail).enumerate() {
        if t != d {
            out = out.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    Ok(out)
}

/// The same elements (row-major) in a new shape.
pub(super) fn reshape(a: &ArrayD<f64>, shape: &[usize]) -> Result<ArrayD<f64>> {
    let op = "reshape";
    if numel(op, shape)? != a.len() {
        return Err(shape_mismatch(op, a.shape(), shape));
    }
    from_vec(op, shape, to_vec(a))
}

/// Axis `i` of the result is axis `axes[i]` of `a`.
pub(super) fn permute(a: &ArrayD<f64>, axes: &[usize]) -> Result<ArrayD<f64>> {
    let mut seen = vec![false; a.ndim()];
    let valid = axes.len() == a.ndim()
        && axes.iter().all(|&ax| ax < seen.len() && !std::mem::replace(&mut seen[ax], true));
    if !valid {
        return Err(invalid(
            "permute",
            format!("{axes:?} is not a permutation of the axes of shape {:?}", a.shape()),
        ));
    }
    Ok(a.view().permuted_axes(axes).as_standard_layout().into_owned())
}

/// Concatenation of `parts` along `axis`; every other axis must agree.
pub(super) fn concat(parts: &[&ArrayD<f64>], axis: usize) -> Result<ArrayD<f64>> {
    let op = "concat";
    let first = parts.first().ok_or_else(|| invalid(op, "no tensors to concatenate"))?;
    check_axis(op, first, axis)?;
    for p in parts {
        let fits = p.ndim() == first.ndim()
            && p.shape()
                .iter()
                .zip(first.shape())
                .enumerate()
                .all(|(i, (x, y))| i == axis || x == y);
        if !fits {
            return Err(shape_mismatch(op, first.shape(), p.shape()));
        }
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    concatenate(Axis(axis), &views).map_err(|e| invalid(op, e.to_string()))
}

/// Elements `start..end` along `axis`.
pub(super) fn slice(a: &ArrayD<f64>, axis: usize, start: usize, end: usize) -> Result<ArrayD<f64>> {
    let op = "slice";
    check_axis(op, a, axis)?;
    let len = a.shape()[axis];
    if start > end || end > len {
        return Err(invalid(op, format!("range {start}..{end} on an axis of length {len}")));
    }
    Ok(a.slice_axis(Axis(axis), Slice::from(start..end)).to_owned())
}

/// Zero padding of the last two axes by `ph` rows above and below and `pw` columns left
/// and right, or (for `crop`) the removal of as many: its adjoint.
pub(super) fn pad2d(a: &ArrayD<f64>, (ph, pw): (usize, usize), crop: bool) -> Result<ArrayD<f64>> {
    let op = "pad2d";
    let nd = a.ndim();
    if nd < 2 {
        return Err(invalid(op, format!("shape {:?} has fewer than two axes", a.shape())));
    }
    let (h, w) = (a.shape()[nd - 2], a.shape()[nd - 1]);
    if crop {
        let too_small = || invalid(op, format!("cannot crop {ph}x{pw} from shape {:?}", a.shape()));
        let oh = h.checked_sub(ph.checked_mul(2).ok_or_else(too_small)?).ok_or_else(too_small)?;
        let ow = w.checked_sub(pw.checked_mul(2).ok_or_else(too_small)?).ok_or_else(too_small)?;
        let v = a.slice_axis(Axis(nd - 2), Slice::from(ph..ph + oh));
        return Ok(v.slice_axis(Axis(nd - 1), Slice::from(pw..pw + ow)).to_owned());
    }
    let too_big = || invalid(op, format!("padding {ph}x{pw} of shape {:?} overflows", a.shape()));
    let grow = |d: usize, p: usize| p.checked_mul(2).and_then(|p2| d.checked_add(p2));
    let mut shape = a.shape().to_vec();
    shape[nd - 2] = grow(h, ph).ok_or_else(too_big)?;
    shape[nd - 1] = grow(w, pw).ok_or_else(too_big)?;
    numel(op, &shape)?;
    let mut out = ArrayD::zeros(IxDyn(&shape));
    out.slice_axis_mut(Axis(nd - 2), Slice::from(ph..ph + h))
        .slice_axis_mut(Axis(nd - 1), Slice::from(pw..pw + w))
        .assign(a);
    Ok(out)
}

/// Every axis padded with `pads[axis] = (before, after)` copies of `value`.
pub(super) fn pad(a: &ArrayD<f64>, pads: &[(usize, usize)], value: f64) -> Result<ArrayD<f64>> {
    let op = "pad";
    if pads.len() != a.ndim() {
        return Err(invalid(
            op,
            format!("{} (before, after) pairs for shape {:?}", pads.len(), a.shape()),
        ));
    }
    let shape = a
        .shape()
        .iter()
        .zip(pads)
        .map(|(&d, &(b, e))| d.checked_add(b).and_then(|x| x.checked_add(e)))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| {
            invalid(op, format!("padding {pads:?} of shape {:?} overflows", a.shape()))
        })?;
    numel(op, &shape)?;
    let mut out = ArrayD::from_elem(IxDyn(&shape), value);
    out.slice_each_axis_mut(|ax| {
        let (before, len) = (pads[ax.axis.index()].0, a.shape()[ax.axis.index()]);
        Slice::from(before..before + len)
    })
    .assign(a);
    Ok(out)
}

/// An error unless `axis` is one of `a`'s axes and every index is below its length.
fn check_indices(op: &'static str, a: &ArrayD<f64>, axis: usize, indices: &[usize]) -> Result<()> {
    check_axis(op, a, axis)?;
    let len = a.shape()[axis];
    match indices.iter().find(|&&i| i >= len) {
        Some(i) => {
            Err(invalid(op, format!("index {i} out of range for axis {axis} of length {len}")))
        }
        None => Ok(()),
    }
}

/// The slices at `indices` along `axis`, in order.
pub(super) fn index_select(a: &ArrayD<f64>, axis: usize, indices: &[usize]) -> Result<ArrayD<f64>> {
    let op = "index_select";
    check_indices(op, a, axis, indices)?;
    let mut shape = a.shape().to_vec();
    shape[axis] = indices.len();
    numel(op, &shape)?;
    Ok(a.select(Axis(axis), indices))
}

/// `a` with slice `k` of `src` added at `indices[k]` along `axis` (repeats accumulate).
pub(super) fn index_add(
    a: &ArrayD<f64>,
    axis: usize,
    indices: &[usize],
    src: &ArrayD<f64>,
) -> Result<ArrayD<f64>> {
    let op = "index_add";
    check_indices(op, a, axis, indices)?;
    let mut want = a.shape().to_vec();
    want[axis] = indices.len();
    if src.shape() != want.as_slice() {
        return Err(shape_mismatch(op, src.shape(), &want));
    }
    let mut out = a.clone();
    for (k, &i) in indices.iter().enumerate() {
        let mut dst = out.index_axis_mut(Axis(axis), i);
        dst += &src.index_axis(Axis(axis), k);
    }
    Ok(out)
}
