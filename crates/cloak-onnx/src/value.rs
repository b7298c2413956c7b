//! Values flowing through an imported graph: public (known to every party: shapes, indices,
//! constants, anything computed from them alone) or private (a [`Var`] of secret shares, or of
//! plain `f64` on the reference backend).
//!
//! Keeping public values apart is what makes an import cheap: shape arithmetic is folded
//! before any party starts, and a product by a public constant is local instead of a Beaver
//! round.

use cloak_autograd::{Backend, Var};
use ndarray::{ArrayD, IxDyn};

use crate::error::{OnnxError, Result};
use crate::tensor::DType;

/// A value in the graph.
#[derive(Clone, Debug)]
pub(crate) enum Val<B: Backend> {
    /// Known to every party.
    Public(ArrayD<f64>, DType),
    /// Secret (or, on the plain backend, merely computed).
    Private(Var<B>),
}

impl<B: Backend> Val<B> {
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Val::Public(a, _) => a.shape().to_vec(),
            Val::Private(v) => v.shape(),
        }
    }

    pub fn is_public(&self) -> bool {
        matches!(self, Val::Public(..))
    }

    pub fn float(a: ArrayD<f64>) -> Self {
        Val::Public(a, DType::Float)
    }

    /// The value as a tensor of the backend (a public value becomes a constant, which costs
    /// no communication; infinities become [`MASK_FILL`]).
    pub fn to_var(&self, b: &B) -> Result<Var<B>> {
        match self {
            Val::Private(v) => Ok(v.clone()),
            Val::Public(a, _) => Ok(Var::constant(b, b.public(&finite(a))?)),
        }
    }
}

/// What a public infinity becomes when it meets private data (with the sign kept): fixed
/// point holds no infinity. Attention masks add `-inf` to the logits of the keys they hide
/// before a softmax, which subtracts the row's maximum and, on shares, clamps the differences
/// at -16 before its `exp`: any fill below `-(16 + the spread of the kept logits)` then gives
/// the hidden keys the same zero weight as `-inf` (in `f64` too: `exp(-32768)` is 0). A row
/// with every key hidden, where PyTorch's softmax gives NaN, gets uniform weights instead.
/// `2^15` leaves the logits a wide margin while a product of two such values still fits the
/// ring at 16 fractional bits.
pub(crate) const MASK_FILL: f64 = -32768.0;

/// `a` with every infinity replaced by [`MASK_FILL`] (of the same sign); borrowed when finite.
pub(crate) fn finite(a: &ArrayD<f64>) -> std::borrow::Cow<'_, ArrayD<f64>> {
    if a.iter().all(|v| !v.is_infinite()) {
        return std::borrow::Cow::Borrowed(a);
    }
    std::borrow::Cow::Owned(
        a.mapv(|v| if v.is_infinite() { MASK_FILL.abs().copysign(v) } else { v }),
    )
}

/// The shape two operands broadcast to (NumPy rules), or `None`.
pub(crate) use cloak_ring::broadcast_shapes as broadcast_shape;

/// `a` broadcast to `shape` (an owned copy).
pub(crate) fn broadcast_public(a: &ArrayD<f64>, shape: &[usize]) -> Result<ArrayD<f64>> {
    if a.shape() == shape {
        return Ok(a.clone());
    }
    a.broadcast(IxDyn(shape)).map(|v| v.to_owned()).ok_or_else(|| OnnxError::Malformed {
        reason: format!("cannot broadcast {:?} to {shape:?}", a.shape()),
    })
}

/// `v` broadcast to `shape` (a graph operation whose backward sums the copies).
pub(crate) fn broadcast_var<B: Backend>(v: &Var<B>, shape: &[usize]) -> Result<Var<B>> {
    if v.shape() == shape {
        return Ok(v.clone());
    }
    // Leading axes of size one first, so that the backend sees equal ranks.
    let mut s = v.shape();
    let v = if s.len() < shape.len() {
        let mut full = vec![1; shape.len() - s.len()];
        full.append(&mut s);
        v.reshape(&full)?
    } else {
        v.clone()
    };
    Ok(v.broadcast_to(shape)?)
}

/// Elementwise on two public arrays, broadcasting.
pub(crate) fn zip_public(
    a: &ArrayD<f64>,
    b: &ArrayD<f64>,
    f: impl Fn(f64, f64) -> f64,
) -> Option<ArrayD<f64>> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let a = a.broadcast(IxDyn(&shape))?;
    let b = b.broadcast(IxDyn(&shape))?;
    let mut out = a.to_owned();
    out.zip_mut_with(&b, |x, &y| *x = f(*x, y));
    Some(out)
}

/// The single element of a one-element public array.
pub(crate) fn scalar_of(a: &ArrayD<f64>) -> Option<f64> {
    (a.len() == 1).then(|| a.iter().next().copied().unwrap_or(0.0))
}

/// An axis given ONNX-style (negative counts from the end), checked against `rank`.
pub(crate) fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}
