//! `cloak infer`: a private inference on this machine, every party (and the dealer) its own
//! process over loopback TCP, as a real deployment would run them on separate machines.
//!
//! The launcher plays no party: it reads the model (for the report, and for the names of
//! the nodes the parties report costs for) and the input's header (its shape), starts the
//! parties with only their own files (the model owner gets `--model`, the data owner
//! `--input`), follows the progress of the party that learns the output, and prints what
//! that party learned. With `--check` it also runs the model in plain `f64` on both files
//! (which it may read, being no party) and prints the two side by side.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use cloak::autograd::{Backend, Plain, Var};
use cloak::device::DeviceName;
use cloak::nn::{Module, ModuleExt};
use cloak::onnx::OnnxModel;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::ArrayD;

use super::lines::{Cost, Line};
use super::party::{parse_device, parse_parties, write_output};
use super::procs::{self, Spec};
use super::table::{self, NodeCost};
use super::{CliError, CliResult, DealerArg, RoleArgs, UNUSABLE};

#[derive(Debug, Args)]
pub(crate) struct InferArgs {
    /// The ONNX model (given to the model owner only).
    #[arg(long)]
    pub model: PathBuf,
    /// The input, a float32 or float64 .npy file (given to the data owner only).
    #[arg(long)]
    pub input: PathBuf,
    /// Write the revealed output here (.npy, float32 unless --float64).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write --output as float64.
    #[arg(long)]
    pub float64: bool,
    /// Computing parties, 2 to 8.
    #[arg(long, default_value_t = 2, value_parser = parse_parties)]
    pub parties: usize,
    /// Who deals correlated randomness: party 0, or a separate process.
    #[arg(long, value_enum, default_value_t = DealerArg::FirstParty)]
    pub dealer: DealerArg,
    #[command(flatten)]
    pub roles: RoleArgs,
    /// Also run the model in plain f64 here and compare.
    #[arg(long)]
    pub check: bool,
    /// True labels of the rows (.npy of integers), printed beside the predictions.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Classes to print per row of a classifier's output.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
    /// Seconds the whole run may take before every process is killed.
    #[arg(long, default_value_t = 600.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Where every party keeps its shares and runs its kernels: cpu, sim (a simulated
    /// device), cuda or cuda:N (parties may share one GPU).
    #[arg(long, default_value = "cpu", value_parser = parse_device, value_name = "DEVICE")]
    pub device: DeviceName,
    /// Run every link under mutual TLS with a throwaway deployment's certificates, as the
    /// parties would across machines (on loopback, links are otherwise plain TCP).
    #[arg(long)]
    pub tls: bool,
}

/// A fresh directory under the system's temporary one, removed when dropped: where the
/// party that learns the output leaves it for the launcher.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> CliResult<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("cloak-infer-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)
            .map_err(|e| CliError::failed(format!("{}: {e}", path.display())))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unusable(e: impl ToString) -> CliError {
    CliError::new(UNUSABLE, e.to_string())
}

/// The model's output on the input in plain `f64`: the reference for `--check`.
fn plain_output(model: &OnnxModel, input: &Path, shape: &[usize]) -> CliResult<ArrayD<f64>> {
    let x = model.encode_input(&cloak::npy::read_input(input)?.0).map_err(cloak::Error::from)?;
    let net = model.build(&Plain, shape)?;
    net.load_state(0, model.weights()).map_err(cloak::Error::from)?;
    let encoded = model.encoded_input_shape(shape);
    let x = Var::constant(&Plain, Plain.input(0, Some(&x), &encoded).map_err(cloak::Error::from)?);
    let y = net.forward(&x).map_err(cloak::Error::from)?;
    Ok(Plain.reveal(&y.value()).map_err(cloak::Error::from)?)
}

fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("setting up");
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// The processes: the computing parties in rank order, then the dealer if it is a process.
fn specs(args: &InferArgs, out_path: &Path, observer: usize) -> Vec<Spec> {
    let roles = args.roles.roles();
    // A stalled peer should be noticed well before the whole run's deadline, but a party
    // needs a moment to start and connect.
    let step_timeout = args.timeout.clamp(1.0, 60.0).to_string();
    let mut specs = Vec::new();
    for rank in 0..args.parties {
        let mut a: Vec<OsString> =
            ["party", "--launched", "--dealer", args.dealer.name(), "--timeout", &step_timeout]
                .into_iter()
                .map(OsString::from)
                .collect();
        a.extend(["--parties".into(), args.parties.to_string().into()]);
        a.extend(["--device".into(), args.device.label().into()]);
        a.extend(args.roles.to_args());
        let mut role = Vec::new();
        if rank == roles.model_owner {
            a.extend(["--model".into(), args.model.clone().into_os_string()]);
            role.push("model owner");
        }
        if rank == roles.data_owner {
            a.extend(["--input".into(), args.input.clone().into_os_string()]);
            role.push("data owner");
        }
        if rank == observer {
            a.extend(["--output".into(), out_path.as_os_str().to_owned(), "--float64".into()]);
        }
        let role = if role.is_empty() { "helper".to_string() } else { role.join(" and ") };
        specs.push(Spec { name: format!("party {rank} ({role})"), args: a });
    }
    if args.dealer == DealerArg::ThirdParty {
        let a = ["dealer", "--quiet", "--timeout", &step_timeout]
            .into_iter()
            .map(OsString::from)
            .collect();
        specs.push(Spec { name: format!("the dealer (rank {})", args.parties), args: a });
    }
    specs
}

pub(crate) fn run(args: &InferArgs) -> CliResult<()> {
    let roles = args.roles.roles();
    roles.check(args.parties).map_err(unusable)?;
    if args.top_k == 0 {
        return Err(unusable("--top-k must be at least 1"));
    }
    let deadline = super::seconds("--timeout", args.timeout)?;
    let model = super::load_model(&args.model)?;
    let info = cloak::npy::info(&args.input)?;
    let ids = matches!(model.input_kind(), cloak_onnx::InputKind::TokenIds { .. });
    if !(info.is_float() || ids && info.is_integer()) {
        let expected =
            if ids { "token ids (integers or whole floats)" } else { "float32 or float64" };
        return Err(unusable(format!(
            "{}: element type {}, expected {expected}",
            args.input.display(),
            info.dtype
        )));
    }
    let shape = info.shape;
    model.check_input_shape(&shape).map_err(unusable)?;
    let report = model.report(&shape).map_err(unusable)?;
    println!("{}: {} nodes", args.model.display(), model.node_count());
    print!("{report}");
    if !report.unsupported.is_empty() {
        return Err(super::inspect::unsupported_error(&report.unsupported));
    }
    let labels = match &args.labels {
        Some(p) => {
            let l = cloak::npy::read_labels(p)?;
            if shape.first() != Some(&l.len()) {
                return Err(unusable(format!(
                    "{}: {} labels for {} rows",
                    p.display(),
                    l.len(),
                    shape[0]
                )));
            }
            Some(l)
        }
        None => None,
    };
    let steps: Vec<(String, String)> = model
        .build(&Plain, &shape)?
        .steps()
        .into_iter()
        .map(|(n, o)| (n.to_string(), o.to_string()))
        .collect();

    let tmp = TempDir::new()?;
    let out_path = tmp.0.join("revealed.npy");
    // The party whose progress and costs are shown: the one that learns the output.
    let observer = roles.reveal_to.unwrap_or(roles.data_owner);
    let mut specs = specs(args, &out_path, observer);
    if args.tls {
        let certs = tmp.0.join("certs");
        let world = specs.len();
        cloak::comm::tls::Deployment::generate(world, false)?.write_to(&certs)?;
        for spec in &mut specs {
            spec.args.extend(["--tls-dir".into(), certs.clone().into_os_string()]);
        }
    }
    println!(
        "\nrunning {} parties{} as processes over loopback TCP; model owner {}, data owner {}, output to {}",
        args.parties,
        if args.dealer == DealerArg::ThirdParty { " and a dealer" } else { " (party 0 deals)" },
        roles.model_owner,
        roles.data_owner,
        roles.reveal_to.map_or_else(|| "every party".to_string(), |r| format!("party {r}")),
    );
    let bar = progress_bar(steps.len() as u64 + 3);
    let mut stages: Vec<(String, Cost)> = Vec::new();
    let mut nodes: Vec<NodeCost> = Vec::new();
    let exe = std::env::current_exe()
        .map_err(|e| CliError::failed(format!("cannot find this program: {e}")))?;
    let started = std::time::Instant::now();
    let outcomes = procs::run(&exe, &specs, deadline, &mut |rank, line| {
        if rank != observer {
            return;
        }
        match Line::decode(line) {
            Some(Line::Progress { done, total }) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(if done + 1 >= total { "revealing" } else { "computing" });
            }
            Some(Line::Stage { name, cost }) => stages.push((name, cost)),
            Some(Line::Node { index, cost }) => {
                let (name, op) =
                    steps.get(index).cloned().unwrap_or_else(|| (format!("#{index}"), "?".into()));
                nodes.push(NodeCost { name, op, cost });
            }
            None => {}
        }
    })?;
    bar.finish_and_clear();
    if let Some(e) = procs::root_cause(&outcomes, deadline) {
        return Err(e);
    }
    let wall = started.elapsed();
    let out = cloak::npy::read(&out_path).map_err(|e| {
        CliError::failed(format!("party {observer} revealed no readable output: {e}"))
    })?;
    println!("done in {:.1} ms (wall, processes and set-up included)\n", wall.as_secs_f64() * 1e3);
    println!("revealed to party {observer}:");
    print!("{}", table::predictions(&out, args.top_k, labels.as_deref()));
    if args.check {
        let plain = plain_output(&model, &args.input, &shape)?;
        println!();
        print!("{}", table::check(&out, &plain).0);
    }
    println!();
    print!("{}", table::layers(observer, &nodes, &stages));
    if let Some(path) = &args.output {
        write_output(path, &out, args.float64)?;
        println!(
            "\noutput written to {} ({})",
            path.display(),
            if args.float64 { "float64" } else { "float32" }
        );
    }
    Ok(())
}
