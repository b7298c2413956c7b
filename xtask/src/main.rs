//! `cargo xtask`: cross-crate tasks of the Cloak workspace.
//!
//! - `cargo xtask bench [--quick] [--net PROFILE] [FILTER...]`: builds the benchmark suite in
//!   release mode and prints one table (figures beside the machine limits they are compared
//!   with); `--net` imitates a network on the communicating rows.
//! - `cargo xtask layers`: checks that workspace crates depend only on the layers below them
//!   ([`layers`]) and that no crate's top-level modules import each other in a cycle
//!   ([`modules`]).
//! - `cargo xtask help`: this text.

mod imports;
mod layers;
mod modules;
mod scc;

use std::process::{Command, ExitCode};

const HELP: &str = "\
usage: cargo xtask <task> [args]

tasks:
  bench [--quick] [--json PATH] [--net PROFILE] [FILTER...]
        run the cross-crate benchmarks (release build) and print one table;
        FILTER keeps rows whose name contains it, or a whole suite by name
        (ring, prg, comm, mpc, nn, onnx); --quick uses fewer repetitions.
        --net runs the comm and mpc rows over links shaped to PROFILE (lan:
        3 Gbit/s, 0.2 ms RTT; wan: 400 Mbit/s, 40 ms; wan-mpspdz: 100 Mbit/s,
        100 ms; or RATE,RTT such as 1gbit,10ms) and prints beside each time
        the estimate rounds x RTT + bytes / bandwidth; other suites are skipped.
        The onnx rows need the models of benches/models/make_models.py
  layers
        check the crate layering (xtask/src/layers.rs) and that no crate's
        top-level modules import each other in a cycle; one line per problem,
        exit status 1 if there is any
  help  print this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench(&args[1..]),
        Some("layers") if args.len() == 1 => check_layers(),
        Some("layers") => {
            eprintln!("xtask layers: takes no arguments\n\n{HELP}");
            ExitCode::from(2)
        }
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

/// `cargo xtask layers`: both structure checks, every problem printed before failing.
fn check_layers() -> ExitCode {
    match layer_problems() {
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask layers: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs both checks; prints the one-line summary when there is nothing to report.
fn layer_problems() -> Result<Vec<String>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .output()
        .map_err(|e| format!("could not start cargo metadata: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("cargo metadata failed: {}", stderr.trim()));
    }
    let json = String::from_utf8_lossy(&output.stdout);
    let metadata = layers::parse_metadata(&json)?;
    let mut problems = layers::violations(&metadata.packages);

    let graphs = modules::read_graphs(&metadata.workspace_root.join("crates"))?;
    for graph in &graphs {
        problems.extend(modules::cycles(graph).iter().map(ToString::to_string));
    }
    if problems.is_empty() {
        let module_count: usize = graphs.iter().map(|g| g.modules.len()).sum();
        println!(
            "layers: {} packages follow the layer table; modules: {} crate roots, {module_count} \
             top-level modules, no cycles",
            metadata.packages.len(),
            graphs.len()
        );
    }
    Ok(problems)
}
