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

use crate::persistent::MaskValues;
use crate::{DealerError, Layout, Request, ShareKind, Shares};

/// Label of the per-request stream derivation.
const REQUEST_LABEL: &str = "cloak-dealer/request";

/// The party whose dependent shares come from the dealer.
pub const CORRECTION_PARTY: usize = 0;

/// Draws tensors of the given components from `prg`, in order.
pub(crate) fn draw(prg: &mut Prg, components: &[crate::Component]) -> Vec<RingTensor<u64>> {
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
pub(crate) fn stream(seed: &Seed, counter: u64) -> Prg {
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

/// Words drawn per step when folding another party's stream into a value: small enough
/// to stay in cache, large enough for the generator's bulk path.
const CHUNK_WORDS: usize = 4096;

/// Combines one share into a value: XOR, or wrapping addition (subtraction with
/// `subtract`) of additive shares.
pub(crate) fn fold(kind: ShareKind, acc: &mut [u64], src: &[u64], subtract: bool) {
    match (kind, subtract) {
        (ShareKind::Xor, _) => acc.iter_mut().zip(src).for_each(|(a, s)| *a ^= s),
        (ShareKind::Arith, false) => {
            acc.iter_mut().zip(src).for_each(|(a, s)| *a = a.wrapping_add(*s));
        }
        (ShareKind::Arith, true) => {
            acc.iter_mut().zip(src).for_each(|(a, s)| *a = a.wrapping_sub(*s));
        }
    }
}

/// Folds the next `value.len()` words of `prg` into `value` (added, subtracted or XORed),
/// a cache-sized chunk at a time, so another party's shares never exist as whole tensors.
pub(crate) fn absorb(prg: &mut Prg, kind: ShareKind, subtract: bool, value: &mut RingTensor<u64>) {
    let mut buf = [0u64; CHUNK_WORDS];
    let mut fold = |dst: &mut [u64]| {
        for chunk in dst.chunks_mut(CHUNK_WORDS) {
            let src = &mut buf[..chunk.len()];
            prg.fill_u64(src);
            fold(kind, chunk, src, subtract);
        }
    };
    let array = value.as_array_mut();
    match array.as_slice_mut() {
        Some(slice) => fold(slice),
        None => {
            // Components are created in standard layout; keep the stream order regardless.
            let mut flat: Vec<u64> = array.iter().copied().collect();
            fold(&mut flat);
            array.iter_mut().zip(flat).for_each(|(d, s)| *d = s);
        }
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
    masks: &mut MaskValues,
) -> Result<Shares, DealerError> {
    if let Some(shares) =
        crate::elementwise::correction_shares_elementwise(seeds, request, layout, counter)
    {
        return shares;
    }
    let own = party_shares(&seeds[CORRECTION_PARTY], CORRECTION_PARTY, counter, layout);
    let dependent = correction_dependent(seeds, request, layout, counter, &own.free, masks)?;
    Ok(Shares { free: own.free, dependent })
}

/// The correction party's dependent shares of request `counter`, given its free shares
/// (the general path: other parties' streams folded in chunks, then the request's rule).
fn correction_dependent(
    seeds: &[Seed],
    request: &Request,
    layout: &Layout,
    counter: u64,
    own_free: &[RingTensor<u64>],
    masks: &mut MaskValues,
) -> Result<Vec<RingTensor<u64>>, DealerError> {
    let mut others: Vec<Prg> = seeds
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != CORRECTION_PARTY)
        .map(|(_, s)| stream(s, counter))
        .collect();
    // Each other party's stream holds its free components, then its dependent ones.
    let mut free_values = own_free.to_vec();
    for prg in &mut others {
        for (value, c) in free_values.iter_mut().zip(&layout.free) {
            absorb(prg, c.kind, false, value);
        }
    }
    let mut dependent = match request {
        // The fixed operand's mask is not a component of the request (every party holds
        // its share already): its value, kept from earlier products, is the right operand.
        Request::TripleFixedRhs { op, mask } => {
            vec![op.apply(&free_values[0], masks.get(seeds, *mask, op.rhs_shape()))?]
        }
        _ => request.dependents(&free_values)?,
    };
    for prg in &mut others {
        for (value, c) in dependent.iter_mut().zip(&layout.dependent) {
            absorb(prg, c.kind, true, value);
        }
    }
    Ok(dependent)
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
        self.record_time(layout, start.elapsed());
    }

    pub(crate) fn record_time(&mut self, layout: &Layout, time: std::time::Duration) {
        self.requests += 1;
        self.words +=
            layout.free.iter().chain(&layout.dependent).map(|c| c.len() as u64).sum::<u64>();
        self.time += time;
    }
}
