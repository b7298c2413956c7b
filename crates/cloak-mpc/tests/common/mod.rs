//! Shared helpers of the protocol tests: run N parties as threads over channels, each with
//! a test session, and compare with plain f64.
#![allow(dead_code)]

pub mod conv_ref;

use std::time::Duration;

use cloak_comm::runner::{PartyFailure, run_threads};
use cloak_comm::{CommConfig, OpStats};
use cloak_mpc::{AShare, BShare, MpcError, Session, SessionConfig};
use cloak_prg::Seed;
use cloak_ring::testing::TestRng;
use cloak_ring::{FixedPoint, RingTensor};
use ndarray::{ArrayD, IxDyn};

/// Fixed test seed (test sessions only; real sessions use `Session::setup`).
pub const SEED: [u8; 16] = *b"cloak-mpc-tests!";

/// Runs `f` at every party of an `n`-party test session and returns each party's result.
pub fn run<R: Send>(
    n: usize,
    config: &SessionConfig,
    f: impl Fn(&Session) -> Result<R, MpcError> + Sync,
) -> Vec<R> {
    let comm_cfg = CommConfig::with_timeouts(Duration::from_secs(20));
    let outcomes = run_threads(n, &comm_cfg, |comm| {
        let session = Session::insecure_for_testing(comm, &Seed::from_bytes(SEED), config.clone())?;
        f(&session)
    });
    outcomes
        .into_iter()
        .enumerate()
        .map(|(rank, o)| o.unwrap_or_else(|e| panic!("party {rank} failed: {e}")))
        .collect()
}

/// Runs `f` and returns every party's outcome, failures included.
pub fn run_fallible<R: Send>(
    n: usize,
    config: &SessionConfig,
    f: impl Fn(&Session) -> Result<R, MpcError> + Sync,
) -> Vec<Result<R, String>> {
    let comm_cfg = CommConfig::with_timeouts(Duration::from_secs(5));
    run_threads(n, &comm_cfg, |comm| {
        let session = Session::insecure_for_testing(comm, &Seed::from_bytes(SEED), config.clone())?;
        f(&session)
    })
    .into_iter()
    .map(|o| o.map_err(|e| e.to_string()))
    .collect()
}

/// Party 0 shares `value` (every party knows the shape).
pub fn share0(s: &Session, value: &ArrayD<f64>) -> Result<AShare, MpcError> {
    let v = (s.rank() == 0).then_some(value);
    AShare::share(s, 0, v, value.shape())
}

/// Party `owner` shares `value`.
pub fn share_from(s: &Session, owner: usize, value: &ArrayD<f64>) -> Result<AShare, MpcError> {
    let v = (s.rank() == owner).then_some(value);
    AShare::share(s, owner, v, value.shape())
}

/// An array from a shape and values.
pub fn arr(shape: &[usize], values: Vec<f64>) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), values).expect("shape matches values")
}

/// Deterministic pseudo-random values in `[lo, hi)` (test data, never shares).
pub fn values(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    TestRng::new(seed).vec_f64(n, lo, hi)
}

/// Asserts every element is within `tol` of the reference, naming the worst element.
pub fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>, tol: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let mut worst = (0.0f64, 0usize);
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        let e = (g - w).abs();
        if e > worst.0 || e.is_nan() {
            worst = (e, i);
        }
    }
    assert!(
        worst.0 <= tol,
        "{what}: element {} off by {} (got {}, want {}), tolerance {tol}",
        worst.1,
        worst.0,
        got.iter().nth(worst.1).copied().unwrap_or(f64::NAN),
        want.iter().nth(worst.1).copied().unwrap_or(f64::NAN),
    );
}

/// Every party got the same revealed value; returns it.
pub fn agreed(results: Vec<ArrayD<f64>>) -> ArrayD<f64> {
    for r in &results[1..] {
        assert_eq!(r, &results[0], "parties disagree on a revealed value");
    }
    results.into_iter().next().expect("at least one party")
}

/// The party counts every protocol is tested with.
pub const PARTIES: [usize; 3] = [2, 3, 4];

/// The encoding step at 16 fractional bits.
pub const ULP: f64 = 1.0 / 65536.0;

/// The largest encoding error at 16 fractional bits: half a unit in the last place, 2^-17.
pub const HALF_ULP: f64 = ULP / 2.0;

/// Runs `f` at every party and returns each party's typed outcome, so that tests can match
/// error variants; a panic fails the test. Short communication timeout, so that a protocol
/// that hangs fails the test instead.
pub fn run_typed<R: Send>(
    n: usize,
    config: &SessionConfig,
    f: impl Fn(&Session) -> Result<R, MpcError> + Sync,
) -> Vec<Result<R, MpcError>> {
    let comm_cfg = CommConfig::with_timeouts(Duration::from_secs(5));
    run_threads(n, &comm_cfg, |comm| {
        let session = Session::insecure_for_testing(comm, &Seed::from_bytes(SEED), config.clone())?;
        f(&session)
    })
    .into_iter()
    .enumerate()
    .map(|(rank, o)| match o {
        Ok(r) => Ok(r),
        Err(PartyFailure::Error(e)) => Err(e),
        Err(PartyFailure::Panicked(m)) => panic!("party {rank} panicked: {m}"),
    })
    .collect()
}

/// `values` as an array of `shape`.
pub fn rand_arr(shape: &[usize], lo: f64, hi: f64, seed: u64) -> ArrayD<f64> {
    arr(shape, values(shape.iter().product(), lo, hi, seed))
}

/// Rounds to the fixed-point grid (2^-16), ties away from zero as the encoder does: on such
/// values encoding is exact, so only the protocol's own error remains.
pub fn grid(a: &ArrayD<f64>) -> ArrayD<f64> {
    a.mapv(|v| (v * 65536.0).round() / 65536.0)
}

/// Deterministic pseudo-random 64-bit words covering all 64 bits (test data, never shares).
pub fn words(n: usize, seed: u64) -> Vec<u64> {
    TestRng::new(seed).words(n)
}

/// XOR-shares public `value` words for real: party `p > 0` holds words drawn from seed `p`,
/// party 0 the value XOR all of those (so no party's share is the value).
pub fn xor_share(s: &Session, value: &RingTensor<u64>) -> BShare {
    let n = value.len();
    let mask = |p: usize| words(n, 1000 + p as u64);
    let share = if s.rank() == 0 {
        let mut acc = value.to_vec();
        for p in 1..s.parties() {
            acc.iter_mut().zip(mask(p)).for_each(|(a, m)| *a ^= m);
        }
        acc
    } else {
        mask(s.rank())
    };
    BShare::from_share(s, RingTensor::from_vec(value.shape(), share).expect("same length"))
}

/// The statistics of `label` at this party (zeros if nothing was counted under it).
pub fn stats_of(s: &Session, label: &str) -> OpStats {
    s.comm_stats().get(label).copied().unwrap_or_default()
}

/// The encodings of `value` at 16 fractional bits.
pub fn encode(value: &ArrayD<f64>) -> RingTensor<u64> {
    RingTensor::<u64>::encode(value, FixedPoint::new::<u64>(16).expect("16 bits"))
        .expect("encodable")
}

/// Elementwise map of two broadcast-compatible arrays into an array of their common shape.
pub fn zip_bcast(a: &ArrayD<f64>, b: &ArrayD<f64>, f: impl Fn(f64, f64) -> f64) -> ArrayD<f64> {
    let shape = cloak_ring::broadcast_shapes(a.shape(), b.shape()).expect("broadcastable");
    let a = a.broadcast(IxDyn(&shape)).expect("broadcast a");
    let b = b.broadcast(IxDyn(&shape)).expect("broadcast b");
    ndarray::Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y))
}

/// 1.0 where true, 0.0 where false.
pub fn ind(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Every party got the same result (of any comparable type); returns it.
pub fn unanimous<T: PartialEq + std::fmt::Debug>(results: Vec<T>) -> T {
    for (rank, r) in results.iter().enumerate().skip(1) {
        assert_eq!(r, &results[0], "party {rank} disagrees with party 0");
    }
    results.into_iter().next().expect("at least one party")
}
