//! conv2d against the 7-loop definition; both gradients against finite differences and the
//! adjoint identity.

use cloak_ring::Conv2dSpec;
use ndarray::{ArrayD, IxDyn};

use super::{TestRng, assert_close, assert_close_scalar, inner};
use crate::{AutogradError, Backend, Plain};

fn spec(
    stride: usize,
    padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
) -> Conv2dSpec {
    Conv2dSpec { stride: (stride, stride), padding, dilation, groups }
}

/// `(x shape, w shape, spec)`: stride 2, padding, dilation, groups, non-square kernels and
/// strides, strides that do not divide the extent.
fn cases() -> Vec<(Vec<usize>, Vec<usize>, Conv2dSpec)> {
    vec![
        (vec![2, 3, 7, 7], vec![4, 3, 3, 3], Conv2dSpec::default()),
        (vec![2, 3, 8, 8], vec![4, 3, 3, 3], spec(2, (0, 0), (1, 1), 1)),
        (vec![1, 2, 6, 5], vec![3, 2, 3, 3], spec(1, (1, 1), (1, 1), 1)),
        (vec![1, 2, 9, 9], vec![2, 2, 3, 3], spec(1, (0, 0), (2, 2), 1)),
        (vec![2, 4, 6, 6], vec![6, 2, 3, 3], spec(1, (1, 1), (1, 1), 2)),
        (
            vec![1, 3, 7, 9],
            vec![2, 3, 2, 4],
            Conv2dSpec { stride: (1, 2), padding: (0, 1), dilation: (1, 1), groups: 1 },
        ),
        (vec![1, 2, 8, 8], vec![3, 2, 3, 3], spec(2, (0, 0), (1, 1), 1)),
        (
            vec![2, 4, 9, 8],
            vec![4, 1, 3, 2],
            Conv2dSpec { stride: (3, 2), padding: (1, 1), dilation: (1, 2), groups: 4 },
        ),
        (vec![1, 6, 5, 5], vec![4, 3, 1, 1], spec(2, (0, 0), (1, 1), 2)),
    ]
}

/// The definition: `y[n,o,i,j] = sum over c in o's group, a, b of
/// x[n, g*C/g + c, i*s - p + a*d, j*s - p + b*d] * w[o, c, a, b]`, zero outside `x`.
fn naive_conv(x: &ArrayD<f64>, w: &ArrayD<f64>, sp: &Conv2dSpec) -> ArrayD<f64> {
    let (xs, ws) = (x.shape(), w.shape());
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let (oh, ow) = sp.output_hw((h, wd), (kh, kw)).expect("fits");
    let og = o / sp.groups;
    assert_eq!(cg * sp.groups, c);
    let mut y = ArrayD::zeros(IxDyn(&[n, o, oh, ow]));
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = 0.0;
                    for ic in 0..cg {
                        for a in 0..kh {
                            for bb in 0..kw {
                                let r = (i * sp.stride.0 + a * sp.dilation.0) as isize
                                    - sp.padding.0 as isize;
                                let q = (j * sp.stride.1 + bb * sp.dilation.1) as isize
                                    - sp.padding.1 as isize;
                                if r < 0 || q < 0 || r >= h as isize || q >= wd as isize {
                                    continue;
                                }
                                acc += x[[b, g * cg + ic, r as usize, q as usize]]
                                    * w[[oc, ic, a, bb]];
                            }
                        }
                    }
                    y[[b, oc, i, j]] = acc;
                }
            }
        }
    }
    y
}

#[test]
fn conv2d_matches_the_definition() {
    let mut rng = TestRng::new(1);
    for (xs, ws, sp) in cases() {
        let (x, w) = (rng.array(&xs, -1.0, 1.0), rng.array(&ws, -1.0, 1.0));
        let y = Plain.conv2d(&x, &w, &sp).unwrap();
        assert_close(&y, &naive_conv(&x, &w, &sp), 1e-12, &format!("conv2d {xs:?} {ws:?} {sp:?}"));
    }
}

#[test]
fn conv2d_gradients_are_adjoints() {
    let mut rng = TestRng::new(2);
    for (xs, ws, sp) in cases() {
        let (x, w) = (rng.array(&xs, -1.0, 1.0), rng.array(&ws, -1.0, 1.0));
        let y = Plain.conv2d(&x, &w, &sp).unwrap();
        let g = rng.array(y.shape(), -1.0, 1.0);
        let dx = Plain.conv2d_input_grad(&g, &w, &xs, &sp).unwrap();
        let dw = Plain.conv2d_weight_grad(&x, &g, &ws, &sp).unwrap();
        assert_eq!(dx.shape(), &xs[..]);
        assert_eq!(dw.shape(), &ws[..]);
        let what = format!("adjoint {xs:?} {ws:?} {sp:?}");
        assert_close_scalar(inner(&y, &g), inner(&x, &dx), 1e-9, &what);
        assert_close_scalar(inner(&y, &g), inner(&w, &dw), 1e-9, &what);
    }
}

/// `(f(t + h e_i) - f(t - h e_i)) / 2h` for every element `i` of `t`.
fn central_differences(t: &ArrayD<f64>, h: f64, f: impl Fn(&ArrayD<f64>) -> f64) -> ArrayD<f64> {
    let mut grad = ArrayD::zeros(t.raw_dim());
    let mut probe = t.clone();
    for (idx, gi) in grad.indexed_iter_mut() {
        let orig = probe[&idx];
        probe[&idx] = orig + h;
        let up = f(&probe);
        probe[&idx] = orig - h;
        let down = f(&probe);
        probe[&idx] = orig;
        *gi = (up - down) / (2.0 * h);
    }
    grad
}

/// `L(x, w) = <G, conv(x, w)>` is linear in `x` and in `w`, so the central difference is
/// exact in real arithmetic for any step: the only error is rounding, about
/// `eps * |L| / h ~ 1e-16 * 10 / 1e-2 = 1e-13`. A relative tolerance of 1e-6 therefore
/// has a wide margin, while one wrong tap would be off by O(0.1).
#[test]
fn conv2d_gradients_match_finite_differences() {
    let mut rng = TestRng::new(3);
    let h = 1e-2;
    for (xs, ws, sp) in cases() {
        let (x, w) = (rng.array(&xs, -1.0, 1.0), rng.array(&ws, -1.0, 1.0));
        let g = rng.array(Plain.conv2d(&x, &w, &sp).unwrap().shape(), -1.0, 1.0);
        let loss = |x: &ArrayD<f64>, w: &ArrayD<f64>| inner(&g, &Plain.conv2d(x, w, &sp).unwrap());
        let what = format!("{xs:?} {ws:?} {sp:?}");
        let dx = Plain.conv2d_input_grad(&g, &w, &xs, &sp).unwrap();
        let fd_x = central_differences(&x, h, |x| loss(x, &w));
        assert_close(&dx, &fd_x, 1e-6, &format!("dx {what}"));
        let dw = Plain.conv2d_weight_grad(&x, &g, &ws, &sp).unwrap();
        let fd_w = central_differences(&w, h, |w| loss(&x, w));
        assert_close(&dw, &fd_w, 1e-6, &format!("dw {what}"));
    }
}

#[test]
fn input_rows_no_window_reaches_get_zero_gradient() {
    // 8 rows, kernel 3, stride 2: windows start at 0, 2, 4, so row and column 7 are unused.
    let mut rng = TestRng::new(4);
    let sp = spec(2, (0, 0), (1, 1), 1);
    let w = rng.array(&[3, 2, 3, 3], -1.0, 1.0);
    let g = rng.array(&[1, 3, 3, 3], -1.0, 1.0);
    let dx = Plain.conv2d_input_grad(&g, &w, &[1, 2, 8, 8], &sp).unwrap();
    for c in 0..2 {
        for k in 0..8 {
            assert_eq!(dx[[0, c, 7, k]], 0.0);
            assert_eq!(dx[[0, c, k, 7]], 0.0);
        }
    }
    assert!(dx[[0, 0, 6, 6]] != 0.0);
}

#[test]
fn conv2d_refuses_bad_shapes() {
    let x = ArrayD::zeros(IxDyn(&[1, 4, 5, 5]));
    let ok = Conv2dSpec::default();
    let conv = |w: &[usize], sp: &Conv2dSpec| Plain.conv2d(&x, &ArrayD::zeros(IxDyn(w)), sp);
    // Channel mismatch.
    assert!(matches!(conv(&[2, 3, 3, 3], &ok), Err(AutogradError::ShapeMismatch { .. })));
    // Groups that do not divide the channels.
    assert!(conv(&[3, 2, 3, 3], &spec(1, (0, 0), (1, 1), 2)).is_err());
    assert!(conv(&[2, 4, 3, 3], &spec(1, (0, 0), (1, 1), 3)).is_err());
    assert!(conv(&[2, 4, 3, 3], &spec(1, (0, 0), (1, 1), 0)).is_err());
    // Kernel larger than the padded input, zero stride, zero dilation.
    assert!(conv(&[2, 4, 6, 3], &ok).is_err());
    assert!(conv(&[2, 4, 3, 3], &spec(0, (0, 0), (1, 1), 1)).is_err());
    assert!(conv(&[2, 4, 3, 3], &spec(1, (0, 0), (0, 1), 1)).is_err());
    assert!(conv(&[2, 4, 3, 3], &spec(1, (0, 0), (3, 1), 1)).is_err());
    // Not 4-d.
    assert!(conv(&[2, 4, 3], &ok).is_err());
    assert!(
        Plain
            .conv2d(&ArrayD::zeros(IxDyn(&[4, 5, 5])), &ArrayD::zeros(IxDyn(&[2, 4, 3, 3])), &ok)
            .is_err()
    );
    // Gradients with a gradient of the wrong shape or a bad declared shape.
    let w = ArrayD::zeros(IxDyn(&[2, 4, 3, 3]));
    let g = ArrayD::zeros(IxDyn(&[1, 2, 3, 3]));
    assert!(Plain.conv2d_input_grad(&g, &w, &[1, 4, 5, 5], &ok).is_ok());
    assert!(Plain.conv2d_input_grad(&g, &w, &[1, 4, 6, 5], &ok).is_err());
    assert!(Plain.conv2d_input_grad(&g, &w, &[1, 4, 5], &ok).is_err());
    assert!(Plain.conv2d_input_grad(&g, &w, &[usize::MAX, 4, 5, 5], &ok).is_err());
    assert!(Plain.conv2d_weight_grad(&x, &g, &[2, 4, 3, 3], &ok).is_ok());
    assert!(Plain.conv2d_weight_grad(&x, &g, &[2, 4, 2, 3], &ok).is_err());
    assert!(Plain.conv2d_weight_grad(&x, &g, &[2, 3, 3, 3], &ok).is_err());
}
