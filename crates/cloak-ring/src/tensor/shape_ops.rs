//! Shape manipulation, indexing and reductions. All of these are local (no communication)
//! when applied to shares, so they must be exact and cheap.

use ndarray::{Axis, IxDyn, Slice};

use super::RingTensor;
use crate::element::RingElement;
use crate::error::{Result, RingError, checked_numel};
use crate::tensor::device::StridedView;
use crate::tensor::device::view::row_major_strides;

impl<T: RingElement> RingTensor<T> {
    fn check_axis(&self, op: &'static str, axis: usize) -> Result<()> {
        if axis >= self.ndim() {
            return Err(RingError::AxisOutOfRange { op, axis, ndim: self.ndim() });
        }
        Ok(())
    }

    /// Same elements in row-major order under a new shape with the same element count.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        let n = checked_numel("reshape", shape)?;
        if n != self.len() {
            return Err(RingError::InvalidShape {
                op: "reshape",
                shape: shape.to_vec(),
                reason: format!("holds {n} elements, the tensor has {}", self.len()),
            });
        }
        if let Some(d) = self.device_data() {
            // Device buffers are row-major: a new shape shares the buffer.
            return Ok(Self::on_device(d.with(d.buffer.clone(), shape)));
        }
        Self::from_vec(shape, self.to_vec())
    }

    /// Flattens to one dimension.
    pub fn flatten(&self) -> Self {
        self.reshape(&[self.len()]).expect("same element count")
    }

    /// The elements a strided view of this (device) tensor selects, as a new tensor.
    fn device_view(&self, view: &StridedView) -> Result<Option<Self>> {
        let Some(d) = self.device_data() else { return Ok(None) };
        let out = d.device.strided_copy(&d.buffer, view)?;
        Ok(Some(Self::on_device(d.with(out, &view.shape))))
    }

    /// `out[i] = self.flat[indices[i]]` on the tensor's device.
    fn device_take(&self, indices: &[usize], shape: &[usize]) -> Result<Option<Self>> {
        let Some(d) = self.device_data() else { return Ok(None) };
        let out = d.device.take(&d.buffer, indices)?;
        Ok(Some(Self::on_device(d.with(out, shape))))
    }

    /// Reorders the axes: output axis `i` is input axis `axes[i]`.
    pub fn permute(&self, axes: &[usize]) -> Result<Self> {
        let mut seen = vec![false; self.ndim()];
        let valid = axes.len() == self.ndim()
            && axes.iter().all(|&a| a < self.ndim() && !std::mem::replace(&mut seen[a], true));
        if !valid {
            return Err(RingError::InvalidShape {
                op: "permute",
                shape: axes.to_vec(),
                reason: format!("not a permutation of the {} axes", self.ndim()),
            });
        }
        let own = row_major_strides(self.shape());
        let view = StridedView {
            shape: axes.iter().map(|&a| self.shape()[a]).collect(),
            strides: axes.iter().map(|&a| own[a]).collect(),
            offset: 0,
        };
        if let Some(out) = self.device_view(&view)? {
            return Ok(out);
        }
        let data = self.as_array().into_owned().permuted_axes(IxDyn(axes));
        Ok(Self::host(data.as_standard_layout().into_owned()))
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Self> {
        self.check_axis("transpose", a)?;
        self.check_axis("transpose", b)?;
        let mut axes: Vec<usize> = (0..self.ndim()).collect();
        axes.swap(a, b);
        self.permute(&axes)
    }

    /// The transpose of a matrix (swaps the last two axes).
    pub fn t(&self) -> Result<Self> {
        if self.ndim() < 2 {
            return Err(RingError::InvalidShape {
                op: "t",
                shape: self.shape().to_vec(),
                reason: "needs at least 2 dimensions".into(),
            });
        }
        self.transpose(self.ndim() - 2, self.ndim() - 1)
    }

    /// Broadcasts to `shape` (NumPy rules), materialising the result.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Self> {
        let mismatch = || RingError::ShapeMismatch {
            op: "broadcast_to",
            lhs: self.shape().to_vec(),
            rhs: shape.to_vec(),
        };
        if self.device_data().is_some() {
            let view = StridedView::broadcast(self.shape(), shape).ok_or_else(mismatch)?;
            checked_numel("broadcast_to", shape)?;
            return Ok(self.device_view(&view)?.expect("on a device"));
        }
        let host = self.as_array();
        let view = host.broadcast(IxDyn(shape)).ok_or_else(mismatch)?;
        Ok(Self::host(view.to_owned()))
    }

    /// Sums (wrapping) a broadcast result back down to `shape`: the adjoint of
    /// [`broadcast_to`](Self::broadcast_to), which backward passes need.
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Self> {
        let err = || RingError::ShapeMismatch {
            op: "sum_to_shape",
            lhs: self.shape().to_vec(),
            rhs: shape.to_vec(),
        };
        if shape.len() > self.ndim() {
            return Err(err());
        }
        let lead = self.ndim() - shape.len();
        let mut out = self.clone();
        for _ in 0..lead {
            out = out.sum_axis(0, false)?;
        }
        for (axis, &d) in shape.iter().enumerate() {
            if out.shape()[axis] != d {
                if d != 1 {
                    return Err(err());
                }
                out = out.sum_axis(axis, true)?;
            }
        }
        Ok(out)
    }

    /// Inserts an axis of length 1 at `axis` (`axis <= ndim`).
    pub fn unsqueeze(&self, axis: usize) -> Result<Self> {
        if axis > self.ndim() {
            return Err(RingError::AxisOutOfRange { op: "unsqueeze", axis, ndim: self.ndim() });
        }
        let mut shape = self.shape().to_vec();
        shape.insert(axis, 1);
        self.reshape(&shape)
    }

    /// Removes an axis of length 1.
    pub fn squeeze(&self, axis: usize) -> Result<Self> {
        self.check_axis("squeeze", axis)?;
        if self.shape()[axis] != 1 {
            return Err(RingError::InvalidShape {
                op: "squeeze",
                shape: self.shape().to_vec(),
                reason: format!("axis {axis} has length {}, not 1", self.shape()[axis]),
            });
        }
        let mut shape = self.shape().to_vec();
        shape.remove(axis);
        self.reshape(&shape)
    }

    /// Elements `start, start + step, ...` below `end` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize, step: usize) -> Result<Self> {
        self.check_axis("slice", axis)?;
        let len = self.shape()[axis];
        if start > end || end > len {
            return Err(RingError::IndexOutOfRange {
                op: "slice",
                axis,
                index: end.max(start),
                len,
            });
        }
        if step == 0 || step > isize::MAX as usize {
            return Err(RingError::InvalidArgument {
                op: "slice",
                reason: format!("step {step} must be in 1..=isize::MAX"),
            });
        }
        if self.device_data().is_some() {
            let own = row_major_strides(self.shape());
            let mut view = StridedView::contiguous(self.shape());
            view.shape[axis] = (end - start).div_ceil(step);
            view.strides[axis] = own[axis] * step;
            view.offset = start * own[axis];
            return Ok(self.device_view(&view)?.expect("on a device"));
        }
        let s = Slice::new(start as isize, Some(end as isize), step as isize);
        Ok(Self::host(self.as_array().slice_axis(Axis(axis), s).to_owned()))
    }

    /// Selects whole sub-tensors along `axis` by index (`index_select` / `x[idx]`); indices
    /// may repeat.
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Result<Self> {
        self.check_axis("index_select", axis)?;
        let len = self.shape()[axis];
        if let Some(&bad) = indices.iter().find(|&&i| i >= len) {
            return Err(RingError::IndexOutOfRange { op: "index_select", axis, index: bad, len });
        }
        if self.device_data().is_some() {
            let outer: usize = self.shape()[..axis].iter().product();
            let inner: usize = self.shape()[axis + 1..].iter().product();
            let mut flat = Vec::with_capacity(outer * indices.len() * inner);
            for o in 0..outer {
                for &i in indices {
                    flat.extend((0..inner).map(|k| (o * len + i) * inner + k));
                }
            }
            let mut shape = self.shape().to_vec();
            shape[axis] = indices.len();
            return Ok(self.device_take(&flat, &shape)?.expect("on a device"));
        }
        Ok(Self::host(self.as_array().select(Axis(axis), indices)))
    }

    /// PyTorch's `gather`: `out[i][j][k] = self[i][index[i][j][k]][k]` for `axis = 1`, with
    /// `index` of the same rank and no larger than `self` on the other axes.
    pub fn gather(&self, axis: usize, index: &ndarray::ArrayD<usize>) -> Result<Self> {
        self.check_axis("gather", axis)?;
        let fits = index.ndim() == self.ndim()
            && index
                .shape()
                .iter()
                .zip(self.shape())
                .enumerate()
                .all(|(a, (&i, &s))| a == axis || i <= s);
        if !fits {
            return Err(RingError::ShapeMismatch {
                op: "gather",
                lhs: self.shape().to_vec(),
                rhs: index.shape().to_vec(),
            });
        }
        let len = self.shape()[axis];
        let strides = row_major_strides(self.shape());
        let mut flat = Vec::with_capacity(index.len());
        for (pos, &i) in index.indexed_iter() {
            if i >= len {
                return Err(RingError::IndexOutOfRange { op: "gather", axis, index: i, len });
            }
            let at = ndarray::Dimension::slice(&pos);
            let k: usize = at
                .iter()
                .zip(&strides)
                .enumerate()
                .map(|(a, (&p, &s))| if a == axis { i * s } else { p * s })
                .sum();
            flat.push(k);
        }
        if let Some(out) = self.device_take(&flat, index.shape())? {
            return Ok(out);
        }
        let src = self.as_slice();
        Self::from_vec(index.shape(), flat.iter().map(|&k| src[k]).collect())
    }

    /// Joins tensors along an existing axis; all other axes must agree.
    pub fn concat(tensors: &[&Self], axis: usize) -> Result<Self> {
        let first = tensors.first().ok_or_else(|| RingError::InvalidArgument {
            op: "concat",
            reason: "no tensors".into(),
        })?;
        first.check_axis("concat", axis)?;
        for t in tensors {
            let same_rank = t.ndim() == first.ndim();
            let others_agree = same_rank
                && t.shape()
                    .iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(a, (x, y))| a == axis || x == y);
            if !others_agree {
                return Err(RingError::ShapeMismatch {
                    op: "concat",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                });
            }
        }
        if let Some(t) = tensors.iter().find(|t| !t.is_host()) {
            return Self::concat_on_device(tensors, axis, t.device().expect("on a device"));
        }
        let hosts: Vec<_> = tensors.iter().map(|t| t.as_array()).collect();
        let views: Vec<_> = hosts.iter().map(|a| a.view()).collect();
        let data =
            ndarray::concatenate(Axis(axis), &views).map_err(|e| RingError::InvalidShape {
                op: "concat",
                shape: first.shape().to_vec(),
                reason: e.to_string(),
            })?;
        Ok(Self::host(data))
    }

    /// [`concat`](Self::concat) of checked operands, on `device` (host operands uploaded).
    fn concat_on_device(
        tensors: &[&Self],
        axis: usize,
        device: &crate::tensor::device::DeviceRef<T>,
    ) -> Result<Self> {
        let mut shape = tensors[0].shape().to_vec();
        shape[axis] = tensors.iter().map(|t| t.shape()[axis]).sum();
        let len = checked_numel("concat", &shape)?;
        let out_strides = row_major_strides(&shape);
        let mut buffers = Vec::with_capacity(tensors.len());
        let mut at = 0;
        for t in tensors {
            let view = StridedView {
                shape: t.shape().to_vec(),
                strides: out_strides.clone(),
                offset: at * out_strides[axis],
            };
            at += t.shape()[axis];
            buffers.push((t.buffer_on(device)?, view));
        }
        let parts: Vec<_> = buffers.iter().map(|(b, v)| (b, v.clone())).collect();
        let out = device.assemble(len, T::zero(), &parts)?;
        Ok(Self::from_device_buffer(device.clone(), out, &shape))
    }

    /// Joins same-shape tensors along a new axis.
    pub fn stack(tensors: &[&Self], axis: usize) -> Result<Self> {
        let first = tensors.first().ok_or_else(|| RingError::InvalidArgument {
            op: "stack",
            reason: "no tensors".into(),
        })?;
        if axis > first.ndim() {
            return Err(RingError::AxisOutOfRange { op: "stack", axis, ndim: first.ndim() });
        }
        let expanded = tensors
            .iter()
            .map(|t| {
                if t.shape() != first.shape() {
                    return Err(RingError::ShapeMismatch {
                        op: "stack",
                        lhs: first.shape().to_vec(),
                        rhs: t.shape().to_vec(),
                    });
                }
                t.unsqueeze(axis)
            })
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Self> = expanded.iter().collect();
        Self::concat(&refs, axis)
    }

    /// Pads every axis with `value`: `pads[a] = (before, after)` for axis `a`.
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Result<Self> {
        if pads.len() != self.ndim() {
            return Err(RingError::InvalidArgument {
                op: "pad",
                reason: format!("{} (before, after) pairs for {} axes", pads.len(), self.ndim()),
            });
        }
        let shape = self
            .shape()
            .iter()
            .zip(pads)
            .map(|(d, (b, a))| d.checked_add(*b).and_then(|x| x.checked_add(*a)))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| RingError::InvalidArgument {
                op: "pad",
                reason: format!("padding {pads:?} overflows usize"),
            })?;
        let len = checked_numel("pad", &shape)?;
        if let Some(d) = self.device_data() {
            let strides = row_major_strides(&shape);
            let offset = pads.iter().zip(&strides).map(|((b, _), s)| b * s).sum();
            let view = StridedView { shape: self.shape().to_vec(), strides, offset };
            let out = d.device.assemble(len, value, &[(&d.buffer, view)])?;
            return Ok(Self::on_device(d.with(out, &shape)));
        }
        let mut data = ndarray::ArrayD::from_elem(IxDyn(&shape), value);
        let mut view = data.view_mut();
        for (axis, (&d, &(b, _))) in self.shape().iter().zip(pads).enumerate() {
            view.slice_axis_inplace(Axis(axis), Slice::from(b..b + d));
        }
        view.assign(&*self.as_array());
        Ok(Self::host(data))
    }

    /// Wrapping sum along `axis`, keeping it as length 1 when `keepdim`.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Result<Self> {
        self.check_axis("sum_axis", axis)?;
        let out = match self.device_data() {
            Some(d) => {
                let buffer = d.device.sum_axis(&d.buffer, &d.shape, axis)?;
                let mut shape = d.shape.clone();
                shape.remove(axis);
                Self::on_device(d.with(buffer, &shape))
            }
            None => Self::host(
                self.as_array().fold_axis(Axis(axis), T::zero(), |acc, &x| acc.wrapping_add(&x)),
            ),
        };
        if keepdim { out.unsqueeze(axis) } else { Ok(out) }
    }

    /// Wrapping sum of all elements (on a device: summed there, one element downloaded).
    ///
    /// # Panics
    /// If the tensor's device fails (see [`device`](crate::tensor::device)).
    pub fn sum_all(&self) -> T {
        if self.device_data().is_some() && !self.is_empty() {
            let total = self.flatten().sum_axis(0, false).unwrap_or_else(|e| panic!("{e}"));
            return total.as_slice()[0];
        }
        self.as_array().iter().fold(T::zero(), |acc, &x| acc.wrapping_add(&x))
    }
}
