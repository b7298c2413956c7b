//! More protocols on a device: the bit-plane sign circuit ([`BitPlaneCarry`]), each
//! checked on a simulated device against plain f64; its result must stay on the device, it
//! must cost the rounds and bytes it costs on the host, and the only bytes that cross from
//! the device to the host must be the bytes the parties send (no hidden round trip).
//!
//! Sizes are multiples of 64 elements where bits are opened (see `tests/device.rs`).

mod common;

use cloak_mpc::conformance::Configured;
use cloak_mpc::primitives::BitPlaneCarry;
use cloak_mpc::{AShare, ComparisonStrategy, ComputeDevice, MpcError, Session, SessionConfig};
use cloak_ring::device::SimulatedDevice;
use common::{arr, grid, run, share0, values};
use ndarray::ArrayD;

fn bit_plane_carry() -> SessionConfig {
    SessionConfig { comparison: ComparisonStrategy::new(BitPlaneCarry), ..Default::default() }
}

fn on_device(device: &SimulatedDevice, base: &SessionConfig) -> SessionConfig {
    SessionConfig { device: ComputeDevice::on(device.handle()), ..base.clone() }
}

cloak_mpc::protocol_conformance_tests!(
    simulated_device_bit_plane_carry,
    Configured::new(on_device(&SimulatedDevice::new(), &bit_plane_carry()))
);

type Op = fn(&AShare) -> Result<AShare, MpcError>;

/// What one party saw: the revealed output, where its share was, and what it sent
/// (rounds and bytes before the reveal, and bytes in all).
type Seen = (ArrayD<f64>, String, u64, u64, u64);

fn observe(s: &Session, x: &ArrayD<f64>, op: Op) -> Result<Seen, MpcError> {
    let xs = share0(s, x)?;
    s.reset_stats();
    let out = op(&xs)?;
    let placement = out.share_tensor().placement();
    let before = s.comm_stats().total();
    let revealed = out.reveal()?;
    let all = s.comm_stats().total();
    Ok((revealed, placement, before.rounds, before.bytes_sent, all.bytes_sent))
}

/// Runs `op` on `x` (shared by party 0) with `parties` on a fresh simulated device and on
/// the host, both under `base`; checks that the result stays on the device, that the device
/// costs what the host costs (and computes the same value), and that the device's
/// downloads are exactly the bytes the parties sent. Returns the revealed value.
fn on_device_as_on_host(
    what: &str,
    parties: usize,
    base: &SessionConfig,
    x: &ArrayD<f64>,
    op: Op,
) -> ArrayD<f64> {
    let device = SimulatedDevice::new();
    let seen = run(parties, &on_device(&device, base), |s| observe(s, x, op));
    let host = run(parties, base, |s| observe(s, x, op));
    let peers = (parties - 1) as u64;
    let mut downloads = 0;
    for ((value, placement, rounds, bytes, all), (host_value, host_placement, hr, hb, _)) in
        seen.iter().zip(&host)
    {
        assert!(placement.starts_with("sim:"), "{what}, {parties} parties: result on {placement}");
        assert_eq!(host_placement, "cpu");
        assert!(*rounds > 0, "{what}, {parties} parties: no rounds counted");
        assert_eq!(
            (rounds, bytes),
            (hr, hb),
            "{what}, {parties} parties: rounds and bytes on the device against the host"
        );
        assert_eq!(value, host_value, "{what}, {parties} parties: device against host value");
        downloads += all / peers;
    }
    assert_eq!(
        device.transfers().download_bytes,
        downloads,
        "{what}, {parties} parties: bytes downloaded against the bytes sent"
    );
    seen.into_iter().next().expect("a party").0
}

fn inputs(shape: &[usize], lo: f64, hi: f64, seed: u64) -> ArrayD<f64> {
    grid(&arr(shape, values(shape.iter().product(), lo, hi, seed)))
}

fn assert_exact(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{what}: got {g}, want {w}");
    }
}

#[test]
fn bit_plane_carry_sign_on_device() {
    let base = bit_plane_carry();
    for parties in [2, 3] {
        // Values of both signs, zero included (at a grid point).
        let mut x = inputs(&[2, 64], -50.0, 50.0, 11 + parties as u64);
        x[[0, 0]] = 0.0;
        x[[1, 5]] = -1.0 / 65536.0;
        let ltz = on_device_as_on_host("ltz", parties, &base, &x, AShare::ltz);
        assert_exact("ltz", &ltz, &x.mapv(|v| f64::from(u8::from(v < 0.0))));
        let relu = on_device_as_on_host("relu", parties, &base, &x, AShare::relu);
        assert_exact("relu", &relu, &x.mapv(|v| v.max(0.0)));
        let abs = on_device_as_on_host("abs", parties, &base, &x, AShare::abs);
        assert_exact("abs", &abs, &x.mapv(f64::abs));
    }
}

#[test]
fn a2b_and_b2a_on_device() {
    for parties in [2, 3] {
        let base = SessionConfig::default();
        let x = inputs(&[2, 64], -1000.0, 1000.0, 21 + parties as u64);
        let round_trip =
            on_device_as_on_host("a2b then b2a", parties, &base, &x, |x| x.to_binary()?.to_arith());
        assert_exact("a2b then b2a", &round_trip, &x);
        // The sign bit, moved to the lowest place: one unit (2^-16) where x < 0.
        let sign = on_device_as_on_host("a2b, bit 63, b2a", parties, &base, &x, |x| {
            x.to_binary()?.bit(63)?.to_arith()
        });
        assert_exact("sign bit", &sign, &x.mapv(|v| if v < 0.0 { 1.0 / 65536.0 } else { 0.0 }));
    }
}
