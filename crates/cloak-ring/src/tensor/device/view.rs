//! Strided views: which elements of a row-major buffer a permute, broadcast or slice reads.

use crate::error::{Result, RingError};

/// Element `(i_0, ..., i_{n-1})` of the view is element `offset + sum_d i_d * strides[d]`
/// of the buffer. A stride of 0 repeats an element (broadcasting).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StridedView {
    /// The view's shape.
    pub shape: Vec<usize>,
    /// Buffer elements between neighbours along each axis.
    pub strides: Vec<usize>,
    /// Buffer element of the view's first element.
    pub offset: usize,
}

impl StridedView {
    /// The whole of a row-major buffer of `shape`.
    #[must_use]
    pub fn contiguous(shape: &[usize]) -> Self {
        Self { shape: shape.to_vec(), strides: row_major_strides(shape), offset: 0 }
    }

    /// A row-major buffer of `shape` broadcast to `target` (NumPy rules: leading axes added,
    /// axes of length 1 repeated), or `None` if it does not broadcast.
    #[must_use]
    pub fn broadcast(shape: &[usize], target: &[usize]) -> Option<Self> {
        if shape.len() > target.len() {
            return None;
        }
        let own = row_major_strides(shape);
        let lead = target.len() - shape.len();
        let mut strides = vec![0; target.len()];
        for (d, &t) in target.iter().enumerate().skip(lead) {
            let s = shape[d - lead];
            if s == t {
                strides[d] = if s == 1 { 0 } else { own[d - lead] };
            } else if s != 1 {
                return None;
            }
        }
        Some(Self { shape: target.to_vec(), strides, offset: 0 })
    }

    /// Number of elements of the view.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the view selects no element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The largest buffer index the view reads, or `None` for an empty view.
    #[must_use]
    pub fn max_index(&self) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        Some(
            self.offset
                + self.shape.iter().zip(&self.strides).map(|(d, s)| (d - 1) * s).sum::<usize>(),
        )
    }

    /// Checks that the view fits a buffer of `len` elements (devices index without checks).
    ///
    /// # Errors
    /// [`RingError::InvalidShape`] if it reads or writes past the end.
    pub fn check_within(&self, op: &'static str, len: usize) -> Result<()> {
        if self.shape.len() != self.strides.len() {
            return Err(RingError::InvalidShape {
                op,
                shape: self.shape.clone(),
                reason: format!("{} strides for {} axes", self.strides.len(), self.shape.len()),
            });
        }
        match self.max_index() {
            Some(max) if max >= len => Err(RingError::InvalidShape {
                op,
                shape: self.shape.clone(),
                reason: format!("the view reaches element {max} of a buffer of {len}"),
            }),
            _ => Ok(()),
        }
    }

    /// The buffer index of every element of the view, in row-major order.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.len();
        let mut at = vec![0usize; self.shape.len()];
        let mut index = self.offset;
        (0..n).map(move |k| {
            if k > 0 {
                // Odometer step: the last axis moves fastest.
                for d in (0..at.len()).rev() {
                    at[d] += 1;
                    index += self.strides[d];
                    if at[d] < self.shape[d] {
                        break;
                    }
                    index -= self.strides[d] * at[d];
                    at[d] = 0;
                }
            }
            index
        })
    }
}

/// The strides of a row-major buffer of `shape`.
#[must_use]
pub fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::StridedView;

    #[test]
    fn indices_walk_row_major_with_broadcasts() {
        let v = StridedView::contiguous(&[2, 3]);
        assert_eq!(v.indices().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5]);
        let b = StridedView::broadcast(&[3], &[2, 3]).unwrap();
        assert_eq!(b.indices().collect::<Vec<_>>(), vec![0, 1, 2, 0, 1, 2]);
        let c = StridedView::broadcast(&[2, 1], &[2, 3]).unwrap();
        assert_eq!(c.indices().collect::<Vec<_>>(), vec![0, 0, 0, 1, 1, 1]);
        assert!(StridedView::broadcast(&[2], &[2, 3]).is_none());
        let t = StridedView { shape: vec![3, 2], strides: vec![1, 3], offset: 0 };
        assert_eq!(t.indices().collect::<Vec<_>>(), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(t.max_index(), Some(5));
        assert!(t.check_within("t", 5).is_err());
        assert!(t.check_within("t", 6).is_ok());
        let empty = StridedView::contiguous(&[2, 0]);
        assert_eq!(empty.indices().count(), 0);
    }
}
