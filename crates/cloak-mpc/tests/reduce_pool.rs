//! Max, min, argmax, argmin (tree and all-pairs) and 2-d pooling against plain f64, for 2, 3
//! and 4 parties.
//!
//! Max and the pooled maxima select one of the encoded inputs, so they equal the inputs
//! rounded to the 2^-16 grid exactly (tolerance 0); the one-hots are exact 0/1. Average
//! pooling sums encoded inputs exactly and divides once, by a product with the encoded 1/k
//! (off by at most 2^-17) and one truncation: within |sum| * 2^-17 + 2^-16, here at most
//! 9 * 5 * 2^-17 + 2^-16 < 24 * 2^-16 for windows of at most 9 inputs in [-5, 5). The
//! max-pool backward is one product of a 0/1 one-hot by gradients on the grid (exact in the
//! ring) and one truncation (one ulp), summed over at most 4 overlapping windows here:
//! within 4 * 2^-16 (the test allows 8).

mod common;

use cloak_mpc::{AShare, MaxMethod, MpcError, Pool2dSpec, SessionConfig};
use cloak_ring::RingError;
use common::*;
use ndarray::{ArrayD, Axis, IxDyn};

/// Max along `axis` and the one-hot of the first maximum, in f64.
fn reference(x: &ArrayD<f64>, axis: usize) -> (ArrayD<f64>, ArrayD<f64>) {
    let max = x.map_axis(Axis(axis), |lane| lane.fold(f64::NEG_INFINITY, |a, &b| a.max(b)));
    let mut onehot = ArrayD::<f64>::zeros(x.raw_dim());
    for (mut oh_lane, lane) in onehot.lanes_mut(Axis(axis)).into_iter().zip(x.lanes(Axis(axis))) {
        let m = lane.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let first = lane.iter().position(|&v| v == m).expect("a maximum");
        oh_lane[first] = 1.0;
    }
    (max, onehot)
}

#[test]
fn max_and_argmax_match_f64_for_every_axis_length_and_method() {
    for p in PARTIES {
        for (shape, axis) in [
            (vec![1], 0),
            (vec![2], 0),
            (vec![3, 5], 1),
            (vec![5, 3], 0),
            (vec![2, 8], 1),
            (vec![2, 9, 2], 1),
            (vec![9, 2], 0),
            (vec![2, 3, 4], 2),
        ] {
            // Coarse values so that ties are common: argmax must pick the first maximum.
            let x = grid(&rand_arr(&shape, -3.0, 3.0, 40 + shape.len() as u64).mapv(|v| v.round()));
            let (want_max, want_oh) = reference(&x, axis);
            let out = run(p, &SessionConfig::default(), |s| {
                let a = share0(s, &x)?;
                let (m_tree, oh_tree) = a.max_with_argmax(axis, false, MaxMethod::Tree)?;
                let (m_all, oh_all) = a.max_with_argmax(axis, false, MaxMethod::Pairwise)?;
                Ok((
                    m_tree.reveal()?,
                    oh_tree.reveal()?,
                    m_all.reveal()?,
                    oh_all.reveal()?,
                    a.max(axis, true)?.reveal()?,
                    a.min(axis, false)?.reveal()?,
                    a.argmin(axis)?.reveal()?,
                ))
            });
            let what = format!("{p} parties, shape {shape:?}, axis {axis}");
            let (m_tree, oh_tree, m_all, oh_all, m_keep, m_min, oh_min) = out[0].clone();
            assert_close(&m_tree, &want_max, 0.0, &format!("{what}: tree max"));
            assert_close(&oh_tree, &want_oh, 0.0, &format!("{what}: tree argmax"));
            assert_close(&m_all, &want_max, 0.0, &format!("{what}: pairwise max"));
            assert_close(&oh_all, &want_oh, 0.0, &format!("{what}: pairwise argmax"));
            assert_close(
                &m_keep,
                &want_max.clone().insert_axis(Axis(axis)),
                0.0,
                &format!("{what}: keepdim"),
            );
            let (neg_max, neg_oh) = reference(&x.mapv(|v| -v), axis);
            assert_close(&m_min, &neg_max.mapv(|v| -v), 0.0, &format!("{what}: min"));
            assert_close(&oh_min, &neg_oh, 0.0, &format!("{what}: argmin"));
            for o in &out[1..] {
                assert_eq!(o.0, m_tree, "{what}: parties disagree");
            }
        }
    }
}

#[test]
fn max_round_counts() {
    // Two parties: the sign circuit is 7 rounds; a tree level adds one selection round (the
    // product by the XOR-shared bit), so ceil(log2 n) levels of 8 rounds. The all-pairs
    // method runs two comparisons (8 rounds each, with B2A) and one selection: 17 rounds.
    for (n, levels) in [(2usize, 1u64), (3, 2), (8, 3), (9, 4), (16, 4)] {
        let x = rand_arr(&[3, n], -5.0, 5.0, 77);
        let out = run(2, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            s.reset_stats();
            a.max(1, false)?;
            let tree = stats_of(s, "max").rounds;
            s.reset_stats();
            a.max_with_argmax(1, false, MaxMethod::Tree)?;
            let tree_onehot = stats_of(s, "max").rounds;
            s.reset_stats();
            a.max_with_argmax(1, false, MaxMethod::Pairwise)?;
            Ok((tree, tree_onehot, stats_of(s, "max").rounds))
        });
        for (tree, tree_onehot, pairwise) in out {
            assert_eq!(tree, 8 * levels, "tree max of {n}");
            assert_eq!(tree_onehot, 8 * levels, "tree argmax of {n} (one-hots ride along)");
            assert_eq!(pairwise, 17, "pairwise max of {n}");
        }
    }
}

#[test]
fn bad_axes_are_typed_errors_at_every_party() {
    let x = rand_arr(&[2, 3], -1.0, 1.0, 5);
    for p in [2, 3] {
        let out =
            run_typed(p, &SessionConfig::default(), |s| share0(s, &x)?.max(2, false).map(drop));
        for o in out {
            assert!(matches!(o, Err(MpcError::Ring(RingError::AxisOutOfRange { .. }))), "{o:?}");
        }
        let empty = arr(&[2, 0], vec![]);
        let out =
            run_typed(p, &SessionConfig::default(), |s| share0(s, &empty)?.max(1, false).map(drop));
        for o in out {
            assert!(matches!(o, Err(MpcError::InvalidArgument { .. })), "{o:?}");
        }
    }
}

/// Max pooling in f64: pooled values and the row-major one-hot of each window's first max.
fn pool_reference(x: &ArrayD<f64>, spec: &Pool2dSpec) -> (ArrayD<f64>, ArrayD<f64>) {
    let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (kh, kw) = spec.kernel;
    let (sh, sw) = spec.stride;
    let (ph, pw) = spec.padding;
    let oh = (h + 2 * ph - kh) / sh + 1;
    let ow = (w + 2 * pw - kw) / sw + 1;
    let mut out = ArrayD::<f64>::zeros(IxDyn(&[n, c, oh, ow]));
    let mut onehot = ArrayD::<f64>::zeros(IxDyn(&[n, c, oh, ow, kh * kw]));
    for b in 0..n {
        for ch in 0..c {
            for i in 0..oh {
                for j in 0..ow {
                    let mut best = (f64::NEG_INFINITY, 0);
                    for di in 0..kh {
                        for dj in 0..kw {
                            let (r, q) = (
                                (i * sh + di) as isize - ph as isize,
                                (j * sw + dj) as isize - pw as isize,
                            );
                            let v = if r < 0 || q < 0 || r >= h as isize || q >= w as isize {
                                -1_073_741_824.0
                            } else {
                                x[[b, ch, r as usize, q as usize]]
                            };
                            if v > best.0 {
                                best = (v, di * kw + dj);
                            }
                        }
                    }
                    out[[b, ch, i, j]] = best.0;
                    onehot[[b, ch, i, j, best.1]] = 1.0;
                }
            }
        }
    }
    (out, onehot)
}

#[test]
fn max_pool_matches_f64_with_indices_and_backward() {
    let specs = [
        Pool2dSpec::square(2),
        Pool2dSpec { kernel: (3, 3), stride: (1, 1), padding: (1, 1) },
        Pool2dSpec { kernel: (3, 3), stride: (2, 2), padding: (1, 1) },
        Pool2dSpec { kernel: (2, 3), stride: (1, 2), padding: (0, 1) },
    ];
    let x = grid(&rand_arr(&[2, 2, 5, 6], -5.0, 5.0, 21));
    for p in PARTIES {
        for spec in &specs {
            let (want, want_oh) = pool_reference(&x, spec);
            let g = grid(&rand_arr(want.shape(), -2.0, 2.0, 22));
            // Backward in f64: each gradient goes to its window's first maximum.
            let mut want_grad = ArrayD::<f64>::zeros(x.raw_dim());
            for ((idx, &gv), oh_lane) in g.indexed_iter().zip(want_oh.lanes(Axis(4))) {
                let k = oh_lane.iter().position(|&v| v == 1.0).expect("one-hot");
                let (di, dj) = (k / spec.kernel.1, k % spec.kernel.1);
                let r = idx[2] * spec.stride.0 + di;
                let q = idx[3] * spec.stride.1 + dj;
                if r >= spec.padding.0 && q >= spec.padding.1 {
                    let (r, q) = (r - spec.padding.0, q - spec.padding.1);
                    if r < 5 && q < 6 {
                        want_grad[[idx[0], idx[1], r, q]] += gv;
                    }
                }
            }
            let out = run(p, &SessionConfig::default(), |s| {
                let a = share0(s, &x)?;
                let (pooled, onehot) = a.max_pool2d(spec)?;
                let gs = share_from(s, 1, &g)?;
                let grad = AShare::max_pool2d_backward(&gs, &onehot, x.shape(), spec)?;
                Ok((pooled.reveal()?, onehot.reveal()?, grad.reveal()?))
            });
            let what = format!("{p} parties, {spec:?}");
            let (pooled, onehot, grad) = out[0].clone();
            assert_close(&pooled, &want, 0.0, &format!("{what}: pooled"));
            assert_close(&onehot, &want_oh, 0.0, &format!("{what}: one-hot"));
            assert_close(&grad, &want_grad, 8.0 / 65536.0, &format!("{what}: backward"));
        }
    }
}

#[test]
fn avg_pool_matches_f64() {
    let x = grid(&rand_arr(&[1, 3, 6, 5], -5.0, 5.0, 31));
    for p in PARTIES {
        for spec in [
            Pool2dSpec::square(2),
            Pool2dSpec { kernel: (3, 3), stride: (1, 1), padding: (1, 1) },
            Pool2dSpec { kernel: (3, 2), stride: (2, 1), padding: (1, 0) },
        ] {
            // Zero padding counts in the divisor (PyTorch's count_include_pad=True).
            let padded = {
                let (h, w) = (6 + 2 * spec.padding.0, 5 + 2 * spec.padding.1);
                let mut pd = ArrayD::<f64>::zeros(IxDyn(&[1, 3, h, w]));
                for ((_, c, i, j), v) in x
                    .view()
                    .into_dimensionality::<ndarray::Ix4>()
                    .expect("4-d")
                    .indexed_iter()
                    .map(|(i, v)| (i, *v))
                {
                    pd[[0, c, i + spec.padding.0, j + spec.padding.1]] = v;
                }
                pd
            };
            let (kh, kw) = spec.kernel;
            let oh = (padded.shape()[2] - kh) / spec.stride.0 + 1;
            let ow = (padded.shape()[3] - kw) / spec.stride.1 + 1;
            let mut want = ArrayD::<f64>::zeros(IxDyn(&[1, 3, oh, ow]));
            for c in 0..3 {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut sum = 0.0;
                        for di in 0..kh {
                            for dj in 0..kw {
                                sum +=
                                    padded[[0, c, i * spec.stride.0 + di, j * spec.stride.1 + dj]];
                            }
                        }
                        want[[0, c, i, j]] = sum / (kh * kw) as f64;
                    }
                }
            }
            let out =
                run(p, &SessionConfig::default(), |s| share0(s, &x)?.avg_pool2d(&spec)?.reveal());
            let tol = 24.0 / 65536.0;
            assert_close(&out[0], &want, tol, &format!("{p} parties, {spec:?}: avg"));
        }
    }
}

#[test]
fn pooling_shape_errors_are_typed() {
    let x = rand_arr(&[1, 1, 3, 3], -1.0, 1.0, 9);
    let flat = rand_arr(&[9], -1.0, 1.0, 9);
    let out = run_typed(2, &SessionConfig::default(), |s| {
        let a = share0(s, &x)?;
        let too_big = a.max_pool2d(&Pool2dSpec::square(4)).map(drop);
        let not_4d = share0(s, &flat)?.avg_pool2d(&Pool2dSpec::square(2)).map(drop);
        Ok((too_big, not_4d))
    });
    for o in out {
        let (a, b) = o.expect("party");
        assert!(matches!(a, Err(MpcError::InvalidArgument { .. })), "{a:?}");
        assert!(matches!(b, Err(MpcError::InvalidArgument { .. })), "{b:?}");
    }
}
