//! Malformed and hostile files: every one is a typed error, never a panic or a huge
//! allocation.

mod common;

use cloak_autograd::Plain;
use cloak_onnx::proto::onnx::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use cloak_onnx::{OnnxError, OnnxModel};
use cloak_ring::testing::TestRng;
use protobuf::Message;

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = Some(op.into());
    n.name = Some(format!("{op}_{}", outputs[0]));
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n
}

fn model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, opset: i64) -> ModelProto {
    let mut g = GraphProto::new();
    g.node = nodes;
    g.initializer = inits;
    g.input.push(common::value_info("x", &[1, 4]));
    g.output.push(common::value_info("y", &[1, 4]));
    let mut m = ModelProto::new();
    m.ir_version = Some(8);
    let mut o = OperatorSetIdProto::new();
    o.version = Some(opset);
    m.opset_import.push(o);
    m.graph = Some(g).into();
    m
}

fn bytes(m: &ModelProto) -> Vec<u8> {
    m.write_to_bytes().expect("serialises")
}

fn weight(name: &str, dims: &[i64], values: Vec<f32>) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = Some(name.into());
    t.dims = dims.to_vec();
    t.data_type = Some(1);
    t.float_data = values;
    t
}

#[test]
fn truncated_and_random_bytes_are_decode_errors() {
    let good = std::fs::read(common::fixtures().join("relu.ts.onnx")).expect("fixture");
    for cut in [1, 7, good.len() / 3, good.len() / 2, good.len() - 1] {
        let r = OnnxModel::from_bytes(&good[..cut]);
        assert!(r.is_err(), "a file cut at {cut} of {} bytes was accepted", good.len());
    }
    // Deterministic pseudo-random bytes.
    let mut rng = TestRng::new(0x1234_5678);
    for len in [0usize, 1, 16, 1000, 100_000] {
        let junk: Vec<u8> = rng.words(len).into_iter().map(|w| w as u8).collect();
        assert!(OnnxModel::from_bytes(&junk).is_err(), "{len} random bytes accepted");
    }
    assert!(matches!(OnnxModel::from_bytes(&[]), Err(OnnxError::Decode { .. })));
}

#[test]
fn huge_declared_sizes_are_refused_before_allocating() {
    let huge = weight("w", &[1 << 40], Vec::new());
    let m = model(vec![node("Add", &["x", "w"], &["y"])], vec![huge], 13);
    match OnnxModel::from_bytes(&bytes(&m)) {
        Err(OnnxError::TooLarge { name, declared, .. }) => {
            assert_eq!(name, "w");
            assert_eq!(declared, 1 << 40);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // The same in a Constant node's attribute: refused when the plan is made.
    let mut c = node("Constant", &[], &["w"]);
    let mut a = cloak_onnx::proto::onnx::AttributeProto::new();
    a.name = Some("value".into());
    a.type_ = Some(protobuf::EnumOrUnknown::new(
        cloak_onnx::proto::onnx::attribute_proto::AttributeType::TENSOR,
    ));
    a.t = Some(weight("w", &[1 << 20, 1 << 20], Vec::new())).into();
    c.attribute.push(a);
    let m = model(vec![c, node("Add", &["x", "w"], &["y"])], vec![], 13);
    let parsed = OnnxModel::from_bytes(&bytes(&m)).expect("parses");
    assert!(matches!(parsed.build(&Plain, &[1, 4]), Err(OnnxError::TooLarge { .. })));
}

#[test]
fn wrong_tensor_sizes_unknown_types_cycles_and_dangling_inputs() {
    let short = weight("w", &[1, 4], vec![1.0, 2.0]);
    let m = model(vec![node("Add", &["x", "w"], &["y"])], vec![short], 13);
    let e = OnnxModel::from_bytes(&bytes(&m)).unwrap_err();
    assert!(e.to_string().contains("need 4 elements"), "{e}");

    let mut odd = weight("w", &[1, 4], Vec::new());
    odd.data_type = Some(8); // STRING
    let m = model(vec![node("Add", &["x", "w"], &["y"])], vec![odd], 13);
    assert!(matches!(OnnxModel::from_bytes(&bytes(&m)), Err(OnnxError::DataType { .. })));

    let cyc = model(vec![node("Relu", &["z"], &["y"]), node("Relu", &["y"], &["z"])], vec![], 13);
    let e = OnnxModel::from_bytes(&bytes(&cyc)).unwrap_err();
    assert!(e.to_string().contains("cycle"), "{e}");

    let dangling = model(vec![node("Add", &["x", "nowhere"], &["y"])], vec![], 13);
    let e = OnnxModel::from_bytes(&bytes(&dangling)).unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");

    let old = model(vec![node("Relu", &["x"], &["y"])], vec![], 9);
    assert!(matches!(
        OnnxModel::from_bytes(&bytes(&old)),
        Err(OnnxError::Opset { version: 9, .. })
    ));
}

#[test]
fn every_unsupported_node_is_listed_by_name_and_type() {
    let m = model(
        vec![
            node("Relu", &["x"], &["a"]),
            node("Celu", &["a"], &["b"]),
            node("NonMaxSuppression", &["b"], &["c"]),
            node("Relu", &["c"], &["y"]),
        ],
        vec![],
        13,
    );
    let model = OnnxModel::from_bytes(&bytes(&m)).expect("parses");
    let bad = model.unsupported();
    let names: Vec<(&str, &str)> =
        bad.iter().map(|u| (u.name.as_str(), u.op_type.as_str())).collect();
    assert_eq!(names, vec![("Celu_b", "Celu"), ("NonMaxSuppression_c", "NonMaxSuppression")]);
    match model.build(&Plain, &[1, 4]) {
        Err(OnnxError::Unsupported { nodes }) => assert_eq!(nodes.len(), 2),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let report = model.report(&[1, 4]).expect("a report even with unsupported nodes");
    assert_eq!(report.unsupported.len(), 2);
    assert!(report.to_string().contains("NonMaxSuppression_c (NonMaxSuppression)"));
}

#[test]
fn attribute_errors_name_the_node_and_attribute() {
    let mut r = node("Resize", &["x", "", "s"], &["y"]);
    let mut a = cloak_onnx::proto::onnx::AttributeProto::new();
    a.name = Some("mode".into());
    a.type_ = Some(protobuf::EnumOrUnknown::new(
        cloak_onnx::proto::onnx::attribute_proto::AttributeType::STRING,
    ));
    a.s = Some(b"cubic".to_vec());
    r.attribute.push(a);
    let mut scales = weight("s", &[2], vec![1.0, 2.0]);
    scales.name = Some("s".into());
    let m = model(vec![r], vec![scales], 13);
    let model = OnnxModel::from_bytes(&bytes(&m)).expect("parses");
    match model.build(&Plain, &[1, 4]) {
        Err(OnnxError::Attribute { node, op, attribute, .. }) => {
            assert_eq!(
                (node.as_str(), op.as_str(), attribute.as_str()),
                ("Resize_y", "Resize", "mode")
            );
        }
        other => panic!("expected an attribute error, got {other:?}"),
    }
}

#[test]
fn input_shapes_that_do_not_fit_are_input_errors() {
    let m = model(vec![node("Relu", &["x"], &["y"])], vec![], 13);
    let model = OnnxModel::from_bytes(&bytes(&m)).expect("parses");
    assert!(matches!(model.build(&Plain, &[1, 5]), Err(OnnxError::Input { .. })));
    assert!(matches!(model.build(&Plain, &[4]), Err(OnnxError::Input { .. })));
    assert!(model.build(&Plain, &[1, 4]).is_ok());
}
