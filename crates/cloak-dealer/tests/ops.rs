//! `BilinearOp` agrees with the ring: over generated convolution geometries (valid and
//! invalid, including empty dimensions), a request's layout is accepted exactly when the
//! ring op accepts operands of the declared shapes, and the declared output shape is the
//! shape the ring op produces (so a dealer never accepts a request it then fails to
//! compute, nor rejects one the protocol could run). Also the operand roles of each op and
//! `apply`'s rejection of operands that do not have the declared shapes, and typed errors
//! (not overflow panics) for channel counts whose product with the groups overflows.

use cloak_dealer::{BilinearOp, DealerError, Request};
use cloak_ring::{Conv2dSpec, RingError, RingTensor, conv2d_output_shape};
use proptest::prelude::*;

/// A convolution geometry: batch, groups, channels per group in and out, input and kernel
/// size, stride/padding/dilation, output padding, and which op to build.
#[derive(Clone, Debug)]
struct Geometry {
    n: usize,
    groups: usize,
    in_per_group: usize,
    out_per_group: usize,
    hw: (usize, usize),
    kernel: (usize, usize),
    spec: Conv2dSpec,
    output_padding: (usize, usize),
    kind: u8,
}

fn geometry() -> impl Strategy<Value = Geometry> {
    let small = || 0usize..3;
    (
        (small(), 1usize..3, small(), small()),
        ((0usize..7, 0usize..7), (0usize..4, 0usize..4)),
        ((small(), small()), (small(), small()), (small(), small())),
        (small(), small()),
        0u8..6,
    )
        .prop_map(
            |(
                (n, groups, in_per_group, out_per_group),
                (hw, kernel),
                (stride, padding, dilation),
                output_padding,
                kind,
            )| {
                Geometry {
                    n,
                    groups,
                    in_per_group,
                    out_per_group,
                    hw,
                    kernel,
                    spec: Conv2dSpec { stride, padding, dilation, groups },
                    output_padding,
                    kind,
                }
            },
        )
}

/// The op of a geometry; gradients use the forward output shape where it exists (else a
/// shape that cannot match), and one kind in six is a gradient with a wrong output shape.
fn build(g: &Geometry) -> BilinearOp {
    let input = vec![g.n, g.groups * g.in_per_group, g.hw.0, g.hw.1];
    let weight = vec![g.groups * g.out_per_group, g.in_per_group, g.kernel.0, g.kernel.1];
    let out = conv2d_output_shape(&input, &weight, &g.spec)
        .map_or_else(|_| vec![g.n, weight[0], 1, 1], |o| o.to_vec());
    let spec = g.spec;
    match g.kind {
        0 => BilinearOp::Conv2d { input, weight, spec },
        1 => BilinearOp::Conv2dInputGrad { grad_out: out, weight, input_shape: input, spec },
        2 => BilinearOp::Conv2dWeightGrad { input, grad_out: out, weight_shape: weight, spec },
        3 => BilinearOp::ConvTranspose2d {
            weight: vec![input[1], g.out_per_group, g.kernel.0, g.kernel.1],
            input,
            spec,
            output_padding: g.output_padding,
        },
        4 => BilinearOp::Conv1d {
            input: vec![g.n, input[1], g.hw.1],
            weight: vec![weight[0], g.in_per_group, g.kernel.1],
            spec,
        },
        _ => {
            let mut grad_out = out;
            grad_out[3] += 1;
            BilinearOp::Conv2dWeightGrad { input, grad_out, weight_shape: weight, spec }
        }
    }
}

/// Layout and ring agree on `op`.
fn check_agreement(op: &BilinearOp) -> Result<(), TestCaseError> {
    let layout = Request::Triple(op.clone()).layout();
    let a = RingTensor::<u64>::zeros(op.lhs_shape());
    let b = RingTensor::<u64>::zeros(op.rhs_shape());
    match (layout, op.apply(&a, &b)) {
        (Ok(layout), Ok(c)) => {
            prop_assert_eq!(&layout.dependent[0].shape[..], c.shape(), "{:?}", op);
            prop_assert_eq!(&layout.free[0].shape[..], op.lhs_shape());
            prop_assert_eq!(&layout.free[1].shape[..], op.rhs_shape());
        }
        (Err(DealerError::Ring(_)), Err(_)) => {}
        (layout, applied) => prop_assert!(
            false,
            "{:?}: layout {:?}, ring {:?}",
            op,
            layout.map(|_| ()),
            applied.map(|c| c.shape().to_vec())
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn convolution_layouts_agree_with_the_ring(g in geometry()) {
        check_agreement(&build(&g))?;
    }

    #[test]
    fn mul_and_matmul_layouts_agree_with_the_ring(
        lhs in proptest::collection::vec(0usize..4, 0..4),
        rhs in proptest::collection::vec(0usize..4, 0..4),
    ) {
        check_agreement(&BilinearOp::Mul { lhs: lhs.clone(), rhs: rhs.clone() })?;
        check_agreement(&BilinearOp::Matmul { lhs, rhs })?;
    }
}

/// Spot checks that the generator above reaches valid requests of every kind.
#[test]
fn valid_examples_of_every_kind() {
    let spec = Conv2dSpec { stride: (2, 1), padding: (1, 0), dilation: (1, 2), groups: 2 };
    for kind in 0..5 {
        let g = Geometry {
            n: 2,
            groups: 2,
            in_per_group: 2,
            out_per_group: 1,
            hw: (5, 6),
            kernel: (3, 2),
            spec,
            output_padding: (1, 0),
            kind,
        };
        let op = build(&g);
        assert!(Request::Triple(op.clone()).layout().is_ok(), "{op:?}");
        check_agreement(&op).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn operand_roles() {
    let spec = Conv2dSpec::default();
    let grad = BilinearOp::Conv2dInputGrad {
        grad_out: vec![1, 3, 3, 3],
        weight: vec![3, 2, 3, 3],
        input_shape: vec![1, 2, 5, 5],
        spec,
    };
    assert_eq!((grad.lhs_shape(), grad.rhs_shape()), (&[1, 3, 3, 3][..], &[3, 2, 3, 3][..]));
    assert_eq!(grad.output_shape().expect("valid"), [1, 2, 5, 5]);
    let grad = BilinearOp::Conv2dWeightGrad {
        input: vec![1, 2, 5, 5],
        grad_out: vec![1, 3, 3, 3],
        weight_shape: vec![3, 2, 3, 3],
        spec,
    };
    assert_eq!((grad.lhs_shape(), grad.rhs_shape()), (&[1, 2, 5, 5][..], &[1, 3, 3, 3][..]));
    assert_eq!(grad.output_shape().expect("valid"), [3, 2, 3, 3]);
    let mul = BilinearOp::Mul { lhs: vec![2, 1], rhs: vec![1, 3] };
    assert_eq!(mul.output_shape().expect("valid"), [2, 3]);
    let names: Vec<&str> = [
        mul,
        BilinearOp::Matmul { lhs: vec![1, 1], rhs: vec![1, 1] },
        BilinearOp::Conv1d { input: vec![], weight: vec![], spec },
        BilinearOp::Conv2d { input: vec![], weight: vec![], spec },
        grad,
    ]
    .iter()
    .map(BilinearOp::name)
    .collect();
    assert_eq!(names, ["mul", "matmul", "conv1d", "conv2d", "conv2d_weight_grad"]);
    assert_eq!(Request::Triple(BilinearOp::Mul { lhs: vec![], rhs: vec![] }).name(), "mul");
    assert_eq!(Request::RandomBits { count: 1 }.name(), "random_bits");
}

/// `apply` checks its operands against the declared shapes, even where the ring op would
/// accept them (a broadcastable or transposed operand).
#[test]
fn apply_rejects_operands_of_other_shapes() {
    let op = BilinearOp::Mul { lhs: vec![2, 3], rhs: vec![3] };
    let a = RingTensor::<u64>::zeros(&[2, 3]);
    for b in [RingTensor::zeros(&[1, 3]), RingTensor::zeros(&[2, 3]), RingTensor::zeros(&[1])] {
        let r = op.apply(&a, &b);
        assert!(matches!(r, Err(RingError::ShapeMismatch { op: "mul", .. })), "{r:?}");
    }
    let op = BilinearOp::Matmul { lhs: vec![4, 5], rhs: vec![5, 3] };
    let r = op.apply(&RingTensor::zeros(&[4, 5]), &RingTensor::zeros(&[5, 4]));
    assert!(matches!(r, Err(RingError::ShapeMismatch { .. })), "{r:?}");
}

/// `weight[1] * groups` overflowing in `cloak_ring::conv2d_output_shape` (a huge weight
/// dimension, or a huge group count with empty channels) is a typed error, not a panic.
#[test]
fn conv2d_with_overflowing_channels_is_a_typed_error() {
    let spec = Conv2dSpec { groups: 2, ..Conv2dSpec::default() };
    let op = BilinearOp::Conv2d { input: vec![1, 2, 3, 3], weight: vec![2, 1 << 63, 1, 1], spec };
    assert!(matches!(Request::Triple(op).layout(), Err(DealerError::Ring(_))));
    let spec = Conv2dSpec { groups: 1 << 63, ..Conv2dSpec::default() };
    let op = BilinearOp::Conv2d { input: vec![1, 0, 3, 3], weight: vec![0, 2, 1, 1], spec };
    assert!(matches!(Request::Triple(op).layout(), Err(DealerError::Ring(_))));
}

/// The same in `cloak_ring::conv_transpose2d_output_shape`.
#[test]
fn conv_transpose2d_with_overflowing_channels_is_a_typed_error() {
    let spec = Conv2dSpec { groups: 1 << 63, ..Conv2dSpec::default() };
    let op = BilinearOp::ConvTranspose2d {
        input: vec![1, 0, 3, 3],
        weight: vec![0, 2, 1, 1],
        spec,
        output_padding: (0, 0),
    };
    assert!(matches!(Request::Triple(op).layout(), Err(DealerError::Ring(_))));
}
