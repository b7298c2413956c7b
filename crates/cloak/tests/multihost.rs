//! Parties on separate hosts, each with its own IP address, simulated on one machine with
//! Linux network namespaces: every party (and the dealer) runs in a namespace of its own,
//! linked to the others through a bridge, and reaches them only over that network, never
//! over loopback. This exercises what loopback runs cannot: the TLS requirement off
//! loopback, the addresses rank 0 hands out in its rendezvous table, the interfaces the
//! parties listen on, and a party that becomes unreachable mid-run.
//!
//! Creating namespaces needs root and iproute2 (`ip`); where either is missing, every test
//! prints `skipped: ...` and passes.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Arguments of any kind, as owned strings.
mod common;

use common::{digits, model};

fn os(args: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_owned()).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The port every rank 0 listens on: each namespace has its own ports, so tests running at
/// the same time cannot collide on it.
const MASTER_PORT: &str = "29500";

/// A file or directory of this test process's own in the temporary directory (removed when
/// dropped).
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir()
            .join(format!("cloak-multihost-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let _ = std::fs::remove_file(&path);
        Self(path)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `ip` with `args`; its stderr on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), text(&out.stderr).trim()))
    }
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Networks created by this process so far: part of every name and address.
static NETWORKS: AtomicU32 = AtomicU32::new(0);

/// A private network of `hosts` namespaces, `cloak-<pid>-<k>-<i>`, each with loopback and
/// one interface, `eth0`, at `10.<x>.<y>.<i+1>/24`, and a bridge joining them in a namespace
/// of its own, `cloak-<pid>-<k>-br` (so nothing is added to this machine's own network).
/// Dropping it deletes the namespaces, and with them every link.
struct Net {
    bridge: String,
    hosts: Vec<String>,
    addrs: Vec<Ipv4Addr>,
}

impl Net {
    /// The network, or `None` (having said why on stderr) where this machine cannot make
    /// one: not root, no iproute2, or namespaces not permitted.
    fn new(hosts: usize) -> Option<Net> {
        let skip = |why: String| {
            eprintln!("skipped: network namespaces unavailable: {why}");
            None
        };
        if effective_uid() != Some(0) {
            return skip("not running as root".into());
        }
        let (pid, k) = (std::process::id(), NETWORKS.fetch_add(1, Ordering::Relaxed));
        let prefix = format!("cloak-{pid}-{k}");
        // Distinct subnets for the networks of concurrent tests and test processes, though
        // each is isolated behind its own bridge anyway.
        let id = pid.wrapping_mul(64).wrapping_add(k);
        let [_, _, x, y] = id.to_be_bytes();
        let net = Net {
            bridge: format!("{prefix}-br"),
            hosts: (0..hosts).map(|i| format!("{prefix}-{i}")).collect(),
            addrs: (0..hosts).map(|i| Ipv4Addr::new(10, x, y, i as u8 + 1)).collect(),
        };
        // Leftovers of an earlier process with the same pid.
        net.delete();
        if let Err(e) = ip(&["netns", "add", &net.bridge]) {
            return skip(e);
        }
        let br = net.bridge.as_str();
        if let Err(e) = ip(&["-n", br, "link", "add", "br0", "type", "bridge"]) {
            return skip(e);
        }
        for cmd in [&["link", "set", "br0", "up"][..], &["link", "set", "lo", "up"]] {
            net.must(br, cmd);
        }
        for (i, (host, addr)) in net.hosts.iter().zip(&net.addrs).enumerate() {
            let port = format!("v{i}");
            ip(&["netns", "add", host]).unwrap_or_else(|e| panic!("{e}"));
            net.must(br, &["link", "add", &port, "type", "veth", "peer", "name", "eth0"]);
            net.must(br, &["link", "set", "eth0", "netns", host]);
            net.must(br, &["link", "set", &port, "master", "br0", "up"]);
            net.must(host, &["addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
            net.must(host, &["link", "set", "eth0", "up"]);
            net.must(host, &["link", "set", "lo", "up"]);
        }
        Some(net)
    }

    /// Runs `ip -n <ns> args`, panicking on failure.
    fn must(&self, ns: &str, args: &[&str]) {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        ip(&all).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Takes host `i`'s only interface down: from then on it reaches no one and no one
    /// reaches it, as when a machine drops off the network.
    fn unplug(&self, i: usize) {
        self.must(&self.hosts[i], &["link", "set", "eth0", "down"]);
    }

    /// The addresses that processes on host `i` listen on (TCP, IPv4 and IPv6).
    fn listening(&self, i: usize) -> Vec<SocketAddr> {
        let mut found = Vec::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.hosts[i], "cat", table])
                .output()
                .expect("`ip netns exec cat` runs");
            assert!(out.status.success(), "{}", text(&out.stderr));
            for line in text(&out.stdout).lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // The state `0A` is LISTEN; the address is hex words in host byte order.
                if fields.get(3) != Some(&"0A") {
                    continue;
                }
                let (addr, port) = fields[1].split_once(':').expect("address:port");
                let port = u16::from_str_radix(port, 16).expect("hex port");
                let words: Vec<[u8; 4]> = (0..addr.len() / 8)
                    .map(|w| {
                        let word = u32::from_str_radix(&addr[8 * w..8 * w + 8], 16);
                        word.expect("hex address").to_ne_bytes()
                    })
                    .collect();
                let ip: IpAddr = match words.as_slice() {
                    [v4] => Ipv4Addr::from(*v4).into(),
                    v6 => {
                        Ipv6Addr::from(<[u8; 16]>::try_from(v6.concat()).expect("16 bytes")).into()
                    }
                };
                found.push(SocketAddr::new(ip, port));
            }
        }
        found
    }

    /// Host `i`'s address with `port`.
    fn addr(&self, i: usize, port: &str) -> String {
        format!("{}:{port}", self.addrs[i])
    }

    /// Starts `cloak args...` on host `i` with the variables `env` (and none of the launch
    /// or security variables of this process).
    fn cloak(&self, i: usize, args: &[OsString], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.hosts[i], env!("CARGO_BIN_EXE_cloak")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in [
            "RANK",
            "WORLD_SIZE",
            "MASTER_ADDR",
            "MASTER_PORT",
            "CLOAK_PARTIES",
            "CLOAK_TLS_DIR",
            "CLOAK_PLAINTEXT",
            "SLURM_PROCID",
            "SLURM_NTASKS",
            "OMPI_COMM_WORLD_RANK",
            "OMPI_COMM_WORLD_SIZE",
            "JOB_COMPLETION_INDEX",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        Proc::spawn(cmd)
    }

    /// Starts rank `rank` of `world` as a party (or, with `cloak dealer` args, the dealer)
    /// on host `rank`, finding the others through rank 0 at its address on this network.
    fn ranked(&self, rank: usize, world: usize, args: &[OsString]) -> Proc {
        let (r, w, master) = (rank.to_string(), world.to_string(), self.addrs[0].to_string());
        let env = [
            ("RANK", r.as_str()),
            ("WORLD_SIZE", w.as_str()),
            ("MASTER_ADDR", master.as_str()),
            ("MASTER_PORT", MASTER_PORT),
        ];
        self.cloak(rank, args, &env)
    }

    fn delete(&self) {
        for ns in self.hosts.iter().chain([&self.bridge]) {
            let _ = ip(&["netns", "delete", ns]);
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.delete();
    }
}

/// A `cloak` process inside a namespace, killed if dropped still running.
struct Proc {
    child: Child,
    /// Each line of its stdout, as it comes.
    lines: mpsc::Receiver<String>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd.spawn().expect("`ip netns exec cloak` starts");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("piped");
        let stdout = thread::spawn(move || {
            let mut all = Vec::new();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                all.extend_from_slice(line.as_bytes());
                all.push(b'\n');
                let _ = tx.send(line);
            }
            all
        });
        let mut err = child.stderr.take().expect("piped");
        let stderr = thread::spawn(move || {
            let mut all = Vec::new();
            let _ = err.read_to_end(&mut all);
            all
        });
        Proc { child, lines, stdout: Some(stdout), stderr: Some(stderr) }
    }

    /// Waits for a line of stdout that `want` accepts, for at most `limit`; false if none
    /// came (the process ended, or the time ran out).
    fn wait_for_line(&mut self, limit: Duration, want: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// Its exit status and output, once it has exited; panics if it runs past `limit` (it
    /// is then killed: a party must never hang).
    fn finish(mut self, what: &str, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let err = self.stderr.take().map(|h| h.join().unwrap_or_default());
                panic!("{what} still ran after {limit:?}; stderr:\n{}", text(&err.unwrap()));
            }
            thread::sleep(Duration::from_millis(10));
        };
        let join = |h: Option<JoinHandle<Vec<u8>>>| h.map(|h| h.join().unwrap_or_default());
        Output {
            status,
            stdout: join(self.stdout.take()).unwrap_or_default(),
            stderr: join(self.stderr.take()).unwrap_or_default(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How long a party that should succeed (or fail at once) may take, on a busy machine.
const RUN_LIMIT: Duration = Duration::from_secs(30);

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout:\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
}

/// A failure as the user must see it: a non-zero exit and one line on stderr, `error: ...`
/// containing every one of `expected`, no panic. Returns the line.
fn assert_clean_failure(what: &str, out: &Output, expected: &[&str]) -> String {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{what} succeeded; stdout:\n{}", text(&out.stdout));
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: stderr is not one line:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{what}: {stderr}");
    for want in expected {
        assert!(lines[0].contains(want), "{what}: expected `{want}` in:\n{stderr}");
    }
    for bad in ["panicked", "backtrace", "internal error"] {
        assert!(!stderr.contains(bad), "{what}: {bad} in stderr:\n{stderr}");
    }
    lines[0].to_string()
}

/// The predicted class of each row of the predictions table a party prints.
fn classes(stdout: &str) -> Vec<usize> {
    let start = stdout
        .lines()
        .position(|l| l.contains("row  label  predictions"))
        .unwrap_or_else(|| panic!("no predictions table in:\n{stdout}"));
    stdout
        .lines()
        .skip(start + 1)
        .map_while(|l| l.split_whitespace().nth(2)?.trim_end_matches(':').parse().ok())
        .collect()
}

/// `cloak certs` for a world of `world` ranks, into a fresh directory.
fn certs(name: &str, world: usize) -> Temp {
    let dir = Temp::new(name);
    let out = Command::new(env!("CARGO_BIN_EXE_cloak"))
        .args(["certs", "--world", &world.to_string(), "--out"])
        .arg(&dir.0)
        .output()
        .expect("the cloak binary runs");
    assert_success("cloak certs", &out);
    dir
}

/// Two computing parties and a third-party dealer on three hosts, with `security` (the
/// arguments that choose TLS or plain TCP), through rank 0 at its own address.
fn parties_and_dealer(net: &Net, security: &[&dyn AsRef<OsStr>]) -> Vec<Output> {
    let with =
        |args: &[&dyn AsRef<OsStr>]| [os(args), os(security), os(&[&"--timeout", &"20"])].concat();
    let p0 =
        net.ranked(0, 3, &with(&[&"party", &"--dealer", &"third-party", &"--model", &model()]));
    let p1 =
        net.ranked(1, 3, &with(&[&"party", &"--dealer", &"third-party", &"--input", &digits()]));
    let dealer = net.ranked(2, 3, &with(&[&"dealer", &"--parties", &"2"]));
    [("party 0", p0), ("party 1", p1), ("the dealer", dealer)]
        .into_iter()
        .map(|(what, p)| p.finish(what, RUN_LIMIT))
        .collect()
}

#[test]
fn parties_and_a_dealer_on_three_hosts_over_tls() {
    let Some(net) = Net::new(3) else { return };
    let certs = certs("tls", 3);
    let outs = parties_and_dealer(&net, &[&"--tls-dir", &certs.0]);
    for (rank, out) in outs.iter().enumerate() {
        assert_success(&format!("rank {rank}"), out);
    }
    // As on loopback: the data owner learns the classes, the model owner nothing.
    assert_eq!(classes(&text(&outs[1].stdout)), (0..8).collect::<Vec<_>>());
    assert!(text(&outs[0].stdout).contains("nothing revealed to this party"));
    assert!(text(&outs[2].stdout).contains("dealer (rank 2) served"));
}

#[test]
fn without_credentials_every_host_refuses_plain_tcp() {
    let Some(net) = Net::new(3) else { return };
    let started = Instant::now();
    let outs = parties_and_dealer(&net, &[]);
    let master = net.addr(0, MASTER_PORT);
    for (rank, out) in outs.iter().enumerate() {
        assert_clean_failure(
            &format!("rank {rank}"),
            out,
            &[&master, "is not a loopback address", "need TLS"],
        );
    }
    // Refused before any waiting, not after a timeout.
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn plain_tcp_between_hosts_runs_when_asked_for_explicitly() {
    let Some(net) = Net::new(3) else { return };
    let outs = parties_and_dealer(&net, &[&"--insecure-plaintext"]);
    for (rank, out) in outs.iter().enumerate() {
        assert_success(&format!("rank {rank}"), out);
    }
    assert_eq!(classes(&text(&outs[1].stdout)), (0..8).collect::<Vec<_>>());
}

#[test]
fn three_parties_from_a_fixed_list_of_addresses_over_tls() {
    let Some(net) = Net::new(3) else { return };
    let certs = certs("list", 3);
    let list: Vec<String> = (0..3).map(|i| net.addr(i, "29600")).collect();
    let list = list.join(",");
    let procs: Vec<Proc> = (0..3)
        .map(|rank| {
            let mut args = os(&[&"party", &"--tls-dir", &certs.0, &"--timeout", &"20"]);
            match rank {
                0 => args.extend(os(&[&"--model", &model()])),
                1 => args.extend(os(&[&"--input", &digits()])),
                _ => {}
            }
            let rank_s = rank.to_string();
            let env = [("RANK", rank_s.as_str()), ("WORLD_SIZE", "3"), ("CLOAK_PARTIES", &list)];
            net.cloak(rank, &args, &env)
        })
        .collect();
    let outs: Vec<Output> = procs
        .into_iter()
        .enumerate()
        .map(|(rank, p)| p.finish(&format!("party {rank}"), RUN_LIMIT))
        .collect();
    for (rank, out) in outs.iter().enumerate() {
        assert_success(&format!("party {rank}"), out);
    }
    assert_eq!(classes(&text(&outs[1].stdout)), (0..8).collect::<Vec<_>>());
    assert!(text(&outs[2].stdout).contains("party 2 of 3 (helper), dealer: first-party"));
}

/// Whether `line` names `rank` as the party that failed: it timed out waiting for it, saw
/// it go, or was told that it failed.
fn names_culprit(line: &str, rank: usize) -> bool {
    [
        format!("waiting for peer {rank}"),
        format!("peer {rank} disconnected"),
        format!("party {rank} failed"),
    ]
    .iter()
    .any(|p| line.contains(p.as_str()))
}

#[test]
fn a_party_that_drops_off_the_network_mid_run_is_named_by_the_others() {
    let Some(net) = Net::new(3) else { return };
    let certs = certs("unplug", 3);
    // A run of a few seconds: 250 copies of the sample.
    let input = Temp::new("unplug-input.npy");
    let x = cloak::npy::read(digits()).unwrap();
    let views = vec![x.view(); 250];
    let many = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
    cloak::npy::write_f32(&input.0, &many).unwrap();
    let timeout = Duration::from_secs(5);
    let t = timeout.as_secs().to_string();
    let security = os(&[&"--tls-dir", &certs.0, &"--timeout", &t]);
    let party = |own: &[&dyn AsRef<OsStr>]| {
        [os(&[&"party", &"--dealer", &"third-party"]), security.clone(), os(own)].concat()
    };
    let p0 = net.ranked(0, 3, &party(&[&"--model", &model()]));
    // Party 1 reports its progress as lines (as for `cloak infer`), to be unplugged mid-run.
    let mut p1 = net.ranked(1, 3, &party(&[&"--input", &input.0, &"--launched"]));
    let dealer = net.ranked(2, 3, &[os(&[&"dealer"]), security].concat());

    // Past the weights, the input and the first layer.
    let mid_run = p1.wait_for_line(RUN_LIMIT, |l| {
        l.strip_prefix("cloak:progress ")
            .and_then(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
            .is_some_and(|done| done >= 3)
    });
    if !mid_run {
        let out = p1.finish("party 1", RUN_LIMIT);
        panic!("party 1 reported no progress: {}{}", text(&out.stderr), text(&out.stdout));
    }
    // Meanwhile, the only port open is rank 0's, on its own address (not on every
    // interface): the others' rendezvous listeners are closed once the mesh is built.
    let master: SocketAddr = net.addr(0, MASTER_PORT).parse().unwrap();
    assert_eq!(net.listening(0), [master]);
    assert_eq!(net.listening(1), []);
    assert_eq!(net.listening(2), []);
    net.unplug(1);
    let unplugged = Instant::now();
    // Each of the others notices within its timeout (and a little to start and stop).
    let limit = timeout + Duration::from_secs(4);
    let o0 = p0.finish("party 0", limit);
    let o2 = dealer.finish("the dealer", limit);
    let waited = unplugged.elapsed();
    for (what, out) in [("party 0", &o0), ("the dealer", &o2)] {
        let line = assert_clean_failure(what, out, &[]);
        assert!(names_culprit(&line, 1), "{what} does not name party 1: {line}");
    }
    assert!(waited < limit, "the others took {waited:?}");
    // The unplugged party gives up too, with one line.
    let o1 = p1.finish("party 1", limit);
    assert_clean_failure("party 1", &o1, &[]);
}
