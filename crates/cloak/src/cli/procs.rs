//! Starting the parties as processes of this machine, as torchrun would (`RANK`,
//! `WORLD_SIZE`, `MASTER_ADDR=127.0.0.1`, `MASTER_PORT`), and watching them: their standard
//! output line by line as it comes (progress), their errors, their exit.
//!
//! When one fails, the others would only notice at their next message to it; they are
//! given a moment to stop on their own (their errors help no one, but their exit codes say
//! whether they failed first) and then killed. A run past its deadline is killed whole.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use cloak::comm::runner::{free_local_port, local_party_command};

use super::{CONSEQUENCE, CliError, CliResult};

/// How long the others may take to stop on their own once one process failed.
const GRACE: Duration = Duration::from_secs(2);

/// One process to start.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    /// What it is, for messages ("party 1 (data owner)", "the dealer (rank 2)").
    pub name: String,
    /// Its arguments.
    pub args: Vec<OsString>,
}

/// How one process ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub name: String,
    pub status: Option<ExitStatus>,
    /// Killed at the deadline.
    pub timed_out: bool,
    /// Killed after another process failed.
    pub stopped: bool,
    /// Its position in the order the processes ended (0: first).
    pub order: usize,
    pub stderr: String,
}

impl Outcome {
    pub fn success(&self) -> bool {
        !self.timed_out && !self.stopped && self.status.is_some_and(|s| s.success())
    }

    /// Its one-line reason: the last `error:` line it printed, else what ended it.
    pub fn reason(&self) -> String {
        let lines: Vec<&str> =
            self.stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if let Some(l) = lines.iter().rev().find_map(|l| l.strip_prefix("error:")) {
            return l.trim().to_string();
        }
        match self.status {
            Some(s) => match s.code() {
                Some(c) => lines
                    .last()
                    .map_or_else(|| format!("exited with code {c}"), |l| (*l).to_string()),
                None => format!("ended by a signal ({s})"),
            },
            None => "no exit status".into(),
        }
    }
}

/// The failure to report: the first process to fail on its own account, else the first to
/// fail at all, else the first that ran past the deadline.
pub(crate) fn root_cause(outcomes: &[Outcome], deadline: Duration) -> Option<CliError> {
    let failed = |o: &&Outcome| !o.success() && !o.stopped && !o.timed_out;
    let own = outcomes
        .iter()
        .filter(failed)
        .filter(|o| o.status.and_then(|s| s.code()) != Some(i32::from(CONSEQUENCE)))
        .min_by_key(|o| o.order);
    let any = || outcomes.iter().filter(failed).min_by_key(|o| o.order);
    if let Some(o) = own.or_else(any) {
        return Some(CliError::failed(format!("{} failed: {}", o.name, o.reason())));
    }
    outcomes.iter().find(|o| o.timed_out).map(|o| {
        CliError::failed(format!(
            "{} did not finish within {} s and was killed",
            o.name,
            deadline.as_secs_f64()
        ))
    })
}

/// Starts `specs[r]` as rank `r` of a loopback launch and waits for all of them (until
/// `deadline`), passing each line a process prints on standard output to `on_line` with its
/// rank as it comes.
pub(crate) fn run(
    program: &Path,
    specs: &[Spec],
    deadline: Duration,
    on_line: &mut dyn FnMut(usize, &str),
) -> CliResult<Vec<Outcome>> {
    let port = free_local_port()?;
    let world = specs.len();
    let (tx, rx) = mpsc::channel::<(usize, String)>();
    let mut children: Vec<(Child, thread::JoinHandle<String>, thread::JoinHandle<()>)> = Vec::new();
    for (rank, spec) in specs.iter().enumerate() {
        let mut cmd = local_party_command(program, rank, world, port);
        cmd.args(&spec.args);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                for (mut c, ..) in children {
                    // Abandoning the run: a child that already ended is fine.
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(CliError::failed(format!("could not start {}: {e}", spec.name)));
            }
        };
        let out = child.stdout.take();
        let tx = tx.clone();
        let reader = thread::spawn(move || {
            if let Some(out) = out {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send((rank, line)).is_err() {
                        break;
                    }
                }
            }
        });
        let err = child.stderr.take();
        let drain = thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut e) = err {
                // A read error just ends the captured text early.
                let _ = e.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        });
        children.push((child, drain, reader));
    }
    drop(tx);

    let n = children.len();
    let end = Instant::now() + deadline;
    let mut status: Vec<Option<ExitStatus>> = vec![None; n];
    let mut order = vec![usize::MAX; n];
    let mut ended = 0;
    let (mut timed_out, mut stopped) = (vec![false; n], vec![false; n]);
    let mut failed_at: Option<Instant> = None;
    loop {
        // Wait a little for output; then take what is queued, a bounded amount, so a
        // chatty process cannot keep the exits and the deadline from being checked.
        if let Ok((rank, line)) = rx.recv_timeout(Duration::from_millis(5)) {
            on_line(rank, &line);
            for (rank, line) in rx.try_iter().take(1024) {
                on_line(rank, &line);
            }
        }
        for (r, (child, ..)) in children.iter_mut().enumerate() {
            if status[r].is_none()
                && let Ok(Some(s)) = child.try_wait()
            {
                status[r] = Some(s);
                order[r] = ended;
                ended += 1;
                if !s.success() && failed_at.is_none() {
                    failed_at = Some(Instant::now());
                }
            }
        }
        if ended == n {
            break;
        }
        let now = Instant::now();
        let give_up = failed_at.is_some_and(|t| now >= t + GRACE);
        if give_up || now >= end {
            for (r, (child, ..)) in children.iter_mut().enumerate() {
                if status[r].is_none() {
                    // The child may end between the poll and the kill; either way it is gone.
                    let _ = child.kill();
                    status[r] = child.wait().ok();
                    order[r] = ended;
                    ended += 1;
                    if give_up { stopped[r] = true } else { timed_out[r] = true }
                }
            }
            break;
        }
    }
    let mut outcomes = Vec::with_capacity(n);
    for (r, (_, drain, reader)) in children.into_iter().enumerate() {
        // The pipes are closed now that every child ended: these threads end too.
        let _ = reader.join();
        outcomes.push(Outcome {
            name: specs[r].name.clone(),
            status: status[r],
            timed_out: timed_out[r],
            stopped: stopped[r],
            order: order[r],
            stderr: drain.join().unwrap_or_default(),
        });
    }
    for (rank, line) in rx.try_iter() {
        on_line(rank, &line);
    }
    Ok(outcomes)
}
