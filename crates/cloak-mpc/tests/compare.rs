//! Comparisons and what is built on them, for 2, 3 and 4 parties, against plain f64: ltz,
//! lt/le/gt/ge/eq/ne between shared tensors (with broadcasting, ties, and values one unit
//! apart) and their `*_public` versions, sign (0 counts as positive), relu, relu_with_grad
//! (derivative 1 at 0), abs, where_select, clamp, large magnitudes, and empty tensors.
//!
//! Comparisons are exact on the encoded values, so every input is on the 2^-16 grid (where
//! encoding is exact) and the reference compares the same values in f64: tolerance 0,
//! including ties and neighbours one unit (2^-16) apart. relu, abs, sign and clamp multiply
//! by 0/1 bits without truncation: also exact (tolerance 0). where_select is one product
//! with a truncation: within 2^-16.

mod common;

use cloak_mpc::{AShare, SessionConfig};
use common::*;
use ndarray::{ArrayD, Axis};

/// `x` of shape [3, 40]: row 0 equals `y`, row 1 is `y` plus or minus one unit, row 2 is
/// random; `y` of shape [40] mixes zeros, tiny and large values.
fn operands() -> (ArrayD<f64>, ArrayD<f64>) {
    let mut y = grid(&rand_arr(&[40], -5.0, 5.0, 70));
    for (i, v) in [0.0, -0.0, ULP, -ULP, 1.0e6, -1.0e6, 1.0e9, -1.0e9].into_iter().enumerate() {
        y[[i]] = v;
    }
    let mut x = grid(&rand_arr(&[3, 40], -5.0, 5.0, 71));
    for j in 0..40 {
        x[[0, j]] = y[[j]];
        x[[1, j]] = y[[j]] + if j % 2 == 0 { ULP } else { -ULP };
    }
    x[[2, 0]] = -1.0e9;
    x[[2, 1]] = 1.0e9;
    (x, y)
}

#[test]
fn shared_comparisons_with_broadcasting() {
    let (x, y) = operands();
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, n - 1, &y)?;
            Ok(vec![
                a.ltz()?.reveal()?,
                a.lt(&b)?.reveal()?,
                a.le(&b)?.reveal()?,
                a.gt(&b)?.reveal()?,
                a.ge(&b)?.reveal()?,
                a.eq(&b)?.reveal()?,
                a.ne(&b)?.reveal()?,
                b.lt(&a)?.reveal()?,
                b.eq(&a)?.reveal()?,
            ])
        });
        let got = agreed_vec(out);
        let want = [
            x.mapv(|v| ind(v < 0.0)),
            zip_bcast(&x, &y, |a, b| ind(a < b)),
            zip_bcast(&x, &y, |a, b| ind(a <= b)),
            zip_bcast(&x, &y, |a, b| ind(a > b)),
            zip_bcast(&x, &y, |a, b| ind(a >= b)),
            zip_bcast(&x, &y, |a, b| ind(a == b)),
            zip_bcast(&x, &y, |a, b| ind(a != b)),
            zip_bcast(&x, &y, |a, b| ind(b < a)),
            zip_bcast(&x, &y, |a, b| ind(b == a)),
        ];
        let names = ["ltz", "lt", "le", "gt", "ge", "eq", "ne", "y < x", "y == x"];
        assert_eq!(got.len(), want.len());
        for ((g, w), what) in got.iter().zip(&want).zip(names) {
            assert_close(g, w, 0.0, &format!("{n} parties: {what}"));
        }
    }
}

#[test]
fn public_comparisons() {
    let (x, y) = operands();
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = share_from(s, 1, &x)?;
            Ok(vec![
                a.lt_public(&y)?.reveal()?,
                a.le_public(&y)?.reveal()?,
                a.gt_public(&y)?.reveal()?,
                a.ge_public(&y)?.reveal()?,
                a.eq_public(&y)?.reveal()?,
                a.ne_public(&y)?.reveal()?,
            ])
        });
        let got = agreed_vec(out);
        let ops: [(&str, Relation); 6] = [
            ("lt", |a, b| a < b),
            ("le", |a, b| a <= b),
            ("gt", |a, b| a > b),
            ("ge", |a, b| a >= b),
            ("eq", |a, b| a == b),
            ("ne", |a, b| a != b),
        ];
        for ((what, f), g) in ops.iter().zip(&got) {
            let want = zip_bcast(&x, &y, |a, b| ind(f(a, b)));
            assert_close(g, &want, 0.0, &format!("{n} parties: {what}_public"));
        }
        // A public operand larger than the shared one broadcasts the other way.
        let row = x.index_axis(Axis(0), 2).to_owned();
        let out = run(n, &SessionConfig::default(), |s| share0(s, &row)?.lt_public(&x)?.reveal());
        let want = zip_bcast(&row, &x, |a, b| ind(a < b));
        assert_close(&agreed(out), &want, 0.0, &format!("{n} parties: [40] < [3, 40]"));
    }
}

#[test]
fn sign_relu_abs() {
    let (x, _) = operands();
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = share_from(s, n - 1, &x)?;
            let (r, g) = a.relu_with_grad()?;
            Ok(vec![
                a.sign()?.reveal()?,
                a.relu()?.reveal()?,
                r.reveal()?,
                g.reveal()?,
                a.abs()?.reveal()?,
            ])
        });
        let got = agreed_vec(out);
        let want = [
            x.mapv(|v| if v < 0.0 { -1.0 } else { 1.0 }),
            x.mapv(|v| v.max(0.0)),
            x.mapv(|v| v.max(0.0)),
            x.mapv(|v| ind(v >= 0.0)),
            x.mapv(f64::abs),
        ];
        for ((g, w), what) in got.iter().zip(&want).zip(["sign", "relu", "relu'", "grad", "abs"]) {
            assert_close(g, w, 0.0, &format!("{n} parties: {what}"));
        }
    }
}

#[test]
fn where_select_and_clamp() {
    let (x, y) = operands();
    // where_select is a product: keep |x - y| small, so that two-party local truncation
    // (wrong with probability |x - y| / 2^32 per element) stays right.
    let x = x.mapv(|v| v.clamp(-1.0e3, 1.0e3));
    let y = y.mapv(|v| v.clamp(-1.0e3, 1.0e3));
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, 1, &y)?;
            let cond = a.lt(&b)?;
            Ok(vec![
                AShare::where_select(&cond, &a, &b)?.reveal()?,
                AShare::where_select(&cond, &b, &a)?.reveal()?,
                a.clamp(-1.5, 2.25)?.reveal()?,
                a.clamp(0.5, 0.5)?.reveal()?,
                b.clamp(-1.0e6, -3.0)?.reveal()?,
            ])
        });
        let got = agreed_vec(out);
        // One product by an exact 0/1 and one truncation: within 2^-16.
        assert_close(&got[0], &zip_bcast(&x, &y, f64::min), ULP, &format!("{n}: where min"));
        assert_close(&got[1], &zip_bcast(&x, &y, f64::max), ULP, &format!("{n}: where max"));
        // clamp = lo + relu(x - lo) - relu(x - hi): exact on grid values and bounds.
        assert_close(&got[2], &x.mapv(|v| v.clamp(-1.5, 2.25)), 0.0, &format!("{n}: clamp"));
        assert_close(&got[3], &x.mapv(|_| 0.5), 0.0, &format!("{n}: clamp to a point"));
        assert_close(&got[4], &y.mapv(|v| v.clamp(-1.0e6, -3.0)), 0.0, &format!("{n}: clamp y"));
    }
}

#[test]
fn many_random_relus_and_comparisons() {
    // Shares of random values cover every carry pattern of the adder; 3000 elements span
    // many 64-element words of the bit-plane layout (the last one partial).
    let x = grid(&rand_arr(&[3000], -1.0e4, 1.0e4, 72));
    let y = grid(&rand_arr(&[3000], -1.0e4, 1.0e4, 73));
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, n - 1, &y)?;
            Ok(vec![a.relu()?.reveal()?, a.lt(&b)?.reveal()?, a.eq(&a)?.reveal()?])
        });
        let got = agreed_vec(out);
        assert_close(&got[0], &x.mapv(|v| v.max(0.0)), 0.0, &format!("{n}: relu"));
        assert_close(&got[1], &zip_bcast(&x, &y, |a, b| ind(a < b)), 0.0, &format!("{n}: lt"));
        assert_close(&got[2], &x.mapv(|_| 1.0), 0.0, &format!("{n}: x == x"));
    }
}

#[test]
fn empty_comparisons() {
    for shape in [vec![0], vec![2, 0]] {
        let e = arr(&shape, vec![]);
        for n in PARTIES {
            let out = run(n, &SessionConfig::default(), |s| {
                let a = share0(s, &e)?;
                let (r, g) = a.relu_with_grad()?;
                Ok(vec![
                    a.ltz()?.reveal()?,
                    a.lt(&a)?.reveal()?,
                    a.eq(&a)?.reveal()?,
                    r.reveal()?,
                    g.reveal()?,
                    a.abs()?.reveal()?,
                    a.sign()?.reveal()?,
                    a.clamp(0.0, 1.0)?.reveal()?,
                    AShare::where_select(&a, &a, &a)?.reveal()?,
                ])
            });
            for got in out {
                for (i, g) in got.iter().enumerate() {
                    assert_eq!(g.shape(), shape.as_slice(), "{n} parties: empty op {i}");
                }
            }
        }
    }
}

/// A comparison of two reals.
type Relation = fn(f64, f64) -> bool;

fn agreed_vec(out: Vec<Vec<ArrayD<f64>>>) -> Vec<ArrayD<f64>> {
    for o in &out[1..] {
        assert_eq!(o, &out[0], "parties disagree on a revealed value");
    }
    out.into_iter().next().expect("a party")
}

#[test]
fn sign_bit_at_the_ends_of_the_range() {
    // ltz is the top bit of the encoding, right for every encodable value; differences
    // must stay below 2^47 for lt, so compare values of one sign with each other.
    // f64 resolves 2^-6 near 2^47: `top` is the largest such value below 2^47.
    let step = 1.0 / 64.0;
    let top = (1i128 << 47) as f64 - step;
    let x = arr(&[6], vec![top, -top - step, 1.0e14, -1.0e14, ULP, -ULP]);
    let y = arr(&[6], vec![top - step, -top, 1.0e14 - 1.0, -1.0e14 + 1.0, 0.0, 0.0]);
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = share_from(s, 1, &x)?;
            let b = share0(s, &y)?;
            Ok(vec![a.ltz()?.reveal()?, a.gt(&b)?.reveal()?, a.relu()?.reveal()?])
        });
        let got = agreed_vec(out);
        assert_close(&got[0], &x.mapv(|v| ind(v < 0.0)), 0.0, &format!("{n}: ltz"));
        assert_close(&got[1], &zip_bcast(&x, &y, |a, b| ind(a > b)), 0.0, &format!("{n}: gt"));
        assert_close(&got[2], &x.mapv(|v| v.max(0.0)), 0.0, &format!("{n}: relu"));
    }
}

#[test]
fn non_contiguous_operands() {
    // Transposed and broadcast shares feed the protocols in logical (row-major) order.
    let x = grid(&rand_arr(&[3, 5], -4.0, 4.0, 74));
    let y = grid(&rand_arr(&[5], -4.0, 4.0, 75));
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?.t()?; // [5, 3], not contiguous
            let b = share_from(s, 1, &y)?.unsqueeze(1)?.broadcast_to(&[5, 3])?;
            Ok(vec![
                a.relu()?.reveal()?,
                a.lt(&b)?.reveal()?,
                a.mul(&b)?.reveal()?,
                a.to_binary()?.to_arith()?.reveal()?,
                a.clamp(-1.0, 1.0)?.reveal()?,
                a.eq(&a.permute(&[0, 1])?)?.reveal()?,
            ])
        });
        let got = agreed_vec(out);
        let xt = x.t().to_owned().into_dyn();
        let yb = y.clone().insert_axis(Axis(1));
        assert_close(&got[0], &xt.mapv(|v| v.max(0.0)), 0.0, &format!("{n}: relu"));
        assert_close(&got[1], &zip_bcast(&xt, &yb, |a, b| ind(a < b)), 0.0, &format!("{n}: lt"));
        // Grid inputs: one truncation.
        assert_close(&got[2], &zip_bcast(&xt, &yb, |a, b| a * b), ULP, &format!("{n}: mul"));
        assert_close(&got[3], &xt, 0.0, &format!("{n}: a2b/b2a"));
        assert_close(&got[4], &xt.mapv(|v| v.clamp(-1.0, 1.0)), 0.0, &format!("{n}: clamp"));
        assert_close(&got[5], &xt.mapv(|_| 1.0), 0.0, &format!("{n}: eq"));
    }
}
