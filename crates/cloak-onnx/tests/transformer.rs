//! Transformer encoders exported from PyTorch (the `transformer_*` and `bert_*` fixtures:
//! `nn.TransformerEncoder` post- and pre-norm with ReLU and GELU, a block with LayerNorm
//! written by hand, BERT-style encoders on int64 token ids, one with a public key-padding
//! mask), in plain `f64` and on shares with 2 and 3 parties, against torch's outputs and
//! against the same graph in `f64`.
//!
//! Tolerances:
//! - plain `f64` against torch: `1e-5` absolute. Torch computed in float32 and we in `f64`
//!   from the same float32 weights: a relative `2^-24` per operation over the few hundred
//!   operations of two encoder layers, on values below 5 (measured up to `5e-7`).
//! - private against the same graph in `f64`: `1.2e-3 (1 + max |y|)`. Each LayerNorm's
//!   inverse square root is off by up to `4.9e-4` relative (its degree-3 series, documented in
//!   `cloak-mpc`), which scales the normalised row: the output carries that of the last
//!   normalisation on values up to `max |y|`, and as much again from the earlier ones (a
//!   scale error of a row ahead of a residual is only partly removed by the next
//!   normalisation). Softmax (a few units `u = 2^-16`), erf (`3e-5`), tanh (`1e-4`) and the
//!   truncations of the products (a few `u` each, over sums of 16 to 48 terms) add about
//!   `1e-4`. Measured: up to `1.9e-3` on encoder outputs of size 3.8 (`3.9e-4 (1 + max |y|)`),
//!   and `1.1e-4` on the BERT-style classifiers' logits of size 0.4. The hand-written
//!   LayerNorm run literally (a square root and a division, `inv_sqrt` off) measures `2.1e-4`.
//! - private against torch: the sum of the two.

mod common;

use cloak_autograd::{Backend, Plain, Secure, Var};
use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_nn::{Module, ModuleExt};
use cloak_onnx::proto::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    attribute_proto::AttributeType,
};
use cloak_onnx::{ImportOptions, InputKind, OnnxError, OnnxModel};
use common::Fixture;
use ndarray::ArrayD;
use protobuf::Message;

const PLAIN_TOL: f64 = 1e-5;
const PRIVATE_REL: f64 = 1.2e-3;

fn cases() -> Vec<Fixture> {
    let all: Vec<Fixture> = common::all()
        .into_iter()
        .filter(|f| f.name.starts_with("transformer_") || f.name.starts_with("bert_"))
        .collect();
    assert_eq!(all.len(), 16, "eight cases, each from both exporters");
    all
}

fn max_abs(a: &ArrayD<f64>) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// The model's output on the plain backend for `ids` (or real inputs), reshaped like torch's.
fn plain(model: &OnnxModel, input: &ArrayD<f64>) -> Result<ArrayD<f64>, OnnxError> {
    let shape = input.shape().to_vec();
    let net = model.build(&Plain, &shape)?;
    net.load_state(0, model.weights())?;
    let encoded = model.encode_input(input)?;
    let y = net.forward_observed(&Var::constant(&Plain, encoded), &mut |_| {})?;
    Ok(y.value())
}

/// The output revealed to the data owner (party 1) of a private run with `parties`; the
/// model owner is party 0, the others see only the model's public part.
fn private(f: &Fixture, model: &OnnxModel, input: &ArrayD<f64>, parties: usize) -> ArrayD<f64> {
    let shape = input.shape().to_vec();
    let encoded_shape = model.encoded_input_shape(&shape);
    let encoded = model.encode_input(input).expect("valid input");
    let mut public = OnnxModel::from_public_bytes(&model.public_bytes()).expect("public part");
    f.set_public(&mut public).expect("public inputs");
    let outcomes = run_local_typed(parties, &SessionConfig::default(), |s| {
        let run = || -> Result<Option<ArrayD<f64>>, Box<dyn std::error::Error + Send + Sync>> {
            let b = Secure::new(s);
            let mine = if s.rank() == 0 { model } else { &public };
            let net = mine.build(&b, &shape)?;
            net.load_state(0, if s.rank() == 0 { model.weights() } else { None })?;
            let x = b.input(1, (s.rank() == 1).then_some(&encoded), &encoded_shape)?;
            let y = net.forward(&Var::constant(&b, x))?;
            Ok(b.reveal_to(&y.value(), 1)?)
        };
        run()
    });
    let mut out = None;
    for (rank, o) in outcomes.into_iter().enumerate() {
        match o {
            Ok(Some(y)) if rank == 1 => out = Some(y),
            Ok(None) if rank != 1 => {}
            Ok(_) => panic!("{}: party {rank} got the wrong view of the output", f.name),
            Err(e) => panic!("{}: party {rank}: {e}", f.name),
        }
    }
    out.expect("revealed")
}

#[test]
fn encoders_match_torch_in_f64() {
    for f in cases() {
        let model = f.load().expect("loads");
        let y = plain(&model, &f.input).expect("runs");
        let y = y.into_shape_with_order(f.expected.shape()).expect("torch's shape");
        let err = common::max_abs_diff(&y, &f.expected);
        println!("{:<55} plain err {err:.2e}", f.name);
        assert!(err <= PLAIN_TOL, "{}: {err:.3e} from torch", f.name);
    }
}

fn check_private(parties: usize) {
    for f in cases() {
        let model = f.load().expect("loads");
        let reference = plain(&model, &f.input).expect("runs");
        let y = private(&f, &model, &f.input, parties);
        let scale = max_abs(&reference);
        let tol = PRIVATE_REL * (1.0 + scale);
        let err = common::max_abs_diff(&y, &reference);
        let y = y.into_shape_with_order(f.expected.shape()).expect("torch's shape");
        let torch_err = common::max_abs_diff(&y, &f.expected);
        println!(
            "{:<55} {parties}p err {err:.2e} (torch {torch_err:.2e}) tol {tol:.1e} scale {scale:.2}",
            f.name
        );
        assert!(err <= tol, "{}: {err:.3e} from f64 with {parties} parties", f.name);
        assert!(torch_err <= tol + PLAIN_TOL, "{}: {torch_err:.3e} from torch", f.name);
    }
}

#[test]
fn encoders_privately_with_two_parties() {
    check_private(2);
}

#[test]
fn encoders_privately_with_three_parties() {
    check_private(3);
}

fn fixture(name: &str) -> Fixture {
    common::all().into_iter().find(|f| f.name == name).expect("fixture present")
}

#[test]
fn token_ids_are_checked_by_the_data_owner() {
    let f = fixture("bert_first_token.ts.onnx");
    let model = f.load().expect("loads");
    assert_eq!(model.input_kind(), InputKind::TokenIds { vocab: 50 });
    assert_eq!(model.encoded_input_shape(&[2, 7]), vec![2, 7, 50]);
    let one_hot = model.encode_input(&f.input).expect("valid ids");
    for (row, &id) in one_hot.rows().into_iter().zip(f.input.iter()) {
        let hot: Vec<usize> = (0..50).filter(|&k| row[k] != 0.0).collect();
        assert_eq!(hot, vec![id as usize]);
        assert_eq!(row.sum(), 1.0);
    }
    let cases = [
        (50.0, "not below"),
        (57.0, "not below"),
        (-3.0, "negative"),
        (2.5, "not an integer"),
        (f64::NAN, "not an integer"),
        (f64::INFINITY, "not an integer"),
    ];
    for (bad, why) in cases {
        let mut ids = f.input.clone();
        ids[[1, 3]] = bad;
        match model.encode_input(&ids) {
            Err(OnnxError::Input { reason }) => {
                assert!(reason.contains(why) && reason.contains("[1, 3]"), "{reason}");
                // Errors name the position, never the value (the vocabulary size is public).
                assert!(bad == 50.0 || !reason.contains(&bad.to_string()), "{reason}");
            }
            other => panic!("id {bad}: {other:?}"),
        }
    }
    // The graph takes the one-hot, not the ids.
    let net = model.build(&Plain, &[2, 7]).expect("builds");
    assert_eq!(net.encoded_input_shape(), &[2, 7, 50]);
    let raw = Var::constant(&Plain, f.input.clone());
    assert!(matches!(net.forward_observed(&raw, &mut |_| {}), Err(OnnxError::Input { .. })));
}

#[test]
fn public_inputs_are_required_and_checked() {
    let f = fixture("bert_key_padding_mask.ts.onnx");
    let mut model = OnnxModel::load(&f.file).expect("loads");
    let names: Vec<&str> = model.public_inputs().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["key_padding_mask"]);
    let unset = model.build(&Plain, &[2, 7]);
    assert!(matches!(unset, Err(OnnxError::Input { ref reason }) if reason.contains("no value")));
    let mask = &f.public[0].1;
    let mut not_bool = mask.clone();
    not_bool[[0, 0]] = 2.0;
    for (name, value) in [("mask", mask.clone()), ("key_padding_mask", not_bool)] {
        assert!(matches!(model.set_public_input(name, &value), Err(OnnxError::Input { .. })));
    }
    let wrong_shape = ArrayD::zeros(ndarray::IxDyn(&[2, 6]));
    assert!(model.set_public_input("key_padding_mask", &wrong_shape).is_err());
    model.set_public_input("key_padding_mask", mask).expect("the fixture's mask");
    model.build(&Plain, &[2, 7]).expect("builds");
}

/// The mask is folded before any party starts (nothing of it runs), and it is applied: the
/// ids at padded positions do not change the output, and without padding the output differs.
#[test]
fn key_padding_mask_is_folded_and_applied() {
    let f = fixture("bert_key_padding_mask.ts.onnx");
    let model = f.load().expect("loads");
    let net = model.build(&Plain, &[2, 7]).expect("builds");
    let ops: Vec<&str> = net.steps().iter().map(|(_, op)| *op).collect();
    for folded in ["Where", "Not", "Equal", "Cast", "Expand", "ConstantOfShape"] {
        assert!(!ops.contains(&folded), "{folded} runs: {ops:?}");
    }
    let y = plain(&model, &f.input).expect("runs");
    let mut other = f.input.clone();
    for t in 4..7 {
        other[[1, t]] = ((other[[1, t]] as usize + 17) % 50) as f64;
    }
    let y_other = plain(&model, &other).expect("runs");
    assert!(common::max_abs_diff(&y, &y_other) < 1e-12, "padded ids leak into the output");
    let private_other = private(&f, &model, &other, 2);
    let tol = PRIVATE_REL * (1.0 + max_abs(&y));
    assert!(common::max_abs_diff(&private_other, &y) <= tol);

    let mut unmasked = model.clone();
    unmasked
        .set_public_input("key_padding_mask", &ArrayD::zeros(f.public[0].1.raw_dim()))
        .expect("no padding");
    let y_unmasked = plain(&unmasked, &f.input).expect("runs");
    assert!(common::max_abs_diff(&y, &y_unmasked) > 1e-3, "the mask changes nothing");
}

/// Rounds and bytes party 0 sends in each node of a two-party run, with the node's operator.
fn per_node_costs(model: &OnnxModel, f: &Fixture) -> (Vec<(String, u64, u64)>, ArrayD<f64>) {
    let shape = f.input.shape().to_vec();
    let encoded = model.encode_input(&f.input).expect("valid input");
    let encoded_shape = encoded.shape().to_vec();
    let outcomes = run_local_typed(2, &SessionConfig::default(), |s| {
        let run = || -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            let b = Secure::new(s);
            let net = model.build(&b, &shape)?;
            net.load_state(0, if s.rank() == 0 { model.weights() } else { None })?;
            let x = b.input(1, (s.rank() == 1).then_some(&encoded), &encoded_shape)?;
            s.reset_stats();
            let mut nodes = Vec::new();
            let mut last = s.comm_stats().total();
            let y = net.forward_observed(&Var::constant(&b, x), &mut |step| {
                let now = s.comm_stats().total();
                nodes.push((
                    step.op.to_string(),
                    now.rounds - last.rounds,
                    now.bytes_sent - last.bytes_sent,
                ));
                last = now;
            })?;
            Ok((nodes, b.reveal(&y.value())?))
        };
        run()
    });
    outcomes.into_iter().next().expect("party 0").expect("runs")
}

/// The embedding lookup by private ids is one Beaver matrix product and its truncation: two
/// rounds, and each party sends the masked one-hot and the masked table, `8 (n vocab + vocab
/// d)` bytes, then the masked output, `8 n d`.
#[test]
fn private_lookup_is_one_product() {
    let f = fixture("bert_first_token.ts.onnx");
    let model = f.load().expect("loads");
    let (nodes, _) = per_node_costs(&model, &f);
    let gathers: Vec<&(String, u64, u64)> = nodes.iter().filter(|n| n.0 == "Gather").collect();
    let (n, vocab, d) = (14u64, 50u64, 16u64);
    let bytes = 8 * (n * vocab + vocab * d + n * d);
    println!("lookups: {gathers:?}; expected 2 rounds, {bytes} bytes");
    let lookup = gathers.first().expect("the token lookup runs");
    assert_eq!(lookup.1, 2, "rounds");
    assert_eq!(lookup.2, bytes, "bytes");
}

/// LayerNorm written by hand: by default `(x - mean) / sqrt(var + eps)` runs as one inverse
/// square root and a product; with `inv_sqrt` off the literal square root and division run,
/// each LayerNorm then taking a reciprocal more (28 rounds with its truncations). Both match
/// the graph in `f64`.
#[test]
fn handwritten_layernorm_runs_as_inverse_square_root() {
    let f = fixture("transformer_block_handwritten_layernorm.ts.onnx");
    let folded = f.load().expect("loads");
    let mut literal = OnnxModel::load_with(
        &f.file,
        &ImportOptions { inv_sqrt: false, ..ImportOptions::default() },
    )
    .expect("loads");
    f.set_public(&mut literal).expect("no public inputs");
    let reference = plain(&literal, &f.input).expect("runs");
    let ops = |m: &OnnxModel| -> Vec<String> {
        let net = m.build(&Plain, f.input.shape()).expect("builds");
        net.steps().iter().map(|(_, op)| op.to_string()).collect()
    };
    let (ops_folded, ops_literal) = (ops(&folded), ops(&literal));
    let count = |ops: &[String], op: &str| ops.iter().filter(|o| *o == op).count();
    assert_eq!((count(&ops_literal, "Sqrt"), count(&ops_folded, "Sqrt")), (2, 0));
    assert_eq!(count(&ops_folded, "Pow") - count(&ops_literal, "Pow"), 2);
    let rounds = |m: &OnnxModel| -> (u64, ArrayD<f64>) {
        let (nodes, y) = per_node_costs(m, &f);
        (nodes.iter().map(|n| n.1).sum(), y)
    };
    let (r_folded, y_folded) = rounds(&folded);
    let (r_literal, y_literal) = rounds(&literal);
    let scale = max_abs(&reference);
    let (e_folded, e_literal) =
        (common::max_abs_diff(&y_folded, &reference), common::max_abs_diff(&y_literal, &reference));
    println!(
        "rounds {r_folded} folded, {r_literal} literal; errors {e_folded:.2e}, {e_literal:.2e}"
    );
    assert_eq!(r_literal - r_folded, 2 * 28, "a reciprocal saved per LayerNorm");
    assert!(e_folded <= PRIVATE_REL * (1.0 + scale) && e_literal <= PRIVATE_REL * (1.0 + scale));
}

/// A graph `y = op(table, ids)` (or `op(ids, ...)`) with an int64 input `ids` of shape [2, 3]
/// and a 5x4 table.
fn ids_model(nodes: Vec<NodeProto>, ids_type: i32) -> Result<OnnxModel, OnnxError> {
    let mut g = GraphProto::new();
    g.node = nodes;
    let mut table = TensorProto::new();
    table.name = Some("table".into());
    table.dims = vec![5, 4];
    table.data_type = Some(1);
    table.float_data = (0..20).map(|v| v as f32 * 0.25).collect();
    g.initializer.push(table);
    g.input.push(common::typed_value_info("ids", &[2, 3], ids_type));
    g.output.push(common::value_info("y", &[2, 3, 4]));
    let mut m = ModelProto::new();
    m.ir_version = Some(8);
    let mut o = OperatorSetIdProto::new();
    o.version = Some(17);
    m.opset_import.push(o);
    m.graph = Some(g).into();
    OnnxModel::from_bytes(&m.write_to_bytes().expect("serialises"))
}

fn op(kind: &str, inputs: &[&str], axis: Option<i64>) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = Some(kind.into());
    n.name = Some(format!("{kind}_node"));
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = vec!["y".into()];
    if let Some(a) = axis {
        let mut attr = AttributeProto::new();
        attr.name = Some("axis".into());
        attr.type_ = Some(AttributeType::INT.into());
        attr.i = Some(a);
        n.attribute.push(attr);
    }
    n
}

/// Integer inputs are token ids: read only by an embedding lookup along axis 0 of a model
/// tensor; anything else is refused when the model is read, naming the node.
#[test]
fn token_ids_are_read_only_by_lookups() {
    let lookup = ids_model(vec![op("Gather", &["table", "ids"], None)], 7).expect("a lookup");
    assert_eq!(lookup.input_kind(), InputKind::TokenIds { vocab: 5 });
    let ids = ArrayD::from_shape_vec(ndarray::IxDyn(&[2, 3]), vec![0.0, 4.0, 2.0, 2.0, 1.0, 3.0])
        .expect("shape");
    let y = plain(&lookup, &ids).expect("runs");
    for (k, &id) in ids.iter().enumerate() {
        for j in 0..4 {
            assert_eq!(y[[k / 3, k % 3, j]], (id * 4.0 + j as f64) * 0.25);
        }
    }
    // Size (and Shape) see the ids' public shape: y = table[ids] * size(ids).
    let mut size = op("Size", &["ids"], None);
    size.output = vec!["n".into()];
    let mut gather = op("Gather", &["table", "ids"], None);
    gather.output = vec!["g".into()];
    let scaled = ids_model(vec![size, gather, op("Mul", &["g", "n"], None)], 7).expect("reads");
    let y6 = plain(&scaled, &ids).expect("runs");
    assert!(common::max_abs_diff(&y6, &y.mapv(|v| v * 6.0)) < 1e-12);
    let refused = [
        (vec![op("Add", &["ids", "ids"], None)], 7, "Add"),
        (vec![op("Gather", &["table", "ids"], Some(1))], 7, "Gather"),
        (vec![op("Gather", &["ids", "ids"], None)], 7, "Gather"),
        (vec![op("Gather", &["table", "ids"], None)], 9, "boolean"),
    ];
    for (nodes, ty, what) in refused {
        match ids_model(nodes, ty) {
            Err(OnnxError::Unsupported { nodes }) => {
                assert!(nodes.iter().any(|n| n.op_type == what && n.reason.contains("token ids")))
            }
            Err(OnnxError::Input { reason }) => assert!(reason.contains(what), "{reason}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}
