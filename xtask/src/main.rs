//! `cargo xtask`: cross-crate tasks of the Cloak workspace.
//!
//! - `cargo xtask bench [--quick] [FILTER...]`: builds the benchmark suite in release mode and
//!   prints one table (figures beside the machine limits they are compared with).
//! - `cargo xtask help`: this text.

use std::process::{Command, ExitCode};

const HELP: &str = "\
usage: cargo xtask <task> [args]

tasks:
  bench [--quick] [--json PATH] [FILTER...]
        run the cross-crate benchmarks (release build) and print one table;
        FILTER keeps rows whose name contains it, or a whole suite by name
        (ring, prg, comm, mpc, nn, onnx); --quick uses fewer repetitions.
        The onnx rows need the models of benches/models/make_models.py
  help  print this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench(&args[1..]),
        Some("help") | Some("--help") | Some("-h") | None => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("xtask: unknown task `{other}`\n\n{HELP}");
            ExitCode::from(2)
        }
    }
}

/// Runs the benchmark binary of `benches/` in release mode, passing the arguments through.
fn bench(args: &[String]) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["run", "--quiet", "--release", "--package", "cloak-benches", "--"])
        .args(args)
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("xtask bench: the benchmark run failed ({s})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask bench: could not start cargo: {e}");
            ExitCode::FAILURE
        }
    }
}
