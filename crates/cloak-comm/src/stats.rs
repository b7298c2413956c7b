//! Communication statistics per labelled operation.
//!
//! The cost of an MPC protocol is its rounds and bytes, so those numbers are part of each
//! protocol's contract: protocol code labels its communication (`"mul"`, `"a2b"`, ...) and
//! tests and benchmarks read the counters back.

use std::fmt;
use std::ops::AddAssign;
use std::time::Duration;

/// The label under which communication is counted when no label was set.
pub const DEFAULT_LABEL: &str = "unlabelled";

/// Counters for one label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Communication calls (each collective is one round, as CrypTen counts them).
    pub rounds: u64,
    /// Messages this party sent.
    pub messages: u64,
    /// Payload bytes this party sent (frame headers are not counted, so that every
    /// transport reports the same numbers).
    pub bytes_sent: u64,
    /// Payload bytes this party received.
    pub bytes_received: u64,
    /// Wall time spent inside communication calls.
    pub time: Duration,
}

impl AddAssign for OpStats {
    fn add_assign(&mut self, rhs: OpStats) {
        self.rounds += rhs.rounds;
        self.messages += rhs.messages;
        self.bytes_sent += rhs.bytes_sent;
        self.bytes_received += rhs.bytes_received;
        self.time += rhs.time;
    }
}

/// Counters per label, in the order labels were first used, plus the current label.
#[derive(Clone, Debug)]
pub struct CommStats {
    label: String,
    entries: Vec<(String, OpStats)>,
}

impl Default for CommStats {
    fn default() -> Self {
        CommStats { label: DEFAULT_LABEL.to_owned(), entries: Vec::new() }
    }
}

impl CommStats {
    /// The label that new communication is counted under.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Counts new communication under `label` from now on.
    pub fn set_label(&mut self, label: &str) {
        label.clone_into(&mut self.label);
    }

    /// The counters of `label`, if anything was counted under it.
    pub fn get(&self, label: &str) -> Option<&OpStats> {
        self.entries.iter().find(|(l, _)| l == label).map(|(_, s)| s)
    }

    /// Every label with its counters, in order of first use.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &OpStats)> {
        self.entries.iter().map(|(l, s)| (l.as_str(), s))
    }

    /// The sum over all labels.
    pub fn total(&self) -> OpStats {
        let mut total = OpStats::default();
        for (_, s) in &self.entries {
            total += *s;
        }
        total
    }

    /// Forgets all counters (the current label stays).
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// Adds one communication call to the current label.
    pub fn record(&mut self, call: OpStats) {
        match self.entries.iter_mut().find(|(l, _)| *l == self.label) {
            Some((_, s)) => *s += call,
            None => self.entries.push((self.label.clone(), call)),
        }
    }
}

impl fmt::Display for CommStats {
    /// A table with one row per label and a total row.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.entries.iter().map(|(l, _)| l.len()).chain([5]).max().unwrap_or(5);
        writeln!(
            f,
            "{:<width$} {:>8} {:>9} {:>14} {:>14} {:>11}",
            "label", "rounds", "messages", "bytes sent", "bytes recv", "time (ms)"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, s: &OpStats| {
            writeln!(
                f,
                "{:<width$} {:>8} {:>9} {:>14} {:>14} {:>11.3}",
                label,
                s.rounds,
                s.messages,
                s.bytes_sent,
                s.bytes_received,
                s.time.as_secs_f64() * 1e3
            )
        };
        for (label, s) in &self.entries {
            row(f, label, s)?;
        }
        row(f, "total", &self.total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(bytes: u64) -> OpStats {
        OpStats {
            rounds: 1,
            messages: 2,
            bytes_sent: bytes,
            bytes_received: bytes,
            ..OpStats::default()
        }
    }

    #[test]
    fn counts_per_label_and_total() {
        let mut stats = CommStats::default();
        stats.record(call(10));
        stats.set_label("mul");
        stats.record(call(5));
        stats.record(call(7));
        assert_eq!(stats.get(DEFAULT_LABEL).map(|s| s.bytes_sent), Some(10));
        let mul = stats.get("mul").copied().unwrap_or_default();
        assert_eq!((mul.rounds, mul.messages, mul.bytes_sent), (2, 4, 12));
        assert_eq!(stats.total().rounds, 3);
        assert_eq!(stats.iter().map(|(l, _)| l).collect::<Vec<_>>(), [DEFAULT_LABEL, "mul"]);
        stats.reset();
        assert_eq!(stats.total(), OpStats::default());
        assert_eq!(stats.label(), "mul");
    }

    #[test]
    fn table_has_a_row_per_label_and_a_total() {
        let mut stats = CommStats::default();
        stats.set_label("a2b");
        stats.record(call(123_456));
        let table = stats.to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("label"));
        assert!(lines[1].starts_with("a2b") && lines[1].contains("123456"));
        assert!(lines[2].starts_with("total") && lines[2].contains("123456"));
    }
}
