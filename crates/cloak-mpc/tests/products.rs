//! Products for 2, 3 and 4 parties against plain f64: elementwise `mul` with broadcasting,
//! `square`, `matmul` (2-d, batched `[.., m, k] x [.., k, n]`, and `[.., m, k] x [k, n]`),
//! conv1d and conv2d with stride, padding, dilation and groups, conv2d_input_grad,
//! conv2d_weight_grad and conv_transpose2d, their public-operand versions, and empty
//! operands (a matmul with `k = 0` is all zeros).
//!
//! Tolerances: each encoded input is off by at most 2^-17 (`HALF_ULP`), so one product
//! term `x y` is off by at most `(|x| + |y|) 2^-17 + 2^-34`, and a sum of `k` terms by `k`
//! times that; the one truncation of the accumulated result adds at most 2^-16 (`ULP`, dealer
//! pairs and usually two-party local truncation alike). Each test states its `k` and input
//! bounds. The f64 references are themselves checked on a hand-computed case and by the
//! adjoint identities between a convolution and its two gradients.

mod common;

use cloak_mpc::SessionConfig;
use cloak_ring::Conv2dSpec;
use common::conv_ref::{conv2d_ref, tap};
use common::*;
use ndarray::{Array2, ArrayD, Axis, Ix2, IxDyn};

/// Tolerance of a sum of `k` products of inputs bounded by `xmax` and `ymax`, with one
/// truncation.
fn prod_tol(k: usize, xmax: f64, ymax: f64) -> f64 {
    k as f64 * ((xmax + ymax) * HALF_ULP + HALF_ULP * HALF_ULP) + ULP
}

#[test]
fn mul_with_broadcasting() {
    let x = rand_arr(&[2, 3, 4], -10.0, 10.0, 11);
    let y = rand_arr(&[3, 1], -10.0, 10.0, 12);
    let z = arr(&[4], vec![-1.5, 0.0, 2.0, -0.25]);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, n - 1, &y)?;
            let c = share_from(s, 1, &z)?;
            Ok(vec![
                a.mul(&b)?.reveal()?,
                b.mul(&a)?.reveal()?,
                a.mul(&c)?.reveal()?,
                b.mul(&c)?.reveal()?,
            ])
        });
        let got = agreed_vec(out);
        let tol = prod_tol(1, 10.0, 10.0);
        assert_close(&got[0], &zip_bcast(&x, &y, |a, b| a * b), tol, &format!("{n}: x * y"));
        assert_close(&got[1], &zip_bcast(&y, &x, |a, b| a * b), tol, &format!("{n}: y * x"));
        assert_close(&got[2], &zip_bcast(&x, &z, |a, b| a * b), tol, &format!("{n}: x * z"));
        assert_eq!(got[3].shape(), &[3, 4]);
        assert_close(&got[3], &zip_bcast(&y, &z, |a, b| a * b), tol, &format!("{n}: [3,1]*[4]"));
    }
}

#[test]
fn mul_of_a_value_by_itself_and_square() {
    let x = rand_arr(&[5, 7], -50.0, 50.0, 13);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share_from(s, n - 1, &x)?;
            Ok(vec![a.square()?.reveal()?, a.mul(&a)?.reveal()?])
        });
        let got = agreed_vec(out);
        let want = x.mapv(|v| v * v);
        let tol = prod_tol(1, 50.0, 50.0);
        assert_close(&got[0], &want, tol, &format!("{n}: square"));
        assert_close(&got[1], &want, tol, &format!("{n}: x * x"));
    }
}

/// Matrix product over the last two axes, with `b` either batched like `a` or one matrix.
fn matmul_ref(a: &ArrayD<f64>, b: &ArrayD<f64>) -> ArrayD<f64> {
    let (m, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let nn = b.shape()[b.ndim() - 1];
    let batch: usize = a.shape()[..a.ndim() - 2].iter().product();
    let a3 = a.to_shape((batch, m, k)).unwrap();
    let b_batched = b.ndim() > 2;
    let b3 = b.to_shape((if b_batched { batch } else { 1 }, k, nn)).unwrap();
    let mut out = Vec::with_capacity(batch * m * nn);
    for i in 0..batch {
        let am = a3.index_axis(Axis(0), i);
        let bm = b3.index_axis(Axis(0), if b_batched { i } else { 0 });
        out.extend(am.dot(&bm).iter().copied());
    }
    let mut shape = a.shape()[..a.ndim() - 2].to_vec();
    shape.extend([m, nn]);
    arr(&shape, out)
}

#[test]
fn matmul_plain_batched_and_shared_right() {
    let cases: [(&[usize], &[usize]); 4] = [
        (&[5, 7], &[7, 4]),
        (&[2, 3, 6], &[2, 6, 5]),
        (&[2, 3, 6], &[6, 5]),
        (&[2, 2, 3, 4], &[4, 1]),
    ];
    let cfg = SessionConfig::default();
    for (ci, (sa, sb)) in cases.iter().enumerate() {
        let x = rand_arr(sa, -8.0, 8.0, 20 + ci as u64);
        let y = rand_arr(sb, -8.0, 8.0, 30 + ci as u64);
        let k = sa[sa.len() - 1];
        for n in PARTIES {
            let out = run(n, &cfg, |s| {
                let a = share0(s, &x)?;
                let b = share_from(s, n - 1, &y)?;
                Ok(vec![
                    a.matmul(&b)?.reveal()?,
                    a.matmul_public(&y)?.reveal()?,
                    b.public_matmul(&x)?.reveal()?,
                ])
            });
            let got = agreed_vec(out);
            let want = matmul_ref(&x, &y);
            let tol = prod_tol(k, 8.0, 8.0);
            for (g, what) in got.iter().zip(["matmul", "matmul_public", "public_matmul"]) {
                assert_close(g, &want, tol, &format!("{n} parties, {sa:?} x {sb:?}: {what}"));
            }
        }
    }
}

#[test]
fn empty_products() {
    let e = arr(&[2, 0], vec![]);
    let f = arr(&[0, 3], vec![]);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share0(s, &e)?;
            let b = share_from(s, 1, &f)?;
            let c = share0(s, &arr(&[0], vec![]))?;
            Ok(vec![
                a.matmul(&b)?.reveal()?,
                a.mul(&a)?.reveal()?,
                c.square()?.reveal()?,
                a.matmul_public(&f)?.reveal()?,
                c.mul(&share_from(s, 1, &arr(&[1], vec![2.0]))?)?.reveal()?,
            ])
        });
        let got = agreed_vec(out);
        // A sum of no terms is exactly zero.
        assert_close(&got[0], &ArrayD::zeros(IxDyn(&[2, 3])), 0.0, "[2,0] x [0,3]");
        assert_close(&got[1], &e, 0.0, "[2,0] * [2,0]");
        assert_close(&got[2], &arr(&[0], vec![]), 0.0, "square of [0]");
        assert_close(&got[3], &ArrayD::zeros(IxDyn(&[2, 3])), 0.0, "matmul_public k = 0");
        assert_close(&got[4], &arr(&[0], vec![]), 0.0, "[0] * [1]");
    }
}

/// The adjoint of conv2d in its input: scatters `gy` (`[N, O, oh, ow]`) through the weight
/// `[O, C/g, kh, kw]` into `[N, C, h, w]`. With the weight read as `[I, O/g, kh, kw]`, it is
/// also the transposed convolution.
fn conv_scatter(
    gy: &ArrayD<f64>,
    w: &ArrayD<f64>,
    out_shape: &[usize],
    sp: &Conv2dSpec,
) -> ArrayD<f64> {
    let (nb, o, oh, ow) = (gy.shape()[0], gy.shape()[1], gy.shape()[2], gy.shape()[3]);
    let (cg, kh, kw) = (w.shape()[1], w.shape()[2], w.shape()[3]);
    let og = o / sp.groups;
    let (h, wd) = (out_shape[2], out_shape[3]);
    let mut out = ArrayD::zeros(IxDyn(out_shape));
    for n in 0..nb {
        for oc in 0..o {
            let g = oc / og;
            for i in 0..oh {
                for j in 0..ow {
                    for ch in 0..cg {
                        for a in 0..kh {
                            for b in 0..kw {
                                let y = tap(i, a, sp.stride.0, sp.padding.0, sp.dilation.0, h);
                                let z = tap(j, b, sp.stride.1, sp.padding.1, sp.dilation.1, wd);
                                if let (Some(y), Some(z)) = (y, z) {
                                    out[[n, g * cg + ch, y, z]] +=
                                        gy[[n, oc, i, j]] * w[[oc, ch, a, b]];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The adjoint of conv2d in its weight.
fn conv_weight_grad_ref(
    x: &ArrayD<f64>,
    gy: &ArrayD<f64>,
    wshape: &[usize],
    sp: &Conv2dSpec,
) -> ArrayD<f64> {
    let (nb, h, wd) = (x.shape()[0], x.shape()[2], x.shape()[3]);
    let (o, oh, ow) = (gy.shape()[1], gy.shape()[2], gy.shape()[3]);
    let (cg, kh, kw) = (wshape[1], wshape[2], wshape[3]);
    let og = o / sp.groups;
    let mut out = ArrayD::zeros(IxDyn(wshape));
    for n in 0..nb {
        for oc in 0..o {
            let g = oc / og;
            for i in 0..oh {
                for j in 0..ow {
                    for ch in 0..cg {
                        for a in 0..kh {
                            for b in 0..kw {
                                let y = tap(i, a, sp.stride.0, sp.padding.0, sp.dilation.0, h);
                                let z = tap(j, b, sp.stride.1, sp.padding.1, sp.dilation.1, wd);
                                if let (Some(y), Some(z)) = (y, z) {
                                    out[[oc, ch, a, b]] +=
                                        x[[n, g * cg + ch, y, z]] * gy[[n, oc, i, j]];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn dot(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn reference_convolutions_are_right() {
    // By hand: 3x3 input 1..9, kernel [[1, 0], [0, -1]]: x[i][j] - x[i+1][j+1] = -4.
    let x = arr(&[1, 1, 3, 3], (1..=9).map(f64::from).collect());
    let w = arr(&[1, 1, 2, 2], vec![1.0, 0.0, 0.0, -1.0]);
    let y = conv2d_ref(&x, &w, &Conv2dSpec::default());
    assert_eq!(y, ArrayD::from_elem(IxDyn(&[1, 1, 2, 2]), -4.0));
    // Padding 1, stride 2: corners of the padded input see one pixel each.
    let sp = Conv2dSpec { stride: (2, 2), padding: (1, 1), ..Conv2dSpec::default() };
    let y = conv2d_ref(&x, &w, &sp);
    assert_eq!(y, arr(&[1, 1, 2, 2], vec![-1.0, -3.0, -7.0, 5.0 - 9.0]));
    // Adjoints: <conv(x, w), gy> = <x, input_grad(gy, w)> = <w, weight_grad(x, gy)>.
    let (x, w, sp) = conv_case();
    let y = conv2d_ref(&x, &w, &sp);
    let gy = rand_arr(y.shape(), -1.0, 1.0, 99);
    let lhs = dot(&y, &gy);
    let gx = conv_scatter(&gy, &w, x.shape(), &sp);
    let gw = conv_weight_grad_ref(&x, &gy, w.shape(), &sp);
    assert!((lhs - dot(&x, &gx)).abs() < 1e-9, "input adjoint");
    assert!((lhs - dot(&w, &gw)).abs() < 1e-9, "weight adjoint");
}

/// A conv2d with every parameter non-trivial: stride (2, 1), padding (1, 2), dilation
/// (1, 2), 2 groups; output [2, 6, 4, 8].
fn conv_case() -> (ArrayD<f64>, ArrayD<f64>, Conv2dSpec) {
    let x = rand_arr(&[2, 4, 7, 6], -3.0, 3.0, 40);
    let w = rand_arr(&[6, 2, 3, 2], -2.0, 2.0, 41);
    let sp = Conv2dSpec { stride: (2, 1), padding: (1, 2), dilation: (1, 2), groups: 2 };
    (x, w, sp)
}

#[test]
fn conv2d_shared_and_public() {
    let (x, w, sp) = conv_case();
    let x2 = rand_arr(&[1, 3, 5, 5], -3.0, 3.0, 42);
    let w2 = rand_arr(&[2, 3, 3, 3], -2.0, 2.0, 43);
    let plain = Conv2dSpec::default();
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, n - 1, &w)?;
            let a2 = share_from(s, 1, &x2)?;
            let b2 = share0(s, &w2)?;
            Ok(vec![
                a.conv2d(&b, &sp)?.reveal()?,
                a.conv2d_public(&w, &sp)?.reveal()?,
                a2.conv2d(&b2, &plain)?.reveal()?,
                a2.conv2d_public(&w2, &plain)?.reveal()?,
            ])
        });
        let got = agreed_vec(out);
        let want = conv2d_ref(&x, &w, &sp);
        assert_eq!(want.shape(), &[2, 6, 4, 8]);
        // k = C/g * kh * kw = 2 * 3 * 2 = 12 terms per output.
        let tol = prod_tol(12, 3.0, 2.0);
        assert_close(&got[0], &want, tol, &format!("{n}: conv2d"));
        assert_close(&got[1], &want, tol, &format!("{n}: conv2d_public"));
        let want2 = conv2d_ref(&x2, &w2, &plain);
        // k = 3 * 3 * 3 = 27.
        let tol2 = prod_tol(27, 3.0, 2.0);
        assert_close(&got[2], &want2, tol2, &format!("{n}: conv2d default spec"));
        assert_close(&got[3], &want2, tol2, &format!("{n}: conv2d_public default spec"));
    }
}

#[test]
fn conv1d_shared_and_public() {
    let x = rand_arr(&[2, 4, 9], -3.0, 3.0, 44);
    let w = rand_arr(&[6, 2, 3], -2.0, 2.0, 45);
    // The 1-d parameters are the second components.
    let sp = Conv2dSpec { stride: (1, 2), padding: (0, 1), dilation: (1, 2), groups: 2 };
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share_from(s, 1, &x)?;
            let b = share0(s, &w)?;
            Ok(vec![a.conv1d(&b, &sp)?.reveal()?, a.conv1d_public(&w, &sp)?.reveal()?])
        });
        let got = agreed_vec(out);
        let x4 = x.clone().insert_axis(Axis(2));
        let w4 = w.clone().insert_axis(Axis(2));
        let want = conv2d_ref(&x4, &w4, &sp).index_axis_move(Axis(2), 0);
        assert_eq!(want.shape(), &[2, 6, 4]);
        // k = 2 * 3 = 6 terms.
        let tol = prod_tol(6, 3.0, 2.0);
        assert_close(&got[0], &want, tol, &format!("{n}: conv1d"));
        assert_close(&got[1], &want, tol, &format!("{n}: conv1d_public"));
    }
}

#[test]
fn conv2d_gradients() {
    let (x, w, sp) = conv_case();
    let gy = rand_arr(&[2, 6, 4, 8], -1.0, 1.0, 46);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, 1, &w)?;
            let g = share_from(s, n - 1, &gy)?;
            Ok(vec![
                g.conv2d_input_grad(&b, x.shape(), &sp)?.reveal()?,
                a.conv2d_weight_grad(&g, w.shape(), &sp)?.reveal()?,
            ])
        });
        let got = agreed_vec(out);
        // Input gradient: each input pixel gets at most O/g * kh * kw = 3 * 3 * 2 = 18 terms.
        let gx = conv_scatter(&gy, &w, x.shape(), &sp);
        assert_close(&got[0], &gx, prod_tol(18, 1.0, 2.0), &format!("{n}: input grad"));
        // Weight gradient: N * oh * ow = 2 * 4 * 8 = 64 terms.
        let gw = conv_weight_grad_ref(&x, &gy, w.shape(), &sp);
        assert_close(&got[1], &gw, prod_tol(64, 3.0, 1.0), &format!("{n}: weight grad"));
    }
}

#[test]
fn conv_transpose2d_with_groups_and_output_padding() {
    let x = rand_arr(&[2, 4, 3, 3], -3.0, 3.0, 47);
    // [I, O/g, kh, kw] with 2 groups: 6 output channels.
    let w = rand_arr(&[4, 3, 3, 2], -2.0, 2.0, 48);
    let sp = Conv2dSpec { stride: (2, 3), padding: (1, 0), dilation: (1, 2), groups: 2 };
    let output_padding = (1, 0);
    // (H - 1) s - 2 p + d (k - 1) + output_padding + 1.
    let oh = 2 * 2 - 2 + 2 + 1 + 1;
    let ow = 2 * 3 + 2 + 1;
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let a = share_from(s, n - 1, &x)?;
            let b = share0(s, &w)?;
            a.conv_transpose2d(&b, &sp, output_padding)?.reveal()
        });
        let got = agreed(out);
        let want = conv_scatter(&x, &w, &[2, 6, oh, ow], &sp);
        // Each output pixel gets at most I/g * kh * kw = 2 * 3 * 2 = 12 terms.
        assert_close(&got, &want, prod_tol(12, 3.0, 2.0), &format!("{n}: conv_transpose2d"));
    }
}

#[test]
fn products_compose_like_a_layer() {
    // A linear layer and its backward pass: y = x W + b, dW = x^T dy, dx = dy W^T.
    let x = rand_arr(&[4, 3], -2.0, 2.0, 50);
    let w = rand_arr(&[3, 5], -1.0, 1.0, 51);
    let bias = rand_arr(&[5], -1.0, 1.0, 52);
    let dy = rand_arr(&[4, 5], -1.0, 1.0, 53);
    let cfg = SessionConfig::default();
    for n in PARTIES {
        let out = run(n, &cfg, |s| {
            let xs = share0(s, &x)?;
            let ws = share_from(s, 1, &w)?;
            let bs = share_from(s, 1, &bias)?;
            let ds = share_from(s, n - 1, &dy)?;
            Ok(vec![
                xs.matmul(&ws)?.add(&bs)?.reveal()?,
                xs.t()?.matmul(&ds)?.reveal()?,
                ds.matmul(&ws.t()?)?.reveal()?,
            ])
        });
        let got = agreed_vec(out);
        let x2 = x.view().into_dimensionality::<Ix2>().unwrap();
        let w2 = w.view().into_dimensionality::<Ix2>().unwrap();
        let d2 = dy.view().into_dimensionality::<Ix2>().unwrap();
        let y: Array2<f64> =
            x2.dot(&w2) + bias.view().into_dimensionality::<ndarray::Ix1>().unwrap();
        // k = 3 terms plus the bias's encoding.
        assert_close(&got[0], &y.into_dyn(), prod_tol(3, 2.0, 1.0) + HALF_ULP, "forward");
        // k = 4 (batch) and k = 5 (outputs).
        assert_close(&got[1], &x2.t().dot(&d2).into_dyn(), prod_tol(4, 2.0, 1.0), "dW");
        assert_close(&got[2], &d2.dot(&w2.t()).into_dyn(), prod_tol(5, 1.0, 1.0), "dx");
    }
}

/// Every party revealed the same values; returns them.
fn agreed_vec(out: Vec<Vec<ArrayD<f64>>>) -> Vec<ArrayD<f64>> {
    for o in &out[1..] {
        assert_eq!(o, &out[0], "parties disagree on a revealed value");
    }
    out.into_iter().next().expect("a party")
}
