//! The `cloak` binary end to end, as processes: `inspect`, `infer` with both dealers (its
//! parties are processes over loopback TCP), and every kind of bad input, each of which must
//! end in one `error:` line and a non-zero exit, never a panic.

use std::path::PathBuf;
use std::process::{Child, Command, Output};

use cloak::onnx::proto::onnx::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TypeProto, ValueInfoProto,
    tensor_shape_proto, type_proto,
};
use protobuf::Message;

mod common;

use common::{digits, model, models};

fn cloak(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloak"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("the cloak binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A file of this test process's own in the temporary directory (removed when dropped).
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!("cloak-cli-test-{}-{name}", std::process::id())))
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A failure as the user must see it: a non-zero exit and one line on stderr, `error: ...`
/// containing `expected`, no panic, no backtrace. Returns the line.
fn assert_clean_failure(out: &Output, expected: &str) -> String {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "succeeded; stdout:\n{}", text(&out.stdout));
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "stderr is not one line:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(expected), "expected `{expected}` in:\n{stderr}");
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "internal error"] {
        assert!(!stderr.contains(bad), "{bad} in stderr:\n{stderr}");
    }
    lines[0].to_string()
}

/// The predicted class and the label (`-` if none) of each row of the predictions table.
fn predictions(stdout: &str) -> Vec<(usize, String)> {
    let start = stdout
        .lines()
        .position(|l| l.contains("row  label  predictions"))
        .expect("a predictions table");
    stdout
        .lines()
        .skip(start + 1)
        .map_while(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let (_, label, class) = (w.first()?.parse::<usize>().ok()?, w.get(1)?, w.get(2)?);
            Some((class.trim_end_matches(':').parse().ok()?, (*label).to_string()))
        })
        .collect()
}

fn after<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{stdout}"))
}

/// The largest difference `--check` printed.
fn check_diff(stdout: &str) -> f64 {
    after(stdout, "max abs difference: ")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number")
}

#[test]
fn inspect_reports_the_digits_model() {
    let out = cloak(&[&"inspect", &model()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for want in [
        "10 nodes",
        "Conv x2",
        "Gemm x2",
        "parameters (the model owner's, secret-shared): 3658",
        "estimated cost",
    ] {
        assert!(stdout.contains(want), "no `{want}` in:\n{stdout}");
    }
    let out = cloak(&[&"inspect", &model(), &"--input-shape", &"4,1,8,8"]);
    assert!(text(&out.stdout).contains("output logits [4, 10]"), "{}", text(&out.stdout));
}

#[test]
fn infer_with_the_first_party_dealer_predicts_as_the_plain_model() {
    let labels = models().join("digits_sample_labels.npy");
    let out = cloak(&[
        &"infer",
        &"--model",
        &model(),
        &"--input",
        &digits(),
        &"--check",
        &"--labels",
        &labels,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr:\n{}\nstdout:\n{stdout}", text(&out.stderr));
    // The report comes first.
    assert!(stdout.starts_with(&format!("{}: 10 nodes", model().display())), "{stdout}");
    let rows = predictions(&stdout);
    assert_eq!(rows, (0..8).map(|c| (c, c.to_string())).collect::<Vec<_>>(), "{stdout}");
    assert!(stdout.contains("accuracy against the labels: 8 of 8 rows"), "{stdout}");
    assert!(stdout.contains("predicted classes: 8 of 8 rows agree"), "{stdout}");
    // 16 fractional bits: see the facade test for why 0.05 bounds the logits' error.
    let d = check_diff(&stdout);
    assert!(d < 0.05, "max abs difference {d}");
    // The per-layer table, with a total.
    assert!(
        stdout.contains("per-layer cost at party 1")
            && stdout.contains("/features/features.0/Conv"),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("total")), "{stdout}");
    // Nothing but the one progress bar (hidden: not a terminal) on stderr.
    assert!(text(&out.stderr).trim().is_empty(), "{}", text(&out.stderr));
}

#[test]
fn infer_with_a_third_party_dealer_and_three_parties_writes_the_output() {
    let output = Temp::new("logits.npy");
    let out = cloak(&[
        &"infer",
        &"--model",
        &model(),
        &"--input",
        &digits(),
        &"--dealer",
        &"third-party",
        &"--parties",
        &"3",
        &"--model-owner",
        &"2",
        &"--check",
        &"--output",
        &output.0,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr:\n{}\nstdout:\n{stdout}", text(&out.stderr));
    let classes: Vec<usize> = predictions(&stdout).into_iter().map(|(c, _)| c).collect();
    assert_eq!(classes, (0..8).collect::<Vec<_>>(), "{stdout}");
    assert!(stdout.contains("predicted classes: 8 of 8 rows agree"), "{stdout}");
    assert!(check_diff(&stdout) < 0.05, "{stdout}");
    // The written output: float32, [8, 10], the same classes.
    let info = cloak::npy::info(&output.0).expect("a readable .npy");
    assert_eq!((info.dtype.as_str(), info.shape.as_slice()), ("<f4", &[8, 10][..]));
    let logits = cloak::npy::read(&output.0).expect("readable");
    assert_eq!(cloak::predicted_classes(&logits).unwrap(), (0..8).collect::<Vec<_>>());
}

#[test]
fn missing_files_are_one_line_errors() {
    let out = cloak(&[&"infer", &"--model", &"/no/such/model.onnx", &"--input", &digits()]);
    assert_clean_failure(&out, "/no/such/model.onnx");
    let out = cloak(&[&"infer", &"--model", &model(), &"--input", &"/no/such/input.npy"]);
    assert_clean_failure(&out, "/no/such/input.npy");
    let out = cloak(&[&"inspect", &"/no/such/model.onnx"]);
    assert_clean_failure(&out, "No such file");
}

/// The example's sentiment transformer (`examples/data/text`), whose input is token ids.
fn text_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/text/sentiment.onnx")
}

/// Seeded token ids `[rows, seq_len]` below the model's vocabulary, as PyTorch saves them
/// (`int64`).
fn token_ids(path: &std::path::Path, rows: usize, vocab: usize) -> usize {
    let model = cloak::onnx::OnnxModel::from_bytes(&std::fs::read(text_model()).unwrap())
        .expect("the text model");
    let Some(len) = model.input_dims().get(1).copied().flatten() else {
        panic!("a fixed sequence length: {:?}", model.input_dims())
    };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let ids = ndarray::Array2::from_shape_fn((rows, len), |(_, j)| {
        state =
            state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        // `<cls>` first, as the tokenizer puts it, then seeded words.
        if j == 0 { 1 } else { (state >> 33) as i64 % vocab as i64 }
    });
    ndarray_npy::write_npy(path, &ids).unwrap();
    len
}

/// A model whose input is token ids runs from one command: the data owner's `int64` ids are
/// checked and shared one-hot (the private lookup), and the private logits agree with the
/// plain model's. Tolerance: the example's bound for this model, `2.6e-3 (1 + scale)`
/// (`examples/src/text.rs`, five LayerNorms), with logits below 18: 0.05. An id outside
/// the vocabulary fails the data owner by position, with one line.
#[test]
fn infer_runs_a_token_id_model() {
    let vocab = 2000;
    let ids = Temp::new("ids.npy");
    token_ids(&ids.0, 4, vocab);
    let out = cloak(&[&"infer", &"--model", &text_model(), &"--input", &ids.0, &"--check"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr:\n{}\nstdout:\n{stdout}", text(&out.stderr));
    assert_eq!(predictions(&stdout).len(), 4, "{stdout}");
    assert!(stdout.contains("predicted classes: 4 of 4 rows agree"), "{stdout}");
    let d = check_diff(&stdout);
    assert!(d < 0.05, "max abs difference {d}");

    let bad = Temp::new("bad-ids.npy");
    let len = token_ids(&bad.0, 2, vocab);
    let mut x: ndarray::Array2<i64> = ndarray_npy::read_npy(&bad.0).unwrap();
    x[[1, len - 1]] = 4321;
    ndarray_npy::write_npy(&bad.0, &x).unwrap();
    let out = cloak(&[&"infer", &"--model", &text_model(), &"--input", &bad.0]);
    let line = assert_clean_failure(&out, &format!("token id [1, {}]", len - 1));
    assert!(!line.contains("4321"), "the id's value is not shown: {line}");
}

#[test]
fn an_input_of_the_wrong_shape_is_refused_before_any_party_starts() {
    let input = Temp::new("wrong-shape.npy");
    cloak::npy::write_f32(&input.0, &ndarray::ArrayD::zeros(vec![2, 64])).unwrap();
    let out = cloak(&[&"infer", &"--model", &model(), &"--input", &input.0]);
    assert_clean_failure(&out, "shape [2, 64] does not fit the model's input image");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_nan_in_the_input_fails_the_data_owner_by_index() {
    let input = Temp::new("nan.npy");
    let mut x = cloak::npy::read(digits()).unwrap();
    x[[3, 0, 2, 5]] = f64::NAN;
    cloak::npy::write_f64(&input.0, &x).unwrap();
    let out = cloak(&[&"infer", &"--model", &model(), &"--input", &input.0]);
    let line = assert_clean_failure(
        &out,
        "party 1 (data owner) failed: input: element [3, 0, 2, 5] is NaN",
    );
    // The launcher names the value's position, never a value of the input.
    assert!(!line.contains("0.") && !text(&out.stdout).contains("revealed to"), "{line}");
}

#[test]
fn a_file_that_is_not_onnx_is_refused() {
    let garbage = Temp::new("garbage.onnx");
    std::fs::write(&garbage.0, b"this is not a protobuf message, just some text".repeat(10))
        .unwrap();
    let out = cloak(&[&"infer", &"--model", &garbage.0, &"--input", &digits()]);
    assert_clean_failure(&out, "not a valid ONNX model");
    let out = cloak(&[&"inspect", &garbage.0]);
    assert_clean_failure(&out, &garbage.0.display().to_string());
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let mut shape = cloak::onnx::proto::onnx::TensorShapeProto::new();
    for &d in dims {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.value = Some(tensor_shape_proto::dimension::Value::DimValue(d));
        shape.dim.push(dim);
    }
    let mut t = type_proto::Tensor::new();
    t.elem_type = Some(1);
    t.shape = Some(shape).into();
    let mut tp = TypeProto::new();
    tp.value = Some(type_proto::Value::TensorType(t));
    let mut v = ValueInfoProto::new();
    v.name = Some(name.into());
    v.type_ = Some(tp).into();
    v
}

/// x -> Relu -> FancyOp -> Frobnicate -> y: two operators no one implements.
fn unsupported_model() -> Vec<u8> {
    let node = |op: &str, name: &str, input: &str, output: &str| {
        let mut n = NodeProto::new();
        n.op_type = Some(op.into());
        n.name = Some(name.into());
        n.input = vec![input.into()];
        n.output = vec![output.into()];
        n
    };
    let mut g = GraphProto::new();
    g.node = vec![
        node("Relu", "relu", "x", "a"),
        node("FancyOp", "mystery", "a", "b"),
        node("Frobnicate", "frob", "b", "y"),
    ];
    g.input.push(value_info("x", &[1, 4]));
    g.output.push(value_info("y", &[1, 4]));
    let mut m = ModelProto::new();
    m.ir_version = Some(8);
    let mut o = OperatorSetIdProto::new();
    o.version = Some(17);
    m.opset_import.push(o);
    m.graph = Some(g).into();
    m.write_to_bytes().expect("serialises")
}

#[test]
fn unsupported_operators_are_all_listed() {
    let onnx = Temp::new("unsupported.onnx");
    std::fs::write(&onnx.0, unsupported_model()).unwrap();
    let out = cloak(&[&"inspect", &onnx.0]);
    let line = assert_clean_failure(&out, "2 unsupported node(s)");
    assert!(line.contains("mystery (FancyOp)") && line.contains("frob (Frobnicate)"), "{line}");
    assert_eq!(out.status.code(), Some(2));
    // The report still printed, listing them.
    assert!(text(&out.stdout).contains("unsupported nodes (2)"), "{}", text(&out.stdout));
    let input = Temp::new("four.npy");
    cloak::npy::write_f32(&input.0, &ndarray::ArrayD::zeros(vec![1, 4])).unwrap();
    let out = cloak(&[&"infer", &"--model", &onnx.0, &"--input", &input.0]);
    let line = assert_clean_failure(&out, "2 unsupported node(s)");
    assert!(line.contains("FancyOp") && line.contains("Frobnicate"), "{line}");
}

#[test]
fn a_run_past_its_deadline_is_killed() {
    let out =
        cloak(&[&"infer", &"--model", &model(), &"--input", &digits(), &"--timeout", &"0.002"]);
    assert_clean_failure(&out, "did not finish within 0.002 s and was killed");
}

#[test]
fn bad_arguments_are_refused_by_the_parser() {
    let out = cloak(&[&"infer", &"--model", &model(), &"--input", &digits(), &"--parties", &"9"]);
    assert!(
        !out.status.success() && text(&out.stderr).starts_with("error: "),
        "{}",
        text(&out.stderr)
    );
    let out = cloak(&[&"infer", &"--model", &model(), &"--input", &digits(), &"--reveal-to", &"5"]);
    assert_clean_failure(&out, "the reveal-to party is party 5, but there are 2 parties");
}

#[test]
fn a_data_owner_that_cannot_read_its_input_stops_every_party() {
    // The header (the shape, all the launcher reads) is fine; the data is cut short, which
    // only the data owner finds: it announces a refusal and the others stop at once.
    let input = Temp::new("truncated.npy");
    let bytes = std::fs::read(digits()).unwrap();
    std::fs::write(&input.0, &bytes[..1000]).unwrap();
    let out =
        cloak(&[&"infer", &"--model", &model(), &"--input", &input.0, &"--dealer", &"third-party"]);
    assert_clean_failure(&out, "party 1 (data owner) failed: ");
    assert!(text(&out.stderr).contains("bytes of data, but the header declares [8, 1, 8, 8]"));
}

#[test]
fn parties_started_by_hand_each_read_only_their_own_file() {
    let port = cloak::comm::runner::free_local_port().unwrap().to_string();
    let output = Temp::new("party-logits.npy");
    let party = |rank: &str, args: &[&dyn AsRef<std::ffi::OsStr>]| {
        Command::new(env!("CARGO_BIN_EXE_cloak"))
            .arg("party")
            .args(args.iter().map(|a| a.as_ref()))
            .env("RANK", rank)
            .env("WORLD_SIZE", "2")
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", &port)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("a party starts")
    };
    // Party 0 gets no input path and party 1 no model path: each needs only its own.
    let p0 = party("0", &[&"--model", &model(), &"--timeout", &"30"]);
    let p1 = party("1", &[&"--input", &digits(), &"--output", &output.0, &"--timeout", &"30"]);
    let (o0, o1) = (p0.wait_with_output().unwrap(), p1.wait_with_output().unwrap());
    assert!(
        o0.status.success() && o1.status.success(),
        "{}\n{}",
        text(&o0.stderr),
        text(&o1.stderr)
    );
    let (s0, s1) = (text(&o0.stdout), text(&o1.stdout));
    assert!(
        s0.contains("party 0 of 2 (model owner)") && s0.contains("nothing revealed to this party"),
        "{s0}"
    );
    let classes: Vec<usize> = predictions(&s1).into_iter().map(|(c, _)| c).collect();
    assert_eq!(classes, (0..8).collect::<Vec<_>>(), "{s1}");
    assert!(s1.contains("per-layer cost at party 1"), "{s1}");
    assert_eq!(cloak::npy::info(&output.0).unwrap().shape, vec![8, 10]);
}

/// An integer input for a model of reals (pixels saved as `uint8`, say) is refused: only
/// the data owner can tell, once the model is announced, and every party stops naming it.
#[test]
fn integers_for_a_model_of_reals_stop_every_party() {
    let port = cloak::comm::runner::free_local_port().unwrap().to_string();
    let input = Temp::new("pixels.npy");
    let x = cloak::npy::read(digits()).unwrap().mapv(|v| (v * 255.0).round() as u8);
    ndarray_npy::write_npy(&input.0, &x).unwrap();
    let p0 = launched(0, 2, &port, &[&"--model", &model(), &"--timeout", &"30"]);
    let p1 = launched(1, 2, &port, &[&"--input", &input.0, &"--timeout", &"30"]);
    let (o0, o1) = (p0.wait_with_output().unwrap(), p1.wait_with_output().unwrap());
    let line = assert_clean_failure(&o1, "the input holds integers, but the model takes real");
    assert!(!o0.status.success(), "party 0 went on: {}", text(&o0.stdout));
    let other = text(&o0.stderr);
    assert!(other.contains("party 1") && other.lines().count() == 1, "{other}\n{line}");
}

/// Starts `cloak party` as rank `rank` of `world` through rank 0 at `port` on loopback,
/// with `args`.
fn launched(rank: usize, world: usize, port: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cloak"))
        .arg("party")
        .args(args.iter().map(|a| a.as_ref()))
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port)
        .env_remove("CLOAK_TLS_DIR")
        .env_remove("CLOAK_PLAINTEXT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("a party starts")
}

#[test]
fn certs_then_parties_and_a_dealer_over_tls() {
    let certs = Temp::new("certs");
    let out = cloak(&[&"certs", &"--out", &certs.0, &"--world", &"3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("rank-2.key"), "{}", text(&out.stdout));
    let port = cloak::comm::runner::free_local_port().unwrap().to_string();
    let common: [&dyn AsRef<std::ffi::OsStr>; 6] =
        [&"--dealer", &"third-party", &"--tls-dir", &certs.0, &"--timeout", &"30"];
    let (m, d) = (model(), digits());
    let model_flags: [&dyn AsRef<std::ffi::OsStr>; 2] = [&"--model", &m];
    let input_flags: [&dyn AsRef<std::ffi::OsStr>; 2] = [&"--input", &d];
    let p0 = launched(0, 3, &port, &[&common[..], &model_flags[..]].concat());
    let p1 = launched(1, 3, &port, &[&common[..], &input_flags[..]].concat());
    let dealer = launched(2, 3, &port, &common);
    let outs: Vec<Output> =
        [p0, p1, dealer].into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for (rank, o) in outs.iter().enumerate() {
        assert!(o.status.success(), "rank {rank}: {}", text(&o.stderr));
    }
    let classes: Vec<usize> =
        predictions(&text(&outs[1].stdout)).into_iter().map(|(c, _)| c).collect();
    assert_eq!(classes, (0..8).collect::<Vec<_>>());
}

#[test]
fn a_party_with_another_deployments_certificate_is_refused_with_one_line() {
    let (ours, theirs) = (Temp::new("certs-ours"), Temp::new("certs-theirs"));
    for dir in [&ours, &theirs] {
        let out = cloak(&[&"certs", &"--out", &dir.0, &"--world", &"2"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let port = cloak::comm::runner::free_local_port().unwrap().to_string();
    let p0 =
        launched(0, 2, &port, &[&"--tls-dir", &ours.0, &"--timeout", &"3", &"--model", &model()]);
    let p1 = launched(
        1,
        2,
        &port,
        &[&"--tls-dir", &theirs.0, &"--timeout", &"3", &"--input", &digits()],
    );
    let (o0, o1) = (p0.wait_with_output().unwrap(), p1.wait_with_output().unwrap());
    let line = assert_clean_failure(&o1, "TLS");
    assert!(line.contains("party 0"), "{line}");
    assert_clean_failure(&o0, "did not connect");
}

#[test]
fn plain_tcp_off_loopback_is_refused_with_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_cloak"))
        .args(["party", "--rank", "1", "--world-size", "2", "--master-addr", "192.0.2.1"])
        .args(["--master-port", "7000", "--timeout", "2"])
        .env_remove("CLOAK_TLS_DIR")
        .env_remove("CLOAK_PLAINTEXT")
        .output()
        .unwrap();
    assert_clean_failure(&out, "not a loopback address");
}

#[test]
fn a_deployment_from_one_peers_file_over_tls() {
    let dir = Temp::new("peers-deployment");
    let out = cloak(&[&"certs", &"--out", &dir.0.join("certs"), &"--world", &"3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut peers = String::from("ca = \"certs/ca.pem\"\n");
    for rank in 0..3 {
        let port = cloak::comm::runner::free_local_port().unwrap();
        peers += &format!(
            "[[party]]\nrank = {rank}\naddress = \"127.0.0.1:{port}\"\ncertificate = \"certs/rank-{rank}.pem\"\n"
        );
    }
    let file = dir.0.join("peers.toml");
    std::fs::write(&file, peers).unwrap();
    let start = |rank: usize, extra: &[&dyn AsRef<std::ffi::OsStr>]| {
        let key = dir.0.join(format!("certs/rank-{rank}.key"));
        Command::new(env!("CARGO_BIN_EXE_cloak"))
            .args(["party", "--dealer", "third-party", "--timeout", "30", "--rank"])
            .arg(rank.to_string())
            .arg("--peers")
            .arg(&file)
            .arg("--key")
            .arg(&key)
            .args(extra.iter().map(|a| a.as_ref()))
            .env_remove("RANK")
            .env_remove("CLOAK_TLS_DIR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("a party starts")
    };
    let children =
        [start(0, &[&"--model", &model()]), start(1, &[&"--input", &digits()]), start(2, &[])];
    let outs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for (rank, o) in outs.iter().enumerate() {
        assert!(o.status.success(), "rank {rank}: {}", text(&o.stderr));
    }
    let classes: Vec<usize> =
        predictions(&text(&outs[1].stdout)).into_iter().map(|(c, _)| c).collect();
    assert_eq!(classes, (0..8).collect::<Vec<_>>());

    // Without its key, a party of a certified deployment stops with one line.
    let out = Command::new(env!("CARGO_BIN_EXE_cloak"))
        .args(["party", "--rank", "1", "--peers"])
        .arg(&file)
        .output()
        .unwrap();
    assert_clean_failure(&out, "--key");
    // A broken file: one line naming it.
    std::fs::write(&file, "[[party]]\nrank = 0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cloak"))
        .args(["party", "--rank", "0", "--peers"])
        .arg(&file)
        .output()
        .unwrap();
    assert_clean_failure(&out, "peers.toml");
}

#[test]
fn infer_over_tls_predicts_as_the_plain_model() {
    let out = cloak(&[
        &"infer",
        &"--model",
        &model(),
        &"--input",
        &digits(),
        &"--dealer",
        &"third-party",
        &"--tls",
        &"--check",
        &"--labels",
        &models().join("digits_sample_labels.npy"),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr:\n{}\nstdout:\n{stdout}", text(&out.stderr));
    let rows = predictions(&stdout);
    assert_eq!(rows, (0..8).map(|c| (c, c.to_string())).collect::<Vec<_>>(), "{stdout}");
    let d = check_diff(&stdout);
    assert!(d < 0.05, "max abs difference {d}");
}

#[test]
fn infer_on_a_simulated_device_predicts_as_the_plain_model() {
    // Every party a process over TCP, each keeping its shares on its own simulated device.
    let out = cloak(&[
        &"infer",
        &"--model",
        &model(),
        &"--input",
        &digits(),
        &"--check",
        &"--device",
        &"sim",
        &"--parties",
        &"3",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr:\n{}\nstdout:\n{stdout}", text(&out.stderr));
    assert_eq!(
        predictions(&stdout),
        (0..8).map(|c| (c, "-".to_owned())).collect::<Vec<_>>(),
        "{stdout}"
    );
    // 16 fractional bits: see the facade test for why 0.05 bounds the logits' error.
    let d = check_diff(&stdout);
    assert!(d < 0.05, "max abs difference {d}");
}

#[test]
fn a_device_that_is_not_there_or_not_a_device_is_one_line() {
    let out = cloak(&[&"infer", &"--model", &model(), &"--input", &digits(), &"--device", &"tpu"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("`tpu` is not a device (use cpu, sim, cuda or cuda:N)"), "{stderr}");
    // No GPU on this machine (or not that many): the party says so and every party stops.
    if cloak::gpu::CudaDevice::new(7).is_err() {
        let out =
            cloak(&[&"infer", &"--model", &model(), &"--input", &digits(), &"--device", &"cuda:7"]);
        assert_clean_failure(&out, "device cuda:7: ");
    }
}
