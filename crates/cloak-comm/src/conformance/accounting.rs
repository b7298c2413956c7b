//! What each call costs: the rounds, messages and bytes recorded under the current label are
//! part of every protocol's contract, so every transport must count them the same way.

use super::{Factory, TIMEOUT, all_ok, run};
use crate::{CommError, Communicator, OpStats};

const LEN: u64 = 100;

/// (rounds, messages, bytes sent, bytes received) of one label.
type Counts = (u64, u64, u64, u64);

const LABELS: [&str; 8] = [
    "exchange_all",
    "broadcast",
    "gather",
    "all_gather",
    "all_reduce",
    "barrier",
    "p2p",
    "exchange",
];

/// One call of each operation under its own label, then the counts of every label, the
/// total, and what `with_label` and `reset_stats` leave behind.
fn one_of_each(
    c: &mut dyn Communicator,
) -> Result<(Vec<Counts>, OpStats, String, OpStats), CommError> {
    let (r, n) = (c.rank(), c.world_size());
    let data = vec![1u8; LEN as usize];
    c.set_label("exchange_all");
    c.exchange_all(&vec![data.as_slice(); n])?;
    c.set_label("broadcast");
    c.broadcast(0, &data)?;
    c.set_label("gather");
    c.gather(n - 1, &data)?;
    c.set_label("all_gather");
    c.all_gather(&data)?;
    c.set_label("all_reduce");
    c.all_reduce_sum_u64(&mut [0u64; 10])?;
    c.set_label("barrier");
    c.barrier()?;
    c.set_label("p2p");
    if r == 0 {
        c.send(1, &data)?;
    } else if r == 1 {
        c.recv(0)?;
    }
    c.set_label("exchange");
    if r < 2 {
        c.exchange(1 - r, &data)?;
    }
    let counts = LABELS
        .iter()
        .map(|l| {
            let s = c.stats().get(l).copied().unwrap_or_default();
            (s.rounds, s.messages, s.bytes_sent, s.bytes_received)
        })
        .collect();
    let total = c.stats().total();
    c.reset_stats();
    c.set_label("outer");
    let previous = c.stats().label().to_owned();
    c.set_label("scoped");
    c.barrier()?;
    c.set_label(&previous);
    let label = c.stats().label().to_owned();
    Ok((counts, total, label, c.stats().get("scoped").copied().unwrap_or_default()))
}

/// Every collective is one round; its messages and bytes are those it sends and receives,
/// counted under the label current when it ran; totals add up; reset clears.
pub fn statistics(make: &Factory, world: usize) {
    let n = world as u64;
    let outcomes = run(make, world, TIMEOUT, one_of_each);
    for (r, (counts, total, label, scoped)) in
        all_ok("statistics", world, outcomes).into_iter().enumerate()
    {
        let want = |label: &str| -> Counts {
            let peers = n - 1;
            match label {
                "exchange_all" | "all_gather" => (1, peers, peers * LEN, peers * LEN),
                "broadcast" if r == 0 => (1, peers, peers * LEN, 0),
                "broadcast" => (1, 0, 0, LEN),
                "gather" if r == world - 1 => (1, 0, 0, peers * LEN),
                "gather" => (1, 1, LEN, 0),
                "all_reduce" => (1, peers, peers * 80, peers * 80),
                "barrier" => (1, peers, 0, 0),
                "p2p" if r == 0 => (1, 1, LEN, 0),
                "p2p" if r == 1 => (1, 0, 0, LEN),
                "exchange" if r < 2 => (1, 1, LEN, LEN),
                _ => (0, 0, 0, 0),
            }
        };
        let mut sum = (0, 0, 0, 0);
        for (label, got) in LABELS.iter().zip(&counts) {
            assert_eq!(
                *got,
                want(label),
                "statistics ({world} parties): party {r} label {label}: \
                 (rounds, messages, bytes sent, bytes received)"
            );
            sum = (sum.0 + got.0, sum.1 + got.1, sum.2 + got.2, sum.3 + got.3);
        }
        let total = (total.rounds, total.messages, total.bytes_sent, total.bytes_received);
        assert_eq!(total, sum, "statistics ({world} parties): party {r}: total of the labels");
        assert_eq!(label, "outer", "statistics ({world} parties): party {r}: label restored");
        assert_eq!(
            (scoped.rounds, scoped.messages),
            (1, n - 1),
            "statistics ({world} parties): party {r}: counts after reset_stats"
        );
    }
}
