//! Matrix products and convolutions: shape checking here, arithmetic in the backend.
//!
//! The checks are free functions so that every backend (CPU now, a device later) validates
//! operands identically and reports the same typed errors. The `RingTensor` methods that
//! run these operations live with the [`Backend`](crate::tensor::backend::Backend) seam, which
//! depends on this module, never the other way round.

use crate::error::{Result, RingError};
pub use crate::kernels::conv::Conv2dParams as Conv2dSpec;

/// Dimensions of a (batched) matrix product: `batch` products of `m x k` by `k x n`;
/// `b_batched` says whether `b` has its own batch or one matrix is shared by all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulDims {
    /// Number of independent products.
    pub batch: usize,
    /// Rows of each left operand.
    pub m: usize,
    /// Inner dimension.
    pub k: usize,
    /// Columns of each right operand.
    pub n: usize,
    /// Whether `b` carries one matrix per batch element (else it is shared).
    pub b_batched: bool,
}

/// Checks a matmul's operands and returns its dimensions and output shape.
///
/// Accepted: `[m, k] x [k, n]`, `[.., m, k] x [.., k, n]` with equal leading dimensions, and
/// `[.., m, k] x [k, n]` (one right matrix for the whole batch, as a linear layer needs).
pub fn matmul_dims(a: &[usize], b: &[usize]) -> Result<(MatmulDims, Vec<usize>)> {
    let err = || RingError::ShapeMismatch { op: "matmul", lhs: a.to_vec(), rhs: b.to_vec() };
    if a.len() < 2 || b.len() < 2 {
        return Err(err());
    }
    let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
    let (kb, n) = (b[b.len() - 2], b[b.len() - 1]);
    if k != kb {
        return Err(err());
    }
    let lead_a = &a[..a.len() - 2];
    let lead_b = &b[..b.len() - 2];
    let b_batched = !lead_b.is_empty();
    if b_batched && lead_a != lead_b {
        return Err(err());
    }
    let batch = crate::error::checked_numel("matmul", lead_a)?;
    batch.checked_mul(m).and_then(|x| x.checked_mul(n.max(k))).ok_or_else(err)?;
    let mut out = lead_a.to_vec();
    out.extend([m, n]);
    Ok((MatmulDims { batch, m, k, n, b_batched }, out))
}

/// Checks a conv2d's operands (NCHW input, OIHW weight) and returns the output shape.
pub fn conv2d_output_shape(x: &[usize], w: &[usize], p: &Conv2dSpec) -> Result<[usize; 4]> {
    let op = "conv2d";
    if x.len() != 4 || w.len() != 4 {
        return Err(RingError::ShapeMismatch { op, lhs: x.to_vec(), rhs: w.to_vec() });
    }
    if p.groups == 0 || !x[1].is_multiple_of(p.groups) || !w[0].is_multiple_of(p.groups) {
        return Err(RingError::InvalidConv {
            op,
            reason: format!(
                "groups {} must divide input channels {} and output channels {}",
                p.groups, x[1], w[0]
            ),
        });
    }
    if w[1].checked_mul(p.groups) != Some(x[1]) {
        return Err(RingError::InvalidConv {
            op,
            reason: format!(
                "weight has {} input channels per group, input has {} channels in {} groups",
                w[1], x[1], p.groups
            ),
        });
    }
    let (oh, ow) =
        p.output_hw((x[2], x[3]), (w[2], w[3])).ok_or_else(|| RingError::InvalidConv {
            op,
            reason: format!(
                "kernel {}x{} (dilation {:?}, stride {:?}) does not fit input {}x{} padded by {:?}",
                w[2], w[3], p.dilation, p.stride, x[2], x[3], p.padding
            ),
        })?;
    Ok([x[0], w[0], oh, ow])
}

/// Checks a transposed conv2d's operands (NCHW input, weight `[I, O/groups, kh, kw]`) and
/// returns the output shape `[N, O, (H-1)*s - 2p + d*(kh-1) + output_padding + 1, ...]`.
pub fn conv_transpose2d_output_shape(
    x: &[usize],
    w: &[usize],
    p: &Conv2dSpec,
    output_padding: (usize, usize),
) -> Result<[usize; 4]> {
    let op = "conv_transpose2d";
    let invalid = |reason: String| RingError::InvalidConv { op, reason };
    if x.len() != 4 || w.len() != 4 || w[0] != x[1] {
        return Err(RingError::ShapeMismatch { op, lhs: x.to_vec(), rhs: w.to_vec() });
    }
    if p.groups == 0 || !w[0].is_multiple_of(p.groups) {
        return Err(invalid(format!("groups {} must divide input channels {}", p.groups, w[0])));
    }
    let params = [p.stride.0, p.stride.1, p.dilation.0, p.dilation.1];
    if params.contains(&0) || x[2] == 0 || x[3] == 0 || w[2] == 0 || w[3] == 0 {
        return Err(invalid(format!(
            "stride {:?}, dilation {:?}, input {}x{} and kernel {}x{} must all be non-zero",
            p.stride, p.dilation, x[2], x[3], w[2], w[3]
        )));
    }
    if output_padding.0 >= p.stride.0.max(p.dilation.0)
        || output_padding.1 >= p.stride.1.max(p.dilation.1)
    {
        return Err(invalid(format!(
            "output padding {output_padding:?} must be smaller than stride {:?} or dilation {:?}",
            p.stride, p.dilation
        )));
    }
    let dim = |i: usize, s: usize, pad: usize, d: usize, k: usize, extra: usize| {
        (i - 1)
            .checked_mul(s)?
            .checked_add(d.checked_mul(k - 1)?)?
            .checked_add(extra + 1)?
            .checked_sub(pad.checked_mul(2)?)
            .filter(|&o| o > 0)
    };
    let oh = dim(x[2], p.stride.0, p.padding.0, p.dilation.0, w[2], output_padding.0);
    let ow = dim(x[3], p.stride.1, p.padding.1, p.dilation.1, w[3], output_padding.1);
    let out_channels = w[1]
        .checked_mul(p.groups)
        .ok_or_else(|| invalid(format!("{} channels x {} groups overflows", w[1], p.groups)))?;
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok([x[0], out_channels, oh, ow]),
        _ => Err(invalid(format!("padding {:?} leaves no output", p.padding))),
    }
}

/// Converts a shape known to have 4 dimensions.
pub(crate) fn shape4(s: &[usize]) -> [usize; 4] {
    [s[0], s[1], s[2], s[3]]
}
