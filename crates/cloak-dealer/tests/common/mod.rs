//! Helpers shared by the integration tests: the conformance suite's catalogue,
//! reconstruction and relation checks, as panicking helpers.
//!
//! Not every test crate that includes this module uses all of it.

#![allow(dead_code)]

use cloak_dealer::{Request, ShareKind, Shares, conformance};
use cloak_ring::{Conv2dSpec, RingTensor};

/// A convolution spec with square stride, padding and dilation.
pub fn spec(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dSpec {
    conformance::spec(stride, padding, dilation, groups)
}

/// One request of every built-in kind, every bilinear op with small shapes, and edge
/// cases (the conformance suite's catalogue).
pub fn catalogue() -> Vec<Request> {
    conformance::builtin()
}

/// Requests with no element at all.
pub fn empty_requests() -> Vec<Request> {
    conformance::empty()
}

/// The true values of a request's free and dependent components, from every party's
/// shares (in rank order). Checks that every party got every component in the layout's
/// shape.
pub fn reconstruct(
    request: &Request,
    shares: &[Shares],
) -> (Vec<RingTensor<u64>>, Vec<RingTensor<u64>>) {
    let [free, dependent, _] =
        conformance::reconstruct(request, shares).unwrap_or_else(|e| panic!("{request:?}: {e}"));
    (free, dependent)
}

/// Checks the relation a request promises between its reconstructed values.
pub fn check_relation(request: &Request, free: &[RingTensor<u64>], dependent: &[RingTensor<u64>]) {
    let values = [free.to_vec(), dependent.to_vec(), Vec::new()];
    conformance::relation(request, &values, None).unwrap_or_else(|e| panic!("{e}"));
}

/// Wrapping sum of additive shares.
pub fn sum(shares: &[&RingTensor<u64>]) -> RingTensor<u64> {
    conformance::combine(ShareKind::Arith, shares[0].shape(), shares).expect("one shape")
}

/// XOR of XOR shares.
pub fn xor(shares: &[&RingTensor<u64>]) -> RingTensor<u64> {
    conformance::combine(ShareKind::Xor, shares[0].shape(), shares).expect("one shape")
}

/// Reconstructs every request of a run (`per_party[p][k]` is party `p`'s shares of
/// `requests[k]`) and checks relations and randomness.
pub fn check_run(requests: &[Request], per_party: &[Vec<Shares>]) {
    for (k, request) in requests.iter().enumerate() {
        let shares: Vec<Shares> = per_party.iter().map(|p| p[k].clone()).collect();
        let (free, dependent) = reconstruct(request, &shares);
        check_relation(request, &free, &dependent);
        conformance::random_looking(request, &shares).unwrap_or_else(|e| panic!("{e}"));
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
