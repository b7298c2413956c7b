//! Pooling against naive loops; max routing (first maximum wins, padding never wins) and
//! the average's adjoint identity.

use cloak_mpc::Pool2dSpec;
use ndarray::{ArrayD, IxDyn};

use super::{TestRng, assert_close, assert_close_scalar, inner};
use crate::{Backend, Plain};

fn pool(kernel: (usize, usize), stride: (usize, usize), padding: (usize, usize)) -> Pool2dSpec {
    Pool2dSpec { kernel, stride, padding }
}

/// `(input shape, spec)`: plain, padded, non-square, overlapping, stride not dividing.
fn cases() -> Vec<(Vec<usize>, Pool2dSpec)> {
    vec![
        (vec![2, 3, 6, 6], Pool2dSpec::square(2)),
        (vec![1, 2, 7, 6], pool((3, 3), (2, 2), (1, 1))),
        (vec![2, 1, 5, 7], pool((3, 2), (1, 2), (1, 0))),
        (vec![1, 2, 5, 5], pool((2, 2), (1, 1), (0, 0))),
        (vec![1, 1, 8, 9], pool((3, 3), (2, 3), (0, 1))),
    ]
}

/// Per window: the real positions `(row, col)` in row-major window order, with their tap.
fn window(sp: &Pool2dSpec, h: usize, w: usize, i: usize, j: usize) -> Vec<(usize, usize, usize)> {
    let mut taps = Vec::new();
    for a in 0..sp.kernel.0 {
        for b in 0..sp.kernel.1 {
            let r = (i * sp.stride.0 + a) as isize - sp.padding.0 as isize;
            let q = (j * sp.stride.1 + b) as isize - sp.padding.1 as isize;
            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                taps.push((r as usize, q as usize, a * sp.kernel.1 + b));
            }
        }
    }
    taps
}

/// Naive max (first maximum's tap and value) and average per window, and the routed max
/// gradient for `g`.
fn naive(
    x: &ArrayD<f64>,
    sp: &Pool2dSpec,
    g: &ArrayD<f64>,
) -> (ArrayD<f64>, Vec<usize>, ArrayD<f64>, ArrayD<f64>) {
    let s = x.shape();
    let (h, w) = (s[2], s[3]);
    let oh = (h + 2 * sp.padding.0 - sp.kernel.0) / sp.stride.0 + 1;
    let ow = (w + 2 * sp.padding.1 - sp.kernel.1) / sp.stride.1 + 1;
    let mut max = ArrayD::zeros(IxDyn(&[s[0], s[1], oh, ow]));
    let mut avg = max.clone();
    let mut taps = Vec::new();
    let mut dx = ArrayD::zeros(x.raw_dim());
    for n in 0..s[0] {
        for c in 0..s[1] {
            for i in 0..oh {
                for j in 0..ow {
                    let win = window(sp, h, w, i, j);
                    let (mut best, mut sum) = (win[0], 0.0);
                    for &(r, q, t) in &win {
                        sum += x[[n, c, r, q]];
                        if x[[n, c, r, q]] > x[[n, c, best.0, best.1]] {
                            best = (r, q, t);
                        }
                    }
                    max[[n, c, i, j]] = x[[n, c, best.0, best.1]];
                    avg[[n, c, i, j]] = sum / (sp.kernel.0 * sp.kernel.1) as f64;
                    taps.push(best.2);
                    dx[[n, c, best.0, best.1]] += g[[n, c, i, j]];
                }
            }
        }
    }
    (max, taps, avg, dx)
}

#[test]
fn pooling_matches_naive_loops() {
    let mut rng = TestRng::new(10);
    for (xs, sp) in cases() {
        let x = rng.array(&xs, -1.0, 1.0);
        let (out, onehot) = Plain.max_pool2d(&x, &sp).unwrap();
        let g = rng.array(out.shape(), -1.0, 1.0);
        let (max, taps, avg, routed) = naive(&x, &sp, &g);
        let what = format!("{xs:?} {sp:?}");
        assert_eq!(out, max, "max {what}");
        let k = sp.kernel.0 * sp.kernel.1;
        let mut hot_shape = max.shape().to_vec();
        hot_shape.push(k);
        assert_eq!(onehot.shape(), &hot_shape[..]);
        let flat: Vec<f64> = onehot.iter().copied().collect();
        for (win, &t) in flat.chunks(k).zip(&taps) {
            let expect: Vec<f64> = (0..k).map(|i| if i == t { 1.0 } else { 0.0 }).collect();
            assert_eq!(win, &expect[..], "onehot {what}");
        }
        let dx = Plain.max_pool2d_backward(&g, &onehot, &xs, &sp).unwrap();
        assert_close(&dx, &routed, 1e-15, &format!("max backward {what}"));
        assert_close(&Plain.avg_pool2d(&x, &sp).unwrap(), &avg, 1e-15, &format!("avg {what}"));
    }
}

#[test]
fn avg_pool_backward_is_the_adjoint() {
    let mut rng = TestRng::new(11);
    for (xs, sp) in cases() {
        let x = rng.array(&xs, -1.0, 1.0);
        let y = Plain.avg_pool2d(&x, &sp).unwrap();
        let g = rng.array(y.shape(), -1.0, 1.0);
        let dx = Plain.avg_pool2d_backward(&g, &xs, &sp).unwrap();
        assert_close_scalar(inner(&y, &g), inner(&x, &dx), 1e-9, &format!("{xs:?} {sp:?}"));
    }
}

#[test]
fn max_pool_ties_go_to_the_first_real_position() {
    let x = ArrayD::from_elem(IxDyn(&[1, 1, 4, 4]), 2.5);
    let (_, onehot) = Plain.max_pool2d(&x, &Pool2dSpec::square(2)).unwrap();
    for win in onehot.iter().copied().collect::<Vec<_>>().chunks(4) {
        assert_eq!(win, &[1.0, 0.0, 0.0, 0.0]);
    }
    // With padding 1 the top-left window's first real tap is its centre (1, 1): tap 4.
    let (out, onehot) = Plain.max_pool2d(&x, &pool((3, 3), (1, 1), (1, 1))).unwrap();
    assert!(out.iter().all(|&v| v == 2.5));
    assert_eq!(onehot[[0, 0, 0, 0, 4]], 1.0);
    assert_eq!(onehot[[0, 0, 0, 1, 3]], 1.0);
    assert_eq!(onehot[[0, 0, 1, 1, 0]], 1.0);
}

#[test]
fn padding_never_wins_max_pool() {
    let xs = [1, 2, 5, 5];
    let x = ArrayD::from_elem(IxDyn(&xs), -1e300);
    let sp = pool((3, 3), (2, 2), (1, 1));
    let (out, onehot) = Plain.max_pool2d(&x, &sp).unwrap();
    assert!(out.iter().all(|&v| v == -1e300));
    // Every window marks exactly one tap, and it is a real pixel: routing a gradient of
    // ones loses nothing to the padding.
    let k = 9;
    for win in onehot.iter().copied().collect::<Vec<_>>().chunks(k) {
        assert_eq!(win.iter().sum::<f64>(), 1.0);
    }
    let ones = ArrayD::from_elem(out.raw_dim(), 1.0);
    let dx = Plain.max_pool2d_backward(&ones, &onehot, &xs, &sp).unwrap();
    assert_eq!(dx.sum(), out.len() as f64);
}

#[test]
fn pooling_refuses_bad_arguments() {
    let x = ArrayD::zeros(IxDyn(&[1, 1, 4, 4]));
    // Padding above half the window, a window larger than the input, zero stride.
    assert!(Plain.max_pool2d(&x, &pool((2, 2), (2, 2), (2, 0))).is_err());
    assert!(Plain.avg_pool2d(&x, &pool((5, 2), (1, 1), (0, 0))).is_err());
    assert!(Plain.avg_pool2d(&x, &pool((2, 2), (0, 1), (0, 0))).is_err());
    assert!(Plain.avg_pool2d(&x, &pool((0, 2), (1, 1), (0, 0))).is_err());
    // Not NCHW.
    assert!(Plain.max_pool2d(&ArrayD::zeros(IxDyn(&[4, 4])), &Pool2dSpec::square(2)).is_err());
    // Backward with mismatched shapes.
    let sp = Pool2dSpec::square(2);
    let (out, onehot) = Plain.max_pool2d(&x, &sp).unwrap();
    let bad = ArrayD::zeros(IxDyn(&[1, 1, 3, 2]));
    assert!(Plain.max_pool2d_backward(&bad, &onehot, &[1, 1, 4, 4], &sp).is_err());
    assert!(Plain.max_pool2d_backward(&out, &out, &[1, 1, 4, 4], &sp).is_err());
    assert!(Plain.max_pool2d_backward(&out, &onehot, &[1, 1, 6, 4], &sp).is_err());
    assert!(Plain.avg_pool2d_backward(&bad, &[1, 1, 4, 4], &sp).is_err());
    assert!(Plain.avg_pool2d_backward(&out, &[1, 4, 4], &sp).is_err());
}
