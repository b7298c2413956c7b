//! The cross-crate benchmark suite of Cloak; run it with `cargo xtask bench`.
//!
//! Prints one Markdown table: each figure beside the limit it is compared with.

mod comm;
mod harness;
mod limits;
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

type Suite = (&'static str, fn(bool) -> Vec<harness::Row>);

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cloak-benches: {e}");
            return ExitCode::from(2);
        }
    };
    let suites: [Suite; 3] = [("ring", ring::rows), ("prg", prg::rows), ("comm", comm::rows)];
    let wanted = |name: &str| {
        args.filters.is_empty() || args.filters.iter().any(|f| name.to_lowercase().contains(f))
    };
    println!(
        "Cloak benchmarks: {} CPU thread(s) in the rayon pool{}\n",
        rayon::current_num_threads(),
        if args.quick { ", quick mode" } else { "" }
    );
    let mut rows = Vec::new();
    for (suite, run) in suites {
        let whole_suite = args.filters.iter().any(|f| suite.contains(f.as_str()));
        if !args.filters.is_empty() && !whole_suite && !suite_may_match(suite, &args.filters) {
            continue;
        }
        rows.extend(run(args.quick).into_iter().filter(|r| whole_suite || wanted(&r.name)));
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

/// Whether a row of `suite` may match one of the filters (by the words its row names use), so
/// that a filtered run skips suites it would throw away entirely.
fn suite_may_match(suite: &str, filters: &[String]) -> bool {
    let keywords: &[&str] = match suite {
        "ring" => &["gemm", "conv", "u64", "u32"],
        "prg" => &["prg", "aes"],
        "comm" => &["tcp", "ping", "loopback"],
        _ => &[],
    };
    filters.iter().any(|f| keywords.iter().any(|k| k.contains(f.as_str()) || f.contains(k)))
}
