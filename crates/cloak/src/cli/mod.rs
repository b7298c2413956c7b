//! The `cloak` command line: arguments, the error type every subcommand returns, and the
//! dispatch. Each subcommand lives in its own module.

mod announce;
mod certs;
mod dealer;
mod deploy;
mod infer;
mod inspect;
mod lines;
mod party;
mod procs;
mod table;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use cloak::Roles;
use cloak::comm::{Launch, PLAINTEXT_VAR, PeersFile, Security, TLS_DIR_VAR};
use cloak::mpc::DealerKind;

/// Private inference of ONNX models by secure multi-party computation.
#[derive(Debug, Parser)]
#[command(name = "cloak", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe a model: operators, parameters, estimated cost, unsupported nodes (exit
    /// code 2 if there are any).
    Inspect(inspect::InspectArgs),
    /// Run a model privately, every party a process of this machine over loopback TCP.
    Infer(infer::InferArgs),
    /// Be one party of a deployment (rank from --rank or the launcher's variables).
    Party(party::PartyArgs),
    /// Be the trusted third party that deals correlated randomness (the last rank).
    Dealer(dealer::DealerArgs),
    /// Create a deployment's TLS keys and certificates, one per rank (the dealer included).
    Certs(certs::CertsArgs),
    /// Render a deployment: a docker-compose file or a Kubernetes Indexed Job, one rank per
    /// container, each with only its own TLS key and its own files.
    Deploy(deploy::DeployArgs),
}

/// A failure, as one line for the user and an exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    /// 1: the run failed; 2: the model or the input cannot be run; 3 (parties only): this
    /// party stopped because another one failed, so a launcher reports the other one.
    pub code: u8,
    pub message: String,
}

/// Exit code of a failed run.
pub(crate) const FAILED: u8 = 1;
/// Exit code of a model or input that cannot be run (unsupported nodes, a shape).
pub(crate) const UNUSABLE: u8 = 2;
/// Exit code of a party that stopped because another party failed.
pub(crate) const CONSEQUENCE: u8 = 3;

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(FAILED, message)
    }
}

impl From<cloak::Error> for CliError {
    fn from(e: cloak::Error) -> Self {
        let code = if e.is_consequence() { CONSEQUENCE } else { FAILED };
        // Messages of nested errors may span lines (a list of nodes): keep one line.
        Self::new(code, e.to_string().replace('\n', "; "))
    }
}

/// Conversions from every layer's error, through [`cloak::Error`] so the classification
/// (own failure or consequence) is the library's.
macro_rules! from_layer_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                cloak::Error::from(e).into()
            }
        }
    )*};
}
from_layer_errors!(
    cloak::onnx::OnnxError,
    cloak::npy::NpyError,
    cloak::comm::CommError,
    cloak::mpc::MpcError,
    cloak::dealer::DealerError,
    std::io::Error
);

pub(crate) type CliResult<T> = Result<T, CliError>;

/// When a party (or the dealer) stops on its own account (its input, its file, a check of
/// its own; not because another party failed, which the others know of already), tells the
/// others why with `abort` and the same one line it reports, so that they stop at once
/// naming it; then hands the error on. The line names positions and files, never a value
/// of an input, a weight or a share.
pub(crate) fn tell_others(e: CliError, abort: impl FnOnce(&str)) -> CliError {
    if e.code != CONSEQUENCE {
        abort(&e.message);
    }
    e
}

/// Who provides correlated randomness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DealerArg {
    /// Party 0 deals (it could unmask everything: for trials and benchmarks).
    FirstParty,
    /// A separate dealer process, the last rank, deals.
    ThirdParty,
}

impl DealerArg {
    pub fn kind(self) -> DealerKind {
        match self {
            DealerArg::FirstParty => DealerKind::TrustedFirstParty,
            DealerArg::ThirdParty => DealerKind::TrustedThirdParty,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DealerArg::FirstParty => "first-party",
            DealerArg::ThirdParty => "third-party",
        }
    }
}

/// Who learns the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RevealTo {
    Party(usize),
    All,
}

fn parse_reveal(s: &str) -> Result<RevealTo, String> {
    if s == "all" {
        return Ok(RevealTo::All);
    }
    s.parse().map(RevealTo::Party).map_err(|_| format!("`{s}` is neither a rank nor `all`"))
}

/// The roles, shared by `infer` and `party`.
#[derive(Clone, Debug, Args)]
pub(crate) struct RoleArgs {
    /// The party that holds the model (the only one that reads --model).
    #[arg(long, default_value_t = 0, value_name = "RANK")]
    pub model_owner: usize,
    /// The party that holds the input (the only one that reads --input).
    #[arg(long, default_value_t = 1, value_name = "RANK")]
    pub data_owner: usize,
    /// The party that learns the output, or `all` [default: the data owner].
    #[arg(long, value_parser = parse_reveal, value_name = "RANK|all")]
    pub reveal_to: Option<RevealTo>,
}

impl RoleArgs {
    pub fn roles(&self) -> Roles {
        Roles {
            model_owner: self.model_owner,
            data_owner: self.data_owner,
            reveal_to: match self.reveal_to {
                None => Some(self.data_owner),
                Some(RevealTo::Party(r)) => Some(r),
                Some(RevealTo::All) => None,
            },
        }
    }

    /// The arguments that reproduce these roles, for the party processes.
    pub fn to_args(&self) -> Vec<OsString> {
        let roles = self.roles();
        let mut args: Vec<OsString> = vec![
            "--model-owner".into(),
            roles.model_owner.to_string().into(),
            "--data-owner".into(),
            roles.data_owner.to_string().into(),
            "--reveal-to".into(),
        ];
        args.push(roles.reveal_to.map_or_else(|| "all".to_string(), |r| r.to_string()).into());
        args
    }
}

/// Where this process sits in a deployment: flags, else the launcher's variables.
#[derive(Clone, Debug, Args)]
pub(crate) struct LaunchArgs {
    /// This process's rank [default: RANK, SLURM_PROCID, OMPI_COMM_WORLD_RANK or
    /// JOB_COMPLETION_INDEX].
    #[arg(long)]
    pub rank: Option<usize>,
    /// Processes in all, the dealer included [default: WORLD_SIZE, ..., or implied by
    /// --parties and --dealer].
    #[arg(long)]
    pub world_size: Option<usize>,
    /// Rank 0's host [default: MASTER_ADDR].
    #[arg(long)]
    pub master_addr: Option<String>,
    /// Rank 0's port [default: MASTER_PORT].
    #[arg(long)]
    pub master_port: Option<u16>,
    /// This party's TLS credentials, as `cloak certs` writes them (its own rank-R.pem and
    /// rank-R.key, and ca.pem or every rank's certificate) [default: CLOAK_TLS_DIR].
    /// Required when the parties are not all on loopback.
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<std::path::PathBuf>,
    /// Accept plain TCP off loopback: unencrypted and unauthenticated, anyone on the path
    /// reads every share [default: CLOAK_PLAINTEXT=1].
    #[arg(long, conflicts_with = "tls_dir")]
    pub insecure_plaintext: bool,
    /// The deployment's peers file (TOML: every rank's host:port and certificate, and the
    /// authority's certificate), the same at every party; replaces the rendezvous flags.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["master_addr", "master_port", "world_size", "tls_dir"])]
    pub peers: Option<std::path::PathBuf>,
    /// This party's private key, with --peers when the file lists certificates.
    #[arg(long, value_name = "FILE", requires = "peers")]
    pub key: Option<std::path::PathBuf>,
}

impl LaunchArgs {
    /// The launch these flags and the environment describe. `implied_world` (from
    /// `--parties`) fills in the world size when only `--rank` was given.
    pub fn resolve(&self, implied_world: Option<usize>) -> CliResult<Launch> {
        let env = |name: &str| std::env::var(name).ok();
        if let Some(file) = self.peers_file()? {
            let rank = match self.rank {
                Some(rank) => rank,
                None => ["RANK", "JOB_COMPLETION_INDEX"]
                    .iter()
                    .find_map(|v| env(v).map(|r| (v, r)))
                    .ok_or_else(|| {
                        CliError::new(UNUSABLE, "with --peers, give this party's --rank (or RANK)")
                    })
                    .and_then(|(v, r)| {
                        r.trim()
                            .parse()
                            .map_err(|_| CliError::new(UNUSABLE, format!("{v}={r}: not a rank")))
                    })?,
            };
            if let Some(world) = implied_world.filter(|&w| w != file.world()) {
                return Err(CliError::new(
                    UNUSABLE,
                    format!(
                        "{} lists {} ranks, but the flags imply {world}",
                        file.path.display(),
                        file.world()
                    ),
                ));
            }
            return Ok(file.launch(rank)?);
        }
        let launch = Launch::from_lookup(|name| match name {
            "RANK" => self.rank.map(|r| r.to_string()).or_else(|| env(name)),
            "WORLD_SIZE" => self
                .world_size
                .or(if self.rank.is_some() { implied_world } else { None })
                .map(|w| w.to_string())
                .or_else(|| env(name)),
            "MASTER_ADDR" => self.master_addr.clone().or_else(|| env(name)),
            "MASTER_PORT" => self.master_port.map(|p| p.to_string()).or_else(|| env(name)),
            _ => env(name),
        })?;
        Ok(launch)
    }

    /// The peers file, when --peers names one.
    fn peers_file(&self) -> CliResult<Option<PeersFile>> {
        Ok(self.peers.as_deref().map(PeersFile::load).transpose()?)
    }

    /// How this party's links are protected: the flags, else the environment
    /// (`CLOAK_TLS_DIR`, `CLOAK_PLAINTEXT`), else plain TCP on loopback only.
    pub fn security(&self, launch: &Launch) -> CliResult<Security> {
        let env = |name: &str| std::env::var(name).ok();
        if let Some(file) = self.peers_file()? {
            if self.insecure_plaintext {
                return Ok(Security::InsecurePlain);
            }
            return Ok(file.security(launch.rank, self.key.as_deref())?);
        }
        let security = Security::from_lookup(
            |name| match name {
                TLS_DIR_VAR if self.tls_dir.is_some() || self.insecure_plaintext => {
                    self.tls_dir.as_ref().map(|d| d.display().to_string())
                }
                PLAINTEXT_VAR if self.tls_dir.is_some() || self.insecure_plaintext => {
                    self.insecure_plaintext.then(|| "1".to_owned())
                }
                _ => env(name),
            },
            launch.rank,
            launch.world_size,
        )?;
        Ok(security)
    }
}

/// Loads the model file, naming it in any error (the importer's messages name the node
/// or tensor at fault, not the file).
pub(crate) fn load_model(path: &std::path::Path) -> CliResult<cloak::onnx::OnnxModel> {
    cloak::from_onnx(path).map_err(|e| {
        let shown = path.display().to_string();
        let mut err = CliError::from(e);
        if !err.message.starts_with(&shown) {
            err.message = format!("{shown}: {}", err.message);
        }
        err
    })
}

/// Seconds as a duration, refusing what is not a positive, finite number.
pub(crate) fn seconds(what: &str, s: f64) -> CliResult<Duration> {
    Duration::try_from_secs_f64(s).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
        CliError::new(UNUSABLE, format!("{what}: {s} is not a positive number of seconds"))
    })
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at =
            info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: internal error{at}: {}", msg.replace('\n', "; "));
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => inspect::run(&a),
        Command::Infer(a) => infer::run(&a),
        Command::Party(a) => party::run(&a),
        Command::Dealer(a) => dealer::run(&a),
        Command::Certs(a) => certs::run(&a),
        Command::Deploy(a) => deploy::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_argument_definitions_are_consistent() {
        // clap checks a field's type against its parser only when the field is read: this
        // checks every argument of every subcommand now.
        super::Cli::command().debug_assert();
    }

    #[test]
    fn only_a_party_s_own_failure_is_told_to_the_others() {
        use super::{CONSEQUENCE, CliError, FAILED, tell_others};
        let told = |e: CliError| {
            let mut sent = None;
            let e = tell_others(e, |reason| sent = Some(reason.to_owned()));
            (e.code, sent)
        };
        let own = CliError::from(cloak::Error::Input { reason: "element [2] is NaN".into() });
        assert_eq!(told(own), (FAILED, Some("input: element [2] is NaN".to_owned())));
        let consequence = CliError::from(cloak::comm::CommError::Disconnected { peer: 1 });
        assert_eq!(told(consequence), (CONSEQUENCE, None));
    }

    #[test]
    fn every_subcommand_parses_its_arguments() {
        use clap::Parser;
        let cli =
            super::Cli::try_parse_from(["cloak", "inspect", "m.onnx", "--input-shape", "4,1,8,8"]);
        match cli.map(|c| c.command) {
            Ok(super::Command::Inspect(a)) => {
                assert_eq!(a.input_shape.map(|s| s.0), Some(vec![4, 1, 8, 8]))
            }
            other => panic!("{other:?}"),
        }
        let cli =
            super::Cli::try_parse_from(["cloak", "party", "--rank", "1", "--reveal-to", "all"]);
        match cli.map(|c| c.command) {
            Ok(super::Command::Party(a)) => {
                assert_eq!(a.launch.rank, Some(1));
                assert_eq!(a.roles.roles().reveal_to, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            super::Cli::try_parse_from([
                "cloak",
                "infer",
                "--model",
                "m",
                "--input",
                "x",
                "--parties",
                "1"
            ])
            .is_err()
        );
    }
}
