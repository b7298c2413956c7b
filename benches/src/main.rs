//! The cross-crate benchmark suite of Cloak; run it with `cargo xtask bench`.
//!
//! Prints one Markdown table: each figure beside the limit it is compared with.

mod comm;
mod crypten;
mod harness;
mod limits;
mod mpc;
mod nn;
mod onnx;
mod parties;
mod prg;
mod ring;

use std::process::ExitCode;

struct Args {
    quick: bool,
    json: Option<String>,
    filters: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { quick: false, json: None, filters: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--json" => args.json = Some(it.next().ok_or("--json needs a path")?),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => args.filters.push(s.to_lowercase()),
        }
    }
    Ok(args)
}

/// A suite builds its rows, measuring only those whose name the filter keeps.
type Suite = (&'static str, fn(bool, &dyn Fn(&str) -> bool) -> Vec<harness::Row>);

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cloak-benches: {e}");
            return ExitCode::from(2);
        }
    };
    // Large tensors are allocated and freed per protocol step: keep the memory in the process
    // (see cloak_ring::memory), as a deployment would.
    let retained = cloak_ring::memory::retain_freed_memory();
    let suites: [Suite; 6] = [
        ("ring", ring::rows),
        ("prg", prg::rows),
        ("comm", comm::rows),
        ("mpc", mpc::rows),
        ("nn", nn::rows),
        ("onnx", onnx::rows),
    ];
    println!(
        "Cloak benchmarks: {} CPU thread(s) in the rayon pool, freed memory {}{}\n",
        rayon::current_num_threads(),
        if retained { "retained" } else { "returned to the OS" },
        if args.quick { ", quick mode" } else { "" }
    );
    let mut rows = Vec::new();
    for (suite, run) in suites {
        // A filter matches a suite's name (all its rows) or part of a row's name.
        let whole_suite = args.filters.is_empty() || args.filters.iter().any(|f| suite == f);
        let wanted = |name: &str| {
            whole_suite || args.filters.iter().any(|f| name.to_lowercase().contains(f.as_str()))
        };
        rows.extend(run(args.quick, &wanted));
    }
    if rows.is_empty() {
        eprintln!("cloak-benches: no benchmark matches {:?}", args.filters);
        return ExitCode::from(2);
    }
    harness::print_table(&rows);
    if let Some(path) = args.json
        && let Err(e) = std::fs::write(&path, harness::to_json(&rows))
    {
        eprintln!("cloak-benches: cannot write {path}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
