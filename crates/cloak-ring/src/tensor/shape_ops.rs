//! Shape manipulation, indexing and reductions. All of these are local (no communication)
//! when applied to shares, so they must be exact and cheap.

use ndarray::{Axis, IxDyn, Slice};

use super::RingTensor;
use crate::element::RingElement;
use crate::error::{Result, RingError, checked_numel};

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
        Self::from_vec(shape, self.to_vec())
    }

    /// Flattens to one dimension.
    pub fn flatten(&self) -> Self {
        Self::from_vec(&[self.len()], self.to_vec()).expect("same element count")
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
        let data = self.data.clone().permuted_axes(IxDyn(axes));
        Ok(Self { data: data.as_standard_layout().into_owned() })
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
        let view = self.data.broadcast(IxDyn(shape)).ok_or_else(|| RingError::ShapeMismatch {
            op: "broadcast_to",
            lhs: self.shape().to_vec(),
            rhs: shape.to_vec(),
        })?;
        Ok(Self { data: view.to_owned() })
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
        let s = Slice::new(start as isize, Some(end as isize), step as isize);
        Ok(Self { data: self.data.slice_axis(Axis(axis), s).to_owned() })
    }

    /// Selects whole sub-tensors along `axis` by index (`index_select` / `x[idx]`); indices
    /// may repeat.
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Result<Self> {
        self.check_axis("index_select", axis)?;
        let len = self.shape()[axis];
        if let Some(&bad) = indices.iter().find(|&&i| i >= len) {
            return Err(RingError::IndexOutOfRange { op: "index_select", axis, index: bad, len });
        }
        Ok(Self { data: self.data.select(Axis(axis), indices) })
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
        let mut out = Vec::with_capacity(index.len());
        for (pos, &i) in index.indexed_iter() {
            if i >= len {
                return Err(RingError::IndexOutOfRange { op: "gather", axis, index: i, len });
            }
            let mut at = ndarray::Dimension::slice(&pos).to_vec();
            at[axis] = i;
            out.push(self.data[IxDyn(&at)]);
        }
        Self::from_vec(index.shape(), out)
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
        let views: Vec<_> = tensors.iter().map(|t| t.data.view()).collect();
        let data =
            ndarray::concatenate(Axis(axis), &views).map_err(|e| RingError::InvalidShape {
                op: "concat",
                shape: first.shape().to_vec(),
                reason: e.to_string(),
            })?;
        Ok(Self { data })
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
        checked_numel("pad", &shape)?;
        let mut out = Self::full(&shape, value);
        let mut view = out.data.view_mut();
        for (axis, (&d, &(b, _))) in self.shape().iter().zip(pads).enumerate() {
            view.slice_axis_inplace(Axis(axis), Slice::from(b..b + d));
        }
        view.assign(&self.data);
        Ok(out)
    }

    /// Wrapping sum along `axis`, keeping it as length 1 when `keepdim`.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Result<Self> {
        self.check_axis("sum_axis", axis)?;
        let data = self.data.fold_axis(Axis(axis), T::zero(), |acc, &x| acc.wrapping_add(&x));
        let out = Self { data };
        if keepdim { out.unsqueeze(axis) } else { Ok(out) }
    }

    /// Wrapping sum of all elements.
    pub fn sum_all(&self) -> T {
        self.data.iter().fold(T::zero(), |acc, &x| acc.wrapping_add(&x))
    }
}
