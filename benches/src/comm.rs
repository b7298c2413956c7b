//! cloak-comm rows: loopback TCP throughput with 1 MiB messages and ping-pong latency, two
//! parties as threads of this process over real sockets, plain and under mutual TLS (the
//! cost of encryption, measured in the same run).

use std::time::{Duration, Instant};

use cloak_comm::runner::run_parties;
use cloak_comm::tls::Deployment;
use cloak_comm::{CommConfig, CommError, Communicator, Security, TcpComm};

use crate::harness::{Better, Row};
use crate::limits;

const MESSAGE: usize = 1 << 20;

/// Two connected parties, plain or under TLS with a fresh deployment's credentials.
pub fn pair_configs(tls: bool, timeout: Duration) -> Vec<CommConfig> {
    let base = CommConfig::with_timeouts(timeout);
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

fn pair(tls: bool) -> Vec<TcpComm> {
    TcpComm::create_local_each(&pair_configs(tls, Duration::from_secs(30)))
        .expect("loopback TCP mesh of two parties")
}

/// Party 0 streams `count` messages of 1 MiB to party 1; the receiver's clock decides.
fn stream_gbps(count: usize, tls: bool) -> f64 {
    let outcomes = run_parties(pair(tls), |mut comm: TcpComm| -> Result<f64, CommError> {
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
fn exchange_gbps(count: usize, tls: bool) -> f64 {
    let outcomes = run_parties(pair(tls), |mut comm: TcpComm| -> Result<f64, CommError> {
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
fn ping_pong_us(count: usize, tls: bool) -> f64 {
    let outcomes =
        run_parties(pair(tls), |mut comm: TcpComm| -> Result<Vec<Duration>, CommError> {
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

/// The communicator rows that `wanted` keeps: each plain, then under TLS.
pub fn rows(quick: bool, wanted: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let (count, pings) = if quick { (256, 500) } else { (2048, 5000) };
    let mut rows = Vec::new();
    let tls_note = |tls: bool| if tls { ", mutual TLS 1.3 (AES-GCM, ring)" } else { ", plain" };
    for tls in [false, true] {
        let name = under_tls(STREAM, tls);
        if wanted(&name) {
            stream_gbps(count / 8, tls); // warm-up: connection setup and buffer growth
            rows.push(Row {
                name,
                value: stream_gbps(count, tls),
                unit: "GB/s",
                limit: Some(limits::TCP_GBPS),
                limit_label: "C, one stream",
                better: Better::Higher,
                note: format!("{count} messages{}", tls_note(tls)),
            });
        }
        let name = under_tls(EXCHANGE, tls);
        if wanted(&name) {
            exchange_gbps(count / 8, tls);
            rows.push(Row {
                name,
                value: exchange_gbps(count, tls),
                unit: "GB/s",
                limit: Some(limits::TCP_GBPS),
                limit_label: "C, one stream",
                better: Better::Higher,
                note: format!("both parties send and receive at once{}", tls_note(tls)),
            });
        }
        let name = under_tls(PING, tls);
        if wanted(&name) {
            ping_pong_us(pings / 10, tls);
            rows.push(Row {
                name,
                value: ping_pong_us(pings, tls),
                unit: "us",
                limit: Some(limits::PING_PONG_US),
                limit_label: "C ping-pong",
                better: Better::Lower,
                note: format!("median of {pings}, 8-byte messages{}", tls_note(tls)),
            });
        }
    }
    rows
}
