//! The main-job example end to end: `private_scoring` launches its parties (and, with
//! `--dealer ttp`, a dealer) as separate OS processes over loopback TCP. These tests run the
//! binary as a user would and read what it prints: every configuration must succeed with
//! its printed max abs error within its printed tolerance; `.npy` inputs written here must
//! give scores that match this file's own `f64` computation and never appear in the output;
//! and a bad `.npy` file must end the run with a clear message and a non-zero exit, at once.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A run that takes longer than this is a hang (successful runs take well under a second).
const DEADLINE: Duration = Duration::from_secs(120);

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!("status {}\nstdout:\n{}\nstderr:\n{}", self.status, self.stdout, self.stderr)
    }
}

/// Runs the example with `args`, outside any launcher, and kills it at the deadline.
fn run(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_private_scoring"));
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (r, w) in cloak_comm::LAUNCHERS {
        cmd.env_remove(r).env_remove(w);
    }
    cmd.env_remove("CLOAK_PARTIES").env_remove("MASTER_ADDR").env_remove("MASTER_PORT");
    let mut child = cmd.spawn().expect("spawn private_scoring");
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("private_scoring {args:?} did not finish within {DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Run { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// `(max abs error, tolerance)` from the launcher's check line.
fn printed_error(stdout: &str) -> (f64, f64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("max abs error:"))
        .unwrap_or_else(|| panic!("no max abs error line in:\n{stdout}"));
    let nums: Vec<f64> = line
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|t| t.parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "{line}");
    (nums[0], nums[1])
}

/// The vectors printed on lines containing `label`, in order.
fn vectors(stdout: &str, label: &str) -> Vec<Vec<f64>> {
    stdout
        .lines()
        .filter(|l| l.contains(label))
        .map(|l| {
            let inner = l.split_once('[').and_then(|(_, r)| r.split_once(']')).unwrap().0;
            inner.split(',').map(|s| s.trim().parse().unwrap()).collect()
        })
        .collect()
}

/// Runs a configuration and checks what every configuration must satisfy.
fn check_config(args: &[&str], parties: usize, ttp: bool) -> Run {
    let r = run(args);
    assert!(r.status.success(), "{}", r.describe());
    let (err, tol) = printed_error(&r.stdout);
    // 16 fractional bits and 4-term dot products of generated inputs: about 1e-4 at most.
    assert!(err <= tol && tol < 2e-4, "error {err}, tolerance {tol}\n{}", r.describe());
    assert!(r.stdout.contains("0 wrong)"), "{}", r.describe());
    assert!(r.stdout.lines().any(|l| l == "OK"), "{}", r.describe());
    for p in 0..parties {
        assert!(r.stdout.contains(&format!("party {p} of {parties} (")), "{}", r.describe());
    }
    // Scores and relu(s) to parties 0 and 1 only, the decisions to party 1 only.
    assert_eq!(vectors(&r.stdout, "revealed scores").len(), 2);
    assert_eq!(vectors(&r.stdout, "revealed relu").len(), 2);
    assert_eq!(vectors(&r.stdout, "revealed decisions").len(), 1);
    assert_eq!(r.stdout.matches("revealed to me     : nothing").count(), parties - 2);
    assert_eq!(
        r.stdout.contains(&format!("dealer (rank {parties} of {}", parties + 1)),
        ttp,
        "{}",
        r.describe()
    );
    assert_eq!(r.stdout.matches("provider").count(), parties + usize::from(ttp));
    r
}

#[test]
fn two_parties_trusted_first_party() {
    check_config(&[], 2, false);
}

#[test]
fn three_parties_trusted_first_party() {
    check_config(&["--parties", "3", "--dealer", "tfp"], 3, false);
}

#[test]
fn two_parties_with_a_third_party_dealer_process() {
    let r = check_config(&["--dealer", "ttp"], 2, true);
    // The dealer's traffic is counted under its own label.
    assert!(r.stdout.lines().any(|l| l.starts_with("dealer ")), "{}", r.describe());
}

#[test]
fn three_parties_with_a_third_party_dealer_process() {
    check_config(&["--parties", "3", "--dealer", "ttp", "--rows", "5", "--dims", "7"], 3, true);
}

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloak-scoring-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A version 1.0 `.npy` file, written independently of the example's reader.
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape =
        if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn npy_inputs_round_trip_and_stay_private() {
    let dir = scratch("roundtrip");
    // Model: float64, three weights then the bias. Rows: float32, 5 x 3.
    let model: [f64; 4] =
        [0.7264591837465912, -1.2345678901234567, 0.3829174650192837, 0.0123456789012345];
    let (m, d) = (5, 3);
    let rows: Vec<f32> =
        (0..m * d).map(|i| (i as f32 * 0.731_234_5).sin() * 1.987_654_3 + 0.011_223_3).collect();
    let weights = write(
        &dir,
        "model.npy",
        &npy("<f8", &[d + 1], &model.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
    );
    let features = write(
        &dir,
        "data.npy",
        &npy("<f4", &[m, d], &rows.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
    );
    let r = run(&["--weights", &weights, "--features", &features]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(r.status.success(), "{}", r.describe());

    // This file's own reference and bound (the example's tolerance, recomputed here:
    // one truncation 2^-16, encoding errors 2^-17 per input over d-term dot products).
    let x: Vec<f64> = rows.iter().map(|&v| f64::from(v)).collect();
    let (w, b) = (&model[..d], model[d]);
    let want: Vec<f64> =
        x.chunks(d).map(|r| r.iter().zip(w).map(|(a, c)| a * c).sum::<f64>() + b).collect();
    let e = 2f64.powi(-17);
    let worst: f64 = x
        .chunks(d)
        .map(|r| r.iter().zip(w).map(|(a, c)| a.abs() + c.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let tol = 2.0 * e + e * (1.0 + worst) + d as f64 * e * e + 1e-12;
    let (printed_err, printed_tol) = printed_error(&r.stdout);
    assert!(printed_err <= printed_tol && (printed_tol - tol).abs() < 1e-9, "{}", r.describe());

    for scores in vectors(&r.stdout, "revealed scores") {
        assert_eq!(scores.len(), m);
        for (got, want) in scores.iter().zip(&want) {
            assert!((got - want).abs() <= tol, "score {got}, expected {want}, tol {tol}");
        }
    }
    for relu in vectors(&r.stdout, "revealed relu") {
        for (got, want) in relu.iter().zip(&want) {
            assert!((got - want.max(0.0)).abs() <= tol, "relu {got}, expected {want}");
        }
    }
    let decisions = vectors(&r.stdout, "revealed decisions").remove(0);
    for (dec, s) in decisions.iter().zip(&want) {
        assert!(s.abs() <= tol || *dec == if *s > 0.0 { 1.0 } else { 0.0 }, "{dec} for {s}");
    }

    // No private input is printed by anyone.
    for v in model.iter().chain(&x) {
        let text = format!("{v:?}");
        assert!(!r.stdout.contains(&text), "private input {text} printed:\n{}", r.stdout);
    }
}

/// Runs with a bad input and checks for a prompt, clear, non-panicking failure.
fn expect_clear_failure(args: &[&str], needles: &[&str]) {
    let start = Instant::now();
    let r = run(args);
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    assert!(!r.status.success(), "{}", r.describe());
    assert_eq!(r.status.code(), Some(2), "{}", r.describe());
    assert!(!r.stderr.contains("panicked"), "{}", r.describe());
    assert!(r.stderr.starts_with("private_scoring: "), "{}", r.describe());
    for n in needles {
        assert!(r.stderr.contains(n), "stderr should mention {n:?}:\n{}", r.describe());
    }
    assert!(!r.stdout.contains("party 0"), "no party should have started:\n{}", r.describe());
}

#[test]
fn a_malformed_npy_file_is_a_clear_error() {
    let dir = scratch("malformed");
    let garbage = write(&dir, "garbage.npy", b"these are not the bytes you are looking for");
    expect_clear_failure(&["--weights", &garbage], &["garbage.npy", "not a .npy file"]);

    // A valid header announcing 4 x 3 doubles, with only 10 of them present.
    let short = write(&dir, "short.npy", &npy("<f8", &[4, 3], &[0u8; 80]));
    expect_clear_failure(&["--features", &short], &["short.npy", "truncated"]);

    let ints = write(&dir, "ints.npy", &npy("<i8", &[3], &[0u8; 24]));
    expect_clear_failure(&["--weights", &ints], &["ints.npy", "<i8", "float64"]);

    let missing = dir.join("missing.npy");
    expect_clear_failure(
        &["--features", missing.to_str().unwrap()],
        &["missing.npy", "cannot read"],
    );

    // Well-formed files that do not fit together: 2 weights against 4 generated columns.
    let small = write(&dir, "small.npy", &npy("<f8", &[3], &[0u8; 24]));
    expect_clear_failure(&["--weights", &small], &["2 weights", "4 columns", "--dims 2"]);
    let _ = std::fs::remove_dir_all(&dir);
}
