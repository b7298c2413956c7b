//! The protocols over real sockets: parties as threads over loopback TCP (the separate-process
//! runs live in the examples' tests), with secure set-up and both dealers, for 2 and 3
//! parties. References are computed on the inputs rounded to the 2^-16 grid, so the only
//! error left is the one truncation of a product (at most one ulp, 2^-16, with dealer pairs;
//! one ulp except with probability about |x y| / 2^32 for two-party local truncation);
//! selections and comparisons are exact.

mod common;

use std::time::Duration;

use cloak_comm::runner::run_tcp_threads;
use cloak_comm::{CommConfig, Communicator};
use cloak_mpc::{AShare, DealerKind, MpcError, Session, SessionConfig};
use common::{arr, assert_close, values};

fn check(parties: usize, dealer: DealerKind) {
    let n = 64;
    let x = arr(&[8, 8], values(n, -4.0, 4.0, 11));
    let y = arr(&[8, 8], values(n, -4.0, 4.0, 12));
    let config = SessionConfig { dealer, ..SessionConfig::default() };
    let ttp = dealer == DealerKind::TrustedThirdParty;
    let world = parties + usize::from(ttp);
    let comm_cfg = CommConfig::with_timeouts(Duration::from_secs(20));
    let outcomes = run_tcp_threads(world, &comm_cfg, |mut comm| -> Result<_, MpcError> {
        if ttp && comm.rank() == parties {
            cloak_mpc::run_dealer(&mut comm as &mut dyn Communicator, parties)?;
            return Ok(None);
        }
        let s = Session::setup(Box::new(comm), config.clone())?;
        let xs = AShare::share(&s, 0, (s.rank() == 0).then_some(&x), &[8, 8])?;
        let ys = AShare::share(&s, parties - 1, (s.rank() == parties - 1).then_some(&y), &[8, 8])?;
        let out = (
            xs.mul(&ys)?.reveal()?,
            xs.matmul(&ys)?.reveal()?,
            xs.relu()?.reveal()?,
            xs.lt(&ys)?.reveal()?,
            xs.max(1, false)?.reveal()?,
        );
        s.close()?;
        Ok(Some(out))
    })
    .expect("loopback mesh");
    let q = |v: f64| (v * 65536.0).round() / 65536.0;
    let (xq, yq) = (x.mapv(q), y.mapv(q));
    let mm = xq
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .expect("2-d")
        .dot(&yq.view().into_dimensionality::<ndarray::Ix2>().expect("2-d"))
        .into_dyn();
    let max = xq.map_axis(ndarray::Axis(1), |r| r.fold(f64::MIN, |a, &b| a.max(b)));
    for (rank, o) in outcomes.into_iter().enumerate().take(parties) {
        let (m, p, r, l, mx) = o.expect("party").expect("computing party");
        let what = format!("{parties} parties, {dealer:?}, rank {rank}");
        assert_close(&m, &(&xq * &yq), 1.0 / 65536.0, &format!("{what}: mul"));
        // The 8 products of an entry are exact in the ring; one truncation of their sum.
        assert_close(&p, &mm, 1.0 / 65536.0, &format!("{what}: matmul"));
        assert_close(&r, &xq.mapv(|v| v.max(0.0)), 0.0, &format!("{what}: relu"));
        let lt = ndarray::Zip::from(&xq).and(&yq).map_collect(|a, b| f64::from(u8::from(a < b)));
        assert_close(&l, &lt, 0.0, &format!("{what}: lt"));
        assert_close(&mx, &max, 0.0, &format!("{what}: max"));
    }
}

#[test]
fn two_and_three_parties_over_tcp_with_first_party_dealer() {
    check(2, DealerKind::TrustedFirstParty);
    check(3, DealerKind::TrustedFirstParty);
}

#[test]
fn two_and_three_parties_over_tcp_with_third_party_dealer() {
    check(2, DealerKind::TrustedThirdParty);
    check(3, DealerKind::TrustedThirdParty);
}
