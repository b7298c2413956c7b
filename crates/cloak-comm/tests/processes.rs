//! Parties as separate OS processes over loopback TCP, found through the torchrun variables.
//!
//! Each test re-runs this test binary once per party, selecting just itself by name with an
//! environment variable that switches it into party mode: that works the same under
//! `cargo test` and `cargo nextest`, with no helper binary to locate.

use std::env;
use std::time::Duration;

use cloak_comm::runner::{ProcessRun, run_processes};
use cloak_comm::{CommConfig, CommError, Communicator, TcpComm};

const PARTY_MODE: &str = "CLOAK_COMM_TEST_PARTY";

/// What each party process computes and prints.
fn party() -> Result<String, CommError> {
    let mut comm = TcpComm::from_env(&CommConfig::with_timeouts(Duration::from_secs(10)))?;
    let (rank, n) = (comm.rank(), comm.world_size());
    let mut values = [rank as u64 + 1, 10];
    comm.all_reduce_sum_u64(&mut values)?;
    let from_root = comm.broadcast(0, b"hello from 0")?;
    let all = comm.all_gather(format!("p{rank}").as_bytes())?;
    comm.barrier()?;
    let names: Vec<String> = all.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    Ok(format!(
        "party {rank}/{n}: sum={} tens={} root={} all={}",
        values[0],
        values[1],
        String::from_utf8_lossy(&from_root),
        names.join(",")
    ))
}

/// In party mode, runs the party; otherwise launches `n` copies of the test `name` and checks
/// what each printed.
fn parent_or_party(name: &str, n: usize) {
    if env::var_os(PARTY_MODE).is_some() {
        match party() {
            Ok(line) => println!("{line}"),
            Err(e) => panic!("party failed: {e}"),
        }
        return;
    }
    let run = ProcessRun {
        program: env::current_exe().expect("test binary path"),
        args: [name, "--exact", "--nocapture", "--test-threads=1"].map(Into::into).to_vec(),
        env: vec![(PARTY_MODE.into(), "1".into())],
        parties: n,
        deadline: Duration::from_secs(60),
    };
    let reports = run_processes(&run).expect("spawn parties");
    let sum = n * (n + 1) / 2;
    let names: Vec<String> = (0..n).map(|r| format!("p{r}")).collect();
    for report in &reports {
        assert!(report.success(), "party {} failed: {report:#?}", report.rank);
        let want = format!(
            "party {}/{n}: sum={sum} tens={} root=hello from 0 all={}",
            report.rank,
            10 * n,
            names.join(",")
        );
        assert!(report.stdout.contains(&want), "party {}: {}", report.rank, report.stdout);
    }
}

#[test]
fn two_processes() {
    parent_or_party("two_processes", 2);
}

#[test]
fn three_processes() {
    parent_or_party("three_processes", 3);
}
