//! Arithmetic shares without products of shared values, for 2, 3 and 4 parties, against
//! plain f64: sharing (the shares add up to the encoding and none of them is it), reveal and
//! reveal_to, add/sub/neg with broadcasting, public operands (add/sub/rsub/mul/div by public
//! tensors and scalars), every shape operation, sum/mean, public and zero tensors, raw
//! shares, and empty tensors (shapes `[0]` and `[2, 0]`).
//!
//! Tolerances: encoding rounds to nearest at 16 fractional bits, so each shared or public
//! input is off by at most 2^-17 (`HALF_ULP`); linear operations are exact on the encodings,
//! so a sum of `k` encoded values is off by at most `k * 2^-17`; a product with a public
//! non-integer value adds one truncation (at most 2^-16 = `ULP`). Inputs rounded to the
//! grid first (`grid`) are encoded exactly, so exact operations on them get tolerance 0.

mod common;

use cloak_mpc::{AShare, SessionConfig};
use cloak_ring::RingTensor;
use common::*;
use ndarray::{ArrayD, Axis, IxDyn, Slice};

#[test]
fn share_reveal_roundtrip_every_owner() {
    let x = arr(&[2, 4], vec![-3.25, 0.0, 1e-6, -1e-6, 123_456.75, -98_765.25, 0.5, 7.0]);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        for owner in 0..n {
            let out = run(n, &cfg, |s| {
                let a = share_from(s, owner, &x)?;
                Ok((a.reveal()?, a.share_tensor().clone(), a.shape().to_vec(), a.len()))
            });
            // Shares add up to the encoding, and none of them is the encoding itself.
            let enc = encode(&x);
            let mut sum = RingTensor::<u64>::zeros(&[2, 4]);
            for (rank, (_, share, shape, len)) in out.iter().enumerate() {
                assert_eq!((shape.as_slice(), *len), (&[2, 4][..], 8));
                assert_ne!(share, &enc, "{n} parties: party {rank}'s share is the value");
                sum = sum.add(share).expect("same shape");
            }
            assert_eq!(sum, enc, "{n} parties, owner {owner}: shares do not add up");
            let got = agreed(out.into_iter().map(|o| o.0).collect());
            // Reveal decodes the encoding exactly: off by the encoding error only.
            assert_close(&got, &x, HALF_ULP, "reveal");
            assert_close(&got, &grid(&x), 0.0, "reveal (grid)");
        }
    }
}

#[test]
fn reveal_to_one_party_only() {
    let x = rand_arr(&[3, 5], -1000.0, 1000.0, 1);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        for target in 0..n {
            let out = run(n, &cfg, |s| share_from(s, n - 1, &x)?.reveal_to(target));
            for (rank, o) in out.into_iter().enumerate() {
                match o {
                    Some(v) if rank == target => {
                        assert_close(&v, &grid(&x), 0.0, "reveal_to");
                    }
                    None if rank != target => {}
                    other => panic!("{n} parties, target {target}: party {rank} got {other:?}"),
                }
            }
        }
    }
}

#[test]
fn add_sub_neg_broadcast() {
    let x = rand_arr(&[2, 3], -50.0, 50.0, 2);
    let y = rand_arr(&[3], -50.0, 50.0, 3);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, n - 1, &y)?;
            Ok(vec![
                a.add(&b)?.reveal()?,
                b.add(&a)?.reveal()?,
                a.sub(&b)?.reveal()?,
                b.sub(&a)?.reveal()?,
                a.neg().reveal()?,
                a.add(&a.neg())?.reveal()?,
            ])
        });
        let got = out[0].clone();
        for o in &out[1..] {
            assert_eq!(o, &got, "parties disagree");
        }
        // Two encoded inputs: at most 2 * 2^-17 off; negation and x - x are exact.
        let tol = 2.0 * HALF_ULP;
        assert_close(&got[0], &zip_bcast(&x, &y, |a, b| a + b), tol, "x + y");
        assert_close(&got[1], &zip_bcast(&x, &y, |a, b| a + b), tol, "y + x");
        assert_close(&got[2], &zip_bcast(&x, &y, |a, b| a - b), tol, "x - y");
        assert_close(&got[3], &zip_bcast(&x, &y, |a, b| b - a), tol, "y - x");
        assert_close(&got[4], &grid(&x).mapv(|v| -v), 0.0, "-x");
        assert_close(&got[5], &ArrayD::zeros(IxDyn(&[2, 3])), 0.0, "x - x");
    }
}

#[test]
fn public_operands() {
    let x = rand_arr(&[2, 3], -100.0, 100.0, 4);
    let p = rand_arr(&[3], -100.0, 100.0, 5);
    let big = rand_arr(&[4, 2, 3], -10.0, 10.0, 6);
    let d = arr(&[3], vec![-4.0, 0.5, 3.0]);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share_from(s, 1, &x)?;
            Ok(vec![
                a.add_public(&p)?.reveal()?,
                a.sub_public(&p)?.reveal()?,
                a.rsub_public(&p)?.reveal()?,
                a.add_public(&big)?.reveal()?,
                a.add_scalar(-2.75)?.reveal()?,
                a.mul_int(-7).reveal()?,
                a.mul_scalar(3.0)?.reveal()?,
                a.mul_scalar(-0.3)?.reveal()?,
                a.mul_public(&p)?.reveal()?,
                a.div_scalar(-8.0)?.reveal()?,
                a.div_scalar(3.0)?.reveal()?,
                a.div_public(&d)?.reveal()?,
            ])
        });
        let got = out[0].clone();
        for o in &out[1..] {
            assert_eq!(o, &got, "parties disagree");
        }
        let want_div_d = zip_bcast(&x, &d, |a, b| a / b);
        let checks: Vec<(ArrayD<f64>, f64, &str)> = vec![
            // Sums of two encodings.
            (zip_bcast(&x, &p, |a, b| a + b), 2.0 * HALF_ULP, "x + p"),
            (zip_bcast(&x, &p, |a, b| a - b), 2.0 * HALF_ULP, "x - p"),
            (zip_bcast(&x, &p, |a, b| b - a), 2.0 * HALF_ULP, "p - x"),
            (zip_bcast(&x, &big, |a, b| a + b), 2.0 * HALF_ULP, "x + [4,2,3]"),
            (x.mapv(|v| v - 2.75), HALF_ULP, "x - 2.75"),
            // Integer products are exact on the encoding: 7 * 2^-17.
            (x.mapv(|v| -7.0 * v), 7.0 * HALF_ULP, "x * -7"),
            (x.mapv(|v| 3.0 * v), 3.0 * HALF_ULP, "x * 3"),
            // A product with an encoded public value: |x| 2^-17 + |c| 2^-17 + one truncation.
            (x.mapv(|v| -0.3 * v), 100.0 * HALF_ULP + HALF_ULP + ULP, "x * -0.3"),
            (zip_bcast(&x, &p, |a, b| a * b), 200.0 * HALF_ULP + ULP + 1e-9, "x * p"),
            // 1/8 is encoded exactly: only x's encoding (/8) and the truncation.
            (x.mapv(|v| v / -8.0), HALF_ULP + ULP, "x / -8"),
            // 1/3 is off by up to 2^-17: |x| 2^-17 + (1/3) 2^-17 + one truncation.
            (x.mapv(|v| v / 3.0), 100.0 * HALF_ULP + HALF_ULP + ULP, "x / 3"),
            (want_div_d, 100.0 * HALF_ULP + 2.0 * HALF_ULP + ULP, "x / d"),
        ];
        assert_eq!(checks.len(), got.len());
        for ((want, tol, what), g) in checks.iter().zip(&got) {
            assert_close(g, want, *tol, &format!("{n} parties: {what}"));
        }
    }
}

#[test]
fn shape_operations_are_exact() {
    let x = grid(&rand_arr(&[2, 3, 4], -20.0, 20.0, 7));
    let y = grid(&rand_arr(&[2, 3, 4], -20.0, 20.0, 8));
    let index = ndarray::Array2::from_shape_vec((2, 4), vec![2usize, 0, 1, 1, 0, 0, 2, 1])
        .unwrap()
        .into_dyn();
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, n - 1, &y)?;
            let m = a.slice(0, 0, 1, 1)?.squeeze(0)?; // [3, 4]
            let results = vec![
                a.reshape(&[4, 6])?,
                a.flatten(),
                a.permute(&[2, 0, 1])?,
                a.transpose(0, 2)?,
                a.t()?,
                m.broadcast_to(&[2, 3, 4])?,
                a.sum_to_shape(&[3, 1])?,
                a.unsqueeze(1)?,
                m,
                a.slice(2, 1, 4, 2)?,
                a.index_select(1, &[2, 0, 2])?,
                a.slice(0, 1, 2, 1)?.squeeze(0)?.gather(0, &index)?,
                AShare::concat(&[&a, &b], 1)?,
                AShare::stack(&[&a, &b, &a], 0)?,
                a.pad(&[(0, 0), (1, 2), (0, 1)], -1.5)?,
            ];
            // Shape operations are local: nothing sent before the reveals.
            assert_eq!(s.comm_stats().total().rounds, 0);
            results.iter().map(|r| r.reveal()).collect::<Result<Vec<_>, _>>()
        });
        let got = out[0].clone();
        for o in &out[1..] {
            assert_eq!(o, &got, "parties disagree");
        }
        let x0 = x.index_axis(Axis(0), 0).to_owned();
        let x1 = x.index_axis(Axis(0), 1).to_owned();
        let mut gathered = ArrayD::zeros(IxDyn(&[2, 4]));
        for i in 0..2 {
            for j in 0..4 {
                gathered[[i, j]] = x1[[index[[i, j]], j]];
            }
        }
        let mut padded = ArrayD::from_elem(IxDyn(&[2, 6, 5]), -1.5);
        padded
            .slice_each_axis_mut(|ax| match ax.axis.index() {
                1 => Slice::from(1..4),
                2 => Slice::from(0..4),
                _ => Slice::from(..),
            })
            .assign(&x);
        let mut tr = x.clone();
        tr.swap_axes(0, 2);
        let mut t = x.clone();
        t.swap_axes(1, 2);
        let want: Vec<(ArrayD<f64>, &str)> = vec![
            (arr(&[4, 6], x.iter().copied().collect()), "reshape"),
            (arr(&[24], x.iter().copied().collect()), "flatten"),
            (x.clone().permuted_axes(IxDyn(&[2, 0, 1])), "permute"),
            (tr, "transpose"),
            (t, "t"),
            (x0.broadcast(IxDyn(&[2, 3, 4])).unwrap().to_owned(), "broadcast_to"),
            (x.sum_axis(Axis(0)).sum_axis(Axis(1)).insert_axis(Axis(1)), "sum_to_shape"),
            (x.clone().insert_axis(Axis(1)), "unsqueeze"),
            (x0.clone(), "slice + squeeze"),
            (x.slice_axis(Axis(2), Slice::new(1, Some(4), 2)).to_owned(), "slice step 2"),
            (x.select(Axis(1), &[2, 0, 2]), "index_select"),
            (gathered, "gather"),
            (ndarray::concatenate(Axis(1), &[x.view(), y.view()]).unwrap(), "concat"),
            (ndarray::stack(Axis(0), &[x.view(), y.view(), x.view()]).unwrap(), "stack"),
            (padded, "pad"),
        ];
        for ((w, what), g) in want.iter().zip(&got) {
            // Shape operations move shares, sums add them: exact on grid inputs.
            assert_close(g, w, 0.0, &format!("{n} parties: {what}"));
        }
    }
}

/// `index_add` is `index_select`'s adjoint, local and exact: slices land at their indices,
/// repeated indices accumulate, an unused index keeps the base value, and
/// `<index_select(x), y> = <x, index_add(0, y)>` on the revealed values.
#[test]
fn index_add_accumulates_repeats_locally_and_exactly() {
    let base = grid(&rand_arr(&[2, 4, 3], -20.0, 20.0, 21));
    let src = grid(&rand_arr(&[2, 5, 3], -20.0, 20.0, 22));
    let indices = [3usize, 0, 3, 2, 3];
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let b = share0(s, &base)?;
            let y = share_from(s, n - 1, &src)?;
            let added = b.index_add(1, &indices, &y)?;
            let empty = b.index_add(2, &[], &AShare::zeros(s, &[2, 4, 0]))?;
            // Local: nothing sent before the reveals.
            assert_eq!(s.comm_stats().total().rounds, 0);
            Ok(vec![added.reveal()?, empty.reveal()?])
        });
        let got = &out[0];
        for o in &out[1..] {
            assert_eq!(o, got, "parties disagree");
        }
        let mut want = base.clone();
        for (k, &i) in indices.iter().enumerate() {
            let slice = src.index_axis(Axis(1), k).to_owned();
            let mut dst = want.index_axis_mut(Axis(1), i);
            dst += &slice;
        }
        // Sums of grid values: exact.
        assert_close(&got[0], &want, 0.0, &format!("{n} parties: index_add"));
        assert_close(&got[1], &base, 0.0, &format!("{n} parties: index_add of nothing"));
        // Position 1 is never selected: it keeps the base value.
        assert_eq!(got[0].index_axis(Axis(1), 1), base.index_axis(Axis(1), 1));
        // The adjoint identity, with a zero base.
        let x = grid(&rand_arr(&[2, 4, 3], -2.0, 2.0, 23));
        let selected = x.select(Axis(1), &indices);
        let lhs: f64 = selected.iter().zip(&src).map(|(a, b)| a * b).sum();
        let scattered = &got[0] - &base;
        let rhs: f64 = x.iter().zip(&scattered).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-9, "{n} parties: adjoint {lhs} vs {rhs}");
    }
}

#[test]
fn sum_and_mean() {
    let x = rand_arr(&[3, 5], -100.0, 100.0, 9);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share_from(s, 1, &x)?;
            Ok((
                a.sum(0, false)?.reveal()?,
                a.sum(1, true)?.reveal()?,
                a.sum_all().reveal()?,
                a.mean(0, false)?.reveal()?,
                a.mean(1, true)?.reveal()?,
                a.mean_all()?.reveal()?,
            ))
        });
        let (s0, s1, sa, m0, m1, ma) = out[0].clone();
        // A sum of k encodings is off by at most k 2^-17.
        assert_close(&s0, &x.sum_axis(Axis(0)), 3.0 * HALF_ULP, "sum 0");
        assert_close(&s1, &x.sum_axis(Axis(1)).insert_axis(Axis(1)), 5.0 * HALF_ULP, "sum 1");
        assert_eq!(sa.shape(), &[] as &[usize]);
        assert_close(&sa, &arr(&[], vec![x.sum()]), 15.0 * HALF_ULP, "sum_all");
        // Mean = sum * enc(1/k), one truncation: the sum's error / k, plus |sum| 2^-17 from
        // the encoding of 1/k, plus (1/k) 2^-17, plus one truncation.
        let mean_tol = |k: f64, max_sum: f64| HALF_ULP + max_sum * HALF_ULP + HALF_ULP / k + ULP;
        assert_close(&m0, &x.mean_axis(Axis(0)).unwrap(), mean_tol(3.0, 300.0), "mean 0");
        assert_close(
            &m1,
            &x.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1)),
            mean_tol(5.0, 500.0),
            "mean 1",
        );
        assert_close(&ma, &arr(&[], vec![x.mean().unwrap()]), mean_tol(15.0, 1500.0), "mean_all");
    }
}

#[test]
fn public_zero_and_raw_shares() {
    let x = rand_arr(&[4], -1e6, 1e6, 10);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let p = AShare::from_public(s, &x)?;
            let z = AShare::zeros(s, &[2, 2]);
            // Raw shares: party r holds r + 1 in the ring at scale 1 (the value is the sum).
            let raw = AShare::from_share(s, RingTensor::full(&[3], (s.rank() as u64 + 1) << 16));
            Ok((p.reveal()?, z.reveal()?, raw.reveal()?, p.session().same(s)))
        });
        for (p, z, raw, same) in out {
            assert!(same);
            assert_close(&p, &grid(&x), 0.0, "from_public");
            assert_close(&z, &ArrayD::zeros(IxDyn(&[2, 2])), 0.0, "zeros");
            let total = (n * (n + 1) / 2) as f64;
            assert_close(&raw, &ArrayD::from_elem(IxDyn(&[3]), total), 0.0, "from_share");
        }
    }
}

#[test]
fn clones_share_storage_and_operations_never_change_it() {
    let x = rand_arr(&[64], -10.0, 10.0, 11);
    for n in PARTIES {
        let out = run(n, &SessionConfig::default(), |s| {
            let a = AShare::share(s, 0, (s.rank() == 0).then_some(&x), &[64])?;
            let b = a.clone();
            // A clone is the same storage, not a copy of it.
            let shared = std::ptr::eq(a.share_tensor(), b.share_tensor());
            // Operations on the clone leave the original as it was.
            let _ = b.add(&b)?.mul(&b)?;
            Ok((shared, a.reveal()?))
        });
        for (shared, a) in out {
            assert!(shared, "{n} parties: a clone copied the share");
            assert_close(&a, &grid(&x), 0.0, "original after operations on its clone");
        }
    }
}

#[test]
fn empty_tensors() {
    let e0 = arr(&[0], vec![]);
    let e20 = arr(&[2, 0], vec![]);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share0(s, &e0)?;
            let b = share_from(s, n - 1, &e20)?;
            assert!(a.is_empty() && b.is_empty());
            Ok(vec![
                a.reveal()?,
                b.reveal()?,
                a.add(&a)?.neg().reveal()?,
                b.add(&a)?.reveal()?,
                b.sub_public(&e0)?.reveal()?,
                b.mul_scalar(0.5)?.reveal()?,
                b.sum(1, false)?.reveal()?,
                b.sum(0, true)?.reveal()?,
                b.sum_all().reveal()?,
                b.mean(0, false)?.reveal()?,
                b.t()?.reshape(&[0, 7])?.reveal()?,
            ])
        });
        let want: Vec<ArrayD<f64>> = vec![
            e0.clone(),
            e20.clone(),
            e0.clone(),
            e20.clone(),
            e20.clone(),
            e20.clone(),
            ArrayD::zeros(IxDyn(&[2])),
            ArrayD::zeros(IxDyn(&[1, 0])),
            ArrayD::zeros(IxDyn(&[])),
            ArrayD::zeros(IxDyn(&[0])),
            ArrayD::zeros(IxDyn(&[0, 7])),
        ];
        for got in out {
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_close(g, w, 0.0, &format!("{n} parties: empty case {i}"));
            }
        }
    }
}

#[test]
fn values_near_the_range_limits() {
    // 2^47 is the range at 16 fractional bits; sums that stay inside it are exact.
    let x = arr(&[4], vec![1.0e14, -1.0e14, 4.0e13, -0.5]);
    let y = arr(&[4], vec![-1.0e14, 1.0e14, 3.0e13, 0.25]);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, 1, &y)?;
            Ok((a.add(&b)?.reveal()?, a.reveal()?))
        });
        let (sum, a) = agreed_pair(out);
        assert_close(&sum, &(&x + &y), 0.0, "sum near the range");
        assert_close(&a, &x, 0.0, "reveal near the range");
    }
}

fn agreed_pair(out: Vec<(ArrayD<f64>, ArrayD<f64>)>) -> (ArrayD<f64>, ArrayD<f64>) {
    let (a, b): (Vec<_>, Vec<_>) = out.into_iter().unzip();
    (agreed(a), agreed(b))
}
