//! What a party can ask the dealer for, and how each request's randomness is laid out.
//!
//! Every request is split into *free* components, whose shares every party draws from its
//! own seed (so their true value is whatever the shares add up to), and *dependent*
//! components, a function of the free ones' true values. Every party but the correction
//! party draws its dependent shares from its seed too; the correction party's dependent
//! shares are computed by the dealer so that the sum comes out right. That is why one
//! correction per request is all that ever travels.

use cloak_ring::{RingError, RingTensor, error::checked_numel};

use crate::bytes::{Reader, Writer};
use crate::{BilinearOp, DealerError};

/// Elements one component may hold (8 GiB of `u64`s): larger requests are refused with a
/// typed error rather than attempted, since an allocation that fails aborts the process, and
/// a third-party dealer must survive whatever party 0 asks.
pub const MAX_COMPONENT_WORDS: usize = 1 << 30;

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
    /// Additive or XOR.
    pub kind: ShareKind,
    /// Shape of the tensor of `u64`s.
    pub shape: Vec<usize>,
}

impl Component {
    fn arith(shape: &[usize]) -> Self {
        Self { kind: ShareKind::Arith, shape: shape.to_vec() }
    }

    fn xor(words: usize) -> Self {
        Self { kind: ShareKind::Xor, shape: vec![words] }
    }

    /// Number of `u64`s (saturating: [`Request::layout`] rejects anything near the limit).
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

/// The components of a request: free ones first, then dependent ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Drawn from every party's seed.
    pub free: Vec<Component>,
    /// Functions of the free components' values; the correction party's shares come from
    /// the dealer.
    pub dependent: Vec<Component>,
}

/// A request for correlated randomness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A Beaver triple `(a, b, c = op(a, b))` for a bilinear op.
    Triple(BilinearOp),
    /// A square pair `(r, r^2)`, elementwise.
    Square {
        /// Shape of `r`.
        shape: Vec<usize>,
    },
    /// A binary (AND) triple `(a, b, a & b)` over `words` 64-bit words, XOR-shared.
    BinaryTriple {
        /// Number of 64-bit words.
        words: usize,
    },
    /// A truncation pair for any number of parties: `r` uniform in the ring, `r >> bits`
    /// (logical shift) and the top bit of `r`, all additively shared.
    TruncPair {
        /// Shape of `r`.
        shape: Vec<usize>,
        /// Number of bits the protocol divides by (`1..64`).
        bits: u32,
    },
    /// A division pair for any number of parties: `r` uniform in the ring, `r / divisor`
    /// (unsigned, rounded down) and the top bit of `r`, all additively shared: truncation
    /// pairs generalised to any public divisor.
    DivPair {
        /// Shape of `r`.
        shape: Vec<usize>,
        /// The public divisor, at least 1.
        divisor: u64,
    },
    /// `count` uniformly random bits, shared both in XOR (packed, 64 per word, bit `i` in
    /// word `i / 64` at position `i % 64`) and additively (one `u64` 0/1 per bit): what B2A
    /// needs.
    RandomBits {
        /// Number of bits.
        count: usize,
    },
    /// A Beaver triple whose right mask is the persistent mask number `mask`:
    /// `(a, c = op(a, B))` with `a` fresh and `B` the value of that mask (every party takes
    /// its share of `B` once, with [`Dealer::persistent_share`](crate::Dealer::persistent_share)).
    /// A product by a fixed operand `w` then opens only `x - a`, `w - B` having been opened
    /// once. Free: `a`; dependent: `c`.
    TripleFixedRhs {
        /// The product; its right operand has the mask's shape.
        op: BilinearOp,
        /// The persistent mask number.
        mask: u64,
    },
}

impl Request {
    /// A short name, for statistics and errors.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Request::Triple(op) => op.name(),
            Request::Square { .. } => "square",
            Request::BinaryTriple { .. } => "binary_triple",
            Request::TruncPair { .. } => "trunc_pair",
            Request::DivPair { .. } => "div_pair",
            Request::RandomBits { .. } => "random_bits",
            Request::TripleFixedRhs { .. } => "triple_fixed_rhs",
        }
    }

    /// The request's components, or a typed error if its shapes are invalid.
    ///
    /// # Errors
    /// A shape error for inconsistent operand shapes, a truncation by 0 or 64+ bits, or
    /// an element count that overflows.
    pub fn layout(&self) -> Result<Layout, DealerError> {
        let layout = match self {
            Request::Triple(op) => {
                let out = op.output_shape()?;
                Layout {
                    free: vec![Component::arith(op.lhs_shape()), Component::arith(op.rhs_shape())],
                    dependent: vec![Component::arith(&out)],
                }
            }
            Request::Square { shape } => Layout {
                free: vec![Component::arith(shape)],
                dependent: vec![Component::arith(shape)],
            },
            Request::BinaryTriple { words } => Layout {
                free: vec![Component::xor(*words), Component::xor(*words)],
                dependent: vec![Component::xor(*words)],
            },
            Request::TruncPair { shape, bits } => {
                if !(1..64).contains(bits) {
                    return Err(RingError::InvalidArgument {
                        op: "trunc_pair",
                        reason: format!("truncation by {bits} bits (must be 1..=63)"),
                    }
                    .into());
                }
                Layout {
                    free: vec![Component::arith(shape)],
                    dependent: vec![Component::arith(shape), Component::arith(shape)],
                }
            }
            Request::DivPair { shape, divisor } => {
                if *divisor == 0 {
                    return Err(RingError::InvalidArgument {
                        op: "div_pair",
                        reason: "division by zero".into(),
                    }
                    .into());
                }
                Layout {
                    free: vec![Component::arith(shape)],
                    dependent: vec![Component::arith(shape), Component::arith(shape)],
                }
            }
            Request::RandomBits { count } => Layout {
                free: vec![Component::xor(count.div_ceil(64))],
                dependent: vec![Component::arith(&[*count])],
            },
            Request::TripleFixedRhs { op, .. } => {
                let out = op.output_shape()?;
                // The dealer materialises the mask's value: it must fit like a component.
                crate::persistent::check_shape(op.rhs_shape())?;
                Layout {
                    free: vec![Component::arith(op.lhs_shape())],
                    dependent: vec![Component::arith(&out)],
                }
            }
        };
        for c in layout.free.iter().chain(&layout.dependent) {
            let words = checked_numel(self.name(), &c.shape)?;
            if words > MAX_COMPONENT_WORDS {
                return Err(RingError::InvalidShape {
                    op: self.name(),
                    shape: c.shape.clone(),
                    reason: format!(
                        "{words} elements in one component; the limit is {MAX_COMPONENT_WORDS}"
                    ),
                }
                .into());
            }
        }
        Ok(layout)
    }

    /// The dependent components' true values from the free components' true values (for
    /// [`Request::TripleFixedRhs`], followed by the persistent mask's value).
    pub(crate) fn dependents(
        &self,
        free: &[RingTensor<u64>],
    ) -> Result<Vec<RingTensor<u64>>, DealerError> {
        Ok(match self {
            Request::Triple(op) | Request::TripleFixedRhs { op, .. } => {
                vec![op.apply(&free[0], &free[1])?]
            }
            Request::Square { .. } => vec![free[0].mul(&free[0])?],
            Request::BinaryTriple { .. } => vec![free[0].and(&free[1])?],
            Request::TruncPair { bits, .. } => {
                vec![free[0].shr_logical(*bits)?, free[0].shr_logical(63)?]
            }
            Request::DivPair { divisor, .. } => {
                let d = *divisor;
                vec![free[0].map(|r| r / d), free[0].shr_logical(63)?]
            }
            Request::RandomBits { count } => {
                let words = free[0].as_slice();
                let bits = (0..*count).map(|i| (words[i / 64] >> (i % 64)) & 1).collect();
                vec![RingTensor::from_vec(&[*count], bits)?]
            }
        })
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        match self {
            Request::Triple(op) => {
                w.u8(0);
                crate::op::write(op, w);
            }
            Request::Square { shape } => {
                w.u8(1);
                w.shape(shape);
            }
            Request::BinaryTriple { words } => {
                w.u8(2);
                w.usize(*words);
            }
            Request::TruncPair { shape, bits } => {
                w.u8(3);
                w.shape(shape);
                w.u64(u64::from(*bits));
            }
            Request::RandomBits { count } => {
                w.u8(4);
                w.usize(*count);
            }
            Request::DivPair { shape, divisor } => {
                w.u8(5);
                w.shape(shape);
                w.u64(*divisor);
            }
            Request::TripleFixedRhs { op, mask } => {
                w.u8(6);
                crate::op::write(op, w);
                w.u64(*mask);
            }
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DealerError> {
        Ok(match r.u8()? {
            0 => Request::Triple(crate::op::read(r)?),
            1 => Request::Square { shape: r.shape()? },
            2 => Request::BinaryTriple { words: r.usize()? },
            3 => {
                let shape = r.shape()?;
                let bits = r.u64()?;
                let bits = u32::try_from(bits).map_err(|_| r.malformed("truncation bits"))?;
                Request::TruncPair { shape, bits }
            }
            4 => Request::RandomBits { count: r.usize()? },
            5 => Request::DivPair { shape: r.shape()?, divisor: r.u64()? },
            6 => Request::TripleFixedRhs { op: crate::op::read(r)?, mask: r.u64()? },
            tag => return Err(r.malformed(format!("unknown request tag {tag}"))),
        })
    }
}
