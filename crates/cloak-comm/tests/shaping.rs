//! A shaped network costs what its own arithmetic says: R round trips carrying B bytes in
//! all take `R * RTT + B / bandwidth` (within 10%), over channels and over TCP; statistics
//! are unchanged; a held message still times out.
//!
//! The profile is 100 Mbit/s (12.5 bytes per microsecond) with a 20 ms round trip, and the
//! cases are sized so that each takes about 0.1 to 0.25 s: one dominated by latency, one by
//! bandwidth, and ones where both matter.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cloak_comm::{CommConfig, CommError, NetProfile};
use common::{TRANSPORTS, Transport, all_ok, config, error_of, run};

/// Timing tests run one at a time: in parallel they would measure each other.
static SERIAL: Mutex<()> = Mutex::new(());

fn profile() -> NetProfile {
    NetProfile::new(100_000_000, Duration::from_millis(20)).expect("valid profile")
}

fn shaped() -> CommConfig {
    config(10_000).with_network(Some(profile()))
}

/// Every message also carries a 32-byte frame header, which the model counts.
const HEADER: u64 = 32;

/// Attempts per case: scheduling on a loaded machine only ever adds time, so the fastest of
/// a few attempts is the measurement of the shaper itself (a lone attempt on two busy cores
/// was seen 10.5% over the model). The first attempt within bounds ends the case.
const ATTEMPTS: usize = 3;

/// Fails unless the fastest of up to [`ATTEMPTS`] runs of `measure` is at least `model`
/// (shaping only ever delays) and at most 10% over it.
fn check(what: &str, transport: Transport, model: Duration, mut measure: impl FnMut() -> Duration) {
    let mut best = Duration::MAX;
    for attempt in 1..=ATTEMPTS {
        let measured = measure();
        eprintln!("{what} over {transport:?}, attempt {attempt}: {measured:?}, model {model:?}");
        // Clocks are read on different threads: allow a few microseconds below.
        assert!(
            measured + Duration::from_micros(200) >= model,
            "{what} over {transport:?}: {measured:?} is faster than the model's {model:?}"
        );
        best = best.min(measured);
        if best <= model.mul_f64(1.10) {
            return;
        }
    }
    panic!("{what} over {transport:?}: {best:?} is more than 10% over the model's {model:?}");
}

/// Party 0 times `rounds` round trips of `len` bytes each way (send, then receive the
/// reply); returns its time.
fn ping_pong(transport: Transport, rounds: u64, len: usize) -> Duration {
    let outcomes = run(transport, 2, &shaped(), |c| {
        let msg = vec![7u8; len];
        c.barrier()?;
        let start = Instant::now();
        for _ in 0..rounds {
            if c.rank() == 0 {
                c.send(1, &msg)?;
                c.recv(1)?;
            } else {
                c.recv(0)?;
                c.send(0, &msg)?;
            }
        }
        Ok(start.elapsed())
    });
    all_ok(outcomes, "ping-pong")[0]
}

#[test]
fn ping_pong_costs_rounds_times_rtt_plus_bytes_over_bandwidth() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let p = profile();
    // (what, round trips, bytes each way per round trip)
    let cases = [
        ("latency-bound", 10u64, 1_000usize),
        ("bandwidth-bound", 1, 1_250_000),
        ("both", 4, 250_000),
    ];
    for transport in TRANSPORTS {
        for (what, rounds, len) in cases {
            let bytes = 2 * rounds * (len as u64 + HEADER);
            let model = p.estimate(rounds, bytes);
            check(what, transport, model, || ping_pong(transport, rounds, len));
        }
    }
}

#[test]
fn an_exchange_round_costs_one_way_latency_plus_its_bytes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let p = profile();
    let (rounds, len) = (4u32, 250_000usize);
    for transport in TRANSPORTS {
        // Both directions move at once: each round is one message's transmit time and
        // one one-way latency.
        let model = (p.one_way() + p.transmit_time(len as u64 + HEADER)) * rounds;
        check("exchange", transport, model, || exchange(transport, rounds, len));
    }
}

/// Both parties time `rounds` exchanges of `len` bytes; returns the mean of their times.
fn exchange(transport: Transport, rounds: u32, len: usize) -> Duration {
    let outcomes = run(transport, 2, &shaped(), |c| {
        let msg = vec![1u8; len];
        let peer = 1 - c.rank();
        c.barrier()?;
        let start = Instant::now();
        for _ in 0..rounds {
            c.exchange(peer, &msg)?;
        }
        Ok(start.elapsed())
    });
    // A party that left the barrier first measures the other's lateness, which its
    // peer does not: the mean of the two cancels it.
    let times = all_ok(outcomes, "exchange");
    (times[0] + times[1]) / 2
}

#[test]
fn messages_queue_behind_earlier_ones_on_a_link() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let p = profile();
    let (count, len) = (8u32, 125_000usize);
    for transport in TRANSPORTS {
        // The request's latency, then the stream's: one round trip, and the messages back
        // to back.
        let model =
            p.rtt() + p.transmit_time(HEADER) + p.transmit_time(len as u64 + HEADER) * count;
        check("stream", transport, model, || stream(transport, count, len));
    }
}

/// Party 1 asks for `count` messages of `len` bytes and times their arrival.
fn stream(transport: Transport, count: u32, len: usize) -> Duration {
    let outcomes = run(transport, 2, &shaped(), |c| {
        let msg = vec![3u8; len];
        c.barrier()?;
        // Party 1 starts the clock and the stream with one empty message, so that how
        // far apart the parties left the barrier does not count.
        let start = Instant::now();
        if c.rank() == 0 {
            c.recv(1)?;
            for _ in 0..count {
                c.send(1, &msg)?;
            }
        } else {
            c.send(0, &[])?;
            for _ in 0..count {
                c.recv(0)?;
            }
        }
        Ok(start.elapsed())
    });
    all_ok(outcomes, "stream")[1]
}

#[test]
fn shaping_changes_no_statistics() {
    let counts = |config: &CommConfig, transport| {
        let outcomes = run(transport, 3, config, |c| {
            let data = vec![5u8; 1000];
            c.set_label("gather");
            c.all_gather(&data)?;
            c.set_label("sum");
            c.all_reduce_sum_u64(&mut [1, 2, 3])?;
            c.set_label("bcast");
            c.broadcast(2, &data)?;
            let s = c.stats();
            Ok(["gather", "sum", "bcast"].map(|l| {
                let o = s.get(l).copied().unwrap_or_default();
                (o.rounds, o.messages, o.bytes_sent, o.bytes_received)
            }))
        });
        all_ok(outcomes, "stats")
    };
    let lan = config(10_000).with_network(Some(NetProfile::LAN));
    for transport in TRANSPORTS {
        assert_eq!(counts(&lan, transport), counts(&config(10_000), transport), "{transport:?}");
    }
}

#[test]
fn a_held_message_counts_toward_the_timeout() {
    let slow = NetProfile::new(1_000_000_000, Duration::from_secs(4)).expect("valid profile");
    let config = config(300).with_network(Some(slow));
    for transport in TRANSPORTS {
        let start = Instant::now();
        let outcomes = run(transport, 2, &config, |c| {
            if c.rank() == 0 {
                c.send(1, b"late")?;
                Ok(Vec::new())
            } else {
                c.recv(0)
            }
        });
        let elapsed = start.elapsed();
        assert!(
            matches!(error_of(&outcomes[1]), CommError::Timeout { peer: 0, .. }),
            "{transport:?}: {:?}",
            outcomes[1]
        );
        // Failed at its timeout, not at the message's 2 s delivery.
        assert!(elapsed < Duration::from_millis(1500), "{transport:?}: took {elapsed:?}");
    }
}
