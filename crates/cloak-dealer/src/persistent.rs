//! Persistent masks: one uniform mask `B` per fixed operand (a model's weight), reused by
//! every product with that operand, so the parties open `D = w - B` once instead of
//! `w - b` per product.
//!
//! Mask number `m` has, at party `i` with seed `s_i`, the share drawn from
//! `Prg(s_i.derive_indexed(PERSISTENT_LABEL, m))`, filled as a request's components are; its
//! value is the sum of every party's share. The label keeps these streams apart from the
//! per-request ones, so no request's randomness ever coincides with a mask's. A party
//! needs no message to get its share; the dealer recomputes the value from every seed when
//! a [`Request::TripleFixedRhs`] asks for `c = op(a, B)`.
//!
//! Each mask has one shape, fixed by its first use ([`MaskShapes`]): the same mask at
//! another shape would be a different prefix of the same streams, which the protocol never
//! needs, so it is refused as a typed error (a bug, or a hostile party 0 at a third-party
//! dealer).

use std::collections::HashMap;

use cloak_prg::{Prg, Seed};
use cloak_ring::{RingError, RingTensor, error::checked_numel};

use crate::streams::{absorb, draw};
use crate::{Component, DealerError, MAX_COMPONENT_WORDS, Request, ShareKind};

/// Label of the persistent-mask stream derivation.
const PERSISTENT_LABEL: &str = "cloak-dealer/persistent-mask";

/// The stream of mask `mask` under `seed`.
fn stream(seed: &Seed, mask: u64) -> Prg {
    Prg::new(&seed.derive_indexed(PERSISTENT_LABEL, mask))
}

/// Checks that a mask's shape is one the dealer can hold (as a request's components).
///
/// # Errors
/// A shape error for a shape whose element count overflows or passes
/// [`MAX_COMPONENT_WORDS`].
pub fn check_shape(shape: &[usize]) -> Result<(), DealerError> {
    let words = checked_numel("persistent_mask", shape)?;
    if words > MAX_COMPONENT_WORDS {
        return Err(RingError::InvalidShape {
            op: "persistent_mask",
            shape: shape.to_vec(),
            reason: format!("{words} elements; the limit is {MAX_COMPONENT_WORDS}"),
        }
        .into());
    }
    Ok(())
}

/// The share of mask `mask` of the party with this seed.
#[must_use]
pub fn share(seed: &Seed, mask: u64, shape: &[usize]) -> RingTensor<u64> {
    let component = Component { kind: ShareKind::Arith, shape: shape.to_vec() };
    let mut prg = stream(seed, mask);
    draw(&mut prg, std::slice::from_ref(&component))
        .pop()
        .unwrap_or_else(|| unreachable!("one component drawn"))
}

/// The value of mask `mask`: every party's share added, each stream folded in chunks.
#[must_use]
pub fn value(seeds: &[Seed], mask: u64, shape: &[usize]) -> RingTensor<u64> {
    let mut value = RingTensor::<u64>::zeros(shape);
    for seed in seeds {
        absorb(&mut stream(seed, mask), ShareKind::Arith, false, &mut value);
    }
    value
}

/// Mask values the dealer has computed, kept for the next product with the same fixed
/// operand: recomputing one draws every party's stream over the whole weight, and a model's
/// weights are reused at every inference. Holds as many words as the fixed operands (the
/// model's size, at most [`MAX_MASK_WORDS`]), at the dealer only. Its `Debug` shows the
/// number of masks only: a mask's value and the public `w - B` together give the weight.
#[derive(Default)]
pub struct MaskValues {
    values: HashMap<u64, RingTensor<u64>>,
    words: usize,
}

/// Words of mask values one dealer keeps (32 GiB): a hostile party 0 asking for ever new
/// masks gets a typed error, not an allocation that aborts the dealer.
pub const MAX_MASK_WORDS: usize = 1 << 32;

impl std::fmt::Debug for MaskValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskValues")
            .field("masks", &self.values.len())
            .field("words", &self.words)
            .finish_non_exhaustive()
    }
}

impl MaskValues {
    /// The value of mask `mask` (of `shape`, already checked by [`MaskShapes`]).
    ///
    /// # Errors
    /// A shape error if keeping a new mask would pass [`MAX_MASK_WORDS`].
    pub fn get(
        &mut self,
        seeds: &[Seed],
        mask: u64,
        shape: &[usize],
    ) -> Result<&RingTensor<u64>, DealerError> {
        if !self.values.contains_key(&mask) {
            let words = shape.iter().product::<usize>();
            let total = self.words.saturating_add(words);
            if total > MAX_MASK_WORDS {
                return Err(RingError::InvalidShape {
                    op: "persistent_mask",
                    shape: shape.to_vec(),
                    reason: format!(
                        "{total} words of persistent masks; the dealer keeps at most \
                         {MAX_MASK_WORDS}"
                    ),
                }
                .into());
            }
            self.words = total;
            self.values.insert(mask, value(seeds, mask, shape));
        }
        Ok(&self.values[&mask])
    }
}

/// The shape each mask number was first used with, so that a later use at another shape
/// is refused before any stream is drawn or anything sent.
#[derive(Debug, Default)]
pub struct MaskShapes {
    shapes: HashMap<u64, Vec<usize>>,
}

impl MaskShapes {
    /// This party's share of `mask`, from its own `seed`, after recording (or checking) the
    /// mask's shape: what every seed-based provider's `persistent_share` does.
    ///
    /// # Errors
    /// As [`MaskShapes::register`].
    pub fn share(
        &mut self,
        seed: &Seed,
        mask: u64,
        shape: &[usize],
    ) -> Result<RingTensor<u64>, DealerError> {
        self.register(mask, shape)?;
        Ok(share(seed, mask, shape))
    }

    /// Records `mask` at `shape`, or checks it against the shape it was first used with.
    ///
    /// # Errors
    /// A shape error for a shape too large or other than the mask's first one.
    pub fn register(&mut self, mask: u64, shape: &[usize]) -> Result<(), DealerError> {
        check_shape(shape)?;
        match self.shapes.get(&mask) {
            Some(known) if known[..] != shape[..] => Err(RingError::ShapeMismatch {
                op: "persistent_mask",
                lhs: known.clone(),
                rhs: shape.to_vec(),
            }
            .into()),
            Some(_) => Ok(()),
            None => {
                self.shapes.insert(mask, shape.to_vec());
                Ok(())
            }
        }
    }

    /// Checks a request that uses a persistent mask: with `require_known`, the mask must
    /// have been taken (by [`crate::Dealer::persistent_share`]) at the operand's shape; a
    /// third-party dealer, which never sees that call, records the shape at first use.
    ///
    /// # Errors
    /// A typed error for a mask never taken (with `require_known`) or at another shape.
    pub fn check(&mut self, request: &Request, require_known: bool) -> Result<(), DealerError> {
        let Request::TripleFixedRhs { op, mask } = request else { return Ok(()) };
        if require_known && !self.shapes.contains_key(mask) {
            return Err(RingError::InvalidArgument {
                op: "triple_fixed_rhs",
                reason: format!("persistent mask {mask} was never taken"),
            }
            .into());
        }
        self.register(*mask, op.rhs_shape())
    }
}
