//! Failures are typed values at every party, never hangs, for 2, 3 and 4 parties.
//!
//! - Shape mismatches (add, sub, mul, matmul, convolutions, comparisons, where, AND, XOR,
//!   concat, public operands) give `MpcError::Ring(RingError::ShapeMismatch { .. })` (or
//!   `InvalidConv`) at every party before anything is sent: the session stays usable and
//!   in step, and nothing was counted.
//! - Bad arguments: share (NaN, out of range, wrong shape at the owner; bad owner; a value
//!   passed by a non-owner), reveal_to out of range, division by zero, clamp bounds, means
//!   of nothing, shifts by 64, slices and axes out of range, operands of different
//!   sessions, and session configurations (precision, local truncation for 3+ parties,
//!   set-up with too few parties).
//! - Parties that diverge, or a party that quits, make every other party fail with a
//!   communication error within the timeout.

mod common;

use std::time::{Duration, Instant};

use cloak_comm::runner::run_threads;
use cloak_comm::{CommConfig, LocalComm};
use cloak_mpc::{AShare, BShare, DealerKind, MpcError, Session, SessionConfig, Truncation};
use cloak_prg::Seed;
use cloak_ring::{Conv2dSpec, RingError, RingTensor};
use common::*;
use ndarray::ArrayD;

/// A call that should fail at every party.
type Bad = fn(&Session) -> Result<(), MpcError>;

/// What a ring error should be.
type RingPred = fn(&RingError) -> bool;

/// What an error should be.
type MpcPred = fn(&MpcError) -> bool;

/// Whether `e` is a ring shape mismatch.
fn is_shape_mismatch(e: &MpcError) -> bool {
    matches!(e, MpcError::Ring(RingError::ShapeMismatch { .. }))
}

/// Runs `bad` at every party, expects `pred` of its error everywhere, then checks that the
/// session still works (a mul and a reveal, in step with the other parties) and that the
/// failed call sent nothing.
fn rejected_before_sending(
    what: &str,
    bad: impl Fn(&Session) -> Result<(), MpcError> + Sync,
    pred: MpcPred,
) {
    let x = arr(&[3], vec![1.5, -2.0, 0.25]);
    for n in PARTIES {
        let out = run_typed(n, &SessionConfig::default(), |s| {
            let err = match bad(s) {
                Ok(()) => panic!("{what}: accepted at party {}", s.rank()),
                Err(e) => e,
            };
            assert!(pred(&err), "{what}: party {}: unexpected {err:?}", s.rank());
            let sent = s.comm_stats().total();
            assert_eq!((sent.rounds, sent.bytes_sent), (0, 0), "{what}: sent before failing");
            let a = share0(s, &x)?;
            a.mul(&a)?.reveal()
        });
        for (rank, o) in out.into_iter().enumerate() {
            let v = o.unwrap_or_else(|e| panic!("{what}: {n} parties, party {rank}: {e}"));
            // A product of inputs below 2, then one truncation.
            assert_close(&v, &x.mapv(|t| t * t), 4.0 * HALF_ULP + ULP, what);
        }
    }
}

fn shares(s: &Session) -> Result<(AShare, AShare), MpcError> {
    let a = share0(s, &rand_arr(&[2, 3], -1.0, 1.0, 1))?;
    let b = share_from(s, 1, &rand_arr(&[4], -1.0, 1.0, 2))?;
    Ok((a, b))
}

#[test]
fn shape_mismatches_are_typed_everywhere() {
    rejected_before_sending(
        "add",
        |s| shares(s).and_then(|(a, b)| a.add(&b).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "sub",
        |s| shares(s).and_then(|(a, b)| b.sub(&a).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "mul",
        |s| shares(s).and_then(|(a, b)| a.mul(&b).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "matmul",
        |s| shares(s).and_then(|(a, _)| a.matmul(&a).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "matmul 1-d",
        |s| shares(s).and_then(|(_, b)| b.matmul(&b).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "batched matmul",
        |s| {
            let a = AShare::zeros(s, &[2, 3, 4]);
            let b = AShare::zeros(s, &[3, 4, 5]);
            a.matmul(&b).map(drop)
        },
        is_shape_mismatch,
    );
    rejected_before_sending(
        "matmul_public",
        |s| {
            shares(s).and_then(|(a, _)| {
                a.matmul_public(&ArrayD::zeros(ndarray::IxDyn(&[2, 2]))).map(drop)
            })
        },
        is_shape_mismatch,
    );
    rejected_before_sending(
        "lt",
        |s| shares(s).and_then(|(a, b)| a.lt(&b).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "le",
        |s| shares(s).and_then(|(a, b)| a.le(&b).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "eq",
        |s| shares(s).and_then(|(a, b)| a.eq(&b).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "lt_public",
        |s| shares(s).and_then(|(a, _)| a.lt_public(&arr(&[4], vec![0.0; 4])).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "add_public",
        |s| shares(s).and_then(|(a, _)| a.add_public(&arr(&[2], vec![0.0; 2])).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "mul_public",
        |s| shares(s).and_then(|(a, _)| a.mul_public(&arr(&[4], vec![1.0; 4])).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "where",
        |s| shares(s).and_then(|(a, b)| AShare::where_select(&a, &a, &b).map(drop)),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "concat",
        |s| shares(s).and_then(|(a, b)| AShare::concat(&[&a, &b], 0).map(drop)),
        |e| matches!(e, MpcError::Ring(_)),
    );
    rejected_before_sending(
        "and",
        |s| {
            let x = xor_share(s, &RingTensor::zeros(&[3]));
            let y = xor_share(s, &RingTensor::zeros(&[4]));
            BShare::and_many(&[(&x, &x), (&x, &y)]).map(drop)
        },
        is_shape_mismatch,
    );
    rejected_before_sending(
        "xor",
        |s| {
            let x = xor_share(s, &RingTensor::zeros(&[3]));
            let y = xor_share(s, &RingTensor::zeros(&[4]));
            x.xor(&y).map(drop)
        },
        is_shape_mismatch,
    );
    rejected_before_sending(
        "xor_public",
        |s| xor_share(s, &RingTensor::zeros(&[3])).xor_public(&RingTensor::zeros(&[2])).map(drop),
        is_shape_mismatch,
    );
}

#[test]
fn convolution_mismatches_are_typed_everywhere() {
    let invalid_conv = |e: &MpcError| matches!(e, MpcError::Ring(RingError::InvalidConv { .. }));
    let spec = Conv2dSpec::default();
    rejected_before_sending(
        "conv2d channels",
        |s| {
            AShare::zeros(s, &[1, 3, 5, 5])
                .conv2d(&AShare::zeros(s, &[2, 2, 3, 3]), &spec)
                .map(drop)
        },
        invalid_conv,
    );
    rejected_before_sending(
        "conv2d groups",
        |s| {
            let g = Conv2dSpec { groups: 2, ..spec };
            AShare::zeros(s, &[1, 3, 5, 5]).conv2d(&AShare::zeros(s, &[2, 3, 3, 3]), &g).map(drop)
        },
        invalid_conv,
    );
    rejected_before_sending(
        "conv2d kernel too large",
        |s| {
            AShare::zeros(s, &[1, 1, 2, 2])
                .conv2d(&AShare::zeros(s, &[1, 1, 3, 3]), &spec)
                .map(drop)
        },
        invalid_conv,
    );
    rejected_before_sending(
        "conv2d rank",
        |s| AShare::zeros(s, &[1, 5, 5]).conv2d(&AShare::zeros(s, &[1, 1, 3, 3]), &spec).map(drop),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "conv1d rank",
        |s| AShare::zeros(s, &[1, 1, 5, 5]).conv1d(&AShare::zeros(s, &[1, 1, 3]), &spec).map(drop),
        is_shape_mismatch,
    );
    rejected_before_sending(
        "conv2d_public channels",
        |s| {
            let w = ArrayD::zeros(ndarray::IxDyn(&[2, 2, 3, 3]));
            AShare::zeros(s, &[1, 3, 5, 5]).conv2d_public(&w, &spec).map(drop)
        },
        invalid_conv,
    );
    rejected_before_sending(
        "conv_transpose2d output padding",
        |s| {
            let x = AShare::zeros(s, &[1, 2, 3, 3]);
            x.conv_transpose2d(&AShare::zeros(s, &[2, 2, 3, 3]), &spec, (1, 0)).map(drop)
        },
        invalid_conv,
    );
    rejected_before_sending(
        "conv2d_weight_grad",
        |s| {
            let x = AShare::zeros(s, &[1, 2, 5, 5]);
            x.conv2d_weight_grad(&AShare::zeros(s, &[1, 3, 4, 4]), &[3, 2, 3, 3], &spec).map(drop)
        },
        |e| matches!(e, MpcError::Ring(_)),
    );
    rejected_before_sending(
        "conv2d_input_grad",
        |s| {
            let g = AShare::zeros(s, &[1, 3, 4, 4]);
            g.conv2d_input_grad(&AShare::zeros(s, &[3, 2, 3, 3]), &[1, 2, 5, 5], &spec).map(drop)
        },
        |e| matches!(e, MpcError::Ring(_)),
    );
}

fn is_invalid(op: &'static str) -> impl Fn(&MpcError) -> bool {
    move |e| matches!(e, MpcError::InvalidArgument { op: o, .. } if *o == op)
}

#[test]
fn bad_arguments_are_typed_everywhere() {
    let cases: Vec<(&str, Bad, &'static str)> = vec![
        ("owner out of range", |s| AShare::share(s, s.parties(), None, &[2]).map(drop), "share"),
        (
            "reveal_to out of range",
            |s| AShare::zeros(s, &[2]).reveal_to(s.parties()).map(drop),
            "reveal_to",
        ),
        ("div_scalar by 0", |s| AShare::zeros(s, &[2]).div_scalar(0.0).map(drop), "div_scalar"),
        (
            "div_scalar by NaN",
            |s| AShare::zeros(s, &[2]).div_scalar(f64::NAN).map(drop),
            "div_scalar",
        ),
        (
            "div_public by 0",
            |s| AShare::zeros(s, &[2]).div_public(&arr(&[2], vec![1.0, 0.0])).map(drop),
            "div_public",
        ),
        ("clamp lo > hi", |s| AShare::zeros(s, &[2]).clamp(1.0, -1.0).map(drop), "clamp"),
        ("clamp NaN", |s| AShare::zeros(s, &[2]).clamp(f64::NAN, 1.0).map(drop), "clamp"),
        ("mean_all of nothing", |s| AShare::zeros(s, &[0]).mean_all().map(drop), "div_int"),
        (
            "mean of an empty axis",
            |s| AShare::zeros(s, &[2, 0]).mean(1, false).map(drop),
            "div_int",
        ),
        ("div_int by zero", |s| AShare::zeros(s, &[2]).div_int(0).map(drop), "div_int"),
        ("concat of nothing", |_| AShare::concat(&[], 0).map(drop), "concat"),
        ("stack of nothing", |_| AShare::stack(&[], 0).map(drop), "stack"),
    ];
    for (what, bad, op) in cases {
        for n in PARTIES {
            for (rank, o) in run_typed(n, &SessionConfig::default(), bad).into_iter().enumerate() {
                let e = o.expect_err(what);
                assert!(is_invalid(op)(&e), "{what}: {n} parties, party {rank}: {e:?}");
            }
        }
    }
    let ring_cases: Vec<(&str, Bad, RingPred)> = vec![
        (
            "mean axis",
            |s| AShare::zeros(s, &[2]).mean(1, false).map(drop),
            |e| matches!(e, RingError::AxisOutOfRange { axis: 1, ndim: 1, .. }),
        ),
        (
            "sum axis",
            |s| AShare::zeros(s, &[2]).sum(3, true).map(drop),
            |e| matches!(e, RingError::AxisOutOfRange { .. }),
        ),
        (
            "reshape",
            |s| AShare::zeros(s, &[2, 3]).reshape(&[4]).map(drop),
            |e| matches!(e, RingError::InvalidShape { .. }),
        ),
        (
            "slice step 0",
            |s| AShare::zeros(s, &[4]).slice(0, 0, 4, 0).map(drop),
            |e| matches!(e, RingError::InvalidArgument { .. }),
        ),
        (
            "index_select",
            |s| AShare::zeros(s, &[4]).index_select(0, &[4]).map(drop),
            |e| matches!(e, RingError::IndexOutOfRange { index: 4, .. }),
        ),
        (
            "index_add index",
            |s| AShare::zeros(s, &[4]).index_add(0, &[1, 4], &AShare::zeros(s, &[2])).map(drop),
            |e| matches!(e, RingError::IndexOutOfRange { op: "index_add", index: 4, len: 4, .. }),
        ),
        (
            "index_add axis",
            |s| AShare::zeros(s, &[4]).index_add(1, &[0], &AShare::zeros(s, &[1])).map(drop),
            |e| matches!(e, RingError::AxisOutOfRange { op: "index_add", axis: 1, ndim: 1 }),
        ),
        (
            "index_add source shape",
            |s| AShare::zeros(s, &[4, 2]).index_add(0, &[0], &AShare::zeros(s, &[1, 3])).map(drop),
            |e| matches!(e, RingError::ShapeMismatch { op: "index_add", .. }),
        ),
        ("squeeze", |s| AShare::zeros(s, &[2, 3]).squeeze(1).map(drop), |_| true),
        ("permute", |s| AShare::zeros(s, &[2, 3]).permute(&[0, 0]).map(drop), |_| true),
        ("t of 1-d", |s| AShare::zeros(s, &[3]).t().map(drop), |_| true),
        ("pad", |s| AShare::zeros(s, &[2, 3]).pad(&[(1, 1)], 0.0).map(drop), |_| true),
        (
            "add_scalar inf",
            |s| AShare::zeros(s, &[2]).add_scalar(f64::INFINITY).map(drop),
            |e| matches!(e, RingError::NotFinite { .. }),
        ),
        (
            "mul_scalar NaN",
            |s| AShare::zeros(s, &[2]).mul_scalar(f64::NAN).map(drop),
            |e| matches!(e, RingError::NotFinite { .. }),
        ),
        (
            "mul_public NaN",
            |s| AShare::zeros(s, &[2]).mul_public(&arr(&[2], vec![1.0, f64::NAN])).map(drop),
            |e| matches!(e, RingError::NotFinite { index: 1, .. }),
        ),
        (
            "from_public huge",
            |s| AShare::from_public(s, &arr(&[1], vec![1e15])).map(drop),
            |e| matches!(e, RingError::OutOfRange { .. }),
        ),
        (
            "shl 64",
            |s| xor_share(s, &RingTensor::zeros(&[2])).shl(64).map(drop),
            |e| matches!(e, RingError::InvalidArgument { .. }),
        ),
        (
            "shr 64",
            |s| xor_share(s, &RingTensor::zeros(&[2])).shr(64).map(drop),
            |e| matches!(e, RingError::InvalidArgument { .. }),
        ),
        (
            "bit 64",
            |s| xor_share(s, &RingTensor::zeros(&[2])).bit(64).map(drop),
            |e| matches!(e, RingError::InvalidArgument { .. }),
        ),
    ];
    for (what, bad, pred) in ring_cases {
        for n in PARTIES {
            for (rank, o) in run_typed(n, &SessionConfig::default(), bad).into_iter().enumerate() {
                match o {
                    Err(MpcError::Ring(e)) if pred(&e) => {}
                    other => panic!("{what}: {n} parties, party {rank}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn share_errors_are_reported_where_they_happen() {
    for n in PARTIES {
        // A value the owner cannot encode fails at the owner only (sharing sends nothing).
        for (value, pred) in [
            (
                f64::NAN,
                (|e: &RingError| matches!(e, RingError::NotFinite { index: 1, .. })) as RingPred,
            ),
            (1e15, |e: &RingError| matches!(e, RingError::OutOfRange { index: 1, .. })),
            (-1e300, |e: &RingError| matches!(e, RingError::OutOfRange { .. })),
        ] {
            let x = arr(&[2], vec![0.5, value]);
            let out =
                run_typed(n, &SessionConfig::default(), |s| share_from(s, n - 1, &x).map(drop));
            for (rank, o) in out.into_iter().enumerate() {
                match o {
                    Err(MpcError::Ring(e)) if rank == n - 1 && pred(&e) => {}
                    Ok(()) if rank != n - 1 => {}
                    other => panic!("{value}: party {rank}: {other:?}"),
                }
            }
        }
        let out = run_typed(n, &SessionConfig::default(), |s| {
            let v = arr(&[3], vec![1.0, 2.0, 3.0]);
            // Owner: wrong shape; others: pass a value although not the owner.
            let owner_value = (s.rank() == 0).then_some(&v);
            let r1 = AShare::share(s, 0, owner_value, &[4]).map(drop);
            let r2 = AShare::share(s, 0, Some(&v), &[3]).map(drop);
            let r3 = AShare::share(s, 0, None, &[3]).map(drop);
            Ok((r1, r2, r3))
        });
        for (rank, o) in out.into_iter().enumerate() {
            let (r1, r2, r3) = o.expect("the closure itself succeeds");
            if rank == 0 {
                assert!(matches!(r1, Err(ref e) if is_shape_mismatch(e)), "wrong shape: {r1:?}");
                assert!(r2.is_ok(), "owner with a value: {r2:?}");
                assert!(matches!(r3, Err(ref e) if is_invalid("share")(e)), "no value: {r3:?}");
            } else {
                assert!(r1.is_ok(), "non-owner of a bad share: {r1:?}");
                assert!(matches!(r2, Err(ref e) if is_invalid("share")(e)), "value: {r2:?}");
                assert!(r3.is_ok(), "non-owner without value: {r3:?}");
            }
        }
    }
}

#[test]
fn operands_of_different_sessions() {
    for n in PARTIES {
        let out = run_typed(n, &SessionConfig::default(), |s| {
            // A second session at this party, on an endpoint of a separate network.
            let other_comm = LocalComm::create(n, &CommConfig::default()).swap_remove(s.rank());
            let seed = Seed::from_bytes(SEED);
            let other = Session::insecure_for_testing(other_comm, &seed, SessionConfig::default())?;
            let a = AShare::zeros(s, &[2]);
            let b = AShare::zeros(&other, &[2]);
            assert!(!s.same(&other) && s.same(&s.clone()));
            let x = BShare::from_public(s, &RingTensor::zeros(&[2]));
            let y = BShare::from_public(&other, &RingTensor::zeros(&[2]));
            Ok(vec![
                a.add(&b).map(drop),
                a.sub(&b).map(drop),
                a.mul(&b).map(drop),
                a.matmul(&b).map(drop),
                AShare::concat(&[&a, &b], 0).map(drop),
                AShare::stack(&[&a, &b], 0).map(drop),
                a.index_add(0, &[0, 1], &b).map(drop),
                x.xor(&y).map(drop),
                x.and(&y).map(drop),
            ])
        });
        for (rank, o) in out.into_iter().enumerate() {
            for (i, r) in o.expect("closure").into_iter().enumerate() {
                assert!(
                    matches!(r, Err(MpcError::SessionMismatch { .. })),
                    "{n} parties, party {rank}, case {i}: {r:?}"
                );
            }
        }
    }
}

#[test]
fn bad_configurations() {
    let cases: [(SessionConfig, MpcPred); 4] = [
        (SessionConfig { frac_bits: 0, ..Default::default() }, |e| {
            matches!(e, MpcError::InvalidArgument { op: "session", .. })
        }),
        (SessionConfig { frac_bits: 31, ..Default::default() }, |e| {
            matches!(e, MpcError::InvalidArgument { op: "session", .. })
        }),
        (SessionConfig { frac_bits: 63, ..Default::default() }, |e| {
            matches!(e, MpcError::Ring(RingError::InvalidPrecision { frac_bits: 63, .. }))
        }),
        (SessionConfig { truncation: Truncation::LocalShares.into(), ..Default::default() }, |e| {
            matches!(e, MpcError::InvalidArgument { op: "session", .. })
        }),
    ];
    for (i, (cfg, pred)) in cases.iter().enumerate() {
        for n in [3, 4] {
            for (rank, o) in run_typed(n, cfg, |_| Ok(())).into_iter().enumerate() {
                let e = o.expect_err("rejected");
                assert!(pred(&e), "case {i}, {n} parties, party {rank}: {e:?}");
            }
        }
    }
    // 1 and 30 fractional bits are accepted.
    for f in [1, 30] {
        let cfg = SessionConfig { frac_bits: f, ..Default::default() };
        assert!(
            run_typed(2, &cfg, |s| Ok(s.fixed_point().frac_bits()))
                .iter()
                .all(|o| matches!(o, Ok(g) if *g == f))
        );
    }
}

#[test]
fn setup_needs_two_parties() {
    let comm_cfg = CommConfig::with_timeouts(Duration::from_secs(5));
    // A third-party dealer over two ranks leaves one computing party; one rank alone too.
    let ttp = SessionConfig { dealer: DealerKind::TrustedThirdParty, ..Default::default() };
    for (world, cfg) in [(2, ttp.clone()), (1, SessionConfig::default()), (1, ttp)] {
        let out = run_threads(world, &comm_cfg, |comm| {
            Session::setup(Box::new(comm), cfg.clone()).map(drop)
        });
        for (rank, o) in out.into_iter().enumerate() {
            match o {
                Err(cloak_comm::runner::PartyFailure::Error(MpcError::InvalidArgument {
                    op: "session",
                    ..
                })) => {}
                other => panic!("world {world}, rank {rank}: {other:?}"),
            }
        }
    }
}

#[test]
fn diverging_parties_fail_everywhere_without_hanging() {
    let x = arr(&[3], vec![1.0, 2.0, 3.0]);
    for n in PARTIES {
        let start = Instant::now();
        // Party 0 reveals while the others multiply.
        let out = run_fallible(n, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            if s.rank() == 0 { a.reveal().map(drop) } else { a.mul(&a)?.reveal().map(drop) }
        });
        for (rank, o) in out.iter().enumerate() {
            assert!(o.is_err(), "{n} parties: party {rank} did not notice: {o:?}");
        }
        // Party `n - 1` quits before a reveal: the others fail, not hang.
        let out = run_fallible(n, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            if s.rank() == n - 1 {
                return Err(MpcError::InvalidArgument { op: "test", reason: "quits".into() });
            }
            a.relu()?.reveal().map(drop)
        });
        for (rank, o) in out.iter().enumerate() {
            let e = o.as_ref().expect_err("fails");
            if rank == n - 1 {
                assert!(e.contains("quits"), "{e}");
            }
        }
        // Both within the 5 s communication timeout of `run_fallible`, with room to spare.
        assert!(
            start.elapsed() < Duration::from_secs(12),
            "{n} parties took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn communication_errors_are_comm_variants() {
    let x = arr(&[3], vec![1.0, 2.0, 3.0]);
    for n in PARTIES {
        let out = run_typed(n, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            if s.rank() == 0 {
                return Ok(());
            }
            a.mul(&a).map(drop)
        });
        for (rank, o) in out.into_iter().enumerate() {
            match o {
                Ok(()) if rank == 0 => {}
                Err(MpcError::Comm(_)) if rank != 0 => {}
                other => panic!("{n} parties, party {rank}: {other:?}"),
            }
        }
    }
}

#[test]
fn an_aborting_party_is_named_with_its_reason_everywhere() {
    use cloak_comm::CommError;
    let x = arr(&[3], vec![1.0, 2.0, 3.0]);
    for n in PARTIES {
        let start = Instant::now();
        let aborter = n - 1;
        let out = run_typed(n, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            if s.rank() == aborter {
                s.abort("input has NaN at element 2");
                return s.barrier();
            }
            a.relu()?.reveal().map(drop)
        });
        for (rank, o) in out.into_iter().enumerate() {
            match o {
                Err(MpcError::Comm(CommError::Failed { cause })) if rank == aborter => {
                    assert!(cause.contains("NaN at element 2"), "{cause}");
                }
                Err(MpcError::Comm(CommError::Aborted { origin, reason, .. })) => {
                    assert_eq!(origin, aborter, "{n} parties, party {rank}");
                    assert_eq!(reason, "input has NaN at element 2");
                }
                other => panic!("{n} parties, party {rank}: {other:?}"),
            }
        }
        // Well within the 5 s communication timeout of `run_typed`.
        assert!(start.elapsed() < Duration::from_secs(3), "{n} parties: {:?}", start.elapsed());
    }
}

#[test]
fn raw_shares_of_any_words_are_accepted() {
    // from_share trusts the caller: any words form a valid sharing of something.
    let out = run(3, &SessionConfig::default(), |s| {
        let r = RingTensor::full(&[2], u64::MAX);
        let a = AShare::from_share(s, r.clone());
        let b = BShare::from_share(s, r);
        Ok((a.reveal_ring()?, b.reveal()?))
    });
    for (a, b) in out {
        assert_eq!(a, RingTensor::full(&[2], 3u64.wrapping_mul(u64::MAX)));
        assert_eq!(b, RingTensor::full(&[2], u64::MAX));
    }
}

#[test]
fn a_stalled_peer_is_a_timeout_naming_it() {
    use cloak_comm::{CommConfig, CommError, runner::run_threads};
    let x = arr(&[4], vec![1.0, -2.0, 3.0, 0.5]);
    for n in [2, 3] {
        let start = Instant::now();
        let cfg = CommConfig::with_timeouts(Duration::from_millis(300));
        let out = run_threads(n, &cfg, |comm| {
            let s = cloak_mpc::Session::insecure_for_testing(
                comm,
                &cloak_prg::Seed::from_bytes(SEED),
                SessionConfig::default(),
            )?;
            let a = share0(&s, &x)?;
            if s.rank() == n - 1 {
                // Stalls past the others' timeout, then gives up quietly.
                std::thread::sleep(Duration::from_millis(1500));
                return Ok(None);
            }
            a.relu().map(|_| Some(()))
        });
        for (rank, o) in out.into_iter().enumerate().take(n - 1) {
            match o {
                Err(cloak_comm::runner::PartyFailure::Error(MpcError::Comm(e))) => {
                    let named = matches!(e, CommError::Timeout { peer, .. } if peer == n - 1)
                        || e.peer().is_some();
                    assert!(named, "{n} parties, party {rank}: {e}");
                }
                other => panic!("{n} parties, party {rank}: expected a timeout, got {other:?}"),
            }
        }
        assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    }
}

#[test]
fn a_refused_input_leaves_the_session_in_step() {
    // The owner's NaN is refused at the owner only (sharing sends nothing); if the program
    // goes on, the parties' zero-sharing streams must still agree, so the next input is
    // shared correctly.
    let bad = arr(&[4], vec![f64::NAN, 1.0, 2.0, 3.0]);
    let good = arr(&[2], vec![1.0, 2.0]);
    for n in [2, 3] {
        let out = run(n, &SessionConfig::default(), |s| {
            let refused = share_from(s, 1, &bad).map(drop);
            assert_eq!(refused.is_err(), s.rank() == 1, "only the owner sees the refusal");
            share_from(s, 1, &good)?.reveal()
        });
        assert_close(&agreed(out), &good, 0.0, &format!("{n} parties: next input"));
    }
}

#[test]
fn absurd_pooling_arguments_are_typed_errors_not_overflows() {
    let x = arr(&[1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    let huge = [
        cloak_mpc::Pool2dSpec { kernel: (2, 2), stride: (1, 1), padding: (1 << 63, 0) },
        cloak_mpc::Pool2dSpec {
            kernel: (usize::MAX, 2),
            stride: (1, 1),
            padding: (usize::MAX / 2, 0),
        },
    ];
    for spec in huge {
        let out = run_typed(2, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            Ok((a.avg_pool2d(&spec).map(drop), a.max_pool2d(&spec).map(drop)))
        });
        for o in out {
            let (avg, max) = o.expect("party");
            assert!(matches!(avg, Err(MpcError::InvalidArgument { .. })), "{spec:?}: {avg:?}");
            assert!(matches!(max, Err(MpcError::InvalidArgument { .. })), "{spec:?}: {max:?}");
        }
    }
}

/// An application error of its own, as a layer above has: `run_local` takes it as is.
#[derive(Debug)]
enum AppError {
    Input(String),
    Mpc(MpcError),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Input(why) => write!(f, "bad input: {why}"),
            AppError::Mpc(e) => write!(f, "{e}"),
        }
    }
}

impl From<MpcError> for AppError {
    fn from(e: MpcError) -> Self {
        AppError::Mpc(e)
    }
}

#[test]
fn a_party_that_fails_on_its_input_tells_the_others_why() {
    let x = arr(&[3], vec![1.0, 2.0, 3.0]);
    for n in PARTIES {
        let cfg = SessionConfig { timeout: Duration::from_secs(5), ..Default::default() };
        let out = cloak_mpc::run_local_typed(n, &cfg, |s| -> Result<(), AppError> {
            let a = share0(s, &x)?;
            if s.rank() == n - 1 {
                return Err(AppError::Input("row 7 has NaN".into()));
            }
            a.relu()?.reveal().map(drop)?;
            Ok(())
        });
        for (rank, o) in out.iter().enumerate() {
            let e = match o {
                Err(cloak_comm::runner::PartyFailure::Error(e)) => e,
                other => panic!("{n} parties, party {rank}: {other:?}"),
            };
            if rank == n - 1 {
                assert!(matches!(e, AppError::Input(_)), "{e}");
                continue;
            }
            // The others stop with the announced reason and the party that gave it.
            match e {
                AppError::Mpc(MpcError::Comm(cloak_comm::CommError::Aborted {
                    origin,
                    reason,
                    ..
                })) => {
                    assert_eq!(*origin, n - 1, "{n} parties, party {rank}: {e}");
                    assert!(reason.contains("row 7 has NaN"), "{n} parties, party {rank}: {e}");
                }
                other => panic!("{n} parties, party {rank}: not the announced abort: {other}"),
            }
        }
    }
}
