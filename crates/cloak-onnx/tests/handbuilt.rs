//! Operators no exporter of ours emits, on hand-built models: `Upsample` (deprecated before
//! opset 13, still found in older exports), `Max`/`Min` of two private tensors, and `Where`
//! with a public condition, each in plain f64 against its definition and privately (2
//! parties) within the piecewise-linear tolerance of `private_fixtures.rs` (`3e-4 (1 + |y|)`).

mod common;

use cloak_autograd::{Backend, Plain, Secure, Var};
use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_nn::{Module, ModuleExt};
use cloak_onnx::OnnxModel;
use cloak_onnx::proto::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    attribute_proto::AttributeType,
};
use ndarray::{ArrayD, IxDyn};
use protobuf::Message;

fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = Some(op.into());
    n.name = Some(output.into());
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = vec![output.into()];
    n
}

fn floats(name: &str, dims: &[i64], values: Vec<f32>) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = Some(name.into());
    t.dims = dims.to_vec();
    t.data_type = Some(1);
    t.float_data = values;
    t
}

fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    input: &[i64],
    output: &[i64],
) -> OnnxModel {
    let mut g = GraphProto::new();
    g.node = nodes;
    g.initializer = inits;
    g.input.push(common::value_info("x", input));
    g.output.push(common::value_info("y", output));
    let mut m = ModelProto::new();
    m.ir_version = Some(8);
    let mut o = OperatorSetIdProto::new();
    o.version = Some(13);
    m.opset_import.push(o);
    m.graph = Some(g).into();
    OnnxModel::from_bytes(&m.write_to_bytes().expect("serialises")).expect("imports")
}

fn run_both(m: &OnnxModel, x: &ArrayD<f64>) -> (ArrayD<f64>, ArrayD<f64>) {
    let shape = x.shape().to_vec();
    let net = m.build(&Plain, &shape).expect("builds");
    net.load_state(0, m.weights()).expect("weights");
    let plain = net.forward(&Var::constant(&Plain, x.clone())).expect("runs").value();
    let private = run_local_typed(2, &SessionConfig::default(), |s| {
        let go = || -> Result<ArrayD<f64>, Box<dyn std::error::Error + Send + Sync>> {
            let b = Secure::new(s);
            let net = m.build(&b, &shape)?;
            net.load_state(0, if s.rank() == 0 { m.weights() } else { None })?;
            let xv = Var::constant(&b, b.input(1, (s.rank() == 1).then_some(x), &shape)?);
            Ok(b.reveal(&net.forward(&xv)?.value())?)
        };
        go()
    });
    (plain, private.into_iter().next().unwrap().expect("party 0"))
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>, tol: f64) -> bool {
    a.shape() == b.shape() && a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn upsample_nearest_repeats_rows_and_columns() {
    let mut up = node("Upsample", &["x", "s"], "y");
    let mut mode = AttributeProto::new();
    mode.name = Some("mode".into());
    mode.type_ = Some(protobuf::EnumOrUnknown::new(AttributeType::STRING));
    mode.s = Some(b"nearest".to_vec());
    up.attribute.push(mode);
    let m = model(
        vec![up],
        vec![floats("s", &[4], vec![1.0, 1.0, 2.0, 3.0])],
        &[1, 1, 2, 2],
        &[1, 1, 4, 6],
    );
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![1.0, -2.0, 3.5, 0.25]).unwrap();
    let want = ArrayD::from_shape_fn(IxDyn(&[1, 1, 4, 6]), |i| x[[0, 0, i[2] / 2, i[3] / 3]]);
    let (plain, private) = run_both(&m, &x);
    assert_eq!(plain, want);
    assert!(close(&private, &want, 3e-4 * 4.5), "{private:?}");
}

#[test]
fn max_min_of_private_tensors_and_where_with_a_public_condition() {
    // y = Where(cond, Max(x, w), Min(x, w)) with w the owner's weight and cond public.
    let cond = {
        let mut t = TensorProto::new();
        t.name = Some("c".into());
        t.dims = vec![6];
        t.data_type = Some(9); // BOOL
        t.int32_data = vec![1, 0, 1, 0, 1, 1];
        t
    };
    let m = model(
        vec![
            node("Max", &["x", "w"], "hi"),
            node("Min", &["x", "w"], "lo"),
            node("Where", &["c", "hi", "lo"], "y"),
        ],
        vec![floats("w", &[6], vec![0.5, 0.5, -1.0, 2.0, 0.0, 3.0]), cond],
        &[6],
        &[6],
    );
    assert_eq!(m.private_tensors().len(), 1, "w is the owner's; the condition is public");
    let x = ArrayD::from_shape_vec(IxDyn(&[6]), vec![1.0, -2.0, -0.5, 2.5, -0.75, 1.0]).unwrap();
    let w = [0.5, 0.5, -1.0, 2.0, 0.0, 3.0];
    let c = [true, false, true, false, true, true];
    let want = ArrayD::from_shape_fn(IxDyn(&[6]), |i| {
        let (a, b): (f64, f64) = (x[[i[0]]], w[i[0]]);
        if c[i[0]] { a.max(b) } else { a.min(b) }
    });
    let (plain, private) = run_both(&m, &x);
    assert_eq!(plain, want);
    assert!(close(&private, &want, 3e-4 * 4.0), "{private:?}");
}
