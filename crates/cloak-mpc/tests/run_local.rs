//! `run_local`: all parties as threads with a secure set-up, with either dealer, for 2 and 3
//! parties. The reference squares inputs on the 2^-16 grid, so the only error is the one
//! truncation of the product (one unit, 2^-16).

mod common;
use cloak_mpc::SessionConfig;
use common::*;

#[test]
fn run_local_with_both_dealers() {
    use cloak_mpc::{AShare, DealerKind, run_local};
    let x = arr(&[4], vec![1.5, -2.0, 0.25, 3.0]); // on the 2^-16 grid
    for dealer in [DealerKind::TrustedFirstParty, DealerKind::TrustedThirdParty] {
        for n in [2, 3] {
            let cfg = SessionConfig { dealer, ..SessionConfig::default() };
            let out = run_local(n, &cfg, |s| {
                let a = AShare::share(s, 0, (s.rank() == 0).then_some(&x), &[4])?;
                a.mul(&a)?.relu()?.reveal()
            });
            for o in out {
                assert_close(&o.expect("party"), &x.mapv(|v| v * v), ULP, "square");
            }
        }
    }
}
