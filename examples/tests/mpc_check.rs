//! The protocol conformance battery (`mpc_check`) over real TCP between separate processes,
//! started here the way a launcher would start them (`RANK`, `WORLD_SIZE`, `MASTER_ADDR`,
//! `MASTER_PORT`, through `cloak_comm::runner::run_processes`), with the dealer as a process
//! of its own where asked. Every computing party must report every operation of the battery
//! within its tolerance (or skipped for a stated reason where that is expected), and the
//! dealer must have served exactly the requests the parties made.

use std::collections::BTreeMap;
use std::time::Duration;

use cloak_comm::runner::{ProcessReport, ProcessRun, run_processes};

/// The battery, in order; `trunc_large` needs dealer truncation pairs (3 parties here).
const OPS: [&str; 20] = [
    "mul",
    "square",
    "matmul",
    "matmul_public",
    "conv2d",
    "trunc_large",
    "relu",
    "gt_public",
    "lt",
    "eq",
    "exp",
    "sigmoid",
    "reciprocal",
    "log",
    "sqrt",
    "softmax",
    "a2b",
    "a2b_b2a",
    "max",
    "argmax",
];

/// The approximated non-linear functions of the battery.
const FUNCTIONS: [&str; 6] = ["exp", "sigmoid", "reciprocal", "log", "sqrt", "softmax"];

/// The value of `"key":` in a JSON line (a string's contents, or a bare value).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let rest = &line[line.find(&pat)? + pat.len()..];
    if let Some(s) = rest.strip_prefix('"') {
        return s.split_once('"').map(|(v, _)| v);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn launch(parties: usize, ttp: bool) -> Vec<ProcessReport> {
    let mut args = vec!["--parties".into(), parties.to_string().into()];
    if ttp {
        args.extend(["--dealer".into(), "ttp".into()]);
    }
    let run = ProcessRun {
        program: env!("CARGO_BIN_EXE_mpc_check").into(),
        args,
        env: Vec::new(),
        parties: parties + usize::from(ttp),
        deadline: Duration::from_secs(120),
    };
    let reports = run_processes(&run).expect("start the ranks");
    for r in &reports {
        assert!(
            r.success(),
            "rank {} failed (timed out: {})\nstdout:\n{}\nstderr:\n{}",
            r.rank,
            r.timed_out,
            r.stdout,
            r.stderr
        );
    }
    reports
}

/// Checks every computing party's battery; returns each party's dealer requests.
fn check_parties(reports: &[ProcessReport], parties: usize) -> Vec<u64> {
    let mut requests = Vec::new();
    for r in &reports[..parties] {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for line in r.stdout.lines().filter(|l| l.contains("\"op\":")) {
            assert_eq!(field(line, "party"), Some(r.rank.to_string().as_str()), "{line}");
            let op = field(line, "op").unwrap();
            assert!(seen.insert(op, line).is_none(), "{op} reported twice");
            if let Some(why) = field(line, "skipped") {
                let expected = op == "trunc_large" && parties == 2;
                assert!(expected, "{op} skipped unexpectedly: {why}");
                continue;
            }
            let err: f64 = field(line, "max_abs_err").unwrap().parse().unwrap();
            let tol: f64 = field(line, "tol").unwrap().parse().unwrap();
            assert!(err <= tol && field(line, "ok") == Some("true"), "{line}");
            // Tolerances are one unit in the last place of 16 fractional bits, or exact; the
            // approximated functions have their documented bounds, all below 0.02 here.
            let approximated = FUNCTIONS.contains(&op);
            assert!(tol == 0.0 || tol == 2f64.powi(-16) || (approximated && tol < 0.02), "{line}");
        }
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), {
            let mut ops = OPS.to_vec();
            ops.sort_unstable();
            ops
        });
        let summary = r.stdout.lines().find(|l| l.contains("\"summary\":true")).unwrap();
        assert_eq!(field(summary, "failed"), Some("[]"), "{summary}");
        requests.push(field(summary, "dealer_requests").unwrap().parse().unwrap());
    }
    requests
}

#[test]
fn two_parties_trusted_first_party() {
    let reports = launch(2, false);
    check_parties(&reports, 2);
}

#[test]
fn three_parties_trusted_first_party() {
    let reports = launch(3, false);
    check_parties(&reports, 3);
}

#[test]
fn three_parties_with_the_dealer_as_its_own_process() {
    let reports = launch(3, true);
    let requests = check_parties(&reports, 3);
    let dealer = reports[3].stdout.lines().find(|l| l.starts_with("{\"dealer\":")).unwrap();
    let served: u64 = field(dealer, "requests").unwrap().parse().unwrap();
    assert!(served > 0);
    // Every party drew the same sequence of requests, and the dealer answered each once.
    assert!(requests.iter().all(|&r| r == served), "{requests:?} vs {served}");
}
