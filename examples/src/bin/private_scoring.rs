//! Private logistic-regression scoring: a model owner and a data owner learn the model's
//! scores on the data, and neither sees the other's input.
//!
//! Party 0 (the model owner) holds the weights `w` (d features) and the bias `b`; party 1
//! (the data owner) holds a batch of feature rows `X` (m x d); with `--parties 3`, party 2 is
//! a helper with no input (it only holds shares). Together they compute, on secret shares,
//!
//! - the scores `s = X w + b` (one Beaver matrix product, one truncation, a local addition),
//! - the decisions `s > 0` (a comparison against the public 0: `gt_public`),
//! - `relu(s)` (one more comparison and a product by the bit),
//!
//! then reveal the decisions to party 1 only and the scores and `relu(s)` to parties 0 and 1
//! (the helper learns nothing). Only the shapes `m` and `d` are public: the parties announce
//! them to each other before the computation.
//!
//! Run without launcher variables, the program starts the parties as separate processes
//! talking TCP over loopback (as torchrun would; `--dealer ttp` adds one more process, the
//! trusted third party that hands out correlated randomness), prints what each party
//! printed, and checks the revealed results against a plain `f64` computation (the launcher
//! knows both inputs; the parties never do). Run with `RANK`, `WORLD_SIZE`, `MASTER_ADDR`,
//! `MASTER_PORT` set (or SLURM / Open MPI variables), it is one party of a deployment; with
//! `--dealer ttp` the last rank is the dealer.
//!
//! Options:
//! - `--parties N`: 2 or 3 computing parties (default 2);
//! - `--dealer tfp|ttp`: party 0 deals (trusted first party, default) or a separate dealer
//!   process (trusted third party, one more rank);
//! - `--weights model.npy`: party 0's model, a 1-d `.npy` array of d + 1 values, the
//!   weights followed by the bias (`np.append(coef, intercept)`);
//! - `--features data.npy`: party 1's rows, a 2-d `.npy` array m x d (1-d: one row);
//! - `--rows M`, `--dims D`, `--seed S`: the generated inputs used where no file is given
//!   (defaults 8, 4, 2024; see [`generate_model`] and [`generate_features`]).
//!
//! Each party prints only what was revealed to it and statistics, and before printing it
//! checks mechanically that its report quotes none of its private inputs ([`audit`]).

#[path = "../npy.rs"]
mod npy;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloak_comm::runner::{ProcessRun, run_processes};
use cloak_comm::{CommConfig, Communicator, Launch, Op, OpKind, TcpComm};
use cloak_dealer::DealerStats;
use cloak_mpc::{AShare, DealerKind, Session, SessionConfig};
use cloak_ring::testing::TestRng;
use ndarray::{ArrayD, IxDyn};

/// Communication timeout: a dead or stalled peer ends every party's run within this.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Fractional bits of the fixed-point encoding (the session default, 16).
const FRAC_BITS: u32 = cloak_ring::DEFAULT_FRAC_BITS;

/// Largest public shape a party accepts from a peer (elements of `X`), so that a corrupt
/// announcement cannot make it allocate without bound.
const MAX_ELEMENTS: u64 = 1 << 26;

struct Options {
    /// Computing parties; `None` means 2 when launching, or whatever the launcher's world
    /// size implies when run as a party.
    parties: Option<usize>,
    dealer: DealerKind,
    weights: Option<PathBuf>,
    features: Option<PathBuf>,
    rows: usize,
    dims: usize,
    seed: u64,
}

const USAGE: &str = "usage: private_scoring [--parties 2|3] [--dealer tfp|ttp] \
                     [--weights model.npy] [--features data.npy] [--rows M] [--dims D] [--seed S]";

fn parse_options() -> Result<Options, String> {
    let mut opts = Options {
        parties: None,
        dealer: DealerKind::TrustedFirstParty,
        weights: None,
        features: None,
        rows: 8,
        dims: 4,
        seed: 2024,
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        let a = a.to_string_lossy().into_owned();
        let mut value = |name: &str| -> Result<String, String> {
            args.next()
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or(format!("{name} needs a value\n{USAGE}"))
        };
        let number = |name: &str, v: String| -> Result<usize, String> {
            v.parse().map_err(|_| format!("{name}: `{v}` is not a number"))
        };
        match a.as_str() {
            "--parties" => opts.parties = Some(number("--parties", value("--parties")?)?),
            "--dealer" => {
                opts.dealer = match value("--dealer")?.as_str() {
                    "tfp" => DealerKind::TrustedFirstParty,
                    "ttp" => DealerKind::TrustedThirdParty,
                    other => return Err(format!("--dealer must be tfp or ttp, not `{other}`")),
                }
            }
            "--weights" => opts.weights = Some(value("--weights")?.into()),
            "--features" => opts.features = Some(value("--features")?.into()),
            "--rows" => opts.rows = number("--rows", value("--rows")?)?,
            "--dims" => opts.dims = number("--dims", value("--dims")?)?,
            "--seed" => {
                let v = value("--seed")?;
                opts.seed = v.parse().map_err(|_| format!("--seed: `{v}` is not a number"))?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if let Some(p) = opts.parties
        && !(2..=3).contains(&p)
    {
        return Err(format!("--parties must be 2 or 3, got {p}"));
    }
    if opts.rows == 0
        || opts.dims == 0
        || (opts.rows as u64).saturating_mul(opts.dims as u64) > MAX_ELEMENTS
    {
        return Err(format!(
            "--rows and --dims must be positive with rows * dims <= {MAX_ELEMENTS}"
        ));
    }
    Ok(opts)
}

// ---------------------------------------------------------------------------------------
// Inputs

// The generator is `TestRng`: SplitMix64 (Steele, Lea and Flood, 2014) seeded with its
// state, `uniform(lo, hi)` from the top 53 bits of one draw. It is fully specified, so the
// generated inputs are the same on every machine and in every language that implements it.

/// Stream constants that keep the model's and the data's generators independent.
const MODEL_STREAM: u64 = 0x6d6f_6465_6c00_0000; // "model"
const DATA_STREAM: u64 = 0x6461_7461_0000_0000; // "data"

/// A linear model: weights and bias.
struct Model {
    w: Vec<f64>,
    b: f64,
}

/// Feature rows, row-major.
struct Features {
    rows: usize,
    dims: usize,
    x: Vec<f64>,
}

/// The generated model: `TestRng::new(seed ^ MODEL_STREAM)` draws `w_0 .. w_{d-1}` uniform in
/// `[-1, 1)`, then `b` uniform in `[-0.5, 0.5)`.
fn generate_model(seed: u64, dims: usize) -> Model {
    let mut g = TestRng::new(seed ^ MODEL_STREAM);
    let w = (0..dims).map(|_| g.uniform(-1.0, 1.0)).collect();
    Model { w, b: g.uniform(-0.5, 0.5) }
}

/// The generated data: `TestRng::new(seed ^ DATA_STREAM)` draws `X` row by row, each entry
/// uniform in `[-2, 2)`.
fn generate_features(seed: u64, rows: usize, dims: usize) -> Features {
    let mut g = TestRng::new(seed ^ DATA_STREAM);
    Features { rows, dims, x: g.vec_f64(rows * dims, -2.0, 2.0) }
}

fn read_npy(path: &Path) -> Result<npy::Array, String> {
    npy::read(path).map_err(|e| e.to_string())
}

/// Party 0's model: from `--weights` (d + 1 values, the bias last) or generated.
fn load_model(opts: &Options) -> Result<Model, String> {
    let Some(path) = &opts.weights else {
        return Ok(generate_model(opts.seed, opts.dims));
    };
    let a = read_npy(path)?;
    if a.shape.len() != 1 || a.data.len() < 2 {
        return Err(format!(
            "{}: the model must be a 1-d array of d + 1 >= 2 values (weights, then the bias), \
             got shape {:?}",
            path.display(),
            a.shape
        ));
    }
    let mut w = a.data;
    let b = w.pop().unwrap_or_default();
    Ok(Model { w, b })
}

/// Party 1's rows: from `--features` (2-d, or 1-d for one row) or generated.
fn load_features(opts: &Options) -> Result<Features, String> {
    let Some(path) = &opts.features else {
        return Ok(generate_features(opts.seed, opts.rows, opts.dims));
    };
    let a = read_npy(path)?;
    let (rows, dims) = match a.shape[..] {
        [d] => (1, d),
        [m, d] => (m, d),
        _ => unreachable!("the reader returns 1-d or 2-d arrays"),
    };
    if rows == 0 || dims == 0 || (rows * dims) as u64 > MAX_ELEMENTS {
        return Err(format!(
            "{}: the features must be a non-empty m x d array of at most {MAX_ELEMENTS} \
             elements, got shape {:?}",
            path.display(),
            a.shape
        ));
    }
    Ok(Features { rows, dims, x: a.data })
}

/// The error of a model and data whose dimensions disagree.
fn dims_mismatch(model_dims: usize, data_dims: usize) -> String {
    format!(
        "the model has {model_dims} weights but the feature rows have {data_dims} columns \
         (with generated data, pass --dims {model_dims})"
    )
}

/// `X w + b` in plain `f64`: the reference the launcher checks against.
fn plain_scores(model: &Model, data: &Features) -> Vec<f64> {
    data.x
        .chunks(data.dims)
        .map(|row| row.iter().zip(&model.w).map(|(x, w)| x * w).sum::<f64>() + model.b)
        .collect()
}

/// How far the revealed scores may be from the plain `f64` ones.
///
/// With `f = 16` fractional bits, every input is encoded to within `e = 2^-17` (round to
/// nearest). The shared matrix product is exact on the encoded values (a Beaver product in
/// `Z_2^64` at scale `2^32`), so a score's d-term dot product is off by at most
/// `sum_j (|x_ij| + |w_j|) e + d e^2` from the real one; the product is then truncated once
/// (not once per term) to scale `2^16`, adding less than one unit in the last place,
/// `u = 2^-16`; the bias adds its own encoding error `e`. So
///
/// `tol = u + e (1 + max_i sum_j (|x_ij| + |w_j|)) + d e^2`,
///
/// plus a few `f64` roundings of the reference sum. `relu(s)` is at most as far off (ReLU
/// is 1-Lipschitz and the secure ReLU multiplies by the bit without truncating). For the
/// generated inputs (`|x| < 2`, `|w| < 1`, d = 4) it is at most about `1.1e-4`.
fn tolerance(model: &Model, data: &Features) -> f64 {
    let u = 0.5f64.powi(FRAC_BITS as i32);
    let e = u / 2.0;
    let d = data.dims as f64;
    let (mut worst_abs, mut worst_mag) = (0.0f64, 0.0f64);
    for row in data.x.chunks(data.dims) {
        let abs: f64 = row.iter().zip(&model.w).map(|(x, w)| x.abs() + w.abs()).sum();
        let mag: f64 = row.iter().zip(&model.w).map(|(x, w)| (x * w).abs()).sum();
        worst_abs = worst_abs.max(abs);
        worst_mag = worst_mag.max(mag + model.b.abs());
    }
    u + e * (1.0 + worst_abs) + d * e * e + 4.0 * (d + 1.0) * f64::EPSILON * worst_mag
}

// ---------------------------------------------------------------------------------------
// One party

/// Timeouts that end a failed run instead of hanging it; no busy-waiting when there are
/// more processes than cores (each would steal the core its peer needs to answer).
fn comm_config(world: usize) -> CommConfig {
    let mut config = CommConfig::with_timeouts(TIMEOUT);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if world > cores {
        config.spin = Duration::ZERO;
    }
    config
}

/// What this party knows of the public shapes after the announcement.
struct Shapes {
    rows: usize,
    dims: usize,
}

/// The public shapes: party 0 announces d (its number of weights), party 1 announces m and
/// d (its rows and columns), in one round among the computing parties. Every party then
/// checks the same numbers, so a disagreement is reported identically everywhere.
fn announce_shapes(
    comm: &mut TcpComm,
    parties: usize,
    model: Option<&Model>,
    data: Option<&Features>,
) -> Result<Shapes, Box<dyn Error>> {
    let rank = comm.rank();
    let mine: Vec<u64> = match (model, data) {
        (Some(m), _) => vec![m.w.len() as u64],
        (_, Some(x)) => vec![x.rows as u64, x.dims as u64],
        _ => Vec::new(),
    };
    let payload = cloak_comm::u64s_to_bytes(&mine);
    let sends: Vec<(usize, &[u8])> = if mine.is_empty() {
        Vec::new()
    } else {
        (0..parties).filter(|&p| p != rank).map(|p| (p, &payload[..])).collect()
    };
    let from: Vec<usize> = [0, 1].into_iter().filter(|&p| p != rank).collect();
    let previous = comm.stats().label().to_owned();
    comm.set_label("shapes");
    let got = comm.step(Op::new(OpKind::PointToPoint), &sends, &from);
    comm.set_label(&previous);
    let mut announced: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    if rank < 2 {
        announced[rank] = mine;
    }
    for (&p, bytes) in from.iter().zip(got?) {
        announced[p] = cloak_comm::u64s_from_bytes(&bytes)
            .ok_or(format!("party {p} sent a malformed shape announcement"))?;
    }
    let (w_dims, rows, dims) = match (&announced[0][..], &announced[1][..]) {
        ([d0], [m, d1]) => (*d0, *m, *d1),
        _ => return Err("malformed shape announcement".into()),
    };
    if rows == 0 || dims == 0 || rows.saturating_mul(dims) > MAX_ELEMENTS {
        return Err(format!("party 1 announced an unusable shape {rows} x {dims}").into());
    }
    if w_dims != dims {
        return Err(dims_mismatch(w_dims as usize, dims as usize).into());
    }
    Ok(Shapes { rows: rows as usize, dims: dims as usize })
}

/// What was revealed to this party, and nothing else.
#[derive(Default)]
struct Revealed {
    scores: Option<Vec<f64>>,
    relu: Option<Vec<f64>>,
    decisions: Option<Vec<f64>>,
}

impl Revealed {
    fn values(&self) -> Vec<f64> {
        [&self.scores, &self.relu, &self.decisions]
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .collect()
    }
}

/// The secure computation itself, identical at every computing party; returns what was
/// revealed to this one.
fn score(
    session: &Session,
    shapes: &Shapes,
    model: Option<&Model>,
    data: Option<&Features>,
) -> Result<Revealed, Box<dyn Error>> {
    let (m, d) = (shapes.rows, shapes.dims);
    // Only the owner passes a value; the others pass the public shape.
    let w = model.map(|mo| ArrayD::from_shape_vec(IxDyn(&[d, 1]), mo.w.clone())).transpose()?;
    let b = model.map(|mo| ArrayD::from_elem(IxDyn(&[1]), mo.b));
    let x = data.map(|da| ArrayD::from_shape_vec(IxDyn(&[m, d]), da.x.clone())).transpose()?;
    let w = AShare::share(session, 0, w.as_ref(), &[d, 1])?;
    let b = AShare::share(session, 0, b.as_ref(), &[1])?;
    let x = AShare::share(session, 1, x.as_ref(), &[m, d])?;

    let s = x.matmul(&w)?.add(&b)?.reshape(&[m])?;
    let decisions = s.gt_public(&ArrayD::zeros(IxDyn(&[m])))?;
    let relu = s.relu()?;

    // Scores and relu(s) to parties 0 and 1 (one round each), the decisions to party 1.
    let both = AShare::concat(&[&s, &relu], 0)?;
    let mut out = Revealed::default();
    for p in [0, 1] {
        if let Some(v) = both.reveal_to(p)? {
            let v: Vec<f64> = v.iter().copied().collect();
            out.relu = Some(v[m..].to_vec());
            out.scores = Some(v[..m].to_vec());
        }
    }
    out.decisions = decisions.reveal_to(1)?.map(|v| v.iter().copied().collect());
    Ok(out)
}

/// Whether `v` is distinctive enough that seeing it in a report means it was copied there:
/// at least 7 significant digits (so a count, a time in ms or a round number such as 0.5
/// never matches by accident).
fn distinctive(v: f64) -> bool {
    let sci = format!("{:e}", v.abs());
    let mantissa = sci.split('e').next().unwrap_or("");
    mantissa.chars().filter(char::is_ascii_digit).count() >= 7
}

/// Refuses to print a report that quotes one of this party's private inputs: every number
/// in it must be a revealed value, a statistic or a label, never a secret. A number that
/// equals a private input is allowed only where it is also a value revealed to this party
/// (then the protocol made it public). Secrets with fewer than 7 significant digits are not
/// checked (they would match counts and times by accident); the check is a safety net, the
/// real guarantee is that [`report`] is only ever given revealed values and statistics.
///
/// Secrets and revealed values go into hash sets (by their bits: secrets are finite and the
/// checked ones non-zero, so bit equality is `==`), so the audit is linear in the report and
/// the inputs: a party holding 60,000 rows of 16 features audits in milliseconds.
fn audit(report: &str, secrets: &[f64], revealed: &[f64]) -> Result<(), String> {
    use std::collections::HashSet;
    let secret_bits: HashSet<u64> =
        secrets.iter().filter(|s| distinctive(**s)).map(|s| s.to_bits()).collect();
    let revealed_bits: HashSet<u64> = revealed.iter().map(|v| v.to_bits()).collect();
    let numeric = |c: char| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+');
    for token in report.split(|c: char| !numeric(c)).filter(|t| !t.is_empty()) {
        let Ok(v) = token.parse::<f64>() else { continue };
        if secret_bits.contains(&v.to_bits()) && !revealed_bits.contains(&v.to_bits()) {
            return Err(format!(
                "refusing to print a report that contains a private input ({token})"
            ));
        }
    }
    Ok(())
}

fn dealer_name(kind: DealerKind) -> &'static str {
    match kind {
        DealerKind::TrustedFirstParty => "trusted first party (party 0)",
        DealerKind::TrustedThirdParty => "trusted third party (its own process)",
    }
}

/// The dealer statistics as a one-row table.
fn dealer_table(provider: &str, s: &DealerStats) -> String {
    format!(
        "{:<10} {:>9} {:>12} {:>14} {:>11}\n{:<10} {:>9} {:>12} {:>14} {:>11.3}\n",
        "provider",
        "requests",
        "words",
        "bytes",
        "time (ms)",
        provider,
        s.requests,
        s.words,
        s.words * 8,
        s.time.as_secs_f64() * 1e3
    )
}

/// This party's report: its role, the public shapes, what was revealed to it, and
/// statistics. Nothing else is in scope here.
fn report(
    rank: usize,
    parties: usize,
    shapes: &Shapes,
    revealed: &Revealed,
    elapsed: Duration,
    session: &Session,
) -> String {
    use std::fmt::Write;
    let role = match rank {
        0 => "model owner: holds w and b",
        1 => "data owner: holds X",
        _ => "helper: no input",
    };
    let mut out = String::new();
    let _ = writeln!(out, "party {rank} of {parties} ({role})");
    let _ = writeln!(
        out,
        "  public shapes      : X is {} x {}, w has {} weights",
        shapes.rows, shapes.dims, shapes.dims
    );
    match (&revealed.scores, &revealed.relu) {
        (Some(s), Some(r)) => {
            let _ = writeln!(out, "  revealed scores    : {s:?}");
            let _ = writeln!(out, "  revealed relu      : {r:?}");
        }
        _ => {
            let _ = writeln!(out, "  revealed to me     : nothing");
        }
    }
    if let Some(dec) = &revealed.decisions {
        let _ = writeln!(out, "  revealed decisions : {dec:?}");
    }
    let _ = writeln!(out, "  wall time          : {:.3} ms", elapsed.as_secs_f64() * 1e3);
    let _ = writeln!(out, "  communication      :\n{}", session.comm_stats());
    let dealer = session.config().dealer;
    let provider = match dealer {
        DealerKind::TrustedFirstParty => "tfp",
        DealerKind::TrustedThirdParty => "ttp",
    };
    let _ = writeln!(
        out,
        "  correlated randomness, from the {}:\n{}",
        dealer_name(dealer),
        dealer_table(provider, &session.dealer_stats())
    );
    out
}

/// The trusted third party's process: serves party 0's requests until the session closes.
fn dealer(mut comm: TcpComm, parties: usize) -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let stats = cloak_mpc::run_dealer(&mut comm, parties)?;
    let mut out =
        format!("dealer (rank {parties} of {}, trusted third party)\n", comm.world_size());
    out += &format!("  wall time          : {:.3} ms\n", start.elapsed().as_secs_f64() * 1e3);
    out += &format!("  communication      :\n{}\n", comm.stats());
    out += &format!("  correlated randomness served:\n{}\n", dealer_table("ttp", &stats));
    print!("{out}");
    Ok(())
}

fn party(opts: &Options) -> Result<(), Box<dyn Error>> {
    let launch = cloak_comm::Launch::from_env()?;
    let world = launch.world_size;
    let mut comm = TcpComm::from_launch(&launch, &comm_config(world))?;
    let rank = comm.rank();
    let parties = match opts.dealer {
        DealerKind::TrustedFirstParty => world,
        DealerKind::TrustedThirdParty => world.saturating_sub(1),
    };
    if !(2..=3).contains(&parties) || opts.parties.is_some_and(|p| p != parties) {
        return Err(format!(
            "a world of {world} ranks with --dealer {} means {parties} computing parties; \
             this example needs 2 or 3{}",
            if opts.dealer == DealerKind::TrustedThirdParty { "ttp" } else { "tfp" },
            opts.parties.map(|p| format!(" (and --parties says {p})")).unwrap_or_default()
        )
        .into());
    }
    if rank == parties {
        return dealer(comm, parties);
    }
    let start = Instant::now();
    // Private inputs, read after connecting: a party that fails here closes its connections
    // and its peers learn it at once, instead of waiting for it to appear.
    let model = (rank == 0).then(|| load_model(opts)).transpose()?;
    let data = (rank == 1).then(|| load_features(opts)).transpose()?;
    let shapes = announce_shapes(&mut comm, parties, model.as_ref(), data.as_ref())?;

    let config = SessionConfig {
        frac_bits: FRAC_BITS,
        dealer: opts.dealer,
        timeout: TIMEOUT,
        ..SessionConfig::default()
    };
    let session = Session::setup(Box::new(comm), config)?;
    let revealed = score(&session, &shapes, model.as_ref(), data.as_ref())?;
    session.close()?;
    let elapsed = start.elapsed();

    let out = report(rank, parties, &shapes, &revealed, elapsed, &session);
    let secrets: Vec<f64> = match (&model, &data) {
        (Some(m), _) => m.w.iter().copied().chain([m.b]).collect(),
        (_, Some(x)) => x.x.clone(),
        _ => Vec::new(),
    };
    audit(&out, &secrets, &revealed.values())?;
    print!("{out}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The local launcher

/// The numbers between the brackets of the first line of `stdout` containing `label`.
fn parse_line(stdout: &str, label: &str) -> Option<Vec<f64>> {
    let line = stdout.lines().find(|l| l.contains(label))?;
    let inner = line.split_once('[')?.1.split_once(']')?.0;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner.split(',').map(|s| s.trim().parse().ok()).collect()
}

/// Starts the parties (and the dealer) as processes, shows their output, and checks the
/// revealed results against plain `f64`. `Ok(false)` if a party failed or a check did.
fn launch_local(opts: &Options) -> Result<bool, Box<dyn Error>> {
    // The launcher knows both inputs (it is the demonstration's harness, not a party), so it
    // validates them before starting anyone and computes the reference.
    let model = load_model(opts)?;
    let data = load_features(opts)?;
    if model.w.len() != data.dims {
        return Err(dims_mismatch(model.w.len(), data.dims).into());
    }
    let parties = opts.parties.unwrap_or(2);
    let ttp = opts.dealer == DealerKind::TrustedThirdParty;
    let world = parties + usize::from(ttp);
    println!(
        "Private logistic-regression scoring: {parties} parties{} as separate processes over \
         loopback TCP.\nParty 0 holds a model of {} weights and a bias, party 1 a batch of {} feature \
         rows; scores s = X w + b, decisions s > 0 (to party 1 only), relu(s).\n",
        if ttp { " and a dealer process" } else { "" },
        model.w.len(),
        data.rows,
    );
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if opts.parties.is_none() {
        args.extend(["--parties".into(), parties.to_string().into()]);
    }
    let run = ProcessRun {
        program: std::env::current_exe()?,
        args,
        env: Vec::new(),
        parties: world,
        deadline: TIMEOUT * 3,
    };
    let start = Instant::now();
    let reports = run_processes(&run)?;
    let wall = start.elapsed();
    let mut ok = true;
    for r in &reports {
        print!("{}", r.stdout);
        if !r.success() {
            ok = false;
            eprintln!("rank {} failed (timed out: {}):\n{}", r.rank, r.timed_out, r.stderr);
        }
    }
    println!("all processes done in {:.3} ms (wall, including start-up)", wall.as_secs_f64() * 1e3);
    if !ok {
        return Ok(false);
    }

    let reference = plain_scores(&model, &data);
    let relu_ref: Vec<f64> = reference.iter().map(|s| s.max(0.0)).collect();
    let tol = tolerance(&model, &data);
    let parsed = |rank: usize, label: &str| -> Result<Vec<f64>, String> {
        parse_line(&reports[rank].stdout, label)
            .filter(|v| v.len() == data.rows)
            .ok_or(format!("party {rank} printed no `{label}` of {} values", data.rows))
    };
    let mut err = 0.0f64;
    for rank in [0, 1] {
        for (label, want) in [("revealed scores", &reference), ("revealed relu", &relu_ref)] {
            for (g, w) in parsed(rank, label)?.iter().zip(want.iter()) {
                err = err.max((g - w).abs());
            }
        }
    }
    // A decision may go either way only where the score is within the tolerance of 0.
    let decisions = parsed(1, "revealed decisions")?;
    let (mut agree, mut near_zero, mut wrong) = (0, 0, 0);
    for (dec, s) in decisions.iter().zip(&reference) {
        let want = if *s > 0.0 { 1.0 } else { 0.0 };
        if *dec == want {
            agree += 1;
        } else if s.abs() <= tol {
            near_zero += 1;
        } else {
            wrong += 1;
        }
    }
    println!("\ncheck against plain f64 (16 fractional bits, {}-term dot products):", data.dims);
    println!("max abs error: {err:e} (tolerance {tol:e})");
    println!(
        "decisions: {agree} of {} agree with s > 0 ({near_zero} differ within the tolerance of 0, \
         {wrong} wrong)",
        data.rows
    );
    let pass = err <= tol && wrong == 0;
    println!("{}", if pass { "OK" } else { "FAILED" });
    Ok(pass)
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("private_scoring: {e}");
            return ExitCode::from(2);
        }
    };
    // Any launcher variable makes this process one party (a misconfiguration is then
    // reported, never papered over by a local simulation); none starts the demonstration.
    let is_party = Launch::present();
    let result = if is_party { party(&opts).map(|()| true) } else { launch_local(&opts) };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("private_scoring: {e}");
            ExitCode::from(if is_party { 1 } else { 2 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_refuses_a_quoted_secret_but_not_a_revealed_value_or_a_statistic() {
        let secrets = [0.7264591837465912, 0.5, 2.0];
        // A distinctive secret quoted anywhere is refused.
        let leak = "  revealed scores    : [1.25, 0.7264591837465912]\n";
        assert!(audit(leak, &secrets, &[1.25]).is_err());
        assert!(audit("w = -0.7264591837465912e0", &[-0.7264591837465912], &[]).is_err());
        // The same number is fine where it was revealed to this party.
        assert!(audit(leak, &secrets, &[1.25, 0.7264591837465912]).is_ok());
        // Short secrets (0.5, 2) are not checked: they collide with counts and times.
        assert!(audit("rounds 2, time 0.500 ms", &secrets, &[]).is_ok());
        // At the scale that used to time out (60,000 rows of 16 features against a long
        // report): correct both ways.
        let many: Vec<f64> = (0..960_000).map(|i| 0.123_456_789 + i as f64 * 1e-9).collect();
        let report = "value 0.9876543219 ".repeat(100_000);
        assert!(audit(&report, &many, &many).is_ok());
        assert!(audit("0.123456789", &many, &[]).is_err());
    }

    #[test]
    fn tolerance_is_about_1e_4_for_the_generated_inputs() {
        let model = generate_model(2024, 4);
        let data = generate_features(2024, 8, 4);
        let tol = tolerance(&model, &data);
        assert!(tol > 2f64.powi(-16) && tol < 1.2e-4, "{tol}");
        assert!(model.w.iter().all(|w| w.abs() <= 1.0) && model.b.abs() <= 0.5);
        assert!(data.x.iter().all(|x| x.abs() <= 2.0));
    }
}
