//! Loopback TCP speed of the communicator: one-way streaming of 1 MiB and 64 MiB messages,
//! full-duplex exchange of 1 MiB messages, and ping-pong latency with and without spinning.
//! Run with
//! `cargo run --release -p cloak-comm --example tcp_speed [seconds-per-test]`.

use std::time::{Duration, Instant};

use cloak_comm::runner::{Outcomes, run_tcp_threads};
use cloak_comm::{CommConfig, CommError, Communicator, TcpComm};

const MIB: usize = 1 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let budget = Duration::from_secs_f64(seconds);
    let config = CommConfig::with_timeouts(Duration::from_secs(30));
    let no_spin = CommConfig { spin: Duration::ZERO, ..config.clone() };

    // Party 1's view: GB/s received.
    let small = party(1, run_tcp_threads(2, &config, |c| stream(c, budget, MIB))?)?;
    let large = party(1, run_tcp_threads(2, &config, |c| stream(c, budget, 64 * MIB))?)?;
    let duplex = party(0, run_tcp_threads(2, &config, |c| exchange(c, budget))?)?;
    let ping = party(0, run_tcp_threads(2, &config, |c| ping_pong(c, budget))?)?;
    let ping_no_spin = party(0, run_tcp_threads(2, &no_spin, |c| ping_pong(c, budget))?)?;

    println!("loopback TCP, 1 MiB messages unless noted");
    println!("  one-way stream:      {small:6.2} GB/s");
    println!("  same, 64 MiB:        {large:6.2} GB/s");
    println!("  exchange (each way): {duplex:6.2} GB/s");
    println!("ping-pong round trip, 8-byte messages");
    println!("  spin {:?}:  {ping:6.1} us", config.spin);
    println!("  no spin:     {ping_no_spin:6.1} us");
    Ok(())
}

fn party(rank: usize, outcomes: Outcomes<f64, CommError>) -> Result<f64, String> {
    match outcomes.into_iter().nth(rank) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(format!("party {rank}: {e}")),
        None => Err(format!("no party {rank}")),
    }
}

/// Party 0 streams messages of `size` bytes to party 1; GB/s.
fn stream(mut c: TcpComm, budget: Duration, size: usize) -> Result<f64, CommError> {
    let data = vec![0x5au8; size];
    let one_way = |c: &mut TcpComm, count: usize| -> Result<(), CommError> {
        for _ in 0..count {
            if c.rank() == 0 {
                c.send(1, &data)?;
            } else {
                c.recv(0)?;
            }
        }
        c.barrier()
    };
    let batch = (64 * MIB / size).max(1);
    let count = calibrate(&mut c, budget, |c| one_way(c, batch))? * batch;
    let start = Instant::now();
    one_way(&mut c, count)?;
    Ok((count * size) as f64 / start.elapsed().as_secs_f64() / 1e9)
}

/// Both parties exchange 1 MiB messages; GB/s each way.
fn exchange(mut c: TcpComm, budget: Duration) -> Result<f64, CommError> {
    let data = vec![0xa5u8; MIB];
    let peer = 1 - c.rank();
    let count =
        calibrate(&mut c, budget, |c| (0..64).try_for_each(|_| c.exchange(peer, &data).map(drop)))?
            * 64;
    let start = Instant::now();
    for _ in 0..count {
        c.exchange(peer, &data)?;
    }
    Ok((count * MIB) as f64 / start.elapsed().as_secs_f64() / 1e9)
}

/// Send then receive at party 0, the reverse at party 1; microseconds per round trip.
fn ping_pong(mut c: TcpComm, budget: Duration) -> Result<f64, CommError> {
    let round = |c: &mut TcpComm| -> Result<(), CommError> {
        if c.rank() == 0 {
            c.send(1, &[1; 8])?;
            c.recv(1).map(drop)
        } else {
            c.recv(0)?;
            c.send(0, &[2; 8])
        }
    };
    let count = calibrate(&mut c, budget, |c| (0..1000).try_for_each(|_| round(c)))? * 1000;
    let start = Instant::now();
    for _ in 0..count {
        round(&mut c)?;
    }
    Ok(start.elapsed().as_secs_f64() / count as f64 * 1e6)
}

/// Runs `batch` until about a tenth of `budget` has passed, then returns how many batches
/// fill the budget; the parties agree on party 0's count.
fn calibrate(
    c: &mut TcpComm,
    budget: Duration,
    mut batch: impl FnMut(&mut TcpComm) -> Result<(), CommError>,
) -> Result<usize, CommError> {
    let start = Instant::now();
    let mut batches = 0u64;
    loop {
        batch(c)?;
        batches += 1;
        let mut stop = [u64::from(start.elapsed() * 10 >= budget)];
        c.all_reduce_sum_u64(&mut stop)?;
        if stop[0] > 0 {
            break;
        }
    }
    let per_batch = start.elapsed().as_secs_f64() / batches as f64;
    let mine = ((budget.as_secs_f64() / per_batch).max(1.0) as u64).to_le_bytes();
    let agreed = c.broadcast(0, &mine)?;
    Ok(cloak_comm::u64s_from_bytes(&agreed).and_then(|v| v.first().copied()).unwrap_or(1) as usize)
}
