//! `cloak party`: one computing party of a deployment, on its own machine or as a process
//! that `cloak infer` started. It reads only its own inputs (the model owner the model, the
//! data owner the input), announces what is public, runs the model on secret shares, and
//! writes or prints only what was revealed to it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use cloak::comm::{CommConfig, Communicator, OpStats, TcpComm};
use cloak::device::DeviceName;
use cloak::mpc::{Session, SessionConfig};
use cloak::onnx::OnnxModel;
use cloak::{Roles, Stage};
use ndarray::ArrayD;

use super::announce::{self, Mine};
use super::lines::{Cost, Line};
use super::table::{self, NodeCost};
use super::{CliError, CliResult, DealerArg, LaunchArgs, RoleArgs, UNUSABLE, tell_others};

#[derive(Debug, Args)]
pub(crate) struct PartyArgs {
    /// The ONNX model (read by the model owner only).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The input, a float32 or float64 .npy file (read by the data owner only).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Where the party that learns the output writes it (.npy).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write --output as float64 rather than float32.
    #[arg(long)]
    pub float64: bool,
    /// Computing parties (checked against the world size when that is known).
    #[arg(long, value_parser = parse_parties)]
    pub parties: Option<usize>,
    /// Who deals correlated randomness.
    #[arg(long, value_enum, default_value_t = DealerArg::FirstParty)]
    pub dealer: DealerArg,
    #[command(flatten)]
    pub roles: RoleArgs,
    #[command(flatten)]
    pub launch: LaunchArgs,
    /// Seconds any communication step may wait for a peer.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Classes to print per row of a classifier's output.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
    /// Where this party keeps its shares and runs its kernels: cpu, sim (a simulated
    /// device, for trying the device path), cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = parse_device, value_name = "DEVICE")]
    pub device: DeviceName,
    /// Started by `cloak infer`: report progress and costs as lines for the launcher.
    #[arg(long, hide = true)]
    pub launched: bool,
}

/// `2..=8` computing parties.
pub(crate) fn parse_parties(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (2..=8).contains(&n) => Ok(n),
        _ => Err(format!("`{s}`: the number of parties must be 2 to 8")),
    }
}

/// A `--device` name (`cpu`, `sim`, `cuda`, `cuda:N`).
pub(crate) fn parse_device(s: &str) -> Result<DeviceName, String> {
    DeviceName::parse(s).map_err(|e| match e {
        cloak::Error::InvalidArgument { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// What this party holds of its own.
struct Own {
    model: Option<OnnxModel>,
    input: Option<ArrayD<f64>>,
    /// Whether the input file holds integers (token ids; refused for a model of reals).
    integers: bool,
}

/// Reads this party's own inputs, and nothing else: the flags for the other roles are
/// ignored, so every rank of a launcher can be given the same command line.
fn read_own(rank: usize, roles: &Roles, args: &PartyArgs) -> CliResult<Own> {
    let required = |path: &Option<PathBuf>, flag: &str, role: &str| -> CliResult<PathBuf> {
        path.clone().ok_or_else(|| {
            CliError::new(UNUSABLE, format!("party {rank} is the {role}: {flag} is required"))
        })
    };
    let model = if rank == roles.model_owner {
        Some(super::load_model(&required(&args.model, "--model", "model owner")?)?)
    } else {
        None
    };
    let (input, integers) = if rank == roles.data_owner {
        let (x, info) = cloak::npy::read_input(required(&args.input, "--input", "data owner")?)?;
        (Some(x), info.is_integer())
    } else {
        (None, false)
    };
    Ok(Own { model, input, integers })
}

fn role(rank: usize, roles: &Roles) -> String {
    let mut r = Vec::new();
    if rank == roles.model_owner {
        r.push("model owner");
    }
    if rank == roles.data_owner {
        r.push("data owner");
    }
    if r.is_empty() { "helper".into() } else { r.join(" and ") }
}

/// Per-stage and per-node costs at this party, from the communication counters.
struct Recorder<'s> {
    session: &'s Session,
    launched: bool,
    last: (Instant, OpStats),
    steps: usize,
    done: usize,
    stages: Vec<(String, Cost)>,
    nodes: Vec<(usize, String, String, Cost)>,
}

impl<'s> Recorder<'s> {
    fn new(session: &'s Session, launched: bool, start: Instant) -> Self {
        // Everything before now (connecting, the announcement, the session's seeds) is the
        // set-up stage.
        let mut r = Self {
            session,
            launched,
            last: (start, OpStats::default()),
            steps: 0,
            done: 0,
            stages: Vec::new(),
            nodes: Vec::new(),
        };
        let c = r.delta();
        r.stages.push(("setup".into(), c));
        r
    }

    fn delta(&mut self) -> Cost {
        let now = (Instant::now(), self.session.comm_stats().total());
        let c = Cost {
            time: now.0 - self.last.0,
            rounds: now.1.rounds - self.last.1.rounds,
            bytes: now.1.bytes_sent - self.last.1.bytes_sent,
        };
        self.last = now;
        c
    }

    fn on(&mut self, stage: Stage<'_>) {
        let c = self.delta();
        match stage {
            Stage::Built { steps } => {
                self.steps = steps;
                if let Some(s) = self.stages.first_mut() {
                    s.1.time += c.time;
                }
            }
            Stage::Weights => self.stages.push(("weights".into(), c)),
            Stage::Input => self.stages.push(("input".into(), c)),
            Stage::Node(s) => self.nodes.push((s.index, s.name.to_string(), s.op.to_string(), c)),
            Stage::Revealed => self.stages.push(("reveal".into(), c)),
            _ => {}
        }
        if !matches!(stage, Stage::Built { .. }) {
            self.done += 1;
        }
        if self.launched {
            // Stages: weights, input, each node, reveal.
            println!("{}", Line::Progress { done: self.done, total: self.steps + 3 }.encode());
        }
    }
}

/// Writes the revealed output as the user asked.
pub(crate) fn write_output(path: &Path, out: &ArrayD<f64>, float64: bool) -> CliResult<()> {
    if float64 {
        cloak::npy::write_f64(path, out)?
    } else {
        cloak::npy::write_f32(path, out)?
    }
    Ok(())
}

pub(crate) fn run(args: &PartyArgs) -> CliResult<()> {
    let start = Instant::now();
    // A party allocates and frees tensors of megabytes at every protocol step: keep freed
    // memory for reuse rather than faulting fresh pages in each time (see cloak_ring::memory).
    let _ = cloak_ring::memory::retain_freed_memory();
    let dealer = args.dealer.kind();
    let ttp = args.dealer == DealerArg::ThirdParty;
    let launch = args.launch.resolve(args.parties.map(|p| p + usize::from(ttp)))?;
    let world = launch.world_size;
    let parties = world.saturating_sub(usize::from(ttp));
    if !(2..=8).contains(&parties) || args.parties.is_some_and(|p| p != parties) {
        return Err(CliError::new(
            UNUSABLE,
            format!(
                "a world of {world} processes with --dealer {} is {parties} computing parties{}; Cloak runs 2 to 8",
                args.dealer.name(),
                args.parties.map(|p| format!(" (--parties says {p})")).unwrap_or_default()
            ),
        ));
    }
    let timeout = super::seconds("--timeout", args.timeout)?;
    let security = args.launch.security(&launch)?;
    if ttp && launch.rank == parties {
        return super::dealer::serve(&launch, timeout, security, !args.launched);
    }
    let roles = args.roles.roles();
    roles.check(parties).map_err(|e| CliError::new(UNUSABLE, e.to_string()))?;
    // CLOAK_NET imitates a network on the links (for measuring; see the README).
    let network = cloak::comm::NetProfile::from_env()?;
    let device = args.device.open().map_err(|e| CliError::new(UNUSABLE, e.to_string()))?;
    let config = SessionConfig { dealer, timeout, network, device, ..SessionConfig::default() };
    let mut comm = TcpComm::from_launch(&launch, &CommConfig { security, ..config.comm_config() })?;
    let rank = launch.rank;

    // From here on, a failure of this party's own tells the others why it stops, first over
    // the communicator, then over the session.
    let (model, input, shape) = prepare(&mut comm, rank, parties, &roles, args)
        .map_err(|e| tell_others(e, |reason| comm.abort(reason)))?;
    let session = Session::setup(Box::new(comm), config)?;
    let work = Work { rank, parties, roles, model, input, shape, start };
    compute(&session, &work, args).map_err(|e| tell_others(e, |reason| session.abort(reason)))
}

/// Reads this party's own inputs, announces what is public and checks it: the model, this
/// party's input (at the data owner) and the input's shape, the same at every party.
fn prepare(
    comm: &mut TcpComm,
    rank: usize,
    parties: usize,
    roles: &Roles,
    args: &PartyArgs,
) -> CliResult<(OnnxModel, Option<ArrayD<f64>>, Vec<usize>)> {
    // Own inputs are read once connected: a party that cannot read them still announces a
    // refusal, so the others stop at once.
    let own = read_own(rank, roles, args);
    let public_model = match &own {
        Ok(Own { model: Some(m), .. }) => Some(m.public_bytes()),
        _ => None,
    };
    let shape = match &own {
        Ok(Own { input: Some(x), .. }) => Some(x.shape().to_vec()),
        _ => None,
    };
    let mine = Mine { ok: own.is_ok(), model: public_model.as_deref(), shape: shape.as_deref() };
    let public = announce::announce(comm, parties, roles, mine);
    let own = own?;
    let public = public?;
    let model = match own.model {
        Some(m) => m,
        None => OnnxModel::from_public_bytes(public.model.as_deref().unwrap_or_default())?,
    };
    // Every party checks the same public facts, so all refuse together.
    model.check_input_shape(&public.shape).map_err(|e| CliError::new(UNUSABLE, e.to_string()))?;
    let unsupported = model.unsupported();
    if !unsupported.is_empty() {
        return Err(super::inspect::unsupported_error(&unsupported));
    }
    // Only the data owner knows its file's element type: integers suit token ids alone
    // (PyTorch refuses an integer tensor for a model of reals too).
    if own.integers && matches!(model.input_kind(), cloak_onnx::InputKind::Float) {
        return Err(CliError::new(
            UNUSABLE,
            "the input holds integers, but the model takes real numbers (float32 or float64)",
        ));
    }
    Ok((model, own.input, public.shape))
}

/// What a prepared party computes on.
struct Work {
    rank: usize,
    parties: usize,
    roles: Roles,
    model: OnnxModel,
    input: Option<ArrayD<f64>>,
    shape: Vec<usize>,
    start: Instant,
}

/// Runs the model, writes what was revealed to this party, waits for every computing party
/// to have done as much, ends the session, and prints.
///
/// The final barrier makes a party's success mean the run's: a party exits 0 only once every
/// computing party has finished, so the output has reached (and been written by) the party
/// that learns it. Without it, a party whose last message was its share of the output would
/// exit 0 even if the party learning the output died before receiving it. The dealer is
/// told to stop only after the barrier, so its success means the same.
fn compute(session: &Session, work: &Work, args: &PartyArgs) -> CliResult<()> {
    let Work { rank, parties, roles, ref model, ref input, ref shape, start } = *work;
    let mut recorder = Recorder::new(session, args.launched, start);
    let out = cloak::infer_observed(session, model, roles, input.as_ref(), shape, &mut |s| {
        recorder.on(s);
    })?;
    if let (Some(path), Some(out)) = (&args.output, &out) {
        write_output(path, out, args.float64)?;
    }
    session.barrier()?;
    session.close()?;

    if args.launched {
        for (name, cost) in &recorder.stages {
            println!("{}", Line::Stage { name: name.clone(), cost: cost.clone() }.encode());
        }
        for (index, _, _, cost) in &recorder.nodes {
            println!("{}", Line::Node { index: *index, cost: cost.clone() }.encode());
        }
        return Ok(());
    }
    println!("party {rank} of {parties} ({}), dealer: {}", role(rank, &roles), args.dealer.name());
    match &out {
        Some(out) => {
            print!("{}", table::predictions(out, args.top_k.max(1), None));
            if let Some(path) = &args.output {
                println!("output written to {}", path.display());
            }
        }
        None => {
            println!("nothing revealed to this party (the output goes to {})", reveal_name(&roles))
        }
    }
    let nodes: Vec<NodeCost> = recorder
        .nodes
        .iter()
        .map(|(_, name, op, cost)| NodeCost {
            name: name.clone(),
            op: op.clone(),
            cost: cost.clone(),
        })
        .collect();
    print!("{}", table::layers(rank, &nodes, &recorder.stages));
    Ok(())
}

fn reveal_name(roles: &Roles) -> String {
    roles.reveal_to.map_or_else(|| "every party".into(), |r| format!("party {r}"))
}
