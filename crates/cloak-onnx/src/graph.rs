//! [`OnnxGraph`]: an imported model bound to a backend, runnable and trainable as a
//! [`cloak_nn::Module`].
//!
//! Building one first runs the graph once on the plain backend with zeros for every private
//! tensor (the input and the owner's weights). That pass folds everything public (shape
//! arithmetic, constants and anything computed from them alone), infers every shape, and
//! records each node's operands for the report. Every party makes the same pass from the
//! public part of the model, so they agree on the plan without a message.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cloak_autograd::{Backend, Plain, Var};
use cloak_nn::{Module, TensorKind, join};
use ndarray::{ArrayD, IxDyn};

use crate::attr::NodeRef;
use crate::error::{OnnxError, Result, UnsupportedNode, malformed};
use crate::inputs::InputKind;
use crate::model::{OnnxModel, PrivateTensor};
use crate::ops::{self, Ctx, Prep, PrepEntry, SUPPORTED_OPS};
use crate::proto::onnx::ModelProto;
use crate::tensor::DType;
use crate::value::Val;

/// One node as the dry run saw it (for the report).
#[derive(Clone, Debug)]
pub struct NodeRecord {
    /// The node's name.
    pub name: String,
    /// Its operator type.
    pub op: String,
    /// Its inputs' shapes (`None` for an absent optional input).
    pub input_shapes: Vec<Option<Vec<usize>>>,
    /// Which inputs were private.
    pub input_private: Vec<bool>,
    /// Its outputs' shapes.
    pub output_shapes: Vec<Vec<usize>>,
    /// Whether it was folded (all inputs public): it costs nothing at run time.
    pub folded: bool,
    /// Node attributes the report needs (kernel shape, group, ...), as integers.
    pub kernel: Vec<usize>,
    /// A `Pow` node's exponent, when it is one public scalar (what it costs depends on it).
    pub exponent: Option<f64>,
    /// The node's `axis` attribute, where it has one (a softmax's costs depend on it).
    pub axis: Option<i64>,
}

/// A node that runs at inference time.
#[derive(Clone, Debug)]
struct Step {
    node: usize,
    name: String,
    op: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    /// Values whose last reader is this step: freed after it.
    frees: Vec<String>,
}

/// What the dry run fixed for one input shape; shared by every backend that runs it.
#[derive(Debug)]
pub(crate) struct Plan {
    proto: ModelProto,
    steps: Vec<Step>,
    /// The steps of convolutions that apply the ReLU after them: the ReLU's step
    /// ([`fused_relus`]).
    fused: HashMap<usize, usize>,
    constants: HashMap<String, (ArrayD<f64>, DType)>,
    pub(crate) private: Vec<PrivateTensor>,
    input_name: String,
    pub(crate) input_shape: Vec<usize>,
    /// The shape of the shared input (the one-hot's, for token ids).
    encoded_shape: Vec<usize>,
    /// Whether the input holds token ids (its readers then go through `ops::embed`).
    ids: bool,
    output_name: String,
    pub(crate) output_shape: Vec<usize>,
    pub(crate) records: Vec<NodeRecord>,
}

/// What an observer of a forward pass learns after each node ([`OnnxGraph::forward_observed`]).
#[derive(Clone, Copy, Debug)]
pub struct StepInfo<'a> {
    /// 0-based position among the nodes that run.
    pub index: usize,
    /// How many nodes run.
    pub count: usize,
    /// The node's name.
    pub name: &'a str,
    /// Its operator type.
    pub op: &'a str,
}

fn unsupported_nodes(model: &OnnxModel) -> Vec<UnsupportedNode> {
    let Some(graph) = model.public.graph.as_ref() else { return Vec::new() };
    graph
        .node
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let domain = n.domain.as_deref().unwrap_or("");
            let op = n.op_type();
            let known = matches!(domain, "" | "ai.onnx") && SUPPORTED_OPS.contains(&op);
            (!known).then(|| UnsupportedNode {
                name: model.node_names[i].clone(),
                op_type: if domain.is_empty() { op.to_string() } else { format!("{domain}::{op}") },
                reason: "operator not implemented".into(),
            })
        })
        .collect()
}

fn kernel_of(n: &crate::proto::onnx::NodeProto) -> Vec<usize> {
    n.attribute
        .iter()
        .find(|a| a.name() == "kernel_shape")
        .map(|a| a.ints.iter().map(|&v| v.max(0) as usize).collect())
        .unwrap_or_default()
}

impl OnnxModel {
    /// Every node the importer cannot run, with its name and operator type (empty when the
    /// whole model is supported).
    #[must_use]
    pub fn unsupported(&self) -> Vec<UnsupportedNode> {
        unsupported_nodes(self)
    }

    /// The dry run for `input_shape`.
    pub(crate) fn plan(&self, input_shape: &[usize]) -> Result<Plan> {
        self.check_input_shape(input_shape)?;
        let bad = unsupported_nodes(self);
        if !bad.is_empty() {
            return Err(OnnxError::Unsupported { nodes: bad });
        }
        let graph = self.public.graph.as_ref().ok_or_else(|| malformed("no graph"))?;
        // Last reader of each value, so the dry run and the forward pass free as they go.
        let mut last_use: HashMap<&str, usize> = HashMap::new();
        for (pos, &i) in self.order.iter().enumerate() {
            for x in &graph.node[i].input {
                last_use.insert(x, pos);
            }
        }
        let private_names: HashSet<&str> = self.private.iter().map(|p| p.name.as_str()).collect();
        let mut values: HashMap<String, Val<Plain>> = HashMap::new();
        let zeros = |s: &[usize]| Val::Private(Var::constant(&Plain, ArrayD::zeros(IxDyn(s))));
        let encoded_shape = self.encoded_input_shape(input_shape);
        values.insert(self.input_name.clone(), zeros(&encoded_shape));
        for p in &self.public_inputs {
            let value = p.value.as_ref().ok_or_else(|| OnnxError::Input {
                reason: format!(
                    "public input {} has no value; every party sets it with \
                     OnnxModel::set_public_input",
                    p.name
                ),
            })?;
            values.insert(p.name.clone(), Val::Public(value.clone(), p.dtype));
        }
        let ids = matches!(self.input_kind, InputKind::TokenIds { .. });
        for p in &self.private {
            values.insert(p.name.clone(), zeros(&p.shape));
        }
        for (name, d) in &self.constants {
            values.insert(name.clone(), Val::Public(d.data.clone(), d.dtype));
        }
        let mut steps = Vec::new();
        let mut records = Vec::new();
        let mut constants = HashMap::new();
        for (pos, &i) in self.order.iter().enumerate() {
            let n = &graph.node[i];
            let node = NodeRef { proto: n, name: &self.node_names[i] };
            let inputs: Vec<Option<Val<Plain>>> = n
                .input
                .iter()
                .map(|x| {
                    if x.is_empty() {
                        return Ok(None);
                    }
                    values.get(x).cloned().map(Some).ok_or_else(|| {
                        malformed(format!("node {} reads {x} before it is computed", node.name))
                    })
                })
                .collect::<Result<_>>()?;
            let ctx = Ctx { node, backend: &Plain, inputs, prep: None, fuse_relu: false };
            let outs = run_node(&ctx, ids.then_some(self.input_name.as_str()))?;
            let wanted = n.output.iter().filter(|o| !o.is_empty()).count();
            if outs.len() < n.output.len() && outs.len() < wanted {
                return Err(node.shape_error(format!(
                    "produced {} outputs, the graph names {}",
                    outs.len(),
                    n.output.len()
                )));
            }
            let folded =
                ctx.inputs.iter().flatten().all(Val::is_public) && outs.iter().all(Val::is_public);
            records.push(NodeRecord {
                name: node.name.to_string(),
                op: n.op_type().to_string(),
                input_shapes: ctx.inputs.iter().map(|v| v.as_ref().map(Val::shape)).collect(),
                input_private: ctx
                    .inputs
                    .iter()
                    .map(|v| v.as_ref().is_some_and(|v| !v.is_public()))
                    .collect(),
                output_shapes: outs.iter().map(Val::shape).collect(),
                folded,
                kernel: kernel_of(n),
                axis: n.attribute.iter().find(|a| a.name() == "axis").map(|a| a.i()),
                exponent: match ctx.inputs.get(1) {
                    Some(Some(Val::Public(e, _))) if n.op_type() == "Pow" && e.len() == 1 => {
                        e.iter().next().copied()
                    }
                    _ => None,
                },
            });
            if !folded {
                for (x, v) in n.input.iter().zip(&ctx.inputs) {
                    if let Some(Val::Public(a, d)) = v
                        && !private_names.contains(x.as_str())
                    {
                        constants.insert(x.clone(), (a.clone(), *d));
                    }
                }
                let frees = n
                    .input
                    .iter()
                    .filter(|x| {
                        !x.is_empty()
                            && last_use.get(x.as_str()) == Some(&pos)
                            && **x != self.output_name
                    })
                    .cloned()
                    .collect();
                steps.push(Step {
                    node: i,
                    name: node.name.to_string(),
                    op: n.op_type().to_string(),
                    inputs: n.input.clone(),
                    outputs: n.output.clone(),
                    frees,
                });
            }
            for (name, v) in n.output.iter().zip(outs) {
                if !name.is_empty() {
                    values.insert(name.clone(), v);
                }
            }
            for x in &n.input {
                if last_use.get(x.as_str()) == Some(&pos)
                    && *x != self.output_name
                    && !self.constants.contains_key(x)
                {
                    values.remove(x);
                }
            }
        }
        let out = values.get(&self.output_name).ok_or_else(|| {
            malformed(format!("the graph output {} is never computed", self.output_name))
        })?;
        if let Val::Public(a, d) = out {
            constants.insert(self.output_name.clone(), (a.clone(), *d));
        }
        Ok(Plan {
            proto: self.public.clone(),
            fused: fused_relus(&steps),
            steps,
            constants,
            private: self.private.clone(),
            input_name: self.input_name.clone(),
            input_shape: input_shape.to_vec(),
            encoded_shape,
            ids,
            output_name: self.output_name.clone(),
            output_shape: out.shape(),
            records,
        })
    }

    /// Binds the model to `backend` for inputs of `input_shape`: the plan every party agrees
    /// on, and the owner's tensors as trainable parameters (zeros until
    /// [`load_state`](cloak_nn::ModuleExt::load_state) shares the owner's values).
    ///
    /// # Errors
    /// Unsupported nodes (all of them, listed), an input shape that does not fit, attributes
    /// or shapes a node cannot take.
    pub fn build<B: Backend>(&self, backend: &B, input_shape: &[usize]) -> Result<OnnxGraph<B>> {
        let plan = self.plan(input_shape)?;
        let params = plan
            .private
            .iter()
            .map(|p| (p.name.clone(), Var::leaf(backend, backend.zeros(&p.shape), true)))
            .collect();
        Ok(OnnxGraph {
            backend: backend.clone(),
            plan: Arc::new(plan),
            params,
            prepared: RefCell::new(HashMap::new()),
        })
    }
}

impl Plan {
    /// The names of the convolutions that apply the ReLU after them (see `fused_relus`).
    pub(crate) fn fused_convolutions(&self) -> Vec<&str> {
        self.fused.keys().map(|&i| self.steps[i].name.as_str()).collect()
    }
}

/// The convolutions whose one output only a ReLU reads (and is not the graph's output: the
/// ReLU frees it), by step: the ReLU's step.
fn fused_relus(steps: &[Step]) -> HashMap<usize, usize> {
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        for x in s.inputs.iter().filter(|x| !x.is_empty()) {
            readers.entry(x.as_str()).or_default().push(i);
        }
    }
    let mut out = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        let [y] = &s.outputs[..] else { continue };
        if s.op != "Conv" {
            continue;
        }
        if let Some(&[r]) = readers.get(y.as_str()).map(Vec::as_slice) {
            let relu = &steps[r];
            if r > i && relu.op == "Relu" && relu.inputs.len() == 1 && relu.frees.contains(y) {
                out.insert(i, r);
            }
        }
    }
    out
}

/// Runs one node; a node that reads the token ids goes to the embedding lookup instead.
fn run_node<B: Backend>(ctx: &Ctx<'_, B>, ids: Option<&str>) -> Result<Vec<Val<B>>> {
    match ids {
        Some(name) if ctx.node.proto.input.iter().any(|x| x == name) => {
            ops::embed::run(ctx, name).map_err(|e| ops::at_node(&ctx.node, e))
        }
        _ => ops::run(ctx),
    }
}

/// An imported model on a backend: a [`Module`] whose parameters are the model owner's
/// tensors (by their ONNX names), so it can be loaded, run, revealed, checkpointed and
/// fine-tuned like any other module. BatchNorm and Dropout keep their inference behaviour in
/// training (`set_training` changes nothing), as when fine-tuning an exported model.
pub struct OnnxGraph<B: Backend> {
    backend: B,
    plan: Arc<Plan>,
    params: Vec<(String, Var<B>)>,
    /// Weights prepared for repeated products, by (name, transposed).
    prepared: RefCell<HashMap<(String, bool), PrepEntry>>,
}

impl<B: Backend> std::fmt::Debug for OnnxGraph<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxGraph")
            .field("backend", &self.backend.name())
            .field("steps", &self.plan.steps.len())
            .field("input_shape", &self.plan.input_shape)
            .field("output_shape", &self.plan.output_shape)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> OnnxGraph<B> {
    /// The input shape this graph was built for (of the token ids, for a model that reads
    /// ids).
    #[must_use]
    pub fn input_shape(&self) -> &[usize] {
        &self.plan.input_shape
    }

    /// The shape [`forward`](Module::forward) takes: the input's, or for token ids their
    /// one-hot's ([`OnnxModel::encode_input`]).
    #[must_use]
    pub fn encoded_input_shape(&self) -> &[usize] {
        &self.plan.encoded_shape
    }

    /// The output's shape.
    #[must_use]
    pub fn output_shape(&self) -> &[usize] {
        &self.plan.output_shape
    }

    /// The nodes that run (folded ones excluded), as `(name, operator)`.
    #[must_use]
    pub fn steps(&self) -> Vec<(&str, &str)> {
        self.plan.steps.iter().map(|s| (s.name.as_str(), s.op.as_str())).collect()
    }

    /// The forward pass, calling `observe` after each node that runs (for per-layer timing,
    /// communication counts, or a progress bar).
    ///
    /// # Errors
    /// An input of the wrong shape, or a node's error (named).
    pub fn forward_observed(
        &self,
        x: &Var<B>,
        observe: &mut dyn FnMut(StepInfo<'_>),
    ) -> Result<Var<B>> {
        let plan = &self.plan;
        if x.shape() != plan.encoded_shape {
            let what = if plan.ids {
                "the one-hot token ids (OnnxModel::encode_input) of shape"
            } else {
                "shape"
            };
            return Err(OnnxError::Input {
                reason: format!(
                    "shape {:?}, but the graph was built for {what} {:?}",
                    x.shape(),
                    plan.encoded_shape
                ),
            });
        }
        let graph = plan.proto.graph.as_ref().ok_or_else(|| malformed("no graph"))?;
        let params: HashMap<&str, &Var<B>> =
            self.params.iter().map(|(n, v)| (n.as_str(), v)).collect();
        let prep = Prep { params: &params, cache: &self.prepared };
        let mut values: HashMap<String, Val<B>> = HashMap::new();
        values.insert(plan.input_name.clone(), Val::Private(x.clone()));
        let lookup = |values: &HashMap<String, Val<B>>, name: &str| -> Option<Val<B>> {
            if let Some(v) = values.get(name) {
                return Some(v.clone());
            }
            if let Some((a, d)) = plan.constants.get(name) {
                return Some(Val::Public(a.clone(), *d));
            }
            params.get(name).map(|v| Val::Private((*v).clone()))
        };
        let count = plan.steps.len();
        // A ReLU that alone reads a convolution's output: the convolution applies it
        // (fused), and the ReLU's own step is passed over.
        let fused = &plan.fused;
        let passed_over: HashSet<usize> = fused.values().copied().collect();
        for (index, step) in plan.steps.iter().enumerate() {
            if passed_over.contains(&index) {
                observe(StepInfo { index, count, name: &step.name, op: &step.op });
                continue;
            }
            let next = fused.get(&index).map(|&r| &plan.steps[r]);
            let n = &graph.node[step.node];
            let node = NodeRef { proto: n, name: &step.name };
            let inputs = step
                .inputs
                .iter()
                .map(|x| {
                    if x.is_empty() {
                        return Ok(None);
                    }
                    lookup(&values, x).map(Some).ok_or_else(|| {
                        malformed(format!("value {x} missing at node {}", step.name))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let ctx = Ctx {
                node,
                backend: &self.backend,
                inputs,
                prep: Some(&prep),
                fuse_relu: next.is_some(),
            };
            let outs = run_node(&ctx, plan.ids.then_some(plan.input_name.as_str()))?;
            drop(ctx);
            let names = next.map_or(&step.outputs, |relu| &relu.outputs);
            for (name, v) in names.iter().zip(outs) {
                if !name.is_empty() {
                    values.insert(name.clone(), v);
                }
            }
            for f in step.frees.iter().chain(next.iter().flat_map(|relu| &relu.frees)) {
                values.remove(f);
            }
            observe(StepInfo { index, count, name: &step.name, op: &step.op });
        }
        match lookup(&values, &plan.output_name) {
            Some(Val::Private(v)) => Ok(v),
            Some(Val::Public(a, _)) => Ok(Var::constant(&self.backend, self.backend.public(&a)?)),
            None => {
                Err(malformed(format!("the graph output {} was not computed", plan.output_name)))
            }
        }
    }
}

impl<B: Backend> Module<B> for OnnxGraph<B> {
    fn forward(&self, x: &Var<B>) -> cloak_nn::Result<Var<B>> {
        Ok(self.forward_observed(x, &mut |_| {})?)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        for (name, v) in &self.params {
            f(&join(prefix, name), v, TensorKind::Parameter);
        }
    }
}
