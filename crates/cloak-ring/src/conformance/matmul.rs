//! Checks of [`Backend::matmul`]: plain, batched and shared-right products against the naive
//! triple loop, sizes around and across every kernel's register and cache tiles, empty
//! dimensions, and the shared validator's errors.

use super::cases::{between, tensor};
use super::{expect_error, expect_tensor, reference};
use crate::backend::Backend;
use crate::element::RingElement;
use crate::tensor::RingTensor;
use crate::tensor::linalg::matmul_dims;
use crate::testing::TestRng;

/// Checks one product of operands of shapes `sa` and `sb` (valid ones).
fn check_product<T: RingElement>(
    backend: &dyn Backend<T>,
    rng: &mut TestRng,
    sa: &[usize],
    sb: &[usize],
) {
    let (a, b) = (tensor::<T>(rng, sa), tensor::<T>(rng, sb));
    let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
    let batch: usize = sa[..sa.len() - 2].iter().product();
    let shared = sb.len() == 2;
    let want = reference::matmul((batch, m, k, n), &a.as_slice(), &b.as_slice(), shared);
    let mut out_shape = sa[..sa.len() - 2].to_vec();
    out_shape.extend([m, n]);
    let what = format!("matmul {sa:?} x {sb:?}");
    expect_tensor(backend, &what, backend.matmul(&a, &b), &out_shape, &want);
}

/// `[m, k] x [k, n]` for sizes from 1 to past two register tiles (the portable, AVX2 and
/// AVX-512 kernels tile by 4x8 up to 12x32), including every ragged edge.
pub fn matmul_2d<T: RingElement>(backend: &dyn Backend<T>) {
    let mut rng = TestRng::new(0x6d61_746d_756c_0001);
    let fixed = [
        (1, 1, 1),
        (1, 7, 1),
        (4, 8, 8),
        (5, 9, 17),
        (12, 3, 32),
        (13, 31, 33),
        (64, 64, 64),
        (65, 63, 66),
    ];
    for (m, k, n) in fixed {
        check_product(backend, &mut rng, &[m, k], &[k, n]);
    }
    for _ in 0..24 {
        let (m, k, n) =
            (between(&mut rng, 1, 70), between(&mut rng, 1, 70), between(&mut rng, 1, 70));
        check_product(backend, &mut rng, &[m, k], &[k, n]);
    }
}

/// `[.., m, k] x [.., k, n]` with one right matrix per batch element, 3-d and 4-d.
pub fn matmul_batched<T: RingElement>(backend: &dyn Backend<T>) {
    let mut rng = TestRng::new(0x6d61_746d_756c_0002);
    for _ in 0..12 {
        let (m, k, n) =
            (between(&mut rng, 1, 20), between(&mut rng, 1, 20), between(&mut rng, 1, 20));
        let batch = between(&mut rng, 1, 5);
        check_product(backend, &mut rng, &[batch, m, k], &[batch, k, n]);
    }
    check_product(backend, &mut rng, &[2, 3, 5, 7], &[2, 3, 7, 9]);
}

/// `[.., m, k] x [k, n]`: one right matrix for the whole batch, as a linear layer has.
pub fn matmul_shared_right<T: RingElement>(backend: &dyn Backend<T>) {
    let mut rng = TestRng::new(0x6d61_746d_756c_0003);
    for _ in 0..12 {
        let (m, k, n) =
            (between(&mut rng, 1, 20), between(&mut rng, 1, 20), between(&mut rng, 1, 20));
        let batch = between(&mut rng, 1, 5);
        check_product(backend, &mut rng, &[batch, m, k], &[k, n]);
    }
    check_product(backend, &mut rng, &[2, 3, 5, 7], &[7, 9]);
}

/// Products past the cache blocks (`k` over 256, `m` over 192) and large enough for a
/// backend to split them across threads.
pub fn matmul_large<T: RingElement>(backend: &dyn Backend<T>) {
    let mut rng = TestRng::new(0x6d61_746d_756c_0004);
    check_product(backend, &mut rng, &[203, 301], &[301, 37]);
    check_product(backend, &mut rng, &[3, 70, 260], &[260, 45]);
}

/// Empty dimensions: `m`, `n` or the batch zero give empty outputs, `k` zero gives zeros.
pub fn matmul_degenerate<T: RingElement>(backend: &dyn Backend<T>) {
    let mut rng = TestRng::new(0x6d61_746d_756c_0005);
    for (sa, sb) in [
        (vec![0, 5], vec![5, 3]),
        (vec![4, 5], vec![5, 0]),
        (vec![4, 0], vec![0, 3]),
        (vec![0, 4, 5], vec![5, 3]),
        (vec![2, 4, 0], vec![2, 0, 3]),
    ] {
        check_product(backend, &mut rng, &sa, &sb);
    }
}

/// Operands that do not multiply: the backend reports [`matmul_dims`]'s error.
pub fn matmul_errors<T: RingElement>(backend: &dyn Backend<T>) {
    let bad: [(&[usize], &[usize]); 6] = [
        (&[3, 4], &[5, 2]),
        (&[4], &[4, 2]),
        (&[3, 4], &[4]),
        (&[], &[1, 1]),
        (&[2, 3, 4], &[3, 4, 2]),
        (&[2, 3, 4], &[2, 5, 2]),
    ];
    for (sa, sb) in bad {
        let (a, b) = (RingTensor::<T>::zeros(sa), RingTensor::<T>::zeros(sb));
        let want = matmul_dims(sa, sb).err();
        assert!(want.is_some(), "conformance suite: {sa:?} x {sb:?} should be invalid");
        expect_error(backend, &format!("matmul {sa:?} x {sb:?}"), backend.matmul(&a, &b), want);
    }
}
