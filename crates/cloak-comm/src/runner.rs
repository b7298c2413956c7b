//! Running N parties on one machine: as threads over channels, as threads over loopback
//! TCP, or as separate processes over loopback TCP. For tests, examples and benchmarks.

use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{CommConfig, CommError, Communicator, LocalComm, TcpComm};

/// Why a party produced no result.
#[derive(Debug)]
pub enum PartyFailure<E> {
    /// The party returned this error.
    Error(E),
    /// The party panicked with this message.
    Panicked(String),
}

impl<E: fmt::Display> fmt::Display for PartyFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartyFailure::Error(e) => write!(f, "party failed: {e}"),
            PartyFailure::Panicked(msg) => write!(f, "party panicked: {msg}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for PartyFailure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PartyFailure::Error(e) => Some(e),
            PartyFailure::Panicked(_) => None,
        }
    }
}

/// Each party's outcome, in rank order.
pub type Outcomes<R, E> = Vec<Result<R, PartyFailure<E>>>;

/// Runs `f` once per endpoint, each on its own thread, and collects every party's outcome.
///
/// A party that panics drops its endpoint while unwinding, so its peers fail with
/// [`CommError::Disconnected`] instead of hanging, and the panic is reported as
/// [`PartyFailure::Panicked`].
pub fn run_parties<C, R, E, F>(comms: Vec<C>, f: F) -> Outcomes<R, E>
where
    C: Communicator,
    R: Send,
    E: Send,
    F: Fn(C) -> Result<R, E> + Sync,
{
    let f = &f;
    thread::scope(|scope| {
        let handles: Vec<_> = comms
            .into_iter()
            .enumerate()
            .map(|(rank, comm)| {
                thread::Builder::new()
                    .name(format!("party-{rank}"))
                    .spawn_scoped(scope, move || f(comm))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| match handle {
                Ok(h) => match h.join() {
                    Ok(result) => result.map_err(PartyFailure::Error),
                    Err(payload) => Err(PartyFailure::Panicked(panic_message(payload.as_ref()))),
                },
                Err(e) => Err(PartyFailure::Panicked(format!("could not spawn thread: {e}"))),
            })
            .collect()
    })
}

/// Runs `n` parties as threads over in-process channels.
pub fn run_threads<R, E, F>(n: usize, config: &CommConfig, f: F) -> Outcomes<R, E>
where
    R: Send,
    E: Send,
    F: Fn(LocalComm) -> Result<R, E> + Sync,
{
    run_parties(LocalComm::create(n, config), f)
}

/// Runs `n` parties as threads over loopback TCP. Fails only if the mesh cannot be built.
pub fn run_tcp_threads<R, E, F>(
    n: usize,
    config: &CommConfig,
    f: F,
) -> Result<Outcomes<R, E>, CommError>
where
    R: Send,
    E: Send,
    F: Fn(TcpComm) -> Result<R, E> + Sync,
{
    Ok(run_parties(TcpComm::create_local(n, config)?, f))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A program to run once per party, as separate processes on this machine.
#[derive(Clone, Debug)]
pub struct ProcessRun {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments (the same for every party).
    pub args: Vec<OsString>,
    /// Extra environment variables (the same for every party).
    pub env: Vec<(OsString, OsString)>,
    /// The number of parties.
    pub parties: usize,
    /// Parties still running after this long are killed.
    pub deadline: Duration,
}

/// What one party process did.
#[derive(Debug)]
pub struct ProcessReport {
    /// The party's rank.
    pub rank: usize,
    /// Its exit status (`None` if it had to be killed and its status was unavailable).
    pub status: Option<ExitStatus>,
    /// Whether it was killed at the deadline.
    pub timed_out: bool,
    /// Everything it wrote to standard output.
    pub stdout: String,
    /// Everything it wrote to standard error.
    pub stderr: String,
}

impl ProcessReport {
    /// Whether the party exited successfully on its own.
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }
}

/// A free TCP port on loopback, for `MASTER_PORT`. The port is released before returning, so
/// another process could take it first; on a test machine that is rare, and the launcher
/// convention (a fixed master port) leaves no race-free alternative.
pub fn free_local_port() -> Result<u16, CommError> {
    let listen_err = |source| CommError::Listen { addr: "127.0.0.1:0".into(), source };
    let listener = TcpListener::bind("127.0.0.1:0").map_err(listen_err)?;
    Ok(listener.local_addr().map_err(listen_err)?.port())
}

/// The command that starts `program` as party `rank` of `world` on this machine: the
/// torchrun-style launcher variables with rank 0 listening on loopback `port`, any other
/// launcher's variables removed (the caller may itself run under Slurm or Open MPI, whose
/// variables would otherwise take precedence), stdin closed and stdout/stderr piped.
pub fn local_party_command(
    program: impl AsRef<std::ffi::OsStr>,
    rank: usize,
    world: usize,
    port: u16,
) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env_remove("CLOAK_PARTIES")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (r, w) in &crate::launch::LAUNCHERS[1..] {
        cmd.env_remove(r).env_remove(w);
    }
    cmd
}

/// Starts `run.program` once per party with the torchrun variables set (`RANK`,
/// `WORLD_SIZE`, `MASTER_ADDR=127.0.0.1`, `MASTER_PORT`=a free port; Slurm and Open MPI
/// variables removed so they cannot take precedence), waits for all of them until the
/// deadline (killing the rest), and reports each one's exit status and output.
pub fn run_processes(run: &ProcessRun) -> Result<Vec<ProcessReport>, CommError> {
    let port = free_local_port()?;
    let mut children: Vec<(Child, [thread::JoinHandle<String>; 2])> = Vec::new();
    for rank in 0..run.parties {
        let mut cmd = local_party_command(&run.program, rank, run.parties, port);
        cmd.args(&run.args).envs(run.env.iter().map(|(k, v)| (k, v)));
        match cmd.spawn() {
            Ok(mut child) => {
                let out = drain(child.stdout.take());
                let err = drain(child.stderr.take());
                children.push((child, [out, err]));
            }
            Err(source) => {
                for (mut child, _) in children {
                    // Best effort: the run is being abandoned.
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(CommError::Spawn { rank, source });
            }
        }
    }

    let deadline = Instant::now() + run.deadline;
    let mut statuses: Vec<Option<ExitStatus>> = vec![None; run.parties];
    let mut timed_out = vec![false; run.parties];
    loop {
        for (rank, (child, _)) in children.iter_mut().enumerate() {
            if statuses[rank].is_none() {
                statuses[rank] = child.try_wait().ok().flatten();
            }
        }
        if statuses.iter().all(Option::is_some) {
            break;
        }
        if Instant::now() >= deadline {
            for (rank, (child, _)) in children.iter_mut().enumerate() {
                if statuses[rank].is_none() {
                    timed_out[rank] = true;
                    // The child may exit between try_wait and kill; either way it is gone.
                    let _ = child.kill();
                    statuses[rank] = child.wait().ok();
                }
            }
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }

    Ok(children
        .into_iter()
        .enumerate()
        .map(|(rank, (_, [out, err]))| ProcessReport {
            rank,
            status: statuses[rank],
            timed_out: timed_out[rank],
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        })
        .collect())
}

/// Reads a child's pipe to the end on its own thread, so a chatty child never blocks on a
/// full pipe while we wait for it.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error just ends the captured output early.
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
