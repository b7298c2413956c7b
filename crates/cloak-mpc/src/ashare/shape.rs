//! Shape operations: all local, applied to each party's share.

use ndarray::{ArrayD, Axis, Zip};

use cloak_ring::{RingError, RingTensor};

use super::AShare;
use crate::error::{MpcError, Result};

impl AShare {
    /// Same elements, new shape.
    ///
    /// # Errors
    /// A shape with a different number of elements.
    pub fn reshape(&self, shape: &[usize]) -> Result<AShare> {
        Ok(self.with_share(self.share.reshape(shape)?))
    }

    /// One dimension.
    #[must_use]
    pub fn flatten(&self) -> AShare {
        self.with_share(self.share.flatten())
    }

    /// Reorders the axes.
    ///
    /// # Errors
    /// `axes` not a permutation of the dimensions.
    pub fn permute(&self, axes: &[usize]) -> Result<AShare> {
        Ok(self.with_share(self.share.permute(axes)?))
    }

    /// Swaps two axes.
    ///
    /// # Errors
    /// An axis out of range.
    pub fn transpose(&self, a: usize, b: usize) -> Result<AShare> {
        Ok(self.with_share(self.share.transpose(a, b)?))
    }

    /// Transpose of a matrix (the last two axes).
    ///
    /// # Errors
    /// Fewer than two dimensions.
    pub fn t(&self) -> Result<AShare> {
        Ok(self.with_share(self.share.t()?))
    }

    /// Broadcasts to a larger shape.
    ///
    /// # Errors
    /// Shapes that do not broadcast.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<AShare> {
        Ok(self.with_share(self.share.broadcast_to(shape)?))
    }

    /// Sums broadcast dimensions away (the adjoint of [`broadcast_to`](Self::broadcast_to)).
    ///
    /// # Errors
    /// `shape` not broadcastable to this one.
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<AShare> {
        Ok(self.with_share(self.share.sum_to_shape(shape)?))
    }

    /// Inserts an axis of length 1.
    ///
    /// # Errors
    /// An axis out of range.
    pub fn unsqueeze(&self, axis: usize) -> Result<AShare> {
        Ok(self.with_share(self.share.unsqueeze(axis)?))
    }

    /// Removes an axis of length 1.
    ///
    /// # Errors
    /// An axis out of range or not of length 1.
    pub fn squeeze(&self, axis: usize) -> Result<AShare> {
        Ok(self.with_share(self.share.squeeze(axis)?))
    }

    /// Elements `start..end` by `step` along `axis`.
    ///
    /// # Errors
    /// An axis or range out of bounds, or a zero step.
    pub fn slice(&self, axis: usize, start: usize, end: usize, step: usize) -> Result<AShare> {
        Ok(self.with_share(self.share.slice(axis, start, end, step)?))
    }

    /// The entries at public `indices` along `axis`.
    ///
    /// # Errors
    /// An axis or index out of range.
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Result<AShare> {
        Ok(self.with_share(self.share.index_select(axis, indices)?))
    }

    /// `self` with slice `k` of `source` added at position `indices[k]` along `axis`
    /// (PyTorch's `index_add`); repeated indices accumulate. It is the adjoint of
    /// [`index_select`](Self::index_select), which is what differentiating a selection
    /// needs: the gradient of the selected slices is summed back into the positions they
    /// came from. Local and exact: each party adds its share words (wrapping).
    ///
    /// # Errors
    /// An axis or index out of range, `source` not shaped as `self` with `indices.len()`
    /// along `axis`, or tensors from different sessions.
    pub fn index_add(&self, axis: usize, indices: &[usize], source: &AShare) -> Result<AShare> {
        let op = "index_add";
        self.check_session(source, op)?;
        let ndim = self.shape().len();
        if axis >= ndim {
            return Err(RingError::AxisOutOfRange { op, axis, ndim }.into());
        }
        let mut want = self.shape().to_vec();
        want[axis] = indices.len();
        if source.shape() != want.as_slice() {
            return Err(
                RingError::ShapeMismatch { op, lhs: source.shape().to_vec(), rhs: want }.into()
            );
        }
        let len = self.shape()[axis];
        if let Some(&index) = indices.iter().find(|&&i| i >= len) {
            return Err(RingError::IndexOutOfRange { op, axis, index, len }.into());
        }
        if !self.share.is_host() || !source.share.is_host() {
            return self.index_add_tensor(axis, indices, source);
        }
        let mut out = (*self.share).clone();
        let dst = out.as_array_mut();
        let src = source.share.as_array();
        for (k, &i) in indices.iter().enumerate() {
            Zip::from(dst.index_axis_mut(Axis(axis), i))
                .and(src.index_axis(Axis(axis), k))
                .for_each(|d, &s| *d = d.wrapping_add(s));
        }
        Ok(self.with_share(out))
    }

    /// [`index_add`](Self::index_add) of checked operands in tensor operations, so that a
    /// device share stays there: for each target position, the source slices that land on
    /// it are selected (padded to the largest count with an appended zero slice) and summed.
    fn index_add_tensor(&self, axis: usize, indices: &[usize], source: &AShare) -> Result<AShare> {
        let len = self.shape()[axis];
        let mut lists: Vec<Vec<usize>> = vec![Vec::new(); len];
        for (k, &i) in indices.iter().enumerate() {
            lists[i].push(k);
        }
        let most = lists.iter().map(Vec::len).max().unwrap_or(0);
        if most == 0 {
            return Ok(self.clone());
        }
        let zero_slice = indices.len();
        let picks: Vec<usize> = lists
            .iter()
            .flat_map(|l| l.iter().copied().chain(std::iter::repeat_n(zero_slice, most - l.len())))
            .collect();
        let mut pads = vec![(0, 0); self.shape().len()];
        pads[axis] = (0, 1);
        let picked = source.share.pad(&pads, 0)?.index_select(axis, &picks)?;
        let mut grouped = self.shape().to_vec();
        grouped.insert(axis + 1, most);
        let summed = picked.reshape(&grouped)?.sum_axis(axis + 1, false)?;
        Ok(self.with_share(self.share.add(&summed)?))
    }

    /// PyTorch-style gather with a public index tensor.
    ///
    /// # Errors
    /// Shape or index errors.
    pub fn gather(&self, axis: usize, index: &ArrayD<usize>) -> Result<AShare> {
        Ok(self.with_share(self.share.gather(axis, index)?))
    }

    /// Joins tensors along an existing axis.
    ///
    /// # Errors
    /// No tensors, mismatched shapes, or tensors from different sessions.
    pub fn concat(tensors: &[&AShare], axis: usize) -> Result<AShare> {
        let first = Self::first_of(tensors, "concat")?;
        let shares: Vec<&RingTensor<u64>> = tensors.iter().map(|t| &*t.share).collect();
        Ok(first.with_share(RingTensor::concat(&shares, axis)?))
    }

    /// Joins tensors along a new axis.
    ///
    /// # Errors
    /// As [`concat`](Self::concat).
    pub fn stack(tensors: &[&AShare], axis: usize) -> Result<AShare> {
        let first = Self::first_of(tensors, "stack")?;
        let shares: Vec<&RingTensor<u64>> = tensors.iter().map(|t| &*t.share).collect();
        Ok(first.with_share(RingTensor::stack(&shares, axis)?))
    }

    fn first_of<'a>(tensors: &[&'a AShare], op: &'static str) -> Result<&'a AShare> {
        let first = *tensors
            .first()
            .ok_or(MpcError::InvalidArgument { op, reason: "no tensors".into() })?;
        for t in &tensors[1..] {
            first.check_session(t, op)?;
        }
        Ok(first)
    }

    /// Pads each axis with `pads[axis] = (before, after)` copies of a public `value`.
    ///
    /// # Errors
    /// Wrong number of pads, or a value that cannot be encoded.
    pub fn pad(&self, pads: &[(usize, usize)], value: f64) -> Result<AShare> {
        let e = self.session.fixed_point().encode::<u64>(value)?;
        let fill = if self.session.rank() == 0 { e } else { 0 };
        Ok(self.with_share(self.share.pad(pads, fill)?))
    }
}
