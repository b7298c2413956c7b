//! The cross-crate benchmark suite of Cloak; run it with `cargo xtask bench`.
//!
//! Prints one Markdown table: each figure beside the limit it is compared with.

mod bert;
mod comm;
mod crypten;
mod device;
mod harness;
mod limits;
mod mpc;
mod nn;
mod onnx;
mod parties;
mod prg;
mod ring;

use std::process::ExitCode;

use cloak_comm::NetProfile;

use crate::harness::Options;

#[derive(Debug)]
struct Args {
    opts: Options,
    json: Option<String>,
    filters: Vec<String>,
    /// `--device`: where the nn, onnx and bert rows keep their shares.
    device: Option<String>,
}

/// Reads the arguments (without the program name).
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut args_out =
        Args { opts: Options::default(), json: None, filters: Vec::new(), device: None };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args_out.opts.quick = true,
            "--json" => args_out.json = Some(it.next().ok_or("--json needs a path")?),
            "--net" => {
                let choice =
                    it.next().ok_or("--net needs a profile (lan, wan, wan-mpspdz, RATE,RTT)")?;
                args_out.opts.net =
                    NetProfile::parse_choice(&choice).map_err(|e| format!("--net: {e}"))?;
            }
            "--device" => {
                let name = it.next().ok_or("--device needs a device (cpu, sim, cuda:N)")?;
                args_out.device = Some(name);
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => args_out.filters.push(s.to_lowercase()),
        }
    }
    Ok(args_out)
}

/// A suite builds its rows, measuring only those whose name the filter keeps.
type Run = fn(&Options, &dyn Fn(&str) -> bool) -> Vec<harness::Row>;

/// A suite: its name, whether it runs over a shaped network when `--net` asks for one
/// (the others do not communicate, or not yet through a shaped configuration, and are
/// left out of a shaped run rather than shown unshaped beside shaped figures), and its run.
type Suite = (&'static str, bool, Run);

/// Whether the lower-cased filter `f` selects the row `name`.
fn matches(f: &str, name: &str) -> bool {
    let name = name.to_lowercase();
    match f.strip_prefix('=') {
        Some(whole) => name == whole,
        None => name.contains(f),
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cloak-benches: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Err(e)) = args.device.as_deref().map(device::choose) {
        eprintln!("cloak-benches: {e}");
        return ExitCode::from(2);
    }
    let on_device = args.device.as_deref().is_some_and(|d| d != "cpu");
    // Large tensors are allocated and freed per protocol step: keep the memory in the process
    // (see cloak_ring::memory), as a deployment would.
    let retained = cloak_ring::memory::retain_freed_memory();
    let suites: [Suite; 6] = [
        ("ring", false, ring::rows),
        ("prg", false, prg::rows),
        ("comm", true, comm::rows),
        ("mpc", true, mpc::rows),
        ("nn", false, nn::rows),
        ("onnx", true, onnx::rows),
    ];
    let net = match args.opts.net {
        Some(p) => format!(
            ", network shaped to {p} ({} Mbit/s, RTT {:?}; estimate = rounds x RTT + bytes / \
             bandwidth)",
            p.bits_per_second() as f64 / 1e6,
            p.rtt()
        ),
        None => String::new(),
    };
    let placement = if on_device {
        format!(", the nn and onnx rows' shares on {}", device::chosen().label())
    } else {
        String::new()
    };
    println!(
        "Cloak benchmarks: {} CPU thread(s) in the rayon pool, freed memory {}{}{net}{placement}\n",
        rayon::current_num_threads(),
        if retained { "retained" } else { "returned to the OS" },
        if args.opts.quick { ", quick mode" } else { "" }
    );
    let mut rows = Vec::new();
    for (suite, shapes, run) in suites {
        if on_device && !matches!(suite, "nn" | "onnx") {
            eprintln!("cloak-benches: {suite} rows do not take --device; skipped");
            continue;
        }
        if args.opts.net.is_some() && !shapes {
            eprintln!("cloak-benches: {suite} rows are not run over a shaped network; skipped");
            continue;
        }
        // A filter matches a suite's name (all its rows) or part of a row's name; one that
        // starts with `=` matches a row's whole name only.
        let whole_suite = args.filters.is_empty() || args.filters.iter().any(|f| suite == f);
        let wanted = |name: &str| whole_suite || args.filters.iter().any(|f| matches(f, name));
        rows.extend(run(&args.opts, &wanted));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn net_takes_a_profile() {
        let args = parse(&["--net", "wan", "--quick", "mpc"]).expect("valid arguments");
        assert_eq!(args.opts.net, Some(NetProfile::WAN));
        assert!(args.opts.quick);
        assert_eq!(args.filters, ["mpc"]);
        assert!(matches("mpc relu", "mpc relu 1M, fss") && matches("=mpc relu 1m", "mpc relu 1M"));
        assert!(!matches("=mpc relu 1m", "mpc relu 1M, fss"));
        let custom = parse(&["--net", "1gbit,10ms"]).expect("valid arguments");
        assert_eq!(custom.opts.net.map(|p| p.rtt()), Some(std::time::Duration::from_millis(10)));
        assert_eq!(parse(&["--net", "loopback"]).expect("valid").opts.net, None);
        assert_eq!(parse(&[]).expect("valid").opts.net, None);
    }

    #[test]
    fn a_bad_net_is_an_error_not_a_panic() {
        assert!(parse(&["--net"]).unwrap_err().contains("needs a profile"));
        assert!(parse(&["--net", "fast"]).unwrap_err().contains("unknown network profile"));
        assert!(parse(&["--net", "1gbps,1ms"]).unwrap_err().contains("bad rate"));
    }

    #[test]
    fn device_takes_a_name_and_a_bad_one_is_an_error() {
        let args = parse(&["--device", "sim", "nn"]).expect("valid arguments");
        assert_eq!(
            (args.device.as_deref(), &args.filters[..]),
            (Some("sim"), &["nn".to_owned()][..])
        );
        assert!(parse(&["--device"]).unwrap_err().contains("needs a device"));
        assert!(device::choose("tpu").unwrap_err().contains("use cpu, sim, cuda or cuda:N"));
    }
}
