//! Convolutions (im2col + GEMM) against the naive nested loops of the conformance suite's
//! references, written from the definitions:
//! forward, input gradient, weight gradient and transposed convolution, with groups, stride,
//! padding and dilation, for `u64` and `u32`, sequential and rayon.

use cloak_ring::conformance::reference;
use cloak_ring::kernels::conv::{self, Conv2dParams};
use cloak_ring::testing::TestRng;
use cloak_ring::{Parallelism, RingElement};
use proptest::prelude::*;

fn random<T: RingElement>(seed: u64, len: usize) -> Vec<T> {
    TestRng::new(seed).words(len).into_iter().map(T::from_u64_wrapping).collect()
}

/// A convolution case: input `[n, groups * ig, h, w]`, weight `[groups * og, ig, kh, kw]`.
#[derive(Clone, Copy, Debug)]
struct Case {
    n: usize,
    groups: usize,
    ig: usize,
    og: usize,
    hw: (usize, usize),
    khw: (usize, usize),
    p: Conv2dParams,
}

impl Case {
    fn x_shape(&self) -> [usize; 4] {
        [self.n, self.groups * self.ig, self.hw.0, self.hw.1]
    }
    fn w_shape(&self) -> [usize; 4] {
        [self.groups * self.og, self.ig, self.khw.0, self.khw.1]
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..=2, 1usize..=3, 1usize..=3, 1usize..=3),
        ((1usize..=8, 1usize..=8), (1usize..=3, 1usize..=3)),
        ((1usize..=3, 1usize..=3), (0usize..=2, 0usize..=2), (1usize..=2, 1usize..=2)),
    )
        .prop_map(|((n, groups, ig, og), (hw, khw), (stride, padding, dilation))| Case {
            n,
            groups,
            ig,
            og,
            hw,
            khw,
            p: Conv2dParams { stride, padding, dilation, groups },
        })
}

const PARS: [Parallelism; 2] = [Parallelism::Sequential, Parallelism::Rayon];

/// A three-thread pool, so that the parallel paths run whatever the machine's core count.
fn pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap())
}

/// Forward, input gradient and weight gradient of one case against the references.
fn check_conv<T: RingElement>(c: &Case, seed: u64) -> Result<(), TestCaseError> {
    let Some(out_hw) = c.p.output_hw(c.hw, c.khw) else { return Ok(()) };
    let (xs, ws) = (c.x_shape(), c.w_shape());
    let ys = [c.n, ws[0], out_hw.0, out_hw.1];
    let x: Vec<T> = random(seed, xs.iter().product());
    let w: Vec<T> = random(seed ^ 1, ws.iter().product());
    let dy: Vec<T> = random(seed ^ 2, ys.iter().product());
    let y_want = reference::conv2d(&x, xs, &w, ws, &c.p, out_hw);
    let dx_want = reference::conv2d_input_grad(&dy, &w, xs, ws, &c.p, out_hw);
    let dw_want = reference::conv2d_weight_grad(&x, &dy, xs, ws, &c.p, out_hw);
    for par in PARS {
        let (y, dx, dw) = pool().install(|| {
            (
                conv::conv2d(&x, xs, &w, ws, &c.p, par),
                conv::conv2d_input_grad(&dy, ys, &w, ws, xs, &c.p, par),
                conv::conv2d_weight_grad(&x, xs, &dy, ys, ws, &c.p, par),
            )
        });
        prop_assert!(y == y_want, "conv2d {c:?} {par:?}");
        prop_assert!(dx == dx_want, "input grad {c:?} {par:?}");
        prop_assert!(dw == dw_want, "weight grad {c:?} {par:?}");
    }
    Ok(())
}

/// A transposed convolution of `x` (`[n, groups * ic, h, w]`) by the weight of `c` read as
/// `[groups * ic, og, kh, kw]`, against its definition and against the input gradient it is.
fn check_transpose<T: RingElement>(
    c: &Case,
    op: (usize, usize),
    seed: u64,
) -> Result<(), TestCaseError> {
    let p = &c.p;
    let op = (op.0 % p.stride.0.max(p.dilation.0), op.1 % p.stride.1.max(p.dilation.1));
    let dim = |i: usize, s: usize, pad: usize, d: usize, k: usize, o: usize| {
        ((i - 1) * s + d * (k - 1) + o + 1).checked_sub(2 * pad).filter(|&v| v > 0)
    };
    let oh = dim(c.hw.0, p.stride.0, p.padding.0, p.dilation.0, c.khw.0, op.0);
    let ow = dim(c.hw.1, p.stride.1, p.padding.1, p.dilation.1, c.khw.1, op.1);
    let (Some(oh), Some(ow)) = (oh, ow) else { return Ok(()) };
    // Input channels: groups * ig; weight [groups * ig, og, kh, kw].
    let xs = [c.n, c.groups * c.ig, c.hw.0, c.hw.1];
    let ws = [c.groups * c.ig, c.og, c.khw.0, c.khw.1];
    let ys = [c.n, c.groups * c.og, oh, ow];
    let x: Vec<T> = random(seed, xs.iter().product());
    let w: Vec<T> = random(seed ^ 3, ws.iter().product());
    let want = reference::conv_transpose2d(&x, xs, &w, ws, p, (oh, ow));
    for par in PARS {
        let y = pool().install(|| conv::conv_transpose2d(&x, xs, &w, ws, p, op, par));
        prop_assert!(y == want, "conv_transpose2d {c:?} op {op:?} {par:?}");
        // The identity: the transposed convolution is the input gradient of the convolution
        // (weight read as OIHW) that maps the output shape back to x's.
        let g = pool().install(|| conv::conv2d_input_grad(&x, xs, &w, ws, ys, p, par));
        prop_assert!(g == y, "transpose != input grad {c:?} {par:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn conv_u64(c in case(), seed: u64) {
        check_conv::<u64>(&c, seed)?;
    }

    #[test]
    fn conv_u32(c in case(), seed: u64) {
        check_conv::<u32>(&c, seed)?;
    }

    #[test]
    fn transpose_u64(c in case(), op in (0usize..3, 0usize..3), seed: u64) {
        check_transpose::<u64>(&c, op, seed)?;
    }

    #[test]
    fn transpose_u32(c in case(), op in (0usize..3, 0usize..3), seed: u64) {
        check_transpose::<u32>(&c, op, seed)?;
    }
}

/// Shapes larger than the GEMM blocks: many im2col rows (deeper than a depth block), many
/// output positions (wider than a column block), batches of images spread over threads.
#[test]
fn larger_convolutions() {
    let p1 = Conv2dParams { padding: (1, 1), ..Conv2dParams::default() };
    let cases = [
        Case { n: 1, groups: 1, ig: 64, og: 40, hw: (12, 12), khw: (3, 3), p: p1 },
        Case { n: 1, groups: 1, ig: 3, og: 5, hw: (40, 40), khw: (3, 3), p: p1 },
        Case {
            n: 2,
            groups: 2,
            ig: 4,
            og: 8,
            hw: (20, 20),
            khw: (3, 3),
            p: Conv2dParams { groups: 2, ..p1 },
        },
        Case {
            n: 5,
            groups: 1,
            ig: 3,
            og: 4,
            hw: (9, 9),
            khw: (3, 3),
            p: Conv2dParams { stride: (2, 2), ..p1 },
        },
        // Many images, each too small to split: spread over the threads image by image.
        Case { n: 8, groups: 1, ig: 16, og: 16, hw: (16, 16), khw: (3, 3), p: p1 },
    ];
    for (i, c) in cases.iter().enumerate() {
        check_conv::<u64>(c, i as u64).unwrap();
        check_conv::<u32>(c, i as u64).unwrap();
        check_transpose::<u64>(c, (1, 0), i as u64).unwrap();
    }
}

#[test]
fn output_size() {
    let p = Conv2dParams::default();
    assert_eq!(p.output_hw((5, 7), (3, 3)), Some((3, 5)));
    assert_eq!(p.output_hw((2, 7), (3, 3)), None);
    assert_eq!(p.output_hw((5, 5), (0, 3)), None);
    let p = Conv2dParams { stride: (2, 3), padding: (1, 2), dilation: (2, 1), groups: 1 };
    // (9 + 2 - 2 * 2 - 1) / 2 + 1 = 4 and (10 + 4 - 2 - 1) / 3 + 1 = 4.
    assert_eq!(p.output_hw((9, 10), (3, 3)), Some((4, 4)));
    assert_eq!(Conv2dParams { stride: (0, 1), ..p }.output_hw((9, 10), (3, 3)), None);
    assert_eq!(Conv2dParams { dilation: (1, 0), ..p }.output_hw((9, 10), (3, 3)), None);
}
