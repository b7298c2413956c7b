//! Shape operations (padding and index selection among them) and reductions: local for
//! every backend, their gradients too, except max's comparisons and the product that routes
//! its gradient through the one-hot.

use crate::backend::Backend;
use crate::error::{AutogradError, Result, invalid};
use crate::var::Var;

fn check_axis(op: &'static str, axis: usize, nd: usize) -> Result<()> {
    if axis < nd { Ok(()) } else { Err(invalid(op, format!("axis {axis} of a {nd}-d tensor"))) }
}

impl<B: Backend> Var<B> {
    /// Same elements, new shape.
    ///
    /// # Errors
    /// A different element count.
    pub fn reshape(&self, shape: &[usize]) -> Result<Var<B>> {
        let out = self.backend().reshape(&self.value(), shape)?;
        let old = self.shape();
        Var::from_op("reshape", out, &[self], move |b, g| Ok(vec![Some(b.reshape(g, &old)?)]))
    }

    /// Keeps axes before `start`, flattens the rest into one (PyTorch's `flatten(start)`).
    ///
    /// # Errors
    /// `start` out of range.
    pub fn flatten_from(&self, start: usize) -> Result<Var<B>> {
        let shape = self.shape();
        check_axis("flatten", start, shape.len())?;
        let mut new = shape[..start].to_vec();
        new.push(shape[start..].iter().product());
        self.reshape(&new)
    }

    /// Axes reordered: output axis `i` is input axis `axes[i]`.
    ///
    /// # Errors
    /// Not a permutation of the axes.
    pub fn permute(&self, axes: &[usize]) -> Result<Var<B>> {
        let out = self.backend().permute(&self.value(), axes)?;
        let mut inverse = vec![0; axes.len()];
        for (i, &a) in axes.iter().enumerate() {
            inverse[a] = i;
        }
        Var::from_op("permute", out, &[self], move |b, g| Ok(vec![Some(b.permute(g, &inverse)?)]))
    }

    /// The transpose of a matrix (the last two axes swapped).
    ///
    /// # Errors
    /// Fewer than two axes.
    pub fn t(&self) -> Result<Var<B>> {
        let nd = self.shape().len();
        if nd < 2 {
            return Err(invalid("t", format!("a {nd}-d tensor has no transpose")));
        }
        let mut axes: Vec<usize> = (0..nd).collect();
        axes.swap(nd - 2, nd - 1);
        self.permute(&axes)
    }

    /// Broadcast to `shape`.
    ///
    /// # Errors
    /// Shapes that do not broadcast.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Var<B>> {
        let out = self.backend().broadcast_to(&self.value(), shape)?;
        let old = self.shape();
        Var::from_op("broadcast_to", out, &[self], move |b, g| {
            Ok(vec![Some(b.sum_to_shape(g, &old)?)])
        })
    }

    /// Sum along `axis`.
    ///
    /// # Errors
    /// `axis` out of range.
    pub fn sum(&self, axis: usize, keepdim: bool) -> Result<Var<B>> {
        let shape = self.shape();
        check_axis("sum", axis, shape.len())?;
        let out = self.backend().sum(&self.value(), axis, keepdim)?;
        let mut kept = shape.clone();
        kept[axis] = 1;
        Var::from_op("sum", out, &[self], move |b, g| {
            Ok(vec![Some(b.broadcast_to(&b.reshape(g, &kept)?, &shape)?)])
        })
    }

    /// Sum of all elements, as a one-element tensor of shape `[1]`.
    ///
    /// # Errors
    /// None in practice.
    pub fn sum_all(&self) -> Result<Var<B>> {
        self.reshape(&[self.numel()])?.sum(0, true)
    }

    /// Mean along `axis`.
    ///
    /// # Errors
    /// `axis` out of range, or an empty axis.
    pub fn mean(&self, axis: usize, keepdim: bool) -> Result<Var<B>> {
        let shape = self.shape();
        check_axis("mean", axis, shape.len())?;
        if shape[axis] == 0 {
            return Err(invalid("mean", "mean of an empty axis"));
        }
        self.sum(axis, keepdim)?.div_scalar(shape[axis] as f64)
    }

    /// Mean of all elements, shape `[1]`.
    ///
    /// # Errors
    /// An empty tensor.
    pub fn mean_all(&self) -> Result<Var<B>> {
        let n = self.numel();
        if n == 0 {
            return Err(invalid("mean", "mean of an empty tensor"));
        }
        self.sum_all()?.div_scalar(n as f64)
    }

    /// Elements `start..end` along `axis`.
    ///
    /// # Errors
    /// A range outside the axis.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Result<Var<B>> {
        let shape = self.shape();
        check_axis("slice", axis, shape.len())?;
        let out = self.backend().slice(&self.value(), axis, start, end)?;
        Var::from_op("slice", out, &[self], move |b, g| {
            let mut parts = Vec::new();
            let mut before = shape.clone();
            before[axis] = start;
            let mut after = shape.clone();
            after[axis] = shape[axis] - end;
            let (zb, za) = (b.zeros(&before), b.zeros(&after));
            if start > 0 {
                parts.push(&zb);
            }
            parts.push(g);
            if end < shape[axis] {
                parts.push(&za);
            }
            Ok(vec![Some(b.concat(&parts, axis)?)])
        })
    }

    /// Concatenation along `axis`.
    ///
    /// # Errors
    /// No inputs, or shapes that differ off `axis`.
    pub fn concat(parts: &[&Var<B>], axis: usize) -> Result<Var<B>> {
        let first = parts.first().ok_or_else(|| invalid("concat", "nothing to concatenate"))?;
        let b = first.backend();
        let values: Vec<B::Tensor> = parts.iter().map(|p| p.value()).collect();
        let refs: Vec<&B::Tensor> = values.iter().collect();
        let out = b.concat(&refs, axis)?;
        let sizes: Vec<usize> = parts.iter().map(|p| p.shape()[axis]).collect();
        Var::from_op("concat", out, parts, move |b, g| {
            let mut start = 0;
            let mut grads = Vec::with_capacity(sizes.len());
            for &n in &sizes {
                grads.push(Some(b.slice(g, axis, start, start + n)?));
                start += n;
            }
            Ok(grads)
        })
    }

    /// Maximum along `axis` (the axis removed, or kept with length 1 for `keepdim`). The
    /// backward routes the gradient through the one-hot of the first maximum that the
    /// forward comparisons produced (one product, no second comparison); ties go to the
    /// first occurrence, as in PyTorch's `max(dim)`.
    ///
    /// # Errors
    /// `axis` out of range or empty; the backend's protocol errors.
    pub fn max(&self, axis: usize, keepdim: bool) -> Result<Var<B>> {
        let shape = self.shape();
        check_axis("max", axis, shape.len())?;
        if shape[axis] == 0 {
            return Err(invalid("max", format!("axis {axis} of shape {shape:?} is empty")));
        }
        let (out, onehot) = self.backend().max_with_onehot(&self.value(), axis, keepdim)?;
        let mut kept = shape.clone();
        kept[axis] = 1;
        Var::from_op("max", out, &[self], move |b, g| {
            let spread = b.broadcast_to(&b.reshape(g, &kept)?, &shape)?;
            Ok(vec![Some(b.mul(&spread, &onehot)?)])
        })
    }

    /// The slices at public `indices` along `axis`, in order (ONNX's `Gather` with a
    /// constant index, `x[:, idx]`); indices may repeat. Local for shares. The backward
    /// scatter-adds the gradient into zeros, so a repeated index gets the sum of its
    /// slices' gradients and an unselected one zero.
    ///
    /// # Errors
    /// `axis` out of range, or an index not below the axis length.
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Result<Var<B>> {
        let shape = self.shape();
        check_axis("index_select", axis, shape.len())?;
        if let Some(i) = indices.iter().find(|&&i| i >= shape[axis]) {
            return Err(invalid(
                "index_select",
                format!("index {i} out of range for axis {axis} of shape {shape:?}"),
            ));
        }
        let out = self.backend().index_select(&self.value(), axis, indices)?;
        let indices = indices.to_vec();
        Var::from_op("index_select", out, &[self], move |b, g| {
            Ok(vec![Some(b.index_add(&b.zeros(&shape), axis, &indices, g)?)])
        })
    }

    /// Constant padding (ONNX's `Pad` in `constant` mode): `pads[i] = (before, after)`
    /// copies of the public `value` on axis `i`, one pair per axis. The backward crops the
    /// gradient back to the input (slices, local): padding has no gradient.
    ///
    /// # Errors
    /// `pads.len()` not the rank, a non-finite `value`, or a padded shape too large.
    pub fn pad(&self, pads: &[(usize, usize)], value: f64) -> Result<Var<B>> {
        let shape = self.shape();
        if pads.len() != shape.len() {
            return Err(invalid(
                "pad",
                format!("{} (before, after) pairs for shape {shape:?}", pads.len()),
            ));
        }
        if !value.is_finite() {
            return Err(AutogradError::NotFinite { op: "pad", value });
        }
        let out = self.backend().pad(&self.value(), pads, value)?;
        let pads = pads.to_vec();
        Var::from_op("pad", out, &[self], move |b, g| {
            let mut crop = g.clone();
            for (axis, (&(before, after), &len)) in pads.iter().zip(&shape).enumerate() {
                if before > 0 || after > 0 {
                    crop = b.slice(&crop, axis, before, before + len)?;
                }
            }
            Ok(vec![Some(crop)])
        })
    }

    /// Zero padding of the last two axes by `(ph, pw)` on each side.
    ///
    /// # Errors
    /// Fewer than two axes.
    pub fn pad2d(&self, pad: (usize, usize)) -> Result<Var<B>> {
        let out = self.backend().pad2d(&self.value(), pad, false)?;
        Var::from_op("pad2d", out, &[self], move |b, g| Ok(vec![Some(b.pad2d(g, pad, true)?)]))
    }
}
