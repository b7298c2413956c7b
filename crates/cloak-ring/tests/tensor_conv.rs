//! Convolutions through `RingTensor`: shape checking, typed errors and conv1d, against a naive
//! reference. (The kernels themselves are tested in `conv.rs`.)

use cloak_ring::{Conv2dSpec, RingError, RingTensor};

fn seq(shape: &[usize], salt: u64) -> RingTensor<u64> {
    let n: usize = shape.iter().product();
    let v = (0..n as u64).map(|i| (i + salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7).collect();
    RingTensor::from_vec(shape, v).unwrap()
}

fn spec(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dSpec {
    Conv2dSpec {
        stride: (stride, stride),
        padding: (padding, padding),
        dilation: (dilation, dilation),
        groups,
    }
}

/// Naive conv1d: y[n, o, l] = sum_{c, k} x[n, g*Ig + c, l*s - p + k*d] * w[o, c, k].
fn naive_conv1d(
    x: &RingTensor<u64>,
    w: &RingTensor<u64>,
    s: usize,
    p: usize,
    d: usize,
    g: usize,
) -> Vec<u64> {
    let (xs, ws) = (x.shape(), w.shape());
    let (n, c, l) = (xs[0], xs[1], xs[2]);
    let (o, ig, k) = (ws[0], ws[1], ws[2]);
    let ol = (l + 2 * p - d * (k - 1) - 1) / s + 1;
    let og = o / g;
    let (xa, wa) = (x.as_array(), w.as_array());
    let mut out = Vec::new();
    for b in 0..n {
        for oc in 0..o {
            for ox in 0..ol {
                let mut acc = 0u64;
                for ci in 0..ig {
                    for kk in 0..k {
                        let pos = (ox * s + kk * d) as isize - p as isize;
                        if pos >= 0 && (pos as usize) < l {
                            let xc = (oc / og) * ig + ci;
                            assert!(xc < c);
                            acc = acc.wrapping_add(
                                xa[[b, xc, pos as usize]].wrapping_mul(wa[[oc, ci, kk]]),
                            );
                        }
                    }
                }
                out.push(acc);
            }
        }
    }
    out
}

#[test]
fn conv1d_matches_naive_reference() {
    for &(s, p, d, g) in &[(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2), (3, 1, 1, 4)] {
        let x = seq(&[2, 4, 11], 1);
        let w = seq(&[8, 4 / g, 3], 2);
        let y = x.conv1d(&w, &spec(s, p, d, g)).unwrap();
        assert_eq!(y.to_vec(), naive_conv1d(&x, &w, s, p, d, g), "s{s} p{p} d{d} g{g}");
        assert_eq!(y.ndim(), 3);
    }
}

#[test]
fn conv2d_output_shape_and_gradient_shapes() {
    let x = seq(&[2, 6, 9, 7], 3);
    let w = seq(&[4, 3, 3, 2], 4);
    let sp = Conv2dSpec { stride: (2, 1), padding: (1, 0), dilation: (1, 2), groups: 2 };
    let y = x.conv2d(&w, &sp).unwrap();
    // H: (9 + 2 - 3) / 2 + 1 = 5; W: (7 - 2*(2-1) - 1) / 1 + 1 = 5.
    assert_eq!(y.shape(), &[2, 4, 5, 5]);
    let dx = y.conv2d_input_grad(&w, x.shape(), &sp).unwrap();
    assert_eq!(dx.shape(), x.shape());
    let dw = x.conv2d_weight_grad(&y, w.shape(), &sp).unwrap();
    assert_eq!(dw.shape(), w.shape());
}

/// The input gradient is the adjoint of the convolution: <conv(x, w), dy> = <x, dx(dy, w)>
/// holds exactly in the ring, and likewise for the weight gradient.
#[test]
fn gradients_are_adjoints_of_the_convolution() {
    let x = seq(&[2, 4, 7, 6], 5);
    let w = seq(&[6, 2, 3, 3], 6);
    let sp = Conv2dSpec { stride: (2, 2), padding: (1, 2), dilation: (1, 1), groups: 2 };
    let y = x.conv2d(&w, &sp).unwrap();
    let dy = seq(y.shape(), 7);
    let dot = |a: &RingTensor<u64>, b: &RingTensor<u64>| a.mul(b).unwrap().sum_all();
    let dx = dy.conv2d_input_grad(&w, x.shape(), &sp).unwrap();
    assert_eq!(dot(&y, &dy), dot(&x, &dx));
    let dw = x.conv2d_weight_grad(&dy, w.shape(), &sp).unwrap();
    assert_eq!(dot(&y, &dy), dot(&w, &dw));
}

#[test]
fn conv_transpose2d_equals_input_gradient() {
    let w = seq(&[3, 4, 3, 3], 8); // as conv2d weight: O=3, I=4; as transposed weight: I=3, O=4
    let sp = spec(2, 1, 1, 1);
    let x_shape = [1, 4, 8, 8];
    let y = seq(&[1, 3, 4, 4], 9); // conv2d output shape for x_shape
    let dx = y.conv2d_input_grad(&w, &x_shape, &sp).unwrap();
    let t = y.conv_transpose2d(&w, &sp, (1, 1)).unwrap();
    assert_eq!(t.shape(), &x_shape);
    assert_eq!(t, dx);
}

#[test]
fn bad_convolutions_are_typed_errors() {
    let x = seq(&[1, 4, 5, 5], 1);
    // Channel mismatch.
    let err = x.conv2d(&seq(&[2, 3, 3, 3], 2), &spec(1, 0, 1, 1)).unwrap_err();
    assert!(matches!(err, RingError::InvalidConv { op: "conv2d", .. }), "{err}");
    // Groups that do not divide the channels.
    assert!(matches!(
        x.conv2d(&seq(&[3, 2, 3, 3], 2), &spec(1, 0, 1, 2)),
        Err(RingError::InvalidConv { .. })
    ));
    // Kernel larger than the padded input.
    assert!(matches!(
        x.conv2d(&seq(&[2, 4, 7, 7], 2), &spec(1, 0, 1, 1)),
        Err(RingError::InvalidConv { .. })
    ));
    // Zero stride.
    assert!(matches!(
        x.conv2d(&seq(&[2, 4, 3, 3], 2), &spec(0, 0, 1, 1)),
        Err(RingError::InvalidConv { .. })
    ));
    // Wrong rank.
    assert!(matches!(
        seq(&[4, 5, 5], 1).conv2d(&seq(&[2, 4, 3, 3], 2), &spec(1, 0, 1, 1)),
        Err(RingError::ShapeMismatch { .. })
    ));
    // Gradient of the wrong shape.
    let w = seq(&[2, 4, 3, 3], 2);
    assert!(matches!(
        seq(&[1, 2, 2, 2], 3).conv2d_input_grad(&w, x.shape(), &spec(1, 0, 1, 1)),
        Err(RingError::ShapeMismatch { .. })
    ));
    // conv1d needs 3-d operands.
    assert!(matches!(
        x.conv1d(&w, &spec(1, 0, 1, 1)),
        Err(RingError::ShapeMismatch { op: "conv1d", .. })
    ));
}

#[test]
fn bad_transposed_convolutions_are_typed_errors() {
    let x = seq(&[1, 1, 2, 2], 1);
    let w = seq(&[1, 1, 2, 2], 2);
    let bad = |spec: Conv2dSpec, w: &RingTensor<u64>, op: (usize, usize)| {
        let err = x.conv_transpose2d(w, &spec, op).unwrap_err();
        assert!(
            matches!(err, RingError::InvalidConv { .. } | RingError::ShapeMismatch { .. }),
            "{err}"
        );
    };
    bad(spec(1, 0, 0, 1), &w, (0, 0)); // dilation 0
    bad(spec(0, 0, 1, 1), &w, (0, 0)); // stride 0
    bad(spec(1, 0, 1, 1), &seq(&[1, 1, 0, 0], 2), (0, 0)); // empty kernel
    bad(spec(1, 0, 1, 1), &w, (1, 0)); // output padding >= stride and dilation
    bad(spec(1, 3, 1, 1), &w, (0, 0)); // padding leaves no output
    bad(spec(1, 0, 1, 2), &w, (0, 0)); // groups do not divide the channels
    bad(spec(1, 0, 1, 1), &seq(&[2, 1, 2, 2], 2), (0, 0)); // channel mismatch
    assert_eq!(x.conv_transpose2d(&w, &spec(2, 0, 1, 1), (1, 1)).unwrap().shape(), &[1, 1, 5, 5]);
}
