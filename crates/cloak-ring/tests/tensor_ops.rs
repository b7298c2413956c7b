//! RingTensor operations against element-by-element references.

use cloak_ring::{RingError, RingTensor};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

fn seq(shape: &[usize]) -> RingTensor<u64> {
    let n: usize = shape.iter().product();
    // Large odd multipliers make every element distinct and exercise wrapping.
    RingTensor::from_vec(
        shape,
        (0..n as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect(),
    )
    .unwrap()
}

fn at(t: &RingTensor<u64>, idx: &[usize]) -> u64 {
    t.as_array()[IxDyn(idx)]
}

#[test]
fn broadcasting_add_sub_mul_match_elementwise_reference() {
    let a = seq(&[3, 1, 4]);
    let b = seq(&[2, 1]).add_scalar(7);
    let sum = a.add(&b).unwrap();
    let diff = a.sub(&b).unwrap();
    let prod = a.mul(&b).unwrap();
    assert_eq!(sum.shape(), &[3, 2, 4]);
    for i in 0..3 {
        for j in 0..2 {
            for k in 0..4 {
                let (x, y) = (at(&a, &[i, 0, k]), at(&b, &[j, 0]));
                assert_eq!(at(&sum, &[i, j, k]), x.wrapping_add(y));
                assert_eq!(at(&diff, &[i, j, k]), x.wrapping_sub(y));
                assert_eq!(at(&prod, &[i, j, k]), x.wrapping_mul(y));
            }
        }
    }
}

#[test]
fn incompatible_shapes_are_typed_errors() {
    let err = seq(&[2, 3]).add(&seq(&[4])).unwrap_err();
    assert_eq!(err, RingError::ShapeMismatch { op: "add", lhs: vec![2, 3], rhs: vec![4] });
    assert!(matches!(
        seq(&[2, 3]).matmul(&seq(&[2, 3])),
        Err(RingError::ShapeMismatch { op: "matmul", .. })
    ));
    assert!(matches!(seq(&[6]).reshape(&[4]), Err(RingError::InvalidShape { .. })));
    assert!(matches!(seq(&[2, 3]).permute(&[0, 0]), Err(RingError::InvalidShape { .. })));
    assert!(matches!(seq(&[2, 3]).sum_axis(2, false), Err(RingError::AxisOutOfRange { .. })));
    assert!(matches!(seq(&[2, 3]).slice(1, 0, 4, 1), Err(RingError::IndexOutOfRange { .. })));
    assert!(matches!(seq(&[2, 3]).index_select(0, &[2]), Err(RingError::IndexOutOfRange { .. })));
    assert!(matches!(
        RingTensor::<u64>::from_vec(&[2, 2], vec![1, 2, 3]),
        Err(RingError::InvalidShape { .. })
    ));
    assert!(matches!(seq(&[2]).shl(64), Err(RingError::InvalidArgument { .. })));
    assert!(matches!(RingTensor::<u64>::concat(&[], 0), Err(RingError::InvalidArgument { .. })));
}

#[test]
fn in_place_ops_broadcast_the_right_operand() {
    let mut a = seq(&[2, 3]);
    let b = seq(&[3]);
    let expected = a.add(&b).unwrap();
    a.add_assign(&b).unwrap();
    assert_eq!(a, expected);
    a.sub_assign(&b).unwrap();
    assert_eq!(a, seq(&[2, 3]));
    assert!(b.clone().add_assign(&a).is_err());
}

#[test]
fn reshape_permute_transpose() {
    let a = seq(&[2, 3, 4]);
    let p = a.permute(&[2, 0, 1]).unwrap();
    assert_eq!(p.shape(), &[4, 2, 3]);
    for i in 0..2 {
        for j in 0..3 {
            for k in 0..4 {
                assert_eq!(at(&p, &[k, i, j]), at(&a, &[i, j, k]));
            }
        }
    }
    let t = a.transpose(0, 2).unwrap();
    assert_eq!(at(&t, &[3, 1, 0]), at(&a, &[0, 1, 3]));
    let r = a.reshape(&[6, 4]).unwrap();
    assert_eq!(r.to_vec(), a.to_vec());
    let m = seq(&[3, 5]).t().unwrap();
    assert_eq!(m.shape(), &[5, 3]);
    assert_eq!(at(&m, &[4, 2]), at(&seq(&[3, 5]), &[2, 4]));
    assert_eq!(a.unsqueeze(1).unwrap().shape(), &[2, 1, 3, 4]);
    assert_eq!(a.unsqueeze(1).unwrap().squeeze(1).unwrap(), a);
    assert!(a.squeeze(0).is_err());
    assert_eq!(a.flatten().shape(), &[24]);
}

#[test]
fn slicing_indexing_gather() {
    let a = seq(&[4, 5]);
    let s = a.slice(1, 1, 5, 2).unwrap();
    assert_eq!(s.shape(), &[4, 2]);
    assert_eq!(at(&s, &[2, 1]), at(&a, &[2, 3]));
    let sel = a.index_select(0, &[3, 3, 0]).unwrap();
    assert_eq!(sel.shape(), &[3, 5]);
    assert_eq!(at(&sel, &[1, 4]), at(&a, &[3, 4]));
    assert_eq!(at(&sel, &[2, 0]), at(&a, &[0, 0]));
    let idx = ArrayD::from_shape_vec(IxDyn(&[4, 2]), vec![4, 0, 1, 1, 2, 3, 0, 4]).unwrap();
    let g = a.gather(1, &idx).unwrap();
    for i in 0..4 {
        for j in 0..2 {
            assert_eq!(at(&g, &[i, j]), at(&a, &[i, idx[[i, j]]]));
        }
    }
    let bad = ArrayD::from_shape_vec(IxDyn(&[1, 1]), vec![5]).unwrap();
    assert!(matches!(a.gather(1, &bad), Err(RingError::IndexOutOfRange { index: 5, .. })));
}

#[test]
fn concat_stack_pad() {
    let a = seq(&[2, 3]);
    let b = seq(&[1, 3]).add_scalar(1);
    let c = RingTensor::concat(&[&a, &b], 0).unwrap();
    assert_eq!(c.shape(), &[3, 3]);
    assert_eq!(at(&c, &[2, 1]), at(&b, &[0, 1]));
    assert!(RingTensor::concat(&[&a, &b], 1).is_err());
    let st = RingTensor::stack(&[&a, &a.neg()], 1).unwrap();
    assert_eq!(st.shape(), &[2, 2, 3]);
    assert_eq!(at(&st, &[1, 1, 2]), at(&a, &[1, 2]).wrapping_neg());
    let p = a.pad(&[(1, 0), (2, 1)], 9).unwrap();
    assert_eq!(p.shape(), &[3, 6]);
    assert_eq!(at(&p, &[0, 0]), 9);
    assert_eq!(at(&p, &[1, 2]), at(&a, &[0, 0]));
    assert_eq!(at(&p, &[2, 4]), at(&a, &[1, 2]));
    assert_eq!(at(&p, &[2, 5]), 9);
}

#[test]
fn sums_and_broadcast_adjoint() {
    let a = seq(&[2, 3, 4]);
    let s1 = a.sum_axis(1, false).unwrap();
    assert_eq!(s1.shape(), &[2, 4]);
    for i in 0..2 {
        for k in 0..4 {
            let e = (0..3).fold(0u64, |acc, j| acc.wrapping_add(at(&a, &[i, j, k])));
            assert_eq!(at(&s1, &[i, k]), e);
        }
    }
    assert_eq!(a.sum_axis(2, true).unwrap().shape(), &[2, 3, 1]);
    assert_eq!(a.sum_all(), a.to_vec().iter().fold(0u64, |x, &y| x.wrapping_add(y)));
    // sum_to_shape undoes the broadcast of a [3, 1] operand to [2, 3, 4].
    let b = seq(&[3, 1]);
    let big = b.broadcast_to(&[2, 3, 4]).unwrap();
    assert_eq!(big.sum_to_shape(&[3, 1]).unwrap(), b.mul_scalar(8));
    assert!(big.sum_to_shape(&[2, 1]).is_err());
}

#[test]
fn empty_tensors_are_fine() {
    let e = RingTensor::<u64>::zeros(&[0, 3]);
    assert!(e.is_empty());
    assert_eq!(e.add(&RingTensor::zeros(&[3])).unwrap().shape(), &[0, 3]);
    assert_eq!(e.matmul(&RingTensor::zeros(&[3, 2])).unwrap().shape(), &[0, 2]);
    assert_eq!(e.sum_axis(0, false).unwrap(), RingTensor::zeros(&[3]));
    assert_eq!(RingTensor::<u64>::from_le_bytes(&[0, 3], &[]).unwrap(), e);
}

fn naive_matmul(a: &[u64], b: &[u64], m: usize, k: usize, n: usize) -> Vec<u64> {
    let mut c = vec![0u64; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                c[i * n + j] = c[i * n + j].wrapping_add(a[i * k + p].wrapping_mul(b[p * n + j]));
            }
        }
    }
    c
}

#[test]
fn batched_and_shared_right_matmul() {
    let a = seq(&[2, 3, 4]);
    let b = seq(&[2, 4, 5]).add_scalar(3);
    let c = a.matmul(&b).unwrap();
    assert_eq!(c.shape(), &[2, 3, 5]);
    for batch in 0..2 {
        let ab = a.index_select(0, &[batch]).unwrap().to_vec();
        let bb = b.index_select(0, &[batch]).unwrap().to_vec();
        assert_eq!(c.index_select(0, &[batch]).unwrap().to_vec(), naive_matmul(&ab, &bb, 3, 4, 5));
    }
    let w = seq(&[4, 5]);
    let c2 = a.matmul(&w).unwrap();
    assert_eq!(c2.shape(), &[2, 3, 5]);
    assert_eq!(c2.to_vec(), naive_matmul(&a.to_vec(), &w.to_vec(), 6, 4, 5));
    // A transposed (non-contiguous) operand gives the same product as its materialised copy.
    let at_ = seq(&[4, 3]).t().unwrap();
    assert_eq!(at_.matmul(&w).unwrap().to_vec(), naive_matmul(&at_.to_vec(), &w.to_vec(), 3, 4, 5));
}

#[test]
fn wire_bytes_round_trip_and_reject_bad_lengths() {
    let a = seq(&[3, 2]);
    let bytes = a.to_le_bytes();
    assert_eq!(bytes.len(), 48);
    assert_eq!(&bytes[8..16], &at(&a, &[0, 1]).to_le_bytes());
    assert_eq!(RingTensor::<u64>::from_le_bytes(&[3, 2], &bytes).unwrap(), a);
    let err = RingTensor::<u64>::from_le_bytes(&[3, 2], &bytes[..47]).unwrap_err();
    assert!(matches!(err, RingError::ByteLength { expected: 48, got: 47, .. }));
    let small = RingTensor::<u32>::from_vec(&[2], vec![1, u32::MAX]).unwrap();
    assert_eq!(small.to_le_bytes(), vec![1, 0, 0, 0, 255, 255, 255, 255]);
}

proptest! {
    #[test]
    fn shifts_match_integer_reference(v in prop::collection::vec(any::<u64>(), 1..40), k in 0u32..64) {
        let t = RingTensor::from_vec(&[v.len()], v.clone()).unwrap();
        let sa = t.shr_arithmetic(k).unwrap().to_vec();
        let sl = t.shr_logical(k).unwrap().to_vec();
        let sh = t.shl(k).unwrap().to_vec();
        for (i, &x) in v.iter().enumerate() {
            prop_assert_eq!(sa[i] as i64 as i128, (x as i64 as i128).div_euclid(1i128 << k));
            prop_assert_eq!(sl[i], x >> k);
            prop_assert_eq!(sh[i] as u128, ((x as u128) << k) % (1u128 << 64));
        }
    }

    #[test]
    fn bitwise_ops_match(v in prop::collection::vec(any::<(u64, u64)>(), 0..40)) {
        let a = RingTensor::from_vec(&[v.len()], v.iter().map(|p| p.0).collect()).unwrap();
        let b = RingTensor::from_vec(&[v.len()], v.iter().map(|p| p.1).collect()).unwrap();
        let (x, n, o) = (a.xor(&b).unwrap().to_vec(), a.and(&b).unwrap().to_vec(), a.or(&b).unwrap().to_vec());
        let not = a.not().to_vec();
        for (i, &(p, q)) in v.iter().enumerate() {
            prop_assert_eq!(x[i], p ^ q);
            prop_assert_eq!(n[i], p & q);
            prop_assert_eq!(o[i], p | q);
            prop_assert_eq!(not[i], !p);
        }
    }

    /// Additive sharing works through the tensor ops: shares summed = value, and local linear
    /// ops commute with reconstruction.
    #[test]
    fn linear_ops_commute_with_reconstruction(v in prop::collection::vec(any::<(u64, u64)>(), 1..30), s: u64) {
        let x0 = RingTensor::from_vec(&[v.len()], v.iter().map(|p| p.0).collect()).unwrap();
        let x1 = RingTensor::from_vec(&[v.len()], v.iter().map(|p| p.1).collect()).unwrap();
        let x = x0.add(&x1).unwrap();
        prop_assert_eq!(x0.mul_scalar(s).add(&x1.mul_scalar(s)).unwrap(), x.mul_scalar(s));
        prop_assert_eq!(x0.sum_all().wrapping_add(x1.sum_all()), x.sum_all());
        prop_assert_eq!(x0.neg().add(&x1.neg()).unwrap(), x.neg());
    }
}

#[test]
fn into_vec_of_an_array_sliced_in_place_returns_only_its_elements() {
    for range in [0..1, 1..3] {
        let mut arr = ArrayD::from_shape_vec(IxDyn(&[3, 2]), (0..6u64).collect()).unwrap();
        arr.slice_axis_inplace(ndarray::Axis(0), ndarray::Slice::from(range.clone()));
        let t = RingTensor::from_array(arr);
        let expected: Vec<u64> = (range.start as u64 * 2..range.end as u64 * 2).collect();
        assert_eq!(t.to_vec(), expected);
        assert_eq!(t.into_vec(), expected);
    }
}

#[test]
fn hostile_shapes_and_steps_are_typed_errors_not_panics() {
    let big = [1usize << 40, 1 << 40];
    assert!(matches!(
        RingTensor::<u64>::from_le_bytes(&[1 << 61], &[]),
        Err(RingError::InvalidShape { .. })
    ));
    assert!(matches!(
        RingTensor::<u64>::from_le_bytes(&big, &[]),
        Err(RingError::InvalidShape { .. })
    ));
    // No elements, but the non-zero axes overflow: ndarray refuses such a shape, and so do we.
    assert!(matches!(
        RingTensor::<u64>::from_vec(&[1 << 33, 1 << 31, 0], vec![]),
        Err(RingError::InvalidShape { .. })
    ));
    assert!(matches!(
        RingTensor::<u64>::from_vec(&[1 << 33, 1 << 31, 2], vec![]),
        Err(RingError::InvalidShape { .. })
    ));
    assert!(matches!(
        cloak_ring::matmul_dims(&[1 << 40, 1 << 40, 2, 2], &[2, 2]),
        Err(RingError::InvalidShape { .. })
    ));
    assert!(matches!(
        cloak_ring::matmul_dims(&[1 << 31, 1 << 31, 2], &[2, 1 << 40]),
        Err(RingError::ShapeMismatch { .. })
    ));
    assert!(matches!(seq(&[2]).reshape(&big), Err(RingError::InvalidShape { .. })));
    assert!(matches!(seq(&[2]).pad(&[(usize::MAX, 1)], 0), Err(RingError::InvalidArgument { .. })));
    let err = seq(&[4]).slice(0, 0, 4, usize::MAX).unwrap_err();
    assert!(matches!(err, RingError::InvalidArgument { op: "slice", .. }), "{err}");
    assert_eq!(seq(&[4]).slice(0, 0, 4, 1 << 40).unwrap().to_vec(), vec![at(&seq(&[4]), &[0])]);
}
