//! The arithmetic of correlated randomness, apart from any I/O: a party's shares from its
//! seed, and the correction the dealer computes from every party's seed.
//!
//! Request number `k` of a party with seed `s` uses the stream
//! `Prg(s.derive_indexed(REQUEST_LABEL, k))`: free components first, then (for every party
//! but the correction party) the dependent ones, each filled in order. Both ends keep the
//! same counter, so they draw the same streams without ever sending them.

use std::time::Instant;

use cloak_prg::{Prg, Seed};
use cloak_ring::RingTensor;

use crate::{DealerError, Layout, Request, ShareKind, Shares};

/// Label of the per-request stream derivation.
const REQUEST_LABEL: &str = "cloak-dealer/request";

/// The party whose dependent shares come from the dealer.
pub const CORRECTION_PARTY: usize = 0;

/// Draws tensors of the given components from `prg`, in order.
fn draw(prg: &mut Prg, components: &[crate::Component]) -> Vec<RingTensor<u64>> {
    components
        .iter()
        .map(|c| {
            let mut data = vec![0u64; c.len()];
            prg.par_fill_u64(&mut data);
            RingTensor::from_array(
                ndarray::ArrayD::from_shape_vec(c.shape.clone(), data)
                    .unwrap_or_else(|_| unreachable!("component length matches its shape")),
            )
        })
        .collect()
}

/// The stream of request `counter` under `seed`.
fn stream(seed: &Seed, counter: u64) -> Prg {
    Prg::new(&seed.derive_indexed(REQUEST_LABEL, counter))
}

/// Party `rank`'s shares of request `counter` with this layout. For the correction party
/// only the free shares are drawn (`dependent` is left empty for the caller to fill).
pub(crate) fn party_shares(seed: &Seed, rank: usize, counter: u64, layout: &Layout) -> Shares {
    let mut prg = stream(seed, counter);
    let free = draw(&mut prg, &layout.free);
    let dependent =
        if rank == CORRECTION_PARTY { Vec::new() } else { draw(&mut prg, &layout.dependent) };
    Shares { free, dependent }
}

/// Combines shares of one component.
fn combine(kind: ShareKind, acc: &mut RingTensor<u64>, share: &RingTensor<u64>) {
    let (acc, share) = (acc.as_array_mut(), share.as_array());
    match kind {
        ShareKind::Arith => acc.zip_mut_with(share, |a, &s| *a = a.wrapping_add(s)),
        ShareKind::Xor => acc.zip_mut_with(share, |a, &s| *a ^= s),
    }
}

/// Removes a share from a component's value.
fn uncombine(kind: ShareKind, acc: &mut RingTensor<u64>, share: &RingTensor<u64>) {
    let (acc, share) = (acc.as_array_mut(), share.as_array());
    match kind {
        ShareKind::Arith => acc.zip_mut_with(share, |a, &s| *a = a.wrapping_sub(s)),
        ShareKind::Xor => acc.zip_mut_with(share, |a, &s| *a ^= s),
    }
}

/// The correction party's complete shares of request `counter` (its free shares from its
/// seed, its dependent shares computed so that every component sums to the right value),
/// from every party's seed (`seeds[i]` is party `i`'s). This is the dealer's whole job.
pub(crate) fn correction_shares(
    seeds: &[Seed],
    request: &Request,
    layout: &Layout,
    counter: u64,
) -> Result<Shares, DealerError> {
    let all: Vec<Shares> =
        seeds.iter().enumerate().map(|(i, s)| party_shares(s, i, counter, layout)).collect();
    let mut free_values: Vec<RingTensor<u64>> = all[CORRECTION_PARTY].free.clone();
    for (i, shares) in all.iter().enumerate() {
        if i == CORRECTION_PARTY {
            continue;
        }
        for ((value, share), c) in free_values.iter_mut().zip(&shares.free).zip(&layout.free) {
            combine(c.kind, value, share);
        }
    }
    let mut dependent = request.dependents(&free_values)?;
    for (i, shares) in all.iter().enumerate() {
        if i == CORRECTION_PARTY {
            continue;
        }
        for ((value, share), c) in
            dependent.iter_mut().zip(&shares.dependent).zip(&layout.dependent)
        {
            uncombine(c.kind, value, share);
        }
    }
    let free = all.into_iter().nth(CORRECTION_PARTY).map(|s| s.free).unwrap_or_default();
    Ok(Shares { free, dependent })
}

/// Time and volume of the correlated randomness a party has used.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DealerStats {
    /// Requests served.
    pub requests: u64,
    /// `u64` words of randomness this party obtained (its shares of every component).
    pub words: u64,
    /// Time spent producing them: drawing streams, computing corrections, and (for a
    /// networked dealer) waiting for them.
    pub time: std::time::Duration,
}

impl DealerStats {
    pub(crate) fn record(&mut self, layout: &Layout, start: Instant) {
        self.requests += 1;
        self.words +=
            layout.free.iter().chain(&layout.dependent).map(|c| c.len() as u64).sum::<u64>();
        self.time += start.elapsed();
    }
}
