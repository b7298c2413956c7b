//! The per-request streams every party and the dealer draw from, apart from what the
//! dealer computes with them ([`generate`](crate::generate)): a party's shares from its seed,
//! and the helpers that fold another party's stream into a value a chunk at a time.

use cloak_prg::{Prg, Seed};
use cloak_ring::RingTensor;
use cloak_ring::device::DeviceRef;

use crate::{Layout, ShareKind, Shares};

/// Label of the per-request stream derivation.
const REQUEST_LABEL: &str = "cloak-dealer/request";

/// Label of the derivation of the dealer's own per-request randomness.
const DEALT_LABEL: &str = "cloak-dealer/dealt";

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

/// The stream of request `counter` under a party's `seed`.
#[must_use]
pub fn stream(seed: &Seed, counter: u64) -> Prg {
    Prg::new(&seed.derive_indexed(REQUEST_LABEL, counter))
}

/// The dealer's own randomness for request `counter`, under a seed only the dealer holds:
/// what a [`Correlation`](crate::Correlation) deals from.
#[must_use]
pub fn dealt_stream(dealer_seed: &Seed, counter: u64) -> Prg {
    Prg::new(&dealer_seed.derive_indexed(DEALT_LABEL, counter))
}

/// Party `rank`'s shares of request `counter` with this layout, from its seed alone. For
/// the correction party only the free shares are drawn (`dependent` is left empty for the
/// dealer's correction); the dealt parts are left empty for the dealer to deliver.
#[must_use]
pub fn party_shares(seed: &Seed, rank: usize, counter: u64, layout: &Layout) -> Shares {
    let mut prg = stream(seed, counter);
    let free = draw(&mut prg, &layout.free);
    let dependent =
        if rank == CORRECTION_PARTY { Vec::new() } else { draw(&mut prg, &layout.dependent) };
    Shares { free, dependent, dealt: Vec::new() }
}

/// [`party_shares`] made on `device` where it makes its own keystream (the same words:
/// the request's stream under this party's seed, component after component), so that a
/// party's seed-derived material never crosses from the host; on the host without a device
/// or where the device has no keystream.
///
/// # Errors
/// The device's error.
pub fn party_shares_on(
    device: Option<&DeviceRef<u64>>,
    seed: &Seed,
    rank: usize,
    counter: u64,
    layout: &Layout,
) -> Result<Shares, cloak_ring::RingError> {
    let Some(device) = device else {
        return Ok(party_shares(seed, rank, counter, layout));
    };
    let key = *seed.derive_indexed(REQUEST_LABEL, counter).expose_bytes();
    let mut word = 0u64;
    let mut on_device = |components: &[crate::Component]| -> Result<Option<Vec<_>>, _> {
        let mut out = Vec::with_capacity(components.len());
        for c in components {
            match RingTensor::keystream_on(device, &key, word, &c.shape)? {
                Some(t) => out.push(t),
                None => return Ok(None),
            }
            word += c.len() as u64;
        }
        Ok(Some(out))
    };
    let Some(free) = on_device(&layout.free)? else {
        return Ok(party_shares(seed, rank, counter, layout));
    };
    let dependent = if rank == CORRECTION_PARTY {
        Vec::new()
    } else {
        match on_device(&layout.dependent)? {
            Some(d) => d,
            None => return Ok(party_shares(seed, rank, counter, layout)),
        }
    };
    Ok(Shares { free, dependent, dealt: Vec::new() })
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

/// True values of the free and dependent components, kept for dealing.
pub(crate) type Values = (Vec<RingTensor<u64>>, Vec<RingTensor<u64>>);
