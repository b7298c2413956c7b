//! The arithmetic of correlated randomness, apart from any I/O: a party's shares from its
//! seed ([`party_shares`]), and what the dealer computes from every party's seed
//! ([`correction_shares`]): the correction party's dependent shares and every party's part
//! of the dealt components. A new provider (one made by the parties themselves, say) reuses
//! these and adds only its delivery.
//!
//! Request number `k` of a party with seed `s` uses the stream [`stream`]`(s, k)`, that is
//! `Prg(s.derive_indexed("cloak-dealer/request", k))`: free components first, then (for
//! every party but the correction party) the dependent ones, each filled in order. Both
//! ends keep the same counter, so they draw the same streams without ever sending them.
//! The dealer's own randomness for request `k` (what it deals) is [`dealt_stream`] of a
//! seed only the dealer holds.

use cloak_prg::{Prg, Seed};
use cloak_ring::RingTensor;

use crate::persistent::MaskValues;
use crate::relation::{Relation, check_values};
pub use crate::streams::{CORRECTION_PARTY, dealt_stream, party_shares, party_shares_on, stream};
use crate::streams::{Values, absorb};
use crate::{DealerError, Layout, Request, Shares};

/// What the dealer computes for one request.
pub struct Correction {
    /// The correction party's complete shares: its free shares from its seed, its
    /// dependent shares computed so that every component sums to the right value, and its
    /// dealt part.
    pub shares: Shares,
    /// Every party's dealt part, by rank (the correction party's moved into `shares`, its
    /// entry left empty); empty when the layout deals nothing, so nothing is sent.
    pub dealt: Vec<Vec<RingTensor<u64>>>,
}

impl std::fmt::Debug for Correction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Correction").field("shares", &self.shares).finish_non_exhaustive()
    }
}

/// What the dealer computes for request `counter`, from every party's seed (`seeds[i]` is
/// party `i`'s) and, for a layout with dealt components, its own `dealer_seed`. This is the
/// dealer's whole job; elementwise requests take a chunked path that never holds another
/// party's shares as whole tensors.
///
/// `layout` must be `request.layout()` (providers compute it once per request).
///
/// # Errors
/// A typed error if the request is invalid, a custom kind breaks its own layout, `layout`
/// is not the request's, or there are fewer than two seeds.
pub fn correction_shares(
    seeds: &[Seed],
    dealer_seed: &Seed,
    request: &Request,
    layout: &Layout,
    counter: u64,
    masks: &mut MaskValues,
) -> Result<Correction, DealerError> {
    if seeds.len() < 2 {
        return Err(DealerError::Setup { reason: format!("{} party seeds", seeds.len()) });
    }
    if *layout != request.layout()? {
        return Err(DealerError::Correlation {
            kind: request.name().into(),
            reason: "the layout passed is not the request's".into(),
        });
    }
    let keep = !layout.dealt.is_empty();
    let (mut shares, values) = match request.relation() {
        Relation::Elementwise(rule) => crate::elementwise::correction_shares_elementwise(
            seeds,
            request.name(),
            rule,
            layout,
            counter,
            keep,
        )?,
        _ => correction_general(seeds, request, layout, counter, masks, keep)?,
    };
    let mut dealt = Vec::new();
    if let Some((free, dependent)) = values {
        let mut rng = dealt_stream(dealer_seed, counter);
        dealt = deal(request, layout, &free, &dependent, seeds.len(), &mut rng)?;
        shares.dealt = std::mem::take(&mut dealt[CORRECTION_PARTY]);
    }
    Ok(Correction { shares, dealt })
}

/// Every party's dealt part, checked against the layout.
fn deal(
    request: &Request,
    layout: &Layout,
    free: &[RingTensor<u64>],
    dependent: &[RingTensor<u64>],
    parties: usize,
    rng: &mut Prg,
) -> Result<Vec<Vec<RingTensor<u64>>>, DealerError> {
    let Request::Custom(c) = request else {
        return Err(DealerError::Correlation {
            kind: request.name().into(),
            reason: "a built-in request with dealt components".into(),
        });
    };
    let parts = c.correlation().deal(free, dependent, parties, rng)?;
    if parts.len() != parties {
        return Err(DealerError::Correlation {
            kind: request.name().into(),
            reason: format!("dealt {} parts for {parties} parties", parts.len()),
        });
    }
    for part in &parts {
        check_values(request.name(), "dealt", &layout.dealt, part)?;
    }
    Ok(parts)
}

/// The correction party's shares by the general path: other parties' streams folded in
/// chunks into the free values, the request's relation, then their dependent streams
/// folded out. With `keep`, the true values too.
fn correction_general(
    seeds: &[Seed],
    request: &Request,
    layout: &Layout,
    counter: u64,
    masks: &mut MaskValues,
    keep: bool,
) -> Result<(Shares, Option<Values>), DealerError> {
    let own = party_shares(&seeds[CORRECTION_PARTY], CORRECTION_PARTY, counter, layout);
    let mut others: Vec<Prg> = seeds
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != CORRECTION_PARTY)
        .map(|(_, s)| stream(s, counter))
        .collect();
    // Each other party's stream holds its free components, then its dependent ones.
    let mut free_values = own.free.clone();
    for prg in &mut others {
        for (value, c) in free_values.iter_mut().zip(&layout.free) {
            absorb(prg, c.kind, false, value);
        }
    }
    // The fixed operand's mask is not a component of the request (every party holds its
    // share already): its value, kept from earlier products, is the right operand.
    let mask = match request {
        Request::TripleFixedRhs { op, mask } => Some(masks.get(seeds, *mask, op.rhs_shape())?),
        _ => None,
    };
    let mut dependent = request.dependents_in(layout, &free_values, mask)?;
    let values = keep.then(|| (free_values, dependent.clone()));
    for prg in &mut others {
        for (value, c) in dependent.iter_mut().zip(&layout.dependent) {
            absorb(prg, c.kind, true, value);
        }
    }
    Ok((Shares { free: own.free, dependent, dealt: Vec::new() }, values))
}
