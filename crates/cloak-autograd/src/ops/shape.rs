//! Shape operations and reductions: local for every backend, their gradients too.

use crate::backend::Backend;
use crate::error::{Result, invalid};
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

    /// Zero padding of the last two axes by `(ph, pw)` on each side.
    ///
    /// # Errors
    /// Fewer than two axes.
    pub fn pad2d(&self, pad: (usize, usize)) -> Result<Var<B>> {
        let out = self.backend().pad2d(&self.value(), pad, false)?;
        Var::from_op("pad2d", out, &[self], move |b, g| Ok(vec![Some(b.pad2d(g, pad, true)?)]))
    }
}
