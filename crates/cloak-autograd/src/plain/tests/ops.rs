//! Elementwise, shape, reduction and function operations, and the errors they return.

use ndarray::{ArrayD, IxDyn, array};

use super::{TestRng, assert_close, assert_close_scalar, inner};
use crate::{AutogradError, Backend, Plain};

fn t(shape: &[usize], v: &[f64]) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap()
}

#[test]
fn identity_of_the_backend() {
    assert_eq!((Plain.name(), Plain.rank(), Plain.parties()), ("plain", 0, 1));
    assert_eq!(Plain.resolution(), 0.0);
    let a = t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(Plain::shape(&a), vec![2, 2]);
    assert_eq!(Plain.reveal(&a).unwrap(), a);
    assert_eq!(Plain.reveal_to(&a, 0).unwrap(), Some(a.clone()));
    assert!(Plain.reveal_to(&a, 1).is_err());
    assert_eq!(Plain.zeros(&[3, 0]).shape(), &[3, 0]);
}

#[test]
fn input_and_public_check_their_values() {
    let a = t(&[2], &[1.0, -2.0]);
    assert_eq!(Plain.input(0, Some(&a), &[2]).unwrap(), a);
    assert!(matches!(Plain.input(1, Some(&a), &[2]), Err(AutogradError::InvalidArgument { .. })));
    assert!(matches!(Plain.input(0, None, &[2]), Err(AutogradError::InvalidArgument { .. })));
    assert!(matches!(Plain.input(0, Some(&a), &[1, 2]), Err(AutogradError::ShapeMismatch { .. })));
    let bad = t(&[2], &[1.0, f64::NAN]);
    assert!(matches!(Plain.input(0, Some(&bad), &[2]), Err(AutogradError::NotFinite { .. })));
    let inf = t(&[1], &[f64::INFINITY]);
    assert!(
        matches!(Plain.public(&inf), Err(AutogradError::NotFinite { value, .. }) if value == f64::INFINITY)
    );
    assert!(matches!(Plain.add_scalar(&a, f64::NAN), Err(AutogradError::NotFinite { .. })));
    assert!(matches!(
        Plain.mul_scalar(&a, f64::NEG_INFINITY),
        Err(AutogradError::NotFinite { .. })
    ));
    assert!(Plain.add_public(&a, &inf).is_err());
    assert!(Plain.mul_public(&a, &inf).is_err());
    assert_eq!(Plain.add_scalar(&a, 0.5).unwrap(), t(&[2], &[1.5, -1.5]));
    assert_eq!(Plain.mul_scalar(&a, -2.0).unwrap(), t(&[2], &[-2.0, 4.0]));
    assert_eq!(Plain.neg(&a), t(&[2], &[-1.0, 2.0]));
}

#[test]
fn words_round_trip_in_logical_order() {
    // A transposed (column-major) array: the words follow the logical order.
    let a = array![[1.0, 2.0, 3.0], [4.0, -0.0, 6.5]].t().to_owned().into_dyn();
    let words = Plain.export_words(&a);
    let logical: Vec<u64> =
        [1.0f64, 4.0, 2.0, -0.0, 3.0, 6.5].iter().map(|v| v.to_bits()).collect();
    assert_eq!(words, logical);
    assert_eq!(Plain.import_words(&[3, 2], words.clone()).unwrap(), a);
    assert!(Plain.import_words(&[2, 2], words).is_err());
}

#[test]
fn broadcasting_elementwise() {
    let mut rng = TestRng::new(20);
    let a = rng.array(&[2, 1, 3], -1.0, 1.0);
    let b = rng.array(&[4, 1], -1.0, 1.0);
    let sum = Plain.add(&a, &b).unwrap();
    let diff = Plain.sub(&a, &b).unwrap();
    let prod = Plain.mul(&a, &b).unwrap();
    let scaled = Plain.mul_public(&b, &a).unwrap();
    let shifted = Plain.add_public(&a, &b).unwrap();
    assert_eq!(sum.shape(), &[2, 4, 3]);
    for i in 0..2 {
        for j in 0..4 {
            for k in 0..3 {
                let (x, y) = (a[[i, 0, k]], b[[j, 0]]);
                assert_eq!(sum[[i, j, k]], x + y);
                assert_eq!(shifted[[i, j, k]], x + y);
                assert_eq!(diff[[i, j, k]], x - y);
                assert_eq!(prod[[i, j, k]], x * y);
                assert_eq!(scaled[[i, j, k]], x * y);
            }
        }
    }
    // A scalar (0-d) broadcasts against anything.
    let s = t(&[], &[2.0]);
    assert_eq!(Plain.mul(&s, &a).unwrap(), a.mapv(|v| 2.0 * v));
    let bad = rng.array(&[2], -1.0, 1.0);
    assert!(matches!(Plain.add(&a, &bad), Err(AutogradError::ShapeMismatch { .. })));
    assert!(Plain.mul(&rng.array(&[2, 3], -1.0, 1.0), &rng.array(&[3, 2], -1.0, 1.0)).is_err());
    assert!(Plain.sub(&rng.array(&[4], -1.0, 1.0), &rng.array(&[3], -1.0, 1.0)).is_err());
}

#[test]
fn sum_to_shape_is_the_adjoint_of_broadcast_to() {
    let mut rng = TestRng::new(21);
    let pairs: [(&[usize], &[usize]); 6] = [
        (&[3, 1], &[2, 3, 4]),
        (&[1], &[5]),
        (&[], &[2, 3]),
        (&[4, 1, 2], &[3, 4, 5, 2]),
        (&[2, 3], &[2, 3]),
        (&[1, 1], &[1, 6]),
    ];
    for (small, big) in pairs {
        let a = rng.array(small, -1.0, 1.0);
        let g = rng.array(big, -1.0, 1.0);
        let b = Plain.broadcast_to(&a, big).unwrap();
        let s = Plain.sum_to_shape(&g, small).unwrap();
        assert_eq!(b.shape(), big);
        assert_eq!(s.shape(), small);
        assert_close_scalar(inner(&b, &g), inner(&a, &s), 1e-12, &format!("{small:?} {big:?}"));
    }
    let a = rng.array(&[2, 3], -1.0, 1.0);
    assert!(Plain.sum_to_shape(&a, &[3, 3]).is_err());
    assert!(Plain.sum_to_shape(&a, &[1, 2, 3]).is_err());
    assert!(Plain.broadcast_to(&a, &[3, 3]).is_err());
    assert!(Plain.broadcast_to(&a, &[3]).is_err());
}

#[test]
fn sums_and_maxima() {
    let a = t(&[2, 3], &[1.0, 5.0, 5.0, -1.0, -3.0, -1.0]);
    assert_eq!(Plain.sum(&a, 1, false).unwrap(), t(&[2], &[11.0, -5.0]));
    assert_eq!(Plain.sum(&a, 0, true).unwrap(), t(&[1, 3], &[0.0, 2.0, 4.0]));
    assert_eq!(Plain.max(&a, 1, false).unwrap(), t(&[2], &[5.0, -1.0]));
    assert_eq!(Plain.max(&a, 0, true).unwrap(), t(&[1, 3], &[1.0, 5.0, 5.0]));
    // Ties: the first maximum wins.
    assert_eq!(Plain.argmax_onehot(&a, 1).unwrap(), t(&[2, 3], &[0.0, 1.0, 0.0, 1.0, 0.0, 0.0]));
    assert_eq!(Plain.argmax_onehot(&a, 0).unwrap(), t(&[2, 3], &[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]));
    for axis in [2, 7] {
        assert!(Plain.sum(&a, axis, false).is_err());
        assert!(Plain.max(&a, axis, true).is_err());
        assert!(Plain.argmax_onehot(&a, axis).is_err());
        assert!(Plain.softmax(&a, axis).is_err());
        assert!(Plain.log_softmax(&a, axis).is_err());
        assert!(Plain.slice(&a, axis, 0, 1).is_err());
        assert!(Plain.concat(&[&a, &a], axis).is_err());
    }
    // Maxima of an empty axis are refused.
    assert!(Plain.max(&Plain.zeros(&[2, 0]), 1, false).is_err());
    assert!(Plain.argmax_onehot(&Plain.zeros(&[2, 0]), 1).is_err());
}

#[test]
fn softmax_is_normalised_and_stable() {
    let mut rng = TestRng::new(22);
    let a = rng.array(&[3, 5], -1.0, 1.0).mapv(|v| 10.0 * v);
    for axis in [0, 1] {
        let s = Plain.softmax(&a, axis).unwrap();
        let ls = Plain.log_softmax(&a, axis).unwrap();
        for total in Plain.sum(&s, axis, false).unwrap() {
            assert_close_scalar(total, 1.0, 1e-14, "softmax sums to one");
        }
        assert_close(&ls.mapv(f64::exp), &s, 1e-14, "exp(log_softmax) == softmax");
    }
    // Inputs of 1000 would overflow exp without subtracting the maximum.
    let big = t(&[1, 3], &[1000.0, 1000.0, 999.0]);
    let s = Plain.softmax(&big, 1).unwrap();
    let e = (-1f64).exp();
    assert_close(
        &s,
        &t(&[1, 3], &[1.0 / (2.0 + e), 1.0 / (2.0 + e), e / (2.0 + e)]),
        1e-15,
        "stable",
    );
    let ls = Plain.log_softmax(&big, 1).unwrap();
    let lse = (2.0 + e).ln();
    assert_close(&ls, &t(&[1, 3], &[-lse, -lse, -1.0 - lse]), 1e-15, "stable log");
    let small = t(&[2], &[-1000.0, 0.0]);
    let ls = Plain.log_softmax(&small, 0).unwrap();
    assert!(ls.iter().all(|v| v.is_finite()));
    assert_close_scalar(ls[[0]], -1000.0, 1e-15, "log_softmax tail");
}

#[test]
fn matmul_shapes() {
    let mut rng = TestRng::new(23);
    let naive = |a: &ArrayD<f64>, b: &ArrayD<f64>| {
        let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
        ArrayD::from_shape_fn(IxDyn(&[m, n]), |ix| {
            (0..k).map(|p| a[[ix[0], p]] * b[[p, ix[1]]]).sum()
        })
    };
    let (a, b) = (rng.array(&[3, 4], -1.0, 1.0), rng.array(&[4, 5], -1.0, 1.0));
    assert_close(&Plain.matmul(&a, &b).unwrap(), &naive(&a, &b), 1e-14, "2-d");
    assert_close(&Plain.matmul_public(&a, &b).unwrap(), &naive(&a, &b), 1e-14, "public");
    // Shared right matrix over a batch, and batched right matrices.
    let a3 = rng.array(&[2, 3, 4], -1.0, 1.0);
    let b3 = rng.array(&[2, 4, 5], -1.0, 1.0);
    let shared = Plain.matmul(&a3, &b).unwrap();
    let batched = Plain.matmul(&a3, &b3).unwrap();
    assert_eq!(shared.shape(), &[2, 3, 5]);
    for i in 0..2 {
        let ai = a3.index_axis(ndarray::Axis(0), i).to_owned();
        let bi = b3.index_axis(ndarray::Axis(0), i).to_owned();
        let si = shared.index_axis(ndarray::Axis(0), i).to_owned();
        let ci = batched.index_axis(ndarray::Axis(0), i).to_owned();
        assert_close(&si, &naive(&ai, &b), 1e-14, "shared");
        assert_close(&ci, &naive(&ai, &bi), 1e-14, "batched");
    }
    assert!(Plain.matmul(&a, &a).is_err());
    assert!(Plain.matmul(&a, &b3).is_err());
    assert!(Plain.matmul(&a3, &rng.array(&[3, 4, 5], -1.0, 1.0)).is_err());
    assert!(Plain.matmul(&rng.array(&[4], -1.0, 1.0), &b).is_err());
    assert!(Plain.matmul_public(&a, &a).is_err());
}

#[test]
fn layout_operations() {
    let a =
        ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |ix| (ix[0] * 100 + ix[1] * 10 + ix[2]) as f64);
    let r = Plain.reshape(&a, &[6, 4]).unwrap();
    assert_eq!(r[[4, 1]], 111.0);
    assert!(Plain.reshape(&a, &[5, 5]).is_err());
    let p = Plain.permute(&a, &[2, 0, 1]).unwrap();
    assert_eq!(p.shape(), &[4, 2, 3]);
    assert_eq!(p[[3, 1, 2]], 123.0);
    // Reshaping after a permutation follows the logical order: p[0, 0, 1] = a[0, 1, 0].
    assert_eq!(Plain.reshape(&p, &[24]).unwrap()[[1]], 10.0);
    for bad in [&[0, 1][..], &[0, 1, 1], &[0, 1, 3], &[0, 1, 2, 3]] {
        assert!(Plain.permute(&a, bad).is_err(), "{bad:?}");
    }
    let c = Plain.concat(&[&a, &a.mapv(|v| -v)], 1).unwrap();
    assert_eq!(c.shape(), &[2, 6, 4]);
    assert_eq!(c[[1, 4, 2]], -112.0);
    assert!(Plain.concat(&[&a, &Plain.zeros(&[2, 3, 5])], 1).is_err());
    assert!(Plain.concat(&[&a, &Plain.zeros(&[2, 3])], 0).is_err());
    assert!(Plain.concat(&[], 0).is_err());
    let s = Plain.slice(&a, 2, 1, 3).unwrap();
    assert_eq!(s.shape(), &[2, 3, 2]);
    assert_eq!(s[[1, 2, 0]], 121.0);
    assert_eq!(Plain.slice(&a, 0, 1, 1).unwrap().shape(), &[0, 3, 4]);
    assert!(Plain.slice(&a, 2, 3, 2).is_err());
    assert!(Plain.slice(&a, 2, 0, 5).is_err());
}

#[test]
fn pad2d_and_crop_are_adjoint() {
    let mut rng = TestRng::new(24);
    let a = rng.array(&[2, 3, 4, 5], -1.0, 1.0);
    let padded = Plain.pad2d(&a, (1, 2), false).unwrap();
    assert_eq!(padded.shape(), &[2, 3, 6, 9]);
    assert_eq!(padded[[1, 2, 1, 2]], a[[1, 2, 0, 0]]);
    assert_eq!(padded[[1, 2, 0, 3]], 0.0);
    assert_eq!(padded[[1, 2, 5, 8]], 0.0);
    assert_close_scalar(padded.sum(), a.sum(), 1e-12, "padding adds zeros");
    let g = rng.array(padded.shape(), -1.0, 1.0);
    let cropped = Plain.pad2d(&g, (1, 2), true).unwrap();
    assert_eq!(cropped.shape(), a.shape());
    assert_close_scalar(inner(&padded, &g), inner(&a, &cropped), 1e-12, "pad/crop");
    assert_eq!(Plain.pad2d(&padded, (1, 2), true).unwrap(), a);
    assert!(Plain.pad2d(&a, (3, 0), true).is_err());
    assert!(Plain.pad2d(&rng.array(&[4], -1.0, 1.0), (1, 1), false).is_err());
}

#[test]
fn comparisons_and_masks() {
    let a = t(&[5], &[-2.0, 0.0, 0.5, 1.0, 3.0]);
    let (r, m) = Plain.relu_with_grad(&a).unwrap();
    assert_eq!(r, t(&[5], &[0.0, 0.0, 0.5, 1.0, 3.0]));
    assert_eq!(m, t(&[5], &[0.0, 1.0, 1.0, 1.0, 1.0]));
    let (c, m) = Plain.clamp_with_grad(&a, 0.0, 1.0).unwrap();
    assert_eq!(c, t(&[5], &[0.0, 0.0, 0.5, 1.0, 1.0]));
    assert_eq!(m, t(&[5], &[0.0, 0.0, 1.0, 0.0, 0.0]));
    assert!(Plain.clamp_with_grad(&a, 1.0, 0.0).is_err());
    assert!(Plain.clamp_with_grad(&a, f64::NAN, 0.0).is_err());
    assert_eq!(Plain.sign(&a).unwrap(), t(&[5], &[-1.0, 1.0, 1.0, 1.0, 1.0]));
    assert_eq!(Plain.abs(&a).unwrap(), t(&[5], &[2.0, 0.0, 0.5, 1.0, 3.0]));
    assert_eq!(Plain.square(&a).unwrap(), t(&[5], &[4.0, 0.0, 0.25, 1.0, 9.0]));
}

#[test]
fn elementwise_functions() {
    let a = t(&[4], &[0.25, 1.0, 4.0, 9.0]);
    assert_eq!(Plain.sqrt(&a).unwrap(), t(&[4], &[0.5, 1.0, 2.0, 3.0]));
    assert_eq!(Plain.inv_sqrt(&a).unwrap(), t(&[4], &[2.0, 1.0, 0.5, 1.0 / 3.0]));
    assert_eq!(Plain.reciprocal(&a).unwrap(), t(&[4], &[4.0, 1.0, 0.25, 1.0 / 9.0]));
    assert_close(&Plain.log(&Plain.exp(&a).unwrap()).unwrap(), &a, 1e-15, "log(exp)");
    let z = t(&[3], &[-800.0, 0.0, 800.0]);
    assert_eq!(Plain.sigmoid(&z).unwrap(), t(&[3], &[0.0, 0.5, 1.0]));
    assert_eq!(Plain.tanh(&z).unwrap(), t(&[3], &[-1.0, 0.0, 1.0]));
    let x = t(&[1], &[-3.0]);
    assert_close_scalar(
        Plain.sigmoid(&x).unwrap()[[0]],
        1.0 / (1.0 + 3f64.exp()),
        1e-16,
        "sigmoid",
    );
}
