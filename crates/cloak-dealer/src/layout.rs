//! How a request's randomness is laid out: which components every party draws from its
//! seed, which follow from them, and which the dealer hands each party on its own.

use cloak_ring::{RingError, error::checked_numel};

use crate::DealerError;

/// Elements one component may hold (8 GiB of `u64`s): larger requests are refused with a
/// typed error rather than attempted, since an allocation that fails aborts the process, and
/// a third-party dealer must survive whatever party 0 asks.
pub const MAX_COMPONENT_WORDS: usize = 1 << 30;

/// Elements of one request over all its components (32 GiB of `u64`s; a dealt component
/// counted once, though the dealer makes one per party): with [`MAX_COMPONENTS`] this
/// bounds what one request can make a dealer allocate.
pub const MAX_REQUEST_WORDS: usize = 1 << 32;

/// Components one request may have, over its free, dependent and dealt lists: a custom
/// correlation decoded from a hostile party 0's bytes cannot make the dealer allocate an
/// unbounded number of them.
pub const MAX_COMPONENTS: usize = 16;

/// How shares of a component combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareKind {
    /// Additive shares: the value is the wrapping sum of the shares.
    Arith,
    /// XOR shares: the value is the XOR of the shares (bits packed in `u64` words).
    Xor,
}

/// One component of a request: how it is shared and its shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    /// Additive or XOR. For a dealt component, how the parties' parts combine where the
    /// correlation says they do (keys of a function secret sharing combine only through
    /// their evaluation); the dealer never relies on it.
    pub kind: ShareKind,
    /// Shape of the tensor of `u64`s.
    pub shape: Vec<usize>,
}

impl Component {
    /// An additively shared component of this shape.
    #[must_use]
    pub fn arith(shape: &[usize]) -> Self {
        Self { kind: ShareKind::Arith, shape: shape.to_vec() }
    }

    /// An XOR-shared component of `words` 64-bit words.
    #[must_use]
    pub fn xor(words: usize) -> Self {
        Self { kind: ShareKind::Xor, shape: vec![words] }
    }

    /// Number of `u64`s (saturating: [`Layout::check`] rejects anything near the limit).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).unwrap_or(usize::MAX)
    }

    /// Whether the component holds no element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The components of a request.
///
/// - *Free* components: every party draws its shares from its own seed, so their true value
///   is whatever the shares add up to.
/// - *Dependent* components: functions of the free ones' true values. Every party but the
///   correction party draws its shares from its seed; the correction party's are computed
///   by the dealer so that the sum comes out right.
/// - *Dealt* components: material that no seed can give and that differs per party (the
///   keys of a function secret sharing, say). The dealer computes every party's part from
///   the true values and its own randomness and delivers each party its own. Built-in
///   requests have none.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Layout {
    /// Drawn from every party's seed.
    pub free: Vec<Component>,
    /// Functions of the free components' values; the correction party's shares come from
    /// the dealer.
    pub dependent: Vec<Component>,
    /// Each party's own part, of these shapes, from the dealer.
    pub dealt: Vec<Component>,
}

impl Layout {
    /// A layout of free and dependent components, with nothing dealt.
    #[must_use]
    pub fn new(free: Vec<Component>, dependent: Vec<Component>) -> Self {
        Self { free, dependent, dealt: Vec::new() }
    }

    /// The same layout with these dealt components.
    #[must_use]
    pub fn with_dealt(mut self, dealt: Vec<Component>) -> Self {
        self.dealt = dealt;
        self
    }

    /// Every component: free, dependent, then dealt.
    pub fn components(&self) -> impl Iterator<Item = &Component> {
        self.free.iter().chain(&self.dependent).chain(&self.dealt)
    }

    /// `u64`s one party obtains for a request of this layout (its share or part of every
    /// component): what [`DealerStats::words`](crate::DealerStats::words) counts.
    #[must_use]
    pub fn words(&self) -> u64 {
        self.components().map(|c| c.len() as u64).sum()
    }

    /// Bytes of every party's dealt part.
    #[must_use]
    pub fn dealt_bytes(&self) -> usize {
        self.dealt.iter().map(|c| c.len() * 8).sum()
    }

    /// Checks the limits every dealer enforces: at most [`MAX_COMPONENTS`] components,
    /// each with an element count that fits and at most [`MAX_COMPONENT_WORDS`] elements,
    /// and at most [`MAX_REQUEST_WORDS`] elements in all.
    ///
    /// # Errors
    /// [`RingError::InvalidShape`] (as a [`DealerError::Ring`]) naming `op`.
    pub fn check(&self, op: &'static str) -> Result<(), DealerError> {
        let count = self.components().count();
        if count > MAX_COMPONENTS {
            return Err(RingError::InvalidShape {
                op,
                shape: vec![count],
                reason: format!("{count} components; the limit is {MAX_COMPONENTS}"),
            }
            .into());
        }
        let mut total = 0usize;
        for c in self.components() {
            let words = checked_numel(op, &c.shape)?;
            total = total.saturating_add(words);
            if total > MAX_REQUEST_WORDS {
                return Err(RingError::InvalidShape {
                    op,
                    shape: c.shape.clone(),
                    reason: format!(
                        "more than {MAX_REQUEST_WORDS} elements in one request's components"
                    ),
                }
                .into());
            }
            if words > MAX_COMPONENT_WORDS {
                return Err(RingError::InvalidShape {
                    op,
                    shape: c.shape.clone(),
                    reason: format!(
                        "{words} elements in one component; the limit is {MAX_COMPONENT_WORDS}"
                    ),
                }
                .into());
            }
        }
        Ok(())
    }
}
