//! The device operations on host slices: what [`SimulatedDevice`](super::SimulatedDevice)
//! runs, and the reference a device implementation is checked against.

use super::view::StridedView;
use super::{BinaryOp, UnaryOp};
use crate::element::RingElement;
use crate::error::{Result, RingError};

/// `op(a, b)` with `a` and `b` (each `(elements, shape)`) broadcast to `out_shape`.
///
/// # Errors
/// [`RingError::ShapeMismatch`] if a shape does not broadcast to `out_shape` (the tensor
/// layer checks shapes first, so a device sees this only from a caller that did not).
pub fn binary<T: RingElement>(
    op: BinaryOp,
    a: (&[T], &[usize]),
    b: (&[T], &[usize]),
    out_shape: &[usize],
) -> Result<Vec<T>> {
    if a.1 == out_shape && b.1 == out_shape {
        return Ok(a.0.iter().zip(b.0).map(|(&x, &y)| op.apply(x, y)).collect());
    }
    let (Some(va), Some(vb)) =
        (StridedView::broadcast(a.1, out_shape), StridedView::broadcast(b.1, out_shape))
    else {
        return Err(RingError::ShapeMismatch {
            op: "device binary",
            lhs: a.1.to_vec(),
            rhs: b.1.to_vec(),
        });
    };
    Ok(va.indices().zip(vb.indices()).map(|(i, j)| op.apply(a.0[i], b.0[j])).collect())
}

/// `op(a)` elementwise.
#[must_use]
pub fn unary<T: RingElement>(op: UnaryOp<T>, a: &[T]) -> Vec<T> {
    a.iter().map(|&x| op.apply(x)).collect()
}

/// The elements `view` selects from `src`.
#[must_use]
pub fn strided_copy<T: RingElement>(src: &[T], view: &StridedView) -> Vec<T> {
    view.indices().map(|i| src[i]).collect()
}

/// `len` elements equal to `fill`, each part's elements written where its view points.
#[must_use]
pub fn assemble<T: RingElement>(len: usize, fill: T, parts: &[(&[T], &StridedView)]) -> Vec<T> {
    let mut out = vec![fill; len];
    for (src, view) in parts {
        for (i, &x) in view.indices().zip(src.iter()) {
            out[i] = x;
        }
    }
    out
}

/// `out[i] = src[indices[i]]`.
#[must_use]
pub fn take<T: RingElement>(src: &[T], indices: &[usize]) -> Vec<T> {
    indices.iter().map(|&i| src[i]).collect()
}

/// Wrapping sum along `axis` of a row-major tensor of `shape`.
#[must_use]
pub fn sum_axis<T: RingElement>(src: &[T], shape: &[usize], axis: usize) -> Vec<T> {
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = vec![T::zero(); outer * inner];
    for o in 0..outer {
        let dst = &mut out[o * inner..(o + 1) * inner];
        for a in 0..len {
            let row = &src[(o * len + a) * inner..][..inner];
            for (d, &x) in dst.iter_mut().zip(row) {
                *d = d.wrapping_add(&x);
            }
        }
    }
    out
}
