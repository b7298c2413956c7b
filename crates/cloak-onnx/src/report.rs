//! The model report: what a model is and what running it privately will cost, before any
//! party starts.
//!
//! Counts come from the dry run (shapes of every operand). The estimate of rounds and bytes
//! is for two parties and adds, node by node, the cost of Cloak's protocols: a Beaver
//! product sends both masked operands (8 bytes a word) in one round, and its truncation
//! the masked output in another (dealer pairs, the default); comparisons and the
//! non-linear functions cost the rounds and bytes per element in [`COSTS`], measured from
//! the protocols (and checked against real runs in the tests). Nodes run one after another,
//! so their rounds add up.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{OnnxError, Result, UnsupportedNode};
use crate::graph::NodeRecord;
use crate::model::OnnxModel;

/// Rounds and bytes sent per element by one of two parties, per non-linear kind.
#[derive(Clone, Copy, Debug)]
pub struct KindCost {
    /// The kind's name in the report.
    pub kind: &'static str,
    /// Rounds of one call.
    pub rounds: u64,
    /// Bytes one party sends per element.
    pub bytes_per_element: f64,
}

/// Two-party costs of Cloak's default protocols (16 fractional bits), measured and pinned by
/// `tests/costs.rs`: `compare` is a ReLU (comparison and product by the bit), `clamp` a
/// two-sided clamp, `sqrt` an inverse square root.
pub const COSTS: &[KindCost] = &[
    KindCost { kind: "compare", rounds: 4, bytes_per_element: 12.4 },
    KindCost { kind: "clamp", rounds: 4, bytes_per_element: 24.8 },
    KindCost { kind: "exp", rounds: 14, bytes_per_element: 208.0 },
    KindCost { kind: "sigmoid", rounds: 19, bytes_per_element: 625.0 },
    KindCost { kind: "reciprocal", rounds: 28, bytes_per_element: 516.0 },
    KindCost { kind: "sqrt", rounds: 21, bytes_per_element: 420.0 },
    KindCost { kind: "log", rounds: 23, bytes_per_element: 468.0 },
];

fn cost(kind: &str) -> KindCost {
    COSTS.iter().copied().find(|c| c.kind == kind).unwrap_or(KindCost {
        kind: "other",
        rounds: 20,
        bytes_per_element: 700.0,
    })
}

/// How often an operator appears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpCount {
    /// The operator type.
    pub op: String,
    /// Nodes of this type.
    pub count: usize,
    /// Of which folded before running (all inputs public).
    pub folded: usize,
}

/// What [`OnnxModel::report`] says about a model.
#[derive(Clone, Debug)]
pub struct ModelReport {
    /// The opset.
    pub opset: i64,
    /// The input's name and shape.
    pub input: (String, Vec<usize>),
    /// The output's name and shape (empty when unsupported nodes stopped the dry run).
    pub output: (String, Vec<usize>),
    /// Operators by type.
    pub ops: Vec<OpCount>,
    /// The owner's trained scalars (secret-shared).
    pub parameters: usize,
    /// Multiply-accumulates of the products (convolutions, matrix products).
    pub macs: u64,
    /// Elements through each kind of non-linear protocol.
    pub nonlinear: BTreeMap<String, u64>,
    /// Estimated rounds (two parties).
    pub rounds: u64,
    /// Estimated bytes each of two parties sends.
    pub bytes_per_party: u64,
    /// Nodes the importer cannot run.
    pub unsupported: Vec<UnsupportedNode>,
}

fn numel(s: &[usize]) -> u64 {
    s.iter().map(|&d| d as u64).product()
}

/// A node's products (MACs, Beaver bytes and rounds) and its non-linear elements.
fn node_cost(
    r: &NodeRecord,
    macs: &mut u64,
    bytes: &mut f64,
    rounds: &mut u64,
    nl: &mut BTreeMap<String, u64>,
) {
    if r.folded {
        return;
    }
    let in_n = |i: usize| r.input_shapes.get(i).and_then(|s| s.as_ref()).map_or(0, |s| numel(s));
    let in_s = |i: usize| r.input_shapes.get(i).and_then(|s| s.clone()).unwrap_or_default();
    let private = |i: usize| r.input_private.get(i).copied().unwrap_or(false);
    let out_n = r.output_shapes.first().map_or(0, |s| numel(s));
    // Both masked operands in one round, then the truncation of the product (dealer
    // pairs: one more round opening the output).
    let beaver = |a: u64, b: u64, bytes: &mut f64, rounds: &mut u64| {
        *bytes += 8.0 * (a + b + out_n) as f64;
        *rounds += 2;
    };
    let mut add = |kind: &str, n: u64, bytes: &mut f64, rounds: &mut u64| {
        let c = cost(kind);
        *nl.entry(kind.to_string()).or_default() += n;
        *bytes += c.bytes_per_element * n as f64;
        *rounds += c.rounds;
    };
    let mut compare_tree = |n: u64, k: u64, bytes: &mut f64, rounds: &mut u64| {
        let levels = u64::from(64 - k.saturating_sub(1).leading_zeros());
        add("compare", n, bytes, rounds);
        *rounds += levels.saturating_sub(1) * cost("compare").rounds;
    };
    match r.op.as_str() {
        "Conv" => {
            let w = in_s(1);
            *macs += out_n * w[1..].iter().map(|&d| d as u64).product::<u64>();
            if private(0) && private(1) {
                beaver(in_n(0), in_n(1), bytes, rounds);
            }
        }
        "ConvTranspose" => {
            let w = in_s(1);
            *macs += in_n(0) * w[1..].iter().map(|&d| d as u64).product::<u64>();
            if private(0) && private(1) {
                beaver(in_n(0), in_n(1), bytes, rounds);
            }
        }
        "MatMul" | "Gemm" => {
            let a = in_s(0);
            let rows = r.output_shapes.first().and_then(|s| s.first().copied()).unwrap_or(1).max(1);
            let k = if r.op == "Gemm" {
                in_n(0) as usize / rows
            } else {
                a.last().copied().unwrap_or(1)
            };
            *macs += out_n * k as u64;
            if private(0) && private(1) {
                beaver(in_n(0), in_n(1), bytes, rounds);
            }
        }
        "Mul" if private(0) && private(1) => beaver(out_n, out_n, bytes, rounds),
        "Div" if private(1) => {
            add("reciprocal", in_n(1), bytes, rounds);
            if private(0) {
                beaver(out_n, out_n, bytes, rounds);
            }
        }
        "Relu" | "LeakyRelu" | "Max" | "Min" => add("compare", out_n, bytes, rounds),
        "Clip" | "HardSigmoid" => add("clamp", out_n, bytes, rounds),
        "HardSwish" => {
            add("clamp", out_n, bytes, rounds);
            beaver(out_n, out_n, bytes, rounds);
        }
        "Sigmoid" | "Tanh" | "Erf" => add("sigmoid", out_n, bytes, rounds),
        "Gelu" => {
            add("sigmoid", out_n, bytes, rounds);
            beaver(out_n, out_n, bytes, rounds);
        }
        "Exp" => add("exp", out_n, bytes, rounds),
        "Log" => add("log", out_n, bytes, rounds),
        "Sqrt" => add("sqrt", out_n, bytes, rounds),
        "Reciprocal" => add("reciprocal", out_n, bytes, rounds),
        "Pow" => match r.exponent {
            Some(e) if e == 0.0 || e == 1.0 => {}
            Some(e) if e == 0.5 || e == -0.5 => add("sqrt", out_n, bytes, rounds),
            Some(e) if e.fract() == 0.0 && e.abs() <= 64.0 => {
                // Square-and-multiply: one product per bit below the top, one more per set
                // bit; a negative exponent takes a reciprocal after.
                let n = e.abs() as u64;
                let products = u64::from(63 - n.leading_zeros()) + u64::from(n.count_ones()) - 1;
                for _ in 0..products {
                    beaver(out_n, out_n, bytes, rounds);
                }
                if e < 0.0 {
                    add("reciprocal", out_n, bytes, rounds);
                }
            }
            _ => {
                add("log", out_n, bytes, rounds);
                add("exp", out_n, bytes, rounds);
            }
        },
        // An embedding lookup by private token ids: one-hot (ids x vocab) times the table.
        "Gather" if private(1) => {
            let rest = in_n(0) / in_s(0).first().copied().unwrap_or(1).max(1) as u64;
            *macs += in_n(1) * rest;
            if private(0) {
                beaver(in_n(1), in_n(0), bytes, rounds);
            }
        }
        "MaxPool" => {
            let k: u64 = r.kernel.iter().map(|&d| d as u64).product::<u64>().max(1);
            compare_tree(out_n * (k - 1), k, bytes, rounds);
        }
        "GlobalMaxPool" | "ReduceMax" | "ArgMax" => {
            let k = (in_n(0) / out_n.max(1)).max(1);
            compare_tree(in_n(0), k, bytes, rounds);
        }
        "Softmax" | "LogSoftmax" => {
            let shape = in_s(0);
            let axis = r.axis.map_or(shape.len().saturating_sub(1), |a| {
                if a < 0 { (shape.len() as i64 + a).max(0) as usize } else { a as usize }
            });
            let k = shape.get(axis).copied().unwrap_or(1).max(1) as u64;
            let rows = out_n / k;
            // The maximum as the protocol takes it: all pairs for short rows (two
            // comparisons per pair and a product), else the tree.
            let method = cloak_mpc::MaxMethod::for_rows(rows as usize, k as usize);
            if method == cloak_mpc::MaxMethod::Pairwise {
                let pairs = rows * k * (k - 1) / 2;
                add("compare", 2 * pairs, bytes, rounds);
                *rounds += cost("compare").rounds + 1;
                *bytes += 16.0 * out_n as f64;
            } else {
                compare_tree(out_n, k, bytes, rounds);
            }
            let c = cost("exp");
            *bytes += c.bytes_per_element * out_n as f64
                + cost("reciprocal").bytes_per_element * rows as f64;
            *rounds += c.rounds + cost("reciprocal").rounds;
        }
        "BatchNormalization" => {
            if private(4) {
                add("sqrt", in_n(4), bytes, rounds);
            }
            if private(0) && private(1) {
                beaver(out_n, out_n, bytes, rounds);
            }
        }
        "InstanceNormalization" | "LayerNormalization" => {
            let inner = in_s(0).last().copied().unwrap_or(1).max(1) as u64;
            beaver(out_n, out_n, bytes, rounds);
            add("sqrt", out_n / inner, bytes, rounds);
            beaver(out_n, out_n, bytes, rounds);
        }
        _ => {}
    }
}

impl OnnxModel {
    /// Describes the model for inputs of `input_shape` (see [`ModelReport`]). A model with
    /// unsupported nodes still gets a report, listing them all (with counts only, since the
    /// dry run cannot pass them).
    ///
    /// # Errors
    /// An input shape that does not fit, or a node the dry run refuses (attributes, shapes).
    pub fn report(&self, input_shape: &[usize]) -> Result<ModelReport> {
        let graph = self.public.graph.as_ref();
        let mut ops: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let unsupported = self.unsupported();
        let parameters = self.private.iter().map(|p| p.shape.iter().product::<usize>()).sum();
        let mut report = ModelReport {
            opset: self.opset,
            input: (self.input_name.clone(), input_shape.to_vec()),
            output: (self.output_name.clone(), Vec::new()),
            ops: Vec::new(),
            parameters,
            macs: 0,
            nonlinear: BTreeMap::new(),
            rounds: 0,
            bytes_per_party: 0,
            unsupported: unsupported.clone(),
        };
        if !unsupported.is_empty() {
            for n in graph.map(|g| g.node.as_slice()).unwrap_or(&[]) {
                ops.entry(n.op_type().to_string()).or_default().0 += 1;
            }
        } else {
            let plan = match self.plan(input_shape) {
                Ok(p) => p,
                Err(OnnxError::Unsupported { nodes }) => {
                    report.unsupported = nodes;
                    return Ok(report);
                }
                Err(e) => return Err(e),
            };
            let mut bytes = 0.0;
            for r in &plan.records {
                let e = ops.entry(r.op.clone()).or_default();
                e.0 += 1;
                e.1 += usize::from(r.folded);
                node_cost(
                    r,
                    &mut report.macs,
                    &mut bytes,
                    &mut report.rounds,
                    &mut report.nonlinear,
                );
            }
            // A convolution that alone feeds a ReLU rescales and compares from one opening
            // at inference: a round and the rescaling's opening fewer.
            for name in plan.fused_convolutions() {
                if let Some(r) = plan.records.iter().find(|r| r.name == name) {
                    report.rounds = report.rounds.saturating_sub(1);
                    bytes -= 8.0 * r.output_shapes.first().map_or(0, |s| numel(s)) as f64;
                }
            }
            // Sharing the input and revealing the output: one round of the output's size.
            report.rounds += 1;
            bytes += 8.0 * numel(&plan.output_shape) as f64;
            report.bytes_per_party = bytes as u64;
            report.output.1 = plan.output_shape.clone();
        }
        report.ops =
            ops.into_iter().map(|(op, (count, folded))| OpCount { op, count, folded }).collect();
        Ok(report)
    }
}

fn si(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.2} G", v / 1e9),
        v if v >= 1e6 => format!("{:.2} M", v / 1e6),
        v if v >= 1e3 => format!("{:.2} k", v / 1e3),
        v => format!("{v:.0} "),
    }
}

impl fmt::Display for ModelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "opset {}; input {} {:?}; output {} {:?}",
            self.opset, self.input.0, self.input.1, self.output.0, self.output.1
        )?;
        let nodes: usize = self.ops.iter().map(|o| o.count).sum();
        let folded: usize = self.ops.iter().map(|o| o.folded).sum();
        writeln!(f, "nodes: {nodes} ({folded} folded before running)")?;
        let list: Vec<String> = self.ops.iter().map(|o| format!("{} x{}", o.op, o.count)).collect();
        writeln!(f, "operators: {}", list.join(", "))?;
        writeln!(f, "parameters (the model owner's, secret-shared): {}", self.parameters)?;
        if self.unsupported.is_empty() {
            writeln!(f, "multiply-accumulates: {}", si(self.macs as f64))?;
            let nl: Vec<String> = self
                .nonlinear
                .iter()
                .map(|(k, v)| format!("{k} {}", si(*v as f64).trim_end()))
                .collect();
            writeln!(
                f,
                "non-linear elements: {}",
                if nl.is_empty() { "none".to_string() } else { nl.join(", ") }
            )?;
            writeln!(
                f,
                "estimated cost, 2 parties: {} rounds, {}B sent per party",
                self.rounds,
                si(self.bytes_per_party as f64)
            )?;
        } else {
            writeln!(f, "unsupported nodes ({}):", self.unsupported.len())?;
            for u in &self.unsupported {
                writeln!(f, "  {u}")?;
            }
        }
        Ok(())
    }
}
