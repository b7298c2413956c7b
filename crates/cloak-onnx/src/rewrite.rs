//! Rewrites of the graph's structure, made by the model owner when it reads the model: the
//! other parties receive the rewritten graph ([`OnnxModel::public_bytes`]), so every party
//! runs the same one.
//!
//! `a / sqrt(v)` becomes `a * v^-0.5`: LayerNorm written out by hand (`(x - mean) /
//! sqrt(var + eps)`, which the exporters emit as ReduceMean, Sub, Pow, Sqrt, Div) then costs
//! one inverse square root and one product on shares (17 rounds and a Beaver round), where the
//! literal graph takes a square root, a reciprocal and a product (17 + 20 + 1 rounds). The
//! price is accuracy: the inverse square root's relative error is `4.9e-4`, the square
//! root's `9.2e-5` and the reciprocal's a few `1e-6` (see `cloak-mpc`'s functions), so
//! [`ImportOptions::inv_sqrt`] turns it off.
//!
//! [`OnnxModel::public_bytes`]: crate::OnnxModel::public_bytes
//! [`ImportOptions::inv_sqrt`]: crate::ImportOptions::inv_sqrt

use std::collections::{BTreeMap, HashMap};

use ndarray::{ArrayD, IxDyn};

use crate::proto::onnx::ModelProto;
use crate::tensor::{self, DType, Decoded};

type Inits = BTreeMap<String, (Decoded, bool)>;

/// The exponent's initializer, added when a rewrite needs it.
const MINUS_HALF: &str = "cloak.minus_half";

/// Turns every `Sqrt` whose output only ever divides (as the divisor of `Div` nodes, and is not
/// a graph output) into `Pow(v, -0.5)`, and those `Div` nodes into `Mul`.
pub(crate) fn sqrt_div_to_inv_sqrt(proto: &mut ModelProto, inits: &mut Inits) {
    let Some(graph) = proto.graph.as_mut() else { return };
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name()).collect();
    // For every value: (uses as a Div's divisor, all other uses).
    let mut uses: HashMap<&str, (usize, usize)> = HashMap::new();
    for n in &graph.node {
        for (k, x) in n.input.iter().enumerate() {
            let e = uses.entry(x.as_str()).or_default();
            if n.op_type() == "Div" && k == 1 && n.input[0] != *x {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }
    let targets: Vec<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type() == "Sqrt" && n.input.len() == 1 && n.output.len() == 1)
        .map(|n| n.output[0].clone())
        .filter(|o| {
            !outputs.contains(&o.as_str()) && matches!(uses.get(o.as_str()), Some(&(d, 0)) if d > 0)
        })
        .collect();
    if targets.is_empty() {
        return;
    }
    let name = unique_name(inits);
    for n in &mut graph.node {
        let rewrites_sqrt =
            n.op_type() == "Sqrt" && n.output.first().is_some_and(|o| targets.contains(o));
        if rewrites_sqrt {
            n.op_type = Some("Pow".into());
            n.input.push(name.clone());
        } else if n.op_type() == "Div" && n.input.get(1).is_some_and(|d| targets.contains(d)) {
            n.op_type = Some("Mul".into());
        }
    }
    let exponent = ArrayD::from_elem(IxDyn(&[]), -0.5);
    graph.initializer.push(tensor::encode(&name, &exponent, DType::Float));
    inits.insert(name, (Decoded { data: exponent, dtype: DType::Float }, false));
}

/// [`MINUS_HALF`], or with a numeric suffix if a tensor of the model already has that name.
fn unique_name(inits: &Inits) -> String {
    let mut name = MINUS_HALF.to_string();
    let mut k = 1;
    while inits.contains_key(&name) {
        name = format!("{MINUS_HALF}.{k}");
        k += 1;
    }
    name
}
