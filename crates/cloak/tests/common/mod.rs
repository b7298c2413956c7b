//! Shared by the deployment fault suites (`faults.rs`, `hostile.rs`): real `cloak party` and
//! `cloak dealer` processes on loopback, meeting through rank 0 (`RANK`, `WORLD_SIZE`,
//! `MASTER_ADDR`, `MASTER_PORT`, as a launcher sets them), watched from this process: their
//! progress lines, their exits, their errors and their peak memory (Linux `/proc`).
#![allow(dead_code)]

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use cloak::comm::runner::{free_local_port, local_party_command};

/// The `--timeout` every party and dealer gets, in seconds: it bounds each communication
/// step and the rendezvous (the connect timeout).
pub const TIMEOUT_S: u64 = 5;

/// [`TIMEOUT_S`] as a duration.
pub fn timeout() -> Duration {
    Duration::from_secs(TIMEOUT_S)
}

/// What a party may take beyond the timeout to notice a failure and exit: starting up,
/// the abort round, a loaded two-core machine.
pub const SLACK: Duration = Duration::from_secs(3);

/// Who deals correlated randomness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dealer {
    /// Party 0 deals.
    FirstParty,
    /// A `cloak dealer` process, the last rank.
    ThirdParty,
}

impl Dealer {
    pub fn arg(self) -> &'static str {
        match self {
            Dealer::FirstParty => "first-party",
            Dealer::ThirdParty => "third-party",
        }
    }
}

/// The examples' digits model and sample (8 images of the digits 0 to 7).
pub fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models")
}

pub fn model() -> PathBuf {
    models().join("digits_cnn.onnx")
}

pub fn digits() -> PathBuf {
    models().join("digits_sample.npy")
}

/// A directory of this test's own (removed when dropped).
#[derive(Debug)]
pub struct Temp(pub PathBuf);

impl Temp {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("cloak-faults-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The digits sample repeated `times` times (8 * `times` rows), written to `path`: a
/// workload long enough to interrupt mid-run. Row `r` is digit `r % 8`.
pub fn tiled_input(path: &Path, times: usize) -> PathBuf {
    let x = cloak::npy::read(digits()).expect("the digits sample");
    let views: Vec<_> = (0..times).map(|_| x.view()).collect();
    let tiled = ndarray::concatenate(ndarray::Axis(0), &views).expect("same shapes");
    cloak::npy::write_f32(path, &tiled).expect("write the tiled input");
    path.to_path_buf()
}

/// The classes the model predicts for [`tiled_input`] of `rows` rows.
pub fn expected_classes(rows: usize) -> Vec<usize> {
    (0..rows).map(|r| r % 8).collect()
}

/// Runs `cloak certs` for `world` ranks into `dir`.
pub fn certs(dir: &Path, world: usize) {
    let out = Command::new(env!("CARGO_BIN_EXE_cloak"))
        .args(["certs", "--world", &world.to_string(), "--out"])
        .arg(dir)
        .output()
        .expect("cloak certs runs");
    assert!(out.status.success(), "cloak certs: {}", String::from_utf8_lossy(&out.stderr));
}

/// One deployment: who runs, with what.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Computing parties.
    pub parties: usize,
    pub dealer: Dealer,
    /// The data owner's (party 1's) input.
    pub input: PathBuf,
    /// Where the data owner writes the revealed output, if anywhere.
    pub output: Option<PathBuf>,
    /// `--tls-dir` for every rank, if any.
    pub tls: Option<PathBuf>,
    pub timeout_s: u64,
}

impl Setup {
    pub fn new(parties: usize, dealer: Dealer, input: PathBuf) -> Self {
        Setup { parties, dealer, input, output: None, tls: None, timeout_s: TIMEOUT_S }
    }

    /// Processes in all, the dealer included.
    pub fn world(&self) -> usize {
        self.parties + usize::from(self.dealer == Dealer::ThirdParty)
    }

    /// The dealer process's rank, if there is one.
    pub fn dealer_rank(&self) -> Option<usize> {
        (self.dealer == Dealer::ThirdParty).then_some(self.parties)
    }

    /// What `rank` is, for tables: `p1`, `dealer`.
    pub fn who(&self, rank: usize) -> String {
        if Some(rank) == self.dealer_rank() { format!("dealer{rank}") } else { format!("p{rank}") }
    }

    /// The arguments of `rank`: `cloak dealer` for the dealer, else `cloak party` with every
    /// file (each party reads only its own: the model owner, party 0, the model; the data
    /// owner, party 1, the input) and progress lines (`--launched`).
    pub fn args(&self, rank: usize) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let timeout = self.timeout_s.to_string();
        if Some(rank) == self.dealer_rank() {
            args.extend(["dealer", "--quiet", "--parties"].map(OsString::from));
            args.push(self.parties.to_string().into());
        } else {
            args.extend(["party", "--launched", "--dealer", self.dealer.arg()].map(OsString::from));
            args.extend(["--parties".into(), self.parties.to_string().into()]);
            args.extend(["--model".into(), model().into_os_string()]);
            args.extend(["--input".into(), self.input.clone().into_os_string()]);
            if let Some(out) = &self.output {
                args.extend(["--output".into(), out.clone().into_os_string()]);
            }
        }
        args.extend(["--timeout".into(), timeout.into()]);
        if let Some(dir) = &self.tls {
            args.extend(["--tls-dir".into(), dir.clone().into_os_string()]);
        }
        args
    }
}

/// A process of a [`World`].
struct Proc {
    child: Child,
    pid: u32,
    lines: Receiver<String>,
    stdout: Vec<String>,
    /// The last `cloak:progress done total` line.
    progress: (usize, usize),
    stderr: Option<JoinHandle<String>>,
    reader: Option<JoinHandle<()>>,
    ended: Option<(ExitStatus, Instant)>,
    /// The peak resident memory seen (`VmHWM`), in KiB.
    hwm_kib: u64,
}

/// How one process of a [`World`] ended.
#[derive(Debug)]
pub struct Ended {
    pub rank: usize,
    /// `None` if it never started.
    pub status: Option<ExitStatus>,
    pub at: Option<Instant>,
    /// Still running at the deadline (then killed).
    pub hung: bool,
    pub stderr: String,
    pub stdout: String,
    /// Its peak resident memory as last seen while it ran, in KiB.
    pub hwm_kib: u64,
}

impl Ended {
    pub fn success(&self) -> bool {
        !self.hung && self.status.is_some_and(|s| s.success())
    }

    /// Seconds from `since` to its exit.
    pub fn after(&self, since: Instant) -> Option<f64> {
        self.at.map(|t| t.saturating_duration_since(since).as_secs_f64())
    }
}

/// The processes of one deployment, started one rank at a time.
pub struct World {
    pub setup: Setup,
    pub port: u16,
    pub start: Instant,
    procs: Vec<Option<Proc>>,
}

impl World {
    pub fn new(setup: Setup) -> Self {
        let port = free_local_port().expect("a free port");
        let procs = (0..setup.world()).map(|_| None).collect();
        World { setup, port, start: Instant::now(), procs }
    }

    /// The command that starts `rank` as the launcher would, without its arguments.
    pub fn command(&self, rank: usize, world: usize) -> Command {
        let mut cmd = local_party_command(env!("CARGO_BIN_EXE_cloak"), rank, world, self.port);
        cmd.env_remove("CLOAK_TLS_DIR").env_remove("CLOAK_PLAINTEXT");
        cmd
    }

    /// Starts `rank` with the setup's arguments.
    pub fn start(&mut self, rank: usize) {
        let mut cmd = self.command(rank, self.setup.world());
        cmd.args(self.setup.args(rank));
        self.start_command(rank, cmd);
    }

    /// Starts every rank but those in `withheld`: rank 0 first, once it listens on the
    /// master port the others (see [`World::start_master`]).
    pub fn start_all_but(&mut self, withheld: &[usize]) {
        self.start = Instant::now();
        if !withheld.contains(&0) {
            self.start_master();
        }
        for rank in (1..self.setup.world()).filter(|r| !withheld.contains(r)) {
            self.start(rank);
        }
    }

    /// Starts rank 0 and waits until it listens on the master port. The port was free when
    /// chosen, but another process (a test running alongside) may take it before rank 0
    /// binds it: then rank 0 is started again on a new port.
    pub fn start_master(&mut self) {
        for _ in 0..5 {
            self.start(0);
            let pid = self.pid(0);
            let port = self.port;
            let _ = self.wait_for("rank 0 listening", Duration::from_secs(20), |w| {
                !w.running(0) || listening_ports(pid).contains(&port)
            });
            if self.running(0) {
                return;
            }
            let ended = self.procs[0].take().and_then(|mut p| p.stderr.take());
            let stderr = ended.map(|h| h.join().unwrap_or_default()).unwrap_or_default();
            assert!(stderr.contains("Address already in use"), "rank 0 failed: {stderr}");
            self.port = free_local_port().expect("a free port");
        }
        panic!("no free master port after 5 tries");
    }

    /// Starts `rank` as `cmd` (built with [`World::command`]).
    pub fn start_command(&mut self, rank: usize, mut cmd: Command) {
        let mut child = cmd.spawn().expect("the cloak binary starts");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        let reader = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        let pid = child.id();
        self.procs[rank] = Some(Proc {
            child,
            pid,
            lines,
            stdout: Vec::new(),
            progress: (0, 0),
            stderr: Some(stderr),
            reader: Some(reader),
            ended: None,
            hwm_kib: 0,
        });
    }

    pub fn pid(&self, rank: usize) -> u32 {
        self.procs[rank].as_ref().expect("started").pid
    }

    pub fn running(&self, rank: usize) -> bool {
        self.procs[rank].as_ref().is_some_and(|p| p.ended.is_none())
    }

    /// `rank`'s last progress line: (done, total), (0, 0) before the first.
    pub fn progress(&self, rank: usize) -> (usize, usize) {
        self.procs[rank].as_ref().map_or((0, 0), |p| p.progress)
    }

    /// Takes new output lines, notes exits and peak memory.
    pub fn tick(&mut self) {
        for proc in self.procs.iter_mut().flatten() {
            for line in proc.lines.try_iter() {
                if let Some(rest) = line.strip_prefix("cloak:progress ") {
                    let mut w = rest.split_whitespace().map(|w| w.parse().unwrap_or(0));
                    proc.progress = (w.next().unwrap_or(0), w.next().unwrap_or(0));
                }
                proc.stdout.push(line);
            }
            if proc.ended.is_some() {
                continue;
            }
            // Read before the exit is collected: a zombie has no memory figures left.
            if let Some(kib) = vm_hwm_kib(proc.pid) {
                proc.hwm_kib = proc.hwm_kib.max(kib);
            }
            if let Ok(Some(status)) = proc.child.try_wait() {
                proc.ended = Some((status, Instant::now()));
            }
        }
    }

    /// Waits (at most `within`) until `cond` holds, ticking meanwhile.
    pub fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        mut cond: impl FnMut(&World) -> bool,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        loop {
            self.tick();
            if cond(self) {
                return Ok(start.elapsed());
            }
            if start.elapsed() > within {
                return Err(format!("{what}: not within {within:?}"));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until `rank` has shown at least `done` units of progress (or ended: then it is
    /// an error).
    pub fn wait_progress(&mut self, rank: usize, done: usize) -> Result<Duration, String> {
        let what = format!("rank {rank} at progress {done}");
        let within = Duration::from_secs(60);
        self.wait_for(&what, within, |w| w.progress(rank).0 >= done || !w.running(rank))?;
        if !self.running(rank) && self.progress(rank).0 < done {
            return Err(format!("rank {rank} ended before progress {done}"));
        }
        Ok(self.start.elapsed())
    }

    /// Waits until `rank` is listening (its rendezvous listener is open: rank 0's master
    /// port, or another rank's port after it reached rank 0).
    pub fn wait_listening(&mut self, rank: usize) -> Result<Vec<u16>, String> {
        let pid = self.pid(rank);
        self.wait_for(&format!("rank {rank} listening"), Duration::from_secs(20), |_| {
            !listening_ports(pid).is_empty()
        })?;
        Ok(listening_ports(pid))
    }

    /// The ports `rank` listens on now.
    pub fn listening(&self, rank: usize) -> Vec<u16> {
        self.procs[rank].as_ref().map_or_else(Vec::new, |p| listening_ports(p.pid))
    }

    /// SIGKILLs `rank`; returns when.
    pub fn kill(&mut self, rank: usize) -> Instant {
        let proc = self.procs[rank].as_mut().expect("started");
        let _ = proc.child.kill();
        Instant::now()
    }

    /// Sends `signal` (`STOP`, `CONT`) to `rank`.
    pub fn signal(&self, rank: usize, signal: &str) -> Instant {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid(rank).to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
        Instant::now()
    }

    /// Waits until every started process has ended, at most `within`; kills those still
    /// running then (marked `hung`). Returns how each ended, by rank.
    pub fn finish(&mut self, within: Duration) -> Vec<Ended> {
        let _ = self.wait_for("every process ending", within, |w| {
            w.procs.iter().flatten().all(|p| p.ended.is_some())
        });
        self.procs
            .iter_mut()
            .enumerate()
            .map(|(rank, proc)| {
                let Some(proc) = proc.as_mut() else {
                    return Ended {
                        rank,
                        status: None,
                        at: None,
                        hung: false,
                        stderr: String::new(),
                        stdout: String::new(),
                        hwm_kib: 0,
                    };
                };
                let hung = proc.ended.is_none();
                if hung {
                    let _ = proc.child.kill();
                    proc.ended = proc.child.wait().ok().map(|s| (s, Instant::now()));
                }
                if let Some(h) = proc.reader.take() {
                    let _ = h.join();
                }
                proc.stdout.extend(proc.lines.try_iter());
                let stderr = proc.stderr.take().map(|h| h.join().unwrap_or_default());
                Ended {
                    rank,
                    status: proc.ended.map(|e| e.0),
                    at: if hung { None } else { proc.ended.map(|e| e.1) },
                    hung,
                    stderr: stderr.unwrap_or_default(),
                    stdout: proc.stdout.join("\n"),
                    hwm_kib: proc.hwm_kib,
                }
            })
            .collect()
    }
}

impl Drop for World {
    /// No process outlives its test, whatever failed.
    fn drop(&mut self) {
        for proc in self.procs.iter_mut().flatten() {
            if proc.ended.is_none() {
                // A stopped process is killed too (SIGKILL needs no SIGCONT).
                let _ = proc.child.kill();
                let _ = proc.child.wait();
            }
        }
    }
}

/// The peak resident memory of process `pid` (`VmHWM`), in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The TCP ports process `pid` listens on: its socket descriptors (`/proc/PID/fd`) matched
/// with the listening sockets of `/proc/net/tcp` and `/proc/net/tcp6` by inode.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: HashSet<String> = fds
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy();
            t.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned)
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
                let port = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
                ports.extend(port);
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The soft limit on open files of this process (`/proc/self/limits`).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A failure as a user must see it: one non-empty line on stderr, `error: ...`, and no
/// panic, backtrace or internal error. Returns the line, or what is wrong.
pub fn error_line(stderr: &str) -> Result<String, String> {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != 1 {
        return Err(format!("{} lines on stderr:\n{stderr}", lines.len()));
    }
    if !lines[0].starts_with("error: ") {
        return Err(format!("not an `error:` line: {stderr}"));
    }
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "internal error"] {
        if stderr.contains(bad) {
            return Err(format!("{bad} in stderr: {stderr}"));
        }
    }
    Ok(lines[0].to_owned())
}

/// The rank a message names first: `party N`, `peer N`, `rank N`, `peers [N, ...]`.
pub fn first_rank_named(line: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for word in ["party ", "peer ", "rank ", "peers ["] {
        let mut from = 0;
        while let Some(i) = line[from..].find(word) {
            let at = from + i;
            let digits: String =
                line[at + word.len()..].chars().take_while(char::is_ascii_digit).collect();
            // "party" must be a word of its own (not the end of "third-party").
            let own_word = at == 0 || !line.as_bytes()[at - 1].is_ascii_alphanumeric();
            if let (true, Ok(n)) = (own_word, digits.parse::<usize>())
                && best.is_none_or(|(b, _)| at < b)
            {
                best = Some((at, n));
            }
            from = at + word.len();
        }
    }
    best.map(|(_, n)| n)
}

/// Checks that `e` failed cleanly, naming `culprit` first; returns its line.
pub fn failed_naming(e: &Ended, culprit: usize, what: &str) -> Result<String, String> {
    if e.hung {
        return Err(format!("{what}: rank {} still running at the deadline", e.rank));
    }
    if e.success() {
        return Err(format!("{what}: rank {} exited 0; stdout:\n{}", e.rank, e.stdout));
    }
    let line = error_line(&e.stderr).map_err(|m| format!("{what}: rank {}: {m}", e.rank))?;
    match first_rank_named(&line) {
        Some(r) if r == culprit => Ok(line),
        other => {
            Err(format!("{what}: rank {} names {other:?}, not rank {culprit}: {line}", e.rank))
        }
    }
}

/// The predictions the data owner wrote to `path`.
pub fn predictions(path: &Path) -> Vec<usize> {
    let logits = cloak::npy::read(path).expect("the data owner's output");
    cloak::predicted_classes(&logits).expect("classes")
}

/// A table printed with aligned columns (visible with `--nocapture`).
#[derive(Debug, Default)]
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, header: &[&str]) -> Self {
        Table {
            title: title.to_owned(),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut width = vec![0; n];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in row.iter().enumerate().take(n) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let line = |row: &Vec<String>| {
            let cells: Vec<String> =
                row.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = width[i])).collect();
            format!("| {} |", cells.join(" | ")).trim_end().to_owned()
        };
        let mut out = format!("\n{}\n{}\n", self.title, line(&self.header));
        let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        println!("{}", self.render());
    }
}

/// `text` cut to `n` characters.
pub fn excerpt(text: &str, n: usize) -> String {
    let text = text.strip_prefix("error: ").unwrap_or(text);
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        format!("{}...", text.chars().take(n).collect::<String>())
    }
}
