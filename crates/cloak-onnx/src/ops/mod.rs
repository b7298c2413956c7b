//! The operators: each is written once over any autograd backend, and handles public
//! operands itself where that is cheaper (a product by a public constant is local).
//!
//! Operators whose inputs are all public are folded before any party starts: shape
//! arithmetic natively (with integer semantics), float computations by running the same
//! code on the plain backend.

mod activation;
mod arith;
mod conv;
pub(crate) mod embed;
mod logic;
mod norm;
mod pool;
mod reduce;
mod shape;

use std::cell::RefCell;
use std::collections::HashMap;

use cloak_autograd::{Backend, Plain, PreparedRhs, Var};
use ndarray::ArrayD;

use crate::attr::NodeRef;
use crate::error::{OnnxError, Result};
use crate::tensor::DType;
use crate::value::Val;

/// Every operator type the importer runs (default domain).
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "ArgMax",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "CastLike",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Div",
    "Dropout",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GatherND",
    "GlobalMaxPool",
    "Greater",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "InstanceNormalization",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Max",
    "MaxPool",
    "Min",
    "Mod",
    "Mul",
    "Neg",
    "Not",
    "Pad",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceMax",
    "ReduceMean",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Sigmoid",
    "Size",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Upsample",
    "Where",
];

/// Operators that only move or compute public structure: folded natively, integer-exact.
const STRUCTURAL: &[&str] = &[
    "Cast",
    "CastLike",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Equal",
    "Expand",
    "Flatten",
    "Gather",
    "GatherND",
    "Greater",
    "Identity",
    "Dropout",
    "Less",
    "Mod",
    "Not",
    "Range",
    "Reshape",
    "Shape",
    "Size",
    "Slice",
    "Split",
    "Squeeze",
    "Transpose",
    "Unsqueeze",
    "Where",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Max",
    "Min",
    "Abs",
];

/// One node's inputs and what it needs to run.
pub(crate) struct Ctx<'a, B: Backend> {
    pub node: NodeRef<'a>,
    pub backend: &'a B,
    pub inputs: Vec<Option<Val<B>>>,
    /// Prepared weights for repeated products (absent in the dry run).
    pub prep: Option<&'a Prep<'a, B>>,
    /// Whether the node's output goes only to a ReLU that the node applies itself (a
    /// convolution then rescales its product and compares in one step; see
    /// [`Backend::conv2d_relu`]).
    pub fuse_relu: bool,
}

/// What the cache keeps of one weight operand.
#[derive(Debug)]
pub(crate) struct PrepEntry {
    version: u64,
    uses: u32,
    tried: bool,
    prepared: Option<PreparedRhs>,
}

/// Weight operands prepared for repeated products ([`Backend::prepare_rhs`]).
///
/// A weight is prepared on its second use with the same value (the same parameter
/// version), not its first: inference then pays the preparation once and saves on every
/// later pass, while training, whose weights change every step, never pays for a
/// preparation it cannot reuse. Every party makes the same decisions, since they run the
/// same program on the same versions.
pub(crate) struct Prep<'a, B: Backend> {
    pub params: &'a HashMap<&'a str, &'a Var<B>>,
    pub cache: &'a RefCell<HashMap<(String, bool), PrepEntry>>,
}

impl<B: Backend> Prep<'_, B> {
    fn get(
        &self,
        backend: &B,
        name: &str,
        transposed: bool,
        operand: &Var<B>,
    ) -> Result<Option<PreparedRhs>> {
        let Some(param) = self.params.get(name) else { return Ok(None) };
        let version = param.version();
        let mut cache = self.cache.borrow_mut();
        let e = cache.entry((name.to_string(), transposed)).or_insert(PrepEntry {
            version,
            uses: 0,
            tried: false,
            prepared: None,
        });
        if e.version != version {
            *e = PrepEntry { version, uses: 0, tried: false, prepared: None };
        }
        e.uses += 1;
        if e.uses >= 2 && !e.tried {
            e.tried = true;
            e.prepared = backend.prepare_rhs(&operand.value())?;
        }
        Ok(e.prepared.clone())
    }
}

impl<B: Backend> Ctx<'_, B> {
    /// Input `i`, which must be present.
    pub fn input(&self, i: usize) -> Result<&Val<B>> {
        self.inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.node.shape_error(format!("input {i} is missing")))
    }

    /// Input `i` if present.
    pub fn opt(&self, i: usize) -> Option<&Val<B>> {
        self.inputs.get(i).and_then(Option::as_ref)
    }

    /// Input `i` as a backend tensor.
    pub fn var(&self, i: usize) -> Result<Var<B>> {
        self.input(i)?.to_var(self.backend)
    }

    /// Input `i`, which must be public (a shape, axes, indices, an exponent).
    pub fn public(&self, i: usize, what: &str) -> Result<&ArrayD<f64>> {
        match self.input(i)? {
            Val::Public(a, _) => Ok(a),
            Val::Private(_) => Err(self.node.shape_error(format!(
                "{what} (input {i}) depends on private data; Cloak needs it known to every party"
            ))),
        }
    }

    /// Optional public input `i` as integers.
    pub fn public_ints(&self, i: usize, what: &str) -> Result<Option<Vec<i64>>> {
        if self.opt(i).is_none() {
            return Ok(None);
        }
        Ok(Some(self.public(i, what)?.iter().map(|&v| v as i64).collect()))
    }

    /// Shape of input `i`.
    pub fn shape(&self, i: usize) -> Result<Vec<usize>> {
        Ok(self.input(i)?.shape())
    }

    /// Input `i`'s prepared form when it is one of the owner's weights used as the right
    /// operand of a product (`operand` is its value as used: reshaped or transposed as
    /// `transposed` says).
    pub fn prepared(
        &self,
        i: usize,
        transposed: bool,
        operand: &Var<B>,
    ) -> Result<Option<PreparedRhs>> {
        let (Some(prep), Some(name)) = (self.prep, self.node.proto.input.get(i)) else {
            return Ok(None);
        };
        prep.get(self.backend, name, transposed, operand)
    }

    /// An error about this node's shapes or inputs.
    pub fn err(&self, reason: impl Into<String>) -> OnnxError {
        self.node.shape_error(reason)
    }
}

/// Wraps a backend error with the node it happened in.
pub(crate) fn at_node(node: &NodeRef<'_>, e: OnnxError) -> OnnxError {
    match e {
        OnnxError::Autograd(a) => OnnxError::Node {
            node: node.name.to_string(),
            op: node.op().to_string(),
            source: Box::new(a),
        },
        OnnxError::Nn(cloak_nn::NnError::Autograd(a)) => OnnxError::Node {
            node: node.name.to_string(),
            op: node.op().to_string(),
            source: Box::new(a),
        },
        other => other,
    }
}

/// Runs one node.
pub(crate) fn run<B: Backend>(ctx: &Ctx<'_, B>) -> Result<Vec<Val<B>>> {
    let op = ctx.node.op();
    let all_public = ctx.inputs.iter().flatten().all(Val::is_public);
    if all_public && !STRUCTURAL.contains(&op) && op != "Constant" {
        // Fold on the plain backend: the result is public at every party.
        let plain_ctx = Ctx {
            node: ctx.node,
            backend: &Plain,
            prep: None,
            fuse_relu: ctx.fuse_relu,
            inputs: ctx
                .inputs
                .iter()
                .map(|v| {
                    v.as_ref().map(|v| match v {
                        Val::Public(a, d) => Val::Public(a.clone(), *d),
                        Val::Private(_) => unreachable!("all inputs are public"),
                    })
                })
                .collect(),
        };
        let outs = dispatch(&plain_ctx).map_err(|e| at_node(&ctx.node, e))?;
        return Ok(outs
            .into_iter()
            .map(|v| match v {
                Val::Public(a, d) => Val::Public(a, d),
                Val::Private(var) => Val::Public(var.value(), DType::Float),
            })
            .collect());
    }
    dispatch(ctx).map_err(|e| at_node(&ctx.node, e))
}

fn dispatch<B: Backend>(c: &Ctx<'_, B>) -> Result<Vec<Val<B>>> {
    let one = |v: Val<B>| Ok(vec![v]);
    match c.node.op() {
        "Identity" => one(c.input(0)?.clone()),
        "Dropout" => shape::dropout(c),
        "Constant" => one(shape::constant(c)?),
        "Shape" => one(shape::shape_of(c)?),
        "Size" => one(shape::size_of(c)?),
        "Cast" | "CastLike" => one(shape::cast(c)?),
        "Reshape" => one(shape::reshape(c)?),
        "Flatten" => one(shape::flatten(c)?),
        "Transpose" => one(shape::transpose(c)?),
        "Squeeze" => one(shape::squeeze(c)?),
        "Unsqueeze" => one(shape::unsqueeze(c)?),
        "Concat" => one(shape::concat(c)?),
        "Split" => shape::split(c),
        "Slice" => one(shape::slice(c)?),
        "Gather" => one(shape::gather(c)?),
        "GatherND" => one(shape::gather_nd(c)?),
        "Expand" => one(shape::expand(c)?),
        "Pad" => one(shape::pad(c)?),
        "Resize" | "Upsample" => one(shape::resize(c)?),
        "ConstantOfShape" => one(shape::constant_of_shape(c)?),
        "Range" => one(shape::range(c)?),
        "Equal" | "Less" | "Greater" | "Not" | "Where" | "Mod" => one(logic::logic(c)?),
        "Max" | "Min" => one(logic::min_max(c)?),
        "Add" | "Sub" | "Mul" | "Div" => one(arith::binary(c)?),
        "Neg" | "Abs" | "Exp" | "Log" | "Sqrt" | "Reciprocal" => one(arith::unary(c)?),
        "Pow" => one(arith::pow(c)?),
        "MatMul" => one(arith::matmul(c)?),
        "Gemm" => one(arith::gemm(c)?),
        "Relu" | "LeakyRelu" | "Clip" | "Sigmoid" | "HardSigmoid" | "HardSwish" | "Tanh"
        | "Erf" | "Gelu" => one(activation::activation(c)?),
        "Softmax" | "LogSoftmax" => one(activation::softmax(c)?),
        "Conv" => one(conv::conv(c)?),
        "ConvTranspose" => one(conv::conv_transpose(c)?),
        "MaxPool" | "AveragePool" => one(pool::pool(c)?),
        "GlobalAveragePool" | "GlobalMaxPool" => one(pool::global_pool(c)?),
        "BatchNormalization" => one(norm::batch_norm(c)?),
        "InstanceNormalization" => one(norm::instance_norm(c)?),
        "LayerNormalization" => one(norm::layer_norm(c)?),
        "ReduceMean" | "ReduceSum" | "ReduceMax" => one(reduce::reduce(c)?),
        "ArgMax" => one(reduce::argmax(c)?),
        other => Err(OnnxError::Unsupported {
            nodes: vec![crate::error::UnsupportedNode {
                name: c.node.name.to_string(),
                op_type: other.to_string(),
                reason: "operator not implemented".into(),
            }],
        }),
    }
}
