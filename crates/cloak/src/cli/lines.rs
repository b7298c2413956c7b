//! What a party started by `cloak infer` tells the launcher, one line of standard output
//! each: progress as it goes, then its per-stage and per-node costs. Nodes travel by index
//! (the launcher builds the same plan and knows their names), so a line never carries text
//! from the model, and never a value: only counts, times and sizes.

use std::time::Duration;

/// One stage's or node's cost at a party.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cost {
    /// Wall time at this party.
    pub time: Duration,
    /// Communication rounds.
    pub rounds: u64,
    /// Bytes this party sent.
    pub bytes: u64,
}

/// A line of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// `done` of `total` units of work finished (stages and nodes).
    Progress { done: usize, total: usize },
    /// The cost of a stage (`setup`, `weights`, `input`, `reveal`).
    Stage { name: String, cost: Cost },
    /// The cost of the node at this position among those that run.
    Node { index: usize, cost: Cost },
}

const PREFIX: &str = "cloak:";

impl Line {
    /// The line, without its newline.
    pub fn encode(&self) -> String {
        let cost = |c: &Cost| format!("{} {} {}", c.time.as_micros(), c.rounds, c.bytes);
        match self {
            Line::Progress { done, total } => format!("{PREFIX}progress {done} {total}"),
            Line::Stage { name, cost: c } => format!("{PREFIX}stage {name} {}", cost(c)),
            Line::Node { index, cost: c } => format!("{PREFIX}node {index} {}", cost(c)),
        }
    }

    /// The line `s` encodes, if it is one (anything else a party prints is not).
    pub fn decode(s: &str) -> Option<Line> {
        let mut words = s.strip_prefix(PREFIX)?.split_whitespace();
        let kind = words.next()?;
        let first = words.next()?;
        let mut num = || words.next()?.parse::<u64>().ok();
        match kind {
            "progress" => {
                Some(Line::Progress { done: first.parse().ok()?, total: num()? as usize })
            }
            "stage" | "node" => {
                let cost =
                    Cost { time: Duration::from_micros(num()?), rounds: num()?, bytes: num()? };
                if kind == "stage" {
                    Some(Line::Stage { name: first.to_string(), cost })
                } else {
                    Some(Line::Node { index: first.parse().ok()?, cost })
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_other_text_is_ignored() {
        let cost = Cost { time: Duration::from_micros(1234), rounds: 7, bytes: 4096 };
        for line in [
            Line::Progress { done: 3, total: 14 },
            Line::Stage { name: "weights".into(), cost: cost.clone() },
            Line::Node { index: 5, cost },
        ] {
            assert_eq!(Line::decode(&line.encode()), Some(line));
        }
        assert_eq!(Line::decode("party 1 of 2"), None);
        assert_eq!(Line::decode("cloak:node x 1 2 3"), None);
        assert_eq!(Line::decode("cloak:progress 1"), None);
    }
}
