//! A small timing harness and the one table `cargo xtask bench` prints.
//!
//! Each figure is the median of several timed repetitions after a warm-up; the table puts it
//! beside the limit measured on this kind of machine with plain C, as a ratio.

use std::time::{Duration, Instant};

use cloak_comm::NetProfile;

/// What every suite is told about the run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Fewer repetitions.
    pub quick: bool,
    /// The network the communicating suites imitate (`--net`), or `None` for loopback.
    pub net: Option<NetProfile>,
}

/// Timing repetitions.
#[derive(Clone, Copy, Debug)]
pub struct Reps {
    /// Untimed runs first (page faults, caches, lazy initialisation).
    pub warmup: usize,
    /// Timed runs.
    pub timed: usize,
}

/// Median and minimum of the timed repetitions.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Median wall time.
    pub median: Duration,
    /// Fastest wall time.
    pub min: Duration,
}

/// Runs `f` `reps.warmup` times untimed, then `reps.timed` times timed.
pub fn time(reps: Reps, mut f: impl FnMut()) -> Timing {
    for _ in 0..reps.warmup {
        f();
    }
    let mut samples: Vec<Duration> = (0..reps.timed.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    Timing { median: samples[samples.len() / 2], min: samples[0] }
}

/// Whether a larger figure is better (throughput) or a smaller one (latency).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Throughput-like figure.
    Higher,
    /// Latency-like figure.
    Lower,
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// The measured figure (median).
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// The comparison figure (plain C on this kind of machine, or a peer system), if any.
    pub limit: Option<f64>,
    /// Where the comparison figure comes from.
    pub limit_label: &'static str,
    /// Direction of "better".
    pub better: Better,
    /// Anything else worth printing (kernel used, time per call, ...).
    pub note: String,
    /// On a shaped network, the figure its profile predicts from the rounds and bytes
    /// moved (`rounds * RTT + bytes / bandwidth`), in the row's unit.
    pub estimate: Option<f64>,
}

impl Row {
    /// Measured figure as a fraction of the limit (>1 beats it).
    pub fn ratio(&self) -> Option<f64> {
        self.limit.map(|l| match self.better {
            Better::Higher => self.value / l,
            Better::Lower => l / self.value,
        })
    }
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else if v >= 0.001 {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

/// Prints the rows as one Markdown table; with an estimate column beside the measured one
/// when any row has an estimate (a shaped run).
pub fn print_table(rows: &[Row]) {
    let shaped = rows.iter().any(|r| r.estimate.is_some());
    let (est_head, est_rule) = if shaped { (" net estimate |", "---:|") } else { ("", "") };
    println!("| benchmark | measured |{est_head} unit | compared with | limit | ratio | notes |");
    println!("|---|---:|{est_rule}---|---|---:|---:|---|");
    for r in rows {
        let limit = r.limit.map(fmt_num).unwrap_or_else(|| "-".into());
        let ratio = r.ratio().map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into());
        let estimate = match (shaped, r.estimate) {
            (false, _) => String::new(),
            (true, Some(e)) => format!(" {} |", fmt_num(e)),
            (true, None) => " - |".into(),
        };
        println!(
            "| {} | {} |{estimate} {} | {} | {} | {} | {} |",
            r.name,
            fmt_num(r.value),
            r.unit,
            r.limit_label,
            limit,
            ratio,
            r.note
        );
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_number(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => x.to_string(),
        _ => "null".into(),
    }
}

/// Writes the rows as JSON (hand-rolled: the suite needs no serialisation dependency).
/// Non-finite figures become `null`.
pub fn to_json(rows: &[Row]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "  {{\"name\": {}, \"value\": {}, \"unit\": {}, \"limit\": {}, \"ratio\": {}, \"estimate\": {}, \"note\": {}}}",
                json_string(&r.name),
                json_number(Some(r.value)),
                json_string(r.unit),
                json_number(r.limit),
                json_number(r.ratio()),
                json_number(r.estimate),
                json_string(&r.note)
            )
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

/// A row timed against CrypTen 0.4.1's median where the baseline has one.
pub fn crypten_row(name: String, seconds: f64, baseline_s: Option<f64>, note: String) -> Row {
    Row {
        name,
        value: seconds,
        unit: "s",
        limit: baseline_s,
        limit_label: "CrypTen 0.4.1",
        better: Better::Lower,
        estimate: None,
        note,
    }
}

/// Measures the cases whose row name the filter keeps, printing (not failing on) a case that
/// cannot run, such as a model file that was not generated.
pub fn measured_rows<C>(
    cases: Vec<C>,
    name: impl Fn(&C) -> String,
    wanted: &dyn Fn(&str) -> bool,
    measure: impl Fn(&C) -> Result<Row, String>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for case in cases.iter().filter(|c| wanted(&name(c))) {
        match measure(case) {
            Ok(row) => rows.push(row),
            Err(e) => eprintln!("cloak-benches: {e}"),
        }
    }
    rows
}

/// `bytes` in MiB, as the tables print them.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}
