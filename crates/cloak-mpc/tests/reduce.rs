//! Max, min, argmax and argmin along an axis (`reduce.rs`), for 2, 3 and 4 parties, against
//! plain f64: every axis of 1-d, 2-d and 3-d tensors with axis lengths 1, 2, 3, 5, 8 and 9
//! (odd and even tree levels, the odd candidate carried to the next level), keepdim true and
//! false, negative values and ties (the one-hot marks the FIRST maximum, exactly one 1 per
//! slice), `MaxMethod::Tree` and `MaxMethod::Pairwise` agreeing, `max_with_argmax` shapes,
//! empty non-reduced axes, typed errors (an axis out of range, an axis of length 0) at every
//! party without a hang, the exact round counts, and a small property test.
//!
//! Tolerances: max and min select one of the encoded inputs and the one-hots are exact 0/1
//! bits scaled by 2^16, so every input is on the 2^-16 grid (where encoding is exact) and
//! results must equal the f64 reference exactly: tolerance 0.
//!
//! Rounds (two parties, derived from the code): a tree level is the sign without B2A
//! (`ltz_packed`, dealer digits: the opening and two lookahead levels, 3 rounds) and one
//! bit-injection round that selects the values and the one-hots together, so 4 rounds per
//! level and `4 ceil(log2 n)` in all (the level never converts the bit to arithmetic
//! shares). Pairwise is two full comparisons (3 + 1 B2A rounds each) and one product by the
//! winner bits: 9 rounds for every `n`, `n = 1` included (its first comparison is on an
//! empty tensor and still takes its rounds). For more parties a tree level costs what one
//! ReLU costs and pairwise twice an `ltz` plus one. `MaxMethod::for_rows` picks all pairs
//! for rows of 5 or more when the pairs are few.

mod common;

use cloak_mpc::{MaxMethod, MpcError, SessionConfig};
use cloak_ring::RingError;
use common::*;
use ndarray::{ArrayD, Axis, Ix1};
use proptest::prelude::*;

/// Max along `axis` and the one-hot of its first occurrence, in f64.
fn max_ref(x: &ArrayD<f64>, axis: usize) -> (ArrayD<f64>, ArrayD<f64>) {
    let max = x.map_axis(Axis(axis), |lane| {
        let first = first_max(&lane.to_owned());
        lane[first]
    });
    let mut onehot = ArrayD::<f64>::zeros(x.raw_dim());
    for (mut oh, lane) in onehot.lanes_mut(Axis(axis)).into_iter().zip(x.lanes(Axis(axis))) {
        oh[first_max(&lane.to_owned())] = 1.0;
    }
    (max, onehot)
}

/// Position of the first maximum of a non-empty lane.
fn first_max(lane: &ndarray::Array<f64, Ix1>) -> usize {
    let mut best = 0;
    for (i, &v) in lane.iter().enumerate() {
        if v > lane[best] {
            best = i;
        }
    }
    best
}

/// Min along `axis` and the one-hot of its first occurrence, in f64.
fn min_ref(x: &ArrayD<f64>, axis: usize) -> (ArrayD<f64>, ArrayD<f64>) {
    let (m, oh) = max_ref(&x.mapv(|v| -v), axis);
    (m.mapv(|v| -v), oh)
}

/// `m` as keepdim would shape it.
fn kept(m: &ArrayD<f64>, axis: usize, keepdim: bool) -> ArrayD<f64> {
    if keepdim { m.clone().insert_axis(Axis(axis)) } else { m.clone() }
}

/// Every entry of `oh` is 0 or 1 and every lane along `axis` holds exactly one 1.
fn assert_one_hot(oh: &ArrayD<f64>, axis: usize, what: &str) {
    assert!(oh.iter().all(|&v| v == 0.0 || v == 1.0), "{what}: one-hot entries not 0/1: {oh}");
    for lane in oh.lanes(Axis(axis)) {
        assert_eq!(lane.sum(), 1.0, "{what}: a lane of the one-hot is {lane}");
    }
}

/// Grid values in [-4, 4) rounded to halves: 16 distinct values, negative half the time, so
/// that ties (several maxima in one slice) are common in slices of 5 or more.
fn tie_prone(shape: &[usize], seed: u64) -> ArrayD<f64> {
    rand_arr(shape, -4.0, 4.0, seed).mapv(|v| (v * 2.0).floor() / 2.0)
}

/// Fine grid values in [-100, 100): ties are rare, neighbours differ in low bits.
fn fine(shape: &[usize], seed: u64) -> ArrayD<f64> {
    grid(&rand_arr(shape, -100.0, 100.0, seed))
}

/// What one case reveals: tree (max, one-hot), pairwise (max, one-hot), max, min, argmax,
/// argmin.
type Revealed = [ArrayD<f64>; 8];

/// Runs every op on every input (each `(x, axis)`; keepdim alternates with the index, and
/// each op pair uses both settings) at `p` parties, shared by a rotating owner, and checks
/// each against f64.
fn check_all(p: usize, inputs: &[(ArrayD<f64>, usize)]) {
    let out = run(p, &SessionConfig::default(), |s| {
        let mut all = Vec::new();
        for (i, (x, axis)) in inputs.iter().enumerate() {
            let axis = *axis;
            let kd = i % 2 == 0;
            let a = share_from(s, i % p, x)?;
            let (mt, ot) = a.max_with_argmax(axis, kd, MaxMethod::Tree)?;
            let (mp, op) = a.max_with_argmax(axis, !kd, MaxMethod::Pairwise)?;
            let r: Revealed = [
                mt.reveal()?,
                ot.reveal()?,
                mp.reveal()?,
                op.reveal()?,
                a.max(axis, !kd)?.reveal()?,
                a.min(axis, kd)?.reveal()?,
                a.argmax(axis)?.reveal()?,
                a.argmin(axis)?.reveal()?,
            ];
            all.push(r);
        }
        Ok(all)
    });
    let got = unanimous(out);
    for (i, ((x, axis), r)) in inputs.iter().zip(&got).enumerate() {
        let axis = *axis;
        let kd = i % 2 == 0;
        let what = format!("{p} parties, input {i} of shape {:?}, axis {axis}", x.shape());
        let (max, max_oh) = max_ref(x, axis);
        let (min, min_oh) = min_ref(x, axis);
        let [mt, ot, mp, op, m, mn, am, an] = r;
        assert_close(mt, &kept(&max, axis, kd), 0.0, &format!("{what}: tree max, keepdim {kd}"));
        assert_close(ot, &max_oh, 0.0, &format!("{what}: tree one-hot"));
        assert_close(mp, &kept(&max, axis, !kd), 0.0, &format!("{what}: pairwise max"));
        assert_close(op, &max_oh, 0.0, &format!("{what}: pairwise one-hot"));
        assert_close(m, &kept(&max, axis, !kd), 0.0, &format!("{what}: max, keepdim {}", !kd));
        assert_close(mn, &kept(&min, axis, kd), 0.0, &format!("{what}: min, keepdim {kd}"));
        assert_close(am, &max_oh, 0.0, &format!("{what}: argmax"));
        assert_close(an, &min_oh, 0.0, &format!("{what}: argmin"));
        for (oh, name) in [(ot, "tree"), (op, "pairwise"), (am, "argmax"), (an, "argmin")] {
            assert_one_hot(oh, axis, &format!("{what}: {name}"));
        }
        // Both methods give the same bits (up to keepdim's shape).
        assert_eq!(mt.iter().collect::<Vec<_>>(), mp.iter().collect::<Vec<_>>(), "{what}");
        assert_eq!(ot, op, "{what}: methods disagree on the one-hot");
    }
}

/// `(x, axis)` for every axis of each shape: a tie-prone input, and a fine one along the
/// last axis.
fn inputs_for(shapes: &[&[usize]], seed: u64) -> Vec<(ArrayD<f64>, usize)> {
    let mut v = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        for axis in 0..shape.len() {
            let seed = seed + 10 * i as u64 + axis as u64;
            v.push((tie_prone(shape, seed), axis));
            if axis + 1 == shape.len() {
                v.push((fine(shape, seed + 1000), axis));
            }
        }
    }
    v
}

#[test]
fn one_d_every_length() {
    let inputs = inputs_for(&[&[1], &[2], &[3], &[5], &[8], &[9]], 100);
    for p in PARTIES {
        check_all(p, &inputs);
    }
}

#[test]
fn two_d_every_axis() {
    // Axis 0 lengths 3, 8, 9, 2, 5; axis 1 lengths 5, 2, 1, 9, 8.
    let inputs = inputs_for(&[&[3, 5], &[8, 2], &[9, 1], &[2, 9], &[5, 8]], 200);
    for p in PARTIES {
        check_all(p, &inputs);
    }
}

#[test]
fn three_d_every_axis() {
    // Axis 0 lengths 2, 1, 5; axis 1 lengths 3, 8, 2; axis 2 lengths 5, 9, 3.
    let inputs = inputs_for(&[&[2, 3, 5], &[1, 8, 9], &[5, 2, 3]], 300);
    for p in PARTIES {
        check_all(p, &inputs);
    }
}

/// Rows of length 9 with the maxima (and minima) where the tree could lose the first one:
/// every tie pattern across pairs, levels and the carried odd element.
fn tie_rows() -> ArrayD<f64> {
    let u = ULP;
    let rows: Vec<[f64; 9]> = vec![
        [0.0; 9],
        [-1.5; 9],
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0],
        [0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 5.0, 0.0],
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0],
        [3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0],
        [0.0, 4.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 4.0, 4.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        [1.0, 1.0 + u, 1.0 + u, 1.0, 1.0 - u, 1.0 + u, 1.0, 1.0, 1.0 - u],
        [-5.0, -2.0, -3.0, -2.0, -7.0, -2.0, -9.0, -2.5, -2.0],
        [-u, -2.0 * u, -u, -3.0 * u, -u, -u, -4.0 * u, -u, -2.0 * u],
        [-1.0e9, 1.0e9, -1.0e9, 1.0e9, 0.0, -1.0e9, 1.0e9, -1.0e9, 1.0e9],
        [2.0, -1.0e9, -1.0e9, -1.0e9, -1.0e9, -1.0e9, -1.0e9, -1.0e9, -1.0e9],
    ];
    arr(&[rows.len(), 9], rows.into_iter().flatten().collect())
}

#[test]
fn ties_go_to_the_first_maximum() {
    let x = tie_rows();
    // Length 9 along axis 1, length 8 (the same rows cut) and along axis 0 (transposed).
    let cut = x.slice(ndarray::s![.., ..8]).to_owned().into_dyn();
    let t = x.t().to_owned().into_dyn();
    let inputs =
        vec![(x.clone(), 1), (x.clone(), 1), (cut.clone(), 1), (cut, 1), (t.clone(), 0), (t, 0)];
    for p in PARTIES {
        check_all(p, &inputs);
    }
    // The reference itself: first maxima where the rows say so.
    let (_, oh) = max_ref(&x, 1);
    let pos: Vec<usize> = oh.lanes(Axis(1)).into_iter().map(|l| first_max(&l.to_owned())).collect();
    assert_eq!(pos, vec![0, 0, 8, 0, 3, 7, 0, 1, 4, 8, 1, 1, 0, 1, 0]);
}

#[test]
fn max_with_argmax_shapes() {
    let x = fine(&[2, 3, 4], 9);
    for p in PARTIES {
        let out = run(p, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            let mut shapes = Vec::new();
            for axis in 0..3 {
                for keepdim in [false, true] {
                    for method in [MaxMethod::Tree, MaxMethod::Pairwise] {
                        let (m, oh) = a.max_with_argmax(axis, keepdim, method)?;
                        shapes.push((m.shape().to_vec(), oh.shape().to_vec()));
                    }
                    shapes.push((a.max(axis, keepdim)?.shape().to_vec(), vec![]));
                    shapes.push((a.min(axis, keepdim)?.shape().to_vec(), vec![]));
                }
                shapes.push((a.argmax(axis)?.shape().to_vec(), a.argmin(axis)?.shape().to_vec()));
            }
            Ok(shapes)
        });
        let got = unanimous(out);
        let mut want = Vec::new();
        for axis in 0..3 {
            for keepdim in [false, true] {
                let mut r = vec![2, 3, 4];
                if keepdim {
                    r[axis] = 1;
                } else {
                    r.remove(axis);
                }
                want.push((r.clone(), vec![2, 3, 4]));
                want.push((r.clone(), vec![2, 3, 4]));
                want.push((r.clone(), vec![]));
                want.push((r, vec![]));
            }
            want.push((vec![2, 3, 4], vec![2, 3, 4]));
        }
        assert_eq!(got, want, "{p} parties");
    }
}

#[test]
fn empty_other_axes_give_empty_results() {
    // The reduced axis is non-empty, another is 0: nothing to compare, empty results of the
    // reduced shape.
    for (shape, axis) in [(vec![0, 3], 1), (vec![3, 0, 2], 2), (vec![2, 0], 0)] {
        let x = arr(&shape, vec![]);
        for p in PARTIES {
            let out = run(p, &SessionConfig::default(), |s| {
                let a = share0(s, &x)?;
                let (mt, ot) = a.max_with_argmax(axis, false, MaxMethod::Tree)?;
                let (mp, op) = a.max_with_argmax(axis, true, MaxMethod::Pairwise)?;
                Ok(vec![
                    mt.reveal()?.shape().to_vec(),
                    ot.reveal()?.shape().to_vec(),
                    mp.reveal()?.shape().to_vec(),
                    op.reveal()?.shape().to_vec(),
                    a.min(axis, false)?.reveal()?.shape().to_vec(),
                    a.argmin(axis)?.reveal()?.shape().to_vec(),
                ])
            });
            let mut reduced = shape.clone();
            reduced.remove(axis);
            let mut keep = shape.clone();
            keep[axis] = 1;
            let want =
                vec![reduced.clone(), shape.clone(), keep, shape.clone(), reduced, shape.clone()];
            assert_eq!(unanimous(out), want, "{p} parties, {shape:?} along {axis}");
        }
    }
}

#[test]
fn bad_axes_are_typed_errors_at_every_party() {
    let x = fine(&[2, 3], 5);
    let scalar = arr(&[], vec![1.5]);
    let empty_axis = arr(&[2, 0], vec![]);
    let empty = arr(&[0], vec![]);
    for p in PARTIES {
        let out = run_typed(p, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            let z = share0(s, &scalar)?;
            let e = share0(s, &empty_axis)?;
            let e1 = share0(s, &empty)?;
            let (tree, pairs) = (MaxMethod::Tree, MaxMethod::Pairwise);
            let out_of_range = vec![
                (2, a.max(2, false).map(drop)),
                (2, a.min(2, true).map(drop)),
                (7, a.argmax(7).map(drop)),
                (2, a.argmin(2).map(drop)),
                (2, a.max_with_argmax(2, false, tree).map(drop)),
                (3, a.max_with_argmax(3, true, pairs).map(drop)),
                (usize::MAX, a.max(usize::MAX, false).map(drop)),
                (0, z.max(0, false).map(drop)),
            ];
            let length_zero = vec![
                e.max(1, false).map(drop),
                e.min(1, true).map(drop),
                e.argmax(1).map(drop),
                e.argmin(1).map(drop),
                e.max_with_argmax(1, false, tree).map(drop),
                e.max_with_argmax(1, false, pairs).map(drop),
                e1.max(0, true).map(drop),
            ];
            // The session still works afterwards: nobody sent anything for the failed calls.
            let after = a.max(1, false)?.reveal()?;
            Ok((out_of_range, length_zero, after))
        });
        for (rank, o) in out.into_iter().enumerate() {
            let (out_of_range, length_zero, after) =
                o.unwrap_or_else(|e| panic!("{p} parties: party {rank} failed: {e}"));
            for (want_axis, r) in out_of_range {
                assert!(
                    matches!(r, Err(MpcError::Ring(RingError::AxisOutOfRange { axis, .. }))
                        if axis == want_axis),
                    "{p} parties, party {rank}, axis {want_axis}: {r:?}"
                );
            }
            for r in length_zero {
                assert!(
                    matches!(r, Err(MpcError::InvalidArgument { op: "max", .. })),
                    "{p} parties, party {rank}: {r:?}"
                );
            }
            assert_close(&after, &max_ref(&x, 1).0, 0.0, "max after the errors");
        }
    }
}

/// `ceil(log2 n)`, 0 for `n = 1`.
fn levels(n: usize) -> u64 {
    u64::from(n.next_power_of_two().trailing_zeros())
}

#[test]
fn the_method_for_rows_takes_all_pairs_for_short_rows_only() {
    assert_eq!(MaxMethod::for_rows(10, 4), MaxMethod::Tree, "2 halvings: the tree's rounds");
    assert_eq!(MaxMethod::for_rows(10, 5), MaxMethod::Pairwise);
    assert_eq!(MaxMethod::for_rows(51, 40), MaxMethod::Pairwise, "class scores");
    // 8 x 512 keys: over a million pairs.
    assert_eq!(MaxMethod::for_rows(8, 512), MaxMethod::Tree);
    let n = 64;
    let most = cloak_mpc::PAIRWISE_LIMIT / (n * (n - 1) / 2);
    assert_eq!(MaxMethod::for_rows(most, n), MaxMethod::Pairwise);
    assert_eq!(MaxMethod::for_rows(most + 1, n), MaxMethod::Tree);
    assert_eq!(MaxMethod::for_rows(usize::MAX, usize::MAX), MaxMethod::Tree, "no overflow");
    // max_by gives the same maximum either way, in the rounds of the method.
    let x = tie_prone(&[3, 9], 11);
    let out = run(2, &SessionConfig::default(), |s| {
        let a = share0(s, &x)?;
        let mut got = Vec::new();
        for method in [MaxMethod::Tree, MaxMethod::Pairwise] {
            s.reset_stats();
            let m = a.max_by(1, false, method)?;
            let rounds = s.comm_stats().total().rounds;
            got.push((m.reveal()?, rounds));
        }
        Ok(got)
    });
    let got = unanimous(out);
    let (want, _) = max_ref(&x, 1);
    assert_eq!(got[0].0, want);
    assert_eq!(got[1].0, want);
    assert_eq!((got[0].1, got[1].1), (4 * 4, 9));
}

#[test]
fn round_counts() {
    // Rows 1 and 70 (a level's bits then span several 64-bit words) for two parties, 3 for
    // more: rounds depend on neither.
    for (p, rows) in [(2, 1usize), (2, 70), (3, 3), (4, 3)] {
        for n in [1usize, 2, 3, 4, 5, 8, 9, 17] {
            let x = fine(&[rows, n], (rows * 100 + n) as u64);
            let out = run(p, &SessionConfig::default(), |s| {
                let a = share0(s, &x)?;
                let mut r = Vec::new();
                let mut count = |label: &str, f: &dyn Fn() -> Result<(), MpcError>| {
                    s.reset_stats();
                    f()?;
                    let rounds = stats_of(s, label).rounds;
                    // Every round of the op is counted under its label.
                    assert_eq!(s.comm_stats().total().rounds, rounds, "rounds outside {label}");
                    r.push(rounds);
                    Ok::<_, MpcError>(())
                };
                count("max", &|| a.max(1, false).map(drop))?;
                count("max", &|| a.min(1, true).map(drop))?;
                count("max", &|| a.argmax(1).map(drop))?;
                count("max", &|| a.argmin(1).map(drop))?;
                count("max", &|| a.max_with_argmax(1, false, MaxMethod::Tree).map(drop))?;
                count("max", &|| a.max_with_argmax(1, true, MaxMethod::Pairwise).map(drop))?;
                count("relu", &|| a.relu().map(drop))?;
                count("ltz", &|| a.ltz().map(drop))?;
                Ok(r)
            });
            let r = unanimous(out);
            let what = format!("{p} parties, [{rows}, {n}]");
            let (relu, ltz) = (r[6], r[7]);
            if p == 2 {
                // Derived in the module doc (the dealer-digits comparison): 3 + 1 per level,
                // 2 (3 + 1) + 1 pairwise.
                assert_eq!((relu, ltz), (4, 4), "{what}: one comparison");
                assert_eq!(&r[..5], &[4 * levels(n); 5], "{what}: tree");
                assert_eq!(r[5], 9, "{what}: pairwise");
            }
            // Any party count: a level costs one ReLU (sign circuit + one bit-injection
            // round), pairwise two comparisons and one product.
            assert_eq!(&r[..5], &[relu * levels(n); 5], "{what}: tree");
            assert_eq!(r[5], 2 * ltz + 1, "{what}: pairwise");
        }
    }
}

fn parties() -> impl Strategy<Value = usize> {
    prop_oneof![Just(2usize), Just(3usize)]
}

/// A shape of rank 1 to 3 (dimensions 1 to 6, sometimes 0 off the axis), an axis of it with
/// a non-zero length, and tie-prone or fine values.
fn case() -> impl Strategy<Value = (ArrayD<f64>, usize, bool)> {
    proptest::collection::vec(1usize..7, 1..4)
        .prop_flat_map(|shape| {
            let len = shape.len();
            (Just(shape), 0..len, 0..len, any::<bool>(), any::<bool>(), any::<u64>(), any::<bool>())
        })
        .prop_map(|(mut shape, axis, other, zero, ties, seed, keepdim)| {
            if zero && other != axis {
                shape[other] = 0;
            }
            let x = if ties { tie_prone(&shape, seed) } else { fine(&shape, seed) };
            (x, axis, keepdim)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn max_over_random_shapes(p in parties(), (x, axis, keepdim) in case()) {
        let out = run(p, &SessionConfig::default(), |s| {
            let a = share_from(s, p - 1, &x)?;
            let (mt, ot) = a.max_with_argmax(axis, keepdim, MaxMethod::Tree)?;
            let (mp, op) = a.max_with_argmax(axis, keepdim, MaxMethod::Pairwise)?;
            Ok(vec![mt.reveal()?, ot.reveal()?, mp.reveal()?, op.reveal()?, a.min(axis, keepdim)?.reveal()?])
        });
        let got = unanimous(out);
        let (max, oh) = max_ref(&x, axis);
        let what = format!("{p} parties, {:?} along {axis}", x.shape());
        assert_close(&got[0], &kept(&max, axis, keepdim), 0.0, &format!("{what}: tree max"));
        assert_close(&got[1], &oh, 0.0, &format!("{what}: tree one-hot"));
        assert_close(&got[2], &kept(&max, axis, keepdim), 0.0, &format!("{what}: pairwise max"));
        assert_close(&got[3], &oh, 0.0, &format!("{what}: pairwise one-hot"));
        assert_close(&got[4], &kept(&min_ref(&x, axis).0, axis, keepdim), 0.0, &format!("{what}: min"));
        assert_one_hot(&got[1], axis, &what);
    }
}
