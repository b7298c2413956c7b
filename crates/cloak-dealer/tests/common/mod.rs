//! Helpers shared by the integration tests: a catalogue of requests covering every kind and
//! every bilinear op, reconstruction of shares from all parties, and independent checks of
//! each request's relation and of the shares' randomness.
//!
//! Not every test crate that includes this module uses all of it.

#![allow(dead_code)]

use cloak_dealer::{BilinearOp, Request, ShareKind, Shares};
use cloak_ring::{Conv2dSpec, RingTensor};

/// A convolution spec with square stride, padding and dilation.
pub fn spec(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dSpec {
    Conv2dSpec {
        stride: (stride, stride),
        padding: (padding, padding),
        dilation: (dilation, dilation),
        groups,
    }
}

/// One request of every kind, every bilinear op with small shapes, and edge cases
/// (broadcasting on both sides, a shared matmul right operand, groups, strides, the
/// truncation-bit extremes, a bit count that is not a multiple of 64).
pub fn catalogue() -> Vec<Request> {
    vec![
        Request::Triple(BilinearOp::Mul { lhs: vec![2, 3], rhs: vec![3] }),
        Request::Triple(BilinearOp::Mul { lhs: vec![2, 1], rhs: vec![1, 3] }),
        Request::Triple(BilinearOp::Matmul { lhs: vec![4, 5], rhs: vec![5, 3] }),
        Request::Triple(BilinearOp::Matmul { lhs: vec![2, 4, 5], rhs: vec![2, 5, 3] }),
        Request::Triple(BilinearOp::Matmul { lhs: vec![2, 4, 5], rhs: vec![5, 3] }),
        Request::Triple(BilinearOp::Conv2d {
            input: vec![1, 2, 5, 5],
            weight: vec![3, 2, 3, 3],
            spec: spec(1, 1, 1, 1),
        }),
        Request::Triple(BilinearOp::Conv2d {
            input: vec![2, 4, 6, 6],
            weight: vec![2, 2, 3, 3],
            spec: spec(2, 0, 1, 2),
        }),
        Request::Triple(BilinearOp::Conv1d {
            input: vec![2, 3, 8],
            weight: vec![4, 3, 3],
            spec: Conv2dSpec { stride: (1, 2), padding: (0, 1), dilation: (1, 1), groups: 1 },
        }),
        Request::Triple(BilinearOp::Conv2dInputGrad {
            grad_out: vec![1, 3, 5, 5],
            weight: vec![3, 2, 3, 3],
            input_shape: vec![1, 2, 5, 5],
            spec: spec(1, 1, 1, 1),
        }),
        Request::Triple(BilinearOp::Conv2dWeightGrad {
            input: vec![1, 2, 5, 5],
            grad_out: vec![1, 3, 3, 3],
            weight_shape: vec![3, 2, 3, 3],
            spec: spec(2, 1, 1, 1),
        }),
        Request::Triple(BilinearOp::ConvTranspose2d {
            input: vec![1, 2, 3, 3],
            weight: vec![2, 3, 3, 3],
            spec: spec(2, 1, 1, 1),
            output_padding: (1, 1),
        }),
        Request::Square { shape: vec![3, 4] },
        Request::BinaryTriple { words: 5 },
        Request::TruncPair { shape: vec![4, 3], bits: 16 },
        Request::TruncPair { shape: vec![7], bits: 1 },
        Request::TruncPair { shape: vec![7], bits: 63 },
        Request::DivPair { shape: vec![4, 3], divisor: 3 },
        Request::DivPair { shape: vec![5], divisor: 1 },
        Request::DivPair { shape: vec![5], divisor: u64::MAX },
        Request::RandomBits { count: 130 },
        Request::RandomBits { count: 64 },
    ]
}

/// Requests with no element at all.
pub fn empty_requests() -> Vec<Request> {
    vec![
        Request::Triple(BilinearOp::Mul { lhs: vec![0], rhs: vec![0] }),
        Request::Triple(BilinearOp::Matmul { lhs: vec![0, 3], rhs: vec![3, 0] }),
        Request::Square { shape: vec![0, 4] },
        Request::BinaryTriple { words: 0 },
        Request::TruncPair { shape: vec![0], bits: 8 },
        Request::RandomBits { count: 0 },
    ]
}

/// Combines every party's share of one component.
fn combine(kind: ShareKind, shape: &[usize], shares: &[&RingTensor<u64>]) -> RingTensor<u64> {
    let mut acc = RingTensor::<u64>::zeros(shape);
    for s in shares {
        assert_eq!(s.shape(), shape, "share of the wrong shape");
        acc = match kind {
            ShareKind::Arith => acc.add(s),
            ShareKind::Xor => acc.xor(s),
        }
        .expect("shares of one component have one shape");
    }
    acc
}

/// The true values of a request's free and dependent components, from every party's
/// shares (in rank order). Checks that every party got every component in the layout's
/// shape.
pub fn reconstruct(
    request: &Request,
    shares: &[Shares],
) -> (Vec<RingTensor<u64>>, Vec<RingTensor<u64>>) {
    let layout = request.layout().expect("a valid request");
    for s in shares {
        assert_eq!(s.free.len(), layout.free.len(), "{request:?}: free components");
        assert_eq!(s.dependent.len(), layout.dependent.len(), "{request:?}: dependent components");
    }
    let values = |components: &[cloak_dealer::Component],
                  pick: &dyn Fn(&Shares) -> &[RingTensor<u64>]| {
        components
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let parts: Vec<&RingTensor<u64>> = shares.iter().map(|s| &pick(s)[i]).collect();
                combine(c.kind, &c.shape, &parts)
            })
            .collect::<Vec<_>>()
    };
    (values(&layout.free, &|s| &s.free), values(&layout.dependent, &|s| &s.dependent))
}

/// Wrapping sum of additive shares.
pub fn sum(shares: &[&RingTensor<u64>]) -> RingTensor<u64> {
    combine(ShareKind::Arith, shares[0].shape(), shares)
}

/// XOR of XOR shares.
pub fn xor(shares: &[&RingTensor<u64>]) -> RingTensor<u64> {
    combine(ShareKind::Xor, shares[0].shape(), shares)
}

/// `a * b` for lhs `[m, n]` and rhs `[n]`, by hand.
fn naive_mul_row_broadcast(a: &RingTensor<u64>, b: &RingTensor<u64>) -> Vec<u64> {
    let (m, n) = (a.shape()[0], a.shape()[1]);
    let (a, b) = (a.to_vec(), b.to_vec());
    (0..m * n).map(|i| a[i].wrapping_mul(b[i % n])).collect()
}

/// `a @ b` for 2-d operands, by hand.
fn naive_matmul(a: &RingTensor<u64>, b: &RingTensor<u64>) -> Vec<u64> {
    let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    let (a, b) = (a.to_vec(), b.to_vec());
    let mut out = vec![0u64; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .fold(0u64, |acc, l| acc.wrapping_add(a[i * k + l].wrapping_mul(b[l * n + j])));
        }
    }
    out
}

/// `op(a, b)` computed without going through the dealer's own `apply` where the ring has a
/// direct method, plus a hand-written reference for the simplest shapes.
fn expected_product(op: &BilinearOp, a: &RingTensor<u64>, b: &RingTensor<u64>) -> RingTensor<u64> {
    let c = match op {
        BilinearOp::Mul { .. } => a.mul(b),
        BilinearOp::Matmul { .. } => a.matmul(b),
        BilinearOp::Conv1d { spec, .. } => a.conv1d(b, spec),
        BilinearOp::Conv2d { spec, .. } => a.conv2d(b, spec),
        BilinearOp::Conv2dInputGrad { input_shape, spec, .. } => {
            a.conv2d_input_grad(b, input_shape, spec)
        }
        BilinearOp::Conv2dWeightGrad { weight_shape, spec, .. } => {
            a.conv2d_weight_grad(b, weight_shape, spec)
        }
        BilinearOp::ConvTranspose2d { spec, output_padding, .. } => {
            a.conv_transpose2d(b, spec, *output_padding)
        }
    }
    .expect("the ring op accepts the request's shapes");
    match op {
        BilinearOp::Mul { lhs, rhs } if lhs.len() == 2 && rhs.len() == 1 => {
            assert_eq!(c.to_vec(), naive_mul_row_broadcast(a, b), "broadcast mul by hand");
        }
        BilinearOp::Matmul { lhs, rhs } if lhs.len() == 2 && rhs.len() == 2 => {
            assert_eq!(c.to_vec(), naive_matmul(a, b), "matmul by hand");
        }
        _ => {}
    }
    assert_eq!(op.apply(a, b).expect("apply accepts the declared shapes"), c, "{op:?}: apply");
    c
}

/// Checks the relation a request promises between its reconstructed values.
pub fn check_relation(request: &Request, free: &[RingTensor<u64>], dependent: &[RingTensor<u64>]) {
    match request {
        Request::Triple(op) => {
            let (a, b, c) = (&free[0], &free[1], &dependent[0]);
            assert_eq!(a.shape(), op.lhs_shape());
            assert_eq!(b.shape(), op.rhs_shape());
            assert_eq!(c.shape(), &op.output_shape().expect("valid op")[..]);
            assert_eq!(*c, expected_product(op, a, b), "{op:?}: c != op(a, b)");
        }
        Request::Square { shape } => {
            let (r, r2) = (&free[0], &dependent[0]);
            assert_eq!(r.shape(), &shape[..]);
            let want: Vec<u64> = r.to_vec().iter().map(|x| x.wrapping_mul(*x)).collect();
            assert_eq!(r2.to_vec(), want, "r2 != r * r");
        }
        Request::BinaryTriple { words } => {
            let (a, b, c) = (&free[0], &free[1], &dependent[0]);
            assert_eq!(a.shape(), &[*words]);
            let want: Vec<u64> = a.to_vec().iter().zip(b.to_vec()).map(|(x, y)| x & y).collect();
            assert_eq!(c.to_vec(), want, "c != a & b");
        }
        Request::TruncPair { shape, bits } => {
            let (r, shifted, msb) = (&free[0], &dependent[0], &dependent[1]);
            assert_eq!(r.shape(), &shape[..]);
            assert_eq!(shifted.shape(), &shape[..]);
            assert_eq!(msb.shape(), &shape[..]);
            let r = r.to_vec();
            let want: Vec<u64> = r.iter().map(|x| x >> bits).collect();
            assert_eq!(shifted.to_vec(), want, "r_shifted != r >> {bits}");
            let want: Vec<u64> = r.iter().map(|x| x >> 63).collect();
            assert_eq!(msb.to_vec(), want, "r_msb != r >> 63");
        }
        Request::DivPair { shape, divisor } => {
            let (r, quotient, msb) = (&free[0], &dependent[0], &dependent[1]);
            assert_eq!(r.shape(), &shape[..]);
            assert_eq!(quotient.shape(), &shape[..]);
            let r = r.to_vec();
            let want: Vec<u64> = r.iter().map(|x| x / divisor).collect();
            assert_eq!(quotient.to_vec(), want, "r_shifted != r / {divisor}");
            let want: Vec<u64> = r.iter().map(|x| x >> 63).collect();
            assert_eq!(msb.to_vec(), want, "r_msb != r >> 63");
        }
        Request::TripleFixedRhs { .. } => {
            panic!("a fixed-operand triple needs its mask's value: checked in fixed.rs")
        }
        Request::RandomBits { count } => {
            let (words, bits) = (free[0].to_vec(), dependent[0].to_vec());
            assert_eq!(words.len(), count.div_ceil(64));
            assert_eq!(bits.len(), *count);
            for (i, &bit) in bits.iter().enumerate() {
                assert!(bit <= 1, "arith bit {i} is {bit}");
                assert_eq!(bit, (words[i / 64] >> (i % 64)) & 1, "bit {i}");
            }
        }
    }
}

/// Checks that the shares look random: for every component with a few elements, two
/// parties' shares differ and none is all zeros (each has probability about 2^-64 for a
/// uniform share).
pub fn check_random_looking(request: &Request, shares: &[Shares]) {
    let layout = request.layout().expect("a valid request");
    let lens = layout.free.iter().chain(&layout.dependent).map(|c| c.len());
    for (i, len) in lens.enumerate() {
        if len == 0 {
            continue;
        }
        let per_party: Vec<Vec<u64>> = shares
            .iter()
            .map(|s| s.free.iter().chain(&s.dependent).nth(i).expect("component").to_vec())
            .collect();
        for (p, v) in per_party.iter().enumerate() {
            assert!(v.iter().any(|&x| x != 0), "{request:?}: party {p}'s share {i} is all zeros");
        }
        for p in 1..per_party.len() {
            assert_ne!(
                per_party[p - 1],
                per_party[p],
                "{request:?}: parties {} and {p} share {i}",
                p - 1
            );
        }
    }
}

/// Reconstructs every request of a run (`per_party[p][k]` is party `p`'s shares of
/// `requests[k]`) and checks relations and randomness.
pub fn check_run(requests: &[Request], per_party: &[Vec<Shares>]) {
    for (k, request) in requests.iter().enumerate() {
        let shares: Vec<Shares> = per_party.iter().map(|p| p[k].clone()).collect();
        let (free, dependent) = reconstruct(request, &shares);
        check_relation(request, &free, &dependent);
        check_random_looking(request, &shares);
    }
}

/// Unwraps every party's outcome, with the failure in the panic message.
pub fn unwrap_all<R, E: std::fmt::Debug>(
    outcomes: Vec<Result<R, cloak_comm::runner::PartyFailure<E>>>,
) -> Vec<R> {
    outcomes
        .into_iter()
        .enumerate()
        .map(|(rank, o)| o.unwrap_or_else(|e| panic!("party {rank} failed: {e:?}")))
        .collect()
}
