//! Checks of the convolution methods of [`Backend`]: forward, both gradients and the
//! transposed convolution against loops written from the definitions, over random
//! geometries (groups, stride, padding, dilation, ragged sizes), one larger case, and the
//! shared validators' errors.

use super::cases::{ConvCase, between, tensor};
use super::{expect_error, expect_tensor, reference};
use crate::backend::Backend;
use crate::element::RingElement;
use crate::tensor::linalg::{conv_transpose2d_output_shape, conv2d_output_shape};
use crate::tensor::{Conv2dSpec, RingTensor};
use crate::testing::TestRng;

/// Random cases per check.
const CASES: usize = 40;

/// The three methods of a convolution (forward, input and weight gradients) on one case, or
/// the validator's error where the kernel does not fit.
fn check_case<T: RingElement>(backend: &dyn Backend<T>, rng: &mut TestRng, c: &ConvCase, ops: Ops) {
    let (xs, ws, p) = (c.x_shape(), c.w_shape(), &c.spec);
    let (x, w) = (tensor::<T>(rng, &xs), tensor::<T>(rng, &ws));
    let what = |op: &str| format!("{op} x {xs:?} w {ws:?} {p:?}");
    let Some(out_hw) = reference::conv2d_hw(c.hw, c.khw, p) else {
        let want = conv2d_output_shape(&xs, &ws, p).err();
        assert!(want.is_some(), "conformance suite: {} should be invalid", what("conv2d"));
        expect_error(backend, &what("conv2d"), backend.conv2d(&x, &w, p), want);
        return;
    };
    let ys = [xs[0], ws[0], out_hw.0, out_hw.1];
    if ops.forward {
        let want = reference::conv2d(&x.as_slice(), xs, &w.as_slice(), ws, p, out_hw);
        expect_tensor(backend, &what("conv2d"), backend.conv2d(&x, &w, p), &ys, &want);
    }
    let dy = tensor::<T>(rng, &ys);
    if ops.input_grad {
        let want = reference::conv2d_input_grad(&dy.as_slice(), &w.as_slice(), xs, ws, p, out_hw);
        let got = backend.conv2d_input_grad(&dy, &w, &xs, p);
        expect_tensor(backend, &what("conv2d_input_grad"), got, &xs, &want);
    }
    if ops.weight_grad {
        let want = reference::conv2d_weight_grad(&x.as_slice(), &dy.as_slice(), xs, ws, p, out_hw);
        let got = backend.conv2d_weight_grad(&x, &dy, &ws, p);
        expect_tensor(backend, &what("conv2d_weight_grad"), got, &ws, &want);
    }
}

/// Which methods [`check_case`] runs.
#[derive(Clone, Copy)]
struct Ops {
    forward: bool,
    input_grad: bool,
    weight_grad: bool,
}

const FORWARD: Ops = Ops { forward: true, input_grad: false, weight_grad: false };
const INPUT_GRAD: Ops = Ops { forward: false, input_grad: true, weight_grad: false };
const WEIGHT_GRAD: Ops = Ops { forward: false, input_grad: false, weight_grad: true };
const ALL: Ops = Ops { forward: true, input_grad: true, weight_grad: true };

/// A transposed convolution of one case (weight `[groups * ig, og, kh, kw]`) with a random
/// valid output padding, or the validator's error where padding leaves no output.
fn check_transpose_case<T: RingElement>(backend: &dyn Backend<T>, rng: &mut TestRng, c: &ConvCase) {
    let (xs, ws, p) = (c.x_shape(), c.wt_shape(), &c.spec);
    let op = (
        between(rng, 0, p.stride.0.max(p.dilation.0) - 1),
        between(rng, 0, p.stride.1.max(p.dilation.1) - 1),
    );
    let (x, w) = (tensor::<T>(rng, &xs), tensor::<T>(rng, &ws));
    let what = format!("conv_transpose2d x {xs:?} w {ws:?} {p:?} output padding {op:?}");
    let got = backend.conv_transpose2d(&x, &w, p, op);
    match reference::conv_transpose2d_hw(c.hw, c.khw, p, op) {
        Some(out_hw) => {
            let want = reference::conv_transpose2d(&x.as_slice(), xs, &w.as_slice(), ws, p, out_hw);
            let ys = [xs[0], p.groups * c.og, out_hw.0, out_hw.1];
            expect_tensor(backend, &what, got, &ys, &want);
        }
        None => {
            let want = conv_transpose2d_output_shape(&xs, &ws, p, op).err();
            assert!(want.is_some(), "conformance suite: {what} should be invalid");
            expect_error(backend, &what, got, want);
        }
    }
}

fn random_cases<T: RingElement>(backend: &dyn Backend<T>, seed: u64, ops: Ops) {
    let mut rng = TestRng::new(seed);
    for _ in 0..CASES {
        let c = ConvCase::random(&mut rng, 9);
        check_case(backend, &mut rng, &c, ops);
    }
}

/// Forward conv2d (NCHW input, OIHW weight) on random geometries.
pub fn conv2d<T: RingElement>(backend: &dyn Backend<T>) {
    random_cases(backend, 0x636f_6e76_0001, FORWARD);
}

/// The input gradient of conv2d on random geometries.
pub fn conv2d_input_grad<T: RingElement>(backend: &dyn Backend<T>) {
    random_cases(backend, 0x636f_6e76_0002, INPUT_GRAD);
}

/// The weight gradient of conv2d on random geometries.
pub fn conv2d_weight_grad<T: RingElement>(backend: &dyn Backend<T>) {
    random_cases(backend, 0x636f_6e76_0003, WEIGHT_GRAD);
}

/// Transposed conv2d (weight `[I, O/groups, kh, kw]`) with output padding, on random
/// geometries.
pub fn conv_transpose2d<T: RingElement>(backend: &dyn Backend<T>) {
    let mut rng = TestRng::new(0x636f_6e76_0004);
    for _ in 0..CASES {
        let c = ConvCase::random(&mut rng, 9);
        check_transpose_case(backend, &mut rng, &c);
    }
}

/// Every method on cases large enough for im2col blocking and threads: many channels, a
/// ragged 21x19 image, grouped, padded and strided.
pub fn conv_large<T: RingElement>(backend: &dyn Backend<T>) {
    let mut rng = TestRng::new(0x636f_6e76_0005);
    let spec = |stride, padding, groups| Conv2dSpec { stride, padding, dilation: (1, 1), groups };
    let big = [
        ConvCase { n: 2, ig: 8, og: 6, hw: (21, 19), khw: (3, 3), spec: spec((1, 1), (1, 1), 2) },
        ConvCase { n: 1, ig: 16, og: 32, hw: (33, 23), khw: (5, 3), spec: spec((2, 1), (2, 0), 1) },
    ];
    for c in &big {
        check_case(backend, &mut rng, c, ALL);
        check_transpose_case(backend, &mut rng, c);
    }
}

/// Input shape, weight shape, parameters and output padding of a transposed convolution.
type TransposeCase = ([usize; 4], [usize; 4], Conv2dSpec, (usize, usize));

/// Operands that do not convolve: forward and transposed convolutions report the shared
/// validators' errors, and the gradients refuse what their forward refuses and an output
/// gradient of the wrong shape.
pub fn conv_errors<T: RingElement>(backend: &dyn Backend<T>) {
    let ok = Conv2dSpec::default();
    let with = |f: fn(&mut Conv2dSpec)| {
        let mut p = Conv2dSpec::default();
        f(&mut p);
        p
    };
    let forward: [(&[usize], &[usize], Conv2dSpec); 6] = [
        (&[1, 2, 5], &[1, 2, 3, 3], ok),
        (&[1, 2, 5, 5], &[1, 2, 3, 3], with(|p| p.groups = 0)),
        (&[1, 3, 5, 5], &[2, 1, 3, 3], with(|p| p.groups = 2)),
        (&[1, 4, 5, 5], &[2, 3, 3, 3], ok),
        (&[1, 2, 2, 2], &[1, 2, 3, 3], ok),
        (&[1, 2, 5, 5], &[1, 2, 3, 3], with(|p| p.stride = (0, 1))),
    ];
    for (xs, ws, p) in &forward {
        let (x, w) = (RingTensor::<T>::zeros(xs), RingTensor::<T>::zeros(ws));
        let what = format!("conv2d x {xs:?} w {ws:?} {p:?}");
        let want = conv2d_output_shape(xs, ws, p).err();
        assert!(want.is_some(), "conformance suite: {what} should be invalid");
        expect_error(backend, &what, backend.conv2d(&x, &w, p), want);
        let dy = RingTensor::<T>::zeros(&[1, 1, 1, 1]);
        let got = backend.conv2d_input_grad(&dy, &w, xs, p);
        expect_error(backend, &format!("conv2d_input_grad of {what}"), got, None);
        let got = backend.conv2d_weight_grad(&x, &dy, ws, p);
        expect_error(backend, &format!("conv2d_weight_grad of {what}"), got, None);
    }

    // A valid convolution (output [1, 3, 4, 4]) given output gradients of other shapes.
    let (xs, ws) = ([1, 2, 6, 6], [3, 2, 3, 3]);
    let (x, w) = (RingTensor::<T>::zeros(&xs), RingTensor::<T>::zeros(&ws));
    for dys in [[1, 3, 4, 5], [1, 2, 4, 4], [2, 3, 4, 4]] {
        let dy = RingTensor::<T>::zeros(&dys);
        let what = format!("x {xs:?} w {ws:?} with output gradient {dys:?}");
        let got = backend.conv2d_input_grad(&dy, &w, &xs, &ok);
        expect_error(backend, &format!("conv2d_input_grad {what}"), got, None);
        let got = backend.conv2d_weight_grad(&x, &dy, &ws, &ok);
        expect_error(backend, &format!("conv2d_weight_grad {what}"), got, None);
    }

    let transposed: [TransposeCase; 5] = [
        ([1, 2, 4, 4], [3, 2, 3, 3], ok, (0, 0)),
        ([1, 2, 4, 4], [2, 2, 3, 3], ok, (1, 0)),
        ([1, 2, 4, 4], [2, 2, 3, 3], with(|p| p.stride = (2, 2)), (0, 2)),
        ([1, 2, 4, 4], [2, 2, 3, 3], with(|p| p.dilation = (0, 1)), (0, 0)),
        ([1, 3, 4, 4], [3, 2, 3, 3], with(|p| p.groups = 2), (0, 0)),
    ];
    for (xs, ws, p, op) in &transposed {
        let (x, w) = (RingTensor::<T>::zeros(xs), RingTensor::<T>::zeros(ws));
        let what = format!("conv_transpose2d x {xs:?} w {ws:?} {p:?} output padding {op:?}");
        let want = conv_transpose2d_output_shape(xs, ws, p, *op).err();
        assert!(want.is_some(), "conformance suite: {what} should be invalid");
        expect_error(backend, &what, backend.conv_transpose2d(&x, &w, p, *op), want);
    }
}
