//! The non-linear functions, reductions and selections on a device: each is checked on a
//! simulated device against plain f64 (with the tolerance `tests/functions.rs` states for
//! it), its result must stay on the device, it must cost the rounds and bytes it costs on
//! the host, and the only bytes that cross from the device to the host must be the bytes
//! the parties send (no hidden round trip).
//!
//! Sizes are multiples of 64 elements where sign bits are opened (see `tests/device.rs`).

mod common;

use cloak_mpc::ComputeDevice;
use cloak_mpc::{
    AShare, DomainChecks, FunctionConfig, MaxMethod, MpcError, Session, SessionConfig, Truncation,
};
use cloak_ring::device::SimulatedDevice;
use common::{arr, grid, run, share0, values};
use ndarray::{ArrayD, Axis};

const U: f64 = 1.0 / 65536.0;

type Op = fn(&AShare) -> Result<AShare, MpcError>;

fn on_device(device: &SimulatedDevice, base: &SessionConfig) -> SessionConfig {
    SessionConfig { device: ComputeDevice::on(device.handle()), ..base.clone() }
}

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
/// costs what the host costs, and that the device's downloads are exactly the bytes the
/// parties sent (a share crosses once, as the message to every peer, the reveal's
/// included). Returns the revealed value.
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
    for ((_, placement, rounds, bytes, all), (_, host_placement, host_rounds, host_bytes, _)) in
        seen.iter().zip(&host)
    {
        assert!(placement.starts_with("sim:"), "{what}, {parties} parties: result on {placement}");
        assert_eq!(host_placement, "cpu");
        assert_eq!(
            (rounds, bytes),
            (host_rounds, host_bytes),
            "{what}, {parties} parties: rounds and bytes on the device against the host"
        );
        downloads += all / peers;
    }
    assert_eq!(
        device.transfers().download_bytes,
        downloads,
        "{what}, {parties} parties: bytes downloaded against the bytes sent"
    );
    seen.into_iter().next().expect("a party").0
}

/// `n` grid values in `[lo, hi]`.
fn inputs(shape: &[usize], lo: f64, hi: f64, seed: u64) -> ArrayD<f64> {
    grid(&arr(shape, values(shape.iter().product(), lo, hi, seed)))
}

/// Every element within `rel |want| + abs` of `want`.
fn assert_within(
    what: &str,
    x: &ArrayD<f64>,
    got: &ArrayD<f64>,
    want: &ArrayD<f64>,
    rel: f64,
    abs: f64,
) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for ((x, g), w) in x.iter().zip(got).zip(want) {
        let bound = rel * w.abs() + abs;
        assert!((g - w).abs() <= bound, "{what} at x = {x}: got {g}, want {w}, bound {bound:.2e}");
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Cloak's methods: name, domain, op, reference, and `functions.rs`'s bound `rel, abs`.
type Case = (&'static str, f64, f64, Op, fn(f64) -> f64, f64, f64);

const CLOAK: &[Case] = &[
    ("exp", -4.0, 4.0, AShare::exp, f64::exp, 2e-4, 8.0 * U),
    ("reciprocal", 0.1, 10.0, AShare::reciprocal, f64::recip, 8e-6, 3.0 * U),
    ("reciprocal negative", -10.0, -0.1, AShare::reciprocal, f64::recip, 8e-6, 3.0 * U),
    ("sqrt", 0.1, 10.0, AShare::sqrt, f64::sqrt, 2e-4, 4.0 * U),
    ("inv_sqrt", 0.1, 10.0, AShare::inv_sqrt, |x| 1.0 / x.sqrt(), 1e-3, 4.0 * U),
    ("log", 0.1, 10.0, AShare::log, f64::ln, 0.0, 6.0 * U),
    ("sigmoid", -12.0, 12.0, AShare::sigmoid, sigmoid, 0.0, 1.5e-4),
    ("tanh", -6.0, 6.0, AShare::tanh, f64::tanh, 0.0, 3e-4),
    // erf's bound, 2e-4, plus gelu's product and halving (a few units times |x| <= 5).
    ("erf", -5.0, 5.0, AShare::erf, erf, 0.0, 2e-4),
    ("gelu", -5.0, 5.0, AShare::gelu, |x| x * (1.0 + erf(x / 2f64.sqrt())) / 2.0, 0.0, 6e-4),
    // sin and cos: 4e-4 for two parties, growing with N (scaled below).
    ("sin", -100.0, 100.0, AShare::sin, f64::sin, 0.0, 4e-4),
    ("cos", -100.0, 100.0, AShare::cos, f64::cos, 0.0, 4e-4),
    // Three products of values below 4^3 = 64, each within a unit relative.
    ("pow 3", -4.0, 4.0, |x| x.pow(3), |x| x.powi(3), 1e-4, 8.0 * U),
    ("pow -2", 0.5, 4.0, |x| x.pow(-2), |x| x.powi(-2), 2e-4, 8.0 * U),
    // log then exp: log's 6u absolute becomes relative, times |p|.
    ("pow_real 0.5", 0.5, 8.0, |x| x.pow_real(0.5), f64::sqrt, 1e-3, 8.0 * U),
];

/// `erf` to 1e-15 (series below 3, continued fraction above), for references.
fn erf(x: f64) -> f64 {
    let z = x.abs();
    let v = if z < 3.0 {
        let (mut term, mut sum, mut n) = (z, z, 0.0);
        while term.abs() > 1e-17 {
            n += 1.0;
            term *= -z * z / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let mut f = z;
        for k in (1..60).rev() {
            f = z + f64::from(k) / 2.0 / f;
        }
        1.0 - (-z * z).exp() / (f * std::f64::consts::PI.sqrt())
    };
    v.copysign(x)
}

#[test]
fn cloak_functions_stay_on_the_device_within_their_bounds() {
    for parties in [2, 3] {
        for (i, (name, lo, hi, op, reference, rel, abs)) in CLOAK.iter().enumerate() {
            let x = inputs(&[128], *lo, *hi, 20 + i as u64);
            let got = on_device_as_on_host(name, parties, &SessionConfig::default(), &x, *op);
            let scale = if name.starts_with("sin") || name.starts_with("cos") {
                parties as f64 / 2.0
            } else {
                1.0
            };
            let want = x.mapv(reference);
            assert_within(
                &format!("{name}, {parties} parties"),
                &x,
                &got,
                &want,
                *rel,
                abs * scale,
            );
        }
    }
}

#[test]
fn two_party_local_truncation_stays_on_the_device() {
    let config = SessionConfig { truncation: Truncation::LocalShares.into(), ..Default::default() };
    for (i, (name, lo, hi, op, reference, rel, abs)) in CLOAK.iter().enumerate().take(7) {
        let x = inputs(&[128], *lo, *hi, 40 + i as u64);
        let got = on_device_as_on_host(name, 2, &config, &x, *op);
        assert_within(&format!("{name}, local shares"), &x, &got, &x.mapv(reference), *rel, *abs);
    }
}

// ---- CrypTen's methods, against the same algorithms in f64 (as in `functions.rs`) ----

fn limit_exp(x: f64, n: u32) -> f64 {
    let mut v = 1.0 + x / f64::from(n).exp2();
    for _ in 0..n {
        v *= v;
    }
    v
}

fn crypten_reciprocal(x: f64) -> f64 {
    let mut y = 3.0 * limit_exp(1.0 - 2.0 * x, 8) + 0.003;
    for _ in 0..10 {
        y *= 2.0 - x * y;
    }
    y
}

fn crypten_inv_sqrt(x: f64) -> f64 {
    let mut y = 2.2 * limit_exp(-(x / 2.0 + 0.2), 8) + 0.2 - x / 1024.0;
    for _ in 0..3 {
        y = y * (3.0 - x * y * y) / 2.0;
    }
    y
}

fn crypten_log(x: f64) -> f64 {
    let mut y = x / 120.0 - 20.0 * limit_exp(-2.0 * x - 1.0, 8) + 3.0;
    for _ in 0..2 {
        let h = 1.0 - x * limit_exp(-y, 8);
        y -= (1..=8).map(|i| h.powi(i) / f64::from(i)).sum::<f64>();
    }
    y
}

fn crypten_sigmoid(x: f64) -> f64 {
    let den = limit_exp(-x.abs(), 9) + 1.0;
    let mut y = 0.75;
    for _ in 0..3 {
        y *= 2.0 - den * y;
    }
    if x < 0.0 { 1.0 - y } else { y }
}

fn crypten_erf(x: f64) -> f64 {
    let mut sum = x;
    let mut factorial = 1.0;
    for n in 1..=8 {
        factorial *= f64::from(n);
        let sign = if n % 2 == 1 { -1.0 } else { 1.0 };
        sum += sign * x.powi(2 * n + 1) / (factorial * f64::from(2 * n + 1));
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

fn crypten_sin(x: f64) -> f64 {
    let (mut re, mut im) = (1.0, x / 1024.0);
    for _ in 0..10 {
        (re, im) = (re * re - im * im, 2.0 * re * im);
    }
    im
}

/// CrypTen's methods: name, domain, op, its algorithm in f64, tolerance.
type CryptenCase = (&'static str, f64, f64, Op, fn(f64) -> f64, f64);

#[test]
fn crypten_methods_stay_on_the_device() {
    // `functions.rs`'s tolerances, as `tol max(1, |f(x)|)`.
    let cases: [CryptenCase; 8] = [
        ("exp", -4.0, 4.0, AShare::exp, |x| limit_exp(x, 8), 1e-2),
        ("reciprocal", 0.1, 10.0, AShare::reciprocal, crypten_reciprocal, 1e-3),
        ("reciprocal negative", -10.0, -0.1, AShare::reciprocal, |x| -crypten_reciprocal(-x), 1e-3),
        ("inv_sqrt", 0.1, 10.0, AShare::inv_sqrt, crypten_inv_sqrt, 2e-3),
        ("log", 0.1, 10.0, AShare::log, crypten_log, 1e-2),
        ("sigmoid", -8.0, 8.0, AShare::sigmoid, crypten_sigmoid, 3e-3),
        ("erf", -2.0, 2.0, AShare::erf, crypten_erf, 1e-3),
        ("sin", -3.0, 3.0, AShare::sin, crypten_sin, 2e-2),
    ];
    let config = SessionConfig { functions: FunctionConfig::crypten(), ..Default::default() };
    for parties in [2, 3] {
        for (i, (name, lo, hi, op, reference, tol)) in cases.iter().enumerate() {
            let x = inputs(&[128], *lo, *hi, 60 + i as u64);
            let got = on_device_as_on_host(name, parties, &config, &x, *op);
            for (x, g) in x.iter().zip(&got) {
                let w = reference(*x);
                assert!(
                    (g - w).abs() <= tol * w.abs().max(1.0),
                    "CrypTen's {name} with {parties} parties at {x}: {g} against {w}"
                );
            }
        }
    }
}

// ---- Along an axis: softmax, max and argmax, moments ----

fn softmax_rows(x: &ArrayD<f64>) -> ArrayD<f64> {
    let mut out = x.clone();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let m = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    out
}

fn argmax_rows(x: &ArrayD<f64>) -> ArrayD<f64> {
    let mut out = x.mapv(|_| 0.0);
    for (r, row) in x.axis_iter(Axis(0)).enumerate() {
        let best = (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b });
        out[[r, best]] = 1.0;
    }
    out
}

#[test]
fn softmax_max_and_moments_stay_on_the_device() {
    // 64 rows of 8: every tree level compares a multiple of 64 elements.
    let x = inputs(&[64, 8], -4.0, 4.0, 80);
    let soft = softmax_rows(&x);
    let log_soft = soft.mapv(f64::ln);
    let max = x.map_axis(Axis(1), |r| r.fold(f64::NEG_INFINITY, |a, &b| a.max(b)));
    let mean = x.mean_axis(Axis(1)).expect("rows");
    let var = (&x - &mean.clone().insert_axis(Axis(1))).mapv(|d| d * d).mean_axis(Axis(1));
    let var = var.expect("rows");
    let norm = x.mapv(|v| v * v).sum_axis(Axis(1)).mapv(f64::sqrt);
    let rows: [(&str, Op, ArrayD<f64>, f64); 10] = [
        // `softmax_rows.rs`: within 12 units.
        ("softmax", |x| x.softmax(1), soft.clone(), 12.0 * U),
        // log's bound on the sum, plus the maximum's exactness.
        ("log_softmax", |x| x.log_softmax(1), log_soft.clone(), 12.0 * U),
        ("softmax of both", |x| Ok(x.softmax_and_log_softmax(1)?.0), soft, 12.0 * U),
        ("log_softmax of both", |x| Ok(x.softmax_and_log_softmax(1)?.1), log_soft, 12.0 * U),
        // Comparisons and selections are exact on the encoded values.
        ("max", |x| x.max(1, false), max.clone(), 0.0),
        ("argmax", |x| x.argmax(1), argmax_rows(&x), 0.0),
        ("max pairwise", |x| Ok(x.max_with_argmax(1, false, MaxMethod::Pairwise)?.0), max, 0.0),
        (
            "argmax pairwise",
            |x| Ok(x.max_with_argmax(1, false, MaxMethod::Pairwise)?.1),
            argmax_rows(&x),
            0.0,
        ),
        // One exact division and a product of values below 16: a few units.
        ("var", |x| x.var(1, false, false), var, 8.0 * U),
        // sqrt's 2e-4 relative on sums of squares up to 128.
        ("norm", |x| x.norm_along(1, false), norm, 2e-4 * 12.0 + 8.0 * U),
    ];
    for parties in [2, 3] {
        for (name, op, want, tol) in &rows {
            let got = on_device_as_on_host(name, parties, &SessionConfig::default(), &x, *op);
            common::assert_close(&got, want, *tol, &format!("{name}, {parties} parties"));
        }
    }
}

#[test]
fn division_sums_and_index_add_stay_on_the_device() {
    let x = inputs(&[128], -4.0, 4.0, 90);
    let rows: [(&str, Op, ArrayD<f64>, f64); 4] = [
        // x * (1 / y) with y = x^2 + 1 in [1, 17]: reciprocal's bound times |x| <= 4.
        ("div", |x| x.div(&x.square()?.add_scalar(1.0)?), x.mapv(|v| v / (v * v + 1.0)), 1e-4),
        ("sum_all", |x| Ok(x.sum_all()), ndarray::arr0(x.sum()).into_dyn(), 0.0),
        ("mean_all", |x| x.mean_all(), ndarray::arr0(x.sum() / 128.0).into_dyn(), 2.0 * U),
        (
            "index_add",
            |x| {
                let picked = x.index_select(0, &[3, 5, 3, 0])?;
                x.index_add(0, &[7, 7, 1, 127], &picked)
            },
            {
                let mut want = x.clone();
                want[7] += x[3] + x[5];
                want[1] += x[3];
                want[127] += x[0];
                want
            },
            0.0,
        ),
    ];
    for parties in [2, 3] {
        for (name, op, want, tol) in &rows {
            let got = on_device_as_on_host(name, parties, &SessionConfig::default(), &x, *op);
            common::assert_close(&got, want, *tol, &format!("{name}, {parties} parties"));
        }
    }
}

#[test]
fn domain_counts_are_kept_on_the_device() {
    // 128 inputs, those beyond [-8, 8] outside exp's domain; reciprocal's octaves count
    // those below 2^-16 in magnitude (none here).
    let x = inputs(&[128], -12.0, 12.0, 100);
    let outside = x.iter().filter(|v| v.abs() > 8.0).count() as u64;
    assert!(outside > 0, "the test needs inputs outside the domain");
    let base = SessionConfig {
        functions: FunctionConfig { domain_checks: DomainChecks::All, ..Default::default() },
        ..Default::default()
    };
    for parties in [2, 3] {
        let device = SimulatedDevice::new();
        let config = on_device(&device, &base);
        let seen = run(parties, &config, |s| {
            let xs = share0(s, &x)?;
            s.reset_stats();
            let e = xs.exp()?;
            let r = xs.reciprocal()?;
            let placements = [e.share_tensor().placement(), r.share_tensor().placement()];
            let report = s.domain_report()?;
            Ok((report, placements, s.comm_stats().total().bytes_sent))
        });
        let peers = (parties - 1) as u64;
        let mut downloads = 0;
        for (report, placements, sent) in &seen {
            assert!(placements.iter().all(|p| p.starts_with("sim:")), "{placements:?}");
            let count =
                |op: &str| report.iter().find(|d| d.op == op).map(|d| (d.checked, d.outside));
            assert_eq!(count("exp"), Some((128, outside)), "{parties} parties");
            assert_eq!(count("reciprocal"), Some((128, 0)), "{parties} parties");
            downloads += sent / peers;
        }
        assert_eq!(device.transfers().download_bytes, downloads, "{parties} parties");
    }
}
