//! The importer's error type: one enum with structured fields, so a caller (or the command
//! line) can say exactly which file, node, attribute or tensor is at fault.

use std::fmt;

use cloak_autograd::AutogradError;
use cloak_mpc::MpcError;
use cloak_nn::NnError;

/// A node the importer cannot run, named as the model names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedNode {
    /// The node's name (or `#index` when the exporter left it empty).
    pub name: String,
    /// Its operator type (`domain::op` for a non-default domain).
    pub op_type: String,
    /// Why: an unknown operator, or what of a known one is not supported.
    pub reason: String,
}

impl fmt::Display for UnsupportedNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.op_type, self.reason)
    }
}

/// Why a model could not be read, checked, built or run.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX protobuf message (truncated, random, another format).
    #[error("not a valid ONNX model: {reason}")]
    Decode {
        /// What the protobuf decoder said.
        reason: String,
    },
    /// A well-formed message that breaks the ONNX rules (a missing graph, a dangling input,
    /// a cycle, two producers of one value, a wrong-size tensor...).
    #[error("malformed model: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// A declared size beyond what the importer allocates, refused before allocating.
    #[error("tensor {name}: declared size {declared} exceeds the limit of {limit}")]
    TooLarge {
        /// The tensor (or file).
        name: String,
        /// The declared number of elements or bytes.
        declared: u128,
        /// The limit.
        limit: u128,
    },
    /// A tensor element type the importer does not read.
    #[error("tensor {name}: unsupported data type {data_type}")]
    DataType {
        /// The tensor.
        name: String,
        /// The ONNX `TensorProto.DataType` code (or its name).
        data_type: String,
    },
    /// An opset outside what the importer implements.
    #[error("opset {version} of domain `{domain}` is not supported (supported: 13 to 21)")]
    Opset {
        /// The domain (`""` is the default ONNX domain).
        domain: String,
        /// The declared version.
        version: i64,
    },
    /// Nodes the importer cannot run: every one of them, so a user sees the whole list at once.
    #[error("{} unsupported node(s): {}", .nodes.len(), list(.nodes))]
    Unsupported {
        /// The nodes, in graph order.
        nodes: Vec<UnsupportedNode>,
    },
    /// An attribute with a value the operator (or the importer) does not accept.
    #[error("node {node} ({op}): attribute `{attribute}`: {reason}")]
    Attribute {
        /// The node.
        node: String,
        /// Its operator type.
        op: String,
        /// The attribute.
        attribute: String,
        /// What is wrong.
        reason: String,
    },
    /// Input shapes that do not fit a node.
    #[error("node {node} ({op}): {reason}")]
    Shape {
        /// The node.
        node: String,
        /// Its operator type.
        op: String,
        /// What does not fit.
        reason: String,
    },
    /// The caller's input does not fit the model (rank, a fixed dimension, a NaN).
    #[error("input: {reason}")]
    Input {
        /// What is wrong.
        reason: String,
    },
    /// A node failed while running (a protocol error, a peer, a value out of range).
    #[error("node {node} ({op}): {source}")]
    Node {
        /// The node.
        node: String,
        /// Its operator type.
        op: String,
        /// The cause.
        source: Box<AutogradError>,
    },
    /// The autodiff layer failed outside any node (loading weights, backward).
    #[error(transparent)]
    Autograd(#[from] AutogradError),
    /// The module layer failed (sharing the owner's weights).
    #[error(transparent)]
    Nn(#[from] NnError),
}

fn list(nodes: &[UnsupportedNode]) -> String {
    nodes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl From<MpcError> for OnnxError {
    fn from(e: MpcError) -> Self {
        Self::Autograd(AutogradError::Mpc(e))
    }
}

impl From<OnnxError> for NnError {
    /// Lets an imported graph be a [`cloak_nn::Module`]: its errors travel as the module
    /// layer's. Autodiff and module errors pass through unchanged.
    fn from(e: OnnxError) -> Self {
        match e {
            OnnxError::Autograd(a) => NnError::Autograd(a),
            OnnxError::Nn(n) => n,
            other => NnError::InvalidArgument { op: "onnx", reason: other.to_string() },
        }
    }
}

/// Results of this crate.
pub type Result<T, E = OnnxError> = std::result::Result<T, E>;

pub(crate) fn malformed(reason: impl Into<String>) -> OnnxError {
    OnnxError::Malformed { reason: reason.into() }
}
