//! 2-d pooling (`pool.rs`), for 2, 3 and 4 parties, against plain f64: `max_pool2d`'s pooled
//! tensor and its `[n, c, oh, ow, kh * kw]` one-hot of each window's FIRST maximum in
//! row-major window order (kernel 2 stride 2, kernel 3 stride 1 padding 1, kernel 3 stride 2
//! padding 1, rectangular kernels, strides and padding, non-square inputs, inputs the
//! windows do not cover exactly, several batches and channels, ties, negative values that
//! padding must never beat), `max_pool2d_backward` (each gradient routed to its window's
//! first maximum, summed where windows overlap), `avg_pool2d` with and without padding
//! (padding counts in the divisor, PyTorch's `count_include_pad=True`), round counts for two
//! parties, and typed `InvalidArgument` errors for windows that do not fit and wrong ranks.
//!
//! Tolerances:
//! - pooled maxima select an encoded input and the one-hots are exact 0/1: inputs on the
//!   2^-16 grid, tolerance 0. The reference pads with -inf (padding is never selected); the
//!   protocol pads with -2^30, the same for inputs above -2^30.
//! - backward: each window's product one-hot * gradient is exact in the ring (an encoded 0/1
//!   times a gradient on the grid) and is truncated once, off by at most one unit (2^-16),
//!   also where the one-hot is 0. An input position lies in at most
//!   `ceil(kh / sh) * ceil(kw / sw)` windows, so the tolerance is that many units.
//! - avg_pool2d: the window sum of grid inputs is exact; the division is a product with the
//!   encoded `1 / (kh kw)` (off by at most 2^-17) and one truncation (2^-16): within
//!   `2^-16 + |sum| 2^-17`, i.e. `2^-16 + window * 2^-17` for inputs in [-1, 1]; the test
//!   uses the largest window sum of each input.

mod common;

use cloak_mpc::{AShare, MpcError, Pool2dSpec, SessionConfig};
use common::*;
use ndarray::{ArrayD, IxDyn};

fn spec(kernel: (usize, usize), stride: (usize, usize), padding: (usize, usize)) -> Pool2dSpec {
    Pool2dSpec { kernel, stride, padding }
}

/// Output height and width.
fn out_hw(shape: &[usize], sp: &Pool2dSpec) -> (usize, usize) {
    (
        (shape[2] + 2 * sp.padding.0 - sp.kernel.0) / sp.stride.0 + 1,
        (shape[3] + 2 * sp.padding.1 - sp.kernel.1) / sp.stride.1 + 1,
    )
}

/// The input position of window `(i, j)`'s element `(di, dj)`, or `None` in the padding.
fn source(
    shape: &[usize],
    sp: &Pool2dSpec,
    (i, j): (usize, usize),
    (di, dj): (usize, usize),
) -> Option<(usize, usize)> {
    let r = (i * sp.stride.0 + di).checked_sub(sp.padding.0)?;
    let q = (j * sp.stride.1 + dj).checked_sub(sp.padding.1)?;
    (r < shape[2] && q < shape[3]).then_some((r, q))
}

/// Max pooling in f64: the pooled values and the one-hot of each window's first maximum
/// (row-major within the window; padding is -inf and never chosen).
fn max_pool_ref(x: &ArrayD<f64>, sp: &Pool2dSpec) -> (ArrayD<f64>, ArrayD<f64>) {
    let s = x.shape();
    let (oh, ow) = out_hw(s, sp);
    let (kh, kw) = sp.kernel;
    let mut out = ArrayD::<f64>::zeros(IxDyn(&[s[0], s[1], oh, ow]));
    let mut onehot = ArrayD::<f64>::zeros(IxDyn(&[s[0], s[1], oh, ow, kh * kw]));
    for b in 0..s[0] {
        for c in 0..s[1] {
            for i in 0..oh {
                for j in 0..ow {
                    let mut best = (f64::NEG_INFINITY, usize::MAX);
                    for di in 0..kh {
                        for dj in 0..kw {
                            if let Some((r, q)) = source(s, sp, (i, j), (di, dj))
                                && x[[b, c, r, q]] > best.0
                            {
                                best = (x[[b, c, r, q]], di * kw + dj);
                            }
                        }
                    }
                    out[[b, c, i, j]] = best.0;
                    onehot[[b, c, i, j, best.1]] = 1.0;
                }
            }
        }
    }
    (out, onehot)
}

/// The max-pool gradient in f64: `g[b, c, i, j]` goes to the input at its window's first
/// maximum, summed over windows.
fn max_pool_backward_ref(x: &ArrayD<f64>, g: &ArrayD<f64>, sp: &Pool2dSpec) -> ArrayD<f64> {
    let s = x.shape();
    let (_, onehot) = max_pool_ref(x, sp);
    let mut grad = ArrayD::<f64>::zeros(x.raw_dim());
    let kw = sp.kernel.1;
    for ((b, c, i, j, k), &v) in
        onehot.view().into_dimensionality::<ndarray::Ix5>().expect("5-d").indexed_iter()
    {
        if v == 1.0 {
            let (r, q) = source(s, sp, (i, j), (k / kw, k % kw)).expect("never padding");
            grad[[b, c, r, q]] += g[[b, c, i, j]];
        }
    }
    grad
}

/// Average pooling in f64, zero padding counted in the divisor; also the largest |window
/// sum|.
fn avg_pool_ref(x: &ArrayD<f64>, sp: &Pool2dSpec) -> (ArrayD<f64>, f64) {
    let s = x.shape();
    let (oh, ow) = out_hw(s, sp);
    let (kh, kw) = sp.kernel;
    let mut out = ArrayD::<f64>::zeros(IxDyn(&[s[0], s[1], oh, ow]));
    let mut largest = 0.0f64;
    for b in 0..s[0] {
        for c in 0..s[1] {
            for i in 0..oh {
                for j in 0..ow {
                    let mut sum = 0.0;
                    for di in 0..kh {
                        for dj in 0..kw {
                            if let Some((r, q)) = source(s, sp, (i, j), (di, dj)) {
                                sum += x[[b, c, r, q]];
                            }
                        }
                    }
                    largest = largest.max(sum.abs());
                    out[[b, c, i, j]] = sum / (kh * kw) as f64;
                }
            }
        }
    }
    (out, largest)
}

/// At most how many windows share an input position.
fn overlap(sp: &Pool2dSpec) -> f64 {
    (sp.kernel.0.div_ceil(sp.stride.0) * sp.kernel.1.div_ceil(sp.stride.1)) as f64
}

/// Grid values in [-3, 3) rounded to halves: ties within a window are common.
fn tie_prone(shape: &[usize], seed: u64) -> ArrayD<f64> {
    rand_arr(shape, -3.0, 3.0, seed).mapv(|v| (v * 2.0).floor() / 2.0)
}

/// The pooling cases: input shape, spec, and whether the values are tie-prone.
fn max_cases() -> Vec<(Vec<usize>, Pool2dSpec, bool)> {
    vec![
        // Kernel 2 stride 2, non-square, exact cover.
        (vec![2, 3, 4, 6], Pool2dSpec::square(2), true),
        // Odd sizes: the last row and column belong to no window.
        (vec![1, 2, 5, 7], Pool2dSpec::square(2), false),
        // Kernel 3 stride 1 padding 1 (same size out).
        (vec![2, 2, 5, 6], spec((3, 3), (1, 1), (1, 1)), true),
        (vec![1, 1, 4, 3], spec((3, 3), (1, 1), (1, 1)), false),
        // Kernel 3 stride 2 padding 1 (ResNet's stem).
        (vec![2, 2, 7, 6], spec((3, 3), (2, 2), (1, 1)), true),
        (vec![1, 3, 6, 9], spec((3, 3), (2, 2), (1, 1)), false),
        // Rectangular kernel, stride and padding.
        (vec![1, 3, 4, 5], spec((2, 3), (1, 2), (1, 1)), true),
        (vec![2, 1, 6, 5], spec((3, 2), (2, 1), (1, 0)), false),
        // Overlapping windows without padding, a 1x1 window, a single pixel in padding.
        (vec![1, 2, 3, 4], spec((2, 2), (1, 1), (0, 0)), true),
        (vec![1, 1, 3, 2], Pool2dSpec::square(1), false),
        (vec![1, 2, 1, 1], spec((3, 3), (1, 1), (1, 1)), false),
    ]
}

#[test]
fn max_pool_and_backward_match_f64() {
    let cases: Vec<_> = max_cases()
        .into_iter()
        .enumerate()
        .map(|(i, (shape, sp, ties))| {
            let seed = 500 + i as u64;
            let x = if ties {
                tie_prone(&shape, seed)
            } else {
                grid(&rand_arr(&shape, -8.0, 8.0, seed))
            };
            let (oh, ow) = out_hw(&shape, &sp);
            let g = grid(&rand_arr(&[shape[0], shape[1], oh, ow], -2.0, 2.0, seed + 50));
            (x, g, sp)
        })
        .collect();
    for p in PARTIES {
        let out = run(p, &SessionConfig::default(), |s| {
            let mut all = Vec::new();
            for (i, (x, g, sp)) in cases.iter().enumerate() {
                let a = share_from(s, i % p, x)?;
                let (pooled, onehot) = a.max_pool2d(sp)?;
                let gs = share_from(s, (i + 1) % p, g)?;
                let grad = AShare::max_pool2d_backward(&gs, &onehot, x.shape(), sp)?;
                all.push([pooled.reveal()?, onehot.reveal()?, grad.reveal()?]);
            }
            Ok(all)
        });
        for ((x, g, sp), [pooled, onehot, grad]) in cases.iter().zip(unanimous(out)) {
            let what = format!("{p} parties, input {:?}, {sp:?}", x.shape());
            let (want, want_oh) = max_pool_ref(x, sp);
            assert_close(&pooled, &want, 0.0, &format!("{what}: pooled"));
            assert_close(&onehot, &want_oh, 0.0, &format!("{what}: one-hot"));
            let want_grad = max_pool_backward_ref(x, g, sp);
            assert_close(&grad, &want_grad, overlap(sp) * ULP, &format!("{what}: backward"));
        }
    }
}

#[test]
fn max_pool_ties_and_negatives() {
    // Channel 0: all equal, so every window's first element wins (with padding: the first
    // non-padded one). Channel 1: large negative values (above the -2^30 padding), which the
    // padding must not beat. Channel 2: one value repeated at the end of every window.
    let ch0 = vec![-0.5; 16];
    let ch1: Vec<f64> = (0..16).map(|i| -1.0e9 + 1000.0 * (i % 5) as f64).collect();
    let ch2: Vec<f64> = (0..16).map(|i| if i % 2 == 1 { 2.0 } else { -ULP }).collect();
    let x = arr(&[1, 3, 4, 4], [ch0, ch1, ch2].concat());
    let specs = [
        Pool2dSpec::square(2),
        spec((3, 3), (1, 1), (1, 1)),
        spec((3, 3), (2, 2), (1, 1)),
        spec((4, 4), (1, 1), (2, 2)),
    ];
    for p in PARTIES {
        let out = run(p, &SessionConfig::default(), |s| {
            let a = share_from(s, p - 1, &x)?;
            let mut all = Vec::new();
            for sp in &specs {
                let (pooled, onehot) = a.max_pool2d(sp)?;
                all.push([pooled.reveal()?, onehot.reveal()?]);
            }
            Ok(all)
        });
        for (sp, [pooled, onehot]) in specs.iter().zip(unanimous(out)) {
            let what = format!("{p} parties, {sp:?}");
            let (want, want_oh) = max_pool_ref(&x, sp);
            assert_close(&pooled, &want, 0.0, &format!("{what}: pooled"));
            assert_close(&onehot, &want_oh, 0.0, &format!("{what}: one-hot"));
        }
    }
    // The reference: with kernel 3 padding 1, the top-left window of channel 0 starts in
    // the padding, so its first maximum is the window's element (1, 1).
    let (_, oh) = max_pool_ref(&x, &specs[1]);
    assert_eq!(oh[[0, 0, 0, 0, 4]], 1.0);
}

#[test]
fn avg_pool_matches_f64() {
    let cases = [
        (vec![2, 3, 4, 6], Pool2dSpec::square(2)),
        (vec![1, 2, 5, 7], Pool2dSpec::square(2)),
        (vec![1, 2, 5, 6], spec((3, 3), (1, 1), (1, 1))),
        (vec![2, 1, 7, 6], spec((3, 3), (2, 2), (1, 1))),
        (vec![1, 2, 6, 5], spec((3, 2), (2, 1), (1, 0))),
        (vec![1, 1, 3, 5], spec((2, 3), (1, 1), (0, 1))),
        (vec![1, 1, 3, 2], Pool2dSpec::square(1)),
    ];
    let inputs: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, (shape, sp))| {
            // Inputs in [-1, 1) for the even cases, [-20, 20) for the odd ones.
            let r = if i % 2 == 0 { 1.0 } else { 20.0 };
            (grid(&rand_arr(shape, -r, r, 700 + i as u64)), *sp, r)
        })
        .collect();
    for p in PARTIES {
        let out = run(p, &SessionConfig::default(), |s| {
            let mut all = Vec::new();
            for (i, (x, sp, _)) in inputs.iter().enumerate() {
                all.push(share_from(s, i % p, x)?.avg_pool2d(sp)?.reveal()?);
            }
            Ok(all)
        });
        for ((x, sp, r), got) in inputs.iter().zip(unanimous(out)) {
            let (want, largest) = avg_pool_ref(x, sp);
            // |sum| <= window * r: for r = 1 the tolerance is within 2^-16 + window * 2^-17.
            let window = (sp.kernel.0 * sp.kernel.1) as f64;
            assert!(largest <= window * r, "window sums bounded by the inputs");
            let tol = ULP + largest * HALF_ULP;
            assert_close(&got, &want, tol, &format!("{p} parties, {:?}, {sp:?}", x.shape()));
        }
    }
    // The reference counts padding: a corner window of kernel 3 padding 1 over ones holds 4
    // of them and averages to 4/9.
    let ones = ArrayD::<f64>::ones(IxDyn(&[1, 1, 3, 3]));
    let (corner, _) = avg_pool_ref(&ones, &spec((3, 3), (1, 1), (1, 1)));
    assert_eq!(corner[[0, 0, 0, 0]], 4.0 / 9.0);
}

#[test]
fn round_counts_for_two_parties() {
    // max_pool2d: a tree over the kh * kw window, 6 rounds per level (module doc of
    // reduce.rs); backward: one Beaver round and its truncation (dealer pairs, the default);
    // avg_pool2d: a local sum and one exact division by the window size (one round; free for
    // a 1 x 1 window).
    let cases = [
        (vec![2, 2, 4, 6], Pool2dSpec::square(2), 2u64),
        (vec![1, 2, 5, 6], spec((3, 3), (1, 1), (1, 1)), 4),
        (vec![1, 1, 7, 6], spec((3, 3), (2, 2), (1, 1)), 4),
        (vec![1, 1, 4, 5], spec((2, 3), (1, 2), (1, 1)), 3),
        (vec![1, 1, 3, 2], Pool2dSpec::square(1), 0),
    ];
    for (shape, sp, levels) in cases {
        let x = tie_prone(&shape, 9);
        let out = run(2, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            s.reset_stats();
            let (pooled, onehot) = a.max_pool2d(&sp)?;
            let fwd = (stats_of(s, "max_pool2d").rounds, s.comm_stats().total().rounds);
            s.reset_stats();
            AShare::max_pool2d_backward(&pooled, &onehot, &shape, &sp)?;
            let bwd = (stats_of(s, "max_pool2d_backward").rounds, s.comm_stats().total().rounds);
            s.reset_stats();
            a.avg_pool2d(&sp)?;
            Ok((fwd, bwd, s.comm_stats().total().rounds))
        });
        let what = format!("{shape:?}, {sp:?}");
        let avg = u64::from(sp.kernel != (1, 1));
        assert_eq!(unanimous(out), ((4 * levels, 4 * levels), (2, 2), avg), "{what}");
    }
}

#[test]
fn bad_shapes_are_typed_errors_at_every_party() {
    let x = rand_arr(&[1, 1, 3, 3], -1.0, 1.0, 9);
    let three_d = rand_arr(&[1, 3, 3], -1.0, 1.0, 9);
    let five_d = rand_arr(&[1, 1, 1, 3, 3], -1.0, 1.0, 9);
    let bad_specs = [
        Pool2dSpec::square(4),        // larger than the input
        spec((2, 4), (1, 1), (0, 0)), // too wide
        spec((3, 3), (1, 1), (2, 2)), // padding above half the kernel
        spec((2, 2), (1, 1), (0, 2)),
        spec((2, 2), (0, 1), (0, 0)), // stride 0
        spec((0, 2), (1, 1), (0, 0)), // kernel 0
    ];
    for p in PARTIES {
        let out = run_typed(p, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            let mut errs = Vec::new();
            for sp in &bad_specs {
                errs.push(a.max_pool2d(sp).map(drop));
                errs.push(a.avg_pool2d(sp).map(drop));
            }
            let ok = Pool2dSpec::square(2);
            for y in [&three_d, &five_d] {
                let b = share0(s, y)?;
                errs.push(b.max_pool2d(&ok).map(drop));
                errs.push(b.avg_pool2d(&ok).map(drop));
            }
            // Backward with shapes that do not match the forward pass.
            let (pooled, onehot) = a.max_pool2d(&ok)?;
            let (_, onehot3) = a.max_pool2d(&spec((3, 3), (1, 1), (1, 1)))?;
            let bwd = |g: &AShare, o: &AShare, shape: &[usize], sp: &Pool2dSpec| {
                AShare::max_pool2d_backward(g, o, shape, sp).map(drop)
            };
            errs.push(bwd(&pooled, &onehot, &[1, 3, 3], &ok));
            errs.push(bwd(&pooled, &onehot, &[1, 1, 5, 5], &ok));
            errs.push(bwd(&pooled, &onehot3, &[1, 1, 3, 3], &ok));
            errs.push(bwd(&onehot, &onehot, &[1, 1, 3, 3], &ok));
            errs.push(bwd(&pooled, &onehot, &[1, 1, 3, 3], &Pool2dSpec::square(4)));
            // The session still works afterwards.
            let after = bwd(&pooled, &onehot, &[1, 1, 3, 3], &ok);
            Ok((errs, after))
        });
        for (rank, o) in out.into_iter().enumerate() {
            let (errs, after) = o.unwrap_or_else(|e| panic!("{p} parties: party {rank}: {e}"));
            for (i, e) in errs.iter().enumerate() {
                assert!(
                    matches!(e, Err(MpcError::InvalidArgument { .. })),
                    "{p} parties, party {rank}, case {i}: {e:?}"
                );
            }
            assert!(after.is_ok(), "{p} parties, party {rank}: {after:?}");
        }
    }
}

#[test]
fn empty_batch_pools_to_empty() {
    let x = arr(&[0, 2, 4, 4], vec![]);
    let sp = spec((3, 3), (1, 1), (1, 1));
    for p in PARTIES {
        let out = run(p, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            let (pooled, onehot) = a.max_pool2d(&sp)?;
            let grad = AShare::max_pool2d_backward(&pooled, &onehot, x.shape(), &sp)?;
            Ok(vec![
                pooled.reveal()?.shape().to_vec(),
                onehot.reveal()?.shape().to_vec(),
                grad.reveal()?.shape().to_vec(),
                a.avg_pool2d(&sp)?.reveal()?.shape().to_vec(),
            ])
        });
        let want = vec![vec![0, 2, 4, 4], vec![0, 2, 4, 4, 9], vec![0, 2, 4, 4], vec![0, 2, 4, 4]];
        assert_eq!(unanimous(out), want, "{p} parties");
    }
}

/// Padding loses to every comparable input, however negative: windows of values far below
/// -2^30 (still encodable at 16 fractional bits) pick the real maximum, and backward routes
/// the gradient to it.
#[test]
fn padding_never_beats_very_negative_inputs() {
    let x = arr(&[1, 1, 2, 2], vec![-2e9, -3e9, -1.5e9, -4e9]);
    let sp = spec((3, 3), (1, 1), (1, 1));
    let (want, want_onehot) = max_pool_ref(&x, &sp);
    assert!(want.iter().all(|&v| v == -1.5e9), "reference: {want:?}");
    for p in [2, 3] {
        let out = run(p, &SessionConfig::default(), |s| {
            let (pooled, onehot) = share0(s, &x)?.max_pool2d(&sp)?;
            Ok((pooled.reveal()?, onehot.reveal()?))
        });
        let (pooled, onehot) = unanimous(out);
        assert_close(&pooled, &want, 0.0, &format!("{p} parties: pooled"));
        assert_close(&onehot, &want_onehot, 0.0, &format!("{p} parties: one-hot"));
    }
}

#[test]
fn pooling_without_the_one_hot_gives_the_same_values_for_fewer_bytes() {
    // Inference needs no one-hot: the values match max_pool2d's exactly (the same tree of
    // exact comparisons), and the selection carries one value per pair instead of a
    // one-hot row of the window's size as well.
    let shape = [1, 3, 7, 7];
    let x = tie_prone(&shape, 21);
    let sp = spec((3, 3), (2, 2), (1, 1));
    for p in [2, 3] {
        let out = run(p, &SessionConfig::default(), |s| {
            let a = share0(s, &x)?;
            s.reset_stats();
            let (with, _) = a.max_pool2d(&sp)?;
            let with_bytes = s.comm_stats().total().bytes_sent;
            s.reset_stats();
            let without = a.max_pool2d_values(&sp)?;
            let without_bytes = s.comm_stats().total().bytes_sent;
            Ok((with.reveal()?, without.reveal()?, with_bytes, without_bytes))
        });
        let (with, without, with_bytes, without_bytes) = unanimous(out);
        assert_close(&without, &with, 0.0, &format!("{p} parties"));
        assert!(without_bytes < with_bytes, "{p} parties: {without_bytes} >= {with_bytes}");
    }
}
