//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use cloak_comm::runner::{Outcomes, PartyFailure, run_tcp_threads, run_threads};
use cloak_comm::{CommConfig, CommError, Communicator, TcpComm};

/// Short timeouts so that failures show up fast.
pub fn config(timeout_ms: u64) -> CommConfig {
    CommConfig::with_timeouts(Duration::from_millis(timeout_ms))
}

/// The two in-process ways to run parties.
#[derive(Clone, Copy, Debug)]
pub enum Transport {
    Channels,
    Tcp,
}

pub const TRANSPORTS: [Transport; 2] = [Transport::Channels, Transport::Tcp];

/// Runs `f` for `n` parties over `transport`.
pub fn run<R, F>(
    transport: Transport,
    n: usize,
    config: &CommConfig,
    f: F,
) -> Outcomes<R, CommError>
where
    R: Send,
    F: Fn(&mut dyn Communicator) -> Result<R, CommError> + Sync,
{
    match transport {
        Transport::Channels => run_threads(n, config, |mut c| f(&mut c)),
        Transport::Tcp => run_tcp_threads(n, config, |mut c| f(&mut c)).expect("loopback mesh"),
    }
}

/// Every party's result, or a panic describing the first failure.
pub fn all_ok<R>(outcomes: Outcomes<R, CommError>, context: &str) -> Vec<R> {
    outcomes
        .into_iter()
        .enumerate()
        .map(|(rank, o)| match o {
            Ok(r) => r,
            Err(PartyFailure::Error(e)) => panic!("{context}: party {rank} failed: {e}"),
            Err(PartyFailure::Panicked(m)) => panic!("{context}: party {rank} panicked: {m}"),
        })
        .collect()
}

/// The error of a party that should have failed.
pub fn error_of<R: std::fmt::Debug>(outcome: &Result<R, PartyFailure<CommError>>) -> &CommError {
    match outcome {
        Err(PartyFailure::Error(e)) => e,
        other => panic!("expected a communication error, got {other:?}"),
    }
}

/// A recognisable pseudo-random payload (so that misplaced bytes are caught).
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A loopback TCP mesh whose party `r` uses `configs[r]`.
pub fn tcp_mesh(configs: &[CommConfig]) -> Vec<TcpComm> {
    let listeners: Vec<TcpListener> =
        configs.iter().map(|_| TcpListener::bind("127.0.0.1:0").expect("bind")).collect();
    let addrs: Vec<String> =
        listeners.iter().map(|l| l.local_addr().expect("addr").to_string()).collect();
    thread::scope(|s| {
        let handles: Vec<_> = listeners
            .iter()
            .zip(configs)
            .enumerate()
            .map(|(rank, (listener, config))| {
                let addrs = &addrs;
                s.spawn(move || TcpComm::with_listener(rank, listener, addrs, config))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic").expect("mesh")).collect()
    })
}
