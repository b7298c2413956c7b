//! [`OnnxModel`]: a parsed, checked ONNX model, and the split of its tensors into what every
//! party may know (the graph, shapes, constants) and what only the model owner holds (the
//! weights).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;

use cloak_nn::StateDict;
use protobuf::Message;

use ndarray::ArrayD;

use crate::error::{OnnxError, Result, malformed};
use crate::inputs::{self, InputKind, PublicInput};
use crate::proto::onnx::{ModelProto, NodeProto, StringStringEntryProto, TensorProto};
use crate::tensor::{self, DType, Decoded};

/// The oldest default-domain opset the importer reads.
pub const MIN_OPSET: i64 = 13;
/// The newest default-domain opset the importer reads (operators are implemented as of this
/// version; 19 to 21 change none of the operators it supports in ways it relies on).
pub const MAX_OPSET: i64 = 21;

/// Files larger than this are refused before reading (protobuf's own limit is 2 GiB).
pub const MAX_FILE_BYTES: u64 = 2 << 30;

/// Marks an initializer whose values were stripped from the public part of a model.
const PRIVATE_MARK: &str = "cloak.private";

/// How a model is imported.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Fold each BatchNormalization that directly follows a convolution into that
    /// convolution's weight and bias, at the model owner, before anything is shared: the
    /// folded weights stay private, and inference saves one product and one inverse square
    /// root per layer. Turn off to fine-tune BatchNorm's own parameters.
    pub fold_batchnorm: bool,
    /// Compute `a / sqrt(v)` (LayerNorm written out by hand) as `a * v^-0.5`: one inverse
    /// square root and one product on shares, 18 rounds, instead of a square root, a
    /// reciprocal and a product, 38 rounds. The inverse square root's relative error is
    /// `4.9e-4` where the pair's is about `1e-4`; turn off for that accuracy. Made at the
    /// model owner: the other parties receive the rewritten graph.
    pub inv_sqrt: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { fold_batchnorm: true, inv_sqrt: true }
    }
}

/// A tensor of the model owner's: its name and shape are public, its values are not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateTensor {
    /// The initializer's name in the graph.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// A parsed and checked ONNX model.
///
/// Loaded from a file ([`load`](Self::load)) it holds the weights (the model owner's view);
/// rebuilt from [`public_bytes`](Self::public_bytes) it holds the graph, the shapes and the
/// public constants only (every other party's view). Both build the same
/// [`OnnxGraph`](crate::OnnxGraph).
#[derive(Clone, Debug)]
pub struct OnnxModel {
    /// The model with private initializers stripped of their values.
    pub(crate) public: ModelProto,
    /// The opset of the default domain.
    pub(crate) opset: i64,
    /// Nodes in an order where every input is produced before it is used.
    pub(crate) order: Vec<usize>,
    /// Node names for messages (the model's, or `#index`).
    pub(crate) node_names: Vec<String>,
    /// Public constants: initializers that only shapes, indices or exponents use, and
    /// integer or boolean initializers.
    pub(crate) constants: HashMap<String, Decoded>,
    /// The model owner's tensors, in graph order.
    pub(crate) private: Vec<PrivateTensor>,
    /// Their values, at the model owner only.
    pub(crate) weights: Option<StateDict>,
    /// The graph input the data owner provides (the first graph input).
    pub(crate) input_name: String,
    /// Its declared dimensions (`None`: symbolic).
    pub(crate) input_dims: Vec<Option<usize>>,
    /// Real numbers or token ids.
    pub(crate) input_kind: InputKind,
    /// The other graph inputs, whose values every party knows.
    pub(crate) public_inputs: Vec<PublicInput>,
    /// The graph output.
    pub(crate) output_name: String,
}

/// Input positions of an operator whose tensors are structure (shapes, axes, indices,
/// exponents, bounds), never weights: an initializer used only at such positions is public.
pub(crate) fn structural_input(op: &str, index: usize) -> bool {
    match op {
        "Reshape" | "Unsqueeze" | "Squeeze" | "Expand" | "Tile" | "Upsample" | "Split" | "Pow"
        | "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "Gather" | "TopK" => index >= 1,
        "Slice" | "Pad" | "Resize" | "Clip" | "Dropout" => index >= 1,
        "ConstantOfShape" | "Range" | "Shape" | "Size" => true,
        "Where" => index == 0,
        _ => false,
    }
}

fn node_name(i: usize, n: &NodeProto) -> String {
    match n.name.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("#{i}"),
    }
}

impl OnnxModel {
    /// Reads and checks an ONNX file (the model owner's view: weights included).
    ///
    /// # Errors
    /// A missing or unreadable file, a file above [`MAX_FILE_BYTES`], or as
    /// [`from_bytes`](Self::from_bytes).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(path, &ImportOptions::default())
    }

    /// [`load`](Self::load) with options.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_with(path: impl AsRef<Path>, options: &ImportOptions) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| OnnxError::Io { path: path.display().to_string(), source };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_BYTES {
            return Err(OnnxError::TooLarge {
                name: path.display().to_string(),
                declared: u128::from(len),
                limit: u128::from(MAX_FILE_BYTES),
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Self::from_bytes_with(&bytes, options)
    }

    /// Parses and checks a serialized ONNX model (weights included).
    ///
    /// # Errors
    /// Bytes that are not a protobuf `ModelProto`, an unsupported opset, a graph that is not
    /// a DAG of named values with one float input and one output, tensors whose data does not
    /// match their dimensions or exceeds the size limits, unknown data types.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with(bytes, &ImportOptions::default())
    }

    /// [`from_bytes`](Self::from_bytes) with options.
    ///
    /// # Errors
    /// As [`from_bytes`](Self::from_bytes).
    pub fn from_bytes_with(bytes: &[u8], options: &ImportOptions) -> Result<Self> {
        let proto = parse(bytes)?;
        Self::from_proto(proto, options, true)
    }

    /// Rebuilds a model from [`public_bytes`](Self::public_bytes): the graph, shapes and
    /// public constants, without the owner's weights.
    ///
    /// # Errors
    /// As [`from_bytes`](Self::from_bytes); also a stripped tensor that carries values.
    pub fn from_public_bytes(bytes: &[u8]) -> Result<Self> {
        let proto = parse(bytes)?;
        Self::from_proto(proto, &ImportOptions { fold_batchnorm: false, inv_sqrt: false }, false)
    }

    fn from_proto(mut proto: ModelProto, options: &ImportOptions, owner: bool) -> Result<Self> {
        let opset = default_opset(&proto)?;
        let graph = proto.graph.as_ref().ok_or_else(|| malformed("the model has no graph"))?;
        if graph.node.is_empty() {
            return Err(malformed("the graph has no nodes"));
        }
        // Every initializer decodes (sizes checked before allocation).
        let mut decoded: BTreeMap<String, (Decoded, bool)> = BTreeMap::new();
        for (i, t) in graph.initializer.iter().enumerate() {
            let name = t.name.clone().unwrap_or_default();
            if name.is_empty() {
                return Err(malformed(format!("initializer #{i} has no name")));
            }
            let stripped = t.metadata_props.iter().any(|p| p.key.as_deref() == Some(PRIVATE_MARK));
            if stripped && owner {
                return Err(malformed(format!(
                    "initializer {name} was stripped of its values (a public model part, not a \
                     model file)"
                )));
            }
            let d = if stripped {
                if t.raw_data.as_ref().is_some_and(|r| !r.is_empty()) || !t.float_data.is_empty() {
                    return Err(malformed(format!("stripped initializer {name} carries values")));
                }
                let (shape, _) = tensor::checked_dims(&name, &t.dims)?;
                Decoded { data: ndarray::ArrayD::zeros(shape), dtype: DType::Float }
            } else {
                tensor::decode(&name, t)?
            };
            if decoded.insert(name.clone(), (d, stripped)).is_some() {
                return Err(malformed(format!("two initializers are named {name}")));
            }
        }
        if owner && options.inv_sqrt {
            crate::rewrite::sqrt_div_to_inv_sqrt(&mut proto, &mut decoded);
        }
        if owner && options.fold_batchnorm {
            crate::fold::fold_batchnorm(&mut proto, &mut decoded)?;
        } else {
            crate::fold::drop_unused(&mut proto, &mut decoded);
        }
        let graph = proto.graph.as_ref().ok_or_else(|| malformed("the model has no graph"))?;
        let node_names: Vec<String> =
            graph.node.iter().enumerate().map(|(i, n)| node_name(i, n)).collect();

        // The graph inputs that are not initializers: the first is the data owner's, the
        // others are public.
        let inputs: Vec<_> =
            graph.input.iter().filter(|v| !decoded.contains_key(v.name())).collect();
        let Some((input, rest)) = inputs.split_first() else {
            return Err(OnnxError::Input { reason: "the model has no input".into() });
        };
        let input_name = input.name().to_string();
        let (input_dtype, input_dims) = inputs::declared(input)?;
        let mut public_inputs = Vec::new();
        for v in rest {
            let (dtype, dims) = inputs::declared(v)?;
            if v.name() == input_name
                || public_inputs.iter().any(|p: &PublicInput| p.name == v.name())
            {
                return Err(malformed(format!("two graph inputs are named {}", v.name())));
            }
            public_inputs.push(PublicInput {
                name: v.name().to_string(),
                dims,
                dtype,
                value: None,
            });
        }
        let [output] = graph.output.as_slice() else {
            return Err(OnnxError::Unsupported {
                nodes: vec![crate::error::UnsupportedNode {
                    name: "(graph)".into(),
                    op_type: "outputs".into(),
                    reason: format!(
                        "the model has {} outputs; Cloak runs models with exactly one",
                        graph.output.len()
                    ),
                }],
            });
        };
        let output_name = output.name().to_string();

        let mut input_names: HashSet<&str> = HashSet::from([input_name.as_str()]);
        input_names.extend(public_inputs.iter().map(|p| p.name.as_str()));
        let order = topological_order(&proto, &decoded, &input_names, &node_names)?;
        let graph = proto.graph.as_ref().ok_or_else(|| malformed("the model has no graph"))?;
        if !graph.node.iter().any(|n| n.output.contains(&output_name))
            && !input_names.contains(output_name.as_str())
            && !decoded.contains_key(&output_name)
        {
            return Err(malformed(format!("no node produces the graph output {output_name}")));
        }
        let input_kind = match input_dtype {
            DType::Float => InputKind::Float,
            DType::Int => InputKind::TokenIds {
                vocab: inputs::token_vocab(graph, &input_name, &decoded, &node_names)?,
            },
            DType::Bool => {
                return Err(OnnxError::Input {
                    reason: format!(
                        "graph input {input_name}: the data owner's input is boolean; Cloak \
                         takes real numbers or integer token ids"
                    ),
                });
            }
        };

        // Which initializers are weights: used at a data position by some node, and float.
        let mut data_use: HashSet<&str> = HashSet::new();
        for n in &graph.node {
            for (k, name) in n.input.iter().enumerate() {
                if !structural_input(n.op_type(), k) {
                    data_use.insert(name);
                }
            }
        }
        data_use.insert(&output_name);
        let mut constants = HashMap::new();
        let mut private = Vec::new();
        let mut weights = BTreeMap::new();
        for (name, (d, stripped)) in decoded {
            // A tensor holding an infinity is a mask's fill (`masked_fill(mask, -inf)`), not a
            // trained value: no fixed-point share can hold it, and it reveals nothing.
            let is_weight = stripped
                || (d.dtype == DType::Float
                    && !d.data.is_empty()
                    && data_use.contains(name.as_str())
                    && !d.data.iter().any(|v| v.is_infinite()));
            if is_weight {
                private.push(PrivateTensor { name: name.clone(), shape: d.data.shape().to_vec() });
                if !stripped {
                    weights.insert(name, d.data);
                }
            } else {
                constants.insert(name, d);
            }
        }
        // Keep graph order for the weights (the order every party visits them in).
        let position: HashMap<&str, usize> =
            graph.initializer.iter().enumerate().map(|(i, t)| (t.name(), i)).collect();
        private.sort_by_key(|p| position.get(p.name.as_str()).copied().unwrap_or(usize::MAX));

        // The public part: private initializers keep their name, type and dimensions only.
        let private_names: HashSet<&str> = private.iter().map(|p| p.name.as_str()).collect();
        let mut public = proto.clone();
        if let Some(g) = public.graph.as_mut() {
            for t in &mut g.initializer {
                if private_names.contains(t.name()) {
                    strip(t);
                }
            }
        }
        Ok(Self {
            public,
            opset,
            order,
            node_names,
            constants,
            private,
            weights: owner.then_some(weights),
            input_name,
            input_dims,
            input_kind,
            public_inputs,
            output_name,
        })
    }

    /// The model's structure for the other parties: nodes, attributes, shapes and public
    /// constants, with the owner's weights removed (names and shapes stay). Weights never
    /// travel in the clear; they are secret-shared by
    /// [`ModuleExt::load_state`](cloak_nn::ModuleExt::load_state).
    #[must_use]
    pub fn public_bytes(&self) -> Vec<u8> {
        self.public.write_to_bytes().unwrap_or_default()
    }

    /// The owner's weights by initializer name (`None` for a model rebuilt from its public
    /// part). Pass them to [`load_state`](cloak_nn::ModuleExt::load_state) at the owner.
    #[must_use]
    pub fn weights(&self) -> Option<&StateDict> {
        self.weights.as_ref()
    }

    /// The owner's tensors (names and shapes), in the order the graph visits them.
    #[must_use]
    pub fn private_tensors(&self) -> &[PrivateTensor] {
        &self.private
    }

    /// The graph input's name.
    #[must_use]
    pub fn input_name(&self) -> &str {
        &self.input_name
    }

    /// The graph input's declared dimensions (`None` where symbolic, such as a batch axis).
    #[must_use]
    pub fn input_dims(&self) -> &[Option<usize>] {
        &self.input_dims
    }

    /// What the data owner's input holds: real numbers, or token ids (shared one-hot).
    #[must_use]
    pub fn input_kind(&self) -> InputKind {
        self.input_kind
    }

    /// The data owner's input as it is shared: real numbers as they are; token ids checked
    /// (whole, in `[0, vocab)`) and encoded one-hot along a new last axis, in the clear, by
    /// the data owner. Every party passes [`encoded_input_shape`](Self::encoded_input_shape)
    /// as the shared tensor's shape.
    ///
    /// # Errors
    /// [`OnnxError::Input`] for an id that is negative, not whole, or not below the
    /// vocabulary size (named by its position, never its value);
    /// [`OnnxError::TooLarge`] for a one-hot beyond the size limit.
    pub fn encode_input(&self, x: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        match self.input_kind {
            InputKind::Float => Ok(x.clone()),
            InputKind::TokenIds { vocab } => inputs::one_hot(x, vocab),
        }
    }

    /// The shape of the shared input for a graph input of `shape`: `shape` itself, or with the
    /// vocabulary appended for token ids.
    #[must_use]
    pub fn encoded_input_shape(&self, shape: &[usize]) -> Vec<usize> {
        let mut s = shape.to_vec();
        if let InputKind::TokenIds { vocab } = self.input_kind {
            s.push(vocab);
        }
        s
    }

    /// The graph inputs after the first, whose values every party knows, in graph order.
    #[must_use]
    pub fn public_inputs(&self) -> &[PublicInput] {
        &self.public_inputs
    }

    /// Sets a public input's value. Every party sets the same value (it is public: a
    /// key-padding mask, for instance); the dry run folds what depends on it alone.
    ///
    /// # Errors
    /// [`OnnxError::Input`] for a name that is not a public input, a shape that does not fit
    /// its declaration, or values that do not fit its type (booleans other than 0 and 1,
    /// fractional integers, NaN).
    pub fn set_public_input(&mut self, name: &str, value: &ArrayD<f64>) -> Result<()> {
        let names = || self.public_inputs.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        let Some(p) = self.public_inputs.iter().find(|p| p.name == name) else {
            return Err(OnnxError::Input {
                reason: format!("{name} is not a public input of the model ({:?})", names()),
            });
        };
        inputs::check_public(p, value)?;
        if let Some(p) = self.public_inputs.iter_mut().find(|p| p.name == name) {
            p.value = Some(value.clone());
        }
        Ok(())
    }

    /// The graph output's name.
    #[must_use]
    pub fn output_name(&self) -> &str {
        &self.output_name
    }

    /// The default-domain opset the model declares.
    #[must_use]
    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// The number of nodes.
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.order.len()
    }

    /// The input shape with every symbolic dimension set to 1 (`None` if the model declares
    /// no shape at all).
    #[must_use]
    pub fn default_input_shape(&self) -> Option<Vec<usize>> {
        if self.input_dims.is_empty() {
            return None;
        }
        Some(self.input_dims.iter().map(|d| d.unwrap_or(1)).collect())
    }

    /// Checks a concrete input shape against the declared one.
    ///
    /// # Errors
    /// [`OnnxError::Input`] for a wrong rank or a fixed dimension that differs.
    pub fn check_input_shape(&self, shape: &[usize]) -> Result<()> {
        if self.input_dims.is_empty() {
            return Ok(());
        }
        let declared: Vec<String> = self
            .input_dims
            .iter()
            .map(|d| d.map_or_else(|| "?".to_string(), |v| v.to_string()))
            .collect();
        let fits = shape.len() == self.input_dims.len()
            && self.input_dims.iter().zip(shape).all(|(d, &s)| d.is_none_or(|d| d == s));
        if fits && !shape.contains(&0) {
            Ok(())
        } else {
            Err(OnnxError::Input {
                reason: format!(
                    "shape {shape:?} does not fit the model's input {} of shape [{}]",
                    self.input_name,
                    declared.join(", ")
                ),
            })
        }
    }
}

fn parse(bytes: &[u8]) -> Result<ModelProto> {
    if bytes.is_empty() {
        return Err(OnnxError::Decode { reason: "the file is empty".into() });
    }
    ModelProto::parse_from_bytes(bytes).map_err(|e| OnnxError::Decode { reason: e.to_string() })
}

fn strip(t: &mut TensorProto) {
    t.raw_data = None;
    t.float_data.clear();
    t.double_data.clear();
    t.int32_data.clear();
    t.int64_data.clear();
    t.uint64_data.clear();
    let mut mark = StringStringEntryProto::new();
    mark.key = Some(PRIVATE_MARK.into());
    mark.value = Some("1".into());
    t.metadata_props.push(mark);
}

fn default_opset(proto: &ModelProto) -> Result<i64> {
    let mut opset = None;
    for o in &proto.opset_import {
        match o.domain.as_deref().unwrap_or("") {
            "" | "ai.onnx" => opset = Some(o.version.unwrap_or(0)),
            _ => {}
        }
    }
    let version = opset.ok_or_else(|| malformed("the model imports no default-domain opset"))?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&version) {
        return Err(OnnxError::Opset { domain: String::new(), version });
    }
    Ok(version)
}

/// Kahn's algorithm over value names: every node after the producers of its inputs.
fn topological_order(
    proto: &ModelProto,
    initializers: &BTreeMap<String, (Decoded, bool)>,
    inputs: &HashSet<&str>,
    names: &[String],
) -> Result<Vec<usize>> {
    let graph = proto.graph.as_ref().ok_or_else(|| malformed("the model has no graph"))?;
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        if n.op_type().is_empty() {
            return Err(malformed(format!("node {} has no operator type", names[i])));
        }
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if inputs.contains(o.as_str()) || initializers.contains_key(o.as_str()) {
                return Err(malformed(format!("node {} overwrites {o}", names[i])));
            }
            if let Some(j) = producer.insert(o, i) {
                return Err(malformed(format!(
                    "value {o} is produced by two nodes ({} and {})",
                    names[j], names[i]
                )));
            }
        }
    }
    let mut pending = vec![0usize; graph.node.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
    for (i, n) in graph.node.iter().enumerate() {
        for x in n.input.iter().filter(|x| !x.is_empty()) {
            if let Some(&p) = producer.get(x.as_str()) {
                pending[i] += 1;
                users[p].push(i);
            } else if !inputs.contains(x.as_str()) && !initializers.contains_key(x.as_str()) {
                return Err(malformed(format!(
                    "node {} reads {x}, which no node, initializer or input provides",
                    names[i]
                )));
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..pending.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(pending.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.push_back(u);
            }
        }
    }
    if order.len() != graph.node.len() {
        let stuck = (0..pending.len()).find(|&i| pending[i] > 0).unwrap_or(0);
        return Err(malformed(format!("the graph has a cycle through node {}", names[stuck])));
    }
    Ok(order)
}
