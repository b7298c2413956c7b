//! Products by a fixed right operand (`AShare::fix`, `conv2d_fixed`, `matmul_fixed`) for 2
//! and 3 parties, with the trusted first party (test sessions and a secure `run_local`
//! set-up) and the trusted third party: against plain f64 and against `conv2d` / `matmul`
//! on the same shares; one fixed operand reused by three products; the exact bytes of `fix`
//! and of each product (only the left operand is opened, strictly fewer bytes than
//! `conv2d`); typed errors before anything is sent; `Debug` shows shapes only.
//!
//! Tolerances, as in `products.rs`: each encoded input is off by at most 2^-17
//! (`HALF_ULP`), so a sum of `k` products of inputs bounded by `xmax` and `ymax` is off by
//! at most `k ((xmax + ymax) 2^-17 + 2^-34)`, and the one truncation adds at most 2^-16
//! (`ULP`). Against the shared-operand product on the same shares the ring products before
//! truncation are equal (both protocols are exact), and each truncation gives the floor of
//! the quotient or one more, so the two differ by at most one unit, `ULP`.

mod common;

use cloak_comm::{CommConfig, LocalComm, OpStats};
use cloak_mpc::{AShare, DealerKind, MpcError, Session, SessionConfig, run_local};
use cloak_prg::Seed;
use cloak_ring::Conv2dSpec;
use common::*;
use ndarray::{ArrayD, Axis, IxDyn};

fn prod_tol(k: usize, xmax: f64, ymax: f64) -> f64 {
    k as f64 * ((xmax + ymax) * HALF_ULP + HALF_ULP * HALF_ULP) + ULP
}

/// Reference conv2d, NCHW by OIHW, with stride, padding and groups (dilation 1).
fn conv2d_ref(x: &ArrayD<f64>, w: &ArrayD<f64>, sp: &Conv2dSpec) -> ArrayD<f64> {
    let (nb, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    assert_eq!((cg * sp.groups, sp.dilation), (c, (1, 1)));
    let og = o / sp.groups;
    let oh = (h + 2 * sp.padding.0 - kh) / sp.stride.0 + 1;
    let ow = (wd + 2 * sp.padding.1 - kw) / sp.stride.1 + 1;
    let mut out = ArrayD::zeros(IxDyn(&[nb, o, oh, ow]));
    for (n, oc, i, j) in indices4(nb, o, oh, ow) {
        let g = oc / og;
        let mut acc = 0.0;
        for (ch, a, b) in
            (0..cg).flat_map(|ch| (0..kh).flat_map(move |a| (0..kw).map(move |b| (ch, a, b))))
        {
            let y = (i * sp.stride.0 + a).checked_sub(sp.padding.0).filter(|&y| y < h);
            let z = (j * sp.stride.1 + b).checked_sub(sp.padding.1).filter(|&z| z < wd);
            if let (Some(y), Some(z)) = (y, z) {
                acc += x[[n, g * cg + ch, y, z]] * w[[oc, ch, a, b]];
            }
        }
        out[[n, oc, i, j]] = acc;
    }
    out
}

/// Every index of a 4-d array, in order.
fn indices4(
    a: usize,
    b: usize,
    c: usize,
    d: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    (0..a).flat_map(move |i| {
        (0..b).flat_map(move |j| (0..c).flat_map(move |k| (0..d).map(move |l| (i, j, k, l))))
    })
}

/// `[.., m, k] @ [k, n]`.
fn matmul_ref(a: &ArrayD<f64>, b: &ArrayD<f64>) -> ArrayD<f64> {
    let (m, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let batch: usize = a.shape()[..a.ndim() - 2].iter().product();
    let a3 = a.to_shape((batch, m, k)).unwrap();
    let b2 = b.to_shape((k, b.shape()[1])).unwrap();
    let out: Vec<f64> =
        (0..batch).flat_map(|i| a3.index_axis(Axis(0), i).dot(&b2).into_iter()).collect();
    let mut shape = a.shape()[..a.ndim() - 2].to_vec();
    shape.extend([m, b.shape()[1]]);
    arr(&shape, out)
}

/// A strided, padded, grouped convolution and a batched matmul, with three left operands
/// each: the test case.
struct Case {
    xs: Vec<ArrayD<f64>>,
    w: ArrayD<f64>,
    sp: Conv2dSpec,
    ms: Vec<ArrayD<f64>>,
    r: ArrayD<f64>,
}

fn case() -> Case {
    let sp = Conv2dSpec { stride: (2, 1), padding: (1, 1), groups: 2, ..Conv2dSpec::default() };
    Case {
        xs: (0..3).map(|i| rand_arr(&[2, 4, 6, 5], -3.0, 3.0, 100 + i)).collect(),
        w: rand_arr(&[6, 2, 3, 3], -2.0, 2.0, 110),
        sp,
        ms: (0..3).map(|i| rand_arr(&[2, 3, 7], -4.0, 4.0, 120 + i)).collect(),
        r: rand_arr(&[7, 5], -4.0, 4.0, 130),
    }
}

/// The program: fix the weights once, three fixed products of each kind, and the
/// shared-operand products on the first left operands. Returns the revealed values in the
/// order conv_fixed x3, conv2d, matmul_fixed x3, matmul.
fn program(s: &Session, c: &Case) -> Result<Vec<ArrayD<f64>>, MpcError> {
    let n = s.parties();
    let w = share_from(s, n - 1, &c.w)?;
    let r = share_from(s, 1, &c.r)?;
    let (wf, rf) = (w.fix()?, r.fix()?);
    assert_eq!((wf.shape(), rf.shape()), (c.w.shape(), c.r.shape()));
    let mut out = Vec::new();
    let xs: Vec<AShare> = c.xs.iter().map(|x| share0(s, x)).collect::<Result<_, _>>()?;
    for x in &xs {
        out.push(x.conv2d_fixed(&wf, &c.sp)?.reveal()?);
    }
    out.push(xs[0].conv2d(&w, &c.sp)?.reveal()?);
    let ms: Vec<AShare> = c.ms.iter().map(|m| share0(s, m)).collect::<Result<_, _>>()?;
    for m in &ms {
        out.push(m.matmul_fixed(&rf)?.reveal()?);
    }
    out.push(ms[0].matmul(&r)?.reveal()?);
    Ok(out)
}

fn check(c: &Case, got: &[ArrayD<f64>], what: &str) {
    // k = C/g * kh * kw = 2 * 3 * 3 = 18 terms per conv output, 7 per matmul output.
    let conv_tol = prod_tol(18, 3.0, 2.0);
    let mm_tol = prod_tol(7, 4.0, 4.0);
    for i in 0..3 {
        let want = conv2d_ref(&c.xs[i], &c.w, &c.sp);
        assert_close(&got[i], &want, conv_tol, &format!("{what}: conv2d_fixed #{i}"));
        let want = matmul_ref(&c.ms[i], &c.r);
        assert_close(&got[4 + i], &want, mm_tol, &format!("{what}: matmul_fixed #{i}"));
    }
    assert_close(&got[0], &got[3], ULP, &format!("{what}: conv2d_fixed vs conv2d"));
    assert_close(&got[4], &got[7], ULP, &format!("{what}: matmul_fixed vs matmul"));
}

#[test]
fn test_sessions_first_party_dealer() {
    let c = case();
    assert_eq!(conv2d_ref(&c.xs[0], &c.w, &c.sp).shape(), &[2, 6, 3, 5]);
    for n in [2, 3] {
        let got = agreed_vec(run(n, &SessionConfig::default(), |s| program(s, &c)));
        check(&c, &got, &format!("{n} parties, test session"));
    }
}

#[test]
fn secure_setup_with_both_dealers() {
    let c = case();
    for dealer in [DealerKind::TrustedFirstParty, DealerKind::TrustedThirdParty] {
        for n in [2, 3] {
            let cfg = SessionConfig { dealer, ..SessionConfig::default() };
            let out: Vec<_> = run_local(n, &cfg, |s| program(s, &c))
                .into_iter()
                .map(|o| o.unwrap_or_else(|e| panic!("{dealer:?}, {n} parties: {e}")))
                .collect();
            check(&c, &agreed_vec(out), &format!("{dealer:?}, {n} parties"));
        }
    }
}

/// Counters without the time.
fn counts(s: OpStats) -> (u64, u64, u64, u64) {
    (s.rounds, s.messages, s.bytes_sent, s.bytes_received)
}

/// `rounds` rounds of `words` words to each of `p - 1` peers.
fn exchange(p: usize, rounds: u64, words: u64) -> (u64, u64, u64, u64) {
    let bytes = (p as u64 - 1) * words * 8;
    (rounds, rounds * (p as u64 - 1), bytes, bytes)
}

/// Runs `op` on freshly reset statistics; returns the counts under `label`, checking that
/// nothing was counted under any other.
fn measure(s: &Session, label: &str, op: impl FnOnce() -> Result<(), MpcError>) -> OpStats {
    s.reset_stats();
    op().expect("op");
    let stats = s.comm_stats();
    let labels: Vec<&str> = stats.iter().map(|(l, _)| l).collect();
    assert_eq!(labels, [label], "labels");
    stats.get(label).copied().unwrap_or_default()
}

/// `fix` costs one round of the weight's size; each fixed product opens only the left
/// operand (then truncates as `conv2d` does: one opening of the output), strictly fewer bytes than `conv2d` / `matmul`, whose difference is
/// exactly the weight's opening. Shapes of a small ResNet layer: x `[1, 64, 16, 16]`
/// (16384 words), w `[64, 64, 3, 3]` (36864 words), output `[1, 64, 16, 16]`.
#[test]
fn bytes_of_fix_and_of_each_product() {
    let x = rand_arr(&[1, 64, 16, 16], -1.0, 1.0, 140);
    let w = rand_arr(&[64, 64, 3, 3], -0.1, 0.1, 141);
    let sp = Conv2dSpec { padding: (1, 1), ..Conv2dSpec::default() };
    let m = rand_arr(&[6, 5], -1.0, 1.0, 142);
    let r = rand_arr(&[5, 3], -1.0, 1.0, 143);
    for p in PARTIES {
        let trunc = |n: u64| (1, n);
        let sent = run(p, &SessionConfig::default(), |s| {
            let (xs, ws) = (share0(s, &x)?, share_from(s, p - 1, &w)?);
            let (ms, rs) = (share0(s, &m)?, share_from(s, 1, &r)?);
            let mut wf = None;
            let st = measure(s, "fix", || {
                wf = Some(ws.fix()?);
                Ok(())
            });
            assert_eq!(counts(st), exchange(p, 1, 36864), "fix");
            let wf = wf.expect("fixed");
            let (tr, tw) = trunc(16384);
            let fixed = measure(s, "conv2d_fixed", || xs.conv2d_fixed(&wf, &sp).map(drop));
            assert_eq!(counts(fixed), exchange(p, 1 + tr, 16384 + tw), "conv2d_fixed");
            let again = measure(s, "conv2d_fixed", || xs.conv2d_fixed(&wf, &sp).map(drop));
            assert_eq!(counts(again), counts(fixed), "a second product costs the same");
            let shared = measure(s, "conv2d", || xs.conv2d(&ws, &sp).map(drop));
            assert_eq!(counts(shared), exchange(p, 1 + tr, 16384 + 36864 + tw), "conv2d");
            assert!(fixed.bytes_sent < shared.bytes_sent);
            let rf = rs.fix()?;
            let (tr, tw) = trunc(18);
            let st = measure(s, "matmul_fixed", || ms.matmul_fixed(&rf).map(drop));
            assert_eq!(counts(st), exchange(p, 1 + tr, 30 + tw), "matmul_fixed");
            let st2 = measure(s, "matmul", || ms.matmul(&rs).map(drop));
            assert_eq!(counts(st2), exchange(p, 1 + tr, 30 + 15 + tw), "matmul");
            Ok((fixed.bytes_sent, shared.bytes_sent))
        });
        eprintln!(
            "{p} parties, conv [1,64,16,16] by [64,64,3,3]: bytes sent per party {:?} \
             (conv2d_fixed, conv2d)",
            sent[0]
        );
    }
}

/// Shapes that do not fit are typed errors before anything is sent (or any mask number or
/// dealer request is spent: the parties stay in step and the next product works); an
/// operand fixed in another session is refused; `Debug` shows the shape only.
#[test]
fn errors_and_debug() {
    for n in [2, 3] {
        run(n, &SessionConfig::default(), |s| {
            let w = share0(s, &rand_arr(&[4, 3, 3, 3], -1.0, 1.0, 150))?.fix()?;
            let r = share0(s, &rand_arr(&[5, 2], -1.0, 1.0, 151))?.fix()?;
            assert_eq!(format!("{w:?}"), "FixedOperand { shape: [4, 3, 3, 3], .. }");
            s.reset_stats();
            let x = AShare::zeros(s, &[1, 2, 5, 5]);
            let e = x.conv2d_fixed(&w, &Conv2dSpec::default());
            assert!(matches!(e, Err(MpcError::Ring(_))), "channels: {e:?}");
            let e = AShare::zeros(s, &[3, 4]).matmul_fixed(&r);
            assert!(matches!(e, Err(MpcError::Ring(_))), "inner dimension: {e:?}");
            assert_eq!(s.comm_stats().total(), OpStats::default(), "nothing sent");
            let ok = AShare::zeros(s, &[3, 5]).matmul_fixed(&r)?.reveal()?;
            assert!(ok.iter().all(|v| *v == 0.0));
            // A second session at this party, on an endpoint of a separate network.
            let other_comm = LocalComm::create(n, &CommConfig::default()).swap_remove(s.rank());
            let seed = Seed::from_bytes(SEED);
            let other = Session::insecure_for_testing(other_comm, &seed, SessionConfig::default())?;
            let e = AShare::zeros(&other, &[3, 5]).matmul_fixed(&r);
            assert!(matches!(e, Err(MpcError::SessionMismatch { .. })), "session: {e:?}");
            Ok(())
        });
    }
}

/// Every party revealed the same values; returns them.
fn agreed_vec(out: Vec<Vec<ArrayD<f64>>>) -> Vec<ArrayD<f64>> {
    for o in &out[1..] {
        assert_eq!(o, &out[0], "parties disagree on a revealed value");
    }
    out.into_iter().next().expect("a party")
}
