mod common;
use cloak_mpc::SessionConfig;
use common::*;

#[test]
fn smoke_mul_relu() {
    for n in PARTIES {
        let x = arr(&[6], vec![-2.5, -1.0, 0.0, 0.25, 3.0, 100.0]);
        let y = arr(&[6], vec![1.5, -2.0, 7.0, 4.0, -3.0, 0.5]);
        let cfg = SessionConfig::default();
        let out = run(n, &cfg, |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, 1, &y)?;
            let m = a.mul(&b)?.reveal()?;
            let r = a.relu()?.reveal()?;
            let l = a.lt(&b)?.reveal()?;
            let bin = a.to_binary()?.to_arith()?.reveal()?;
            let mm = a.reshape(&[2, 3])?.matmul(&b.reshape(&[3, 2])?)?.reveal()?;
            Ok((m, r, l, bin, mm))
        });
        let (m, r, l, bin, _mm) = out[0].clone();
        eprintln!("{n}: {m:?} {r:?} {l:?} {bin:?}");
        assert_close(&m, &(&x * &y), 1e-3, "mul");
        assert_close(&r, &x.mapv(|v| v.max(0.0)), 1e-4, "relu");
        assert_close(&bin, &x, 1e-9, "a2b-b2a");
        assert_close(
            &l,
            &ndarray::Zip::from(&x).and(&y).map_collect(|a, b| if a < b { 1.0 } else { 0.0 }),
            0.0,
            "lt",
        );
    }
}
