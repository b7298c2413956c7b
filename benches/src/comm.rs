//! cloak-comm rows: loopback TCP throughput with 1 MiB messages and ping-pong latency, two
//! parties as threads of this process over real sockets, plain and under mutual TLS (the
//! cost of encryption, measured in the same run).
//!
//! With `--net`, the links imitate that network, the counts shrink so that each row takes
//! a second or two, and each row shows what the profile predicts for it: the stream, one
//! round and its bytes; the exchange, one round per message and the bytes of one direction
//! (links are full duplex); the ping-pong, one round and 16 bytes.

use std::time::{Duration, Instant};

use cloak_comm::runner::run_parties;
use cloak_comm::tls::Deployment;
use cloak_comm::{CommConfig, CommError, Communicator, NetProfile, Security, TcpComm};

use crate::harness::{Better, Options, Row};
use crate::limits;

const MESSAGE: usize = 1 << 20;

/// Two connected parties, plain or under TLS with a fresh deployment's credentials, over
/// links shaped to `net` when it is given.
pub fn pair_configs(tls: bool, timeout: Duration, net: Option<NetProfile>) -> Vec<CommConfig> {
    let base = CommConfig::with_timeouts(timeout).with_network(net);
    if !tls {
        return vec![base; 2];
    }
    let deployment = Deployment::generate(2, false).expect("TLS credentials");
    (0..2)
        .map(|r| CommConfig {
            security: Security::Tls(deployment.config(r).expect("TLS credentials")),
            ..base.clone()
        })
        .collect()
}

fn pair(tls: bool, net: Option<NetProfile>) -> Vec<TcpComm> {
    TcpComm::create_local_each(&pair_configs(tls, Duration::from_secs(30), net))
        .expect("loopback TCP mesh of two parties")
}

/// Party 0 streams `count` messages of 1 MiB to party 1; the receiver's clock decides.
fn stream_gbps(count: usize, tls: bool, net: Option<NetProfile>) -> f64 {
    let outcomes = run_parties(pair(tls, net), |mut comm: TcpComm| -> Result<f64, CommError> {
        let msg = vec![0xA5u8; MESSAGE];
        comm.barrier()?;
        let start = Instant::now();
        for _ in 0..count {
            if comm.rank() == 0 {
                comm.send(1, &msg)?;
            } else {
                std::hint::black_box(comm.recv(0)?);
            }
        }
        // The sender's last write may sit in socket buffers: wait for the receiver's ack.
        comm.barrier()?;
        Ok((count * MESSAGE) as f64 / start.elapsed().as_secs_f64() / 1e9)
    });
    outcomes.into_iter().map(|r| r.expect("stream party")).fold(f64::INFINITY, f64::min)
}

/// Both parties exchange `count` messages of 1 MiB at once: bytes moved each way per second.
fn exchange_gbps(count: usize, tls: bool, net: Option<NetProfile>) -> f64 {
    let outcomes = run_parties(pair(tls, net), |mut comm: TcpComm| -> Result<f64, CommError> {
        let msg = vec![0x5Au8; MESSAGE];
        let peer = 1 - comm.rank();
        comm.barrier()?;
        let start = Instant::now();
        for _ in 0..count {
            std::hint::black_box(comm.exchange(peer, &msg)?);
        }
        Ok((count * MESSAGE) as f64 / start.elapsed().as_secs_f64() / 1e9)
    });
    outcomes.into_iter().map(|r| r.expect("exchange party")).fold(f64::INFINITY, f64::min)
}

/// Median round trip of an 8-byte message, microseconds.
fn ping_pong_us(count: usize, tls: bool, net: Option<NetProfile>) -> f64 {
    let outcomes =
        run_parties(pair(tls, net), |mut comm: TcpComm| -> Result<Vec<Duration>, CommError> {
            let msg = [1u8; 8];
            let mut samples = Vec::with_capacity(count);
            comm.barrier()?;
            for _ in 0..count {
                let start = Instant::now();
                if comm.rank() == 0 {
                    comm.send(1, &msg)?;
                    comm.recv(1)?;
                } else {
                    comm.recv(0)?;
                    comm.send(0, &msg)?;
                }
                samples.push(start.elapsed());
            }
            Ok(samples)
        });
    let mut samples = outcomes.into_iter().next().expect("party 0").expect("ping-pong party");
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

const STREAM: &str = "loopback TCP, 1 MiB messages, one direction";
const EXCHANGE: &str = "loopback TCP, 1 MiB messages, exchange (each way)";
const PING: &str = "loopback TCP ping-pong round trip";

/// A row's name under TLS.
fn under_tls(name: &str, tls: bool) -> String {
    if tls { format!("{name}, TLS") } else { name.to_owned() }
}

/// How many 1 MiB messages and pings a row on `net` uses instead of `count` and `pings`:
/// about two seconds' worth at its bandwidth and round-trip time, within bounds.
fn shaped_counts(net: &NetProfile, count: usize, pings: usize) -> (usize, usize) {
    let per_second = |unit: std::time::Duration| 1.0 / unit.as_secs_f64().max(1e-9);
    let messages = 2.0 * per_second(net.transmit_time(MESSAGE as u64));
    let round_trips = 2.0 * per_second(net.rtt());
    ((messages as usize).clamp(8, count), (round_trips as usize).clamp(10, pings))
}

/// A throughput in GB/s of `bytes` taking `time`.
fn gbps(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64().max(1e-12) / 1e9
}

/// The communicator rows that `wanted` keeps: each plain, then under TLS.
pub fn rows(opts: &Options, wanted: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let (quick, net) = (opts.quick, opts.net);
    let (count, pings) = if quick { (256, 500) } else { (2048, 5000) };
    let (count, pings) = net.map_or((count, pings), |p| shaped_counts(&p, count, pings));
    let on_net = |note: String| match net {
        Some(p) => format!("{note}, links shaped to {p}"),
        None => note,
    };
    // The limits were measured on loopback: beside a shaped figure they compare nothing.
    let loopback_only = |limit: f64| net.is_none().then_some(limit);
    let mut rows = Vec::new();
    let tls_note = |tls: bool| if tls { ", mutual TLS 1.3 (AES-GCM, ring)" } else { ", plain" };
    for tls in [false, true] {
        let name = under_tls(STREAM, tls);
        if wanted(&name) {
            stream_gbps((count / 8).max(1), tls, net); // warm-up: setup, buffer growth
            rows.push(Row {
                name,
                value: stream_gbps(count, tls, net),
                unit: "GB/s",
                limit: loopback_only(limits::TCP_GBPS),
                limit_label: "C, one stream",
                better: Better::Higher,
                note: on_net(format!("{count} messages{}", tls_note(tls))),
                estimate: net
                    .map(|p| gbps(count * MESSAGE, p.estimate(1, (count * MESSAGE) as u64))),
            });
        }
        let name = under_tls(EXCHANGE, tls);
        if wanted(&name) {
            exchange_gbps((count / 8).max(1), tls, net);
            rows.push(Row {
                name,
                value: exchange_gbps(count, tls, net),
                unit: "GB/s",
                limit: loopback_only(limits::TCP_GBPS),
                limit_label: "C, one stream",
                better: Better::Higher,
                note: on_net(format!("both parties send and receive at once{}", tls_note(tls))),
                estimate: net.map(|p| {
                    gbps(count * MESSAGE, p.estimate(count as u64, (count * MESSAGE) as u64))
                }),
            });
        }
        let name = under_tls(PING, tls);
        if wanted(&name) {
            ping_pong_us((pings / 10).max(1), tls, net);
            rows.push(Row {
                name,
                value: ping_pong_us(pings, tls, net),
                unit: "us",
                limit: loopback_only(limits::PING_PONG_US),
                limit_label: "C ping-pong",
                better: Better::Lower,
                note: on_net(format!("median of {pings}, 8-byte messages{}", tls_note(tls))),
                estimate: net.map(|p| p.estimate(1, 16).as_secs_f64() * 1e6),
            });
        }
    }
    rows
}
