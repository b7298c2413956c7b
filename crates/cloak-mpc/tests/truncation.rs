//! Truncation of fixed-point products, where CrypTen goes wrong.
//!
//! - Dealer truncation pairs (the default for 3+ parties, and `Truncation::DealerPairs` for
//!   2) stay right up to products of about 2^29-2^30 in real value: `20000 * -25000`,
//!   `-32000 * 32000`, and thousands of random products with `|x y|` up to 1e8 all come out
//!   within one unit in the last place, where CrypTen's 3-party `wraps` protocol returns
//!   values near 2^32. In ring units the result is exactly `floor(x y 2^16)` or one more.
//! - Two-party local truncation (the 2-party default) is within one unit on moderate
//!   products.
//! - Other precisions (8 and 24 fractional bits) truncate by their own scale.
//! - `Truncation::LocalShares` is rejected for 3 and 4 parties at session creation.
//!
//! Inputs are on the 2^-16 grid, so encoding is exact and the only error is the truncation:
//! at most 2^-16 (`ULP`). The f64 reference product of two grid values below 2^30 is off by
//! at most 2^30 * 2^-53 = 2^-23 (well under 1e-6), hence tolerances `ULP + 1e-6`.

mod common;

use cloak_mpc::{MpcError, SessionConfig, Truncation};
use cloak_ring::FixedPoint;
use common::*;
use ndarray::ArrayD;

/// Products near the top of the dealer-pair range (below 2^30 = 1.07e9) and random ones
/// with `|x y| <= 1e8`.
fn big_products() -> (ArrayD<f64>, ArrayD<f64>) {
    let mut xs = vec![20000.0, -20000.0, 30000.0, -32000.0, 25000.5, -0.75, 1e-3, 0.0, 32767.0];
    let mut ys =
        vec![-25000.0, -25000.0, 30000.0, 32000.0, -19999.25, 1.0e8, -1.0e5, -5.0e8, 32767.0];
    xs.extend(values(2000, -1.0e4, 1.0e4, 60));
    ys.extend(values(2000, -1.0e4, 1.0e4, 61));
    let n = xs.len();
    (grid(&arr(&[n], xs)), grid(&arr(&[n], ys)))
}

/// Checks revealed ring products against `floor(x y 2^16)` and `floor + 1`, exactly.
fn check_floor_or_next(ring: &[i64], x: &ArrayD<f64>, y: &ArrayD<f64>, what: &str) {
    for (i, ((&r, &a), &b)) in ring.iter().zip(x).zip(y).enumerate() {
        let (a, b) = ((a * 65536.0) as i128, (b * 65536.0) as i128);
        let floor = (a * b).div_euclid(1 << 16);
        assert!(
            i128::from(r) == floor || i128::from(r) == floor + 1,
            "{what}: element {i} ({a} * {b} / 2^32) gave {r} units, want {floor} or {}",
            floor + 1
        );
    }
}

fn dealer_pairs_get_big_products_right(n: usize, cfg: &SessionConfig) {
    let (x, y) = big_products();
    let out = run(n, cfg, |s| {
        let a = share0(s, &x)?;
        let b = share_from(s, n - 1, &y)?;
        let p = a.mul(&b)?;
        let ring: Vec<i64> = p.reveal_ring()?.to_vec().into_iter().map(|v| v as i64).collect();
        Ok((p.reveal()?, ring, a.mul_public(&y)?.reveal()?))
    });
    let (got, ring, public) = out[0].clone();
    for o in &out[1..] {
        assert_eq!(o.0, got, "parties disagree");
    }
    let want = &x * &y;
    assert_close(&got, &want, ULP + 1e-6, &format!("{n} parties: big shared products"));
    assert_close(&public, &want, ULP + 1e-6, &format!("{n} parties: big public products"));
    check_floor_or_next(&ring, &x, &y, &format!("{n} parties"));
}

#[test]
fn three_and_four_parties_big_products() {
    for n in [3, 4] {
        dealer_pairs_get_big_products_right(n, &SessionConfig::default());
    }
}

#[test]
fn two_parties_with_dealer_pairs_big_products() {
    let cfg =
        SessionConfig { truncation: Truncation::DealerPairs.into(), ..SessionConfig::default() };
    dealer_pairs_get_big_products_right(2, &cfg);
    // Explicit dealer pairs for 3 parties is the same as the default.
    dealer_pairs_get_big_products_right(3, &cfg);
}

#[test]
fn big_matmul_accumulates_before_one_truncation() {
    // Four terms of about 2.5e8 each: the sum (about 1e9, below 2^30) is truncated once.
    let x = arr(&[1, 4], vec![16000.0, -16000.0, 15999.5, -16000.25]);
    let y = arr(&[4, 1], vec![16000.0, -16000.0, 16000.0, -16000.0]);
    let want: f64 = x.iter().zip(y.iter()).map(|(a, b)| a * b).sum();
    for n in [3, 4] {
        let out = run(n, &SessionConfig::default(), |s| {
            share0(s, &x)?.matmul(&share_from(s, 1, &y)?)?.reveal()
        });
        assert_close(&agreed(out), &arr(&[1, 1], vec![want]), ULP + 1e-6, "big matmul");
    }
}

#[test]
fn two_party_local_truncation_moderate_products() {
    let x = grid(&rand_arr(&[3000], -100.0, 100.0, 62));
    let y = grid(&rand_arr(&[3000], -100.0, 100.0, 63));
    for truncation in [Truncation::Auto, Truncation::LocalShares] {
        let cfg = SessionConfig { truncation: truncation.into(), ..SessionConfig::default() };
        let out = run(2, &cfg, |s| {
            let p = share0(s, &x)?.mul(&share_from(s, 1, &y)?)?;
            let ring: Vec<i64> = p.reveal_ring()?.to_vec().into_iter().map(|v| v as i64).collect();
            Ok((p.reveal()?, ring))
        });
        let (got, ring) = out[0].clone();
        // Local truncation: floor(s0 / 2^16) + ceil(s1 / 2^16), within one unit; a wrap
        // (probability |x y| / 2^32 per element, below 3e-6 here) would be off by 2^32.
        assert_close(&got, &(&x * &y), ULP + 1e-9, &format!("{truncation:?}"));
        check_floor_or_next(&ring, &x, &y, &format!("{truncation:?}"));
    }
}

#[test]
fn other_precisions() {
    // 8 fractional bits, default truncation: two-party local truncation goes wrong with
    // probability |x y| / 2^48 per element (below 4e-7 here), dealer pairs need products
    // below 2^(62 - 16) = 2^46. 24 fractional bits with dealer pairs for every party count:
    // products below 2^(62 - 48) = 2^14 (local truncation would fail with probability
    // |x y| / 2^16, far too often).
    let cases = [(8u32, 1.0e4, Truncation::Auto), (24, 100.0, Truncation::DealerPairs)];
    for (f, bound, truncation) in cases {
        let fp = FixedPoint::new::<u64>(f).unwrap();
        let ulp = 1.0 / fp.scale();
        let on_grid = |v: f64| (v * fp.scale()).round() / fp.scale();
        let x = rand_arr(&[500], -bound, bound, 64).mapv(on_grid);
        let y = rand_arr(&[500], -bound, bound, 65).mapv(on_grid);
        let cfg = SessionConfig {
            frac_bits: f,
            truncation: truncation.into(),
            ..SessionConfig::default()
        };
        for n in PARTIES {
            let out = run(n, &cfg, |s| {
                assert_eq!(s.fixed_point().frac_bits(), f);
                let a = share0(s, &x)?;
                let b = share_from(s, n - 1, &y)?;
                Ok((a.mul(&b)?.reveal()?, a.reveal()?))
            });
            let (p, a) = out[0].clone();
            // Grid inputs: reveal is exact, a product off by one unit of 2^-f, plus the f64
            // reference's rounding (|x y| 2^-53).
            let tol = ulp + bound * bound * f64::EPSILON;
            assert_close(&a, &x, 0.0, &format!("{n} parties, {f} bits: reveal"));
            assert_close(&p, &(&x * &y), tol, &format!("{n} parties, {f} bits: mul"));
        }
    }
}

#[test]
fn local_truncation_needs_two_parties() {
    let cfg =
        SessionConfig { truncation: Truncation::LocalShares.into(), ..SessionConfig::default() };
    for n in [3, 4] {
        let out = run_typed(n, &cfg, |_| Ok(()));
        for (rank, o) in out.into_iter().enumerate() {
            assert!(
                matches!(o, Err(MpcError::InvalidArgument { op: "session", .. })),
                "{n} parties, party {rank}: {o:?}"
            );
        }
    }
    // Two parties accept it.
    assert!(
        run_typed(2, &cfg, |s| Ok(s.config().truncation.name()))
            .iter()
            .all(|o| matches!(o, Ok("local-shares")))
    );
}

/// 10^6 products with `|x y|` in `[2^28, 2^30)`, two parties: how many are off by more
/// than one unit (local truncation fails by `2^32` in real value with probability about
/// `|x y| / 2^32` each, so 6% to 25% here; dealer pairs never).
fn large_errors_in_a_million_products(truncation: Truncation) -> usize {
    const N: usize = 1 << 20;
    let mag = |v: f64| (2f64.powf(14.0 + v)).round(); // 2^14 .. 2^15 in magnitude
    let x = arr(&[N], values(N, 0.0, 1.0, 70).into_iter().map(mag).collect());
    let sign = values(N, -1.0, 1.0, 72);
    let y = arr(
        &[N],
        values(N, 0.0, 1.0, 71).iter().zip(&sign).map(|(v, s)| mag(*v).copysign(*s)).collect(),
    );
    let cfg = SessionConfig { truncation: truncation.into(), ..SessionConfig::default() };
    let out = run(2, &cfg, |s| share0(s, &x)?.mul(&share_from(s, 1, &y)?)?.reveal());
    out[0].iter().zip(x.iter().zip(&y)).filter(|(p, (a, b))| (**p - *a * *b).abs() > ULP).count()
}

#[test]
fn exact_truncation_near_the_range_edge() {
    assert_eq!(large_errors_in_a_million_products(Truncation::DealerPairs), 0);
    // The same products with local truncation do go wrong, so the check can fail.
    let local = large_errors_in_a_million_products(Truncation::LocalShares);
    assert!(local > 10_000, "{local} local-truncation errors in 2^20 products");
}
