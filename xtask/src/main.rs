//! `cargo xtask`: cross-crate tasks of the Cloak workspace.
//!
//! - `cargo xtask bench [--quick] [--net PROFILE] [--device DEVICE] [FILTER...]`: builds the benchmark suite in
//!   release mode and prints one table (figures beside the machine limits they are compared
//!   with); `--net` imitates a network on the communicating rows.
//! - `cargo xtask layers`: checks that workspace crates depend only on the layers below them
//!   ([`layers`]) and that no crate's top-level modules import each other in a cycle
//!   ([`modules`]).
//! - `cargo xtask gpu-check`: on a GPU machine, builds the `cloak-gpu` tests, the protocol
//!   tests on the GPU (`crates/cloak/tests/gpu_protocols.rs`) and the `gpu_check` example in
//!   release mode and runs them in one go (the ring and protocol conformance suites and a
//!   private inference on the GPU, then GEMM and elementwise timings), failing where the GPU
//!   is missing.
//! - `cargo xtask help`: this text.

mod imports;
mod layers;
mod modules;
mod scc;

use std::process::{Command, ExitCode};

const HELP: &str = "\
usage: cargo xtask <task> [args]

tasks:
  bench [--quick] [--json PATH] [--net PROFILE] [--device DEVICE] [FILTER...]
        run the cross-crate benchmarks (release build) and print one table;
        FILTER keeps rows whose name contains it, or a whole suite by name
        (ring, prg, comm, mpc, nn, onnx); --quick uses fewer repetitions.
        --net runs the comm and mpc rows over links shaped to PROFILE (lan:
        3 Gbit/s, 0.2 ms RTT; wan: 400 Mbit/s, 40 ms; wan-mpspdz: 100 Mbit/s,
        100 ms; or RATE,RTT such as 1gbit,10ms) and prints beside each time
        the estimate rounds x RTT + bytes / bandwidth; other suites are skipped.
        --device cpu|sim|cuda:N keeps the nn and onnx rows' shares on that
        device (two parties sharing it; other suites are skipped).
        The onnx rows need the models of benches/models/make_models.py
  gpu-check
        meant to be run on a GPU machine, in one go: builds the cloak-gpu
        tests and the gpu_check example (release), then runs the tests (the
        ring layer's device and backend conformance suites on the GPU, and
        the GPU's own tests, then again with every matmul by FP64 limbs
        through cuBLAS), the protocol conformance suite and a private
        inference with every share on the GPU (crates/cloak/tests/
        gpu_protocols.rs), and the example (GEMM checked bit for bit
        against the CPU, 4096^3 GEMM in T ring-MAC/s, elementwise add/mul on
        2^24 elements in GB/s), then the nn bench rows with every share on
        the GPU (bench --quick --device cuda:0 nn). Runs with
        CLOAK_REQUIRE_GPU=1: a missing driver, NVRTC (libnvrtc.so.12 on
        LD_LIBRARY_PATH), cuBLAS (libcublas.so.12) or GPU fails instead of
        skipping. No CUDA toolkit is needed to build
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
        Some("gpu-check") if args.len() == 1 => gpu_check(),
        Some("gpu-check") => {
            eprintln!("xtask gpu-check: takes no arguments\n\n{HELP}");
            ExitCode::from(2)
        }
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

/// `cargo xtask gpu-check`: builds first (so that a compile error shows before any GPU
/// time is spent), then runs the GPU tests one at a time with their output (every test
/// binary, even after a failure), then the check example; every step runs even if an
/// earlier one failed, and the summary names the failures.
fn gpu_check() -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build: [(&str, &[&str]); 3] = [
        ("build the tests", &["test", "--release", "--package", "cloak-gpu", "--no-run"]),
        (
            "build the protocol tests",
            &["test", "--release", "--package", "cloak", "--test", "gpu_protocols", "--no-run"],
        ),
        (
            "build the check",
            &["build", "--release", "--package", "cloak-gpu", "--example", "gpu_check"],
        ),
    ];
    for (what, args) in build {
        println!("== gpu-check: {what}: cargo {}", args.join(" "));
        if let Err(e) = run_cargo(&cargo, args, None) {
            eprintln!("xtask gpu-check: {what}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let gpu_tests: &[&str] = &[
        "test",
        "--release",
        "--package",
        "cloak-gpu",
        "--no-fail-fast",
        "--",
        "--nocapture",
        "--test-threads=1",
    ];
    // Each step: what it is, the GEMM method it forces (`CLOAK_GPU_GEMM`), cargo's arguments.
    let steps: [(&str, Option<&str>, &[&str]); 5] = [
        ("tests", None, gpu_tests),
        ("tests, matmuls by FP64 limbs", Some("fp64"), gpu_tests),
        (
            "protocol tests",
            None,
            &[
                "test",
                "--release",
                "--package",
                "cloak",
                "--test",
                "gpu_protocols",
                "--",
                "--nocapture",
                "--test-threads=1",
            ],
        ),
        ("check", None, &["run", "--release", "--package", "cloak-gpu", "--example", "gpu_check"]),
        (
            "private inference timings",
            None,
            &[
                "run",
                "--release",
                "--package",
                "cloak-benches",
                "--",
                "--quick",
                "--device",
                "cuda:0",
                "nn",
            ],
        ),
    ];
    let mut failed = Vec::new();
    for (what, gemm, args) in steps {
        let env = gemm.map(|m| format!("CLOAK_GPU_GEMM={m} ")).unwrap_or_default();
        println!("== gpu-check: {what}: {env}cargo {}", args.join(" "));
        if let Err(e) = run_cargo(&cargo, args, gemm) {
            eprintln!("xtask gpu-check: {what}: {e}");
            failed.push(what);
        }
    }
    if failed.is_empty() {
        println!("== gpu-check: all passed");
        ExitCode::SUCCESS
    } else {
        println!("== gpu-check: FAILED: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

/// Runs cargo with `args` and `CLOAK_REQUIRE_GPU=1` (and `CLOAK_GPU_GEMM` when `gemm` names
/// a method), output passed through.
fn run_cargo(cargo: &str, args: &[&str], gemm: Option<&str>) -> Result<(), String> {
    let mut command = Command::new(cargo);
    command.args(args).env("CLOAK_REQUIRE_GPU", "1");
    if let Some(method) = gemm {
        command.env("CLOAK_GPU_GEMM", method);
    }
    let status = command.status().map_err(|e| format!("could not start cargo: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("cargo exited with {status}")) }
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
