//! Typed access to a node's attributes, with errors that name the node and the attribute.

use crate::error::{OnnxError, Result};
use crate::proto::onnx::attribute_proto::AttributeType;
use crate::proto::onnx::{AttributeProto, NodeProto};
use crate::tensor::{self, Decoded};

/// A node with the name messages use for it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeRef<'a> {
    pub proto: &'a NodeProto,
    pub name: &'a str,
}

impl<'a> NodeRef<'a> {
    pub fn op(&self) -> &'a str {
        self.proto.op_type.as_deref().unwrap_or("")
    }

    fn find(&self, name: &str) -> Option<&'a AttributeProto> {
        self.proto.attribute.iter().find(|a| a.name.as_deref() == Some(name))
    }

    /// An error about attribute `attribute`.
    pub fn attr_error(&self, attribute: &str, reason: impl Into<String>) -> OnnxError {
        OnnxError::Attribute {
            node: self.name.to_string(),
            op: self.op().to_string(),
            attribute: attribute.to_string(),
            reason: reason.into(),
        }
    }

    /// An error about the node's shapes or inputs.
    pub fn shape_error(&self, reason: impl Into<String>) -> OnnxError {
        OnnxError::Shape {
            node: self.name.to_string(),
            op: self.op().to_string(),
            reason: reason.into(),
        }
    }

    fn typed(&self, name: &str, want: AttributeType) -> Result<Option<&'a AttributeProto>> {
        let Some(a) = self.find(name) else { return Ok(None) };
        let got = a.type_.map(|t| t.enum_value_or(AttributeType::UNDEFINED));
        // Old exporters leave `type` unset; accept the field that is present then.
        if got.is_some_and(|t| t != want && t != AttributeType::UNDEFINED) {
            return Err(self.attr_error(name, format!("expected {want:?}, found {got:?}")));
        }
        Ok(Some(a))
    }

    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.typed(name, AttributeType::INT)?.map(|a| a.i.unwrap_or(0)))
    }

    pub fn int_or(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    pub fn float_or(&self, name: &str, default: f64) -> Result<f64> {
        Ok(self
            .typed(name, AttributeType::FLOAT)?
            .map_or(default, |a| f64::from(a.f.unwrap_or(0.0))))
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self.typed(name, AttributeType::INTS)?.map(|a| a.ints.clone()))
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.typed(name, AttributeType::FLOATS)?.map(|a| a.floats.clone()))
    }

    pub fn string_or(&self, name: &str, default: &str) -> Result<String> {
        Ok(self.typed(name, AttributeType::STRING)?.map_or_else(
            || default.to_string(),
            |a| String::from_utf8_lossy(a.s.as_deref().unwrap_or(&[])).into_owned(),
        ))
    }

    pub fn tensor(&self, name: &str) -> Result<Option<Decoded>> {
        match self.typed(name, AttributeType::TENSOR)? {
            Some(a) => {
                let t = a.t.as_ref().ok_or_else(|| self.attr_error(name, "no tensor"))?;
                Ok(Some(tensor::decode(&format!("{}.{name}", self.name), t)?))
            }
            None => Ok(None),
        }
    }
}
