//! Plain f64 convolution, the reference of the protocol tests.

use cloak_ring::Conv2dSpec;
use ndarray::{ArrayD, IxDyn};

/// Output height or width of a convolution.
pub fn out_dim(i: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    (i + 2 * p - d * (k - 1) - 1) / s + 1
}

/// Input position of output `o`, tap `a`, or `None` in the padding.
pub fn tap(o: usize, a: usize, s: usize, p: usize, d: usize, len: usize) -> Option<usize> {
    (o * s + a * d).checked_sub(p).filter(|&y| y < len)
}

/// Reference conv2d: NCHW input, OIHW weight.
pub fn conv2d_ref(x: &ArrayD<f64>, w: &ArrayD<f64>, sp: &Conv2dSpec) -> ArrayD<f64> {
    let (nb, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    assert_eq!(cg * sp.groups, c);
    let og = o / sp.groups;
    let oh = out_dim(h, kh, sp.stride.0, sp.padding.0, sp.dilation.0);
    let ow = out_dim(wd, kw, sp.stride.1, sp.padding.1, sp.dilation.1);
    let mut out = ArrayD::zeros(IxDyn(&[nb, o, oh, ow]));
    for n in 0..nb {
        for oc in 0..o {
            let g = oc / og;
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = 0.0;
                    for ch in 0..cg {
                        for a in 0..kh {
                            for b in 0..kw {
                                let y = tap(i, a, sp.stride.0, sp.padding.0, sp.dilation.0, h);
                                let z = tap(j, b, sp.stride.1, sp.padding.1, sp.dilation.1, wd);
                                if let (Some(y), Some(z)) = (y, z) {
                                    acc += x[[n, g * cg + ch, y, z]] * w[[oc, ch, a, b]];
                                }
                            }
                        }
                    }
                    out[[n, oc, i, j]] = acc;
                }
            }
        }
    }
    out
}
