//! Non-linear functions against plain f64, for 2 and 3 parties, with Cloak's methods and
//! CrypTen's.
//!
//! Inputs are on the fixed-point grid (2^-16), so the reference sees exactly what the
//! parties share and only the method's own error remains. Tolerances are each function's
//! documented bound (its approximation error plus a few units `u = 2^-16` from the
//! truncations after products), with a margin of about 2x, checked per element as
//! `|got - f(x)| <= rel |f(x)| + abs`.

mod common;

use cloak_mpc::{
    AShare, DomainChecks, ExpMethod, FunctionConfig, MpcError, Session, SessionConfig,
};
use common::{arr, grid, run, run_typed, share0, stats_of, values};
use ndarray::ArrayD;

const U: f64 = 1.0 / 65536.0;

/// Max abs error, and max relative error where `|want| >= 0.1`.
fn errors(got: &ArrayD<f64>, want: &[f64]) -> (f64, f64) {
    let mut abs: f64 = 0.0;
    let mut rel: f64 = 0.0;
    for (g, w) in got.iter().zip(want) {
        let e = (g - w).abs();
        let e = if e.is_nan() { f64::INFINITY } else { e };
        abs = abs.max(e);
        if w.abs() >= 0.1 {
            rel = rel.max(e / w.abs());
        }
    }
    (abs, rel)
}

type UnaryOp = fn(&AShare) -> Result<AShare, MpcError>;

/// A function of the reals, for references.
type Real = fn(f64) -> f64;

/// A baseline row: name, domain, the shared op and its reference.
type Row = (&'static str, f64, f64, UnaryOp, Real);

/// Runs `op` on `xs` (shared by party 0) with `parties`; the revealed result.
fn apply(parties: usize, config: &SessionConfig, xs: &[f64], op: UnaryOp) -> ArrayD<f64> {
    let x = arr(&[xs.len()], xs.to_vec());
    let out = run(parties, config, |s| op(&share0(s, &x)?)?.reveal());
    out.into_iter().next().expect("a party")
}

/// Grid inputs: `n` uniform in `[lo, hi]` plus the given edge values.
fn inputs(n: usize, lo: f64, hi: f64, edges: &[f64]) -> Vec<f64> {
    let mut v = values(n, lo, hi, 11);
    v.extend_from_slice(edges);
    grid(&arr(&[v.len()], v)).into_iter().collect()
}

struct Case {
    name: &'static str,
    lo: f64,
    hi: f64,
    edges: &'static [f64],
    op: UnaryOp,
    reference: fn(f64) -> f64,
    /// Documented bound `rel |f(x)| + abs`.
    rel: f64,
    abs: f64,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

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
        // erfc by Lentz's continued fraction.
        let mut f = z;
        for k in (1..60).rev() {
            f = z + f64::from(k) / 2.0 / f;
        }
        1.0 - (-z * z).exp() / (f * std::f64::consts::PI.sqrt())
    };
    v.copysign(x)
}

/// Cloak's default methods over their documented domains (the baseline's domains where it
/// has one).
const CASES: &[Case] = &[
    // 2^3 (fit 5e-7 + 2^-17 / e^-1) relative, and the squarings' roundings: a unit each,
    // amplified by the squarings after them.
    Case {
        name: "exp",
        lo: -4.0,
        hi: 4.0,
        edges: &[-4.0, 0.0, 4.0],
        op: AShare::exp,
        reference: f64::exp,
        rel: 2e-4,
        abs: 8.0 * U,
    },
    Case {
        name: "exp wide",
        lo: -8.0,
        hi: 8.0,
        edges: &[-8.0, 8.0],
        op: AShare::exp,
        reference: f64::exp,
        rel: 4e-4,
        abs: 16.0 * U,
    },
    // 2^-18 relative from the mantissa's roundings, two roundings of the output.
    Case {
        name: "reciprocal",
        lo: 0.1,
        hi: 10.0,
        edges: &[0.1, 1.0, 2.0, 10.0],
        op: AShare::reciprocal,
        reference: f64::recip,
        rel: 8e-6,
        abs: 3.0 * U,
    },
    Case {
        name: "reciprocal negative",
        lo: -10.0,
        hi: -0.1,
        edges: &[-0.1, -1.0, -2.0, -10.0],
        op: AShare::reciprocal,
        reference: f64::recip,
        rel: 8e-6,
        abs: 3.0 * U,
    },
    Case {
        name: "reciprocal wide",
        lo: 0.01,
        hi: 1000.0,
        edges: &[0.01, 512.0, 1000.0],
        op: AShare::reciprocal,
        reference: f64::recip,
        rel: 8e-6,
        abs: 3.0 * U,
    },
    // 9.2e-5 relative, and the octave factor's rounding.
    Case {
        name: "sqrt",
        lo: 0.1,
        hi: 10.0,
        edges: &[0.1, 1.0, 4.0, 10.0],
        op: AShare::sqrt,
        reference: f64::sqrt,
        rel: 2e-4,
        abs: 4.0 * U,
    },
    Case {
        name: "sqrt wide",
        lo: 0.001,
        hi: 60000.0,
        edges: &[0.001, 65535.0],
        op: AShare::sqrt,
        reference: f64::sqrt,
        rel: 2e-4,
        abs: 4.0 * U,
    },
    // 4.9e-4 relative.
    Case {
        name: "inv_sqrt",
        lo: 0.1,
        hi: 10.0,
        edges: &[0.1, 1.0, 4.0, 10.0],
        op: AShare::inv_sqrt,
        reference: |x| 1.0 / x.sqrt(),
        rel: 1e-3,
        abs: 4.0 * U,
    },
    // 2e-7 + 2u/m + u, absolute.
    Case {
        name: "log",
        lo: 0.1,
        hi: 10.0,
        edges: &[0.1, 1.0, 2.0, 10.0],
        op: AShare::log,
        reference: f64::ln,
        rel: 0.0,
        abs: 6.0 * U,
    },
    Case {
        name: "log wide",
        lo: 0.001,
        hi: 60000.0,
        edges: &[0.001, 65535.0],
        op: AShare::log,
        reference: f64::ln,
        rel: 0.0,
        abs: 6.0 * U,
    },
    // 1.4e-6 fit, 4.5e-5 just outside +-10, and the roundings of 31 terms.
    Case {
        name: "sigmoid",
        lo: -8.0,
        hi: 8.0,
        edges: &[-8.0, 0.0, 8.0],
        op: AShare::sigmoid,
        reference: sigmoid,
        rel: 0.0,
        abs: 1.5e-4,
    },
    Case {
        name: "sigmoid saturated",
        lo: -1000.0,
        hi: 1000.0,
        edges: &[-10.0, 10.0, -30000.0, 30000.0],
        op: AShare::sigmoid,
        reference: sigmoid,
        rel: 0.0,
        abs: 1e-4,
    },
    Case {
        name: "tanh",
        lo: -6.0,
        hi: 6.0,
        edges: &[-5.0, 0.0, 5.0, 100.0],
        op: AShare::tanh,
        reference: f64::tanh,
        rel: 0.0,
        abs: 3e-4,
    },
    // 3e-6 fit on [-4, 4], 1.6e-8 outside.
    Case {
        name: "erf",
        lo: -5.0,
        hi: 5.0,
        edges: &[-4.0, 0.0, 4.0, 50.0],
        op: AShare::erf,
        reference: erf,
        rel: 0.0,
        abs: 2e-4,
    },
    // 2 pi N u / 4 from the reduction, and the roundings of the series.
    Case {
        name: "sin",
        lo: -100.0,
        hi: 100.0,
        edges: &[0.0, 3.0, -3.0],
        op: AShare::sin,
        reference: f64::sin,
        rel: 0.0,
        abs: 4e-4,
    },
    Case {
        name: "cos",
        lo: -100.0,
        hi: 100.0,
        edges: &[0.0, 3.0, -3.0],
        op: AShare::cos,
        reference: f64::cos,
        rel: 0.0,
        abs: 4e-4,
    },
];

#[test]
fn cloak_methods_are_within_their_documented_bounds() {
    for parties in [2, 3] {
        let config = SessionConfig::default();
        for c in CASES {
            let xs = inputs(1500, c.lo, c.hi, c.edges);
            let got = apply(parties, &config, &xs, c.op);
            let want: Vec<f64> = xs.iter().map(|v| (c.reference)(*v)).collect();
            // With more parties the sine's reduction error grows with N.
            let scale = if c.name == "sin" || c.name == "cos" { parties as f64 / 2.0 } else { 1.0 };
            for ((x, g), w) in xs.iter().zip(got.iter()).zip(&want) {
                let bound = (c.rel * w.abs() + c.abs) * scale;
                assert!(
                    (g - w).abs() <= bound,
                    "{} with {parties} parties at x = {x}: got {g}, want {w}, bound {bound:.2e}",
                    c.name
                );
            }
        }
    }
}

/// The baseline's functions and domains: Cloak's methods at least as accurate as
/// CrypTen's on the same inputs, and exp within 1e-3 relative on [-4, 4]. Where both are at
/// the precision floor (two units, or two units relative to 0.1), neither can be more
/// accurate than the other, so the floor counts as a tie.
#[test]
fn cloak_is_at_least_as_accurate_as_crypten_on_the_baseline_domains() {
    let rows: [Row; 5] = [
        ("sigmoid", -8.0, 8.0, AShare::sigmoid, sigmoid),
        ("exp", -4.0, 4.0, AShare::exp, f64::exp),
        ("reciprocal", 0.1, 10.0, AShare::reciprocal, f64::recip),
        ("sqrt", 0.1, 10.0, AShare::sqrt, f64::sqrt),
        ("log", 0.1, 10.0, AShare::log, f64::ln),
    ];
    let cloak = SessionConfig::default();
    let crypten = SessionConfig { functions: FunctionConfig::crypten(), ..Default::default() };
    for (name, lo, hi, op, reference) in rows {
        let xs = inputs(3000, lo, hi, &[lo, hi]);
        let want: Vec<f64> = xs.iter().map(|v| reference(*v)).collect();
        let (ours_abs, ours_rel) = errors(&apply(2, &cloak, &xs, op), &want);
        let (theirs_abs, theirs_rel) = errors(&apply(2, &crypten, &xs, op), &want);
        let floor_abs = 2.0 * U;
        let floor_rel = 2.0 * U / 0.1;
        assert!(
            ours_abs <= theirs_abs.max(floor_abs) && ours_rel <= theirs_rel.max(floor_rel),
            "{name}: Cloak abs {ours_abs:.2e} rel {ours_rel:.2e}, CrypTen abs {theirs_abs:.2e} rel {theirs_rel:.2e}"
        );
        if name == "exp" {
            assert!(ours_rel <= 1e-3, "exp relative error {ours_rel:.2e} on [-4, 4]");
        }
    }
}

// ---- CrypTen's methods, against the same algorithms in f64 ----

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

#[test]
fn crypten_methods_compute_crypten_approximations() {
    // The same algorithm in fixed point differs from its f64 run by the roundings: a few
    // units per step, amplified by the squarings of the limit exp (2^8 times the relative
    // rounding of 1 + x/256, so 2^-8 relative) and damped by the Newton iterations. Checked
    // as `tol max(1, |f(x)|)`.
    let cases: [(Row, f64); 7] = [
        (("exp", -4.0, 4.0, AShare::exp, |x| limit_exp(x, 8)), 1e-2),
        (("reciprocal", 0.1, 10.0, AShare::reciprocal, crypten_reciprocal), 1e-3),
        (("inv_sqrt", 0.1, 10.0, AShare::inv_sqrt, crypten_inv_sqrt), 2e-3),
        (("log", 0.1, 10.0, AShare::log, crypten_log), 1e-2),
        (("sigmoid", -8.0, 8.0, AShare::sigmoid, crypten_sigmoid), 3e-3),
        (("erf", -2.0, 2.0, AShare::erf, crypten_erf), 1e-3),
        // x / 2^10 is rounded to a unit first: sin is on a grid of 2^10 u = 0.0156.
        (("sin", -3.0, 3.0, AShare::sin, crypten_sin), 2e-2),
    ];
    let config = SessionConfig { functions: FunctionConfig::crypten(), ..Default::default() };
    for parties in [2, 3] {
        for ((name, lo, hi, op, reference), tol) in cases {
            let xs = inputs(1000, lo, hi, &[lo, hi]);
            let want: Vec<f64> = xs.iter().map(|v| reference(*v)).collect();
            let got = apply(parties, &config, &xs, op);
            for ((x, g), w) in xs.iter().zip(got.iter()).zip(&want) {
                assert!(
                    (g - w).abs() <= tol * w.abs().max(1.0),
                    "CrypTen's {name} with {parties} parties at {x}: {g} against its f64 run's {w}"
                );
            }
        }
    }
    // And the pinned bug is not copied: CrypTen's own erf(2) is -175.
    let got = apply(2, &config, &[2.0], AShare::erf);
    assert!((got[0] - crypten_erf(2.0)).abs() < 1e-2 && got[0] > 0.0);
}

// ---- softmax and friends ----

fn softmax_ref(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    rows.iter()
        .map(|r| {
            let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = r.iter().map(|v| (v - m).exp()).sum();
            r.iter().map(|v| (v - m).exp() / s).collect()
        })
        .collect()
}

#[test]
fn softmax_and_log_softmax_match_f64_along_each_axis_and_with_large_gaps() {
    // Rows of normal-ish logits, one with gaps far beyond exp's domain (softmax clamps the
    // differences at -32, where exp is far below half a unit).
    let mut data = values(6 * 5, -3.0, 3.0, 5);
    data[5..10].copy_from_slice(&[0.0, -40.0, -300.0, -2000.0, 1.0]);
    let x = grid(&arr(&[6, 5], data));
    for parties in [2, 3] {
        for axis in [0usize, 1] {
            let out = run(parties, &SessionConfig::default(), |s| {
                let xs = share0(s, &x)?;
                let (both_sm, both_lsm) = xs.softmax_and_log_softmax(axis)?;
                Ok((
                    xs.softmax(axis)?.reveal()?,
                    xs.log_softmax(axis)?.reveal()?,
                    both_sm.reveal()?,
                    both_lsm.reveal()?,
                ))
            });
            let (sm, lsm, both_sm, both_lsm) = &out[0];
            let lanes: Vec<Vec<f64>> = if axis == 1 {
                x.rows().into_iter().map(|r| r.to_vec()).collect()
            } else {
                x.columns().into_iter().map(|c| c.to_vec()).collect()
            };
            let want = softmax_ref(&lanes);
            for (i, lane) in want.iter().enumerate() {
                for (j, w) in lane.iter().enumerate() {
                    let idx = if axis == 1 { [i, j] } else { [j, i] };
                    let g = sm[&idx[..]];
                    // Probabilities: a few units from exp and the reciprocal (1.2e-5 relative).
                    assert!((g - w).abs() <= 1e-4, "softmax axis {axis} {idx:?}: {g} vs {w}");
                    // Together, the reciprocal is exp(-log sum): exp's 4e-4 relative more.
                    let gb = both_sm[&idx[..]];
                    assert!((gb - w).abs() <= 1e-4 + 4e-4 * w, "softmax together {idx:?}: {gb}");
                    let lw = w.ln().max(-1e4);
                    let lx = x[&idx[..]];
                    let m = lanes[i].iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lse: f64 = lanes[i].iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                    let lwant = lx - m - lse;
                    let lg = lsm[&idx[..]];
                    // log_softmax is exact in the differences and adds log's few units.
                    assert!(
                        (lg - lwant).abs() <= 2e-4,
                        "log_softmax axis {axis} {idx:?}: {lg} vs {lwant} ({lw})"
                    );
                    let lb = both_lsm[&idx[..]];
                    assert!((lb - lwant).abs() <= 2e-4, "log_softmax together {idx:?}: {lb}");
                }
            }
        }
    }
}

#[test]
fn powers_division_norms_and_moments_match_f64() {
    let x = grid(&arr(&[2, 6], values(12, 0.5, 2.0, 9)));
    let y = grid(&arr(&[2, 6], values(12, 0.5, 4.0, 10)));
    for parties in [2, 3] {
        let out = run(parties, &SessionConfig::default(), |s| {
            let xs = share0(s, &x)?;
            let ys = AShare::share(s, 1, (s.rank() == 1).then_some(&y), y.shape())?;
            Ok(vec![
                xs.pow(5)?.reveal()?,
                xs.pow(0)?.reveal()?,
                xs.pow(-2)?.reveal()?,
                xs.pow_real(1.5)?.reveal()?,
                xs.div(&ys)?.reveal()?,
                xs.norm()?.reveal()?,
                xs.norm_along(1, false)?.reveal()?,
                xs.var(1, false, true)?.reveal()?,
                xs.std(0, true, false)?.reveal()?,
                xs.gelu()?.reveal()?,
            ])
        });
        let got = &out[0];
        let rows: Vec<Vec<f64>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let var = |v: &[f64], ddof: f64| {
            let m = mean(v);
            v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (v.len() as f64 - ddof)
        };
        let checks: Vec<(&str, ArrayD<f64>, f64)> = vec![
            // x^5 up to 32: 4 products, each a unit relative to its size.
            ("pow 5", x.mapv(|v| v.powi(5)), 32.0 * 8.0 * U),
            ("pow 0", x.mapv(|_| 1.0), 0.0),
            ("pow -2", x.mapv(|v| v.powi(-2)), 1e-3),
            ("pow 1.5", x.mapv(|v| v.powf(1.5)), 1e-3),
            ("div", ndarray::Zip::from(&x).and(&y).map_collect(|a, b| a / b), 1e-3),
            ("norm", arr(&[], vec![x.iter().map(|v| v * v).sum::<f64>().sqrt()]), 2e-3),
            (
                "norm along 1",
                arr(
                    &[2],
                    rows.iter().map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt()).collect(),
                ),
                2e-3,
            ),
            ("var unbiased", arr(&[2], rows.iter().map(|r| var(r, 1.0)).collect()), 1e-3),
            // sqrt of a variance known to a few units: off by about 2u / (2 std).
            (
                "std along 0",
                {
                    let cols: Vec<Vec<f64>> = x.columns().into_iter().map(|c| c.to_vec()).collect();
                    arr(&[1, 6], cols.iter().map(|c| var(c, 0.0).sqrt()).collect())
                },
                1e-3 + 2.0 * U / (2.0 * 0.005),
            ),
            ("gelu", x.mapv(|v| v * (1.0 + erf(v / 2f64.sqrt())) / 2.0), 5e-4),
        ];
        for ((name, want, tol), g) in checks.iter().zip(got) {
            assert_eq!(g.shape(), want.shape(), "{name} shape");
            let worst = g.iter().zip(want.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(
                worst <= *tol,
                "{name} with {parties} parties: off by {worst:.2e} (tolerance {tol:.1e})"
            );
        }
    }
}

#[test]
fn clamps_for_layers() {
    let x = grid(&arr(&[7], vec![-9.0, -1.5, -0.25, 0.0, 0.5, 5.5, 7.0]));
    let out = run(2, &SessionConfig::default(), |s| {
        let xs = share0(s, &x)?;
        Ok((xs.relu6()?.reveal()?, xs.hardtanh(-1.0, 1.0)?.reveal()?))
    });
    let (r6, ht) = &out[0];
    for i in 0..7 {
        assert!((r6[i] - x[i].clamp(0.0, 6.0)).abs() <= U);
        assert!((ht[i] - x[i].clamp(-1.0, 1.0)).abs() <= U);
    }
}

// ---- domains ----

#[test]
fn inputs_outside_a_domain_are_counted_and_revealed_only_on_request() {
    let x = arr(&[6], vec![0.0, 200000.0, 1.0, -3.0, 1e-6, 2.0]);
    for parties in [2, 3] {
        let out = run(parties, &SessionConfig::default(), |s| {
            let xs = share0(s, &x)?;
            xs.reciprocal()?; // signed: 0, 200000 (>= 2^17) and 1e-6 (encodes to 0) are outside
            xs.log()?; // positive only: -3 is outside too
            xs.sigmoid()?; // no domain
            s.domain_report()
        });
        let report = &out[0];
        let get = |op: &str| report.iter().find(|r| r.op == op).map(|r| (r.checked, r.outside));
        assert_eq!(get("reciprocal"), Some((6, 3)), "{report:?}");
        assert_eq!(get("log"), Some((6, 4)), "{report:?}");
        assert_eq!(get("sigmoid"), None);
        assert!(out.iter().all(|r| r == report), "parties agree on the report");
    }
    // `All` adds a comparison for exp; `Off` records nothing.
    let all = SessionConfig {
        functions: FunctionConfig { domain_checks: DomainChecks::All, ..Default::default() },
        ..Default::default()
    };
    let out = run(2, &all, |s| {
        share0(s, &arr(&[4], vec![-9.0, 0.0, 7.9, 8.5]))?.exp()?;
        let first = s.domain_report()?;
        Ok((first, s.domain_report()?))
    });
    let (first, second) = &out[0];
    assert_eq!(
        first.iter().map(|r| (r.op, r.checked, r.outside)).collect::<Vec<_>>(),
        vec![("exp", 4, 2)]
    );
    assert!(second.is_empty(), "a report clears the counters");
    let off = SessionConfig {
        functions: FunctionConfig { domain_checks: DomainChecks::Off, ..Default::default() },
        ..Default::default()
    };
    let out = run(2, &off, |s| {
        share0(s, &arr(&[2], vec![0.0, 1.0]))?.reciprocal()?;
        s.domain_report()
    });
    assert!(out[0].is_empty());
}

// ---- rounds ----

fn rounds_of(
    parties: usize,
    config: &SessionConfig,
    label: &'static str,
    f: fn(&AShare) -> Result<AShare, MpcError>,
    x: &ArrayD<f64>,
) -> u64 {
    let x = x.clone();
    let out = run(parties, config, move |s: &Session| {
        let xs = share0(s, &x)?;
        s.reset_stats();
        f(&xs)?;
        Ok(stats_of(s, label).rounds)
    });
    out[0]
}

#[test]
fn rounds_are_as_documented_and_fewer_than_cryptens() {
    let x = grid(&arr(&[64], values(64, 0.5, 4.0, 3)));
    let m = grid(&arr(&[8, 8], values(64, -2.0, 2.0, 4)));
    // Local truncation, as CrypTen truncates with two parties, so that the rounds compare
    // like for like (the default, dealer pairs, adds one round per truncation step).
    let cfg = SessionConfig {
        truncation: cloak_mpc::Truncation::LocalShares.into(),
        ..SessionConfig::default()
    };
    // (label, op, Cloak's rounds with two parties, CrypTen's rounds where the baseline
    // measured them)
    let cases: [(&'static str, UnaryOp, u64, Option<u64>); 7] = [
        ("exp", AShare::exp, 6, Some(8)),
        ("reciprocal", AShare::reciprocal, 20, Some(38)),
        ("sqrt", AShare::sqrt, 17, Some(18)),
        ("log", AShare::log, 18, Some(32)),
        ("sigmoid", AShare::sigmoid, 10, Some(23)),
        ("sin", AShare::sin, 4, None),
        ("erf", AShare::erf, 10, None),
    ];
    for (label, op, ours, theirs) in cases {
        let got = rounds_of(2, &cfg, label, op, &x);
        assert_eq!(got, ours, "{label}");
        assert!(theirs.is_none_or(|t| got < t), "{label}: {got} rounds, CrypTen {theirs:?}");
    }
    // softmax over rows of 8: max 9 (all 28 pairs of a short row: two comparisons of 3
    // rounds with the dealer-digits comparison, each made additive in 1, and the product
    // by the one-hot; a tree would take 3 levels of 4), clamp 4, exp 7 (a series of degree
    // 10 and three squarings), reciprocal 20, product 1.
    assert_eq!(rounds_of(2, &cfg, "softmax", |x| x.softmax(1), &m), 9 + 4 + 7 + 20 + 1);
    // Both together: the same, then log 18, exp 7 (for the reciprocal) and the product,
    // where the two calls take 41 + 38.
    assert_eq!(rounds_of(2, &cfg, "log_softmax", |x| x.log_softmax(1), &m), 9 + 4 + 7 + 18);
    let both = |x: &AShare| x.softmax_and_log_softmax(1).map(|(s, _)| s);
    assert_eq!(rounds_of(2, &cfg, "softmax", both, &m), 9 + 4 + 7 + 18 + 7 + 1);
    // CrypTen's exp with CrypTen's config: its 8 squarings.
    let crypten = SessionConfig { functions: FunctionConfig::crypten(), ..cfg.clone() };
    assert_eq!(rounds_of(2, &crypten, "exp", AShare::exp, &x), 8);
}

// ---- errors ----

#[test]
fn bad_arguments_are_typed_errors_at_every_party() {
    let bad_degree = SessionConfig {
        functions: FunctionConfig {
            exp: ExpMethod::Squaring { squarings: 3, degree: 0 },
            ..Default::default()
        },
        ..Default::default()
    };
    let x = arr(&[3], vec![1.0, 2.0, 3.0]);
    for r in run_typed(2, &bad_degree, |s| share0(s, &x)?.exp().map(|_| ())) {
        assert!(matches!(r, Err(MpcError::InvalidArgument { .. })), "{r:?}");
    }
    let cfg = SessionConfig::default();
    for r in run_typed(2, &cfg, |s| {
        let a = share0(s, &x)?;
        let b = share0(s, &arr(&[2], vec![1.0, 2.0]))?;
        a.div(&b).map(|_| ())
    }) {
        assert!(matches!(r, Err(MpcError::InvalidArgument { op: "div", .. })), "{r:?}");
    }
    for r in
        run_typed(2, &cfg, |s| share0(s, &arr(&[1, 1], vec![1.0]))?.var(1, false, true).map(|_| ()))
    {
        assert!(matches!(r, Err(MpcError::InvalidArgument { op: "var", .. })), "{r:?}");
    }
    for r in run_typed(2, &cfg, |s| share0(s, &x)?.pow_real(f64::NAN).map(|_| ())) {
        assert!(matches!(r, Err(MpcError::InvalidArgument { op: "pow", .. })), "{r:?}");
    }
}

#[test]
fn empty_tensors_pass_through_every_function() {
    let e = arr(&[0], vec![]);
    let out = run(2, &SessionConfig::default(), |s| {
        let x = share0(s, &e)?;
        let outs =
            [x.exp()?, x.reciprocal()?, x.log()?, x.sqrt()?, x.sigmoid()?, x.sin()?, x.erf()?];
        outs.iter().map(|o| o.reveal()).collect::<Result<Vec<_>, _>>()
    });
    assert!(out[0].iter().all(|a| a.is_empty()));
}

/// Other precisions: the methods hold at 12 and 20 fractional bits (bounds in that
/// precision's units, relative ones from roundings scaled with the unit, plus the
/// coefficients' `2^-17` rounding floor), and at 24 bits the
/// reciprocal's domain starts at `2^(2f - 60)` (smaller inputs are counted, not garbage).
#[test]
fn other_precisions() {
    for f in [12u32, 20] {
        let u = (-f64::from(f)).exp2();
        let config = SessionConfig { frac_bits: f, ..Default::default() };
        let cases: [(Row, f64, f64); 6] = [
            (("exp", -4.0, 4.0, AShare::exp, f64::exp), 2e-4, 16.0 * u + 1e-4),
            (("reciprocal", 0.1, 10.0, AShare::reciprocal, f64::recip), 1e-5, 4.0 * u / 0.01),
            (("log", 0.1, 10.0, AShare::log, f64::ln), 0.0, 8.0 * u / 0.1 + 5e-5),
            (("sqrt", 0.1, 10.0, AShare::sqrt, f64::sqrt), 2e-4, 8.0 * u / 0.3),
            (("sigmoid", -8.0, 8.0, AShare::sigmoid, sigmoid), 0.0, 16.0 * u + 2e-4),
            (("sin", -10.0, 10.0, AShare::sin, f64::sin), 0.0, 16.0 * u + 2e-4),
        ];
        let coarser = (16.0 - f64::from(f)).exp2().max(1.0);
        for ((name, lo, hi, op, reference), rel, abs) in cases {
            let rel = rel * coarser;
            let q = f64::from(f).exp2();
            let xs: Vec<f64> = values(300, lo, hi, 5).iter().map(|v| (v * q).round() / q).collect();
            let got = apply(2, &config, &xs, op);
            for (x, g) in xs.iter().zip(got.iter()) {
                let w = reference(*x);
                assert!(
                    (g - w).abs() <= rel * w.abs() + abs,
                    "{name} at {f} bits, x = {x}: {g} vs {w}"
                );
            }
        }
    }
    let config = SessionConfig { frac_bits: 24, ..Default::default() };
    let x = arr(&[3], vec![1e-4, 2e-3, 3.0]); // 2^(2f - 60) = 2^-12 = 2.4e-4
    let out = run(2, &config, |s| {
        let r = share0(s, &x)?.reciprocal()?.reveal()?;
        Ok((r, s.domain_report()?))
    });
    let (r, report) = &out[0];
    assert_eq!((report[0].op, report[0].outside), ("reciprocal", 1));
    assert!((r[1] - 500.0).abs() < 0.05 && (r[2] - 1.0 / 3.0).abs() < 1e-5, "{r:?}");
}

#[test]
fn small_public_scalars_keep_their_precision() {
    // 1e-6 and 1/200000 are below one unit at 16 bits; they are encoded with extra bits, to
    // f significant bits, so a product is off by at most |x c| 2^-f (the scalar's rounding)
    // plus a unit or two of truncation (rather than being 0).
    let x = grid(&arr(&[4], vec![1000.0, -3000.5, 20000.25, 7.0]));
    for parties in [2, 3] {
        let out = run(parties, &SessionConfig::default(), |s| {
            let xs = share0(s, &x)?;
            Ok((
                xs.mul_scalar(1e-6)?.reveal()?,
                xs.mul_scalar(1.0 / 200_000.0)?.reveal()?,
                xs.mul_scalar(0.3)?.reveal()?,
            ))
        });
        let (a, b, c) = &out[0];
        let unit = 2f64.powi(-16);
        for i in 0..4 {
            for (got, scalar) in [(a[i], 1e-6), (b[i], 1.0 / 200_000.0), (c[i], 0.3)] {
                let want = x[i] * scalar;
                let bound = want.abs() * unit + 2.0 * unit;
                assert!(
                    (got - want).abs() <= bound,
                    "{parties}: x {} c {scalar}: {got} vs {want}",
                    x[i]
                );
            }
        }
    }
}
