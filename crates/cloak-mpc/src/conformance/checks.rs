//! The checks: each runs at every party of a session, compares what it reveals with plain
//! `f64`, and says what differs (`Ok(Err(..))`), or fails with the protocol's error.
//!
//! Inputs are multiples of `2^-12` (exact in any encoding of 12 or more fractional bits; the
//! suite needs that many), so the only error of a product is its truncation, which really
//! rounds (products have 24 fractional bits): at most one unit `u = 2^-f` by the
//! truncation strategies' contract. Comparisons are on values at least `2^-8` apart, or
//! equal, and must be exact.

use ndarray::{ArrayD, IxDyn};

use cloak_ring::Conv2dSpec;
use cloak_ring::testing::TestRng;

use crate::ashare::AShare;
use crate::error::Result;
use crate::reduce::MaxMethod;
use crate::session::Session;
use cloak_ring::Pool2dSpec;

/// A check's verdict at one party: `Err` describes the worst mismatch.
pub type Verdict = std::result::Result<(), String>;

/// One protocol check.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// Its name (the test's name in [`protocol_conformance_tests!`](crate::protocol_conformance_tests)).
    pub name: &'static str,
    /// Runs it at one party.
    pub run: fn(&Session) -> Result<Verdict>,
}

/// Every check, in the order the suite runs them.
pub const CHECKS: &[Check] = &[
    Check { name: "share_reveal", run: share_reveal },
    Check { name: "linear", run: linear },
    Check { name: "mul", run: mul },
    Check { name: "matmul", run: matmul },
    Check { name: "conv2d", run: conv2d },
    Check { name: "square", run: square },
    Check { name: "fixed_operand", run: fixed_operand },
    Check { name: "truncate_many", run: truncate_many },
    Check { name: "divide", run: divide },
    Check { name: "compare", run: compare },
    Check { name: "relu_abs", run: relu_abs },
    Check { name: "truncate_relu", run: truncate_relu },
    Check { name: "max_argmax", run: max_argmax },
    Check { name: "max_pool", run: max_pool },
    Check { name: "a2b_b2a", run: a2b_b2a },
    Check { name: "functions", run: functions },
];

/// Inputs: multiples of `2^-12` in `[lo, hi)`, the same at every party (the shared test
/// generator from a fixed seed), so every party knows what the plain result must be.
fn data(seed: u64, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
    TestRng::new(seed).array(shape, lo, hi).mapv(|v| (v * 4096.0).floor() / 4096.0)
}

/// Shares `value` from `owner` (every party passes the value; only the owner's is used).
fn input(s: &Session, owner: usize, value: &ArrayD<f64>) -> Result<AShare> {
    AShare::share(s, owner, (s.rank() == owner).then_some(value), value.shape())
}

/// The last party, so that the inputs come from two different owners.
fn last(s: &Session) -> usize {
    s.parties() - 1
}

/// One unit in the last place of the session's encoding.
fn ulp(s: &Session) -> f64 {
    f64::from(s.fixed_point().frac_bits()).exp2().recip()
}

/// Compares elementwise: `tol(i)` is element `i`'s allowed error.
fn close(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>, tol: impl Fn(usize) -> f64) -> Verdict {
    if got.shape() != want.shape() {
        return Err(format!("{what}: shape {:?}, expected {:?}", got.shape(), want.shape()));
    }
    // The worst element; NaN on either side counts as infinitely far.
    let mut worst: Option<(usize, f64)> = None;
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        let excess = (g - w).abs() - tol(i);
        let excess = if excess.is_nan() { f64::INFINITY } else { excess };
        if excess > 0.0 && worst.is_none_or(|(_, e)| excess > e) {
            worst = Some((i, excess));
        }
    }
    match worst {
        Some((i, _)) => Err(format!(
            "{what}: element {i} is {}, expected {} (tolerance {})",
            got.iter().nth(i).copied().unwrap_or(f64::NAN),
            want.iter().nth(i).copied().unwrap_or(f64::NAN),
            tol(i)
        )),
        None => Ok(()),
    }
}

/// Chains verdicts, keeping the first mismatch.
fn all(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    verdicts.into_iter().collect()
}

fn share_reveal(s: &Session) -> Result<Verdict> {
    // Encoding is exact on multiples of 2^-8; reveal must give the input back exactly.
    let x = data(1, &[5, 7], -100.0, 100.0);
    let a = input(s, 0, &x)?;
    let b = input(s, last(s), &x)?;
    let to_one = b.reveal_to(1)?;
    let mut v = vec![close("reveal", &a.reveal()?, &x, |_| 0.0)];
    v.push(match (s.rank() == 1, to_one) {
        (true, Some(got)) => close("reveal_to", &got, &x, |_| 0.0),
        (false, None) => Ok(()),
        (mine, got) => Err(format!("reveal_to(1) at party {}: {mine} / {got:?}", s.rank())),
    });
    Ok(all(v))
}

fn linear(s: &Session) -> Result<Verdict> {
    // Additions are exact; a public product truncates once (one unit).
    let u = ulp(s);
    let (x, y, p) =
        (data(2, &[4, 6], -50.0, 50.0), data(3, &[4, 6], -50.0, 50.0), data(4, &[6], -2.0, 2.0));
    let (a, b) = (input(s, 0, &x)?, input(s, last(s), &y)?);
    Ok(all([
        close("add", &a.add(&b)?.reveal()?, &(&x + &y), |_| 0.0),
        close("sub", &a.sub(&b)?.reveal()?, &(&x - &y), |_| 0.0),
        close("neg", &a.neg().reveal()?, &x.mapv(|v| -v), |_| 0.0),
        close("add_public", &a.add_public(&p)?.reveal()?, &(&x + &p), |_| 0.0),
        close("mul_public", &a.mul_public(&p)?.reveal()?, &(&x * &p), |_| u),
        close("sum", &a.sum(1, false)?.reveal()?, &x.sum_axis(ndarray::Axis(1)), |_| 0.0),
    ]))
}

fn mul(s: &Session) -> Result<Verdict> {
    // Inputs exact, products exact at double scale: one truncation, one unit.
    let u = ulp(s);
    let (x, y, z) =
        (data(5, &[4, 6], -8.0, 8.0), data(6, &[4, 6], -8.0, 8.0), data(7, &[6], -8.0, 8.0));
    let (a, b, c) = (input(s, 0, &x)?, input(s, last(s), &y)?, input(s, last(s), &z)?);
    Ok(all([
        close("mul", &a.mul(&b)?.reveal()?, &(&x * &y), |_| u),
        close("mul (broadcast)", &a.mul(&c)?.reveal()?, &(&x * &z), |_| u),
    ]))
}

/// `x @ y` for 2-d arrays in plain f64.
fn plain_matmul(x: &ArrayD<f64>, y: &ArrayD<f64>) -> ArrayD<f64> {
    let (m, k, n) = (x.shape()[0], x.shape()[1], y.shape()[1]);
    ArrayD::from_shape_fn(IxDyn(&[m, n]), |i| (0..k).map(|t| x[[i[0], t]] * y[[t, i[1]]]).sum())
}

fn matmul(s: &Session) -> Result<Verdict> {
    // Truncated once after the accumulation: one unit.
    let u = ulp(s);
    let (x, y) = (data(8, &[3, 5], -2.0, 2.0), data(9, &[5, 4], -2.0, 2.0));
    let got = input(s, 0, &x)?.matmul(&input(s, last(s), &y)?)?.reveal()?;
    Ok(close("matmul", &got, &plain_matmul(&x, &y), |_| u))
}

fn conv2d(s: &Session) -> Result<Verdict> {
    // Stride 1, padding 1: truncated once per output, one unit.
    let u = ulp(s);
    let (x, w) = (data(10, &[1, 2, 5, 5], -2.0, 2.0), data(11, &[3, 2, 3, 3], -1.0, 1.0));
    let spec = Conv2dSpec { padding: (1, 1), ..Conv2dSpec::default() };
    let got = input(s, 0, &x)?.conv2d(&input(s, last(s), &w)?, &spec)?.reveal()?;
    let want = ArrayD::from_shape_fn(IxDyn(&[1, 3, 5, 5]), |i| {
        let mut acc = 0.0;
        for c in 0..2 {
            for (dh, dw) in (0..3).flat_map(|a| (0..3).map(move |b| (a, b))) {
                let (h, ww) = ((i[2] + dh) as isize - 1, (i[3] + dw) as isize - 1);
                if (0..5).contains(&h) && (0..5).contains(&ww) {
                    acc += x[[0, c, h as usize, ww as usize]] * w[[i[1], c, dh, dw]];
                }
            }
        }
        acc
    });
    Ok(close("conv2d", &got, &want, |_| u))
}

fn square(s: &Session) -> Result<Verdict> {
    let u = ulp(s);
    let x = data(12, &[50], -10.0, 10.0);
    let got = input(s, 0, &x)?.square()?.reveal()?;
    Ok(close("square", &got, &x.mapv(|v| v * v), |_| u))
}

fn fixed_operand(s: &Session) -> Result<Verdict> {
    // The weight is opened once; each product truncates once: one unit each.
    let u = ulp(s);
    let (x1, x2, w) =
        (data(13, &[2, 5], -2.0, 2.0), data(14, &[2, 5], -2.0, 2.0), data(15, &[5, 3], -2.0, 2.0));
    let fixed = input(s, last(s), &w)?.fix()?;
    let first = input(s, 0, &x1)?.matmul_fixed(&fixed)?.reveal()?;
    let second = input(s, 0, &x2)?.matmul_fixed(&fixed)?.reveal()?;
    Ok(all([
        close("matmul_fixed (first)", &first, &plain_matmul(&x1, &w), |_| u),
        close("matmul_fixed (second)", &second, &plain_matmul(&x2, &w), |_| u),
    ]))
}

fn truncate_many(s: &Session) -> Result<Verdict> {
    // Through the public primitive: values at scale 2f, 3f/2 and f, truncated by f, f/2 and
    // 0 back to scale f in one call; within one unit each.
    let u = ulp(s);
    let f = s.fixed_point().frac_bits();
    let x = data(16, &[40], -100.0, 100.0);
    let a = input(s, 0, &x)?;
    let scaled = |k: u32| a.share_tensor().mul_scalar(1u64 << k);
    let out = {
        let mut ctx = s.context()?;
        ctx.truncate_many(vec![(scaled(f), f), (scaled(f / 2), f / 2), (scaled(0), 0)])?
    };
    if out.len() != 3 {
        return Ok(Err(format!("truncate_many: {} results for 3 pieces", out.len())));
    }
    let mut v = Vec::new();
    for (piece, name) in out.into_iter().zip(["by f", "by f/2", "by 0"]) {
        let got = AShare::from_share(s, piece).reveal()?;
        v.push(close(name, &got, &x, |_| u));
    }
    Ok(all(v))
}

fn divide(s: &Session) -> Result<Verdict> {
    // Division pairs: within two units.
    let u = ulp(s);
    let x = data(17, &[30], -1000.0, 1000.0);
    let got = input(s, 0, &x)?.div_int(7)?.reveal()?;
    Ok(close("div_int(7)", &got, &x.mapv(|v| v / 7.0), |_| 2.0 * u))
}

fn compare(s: &Session) -> Result<Verdict> {
    // Every second pair equal, the others 2^-8 or more apart: exact 0/1 results.
    let x = data(18, &[64], -30.0, 30.0);
    let d = data(19, &[64], -2.0, 2.0);
    let y = ArrayD::from_shape_fn(x.raw_dim(), |i| {
        if i[0] % 2 == 0 { x[&i] } else { x[&i] + d[&i].abs().max(1.0 / 256.0) * sign(i[0]) }
    });
    let (a, b) = (input(s, 0, &x)?, input(s, last(s), &y)?);
    let ind = |f: fn(f64, f64) -> bool| {
        ArrayD::from_shape_fn(x.raw_dim(), |i| f64::from(u8::from(f(x[&i], y[&i]))))
    };
    Ok(all([
        close("lt", &a.lt(&b)?.reveal()?, &ind(|p, q| p < q), |_| 0.0),
        close("gt", &a.gt(&b)?.reveal()?, &ind(|p, q| p > q), |_| 0.0),
        close("le", &a.le(&b)?.reveal()?, &ind(|p, q| p <= q), |_| 0.0),
        close("ge", &a.ge(&b)?.reveal()?, &ind(|p, q| p >= q), |_| 0.0),
        close("eq", &a.eq(&b)?.reveal()?, &ind(|p, q| p == q), |_| 0.0),
        close("ltz", &a.ltz()?.reveal()?, &x.mapv(|v| f64::from(u8::from(v < 0.0))), |_| 0.0),
    ]))
}

fn sign(i: usize) -> f64 {
    if i % 4 == 1 { 1.0 } else { -1.0 }
}

fn relu_abs(s: &Session) -> Result<Verdict> {
    // Products by 0/1 bits need no truncation: exact, zero included.
    let mut x = data(20, &[70], -40.0, 40.0);
    x[[0]] = 0.0;
    let a = input(s, 0, &x)?;
    let (r, g) = a.relu_with_grad()?;
    Ok(all([
        close("relu", &a.relu()?.reveal()?, &x.mapv(|v| v.max(0.0)), |_| 0.0),
        close("relu (with grad)", &r.reveal()?, &x.mapv(|v| v.max(0.0)), |_| 0.0),
        close("relu grad", &g.reveal()?, &x.mapv(|v| f64::from(u8::from(v >= 0.0))), |_| 0.0),
        close("abs", &a.abs()?.reveal()?, &x.mapv(f64::abs), |_| 0.0),
        close("sign", &a.sign()?.reveal()?, &x.mapv(|v| if v < 0.0 { -1.0 } else { 1.0 }), |_| 0.0),
    ]))
}

fn truncate_relu(s: &Session) -> Result<Verdict> {
    // A product's shares at twice the scale, `x (2^f + 1)`, whose rescaling has a
    // remainder: the fused (or stepwise) truncation and ReLU give `relu(x (1 + 2^-f))`
    // within one unit.
    let f = s.fixed_point().frac_bits();
    let mut x = data(23, &[70], -40.0, 40.0);
    x[[0]] = 0.0;
    let a = input(s, 0, &x)?;
    let wide = a.share_tensor().mul_scalar((1u64 << f) + 1);
    let got = AShare::from_share(s, wide).truncate_relu(f)?.reveal()?;
    let unit = (-f64::from(f)).exp2();
    let want = x.mapv(|v| (v * (1.0 + unit)).max(0.0));
    Ok(close("truncate_relu", &got, &want, |_| unit * 1.01))
}

fn max_argmax(s: &Session) -> Result<Verdict> {
    // Selections by comparison bits: exact; ties go to the first maximum.
    let x = data(21, &[4, 7], -20.0, 20.0);
    let a = input(s, 0, &x)?;
    let want_max = x.map_axis(ndarray::Axis(1), |r| r.iter().copied().fold(f64::MIN, f64::max));
    let want_onehot = ArrayD::from_shape_fn(x.raw_dim(), |i| {
        let row = x.index_axis(ndarray::Axis(0), i[0]);
        let first = row.iter().position(|v| *v == want_max[[i[0]]]).unwrap_or(0);
        f64::from(u8::from(first == i[1]))
    });
    let mut v = Vec::new();
    for method in [MaxMethod::Tree, MaxMethod::Pairwise] {
        let (m, onehot) = a.max_with_argmax(1, false, method)?;
        v.push(close(&format!("max ({method:?})"), &m.reveal()?, &want_max, |_| 0.0));
        v.push(close(&format!("argmax ({method:?})"), &onehot.reveal()?, &want_onehot, |_| 0.0));
    }
    Ok(all(v))
}

fn max_pool(s: &Session) -> Result<Verdict> {
    let x = data(22, &[1, 2, 6, 6], -20.0, 20.0);
    let (out, _) = input(s, 0, &x)?.max_pool2d(&Pool2dSpec::square(2))?;
    let want = ArrayD::from_shape_fn(IxDyn(&[1, 2, 3, 3]), |i| {
        let mut m = f64::MIN;
        for (dh, dw) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            m = m.max(x[[0, i[1], 2 * i[2] + dh, 2 * i[3] + dw]]);
        }
        m
    });
    Ok(close("max_pool2d", &out.reveal()?, &want, |_| 0.0))
}

fn a2b_b2a(s: &Session) -> Result<Verdict> {
    // Conversions keep the ring value exactly.
    let x = data(23, &[33], -1000.0, 1000.0);
    let a = input(s, 0, &x)?;
    let words = a.to_binary()?.reveal()?;
    let encoded = a.reveal_ring()?;
    let back = a.to_binary()?.to_arith()?.reveal()?;
    let same_words = if words == encoded {
        Ok(())
    } else {
        Err("to_binary: the revealed words differ from the encoding".to_owned())
    };
    Ok(all([same_words, close("to_binary().to_arith()", &back, &x, |_| 0.0)]))
}

fn functions(s: &Session) -> Result<Verdict> {
    // Approximations, against each method's documented bound plus a few units of the
    // session's precision `u` (truncations inside the method): sigmoid's series is within
    // 3e-5 and its coefficients' rounding 3.3e-5 (so 1e-4); exp is within 1e-3 relative on
    // [-4, 4] where exp(x) >= 0.1, and as much absolute below; reciprocal within
    // 2^-18 |1/x| (so 1e-4 relative). A broken comparison or truncation is off by whole
    // units of the value.
    let u = ulp(s);
    let x = data(24, &[40], -4.0, 4.0);
    let pos = data(25, &[40], 0.5, 20.0);
    let a = input(s, 0, &x)?;
    let p = input(s, 0, &pos)?;
    let bound = |w: &ArrayD<f64>, rel: f64, floor: f64| {
        let w = w.clone();
        move |i: usize| rel * w.as_slice().map_or(1.0, |v| v[i].abs().max(floor)) + 8.0 * u
    };
    let sigmoid = x.mapv(|v| 1.0 / (1.0 + (-v).exp()));
    let exp = x.mapv(f64::exp);
    let recip = pos.mapv(f64::recip);
    Ok(all([
        close("sigmoid", &a.sigmoid()?.reveal()?, &sigmoid, bound(&sigmoid, 1e-4, 1.0)),
        close("exp", &a.exp()?.reveal()?, &exp, bound(&exp, 1e-3, 1.0)),
        close("reciprocal", &p.reciprocal()?.reveal()?, &recip, bound(&recip, 1e-4, 0.0)),
    ]))
}
