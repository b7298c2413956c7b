//! The deployment fault suite: real `cloak party` and `cloak dealer` processes (2, 3 and 5
//! computing parties, both dealers) meeting on loopback through rank 0, as a launcher starts
//! them, with one of them killed (during the rendezvous, early, mid-way or late in the run),
//! stopped and resumed, or started with a program that does not match the others'.
//!
//! Whatever happens, every other process must exit non-zero within the timeout (plus some
//! slack), with exactly one `error:` line naming the party at fault first, and no panic; a
//! party stopped for less than the timeout must not disturb the run. Kill points are taken
//! from the progress lines a party prints (`cloak party --launched`): the workload is the
//! digits sample tiled to a batch that takes about a second, measured first by an
//! undisturbed run of the same deployment. Each test prints a table of what it measured
//! (visible with `--nocapture`).

#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    Dealer, Ended, SLACK, Setup, Table, Temp, World, excerpt, expected_classes, failed_naming,
    predictions, tiled_input, timeout,
};

/// The deployments, and how many copies of the 8-image sample each one computes on: about
/// a second of work each in the debug profile on two cores (more parties, fewer rows).
const CONFIGS: [(usize, Dealer, usize); 6] = [
    (2, Dealer::FirstParty, 48),
    (3, Dealer::FirstParty, 24),
    (5, Dealer::FirstParty, 8),
    (2, Dealer::ThirdParty, 48),
    (3, Dealer::ThirdParty, 24),
    (5, Dealer::ThirdParty, 8),
];

/// An undisturbed run: when party 0 finished each unit of progress (the shared weights, the
/// shared input, each layer, the reveal), as a fraction of the run, from the costs it
/// reported.
#[derive(Clone, Debug)]
struct Normal {
    /// `done[u]`: the fraction of party 0's time spent when progress unit `u + 1` was done.
    done: Vec<f64>,
}

impl Normal {
    /// Progress units a party reports in all.
    fn total(&self) -> usize {
        self.done.len()
    }

    /// The first progress unit by whose end `fraction` of the run has passed, but no later
    /// than one that leaves at least a tenth of the run still to do: a kill there happens
    /// with work left whatever the delay in noticing the progress line.
    fn unit_at(&self, fraction: f64) -> usize {
        let last = self.done.iter().rposition(|&f| f <= 0.9).map_or(1, |i| i + 1);
        let at = self.done.iter().position(|&f| f >= fraction).map_or(last, |i| i + 1);
        at.min(last).max(1)
    }
}

/// Party 0's time per progress unit from its cost lines (`cloak:stage NAME MICROS ..`,
/// `cloak:node INDEX MICROS ..`), as cumulative fractions (see [`Normal::done`]). Units come
/// in this order: weights, input, each node, reveal; setup comes before them.
fn cumulative_fractions(stdout: &str) -> Vec<f64> {
    let micros = |l: &str| l.split_whitespace().nth(2).and_then(|t| t.parse::<f64>().ok());
    let stage = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("cloak:stage {name} ")))
            .and_then(micros)
            .unwrap_or(0.0)
    };
    let mut units = vec![stage("weights"), stage("input")];
    units.extend(stdout.lines().filter(|l| l.starts_with("cloak:node ")).filter_map(micros));
    units.push(stage("reveal"));
    let all = stage("setup") + units.iter().sum::<f64>();
    let mut spent = stage("setup");
    units
        .iter()
        .map(|t| {
            spent += t;
            spent / all
        })
        .collect()
}

/// Runs `setup` undisturbed: every process must succeed and the data owner must predict
/// every row right. Adds a row to `table`.
fn normal_run(setup: &Setup, rows: usize, table: &mut Table) -> Normal {
    let mut world = World::new(setup.clone());
    world.start_all_but(&[]);
    let ended = world.finish(Duration::from_secs(60));
    for e in &ended {
        assert!(e.success(), "undisturbed run, rank {}: {:?}\n{}", e.rank, e.status, e.stderr);
    }
    let out = setup.output.as_ref().expect("an output path");
    assert_eq!(predictions(out), expected_classes(rows), "undisturbed run");
    let secs = ended.iter().filter_map(|e| e.after(world.start)).fold(0.0, f64::max);
    let total = world.progress(0).1;
    let done = cumulative_fractions(&ended[0].stdout);
    assert!(total > 3 && done.len() == total, "party 0's progress and costs: {done:?}");
    let peak = ended.iter().map(|e| e.hwm_kib).max().unwrap_or(0);
    table.row(vec![
        "none".into(),
        setup.parties.to_string(),
        setup.dealer.arg().into(),
        "-".into(),
        format!("normal run: {secs:.2} s, {rows} rows"),
        format!("peak memory {} MiB", peak / 1024),
        "completed, predictions correct".into(),
    ]);
    Normal { done }
}

/// When in the run a process is killed: at the end of the first unit of progress by which
/// a fraction of an undisturbed run has passed (see [`Normal::unit_at`]).
#[derive(Clone, Copy, Debug)]
enum Point {
    /// 5% of the run.
    Early,
    /// 50%.
    Mid,
    /// 80%.
    Late,
}

impl Point {
    fn fraction(self) -> f64 {
        match self {
            Point::Early => 0.05,
            Point::Mid => 0.5,
            Point::Late => 0.8,
        }
    }
}

/// The times to error of `ended` but `except`, from `since`: `p0 0.01, p2 0.03`.
fn times(setup: &Setup, ended: &[Ended], except: usize, since: Instant) -> String {
    let shown: Vec<String> = ended
        .iter()
        .filter(|e| e.rank != except)
        .map(|e| match e.after(since) {
            Some(t) => format!("{} {t:.2}", setup.who(e.rank)),
            None => format!("{} hung", setup.who(e.rank)),
        })
        .collect();
    shown.join(", ")
}

/// Checks every process but `victim` failed naming it (or, for `late`, rank 0 or `victim`);
/// returns one line and adds what is wrong to `problems`.
fn check_others(
    ended: &[Ended],
    victim: usize,
    late: Option<usize>,
    what: &str,
    since: Instant,
    problems: &mut Vec<String>,
) -> String {
    let mut shown = String::new();
    for e in ended.iter().filter(|e| e.rank != victim) {
        let named = match failed_naming(e, victim, what) {
            Err(_) if Some(e.rank) == late => failed_naming(e, 0, what),
            named => named,
        };
        match named {
            Ok(line) => {
                println!("  {what}: rank {} after {:.2?}: {line}", e.rank, e.after(since));
                if shown.is_empty() {
                    shown = line;
                }
            }
            Err(problem) => problems.push(problem),
        }
        // Generous: the failure must be noticed within the timeout, not after a hang.
        if let Some(t) = e.after(since)
            && t > (timeout() + SLACK).as_secs_f64()
        {
            problems.push(format!("{what}: rank {} took {t:.2} s", e.rank));
        }
    }
    shown
}

/// Kills `victim` at `point` of a run of `setup` (timed by the victim's progress, or party
/// 0's when the victim is the dealer); every other process must fail naming it.
/// Starts every process of `setup` and waits until the party whose progress stands for
/// `victim`'s (the victim itself, or party 0 for the dealer, which reports none) has done
/// `point`'s share of a normal run; returns the running world, that party and the units done.
fn run_until(
    setup: &Setup,
    normal: &Normal,
    victim: usize,
    point: Point,
) -> Result<(World, usize, usize), String> {
    let mut world = World::new(setup.clone());
    world.start_all_but(&[]);
    let clock = if Some(victim) == setup.dealer_rank() { 0 } else { victim };
    let units = normal.unit_at(point.fraction());
    world.wait_progress(clock, units)?;
    Ok((world, clock, units))
}

fn kill_mid_run(
    setup: &Setup,
    normal: &Normal,
    victim: usize,
    point: Point,
    table: &mut Table,
    problems: &mut Vec<String>,
) {
    let what = format!(
        "{} parties, {} dealer, {} killed {point:?}",
        setup.parties,
        setup.dealer.arg(),
        setup.who(victim)
    );
    let (mut world, clock, units) = match run_until(setup, normal, victim, point) {
        Ok(reached) => reached,
        Err(e) => {
            problems.push(format!("{what}: {e}"));
            return;
        }
    };
    let at = world.kill(victim);
    let elapsed = at.duration_since(world.start).as_secs_f64();
    let ended = world.finish(timeout() + SLACK);
    let line = check_others(&ended, victim, None, &what, at, problems);
    table.row(vec![
        format!("kill {point:?}").to_lowercase(),
        setup.parties.to_string(),
        setup.dealer.arg().into(),
        setup.who(victim),
        format!(
            "{} done ({units}/{} units, {:.0}% of normal run time) at {}: {elapsed:.2} s",
            unit_name(units, normal.total()),
            normal.total(),
            100.0 * normal.done[units - 1],
            setup.who(clock),
        ),
        times(setup, &ended, victim, at),
        excerpt(&line, 90),
    ]);
}

/// What progress unit `u` (from 1) of `total` is.
fn unit_name(u: usize, total: usize) -> String {
    match u {
        1 => "weights".into(),
        2 => "input".into(),
        u if u == total => "reveal".into(),
        u => format!("layer {}", u - 3),
    }
}

fn kill_table(title: &str) -> Table {
    Table::new(
        title,
        &[
            "case",
            "parties",
            "dealer",
            "failed",
            "when",
            "time to error at each other process (s)",
            "message (first other process)",
        ],
    )
}

/// The in-run kills of every deployment with `dealer`: party victims at each point, and
/// with a third-party dealer, the dealer at each point too.
fn kills_in_run(dealer: Dealer, name: &str) {
    let dir = Temp::new(name);
    let mut table = kill_table(&format!("Kills mid-run, {} dealer", dealer.arg()));
    let mut problems = Vec::new();
    let configs: Vec<_> = CONFIGS.into_iter().filter(|c| c.1 == dealer).collect();
    for (setup, normal) in normal_runs(&dir, &configs, &mut table) {
        let parties = setup.parties;
        let last = parties - 1;
        let victims = match dealer {
            Dealer::FirstParty => [(last, Point::Early), (0, Point::Mid), (1, Point::Late)],
            Dealer::ThirdParty => [(1, Point::Early), (last, Point::Mid), (0, Point::Late)],
        };
        for (victim, point) in victims {
            kill_mid_run(&setup, &normal, victim, point, &mut table, &mut problems);
        }
        if let Some(dealer) = setup.dealer_rank() {
            for point in [Point::Early, Point::Mid, Point::Late] {
                kill_mid_run(&setup, &normal, dealer, point, &mut table, &mut problems);
            }
        }
    }
    table.print();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn killing_a_party_mid_run_fails_every_other_naming_it_first_party_dealer() {
    kills_in_run(Dealer::FirstParty, "kills-first");
}

#[test]
fn killing_a_party_or_the_dealer_mid_run_fails_every_other_naming_it_third_party_dealer() {
    kills_in_run(Dealer::ThirdParty, "kills-third");
}

/// Kills `victim` during the rendezvous: every rank but `withheld` is started and waits in
/// the rendezvous (listening); `victim` is killed, then `withheld` starts. Every rank that
/// was in the rendezvous must name `victim`. `withheld` starts after they have given up (rank
/// 0 gives up as soon as a registered party goes away: its rank can never be registered
/// again) and finds the master port closed: it never met the others, so it can only name
/// rank 0, which it could not reach, unless the victim is rank 0.
fn kill_in_rendezvous(setup: &Setup, victim: usize, withheld: usize) -> (Vec<String>, Vec<String>) {
    let what = format!(
        "{} parties, {} dealer, {} killed in the rendezvous",
        setup.parties,
        setup.dealer.arg(),
        setup.who(victim)
    );
    let mut problems = Vec::new();
    let mut world = World::new(setup.clone());
    world.start_all_but(&[withheld]);
    for rank in (0..setup.world()).filter(|&r| r != withheld) {
        if let Err(e) = world.wait_listening(rank) {
            problems.push(format!("{what}: {e}"));
        }
    }
    // A rank listens just before it registers with rank 0: let the registration arrive.
    thread::sleep(Duration::from_millis(100));
    let at = world.kill(victim);
    world.start(withheld);
    let ended = world.finish(timeout() + SLACK);
    let line = check_others(&ended, victim, Some(withheld), &what, at, &mut problems);
    let row = vec![
        "kill in rendezvous".into(),
        setup.parties.to_string(),
        setup.dealer.arg().into(),
        setup.who(victim),
        format!(
            "{}, {} not started yet",
            if victim == 0 { "listening" } else { "registered" },
            setup.who(withheld)
        ),
        times(setup, &ended, victim, at),
        excerpt(&line, 90),
    ];
    (row, problems)
}

#[test]
fn killing_a_party_or_the_dealer_during_the_rendezvous_fails_every_other_naming_it() {
    // Nobody computes: the plain sample will do. The cases wait on connect timeouts, not on
    // the processor, so they run side by side.
    let mut cases: Vec<(Setup, usize, usize)> = Vec::new();
    for (parties, dealer, _) in CONFIGS {
        let setup = Setup::new(parties, dealer, common::digits());
        let last = setup.world() - 1;
        // A party: rank 0 (the master), the data owner, a helper.
        let victim = match parties {
            2 => usize::from(dealer == Dealer::ThirdParty),
            3 => 1 - usize::from(dealer == Dealer::ThirdParty),
            _ => 2 + usize::from(dealer == Dealer::ThirdParty),
        };
        let withheld = if victim == last { last - 1 } else { last };
        cases.push((setup.clone(), victim, withheld));
        if let Some(d) = setup.dealer_rank() {
            cases.push((setup, d, d - 1));
        }
    }
    let results: Vec<(Vec<String>, Vec<String>)> = thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(setup, victim, withheld)| {
                s.spawn(|| kill_in_rendezvous(setup, *victim, *withheld))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic")).collect()
    });
    let mut table = kill_table("Kills during the rendezvous");
    let mut problems = Vec::new();
    for (row, p) in results {
        table.row(row);
        problems.extend(p);
    }
    table.print();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A normal run of each deployment in `configs`, for the kill points (see [`Normal`]).
fn normal_runs(
    dir: &Temp,
    configs: &[(usize, Dealer, usize)],
    table: &mut Table,
) -> Vec<(Setup, Normal)> {
    configs
        .iter()
        .map(|&(parties, dealer, times)| {
            let name = format!("{parties}-{}", dealer.arg());
            let input = tiled_input(&dir.path(&format!("input-{name}.npy")), times);
            let mut setup = Setup::new(parties, dealer, input);
            setup.output = Some(dir.path(&format!("output-{name}.npy")));
            let normal = normal_run(&setup, 8 * times, table);
            (setup, normal)
        })
        .collect()
}

/// Stops `victim` (SIGSTOP) mid-run for longer than the timeout: every other process must
/// fail naming it; resumed (SIGCONT), it must fail too, promptly, without hanging.
fn stop_past_the_timeout(
    setup: &Setup,
    normal: &Normal,
    victim: usize,
) -> (Vec<String>, Vec<String>) {
    let what = format!(
        "{} parties, {} dealer, {} stopped past the timeout",
        setup.parties,
        setup.dealer.arg(),
        setup.who(victim)
    );
    let mut problems = Vec::new();
    let (mut world, clock, units) = match run_until(setup, normal, victim, Point::Mid) {
        Ok(reached) => reached,
        Err(e) => return (Vec::new(), vec![format!("{what}: {e}")]),
    };
    let stopped = world.signal(victim, "STOP");
    let others = (0..setup.world()).filter(|&r| r != victim).collect::<Vec<_>>();
    let gave_up = world.wait_for("the others ending", timeout() + SLACK, |w| {
        others.iter().all(|&r| !w.running(r))
    });
    if let Err(e) = gave_up {
        problems.push(format!("{what}: {e}"));
    }
    let resumed = world.signal(victim, "CONT");
    let ended = world.finish(timeout() + SLACK);
    let line = check_others(&ended, victim, None, &what, stopped, &mut problems);
    // The stalled party, resumed, finds its links closed by parties that named it.
    let own = &ended[victim];
    match failed_naming(own, victim, &what) {
        Ok(l) => {
            println!("  {what}: rank {victim} (resumed) after {:.2?}: {l}", own.after(resumed))
        }
        Err(p) => problems.push(format!("{p} (the resumed party)")),
    }
    let row = vec![
        "stop > timeout".into(),
        setup.parties.to_string(),
        setup.dealer.arg().into(),
        setup.who(victim),
        format!(
            "{} done at {}; resumed once the others ended",
            unit_name(units, normal.total()),
            setup.who(clock)
        ),
        format!(
            "{}; {} itself {:.2} after SIGCONT",
            times(setup, &ended, victim, stopped),
            setup.who(victim),
            own.after(resumed).unwrap_or(f64::NAN)
        ),
        excerpt(&line, 90),
    ];
    (row, problems)
}

/// Stops `victim` mid-run for `pause` (less than the timeout) and resumes it: the run must
/// complete with every row predicted right.
fn stop_briefly(
    setup: &Setup,
    normal: &Normal,
    victim: usize,
    rows: usize,
    pause: Duration,
) -> (Vec<String>, Vec<String>) {
    let what = format!(
        "{} parties, {} dealer, {} stopped for {pause:?}",
        setup.parties,
        setup.dealer.arg(),
        setup.who(victim)
    );
    let (mut world, clock, units) = match run_until(setup, normal, victim, Point::Mid) {
        Ok(reached) => reached,
        Err(e) => return (Vec::new(), vec![format!("{what}: {e}")]),
    };
    world.signal(victim, "STOP");
    thread::sleep(pause);
    let resumed = world.signal(victim, "CONT");
    let ended = world.finish(Duration::from_secs(60));
    let mut problems: Vec<String> = ended
        .iter()
        .filter(|e| !e.success())
        .map(|e| format!("{what}: rank {} failed: {}", e.rank, e.stderr.trim()))
        .collect();
    let output = setup.output.as_ref().expect("an output path");
    if problems.is_empty() && predictions(output) != expected_classes(rows) {
        problems.push(format!("{what}: wrong predictions"));
    }
    let done = ended.iter().filter_map(|e| e.after(resumed)).fold(0.0, f64::max);
    let row = vec![
        format!("stop {:.1} s < timeout", pause.as_secs_f64()),
        setup.parties.to_string(),
        setup.dealer.arg().into(),
        setup.who(victim),
        format!("{} done at {}", unit_name(units, normal.total()), setup.who(clock)),
        format!("none: all exited 0, {done:.2} after SIGCONT"),
        "completed, predictions correct".into(),
    ];
    (row, problems)
}

#[test]
fn a_stopped_party_or_dealer_is_named_and_a_briefly_stopped_one_does_not_disturb_the_run() {
    let dir = Temp::new("stops");
    let mut table = kill_table("Stop and resume (SIGSTOP, SIGCONT)");
    let configs = [CONFIGS[0], CONFIGS[4], CONFIGS[5]];
    let normals = normal_runs(&dir, &configs, &mut table);
    // Stopped processes use no processor: the cases run side by side. Each has its own
    // output file, so the short stops get copies of the setups.
    let short: Vec<(Setup, Normal, usize)> = normals
        .iter()
        .map(|(setup, normal)| {
            let mut setup = setup.clone();
            setup.output =
                Some(dir.path(&format!("brief-{}-{}.npy", setup.parties, setup.dealer.arg())));
            (setup, normal.clone(), 0)
        })
        .collect();
    let results: Vec<(Vec<String>, Vec<String>)> = thread::scope(|s| {
        let mut handles = Vec::new();
        // A computing party, then the dealer, then a helper of five, past the timeout.
        let (two, three, five) = (&normals[0], &normals[1], &normals[2]);
        handles.push(s.spawn(|| stop_past_the_timeout(&two.0, &two.1, 1)));
        handles.push(s.spawn(|| stop_past_the_timeout(&three.0, &three.1, 3)));
        handles.push(s.spawn(|| stop_past_the_timeout(&five.0, &five.1, 2)));
        // A party, and the dealer, for a moment.
        let (a, b) = (&short[0], &short[1]);
        let pause = Duration::from_millis(1500);
        handles.push(s.spawn(move || stop_briefly(&a.0, &a.1, 1, 8 * configs[0].2, pause)));
        handles.push(s.spawn(move || stop_briefly(&b.0, &b.1, 3, 8 * configs[1].2, pause)));
        handles.into_iter().map(|h| h.join().expect("no panic")).collect()
    });
    let mut problems = Vec::new();
    for (row, p) in results {
        if !row.is_empty() {
            table.row(row);
        }
        problems.extend(p);
    }
    table.print();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Starts a world in which `custom` ranks get their own command (environment and
/// arguments) and the others the setup's; returns how each ended within the timeout.
fn mismatched(setup: &Setup, custom: &[(usize, usize, Vec<String>)]) -> (Vec<Ended>, Instant) {
    let mut world = World::new(setup.clone());
    let custom_ranks: Vec<usize> = custom.iter().map(|c| c.0).collect();
    world.start_all_but(&custom_ranks);
    for (rank, world_size, args) in custom {
        let mut cmd = world.command(*rank, *world_size);
        cmd.args(args);
        world.start_command(*rank, cmd);
    }
    let start = world.start;
    (world.finish(timeout() + SLACK), start)
}

/// `cloak party` arguments as the setup gives them, with `replace` (flag, value) applied
/// and `remove` flags (with their value) dropped.
fn party_args(
    setup: &Setup,
    rank: usize,
    replace: &[(&str, &str)],
    remove: &[&str],
) -> Vec<String> {
    let given: Vec<String> =
        setup.args(rank).into_iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < given.len() {
        let a = &given[i];
        let takes_value = a.starts_with("--") && !matches!(a.as_str(), "--launched" | "--quiet");
        let value = given.get(i + 1).filter(|_| takes_value).cloned();
        i += 1 + usize::from(value.is_some());
        if remove.contains(&a.as_str()) {
            continue;
        }
        match replace.iter().find(|(f, _)| f == a) {
            Some((f, v)) => out.extend([(*f).to_owned(), (*v).to_owned()]),
            None => out.extend(std::iter::once(a.clone()).chain(value)),
        }
    }
    for (f, v) in replace {
        if !out.iter().any(|a| a == f) {
            out.extend([(*f).to_owned(), (*v).to_owned()]);
        }
    }
    out
}

#[test]
fn parties_running_mismatched_programs_all_fail_within_the_timeout() {
    let dir = Temp::new("mismatch");
    let digits = common::digits();
    let other_model = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cloak-onnx/tests/fixtures/helper_gemm_alpha_beta_trans.helper.onnx");
    let two = Setup::new(2, Dealer::FirstParty, digits.clone());
    let three = Setup::new(3, Dealer::FirstParty, digits.clone());
    let two_ttp = Setup::new(2, Dealer::ThirdParty, digits.clone());
    let mut output = two.clone();
    output.output = Some(dir.path("missing-dir/output.npy"));
    // (case, setup, custom ranks: (rank, WORLD_SIZE, arguments), what each rank's error
    // must contain)
    type Case = (&'static str, Setup, Vec<(usize, usize, Vec<String>)>, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            // Party 1 thinks the world has 3 parties: rank 0 refuses its registration.
            "another world size",
            two.clone(),
            vec![(1, 3, party_args(&two, 1, &[], &["--parties"]))],
            vec!["world size 3", "world size 3"],
        ),
        (
            // Party 2's --parties contradicts its WORLD_SIZE: it stops before connecting;
            // the others wait for it until the timeout.
            "--parties against WORLD_SIZE",
            three.clone(),
            vec![(2, 3, party_args(&three, 2, &[("--parties", "2")], &[]))],
            vec![
                "peers [2] did not connect",
                "party 2 failed: did not connect",
                "--parties says 2",
            ],
        ),
        (
            // Rank 2 thinks it is a third computing party; ranks 0 and 1 take it for the
            // dealer.
            "another dealer",
            two_ttp.clone(),
            vec![(2, 3, party_args(&three, 2, &[], &[]))],
            vec!["out of sync with peer 2", "out of sync with peer 2", "out of sync"],
        ),
        (
            // Each party thinks it holds the model (a different one) and the other the
            // input.
            "another model and roles",
            two.clone(),
            vec![(
                1,
                2,
                party_args(
                    &two,
                    1,
                    &[
                        ("--model-owner", "1"),
                        ("--data-owner", "0"),
                        ("--model", &other_model.to_string_lossy()),
                    ],
                    &[],
                ),
            )],
            vec!["input shape", "input shape"],
        ),
        (
            // The data owner fails after the reveal, when every other party has sent its
            // last share: the final barrier keeps them from reporting success.
            "data owner cannot write the output",
            output,
            vec![],
            vec!["party 1 failed", "missing-dir"],
        ),
    ];
    let results: Vec<(Vec<Ended>, Instant)> = thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(_, setup, custom, _)| s.spawn(move || mismatched(setup, custom)))
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic")).collect()
    });
    let mut table = Table::new(
        "Mismatched programs",
        &["case", "parties", "dealer", "time to error at each process (s)", "messages"],
    );
    let mut problems = Vec::new();
    for ((name, setup, _, expected), (ended, start)) in cases.iter().zip(results) {
        let mut lines = Vec::new();
        for (e, want) in ended.iter().zip(expected) {
            let line = if e.success() || e.hung {
                problems.push(format!(
                    "{name}: rank {} did not fail: {:?} {}",
                    e.rank, e.status, e.stdout
                ));
                continue;
            } else {
                match common::error_line(&e.stderr) {
                    Ok(l) => l,
                    Err(m) => {
                        problems.push(format!("{name}: rank {}: {m}", e.rank));
                        continue;
                    }
                }
            };
            if !line.contains(want) {
                problems.push(format!("{name}: rank {}: no `{want}` in {line}", e.rank));
            }
            if e.after(start).is_none_or(|t| t > (timeout() + SLACK).as_secs_f64()) {
                problems.push(format!("{name}: rank {} took {:?}", e.rank, e.after(start)));
            }
            println!("  {name}: rank {} after {:.2?}: {line}", e.rank, e.after(start));
            lines.push(format!("{}: {}", setup.who(e.rank), excerpt(&line, 60)));
        }
        table.row(vec![
            (*name).into(),
            setup.parties.to_string(),
            setup.dealer.arg().into(),
            times(setup, &ended, usize::MAX, start),
            lines.join(" / "),
        ]);
    }
    table.print();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
