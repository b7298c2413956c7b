//! Kinds of correlated randomness defined outside this crate.
//!
//! The built-in [`Request`](crate::Request)s cover what Cloak's protocols use today. A crate
//! above that needs another correlation (keys of a function secret sharing, say) implements
//! [`Correlation`] and asks for it with [`Request::custom`](crate::Request::custom): every
//! provider serves it with the same generation as the built-in kinds. A third-party dealer
//! only learns a request from party 0's bytes, so it decodes custom kinds with the decoders
//! registered in a [`Correlations`] and refuses any other kind with a typed error.

use std::collections::HashMap;
use std::sync::Arc;

use cloak_prg::Prg;
use cloak_ring::RingTensor;

use crate::{DealerError, Layout};

/// Bytes a custom kind's name may have on the wire.
pub const MAX_KIND_LEN: usize = 64;

/// Bytes a custom request's parameters may have on the wire.
pub const MAX_PARAMS_LEN: usize = 1 << 16;

/// An elementwise relation: every component of the request has the same number of
/// elements, and element `k` of each dependent component is a function of element `k` of
/// the free ones. A request with such a rule takes the dealer's chunked path (one pass over
/// memory, no whole tensor of another party's shares), and its whole-tensor relation is
/// derived from the same rule, so the two never disagree.
pub trait ElementwiseRule: Send + Sync {
    /// Fills `dependent[d][k]` from `free[j][k]`, for every `k`: all slices have one length
    /// (a chunk of the components, or the whole of them).
    fn apply(&self, free: &[&[u64]], dependent: &mut [&mut [u64]]);
}

/// A kind of correlated randomness, defined by the crate that needs it.
///
/// The dealer draws the free components from every party's seed and the other parties'
/// dependent shares from their seeds, computes the correction party's dependent shares so
/// that every component adds up to the relation's value, and deals every party its part of
/// the dealt components ([`Layout`] explains the three). The relation is given once: as an
/// [`ElementwiseRule`] where it is elementwise (the dealer's fast path), otherwise by
/// [`dependents`](Correlation::dependents).
pub trait Correlation: Send + Sync + std::fmt::Debug {
    /// The kind's name: unique among the kinds a dealer serves; it names the kind on the
    /// wire (at most [`MAX_KIND_LEN`] bytes of ASCII letters, digits and `_-.:/`) and in
    /// statistics.
    fn kind(&self) -> &'static str;

    /// The parameters, as bytes the kind's decoder reads back (at most
    /// [`MAX_PARAMS_LEN`]): two requests of one kind are equal when their parameters are.
    fn params(&self) -> Vec<u8>;

    /// The components, or a typed error for invalid parameters. The dealer checks the
    /// limits of [`Layout::check`] on top.
    ///
    /// # Errors
    /// Whatever the kind finds wrong with its parameters.
    fn layout(&self) -> Result<Layout, DealerError>;

    /// The per-element relation, if the kind is elementwise.
    fn elementwise(&self) -> Option<&dyn ElementwiseRule> {
        None
    }

    /// The dependent components' true values from the free ones' (for a kind without an
    /// [`elementwise`](Correlation::elementwise) rule; one with a rule never needs it).
    ///
    /// # Errors
    /// Whatever the kind finds wrong; the default says the kind has no relation.
    fn dependents(&self, free: &[RingTensor<u64>]) -> Result<Vec<RingTensor<u64>>, DealerError> {
        let _ = free;
        Err(DealerError::Correlation {
            kind: self.kind().into(),
            reason: "it has neither an elementwise rule nor dependents".into(),
        })
    }

    /// Every party's part of the dealt components (`parts[p][i]`: party `p`'s part of
    /// dealt component `i`), from the free and dependent components' true values and the
    /// dealer's own randomness `rng` (fresh per request, known to no party). Only called
    /// for layouts with dealt components.
    ///
    /// # Errors
    /// Whatever the kind finds wrong; the default says the kind deals nothing.
    fn deal(
        &self,
        free: &[RingTensor<u64>],
        dependent: &[RingTensor<u64>],
        parties: usize,
        rng: &mut Prg,
    ) -> Result<Vec<Vec<RingTensor<u64>>>, DealerError> {
        let _ = (free, dependent, parties, rng);
        Err(DealerError::Correlation {
            kind: self.kind().into(),
            reason: "its layout has dealt components but it deals nothing".into(),
        })
    }
}

/// A request of a custom kind: a shared [`Correlation`], compared by kind and parameters
/// (what the wire carries).
#[derive(Clone)]
pub struct CustomRequest(Arc<dyn Correlation>);

impl CustomRequest {
    /// Wraps a correlation.
    #[must_use]
    pub fn new(correlation: impl Correlation + 'static) -> Self {
        Self(Arc::new(correlation))
    }

    /// Wraps a shared correlation.
    #[must_use]
    pub fn from_arc(correlation: Arc<dyn Correlation>) -> Self {
        Self(correlation)
    }

    /// The correlation.
    #[must_use]
    pub fn correlation(&self) -> &dyn Correlation {
        &*self.0
    }
}

impl PartialEq for CustomRequest {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.params() == other.0.params()
    }
}

impl Eq for CustomRequest {}

impl std::fmt::Debug for CustomRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Reads a custom kind's parameters back into a request.
type Decoder = dyn Fn(&[u8]) -> Result<CustomRequest, DealerError> + Send + Sync;

/// The custom kinds a third-party dealer can serve: a decoder per kind name. A request of
/// any other kind is refused with [`DealerError::UnknownCorrelation`].
#[derive(Clone, Default)]
pub struct Correlations {
    decoders: HashMap<&'static str, Arc<Decoder>>,
}

impl std::fmt::Debug for Correlations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<&str> = self.decoders.keys().copied().collect();
        kinds.sort_unstable();
        f.debug_struct("Correlations").field("kinds", &kinds).finish()
    }
}

impl Correlations {
    /// No custom kinds.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `decode` for requests of kind `kind` (replacing any earlier decoder of that
    /// kind). `decode` gets the bytes of [`Correlation::params`] from the wire, possibly
    /// from a hostile party 0: it must refuse what it cannot use with an error, never
    /// panic.
    ///
    /// # Errors
    /// [`DealerError::Correlation`] for a name that cannot go on the wire.
    pub fn register<C, F>(
        &mut self,
        kind: &'static str,
        decode: F,
    ) -> Result<&mut Self, DealerError>
    where
        C: Correlation + 'static,
        F: Fn(&[u8]) -> Result<C, DealerError> + Send + Sync + 'static,
    {
        check_kind(kind)
            .map_err(|reason| DealerError::Correlation { kind: kind.into(), reason })?;
        let decoder = move |bytes: &[u8]| {
            let c = decode(bytes)?;
            if c.kind() != kind {
                return Err(DealerError::Correlation {
                    kind: kind.into(),
                    reason: format!("its decoder made a request of kind {:?}", c.kind()),
                });
            }
            Ok(CustomRequest::new(c))
        };
        self.decoders.insert(kind, Arc::new(decoder));
        Ok(self)
    }

    /// Whether `kind` has a decoder.
    #[must_use]
    pub fn contains(&self, kind: &str) -> bool {
        self.decoders.contains_key(kind)
    }

    /// Decodes a request of `kind` from its parameters.
    ///
    /// # Errors
    /// [`DealerError::UnknownCorrelation`] for a kind without a decoder, or the decoder's
    /// error.
    pub fn decode(&self, kind: &str, params: &[u8]) -> Result<CustomRequest, DealerError> {
        let decode = self
            .decoders
            .get(kind)
            .ok_or_else(|| DealerError::UnknownCorrelation { kind: kind.into() })?;
        decode(params)
    }
}

/// Checks that a kind name can go on the wire: 1 to [`MAX_KIND_LEN`] bytes of ASCII
/// letters, digits and `_-.:/`.
pub(crate) fn check_kind(kind: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b);
    if kind.is_empty() || kind.len() > MAX_KIND_LEN {
        return Err(format!("a kind name of {} bytes (1 to {MAX_KIND_LEN})", kind.len()));
    }
    if !kind.bytes().all(allowed) {
        return Err("a kind name with characters other than ASCII letters, digits, _-.:/".into());
    }
    Ok(())
}
