//! Hostile traffic at every listening port of a deployment of real `cloak party` and
//! `cloak dealer` processes (5 computing parties and a third-party dealer, on loopback),
//! during the rendezvous and mid-run, over plain TCP and over TLS: garbage, a header
//! announcing a huge length, bytes trickled slowly, a truncated frame, 1100 silent
//! connections per port, peers that never read, and under TLS a stranger without a
//! certificate, a certificate of another deployment and a real certificate used for the
//! wrong rank.
//!
//! The computation must still complete with every row predicted right, and no party's
//! memory may grow with the traffic (see [`MEMORY_MARGIN`]). Ports are found through
//! `/proc`: rank 0's master port is known; every other rank listens on an ephemeral port
//! during the rendezvous only, so mid-run the master port (which rank 0 keeps, refusing
//! late registrations) is the only one.
//!
//! A party waiting for rank 0's table does not accept on its port yet: strangers fill only
//! its kernel backlog (128 connections), and a real party that finds it full gets in on
//! TCP's first SYN retransmission, a second later. The runs here get a 10 s timeout, which
//! leaves room for that after the seconds the attacks take to set up.

#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use cloak::comm::u64s_to_bytes;
use cloak::comm::wire::{FrameKind, Header};
use common::{
    Dealer, Ended, Setup, Table, Temp, World, certs, expected_classes, open_files_limit,
    predictions, tiled_input,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Copies of the 8-image sample: several seconds of work for 5 parties and a dealer, so
/// that the attacks (1100 connections to a port that accepts every 10 ms, about 2 s to put
/// in place on two loaded cores) are in place well before the run ends. With 48 copies the
/// run took 1.6 s on such a machine and ended before the attacks were all there.
const TIMES: usize = 192;

/// The `--timeout` of the attacked runs (see the module documentation).
const TIMEOUT_S: u64 = 10;

/// Silent connections opened at each port.
const HALF_OPEN: usize = 1100;

/// How much more memory (peak resident) a party may use under attack than in an
/// undisturbed run of the same deployment. What a stranger can make a party hold is bounded
/// by design: at most 64 unidentified connections at once (each a few KiB, a TLS session
/// included), introductions of at most 1 KiB, and lengths checked before anything is
/// allocated. The attacks offer far more than the margin: 1100 connections per port,
/// lengths of 2^40 bytes, 256 MiB streams of garbage from peers that never read. Anything
/// buffered in proportion to them would cross it; allocator noise between two runs does
/// not come near.
const MEMORY_MARGIN: u64 = 64 << 20;

/// An absolute bound too, as a backstop: the undisturbed parties of this workload peak near
/// 180 MiB (192 copies of the sample).
const MEMORY_BOUND: u64 = 300 << 20;

/// Bytes a flooding attacker offers before it gives up.
const FLOOD: usize = 256 << 20;

/// A listening port under attack: who listens there and which introduction it expects.
#[derive(Clone, Debug)]
struct Target {
    port: u16,
    owner: String,
    /// `Register` at rank 0's master port, `Hello` at the others.
    intro: FrameKind,
}

impl Target {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// A well-formed introduction claiming `rank` of `world` (a registration with a port, or a
/// hello with a session token no one issued).
fn intro(kind: FrameKind, rank: u64, world: u64) -> Vec<u8> {
    let header = Header { kind, seq: 0, aux: rank, len: 16 };
    [&header.encode()[..], &u64s_to_bytes(&[world, 9])].concat()
}

/// The TLS identities the attackers use.
#[derive(Clone, Debug)]
struct Impostors {
    /// A certificate and key of another deployment, for rank 1.
    foreign: PathBuf,
    /// This deployment's own credentials (a real rank-2 certificate, to claim rank 1).
    ours: PathBuf,
}

/// The attacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attack {
    Garbage,
    HugeLength,
    Trickle,
    Truncated,
    NeverReads,
    HalfOpen,
    TlsNoCertificate,
    TlsOtherDeployment,
    TlsWrongRank,
}

impl Attack {
    const PLAIN: [Attack; 6] = [
        Attack::Garbage,
        Attack::HugeLength,
        Attack::Trickle,
        Attack::Truncated,
        Attack::NeverReads,
        Attack::HalfOpen,
    ];
    const TLS: [Attack; 3] =
        [Attack::TlsNoCertificate, Attack::TlsOtherDeployment, Attack::TlsWrongRank];
}

/// Whether `stream` was closed by the other side (without blocking).
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let _ = stream.set_nonblocking(true);
    let mut byte = [0u8; 1];
    let closed = match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}

/// Writes up to [`FLOOD`] bytes of `chunk` after `first`, never reading; returns what
/// happened.
fn flood(mut s: TcpStream, first: &[u8], chunk: &[u8], stop: &AtomicBool) -> String {
    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
    let mut sent = 0usize;
    if s.write_all(first).is_err() {
        return "dropped at once".into();
    }
    while sent < FLOOD && !stop.load(Ordering::Relaxed) {
        match s.write(chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // The party is not reading: it must not be buffering either.
                if closed_by_peer(&mut s) {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                if closed_by_peer(&mut s) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    if sent >= FLOOD || !closed_by_peer(&mut s) && stop.load(Ordering::Relaxed) {
        format!("still open after {} KiB", sent >> 10)
    } else {
        format!("dropped after {} KiB", sent >> 10)
    }
}

/// Holds `s` silent until `stop`; returns whether the party closed it meanwhile.
fn hold(mut s: TcpStream, stop: &AtomicBool) -> bool {
    while !stop.load(Ordering::Relaxed) {
        if closed_by_peer(&mut s) {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    closed_by_peer(&mut s)
}

/// A TLS client config trusting any server and presenting `identity` (certificate and key
/// files), if any.
fn tls_client(identity: Option<(&Path, &Path)>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = vec![CertificateDer::from_pem_file(cert).expect("a certificate")];
            let key = PrivateKeyDer::from_pem_file(key).expect("a key");
            builder.with_client_auth_cert(chain, key).expect("a usable key")
        }
    };
    Arc::new(config)
}

/// A TLS attacker: handshakes with `config`, introduces itself as rank 1, and reports the
/// answer. It must never be a table or a welcome.
fn tls_intruder(
    target: &Target,
    config: Arc<rustls::ClientConfig>,
    world: u64,
    ready: &dyn Fn(),
) -> String {
    let Ok(sock) = TcpStream::connect_timeout(&target.addr(), Duration::from_millis(300)) else {
        return "could not connect (backlog full)".into();
    };
    ready();
    let _ = sock.set_read_timeout(Some(Duration::from_secs(8)));
    let name = ServerName::try_from("cloak-rank-0").expect("a name");
    let conn = rustls::ClientConnection::new(config, name).expect("a client");
    let mut tls = rustls::StreamOwned::new(conn, sock);
    if let Err(e) = tls.write_all(&intro(target.intro, 1, world)) {
        return format!("refused at the handshake: {e}");
    }
    let mut answer = [0u8; 32];
    match tls.read_exact(&mut answer) {
        Err(e) => format!("refused: {e}"),
        Ok(()) => match Header::decode(&answer) {
            Ok(h) if h.kind == FrameKind::Refuse => {
                let mut why = vec![0u8; h.len.min(4096) as usize];
                let _ = tls.read_exact(&mut why);
                format!("refused: {}", String::from_utf8_lossy(&why).replace('\n', " ").trim())
            }
            Ok(h) => format!("ACCEPTED with a {:?} frame", h.kind),
            Err(e) => format!("answered garbage: {e}"),
        },
    }
}

/// Runs `attack` at `target` until `stop`; counts itself in `ready` once its connections
/// are open; returns what happened to it.
fn run_attack(
    attack: Attack,
    target: &Target,
    world: u64,
    impostors: Option<&Impostors>,
    half_open: usize,
    stop: &AtomicBool,
    ready: &AtomicUsize,
) -> String {
    let marked = AtomicBool::new(false);
    let mark = || {
        if !marked.swap(true, Ordering::Relaxed) {
            ready.fetch_add(1, Ordering::Relaxed);
        }
    };
    let outcome = attack_until(attack, target, world, impostors, half_open, stop, &mark);
    mark();
    outcome
}

fn attack_until(
    attack: Attack,
    target: &Target,
    world: u64,
    impostors: Option<&Impostors>,
    half_open: usize,
    stop: &AtomicBool,
    ready: &dyn Fn(),
) -> String {
    // Short: a listener that does not accept yet queues only its kernel backlog.
    let connect = || TcpStream::connect_timeout(&target.addr(), Duration::from_millis(300));
    match attack {
        Attack::Garbage => match connect() {
            Ok(s) => {
                ready();
                flood(s, &[0x5a; 64], &[0xa5; 64 << 10], stop)
            }
            Err(e) => format!("could not connect: {e}"),
        },
        Attack::HugeLength => match connect() {
            Ok(s) => {
                ready();
                let header = Header { kind: target.intro, seq: 0, aux: 1, len: 1 << 40 };
                flood(s, &header.encode(), &[0; 64 << 10], stop)
            }
            Err(e) => format!("could not connect: {e}"),
        },
        Attack::Trickle => match connect() {
            Ok(mut s) => {
                // A registration (or hello) for rank 1, a byte every 150 ms: 7 s in all, past
                // the 5 s a connection has to introduce itself.
                ready();
                let bytes = intro(target.intro, 1, world);
                let mut sent = 0;
                for b in &bytes {
                    if stop.load(Ordering::Relaxed) || closed_by_peer(&mut s) {
                        break;
                    }
                    if s.write_all(&[*b]).is_err() {
                        break;
                    }
                    sent += 1;
                    thread::sleep(Duration::from_millis(150));
                }
                let closed = hold(s, stop);
                format!("{sent} of {} bytes sent, {}", bytes.len(), closed_text(closed))
            }
            Err(e) => format!("could not connect: {e}"),
        },
        Attack::Truncated => match connect() {
            Ok(mut s) => {
                let bytes = intro(target.intro, 1, world);
                let _ = s.write_all(&bytes[..bytes.len() - 8]);
                ready();
                format!("header and half the payload sent, {}", closed_text(hold(s, stop)))
            }
            Err(e) => format!("could not connect: {e}"),
        },
        Attack::NeverReads => match connect() {
            Ok(mut s) => {
                // A duplicate of rank 1 (registered already) at rank 0, a hello from another
                // session elsewhere: both answered with a refusal this peer never reads.
                let _ = s.write_all(&intro(target.intro, 1, world));
                ready();
                let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(&[0x33; 1 << 20]);
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(20));
                }
                "introduced itself and sent 1 MiB more, never read".into()
            }
            Err(e) => format!("could not connect: {e}"),
        },
        Attack::HalfOpen => {
            // Four connecting threads. A listener takes connections into its kernel backlog
            // (128) and its party accepts them from there (rank 0's master port every 10 ms
            // once the rendezvous is over; another party's port not until rank 0's table
            // arrives); when the backlog is full a connection times out, and a thread gives
            // up after a second without one getting through.
            let mut held: Vec<TcpStream> = thread::scope(|s| {
                let threads: Vec<_> = (0..4)
                    .map(|i| {
                        s.spawn(move || {
                            let want = half_open / 4 + usize::from(i < half_open % 4);
                            let mut held = Vec::with_capacity(want);
                            let mut last = Instant::now();
                            while held.len() < want
                                && last.elapsed() < Duration::from_secs(1)
                                && !stop.load(Ordering::Relaxed)
                            {
                                let addr = target.addr();
                                match TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                                {
                                    Ok(s) => {
                                        held.push(s);
                                        last = Instant::now();
                                    }
                                    Err(_) => thread::sleep(Duration::from_millis(5)),
                                }
                            }
                            held
                        })
                    })
                    .collect();
                threads.into_iter().flat_map(|t| t.join().unwrap_or_default()).collect()
            });
            let opened = held.len();
            // How many the party has let go of already (it keeps at most 64 waiting to
            // introduce themselves), seen while it still runs.
            thread::sleep(Duration::from_millis(50));
            let closed = held.iter_mut().map(closed_by_peer).filter(|c| *c).count();
            ready();
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(20));
            }
            let full = if opened < half_open { " (then the backlog was full)" } else { "" };
            format!(
                "{opened} of {half_open} opened{full}, held silent; {closed} dropped by the party"
            )
        }
        Attack::TlsNoCertificate => tls_intruder(target, tls_client(None), world, ready),
        Attack::TlsOtherDeployment => {
            let dir = &impostors.expect("impostors").foreign;
            let config = tls_client(Some((&dir.join("rank-1.pem"), &dir.join("rank-1.key"))));
            tls_intruder(target, config, world, ready)
        }
        Attack::TlsWrongRank => {
            let dir = &impostors.expect("impostors").ours;
            let config = tls_client(Some((&dir.join("rank-2.pem"), &dir.join("rank-2.key"))));
            tls_intruder(target, config, world, ready)
        }
    }
}

fn closed_text(closed: bool) -> &'static str {
    if closed { "then closed" } else { "then held to the end" }
}

/// Attackers at work, until stopped.
struct Attackers {
    stop: Arc<AtomicBool>,
    running: Vec<(Attack, Target, JoinHandle<String>)>,
}

impl Attackers {
    /// Starts every attack of `attacks` at every target, the silent connections last (so
    /// that the others find room in the backlog of a listener that does not accept yet);
    /// returns once every attacker has connected (and the silent ones are all open), or
    /// after a few seconds; they go on in the background.
    fn launch(
        targets: &[Target],
        attacks: &[Attack],
        world: usize,
        impostors: Option<&Impostors>,
        half_open: usize,
    ) -> Attackers {
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicUsize::new(0));
        let mut running = Vec::new();
        let (silent, others): (Vec<Attack>, Vec<Attack>) =
            attacks.iter().partition(|a| **a == Attack::HalfOpen);
        for wave in [others, silent] {
            for target in targets {
                for &attack in &wave {
                    let (stop, ready, target2, impostors) =
                        (Arc::clone(&stop), Arc::clone(&ready), target.clone(), impostors.cloned());
                    let handle = thread::spawn(move || {
                        let imp = impostors.as_ref();
                        run_attack(attack, &target2, world as u64, imp, half_open, &stop, &ready)
                    });
                    running.push((attack, target.clone(), handle));
                }
            }
            let start = Instant::now();
            while ready.load(Ordering::Relaxed) < running.len()
                && start.elapsed() < Duration::from_secs(2)
            {
                thread::sleep(Duration::from_millis(2));
            }
        }
        Attackers { stop, running }
    }

    fn finish(self) -> Vec<(Attack, Target, String)> {
        self.stop.store(true, Ordering::Relaxed);
        self.running
            .into_iter()
            .map(|(a, t, h)| (a, t, h.join().unwrap_or_else(|_| "attacker panicked".into())))
            .collect()
    }
}

/// [`Attackers::launch`] while `world` is watched (its progress, exits and memory).
fn launch_watching(
    world: &mut World,
    targets: &[Target],
    attacks: &[Attack],
    impostors: Option<&Impostors>,
    half_open: usize,
) -> Attackers {
    let size = world.setup.world();
    thread::scope(|s| {
        let launching = s.spawn(|| Attackers::launch(targets, attacks, size, impostors, half_open));
        while !launching.is_finished() {
            world.tick();
            thread::sleep(Duration::from_millis(2));
        }
        launching.join().expect("attackers launched")
    })
}

/// The listening ports of every running rank of `world`.
fn targets(world: &World) -> Vec<Target> {
    let mut out = Vec::new();
    for rank in 0..world.setup.world() {
        if !world.running(rank) {
            continue;
        }
        for port in world.listening(rank) {
            let intro = if port == world.port { FrameKind::Register } else { FrameKind::Hello };
            out.push(Target { port, owner: world.setup.who(rank), intro });
        }
    }
    out
}

/// When the attack starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Every rank but party 2 has started and waits in the rendezvous.
    Rendezvous,
    /// Party 0 has shared its weights.
    MidRun,
}

/// Runs `setup` with the attacks at `phase`; checks that it completes correctly within
/// the memory bounds (`normal`: each rank's peak in an undisturbed run, KiB).
fn attacked_run(
    setup: &Setup,
    phase: Phase,
    attacks: &[Attack],
    impostors: Option<&Impostors>,
    normal: &[u64],
    half_open: usize,
    summary: &mut Table,
    details: &mut Table,
    problems: &mut Vec<String>,
) {
    let mode = if setup.tls.is_some() { "TLS" } else { "plain TCP" };
    let what = format!("{mode}, attacked during {phase:?}");
    let mut world = World::new(setup.clone());
    let withheld = 2;
    let attackers = match phase {
        Phase::Rendezvous => {
            world.start_all_but(&[withheld]);
            for rank in (0..setup.world()).filter(|&r| r != withheld) {
                if let Err(e) = world.wait_listening(rank) {
                    problems.push(format!("{what}: {e}"));
                }
            }
            let targets = targets(&world);
            let attackers = launch_watching(&mut world, &targets, attacks, impostors, half_open);
            world.start(withheld);
            (attackers, targets)
        }
        Phase::MidRun => {
            world.start_all_but(&[]);
            if let Err(e) = world.wait_progress(0, 1) {
                problems.push(format!("{what}: {e}"));
            }
            let targets = targets(&world);
            let attackers = launch_watching(&mut world, &targets, attacks, impostors, half_open);
            (attackers, targets)
        }
    };
    let (attackers, targets) = attackers;
    let in_place = world.start.elapsed();
    let ended: Vec<Ended> = world.finish(Duration::from_secs(60));
    let results = attackers.finish();

    for e in &ended {
        if !e.success() {
            problems.push(format!("{what}: rank {} failed: {}", e.rank, e.stderr.trim()));
        }
        let (peak, bound) = (e.hwm_kib << 10, (normal[e.rank] << 10) + MEMORY_MARGIN);
        if peak > bound.min(MEMORY_BOUND) {
            problems.push(format!(
                "{what}: rank {} peaked at {} MiB (undisturbed {} MiB)",
                e.rank,
                peak >> 20,
                normal[e.rank] >> 10
            ));
        }
    }
    let output = setup.output.as_ref().expect("an output path");
    let rows = 8 * TIMES;
    if problems.is_empty() && predictions(output) != expected_classes(rows) {
        problems.push(format!("{what}: wrong predictions"));
    }
    let finished = ended.iter().filter_map(|e| e.after(world.start)).fold(0.0, f64::max);
    let first_exit = ended.iter().filter_map(|e| e.after(world.start)).fold(f64::MAX, f64::min);
    if phase == Phase::MidRun && in_place.as_secs_f64() >= first_exit {
        problems.push(format!(
            "{what}: a process ended ({first_exit:.2} s) before the attacks were in place ({:.2} s)",
            in_place.as_secs_f64()
        ));
    }
    for (attack, target, outcome) in &results {
        if outcome.contains("ACCEPTED") {
            problems.push(format!("{what}: {attack:?} at {}: {outcome}", target.owner));
        }
        details.row(vec![
            mode.into(),
            format!("{phase:?}"),
            format!("{attack:?}"),
            format!("{} :{}", target.owner, target.port),
            outcome.clone(),
        ]);
    }
    let ports: Vec<String> = targets.iter().map(|t| format!("{} :{}", t.owner, t.port)).collect();
    let peaks: Vec<String> = ended
        .iter()
        .map(|e| format!("{} {} ({})", setup.who(e.rank), e.hwm_kib >> 10, normal[e.rank] >> 10))
        .collect();
    summary.row(vec![
        mode.into(),
        format!("{phase:?}"),
        ports.join(", "),
        format!("{:.2} s in place, run ended at {finished:.2} s", in_place.as_secs_f64()),
        peaks.join(", "),
        if ended.iter().all(Ended::success) { "completed" } else { "FAILED" }.into(),
    ]);
}

/// The attacks of one mode (plain TCP or TLS), at both phases.
fn hostile(tls: bool) {
    let name = if tls { "hostile-tls" } else { "hostile-plain" };
    let dir = Temp::new(name);
    let limit = open_files_limit().unwrap_or(0);
    // Six listening ports at most (every rank but the last party), and some spare.
    let half_open = if limit >= 6 * HALF_OPEN as u64 + 512 {
        HALF_OPEN
    } else if limit >= HALF_OPEN as u64 + 512 {
        println!("open-file limit {limit}: {HALF_OPEN} silent connections spread over the ports");
        HALF_OPEN / 6
    } else {
        println!("open-file limit {limit}: too low for {HALF_OPEN} silent connections, skipped");
        0
    };
    let input = tiled_input(&dir.path("input.npy"), TIMES);
    let mut setup = Setup::new(5, Dealer::ThirdParty, input);
    setup.output = Some(dir.path("output.npy"));
    setup.timeout_s = TIMEOUT_S;
    let mut impostors = None;
    if tls {
        let (ours, foreign) = (dir.path("certs"), dir.path("other-certs"));
        certs(&ours, setup.world());
        certs(&foreign, setup.world());
        setup.tls = Some(ours.clone());
        impostors = Some(Impostors { foreign, ours });
    }
    let mut attacks: Vec<Attack> =
        Attack::PLAIN.into_iter().filter(|a| *a != Attack::HalfOpen || half_open > 0).collect();
    if tls {
        attacks.extend(Attack::TLS);
    }

    // Undisturbed first: the memory each rank needs for this workload.
    let mut world = World::new(setup.clone());
    world.start_all_but(&[]);
    let ended = world.finish(Duration::from_secs(60));
    for e in &ended {
        assert!(e.success(), "undisturbed run, rank {}: {}", e.rank, e.stderr);
    }
    assert_eq!(predictions(setup.output.as_ref().unwrap()), expected_classes(8 * TIMES));
    let normal: Vec<u64> = ended.iter().map(|e| e.hwm_kib).collect();
    let took = ended.iter().filter_map(|e| e.after(world.start)).fold(0.0, f64::max);

    let mode = if tls { "TLS" } else { "plain TCP" };
    let mut summary = Table::new(
        &format!(
            "Hostile traffic, {mode} (5 parties, third-party dealer, undisturbed run {took:.2} s)"
        ),
        &["mode", "attacked during", "ports", "timing", "peak MiB (undisturbed)", "run"],
    );
    let mut details = Table::new(
        &format!("Hostile traffic, {mode}: what became of each attacker"),
        &["mode", "during", "attack", "port", "outcome"],
    );
    let mut problems = Vec::new();
    for phase in [Phase::Rendezvous, Phase::MidRun] {
        attacked_run(
            &setup,
            phase,
            &attacks,
            impostors.as_ref(),
            &normal,
            half_open,
            &mut summary,
            &mut details,
            &mut problems,
        );
    }
    summary.print();
    details.print();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn hostile_traffic_at_every_port_over_plain_tcp_leaves_the_run_correct_and_bounded() {
    hostile(false);
}

#[test]
fn hostile_traffic_at_every_port_over_tls_leaves_the_run_correct_and_bounded() {
    hostile(true);
}

/// A verifier that accepts any server: what an impostor who only wants to talk would use.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
