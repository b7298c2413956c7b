//! More protocols on a device: the bit-plane sign circuit ([`BitPlaneCarry`]), the
//! dealer-digits comparison ([`DealerDigits`]), A2B and B2A,
//! and the pooling backwards, each checked on a simulated device against plain f64; its
//! result must stay on the device, it must cost the rounds and bytes it costs on the host,
//! and the only bytes that cross from the device to the host must be the bytes the parties
//! send (no hidden round trip).
//!
//! Sizes are multiples of 64 elements where bits are opened (see `tests/device.rs`).

mod common;

use cloak_mpc::conformance::Configured;
use cloak_mpc::primitives::{BitPlaneCarry, ComparisonProtocol, DealerDigits};
use cloak_mpc::{
    AShare, ComparisonStrategy, ComputeDevice, MpcError, Pool2dSpec, Session, SessionConfig,
};
use cloak_ring::device::SimulatedDevice;
use common::{arr, grid, run, share0, values};
use ndarray::ArrayD;

fn with_comparison(strategy: impl ComparisonProtocol) -> SessionConfig {
    SessionConfig { comparison: ComparisonStrategy::new(strategy), ..Default::default() }
}

fn on_device(device: &SimulatedDevice, base: &SessionConfig) -> SessionConfig {
    SessionConfig { device: ComputeDevice::on(device.handle()), ..base.clone() }
}

cloak_mpc::protocol_conformance_tests!(
    simulated_device_bit_plane_carry,
    Configured::new(on_device(&SimulatedDevice::new(), &with_comparison(BitPlaneCarry)))
);

cloak_mpc::protocol_conformance_tests!(
    simulated_device_dealer_digits,
    Configured::new(on_device(&SimulatedDevice::new(), &with_comparison(DealerDigits)))
);

type Op = fn(&AShare) -> Result<AShare, MpcError>;

/// What one party saw: the revealed output, where its share was, what it sent (rounds and
/// bytes before the reveal, and bytes in all) and the dealer words it obtained for `op`.
type Seen = (ArrayD<f64>, String, u64, u64, u64, u64);

fn observe(s: &Session, x: &ArrayD<f64>, op: Op) -> Result<Seen, MpcError> {
    let xs = share0(s, x)?;
    s.reset_stats();
    let dealt = s.dealer_stats().words;
    let out = op(&xs)?;
    let dealt = s.dealer_stats().words - dealt;
    let placement = out.share_tensor().placement();
    let before = s.comm_stats().total();
    let revealed = out.reveal()?;
    let all = s.comm_stats().total();
    Ok((revealed, placement, before.rounds, before.bytes_sent, all.bytes_sent, dealt))
}

/// Runs `op` on `x` (shared by party 0) with `parties` on a fresh simulated device and on
/// the host, both under `base`; checks that the result stays on the device, that the device
/// costs what the host costs (rounds, bytes and dealer words, and computes the same value),
/// and that the device's
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
    for (
        (value, placement, rounds, bytes, all, dealt),
        (host_value, host_placement, hr, hb, _, host_dealt),
    ) in seen.iter().zip(&host)
    {
        assert!(placement.starts_with("sim:"), "{what}, {parties} parties: result on {placement}");
        assert_eq!(host_placement, "cpu");
        assert!(*rounds > 0, "{what}, {parties} parties: no rounds counted");
        assert_eq!(
            (rounds, bytes, dealt),
            (hr, hb, host_dealt),
            "{what}, {parties} parties: rounds, bytes and dealer words, device against host"
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
    // Four parties: two carry-save layers.
    sign_on_device(&with_comparison(BitPlaneCarry));
}

#[test]
fn dealer_digits_sign_on_device() {
    sign_on_device(&with_comparison(DealerDigits));
}

/// ltz, relu and abs with 2, 3 and 4 parties on the device against the host and f64.
fn sign_on_device(base: &SessionConfig) {
    let base = base.clone();
    for parties in [2, 3, 4] {
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

/// Overlapping 3x3 windows, stride 2, padding 1: `[1, 4, 8, 8]` inputs pool to
/// `[1, 4, 4, 4]` (64 windows, so every comparison opens whole words of bits).
const POOL: Pool2dSpec = Pool2dSpec { kernel: (3, 3), stride: (2, 2), padding: (1, 1) };
const POOL_INPUT: [usize; 4] = [1, 4, 8, 8];

/// A window's output index `(n, c, i, j)` and the input positions `(row, column)` it covers.
type Window = ((usize, usize, usize, usize), Vec<(usize, usize)>);

/// For every window of `POOL` over `x` (`[n, c, h, w]`), in order: the input positions it
/// covers (padding dropped), row-major over the window.
fn windows(shape: &[usize]) -> Vec<Window> {
    let (h, w) = (shape[2] as isize, shape[3] as isize);
    let (oh, ow) = ((shape[2] + 2 - 3) / 2 + 1, (shape[3] + 2 - 3) / 2 + 1);
    let mut out = Vec::new();
    for n in 0..shape[0] {
        for c in 0..shape[1] {
            for i in 0..oh {
                for j in 0..ow {
                    let mut taps = Vec::new();
                    for di in 0..3isize {
                        for dj in 0..3isize {
                            let (r, q) = (2 * i as isize + di - 1, 2 * j as isize + dj - 1);
                            if (0..h).contains(&r) && (0..w).contains(&q) {
                                taps.push((r as usize, q as usize));
                            }
                        }
                    }
                    out.push(((n, c, i, j), taps));
                }
            }
        }
    }
    out
}

#[test]
fn pooling_backward_on_device() {
    let base = SessionConfig::default();
    for parties in [2, 3] {
        // Max pooling: the pooled values routed back to each window's first maximum.
        let x = inputs(&POOL_INPUT, -8.0, 8.0, 31 + parties as u64);
        let got = on_device_as_on_host("max_pool2d backward", parties, &base, &x, |x| {
            let (pooled, onehot) = x.max_pool2d(&POOL)?;
            AShare::max_pool2d_backward(&pooled, &onehot, x.shape(), &POOL)
        });
        let mut want = ArrayD::<f64>::zeros(x.shape());
        for ((n, c, _, _), taps) in windows(x.shape()) {
            let mut best = taps[0];
            for &(r, q) in &taps[1..] {
                if x[[n, c, r, q]] > x[[n, c, best.0, best.1]] {
                    best = (r, q);
                }
            }
            want[[n, c, best.0, best.1]] += x[[n, c, best.0, best.1]];
        }
        common::assert_close(&got, &want, 1e-3, "max_pool2d backward");
        assert!(want.iter().any(|v| *v != 0.0), "a reference of zeros");

        // Average pooling: each window's gradient over 9, added to its input positions.
        let g = inputs(&[1, 4, 4, 4], -4.0, 4.0, 41 + parties as u64);
        let got = on_device_as_on_host("avg_pool2d backward", parties, &base, &g, |g| {
            AShare::avg_pool2d_backward(g, &POOL_INPUT, &POOL)
        });
        let mut want = ArrayD::<f64>::zeros(&POOL_INPUT[..]);
        for ((n, c, i, j), taps) in windows(&POOL_INPUT) {
            for (r, q) in taps {
                want[[n, c, r, q]] += g[[n, c, i, j]] / 9.0;
            }
        }
        common::assert_close(&got, &want, 1e-3, "avg_pool2d backward");
    }
}
