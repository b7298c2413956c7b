//! The rounds and bytes of every collective are part of its contract.

mod common;

use cloak_comm::{CommError, Communicator, DEFAULT_LABEL, OpStats};
use common::{TRANSPORTS, all_ok, config, run};

const LEN: usize = 100;
const N: usize = 3;

/// (rounds, messages, bytes sent, bytes received) of one label.
type Counts = (u64, u64, u64, u64);

fn counts(c: &dyn Communicator, label: &str) -> Counts {
    let s = c.stats().get(label).copied().unwrap_or_default();
    (s.rounds, s.messages, s.bytes_sent, s.bytes_received)
}

fn run_all(c: &mut dyn Communicator) -> Result<Vec<(&'static str, Counts)>, CommError> {
    let data = vec![1u8; LEN];
    let r = c.rank();
    let mut log = Vec::new();

    c.set_label("exchange_all");
    let refs = vec![data.as_slice(); N];
    c.exchange_all(&refs)?;
    c.set_label("broadcast");
    c.broadcast(0, &data)?;
    c.set_label("gather");
    c.gather(1, &data)?;
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
    for label in [
        "exchange_all",
        "broadcast",
        "gather",
        "all_gather",
        "all_reduce",
        "barrier",
        "p2p",
        "exchange",
    ] {
        log.push((label, counts(c, label)));
    }
    Ok(log)
}

#[test]
fn rounds_messages_and_bytes_of_each_collective() {
    let b = LEN as u64;
    for transport in TRANSPORTS {
        let logs = all_ok(run(transport, N, &config(5000), run_all), "stats");
        for (r, log) in logs.iter().enumerate() {
            let want = |label: &str| -> Counts {
                match label {
                    "exchange_all" | "all_gather" => (1, 2, 2 * b, 2 * b),
                    "broadcast" if r == 0 => (1, 2, 2 * b, 0),
                    "broadcast" => (1, 0, 0, b),
                    "gather" if r == 1 => (1, 0, 0, 2 * b),
                    "gather" => (1, 1, b, 0),
                    "all_reduce" => (1, 2, 160, 160),
                    "barrier" => (1, 2, 0, 0),
                    "p2p" if r == 0 => (1, 1, b, 0),
                    "p2p" if r == 1 => (1, 0, 0, b),
                    "exchange" if r < 2 => (1, 1, b, b),
                    _ => (0, 0, 0, 0),
                }
            };
            for (label, got) in log {
                assert_eq!(*got, want(label), "{transport:?} party {r} {label}");
            }
        }
    }
}

#[test]
fn labels_nest_totals_add_up_and_reset_clears() {
    let got = all_ok(
        run(TRANSPORTS[0], 2, &config(2000), |c| {
            c.barrier()?;
            c.set_label("outer");
            c.all_gather(&[0; 8])?;
            c.set_label("inner");
            c.barrier()?;
            c.set_label("outer");
            let before_reset = c.stats().clone();
            c.reset_stats();
            let after_reset = c.stats().total();
            Ok((before_reset, after_reset, c.stats().label().to_owned()))
        }),
        "labels",
    );
    for (stats, after_reset, label) in got {
        assert_eq!(stats.get(DEFAULT_LABEL).map(|s| s.rounds), Some(1));
        assert_eq!(stats.get("outer").map(|s| (s.rounds, s.bytes_sent)), Some((1, 8)));
        assert_eq!(stats.get("inner").map(|s| s.rounds), Some(1));
        let total = stats.total();
        assert_eq!((total.rounds, total.messages, total.bytes_sent), (3, 3, 8));
        assert_eq!(after_reset, OpStats::default());
        assert_eq!(label, "outer");
        assert!(stats.to_string().contains("outer"));
    }
}

#[test]
fn with_label_restores_the_previous_label() {
    let mut comms = cloak_comm::LocalComm::create(1, &config(1000));
    let c = &mut comms[0];
    c.set_label("before");
    let inner = c.with_label("scoped", |c| {
        c.barrier()?;
        Ok::<_, CommError>(c.stats().label().to_owned())
    });
    assert_eq!(inner.ok().as_deref(), Some("scoped"));
    assert_eq!(c.stats().label(), "before");
    assert_eq!(c.stats().get("scoped").map(|s| s.rounds), Some(1));
}

#[test]
fn failed_calls_are_not_counted() {
    let got = all_ok(
        run(TRANSPORTS[0], 2, &config(2000), |c| {
            let _ = c.send(c.rank(), b"to myself");
            Ok(c.stats().total())
        }),
        "failed call",
    );
    assert!(got.iter().all(|s| *s == OpStats::default()));
}
