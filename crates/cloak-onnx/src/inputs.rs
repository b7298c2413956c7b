//! The graph's inputs: the data owner's private one, real numbers or token ids, and any
//! further inputs whose values every party knows (a key-padding mask).
//!
//! Token ids are private indices. Selecting a row of a secret-shared table by a secret index
//! has no local form, so the data owner encodes its ids one-hot in the clear (a new last axis
//! of the vocabulary's length) and shares that: every embedding lookup `Gather(table, ids)` is
//! then the product `one_hot @ table`, one Beaver matrix product, exact up to the fixed-point
//! encoding of the table (each output is one row times 1 plus zeros). The price is the
//! one-hot's size: `n * vocab` shared words for `n` ids, and in the product each party sends
//! `8 (n vocab + vocab d)` bytes in one round (two parties; the table's part is paid once when
//! the table is prepared for reuse).

use std::collections::BTreeMap;

use ndarray::{ArrayD, Dimension, IxDyn};

use crate::error::{OnnxError, Result, UnsupportedNode, malformed};
use crate::proto::onnx::{GraphProto, ValueInfoProto, type_proto};
use crate::tensor::{self, DType, Decoded, MAX_TENSOR_ELEMENTS};

/// What the data owner's input holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// Real numbers, shared as they are.
    Float,
    /// Integer token ids into a table of `vocab` rows, shared one-hot (see
    /// [`OnnxModel::encode_input`](crate::OnnxModel::encode_input)).
    TokenIds {
        /// The number of rows of the embedding table the ids index.
        vocab: usize,
    },
}

/// A graph input whose value every party knows and sets alike
/// ([`OnnxModel::set_public_input`](crate::OnnxModel::set_public_input)): computations on
/// it alone are folded before any party starts, as for constants.
#[derive(Clone, Debug)]
pub struct PublicInput {
    /// The graph input's name.
    pub name: String,
    /// Its declared dimensions (`None` where symbolic).
    pub dims: Vec<Option<usize>>,
    /// Its element kind.
    pub dtype: DType,
    /// Its value, once set.
    pub(crate) value: Option<ArrayD<f64>>,
}

impl PublicInput {
    /// The value set for it, if any.
    #[must_use]
    pub fn value(&self) -> Option<&ArrayD<f64>> {
        self.value.as_ref()
    }
}

/// A graph input's element kind and declared dimensions (no type: float, no shape: empty).
pub(crate) fn declared(v: &ValueInfoProto) -> Result<(DType, Vec<Option<usize>>)> {
    let bad = |why: String| OnnxError::Input { reason: format!("graph input {}: {why}", v.name()) };
    let Some(tp) = v.type_.as_ref() else { return Ok((DType::Float, Vec::new())) };
    let Some(type_proto::Value::TensorType(t)) = &tp.value else {
        return Err(bad("not a tensor".into()));
    };
    let elem = t.elem_type.unwrap_or(1);
    let dtype = DType::from_onnx(elem)
        .ok_or_else(|| bad(format!("element type {}", tensor::type_name(elem))))?;
    let Some(shape) = t.shape.as_ref() else { return Ok((dtype, Vec::new())) };
    let dims = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(crate::proto::onnx::tensor_shape_proto::dimension::Value::DimValue(v)) => {
                usize::try_from(*v).map(Some).map_err(|_| bad(format!("dimension {v}")))
            }
            _ => Ok(None),
        })
        .collect::<Result<_>>()?;
    Ok((dtype, dims))
}

/// The vocabulary of an integer input: the rows of the tables it indexes. Every node that
/// reads it must be a `Gather` along axis 0 of an initializer (an embedding lookup), or
/// `Shape`/`Size`, which see only its public shape.
pub(crate) fn token_vocab(
    graph: &GraphProto,
    input: &str,
    inits: &BTreeMap<String, (Decoded, bool)>,
    names: &[String],
) -> Result<usize> {
    let mut vocab: Option<usize> = None;
    let mut bad = Vec::new();
    for (i, n) in graph.node.iter().enumerate() {
        let positions: Vec<usize> =
            n.input.iter().enumerate().filter(|(_, x)| *x == input).map(|(k, _)| k).collect();
        if positions.is_empty() {
            continue;
        }
        let refuse = |reason: &str| UnsupportedNode {
            name: names[i].clone(),
            op_type: n.op_type().to_string(),
            reason: reason.to_string(),
        };
        match n.op_type() {
            "Shape" | "Size" => {}
            "Gather" if positions == [1] => {
                let axis =
                    n.attribute.iter().find(|a| a.name() == "axis").and_then(|a| a.i).unwrap_or(0);
                let rows = n.input.first().and_then(|t| inits.get(t)).and_then(|(d, _)| {
                    (d.data.ndim() >= 1 && axis == 0).then(|| d.data.shape()[0])
                });
                match (rows, vocab) {
                    (None, _) => bad.push(refuse(
                        "looks up the private token ids in something other than axis 0 of a \
                         model tensor",
                    )),
                    (Some(r), Some(v)) if r != v => bad.push(refuse(&format!(
                        "looks up the token ids in a table of {r} rows, another of {v}"
                    ))),
                    (Some(r), _) => vocab = Some(r),
                }
            }
            _ => bad.push(refuse(
                "reads the private token ids; Cloak reads them only through Gather (an \
                 embedding lookup, one product by their one-hot encoding) and Shape",
            )),
        }
    }
    if !bad.is_empty() {
        return Err(OnnxError::Unsupported { nodes: bad });
    }
    match vocab {
        Some(0) => Err(malformed(format!("token ids {input} index an empty table"))),
        Some(v) => Ok(v),
        None => Err(OnnxError::Input {
            reason: format!(
                "the integer input {input} is not looked up by any Gather; Cloak takes integer \
                 inputs as token ids into an embedding table"
            ),
        }),
    }
}

/// The one-hot encoding of token ids along a new last axis of length `vocab`, made by the
/// data owner in the clear. Errors name an element by its index, never by its value.
pub(crate) fn one_hot(ids: &ArrayD<f64>, vocab: usize) -> Result<ArrayD<f64>> {
    let count = (ids.len() as u128).saturating_mul(vocab as u128);
    if count > MAX_TENSOR_ELEMENTS {
        return Err(OnnxError::TooLarge {
            name: "one-hot token ids".into(),
            declared: count,
            limit: MAX_TENSOR_ELEMENTS,
        });
    }
    let mut shape = ids.shape().to_vec();
    shape.push(vocab);
    let mut out = ArrayD::zeros(IxDyn(&shape));
    let flat = out.as_slice_mut().ok_or_else(|| malformed("one-hot layout"))?;
    for (k, (index, &v)) in ids.indexed_iter().enumerate() {
        let what = if !v.is_finite() || v.fract() != 0.0 {
            "is not an integer"
        } else if v < 0.0 {
            "is negative"
        } else if v >= vocab as f64 {
            "is not below the vocabulary size"
        } else {
            flat[k * vocab + v as usize] = 1.0;
            continue;
        };
        return Err(OnnxError::Input {
            reason: format!("token id {:?} {what} ({vocab})", index.slice()),
        });
    }
    Ok(out)
}

/// Checks a public input's value against its declaration: the declared dimensions, booleans
/// 0 or 1, integers whole, no NaN.
pub(crate) fn check_public(p: &PublicInput, value: &ArrayD<f64>) -> Result<()> {
    let bad = |why: String| OnnxError::Input { reason: format!("public input {}: {why}", p.name) };
    let fits = p.dims.is_empty()
        || (value.ndim() == p.dims.len()
            && p.dims.iter().zip(value.shape()).all(|(d, &s)| d.is_none_or(|d| d == s)));
    if !fits {
        return Err(bad(format!("shape {:?} does not fit {:?}", value.shape(), p.dims)));
    }
    for (index, &v) in value.indexed_iter() {
        let wrong = match p.dtype {
            DType::Bool => v != 0.0 && v != 1.0,
            DType::Int => !v.is_finite() || v.fract() != 0.0,
            DType::Float => v.is_nan(),
        };
        if wrong {
            return Err(bad(format!("element {:?} is not a valid {:?}", index.slice(), p.dtype)));
        }
    }
    Ok(())
}
