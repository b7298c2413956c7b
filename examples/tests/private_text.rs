//! The private text-classification example: its tokenizer gives the ids torch saw, its
//! private inference matches plain `f64` (and torch) with 2 and 3 parties as threads, and
//! the binary runs the model owner and the data owner as separate processes and fails
//! clearly on bad input.
//!
//! Tolerances: plain `f64` against torch's float32 logits `1e-5` (a relative `2^-24` per
//! operation over a few hundred, on logits below 3; measured `1.2e-6` over the 686 test
//! sentences); private against plain `text::tolerance` (see its derivation).

#[path = "../src/text.rs"]
#[allow(dead_code)] // shared with the binary, which uses more of it
mod text;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_onnx::OnnxModel;
use ndarray::ArrayD;
use text::{Vocab, tokenize};

const PLAIN_TOL: f64 = 1e-5;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join("text")
}

struct Fixture {
    model: OnnxModel,
    vocab: Vocab,
    seq_len: usize,
    torch: Vec<text::TorchRow>,
}

fn fixture() -> Fixture {
    let model = OnnxModel::load(data().join("sentiment.onnx")).expect("model");
    let vocab = Vocab::load(&data().join("vocab.txt")).expect("vocab");
    let seq_len = text::check_model(&model, &vocab).expect("ids into the vocabulary");
    let torch = text::read_torch(&data().join("torch_test.tsv")).expect("torch's logits");
    Fixture { model, vocab, seq_len, torch }
}

#[test]
fn tokenizer_matches_the_training_script() {
    assert_eq!(
        tokenize("I'm SO happy!!  :D <3 wasn't it?"),
        ["i'm", "so", "happy", "!", "!", "d", "3", "wasn't", "it", "?"]
    );
    assert_eq!(tokenize("café—naïve"), ["caf", "na", "ve"]);
    let f = fixture();
    let sentences = text::read_split(&data().join("sentences.tsv"), "test").expect("test split");
    assert_eq!(sentences.len(), f.torch.len());
    for (s, t) in sentences.iter().zip(&f.torch) {
        assert_eq!(s.id, t.id);
        assert_eq!(s.label, Some(t.label));
        assert_eq!(f.vocab.encode(&s.text, f.seq_len).ids, t.ids, "sentence {}", s.id);
    }
}

#[test]
fn unknown_and_long_inputs_are_encoded_as_in_training() {
    let f = fixture();
    let e = f.vocab.encode("good zzqqxx", 6);
    assert_eq!(e.ids[0], 1, "<cls> first");
    assert_eq!(e.ids[2], 2, "<unk> for an unknown word");
    assert_eq!(&e.ids[3..], [0, 0, 0], "<pad> after");
    assert_eq!((e.unknown, e.dropped), (1, 0));
    let long = f.vocab.encode(&"good ".repeat(10), 4);
    assert_eq!((long.ids.len(), long.dropped), (4, 7));
    assert!(Vocab::parse("<pad>\n<cls>\n").is_err());
    assert!(Vocab::parse("<pad>\n<cls>\n<unk>\nok\nok\n").unwrap_err().contains("twice"));
    assert!(Vocab::load(Path::new("/nonexistent/vocab.txt")).unwrap_err().contains("cannot read"));
}

/// The first `n` test sentences' ids, torch's logits for them, and the f64 logits.
fn batch(f: &Fixture, n: usize) -> (ArrayD<f64>, Vec<[f64; 2]>, ArrayD<f64>) {
    let rows: Vec<Vec<usize>> = f.torch[..n].iter().map(|t| t.ids.clone()).collect();
    let ids = text::ids_array(&rows).expect("ids");
    let plain = text::plain_logits(&f.model, &ids).expect("plain");
    (ids, f.torch[..n].iter().map(|t| t.logits).collect(), plain)
}

#[test]
fn plain_logits_match_torch() {
    let f = fixture();
    let (_, torch, plain) = batch(&f, 64);
    for (i, t) in torch.iter().enumerate() {
        for c in 0..2 {
            let err = (plain[[i, c]] - t[c]).abs();
            assert!(err <= PLAIN_TOL, "sentence {i} class {c}: {err:e} from torch");
        }
    }
}

/// A party's error, for `run_local_typed`.
struct Failure(String);

impl From<cloak_mpc::MpcError> for Failure {
    fn from(e: cloak_mpc::MpcError) -> Self {
        Self(e.to_string())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_private(parties: usize) {
    let f = fixture();
    let n = 6;
    let (ids, _, plain) = batch(&f, n);
    let public = OnnxModel::from_public_bytes(&f.model.public_bytes()).expect("public part");
    let shape = [n, f.seq_len];
    let outcomes = run_local_typed(parties, &SessionConfig::default(), |s| {
        let mine = if s.rank() == text::MODEL_OWNER { &f.model } else { &public };
        let ids = (s.rank() == text::DATA_OWNER).then_some(&ids);
        text::private_logits(s, mine, ids, &shape).map_err(Failure)
    });
    let mut revealed = None;
    for (rank, o) in outcomes.into_iter().enumerate() {
        match o {
            Ok(Some(y)) if rank == text::DATA_OWNER => revealed = Some(y),
            Ok(None) if rank != text::DATA_OWNER => {}
            Ok(_) => panic!("party {rank} got the wrong view of the logits"),
            Err(e) => panic!("party {rank}: {e}"),
        }
    }
    let y = revealed.expect("revealed to the data owner");
    let scale = plain.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tol = text::tolerance(scale);
    let mut err = 0.0f64;
    for i in 0..n {
        let (p, q) = ([y[[i, 0]], y[[i, 1]]], [plain[[i, 0]], plain[[i, 1]]]);
        err = err.max((p[0] - q[0]).abs()).max((p[1] - q[1]).abs());
        let margin = (q[1] - q[0]).abs();
        if margin > 2.0 * tol {
            assert_eq!(text::predict(p).0, text::predict(q).0, "sentence {i}");
        }
    }
    println!("{parties} parties: max logit error {err:.2e} (tolerance {tol:.2e})");
    assert!(err <= tol, "{parties} parties: {err:e} over {tol:e}");
}

#[test]
fn private_logits_match_plain_with_two_parties() {
    check_private(2);
}

#[test]
fn private_logits_match_plain_with_three_parties() {
    check_private(3);
}

fn run(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_private_text"));
    cmd.args(args).stdin(Stdio::null());
    for (r, w) in cloak_comm::LAUNCHERS {
        cmd.env_remove(r).env_remove(w);
    }
    cmd.env_remove("CLOAK_PARTIES").env_remove("MASTER_ADDR").env_remove("MASTER_PORT");
    cmd.output().expect("run private_text")
}

#[test]
fn separate_processes_classify_privately() {
    for parties in ["2", "3"] {
        let out = run(&["--parties", parties, "--count", "4"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("private predictions: 4 of 4 agree with f64"), "{stdout}");
        assert!(
            stdout
                .contains(&format!("party {} of {parties}", parties.parse::<usize>().unwrap() - 1))
        );
        let line = stdout.lines().find(|l| l.starts_with("max logit error:")).expect("error line");
        let nums: Vec<f64> = line
            .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
            .filter_map(|t| t.parse().ok())
            .collect();
        assert!(nums[0] <= nums[1], "{line}");
    }
}

#[test]
fn bad_input_is_one_clear_line() {
    let out = run(&["--data", "/nonexistent"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/sentiment.onnx"), "{stderr}");
    let dir = std::env::temp_dir().join(format!("private_text_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "\n\n").unwrap();
    let out = run(&["--sentences", empty.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("no sentence"), "{stderr}");
    let mine = dir.join("mine.txt");
    std::fs::write(&mine, "what a wonderful day\nthis is awful and i hate it\n").unwrap();
    let out = run(&["--sentences", mine.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("2 of 2 agree"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}
