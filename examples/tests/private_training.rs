//! The main-job example end to end, as a user runs it: `private_training` trains on shares
//! and in plain f64 from the same initial weights, and the test accuracies it prints must be
//! within 1 percentage point of each other; run as separate OS processes over loopback TCP
//! (two parties and a dealer), every party must report the same accuracy.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use cloak_comm::runner::{ProcessRun, run_processes};

fn svg_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cloak-training-{tag}-{}.svg", std::process::id()))
}

/// Runs the example outside any launcher and returns its standard output.
fn run_local(args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_private_training"));
    cmd.args(args).stdin(Stdio::null());
    for (r, w) in cloak_comm::LAUNCHERS {
        cmd.env_remove(r).env_remove(w);
    }
    cmd.env_remove("MASTER_ADDR").env_remove("MASTER_PORT");
    let out = cmd.output().expect("run private_training");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "status {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `(task, private %, plain %)` from the summary table.
fn accuracies(stdout: &str) -> Vec<(String, f64, f64)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains('%'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let pct = |s: &str| s.trim_end_matches('%').parse::<f64>().expect("a percentage");
            (cells[1].to_string(), pct(cells[2]), pct(cells[3]))
        })
        .collect()
}

#[test]
fn private_accuracy_is_within_one_point_of_plain() {
    let plot = svg_path("local");
    let plot_arg = plot.to_str().unwrap();
    let stdout = run_local(&["--task", "digits-mlp", "--epochs", "3", "--plot", plot_arg]);
    let stdout2 =
        run_local(&["--task", "cancer-mlp", "--epochs", "4", "--parties", "3", "--plot", plot_arg]);
    let rows: Vec<_> = accuracies(&stdout).into_iter().chain(accuracies(&stdout2)).collect();
    assert_eq!(rows.len(), 2, "{stdout}\n{stdout2}");
    for (task, private, plain) in rows {
        assert!((private - plain).abs() <= 1.0, "{task}: private {private}% vs plain {plain}%");
        assert!(plain > 85.0, "{task}: the plain model learns ({plain}%)");
    }
    let svg = std::fs::read_to_string(&plot).expect("the loss plot");
    assert!(svg.contains("cancer-mlp private"));
    std::fs::remove_file(&plot).unwrap();
}

#[test]
fn parties_as_tcp_processes_agree_on_the_revealed_accuracy() {
    let run = ProcessRun {
        program: PathBuf::from(env!("CARGO_BIN_EXE_private_training")),
        args: ["--task", "cancer-mlp", "--epochs", "2"].iter().map(Into::into).collect(),
        env: Vec::new(),
        parties: 3,
        deadline: Duration::from_secs(300),
    };
    let reports = run_processes(&run).expect("launch");
    let mut accs = Vec::new();
    for r in &reports {
        assert!(
            r.status.is_some_and(|s| s.success()),
            "rank {}: {}\n{}",
            r.rank,
            r.stdout,
            r.stderr
        );
        if let Some(line) = r.stdout.lines().find(|l| l.contains("test accuracy")) {
            let pct = line.split("accuracy ").nth(1).and_then(|s| s.split('%').next()).unwrap();
            accs.push(pct.parse::<f64>().unwrap());
        }
    }
    assert_eq!(accs.len(), 2, "both computing parties report");
    assert_eq!(accs[0], accs[1]);
    assert!(accs[0] > 85.0, "accuracy {accs:?}");
}
