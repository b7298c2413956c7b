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

#[test]
fn smoke_max_pool() {
    use cloak_mpc::{MaxMethod, Pool2dSpec};
    for n in [2, 3] {
        let x = arr(&[2, 5], vec![-2.5, 7.0, 0.0, 7.0, 3.0, 1.0, -1.0, -4.0, 9.5, 2.0]);
        let img = arr(&[1, 1, 4, 4], values(16, -5.0, 5.0, 3));
        let cfg = SessionConfig::default();
        let out = run(n, &cfg, |s| {
            let a = share0(s, &x)?;
            let (m, oh) = a.max_with_argmax(1, false, MaxMethod::Tree)?;
            let (m2, oh2) = a.max_with_argmax(1, false, MaxMethod::Pairwise)?;
            let im = share0(s, &img)?;
            let (p, _) = im.max_pool2d(&Pool2dSpec::square(2))?;
            let av = im.avg_pool2d(&Pool2dSpec::square(2))?;
            Ok((m.reveal()?, oh.reveal()?, m2.reveal()?, oh2.reveal()?, p.reveal()?, av.reveal()?))
        });
        let (m, oh, m2, oh2, p, av) = out[0].clone();
        eprintln!("{m:?} {oh:?} {m2:?} {oh2:?} {p:?} {av:?}");
        assert_close(&m, &arr(&[2], vec![7.0, 9.5]), 0.0, "max");
        assert_close(&m2, &arr(&[2], vec![7.0, 9.5]), 0.0, "max pairwise");
        let want = arr(&[2, 5], vec![0., 1., 0., 0., 0., 0., 0., 0., 1., 0.]);
        assert_close(&oh, &want, 0.0, "argmax");
        assert_close(&oh2, &want, 0.0, "argmax pairwise");
        let _ = (p, av);
    }
}

#[test]
fn run_local_with_both_dealers() {
    use cloak_mpc::{AShare, DealerKind, run_local};
    let x = arr(&[4], vec![1.5, -2.0, 0.25, 3.0]);
    for dealer in [DealerKind::TrustedFirstParty, DealerKind::TrustedThirdParty] {
        for n in [2, 3] {
            let cfg = SessionConfig { dealer, ..SessionConfig::default() };
            let out = run_local(n, &cfg, |s| {
                let a = AShare::share(s, 0, (s.rank() == 0).then_some(&x), &[4])?;
                a.mul(&a)?.relu()?.reveal()
            });
            for o in out {
                assert_close(&o.expect("party"), &x.mapv(|v| v * v), 1e-3, "square");
            }
        }
    }
}
