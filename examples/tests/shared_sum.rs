//! The main-job example end to end: 2 and 3 parties as separate OS processes over loopback TCP.
//! The revealed sum must equal the sum of the private inputs each party printed.

use std::process::Command;

fn parse_vec(line: &str) -> Vec<f64> {
    let inner = line.split_once('[').and_then(|(_, r)| r.split_once(']')).map(|(v, _)| v).unwrap();
    inner.split(',').map(|s| s.trim().parse().unwrap()).collect()
}

fn run(parties: usize, len: usize) {
    let out = Command::new(env!("CARGO_BIN_EXE_shared_sum"))
        .args(["--parties", &parties.to_string(), "--len", &len.to_string()])
        .env_remove("RANK")
        .env_remove("WORLD_SIZE")
        .env_remove("SLURM_PROCID")
        .env_remove("OMPI_COMM_WORLD_RANK")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inputs: Vec<Vec<f64>> =
        stdout.lines().filter(|l| l.contains("my private input")).map(parse_vec).collect();
    let sums: Vec<Vec<f64>> =
        stdout.lines().filter(|l| l.contains("revealed sum")).map(parse_vec).collect();
    assert_eq!(inputs.len(), parties);
    assert_eq!(sums.len(), parties);
    let expected: Vec<f64> = (0..len).map(|i| inputs.iter().map(|v| v[i]).sum()).collect();
    for s in &sums {
        assert_eq!(s.len(), len);
        for (got, want) in s.iter().zip(&expected) {
            // Each input is encoded to within 2^-17 (16 fractional bits, round to nearest) and
            // the ring sum is exact, so the decoded sum is within parties * 2^-17 of the true
            // sum (plus f64 rounding of the reference sum, far below 1e-9 at these magnitudes).
            let tol = parties as f64 * 2f64.powi(-17) + 1e-9;
            assert!((got - want).abs() <= tol, "revealed {got}, expected {want}, tol {tol}");
        }
    }
    // Each party reports one round to share and one to reveal.
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("total") && l.split_whitespace().nth(1) == Some("2"))
            .count(),
        parties
    );
}

#[test]
fn a_launcher_misconfiguration_is_reported_not_simulated() {
    let out = Command::new(env!("CARGO_BIN_EXE_shared_sum"))
        .env("RANK", "0")
        .env("WORLD_SIZE", "2")
        .env_remove("MASTER_ADDR")
        .env_remove("MASTER_PORT")
        .env_remove("CLOAK_PARTIES")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MASTER_ADDR"), "{out:?}");
}

#[test]
fn two_parties_as_processes_over_tcp() {
    run(2, 5);
}

#[test]
fn three_parties_as_processes_over_tcp() {
    run(3, 7);
}
