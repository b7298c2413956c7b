//! Rewrites the model owner makes on its own weights before anything is shared.
//!
//! A BatchNormalization in inference applies `y = (x - mean) * scale / sqrt(var + eps) + b`
//! per channel. Directly after a convolution it folds into that convolution's weight and bias
//! (`W' = W * s`, `B' = (B - mean) * s + b` with `s = scale / sqrt(var + eps)`), computed in
//! the clear by the owner, who holds all of them. The folded weights are as private as the
//! originals; the other parties see a convolution without BatchNorm. On shares this saves a
//! product of the whole activation and an inverse square root per layer.

use std::collections::{BTreeMap, HashMap};

use ndarray::{ArrayD, Axis, IxDyn};

use crate::error::{Result, malformed};
use crate::proto::onnx::{ModelProto, NodeProto};
use crate::tensor::{self, DType, Decoded};

type Inits = BTreeMap<String, (Decoded, bool)>;

/// Folds every Conv -> BatchNormalization pair whose parameters are all initializers and
/// whose convolution output feeds nothing else.
///
/// # Errors
/// Parameter shapes that do not match the convolution's output channels.
pub(crate) fn fold_batchnorm(proto: &mut ModelProto, inits: &mut Inits) -> Result<()> {
    let Some(graph) = proto.graph.as_mut() else { return Ok(()) };
    let graph_outputs: Vec<String> = graph.output.iter().map(|o| o.name().to_string()).collect();
    let mut uses: HashMap<String, usize> = HashMap::new();
    for n in &graph.node {
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            *uses.entry(i.clone()).or_default() += 1;
        }
    }
    let producer: HashMap<String, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.output.iter().map(move |o| (o.clone(), i)))
        .collect();
    let mut removed = vec![false; graph.node.len()];
    for b in 0..graph.node.len() {
        let bn = &graph.node[b];
        if bn.op_type() != "BatchNormalization" || bn.input.len() != 5 || bn.output.len() != 1 {
            continue;
        }
        if bn.attribute.iter().any(|a| a.name() == "training_mode" && a.i.unwrap_or(0) != 0) {
            continue;
        }
        let x = &bn.input[0];
        let Some(&c) = producer.get(x) else { continue };
        let conv = &graph.node[c];
        let weight_ok = conv.input.get(1).is_some_and(|w| inits.contains_key(w));
        let bias_ok = conv.input.get(2).is_none_or(|b| b.is_empty() || inits.contains_key(b));
        let params_ok = bn.input[1..].iter().all(|p| inits.get(p).is_some_and(|(_, s)| !s));
        if conv.op_type() != "Conv"
            || removed[c]
            || uses.get(x) != Some(&1)
            || graph_outputs.contains(x)
            || !weight_ok
            || !bias_ok
            || !params_ok
        {
            continue;
        }
        let eps = bn
            .attribute
            .iter()
            .find(|a| a.name() == "epsilon")
            .and_then(|a| a.f)
            .map_or(1e-5, f64::from);
        let get = |name: &str| inits.get(name).map(|(d, _)| d.data.clone());
        let (scale, beta, mean, var) = (
            get(&bn.input[1]).unwrap_or_default(),
            get(&bn.input[2]).unwrap_or_default(),
            get(&bn.input[3]).unwrap_or_default(),
            get(&bn.input[4]).unwrap_or_default(),
        );
        let w = get(&conv.input[1]).unwrap_or_default();
        let out_channels = w.shape().first().copied().unwrap_or(0);
        if [&scale, &beta, &mean, &var].iter().any(|t| t.len() != out_channels) {
            return Err(malformed(format!(
                "BatchNormalization {} has parameters that do not match the {out_channels} \
                 output channels of convolution {}",
                bn.name(),
                conv.name()
            )));
        }
        let s: Vec<f64> = scale.iter().zip(var.iter()).map(|(g, v)| g / (v + eps).sqrt()).collect();
        let mut folded_w = w.clone();
        for (o, mut slab) in folded_w.axis_iter_mut(Axis(0)).enumerate() {
            slab.mapv_inplace(|v| v * s[o]);
        }
        let old_bias = conv
            .input
            .get(2)
            .filter(|b| !b.is_empty())
            .and_then(|b| get(b))
            .unwrap_or_else(|| ArrayD::zeros(IxDyn(&[out_channels])));
        let folded_b: Vec<f64> =
            (0..out_channels).map(|o| (old_bias[o] - mean[o]) * s[o] + beta[o]).collect();
        let folded_b = ArrayD::from_shape_vec(IxDyn(&[out_channels]), folded_b)
            .map_err(|e| malformed(e.to_string()))?;
        // New names, so that a weight shared with another node keeps its value there.
        let w_name = format!("{}.bn_folded", conv.input[1]);
        let b_name = format!("{}.bn_folded_bias", bn.name().replace(' ', "_"));
        let out = bn.output[0].clone();
        let conv = &mut graph.node[c];
        conv.input.truncate(2);
        conv.input[1] = w_name.clone();
        conv.input.push(b_name.clone());
        conv.output[0] = out;
        removed[b] = true;
        inits.insert(w_name.clone(), (Decoded { data: folded_w, dtype: DType::Float }, false));
        inits.insert(b_name.clone(), (Decoded { data: folded_b, dtype: DType::Float }, false));
        graph.initializer.push(tensor::encode(&w_name, &inits[&w_name].0.data, DType::Float));
        graph.initializer.push(tensor::encode(&b_name, &inits[&b_name].0.data, DType::Float));
    }
    let mut i = 0;
    graph.node.retain(|_: &NodeProto| {
        i += 1;
        !removed[i - 1]
    });
    drop_unused(proto, inits);
    Ok(())
}

/// Removes initializers no node reads (and that are not the graph output), so that nothing
/// unused (such as a weight replaced by its folded copy) is ever classified or shared.
pub(crate) fn drop_unused(proto: &mut ModelProto, inits: &mut Inits) {
    let Some(graph) = proto.graph.as_mut() else { return };
    let mut used: std::collections::HashSet<String> =
        graph.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
    used.extend(graph.output.iter().map(|o| o.name().to_string()));
    graph.initializer.retain(|t| used.contains(t.name()));
    graph.input.retain(|v| !inits.contains_key(v.name()) || used.contains(v.name()));
    inits.retain(|name, _| used.contains(name));
}
