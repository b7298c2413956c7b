//! Decoding ONNX tensors (`TensorProto`) into `f64` arrays, with every size checked against
//! the bytes actually present before anything is allocated.
//!
//! All element types the importer computes with become `f64`: floats as they are, integers
//! exactly (shape arithmetic stays far below 2^53), booleans as 0/1. [`DType`] remembers
//! which they were, because integer division and casts behave differently from float ones.

use ndarray::{ArrayD, IxDyn};

use crate::error::{OnnxError, Result};
use crate::proto::onnx::TensorProto;
use crate::proto::onnx::tensor_proto::DataType;

/// The most elements one tensor may declare (2^28: 2 GiB as `f64`). ResNet-50's largest
/// weight has 2.4 million; a declaration above this is refused before allocation.
pub const MAX_TENSOR_ELEMENTS: u128 = 1 << 28;

/// What kind of number a public value holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// `float`, `double`, `float16`, `bfloat16`.
    Float,
    /// Signed or unsigned integers of any width.
    Int,
    /// Booleans, held as 0/1.
    Bool,
}

impl DType {
    /// The ONNX data type code's kind, or `None` for types the importer does not read.
    #[must_use]
    pub fn from_onnx(code: i32) -> Option<DType> {
        let t = DataType::from_i32_opt(code)?;
        Some(match t {
            DataType::FLOAT | DataType::DOUBLE | DataType::FLOAT16 | DataType::BFLOAT16 => {
                DType::Float
            }
            DataType::INT8
            | DataType::INT16
            | DataType::INT32
            | DataType::INT64
            | DataType::UINT8
            | DataType::UINT16
            | DataType::UINT32
            | DataType::UINT64 => DType::Int,
            DataType::BOOL => DType::Bool,
            _ => return None,
        })
    }
}

/// `DataType::from_i32` under a name that says it may fail.
trait FromI32Opt: Sized {
    fn from_i32_opt(code: i32) -> Option<Self>;
}

impl FromI32Opt for DataType {
    fn from_i32_opt(code: i32) -> Option<Self> {
        protobuf::Enum::from_i32(code)
    }
}

/// The name ONNX gives a data type code, for messages.
#[must_use]
pub fn type_name(code: i32) -> String {
    DataType::from_i32_opt(code).map_or_else(|| format!("code {code}"), |t| format!("{t:?}"))
}

/// Checks declared dimensions and returns them with their element count.
///
/// # Errors
/// Negative dimensions, or more than [`MAX_TENSOR_ELEMENTS`] elements.
pub fn checked_dims(name: &str, dims: &[i64]) -> Result<(Vec<usize>, usize)> {
    let mut count: u128 = 1;
    let mut shape = Vec::with_capacity(dims.len());
    for &d in dims {
        let Ok(d) = u64::try_from(d) else {
            return Err(OnnxError::Malformed {
                reason: format!("tensor {name}: negative dimension {d} in {dims:?}"),
            });
        };
        count = count.saturating_mul(u128::from(d));
        if count > MAX_TENSOR_ELEMENTS {
            return Err(OnnxError::TooLarge {
                name: name.to_string(),
                declared: dims.iter().fold(1u128, |a, &d| a.saturating_mul(d.max(0) as u128)),
                limit: MAX_TENSOR_ELEMENTS,
            });
        }
        shape.push(d as usize);
    }
    Ok((shape, count as usize))
}

/// Bytes per element in `raw_data`, for the types the importer reads.
fn raw_width(t: DataType) -> Option<usize> {
    Some(match t {
        DataType::FLOAT | DataType::INT32 | DataType::UINT32 => 4,
        DataType::DOUBLE | DataType::INT64 | DataType::UINT64 => 8,
        DataType::FLOAT16 | DataType::BFLOAT16 | DataType::INT16 | DataType::UINT16 => 2,
        DataType::INT8 | DataType::UINT8 | DataType::BOOL => 1,
        _ => return None,
    })
}

/// IEEE half precision to `f64`.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// One little-endian element of `raw_data`.
fn decode_raw(t: DataType, b: &[u8]) -> f64 {
    let a2 = || [b[0], b[1]];
    let a4 = || [b[0], b[1], b[2], b[3]];
    let a8 = || [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
    match t {
        DataType::FLOAT => f64::from(f32::from_le_bytes(a4())),
        DataType::DOUBLE => f64::from_le_bytes(a8()),
        DataType::FLOAT16 => f16_to_f64(u16::from_le_bytes(a2())),
        DataType::BFLOAT16 => f64::from(f32::from_bits(u32::from(u16::from_le_bytes(a2())) << 16)),
        DataType::INT8 => f64::from(b[0] as i8),
        DataType::UINT8 => f64::from(b[0]),
        DataType::BOOL => f64::from(u8::from(b[0] != 0)),
        DataType::INT16 => f64::from(i16::from_le_bytes(a2())),
        DataType::UINT16 => f64::from(u16::from_le_bytes(a2())),
        DataType::INT32 => f64::from(i32::from_le_bytes(a4())),
        DataType::UINT32 => f64::from(u32::from_le_bytes(a4())),
        DataType::INT64 => i64::from_le_bytes(a8()) as f64,
        DataType::UINT64 => u64::from_le_bytes(a8()) as f64,
        _ => f64::NAN,
    }
}

/// A decoded tensor: its values as `f64` and what they were.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The values.
    pub data: ArrayD<f64>,
    /// Their kind.
    pub dtype: DType,
}

/// Decodes `t`, named `name` in messages.
///
/// # Errors
/// Unknown or unsupported types, external data, a data length that disagrees with the
/// dimensions, or a declared size above [`MAX_TENSOR_ELEMENTS`].
pub fn decode(name: &str, t: &TensorProto) -> Result<Decoded> {
    let code = t.data_type.unwrap_or(0);
    let unsupported = || OnnxError::DataType { name: name.to_string(), data_type: type_name(code) };
    let kind = DType::from_onnx(code).ok_or_else(unsupported)?;
    let dt = DataType::from_i32_opt(code).ok_or_else(unsupported)?;
    if !t.external_data.is_empty() {
        return Err(OnnxError::Malformed {
            reason: format!(
                "tensor {name} keeps its data in an external file; re-save the model with the \
                 data inline (onnx.save(model, path, save_as_external_data=False))"
            ),
        });
    }
    let (shape, count) = checked_dims(name, &t.dims)?;
    let wrong_len = |got: usize| OnnxError::Malformed {
        reason: format!(
            "tensor {name}: dimensions {:?} need {count} elements, the data holds {got}",
            t.dims
        ),
    };
    let values: Vec<f64> = if let Some(raw) = t.raw_data.as_ref().filter(|r| !r.is_empty()) {
        let w = raw_width(dt).ok_or_else(unsupported)?;
        if raw.len() != count.saturating_mul(w) {
            return Err(wrong_len(raw.len() / w));
        }
        raw.chunks_exact(w).map(|b| decode_raw(dt, b)).collect()
    } else {
        let typed: Vec<f64> = match dt {
            DataType::FLOAT => t.float_data.iter().map(|&v| f64::from(v)).collect(),
            DataType::DOUBLE => t.double_data.clone(),
            DataType::INT64 => t.int64_data.iter().map(|&v| v as f64).collect(),
            DataType::UINT32 | DataType::UINT64 => {
                t.uint64_data.iter().map(|&v| v as f64).collect()
            }
            // int32_data carries every narrow type, float16 and bfloat16 as their bits.
            DataType::FLOAT16 => t.int32_data.iter().map(|&v| f16_to_f64(v as u16)).collect(),
            DataType::BFLOAT16 => t
                .int32_data
                .iter()
                .map(|&v| f64::from(f32::from_bits((v as u32 & 0xffff) << 16)))
                .collect(),
            DataType::BOOL => t.int32_data.iter().map(|&v| f64::from(u8::from(v != 0))).collect(),
            _ => t.int32_data.iter().map(|&v| f64::from(v)).collect(),
        };
        if typed.len() != count {
            return Err(wrong_len(typed.len()));
        }
        typed
    };
    let data = ArrayD::from_shape_vec(IxDyn(&shape), values)
        .map_err(|e| OnnxError::Malformed { reason: format!("tensor {name}: {e}") })?;
    Ok(Decoded { data, dtype: kind })
}

/// Encodes `data` as a `float` or `int64` tensor (for writing models in tests and for the
/// public part of a model).
#[must_use]
pub fn encode(name: &str, data: &ArrayD<f64>, dtype: DType) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = Some(name.to_string());
    t.dims = data.shape().iter().map(|&d| d as i64).collect();
    match dtype {
        DType::Float => {
            t.data_type = Some(DataType::FLOAT as i32);
            t.float_data = data.iter().map(|&v| v as f32).collect();
        }
        DType::Int => {
            t.data_type = Some(DataType::INT64 as i32);
            t.int64_data = data.iter().map(|&v| v as i64).collect();
        }
        DType::Bool => {
            t.data_type = Some(DataType::BOOL as i32);
            t.int32_data = data.iter().map(|&v| i32::from(v != 0.0)).collect();
        }
    }
    t
}
