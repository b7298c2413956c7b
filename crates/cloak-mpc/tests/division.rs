//! Exact division by public integers (`div_int`, and `mean` built on it) against f64, for 2,
//! 3 and 4 parties. Inputs are on the 2^-16 grid (encoded exactly), so the only error is the
//! division pair's: at most two units in the last place (2 * 2^-16) whatever the magnitude,
//! where a product with the encoded 1/d would be off by up to |x| * 2^-17 (76 for |x| = 1e7).

mod common;

use cloak_mpc::{MpcError, SessionConfig};
use common::*;

#[test]
fn div_int_is_within_two_ulp_at_any_magnitude() {
    let mut v = values(200, -1.0e8, 1.0e8, 61);
    v.extend([0.0, -1.0, 1.0, 7.0, -7.0, 1.0e10, -1.0e10, 2.0f64.powi(45), -(2.0f64.powi(45))]);
    let x = grid(&arr(&[v.len()], v));
    for p in PARTIES {
        for d in [2u64, 3, 7, 1000, 65_537, 1 << 40] {
            let out = run(p, &SessionConfig::default(), |s| share0(s, &x)?.div_int(d)?.reveal());
            let want = x.mapv(|v| v / d as f64);
            assert_close(&agreed(out), &want, 2.0 * ULP, &format!("{p} parties, / {d}"));
        }
    }
}

#[test]
fn means_of_many_large_values_stay_exact() {
    // 4096 values of magnitude up to 1e4: their sum reaches about 1e7, where a product with
    // the encoded 1/4096 would still be exact (a power of two) but 1/4095 would not.
    let x = grid(&rand_arr(&[2, 4095], -1.0e4, 1.0e4, 62));
    for p in PARTIES {
        let out = run(p, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            Ok((a.mean(1, false)?.reveal()?, a.mean_all()?.reveal()?))
        });
        let (row, all) = out[0].clone();
        let want_row = x.mean_axis(ndarray::Axis(1)).expect("non-empty");
        assert_close(&row, &want_row, 2.0 * ULP, &format!("{p} parties: mean along 1"));
        let want_all = arr(&[], vec![x.mean().expect("non-empty")]);
        assert_close(&all, &want_all, 2.0 * ULP, &format!("{p} parties: mean of all"));
    }
}

#[test]
fn div_int_by_zero_and_one() {
    let x = grid(&rand_arr(&[5], -3.0, 3.0, 63));
    let out = run_typed(2, &SessionConfig::default(), |s| {
        let a = share0(s, &x)?;
        let zero = a.div_int(0).map(drop);
        s.reset_stats();
        let one = a.div_int(1)?;
        assert_eq!(s.comm_stats().total().rounds, 0, "division by one is free");
        Ok((zero, one.reveal()?))
    });
    for o in out {
        let (zero, one) = o.expect("party");
        assert!(matches!(zero, Err(MpcError::InvalidArgument { op: "div_int", .. })), "{zero:?}");
        assert_close(&one, &x, 0.0, "/ 1");
    }
}
