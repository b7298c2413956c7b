//! Property tests: random shapes (zero-length axes included) and values for add and mul
//! with broadcasting, (batched) matmul, relu and lt, with 2 and 3 parties, against plain
//! f64. Few cases each, to keep the suite fast.
//!
//! Tolerances: inputs in [-100, 100]; add is off by at most two encodings (2 * 2^-17), mul by
//! `(|x| + |y|) 2^-17 + 2^-34` plus one truncation (2^-16), matmul by `k` times the product
//! term plus one truncation. relu and lt take values on the 2^-16 grid, where they are
//! exact (lt also on ties and neighbours one unit apart).

mod common;

use cloak_mpc::SessionConfig;
use common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

fn parties() -> impl Strategy<Value = usize> {
    prop_oneof![Just(2usize), Just(3usize)]
}

/// A shape of rank 1 to 3, dimensions 0 to 4.
fn shape() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(prop_oneof![1 => Just(0usize), 6 => 1usize..5], 1..4)
}

/// Values for a shape.
fn array(shape: Vec<usize>) -> impl Strategy<Value = ArrayD<f64>> {
    let n: usize = shape.iter().product();
    proptest::collection::vec(-100.0f64..100.0, n).prop_map(move |v| arr(&shape, v))
}

/// A shape and another that broadcasts to it: a suffix with some dimensions set to 1.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape()
        .prop_flat_map(|s| {
            let len = s.len();
            (Just(s), 0..=len, proptest::collection::vec(any::<bool>(), len))
        })
        .prop_map(|(s, drop, ones)| {
            let t = s[drop..]
                .iter()
                .zip(&ones)
                .map(|(&d, &one)| if one { 1 } else { d })
                .collect::<Vec<_>>();
            (s, t)
        })
}

fn two_arrays() -> impl Strategy<Value = (ArrayD<f64>, ArrayD<f64>)> {
    broadcast_pair().prop_flat_map(|(s, t)| (array(s), array(t)))
}

/// Matmul operands: `[b?, m, k] x [b?, k, n]` or `[b, m, k] x [k, n]`.
fn matmul_operands() -> impl Strategy<Value = (ArrayD<f64>, ArrayD<f64>)> {
    (0usize..3, 0usize..5, 0usize..6, 0usize..5, any::<bool>()).prop_flat_map(
        |(batch, m, k, n, shared_right)| {
            let (sa, sb) = match (batch, shared_right) {
                (0, _) => (vec![m, k], vec![k, n]),
                (b, true) => (vec![b, m, k], vec![k, n]),
                (b, false) => (vec![b, m, k], vec![b, k, n]),
            };
            (array(sa), array(sb))
        },
    )
}

fn matmul_ref(a: &ArrayD<f64>, b: &ArrayD<f64>) -> ArrayD<f64> {
    let (m, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let n = b.shape()[b.ndim() - 1];
    let lead = &a.shape()[..a.ndim() - 2];
    let batch: usize = lead.iter().product();
    let mut out = Vec::new();
    for t in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0;
                for l in 0..k {
                    let av = a.as_slice().unwrap()[t * m * k + i * k + l];
                    let boff = if b.ndim() > 2 { t * k * n } else { 0 };
                    acc += av * b.as_slice().unwrap()[boff + l * n + j];
                }
                out.push(acc);
            }
        }
    }
    let mut shape = lead.to_vec();
    shape.extend([m, n]);
    arr(&shape, out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn add_and_mul_broadcast(p in parties(), (x, y) in two_arrays()) {
        let out = run(p, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, p - 1, &y)?;
            Ok((a.add(&b)?.reveal()?, b.sub(&a)?.reveal()?, a.mul(&b)?.reveal()?))
        });
        let (sum, diff, prod) = out[0].clone();
        assert_close(&sum, &zip_bcast(&x, &y, |a, b| a + b), 2.0 * HALF_ULP, "add");
        assert_close(&diff, &zip_bcast(&x, &y, |a, b| b - a), 2.0 * HALF_ULP, "sub");
        let tol = 200.0 * HALF_ULP + HALF_ULP * HALF_ULP + ULP;
        assert_close(&prod, &zip_bcast(&x, &y, |a, b| a * b), tol, "mul");
    }

    #[test]
    fn matmul_random_shapes(p in parties(), (x, y) in matmul_operands()) {
        let out = run(p, &SessionConfig::default(), |s| {
            share_from(s, 1, &x)?.matmul(&share0(s, &y)?)?.reveal()
        });
        let k = x.shape()[x.ndim() - 1] as f64;
        let tol = k * (200.0 * HALF_ULP + HALF_ULP * HALF_ULP) + ULP;
        let want = matmul_ref(&x, &y);
        assert_close(&agreed(out), &want, tol, "matmul");
    }

    #[test]
    fn relu_exact(p in parties(), x in shape().prop_flat_map(array)) {
        let x = grid(&x);
        let out = run(p, &SessionConfig::default(), |s| {
            let (r, g) = share_from(s, p - 1, &x)?.relu_with_grad()?;
            Ok((r.reveal()?, g.reveal()?))
        });
        let (r, g) = out[0].clone();
        assert_close(&r, &x.mapv(|v| v.max(0.0)), 0.0, "relu");
        assert_close(&g, &x.mapv(|v| ind(v >= 0.0)), 0.0, "relu grad");
    }

    #[test]
    fn lt_exact(p in parties(), (x, y) in two_arrays(), ties in any::<bool>()) {
        let y = grid(&y);
        // With `ties`, x is y broadcast, shifted by -1, 0 or +1 unit: ties and neighbours.
        let x = if ties {
            let b = y.broadcast(IxDyn(x.shape())).expect("y broadcasts to x").to_owned();
            let v = b.iter().enumerate().map(|(i, v)| v + ULP * ((i % 3) as f64 - 1.0)).collect();
            arr(x.shape(), v)
        } else {
            grid(&x)
        };
        let out = run(p, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, 1, &y)?;
            Ok((a.lt(&b)?.reveal()?, b.lt(&a)?.reveal()?))
        });
        let (lt, gt) = out[0].clone();
        assert_close(&lt, &zip_bcast(&x, &y, |a, b| ind(a < b)), 0.0, "x < y");
        assert_close(&gt, &zip_bcast(&x, &y, |a, b| ind(b < a)), 0.0, "y < x");
    }
}

#[test]
fn matmul_reference_is_right() {
    let a = arr(&[2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]);
    let b = arr(&[2, 1], vec![5.0, 6.0]);
    assert_eq!(matmul_ref(&a, &b), arr(&[2, 1, 1], vec![17.0, 39.0]));
    let c = arr(&[2, 2, 1], vec![1.0, 0.0, 0.0, 1.0]);
    assert_eq!(matmul_ref(&a, &c), arr(&[2, 1, 1], vec![1.0, 4.0]));
    assert_eq!(
        matmul_ref(&arr(&[2, 0], vec![]), &arr(&[0, 3], vec![])),
        ArrayD::zeros(IxDyn(&[2, 3]))
    );
}
