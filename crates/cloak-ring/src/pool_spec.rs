//! The geometry of 2-d pooling, beside [`Conv2dSpec`](crate::Conv2dSpec) for convolutions:
//! the protocols of the layers above gather windows by it, and the layers and importers
//! describe their pooling with it.

/// Window size, stride and zero padding of a 2-d pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dSpec {
    /// Window height and width.
    pub kernel: (usize, usize),
    /// Step between windows.
    pub stride: (usize, usize),
    /// Padding on each side.
    pub padding: (usize, usize),
}

impl Pool2dSpec {
    /// A `k x k` window with stride `k` and no padding (the usual pooling).
    #[must_use]
    pub fn square(k: usize) -> Self {
        Self { kernel: (k, k), stride: (k, k), padding: (0, 0) }
    }

    /// Output height and width for an input of `h x w`: `(h + 2 p - k) / stride + 1` per
    /// dimension. `None` if the window does not fit the padded input, a window or stride is
    /// zero, or the padding exceeds half the window (as PyTorch refuses).
    #[must_use]
    pub fn output_hw(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let dim = |i: usize, k: usize, st: usize, p: usize| {
            // Padding above half the window is refused first (so `2 p <= k` cannot overflow).
            if k == 0 || st == 0 || p > k / 2 {
                return None;
            }
            let padded = i.checked_add(2 * p)?;
            (padded >= k).then(|| (padded - k) / st + 1)
        };
        Some((
            dim(h, self.kernel.0, self.stride.0, self.padding.0)?,
            dim(w, self.kernel.1, self.stride.1, self.padding.1)?,
        ))
    }
}
