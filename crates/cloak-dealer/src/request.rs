//! What a party can ask the dealer for.
//!
//! Every request is laid out as free, dependent and dealt components ([`Layout`]); its
//! relation (how the dependent values follow from the free ones) is in `relation`, its wire
//! encoding in `codec`.

use cloak_ring::RingError;

use crate::correlation::{Correlation, CustomRequest};
use crate::{BilinearOp, Component, DealerError, Layout};

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
    /// `count` uniformly random ring values `r`, shared additively, with their 64 bits
    /// XOR-shared as bit planes (plane `j`, `ceil(count / 64)` words long, holds bit `j` of
    /// element `k` at bit `k % 64` of its word `k / 64`; the planes follow each other):
    /// what a comparison needs to open `x + r` and finish on bits (edaBits). Free: `r`;
    /// dependent: the planes.
    EdaBits {
        /// Number of values.
        count: usize,
    },
    /// `count` uniformly random ring values `r`, shared additively, with the XOR-shared
    /// tables of their 4-bit digits and their bit 63 ([`cloak_ring::digits`]): what a
    /// comparison needs to open `x + r` and compare the public sum with `r` digit by digit,
    /// selecting from the tables instead of spending AND gates on the low levels. With
    /// `inject`, also a random bit `s` shared both ways and `s * r` shared additively, so
    /// that the sign's product with `x` opens only `s` XOR the sign. Free: `r` (and `s`'s
    /// XOR words); dependent: the tables (and `s` at scale 1, and `s * r`).
    DigitTables {
        /// Number of values.
        count: usize,
        /// Whether the bit-injection mask comes with the tables.
        inject: bool,
    },
    /// Digit tables with the injection mask ([`Request::DigitTables`] with `inject`) whose
    /// `r` is also a truncation pair's ([`Request::TruncPair`]): `r >> bits`, the top bit of
    /// `r`, and their products with the injection bit `s`. One opening of `x + 2^62 + r`
    /// then serves a product's truncation and the sign of the product, and the product of
    /// the truncated value by the sign opens only `s` XOR the sign: a ReLU after a
    /// fixed-point product in one round less than truncating first. Free: `r`, `s`'s XOR
    /// words; dependent: the tables, `s` at scale 1, `r >> bits`, the top bit of `r`,
    /// `s * (r >> bits)` and `s * r_63`.
    TruncDigitTables {
        /// Number of values.
        count: usize,
        /// Number of bits the truncation divides by (`1..64`).
        bits: u32,
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
    /// XOR-shared random masks `a_i` for `vars` variables, `words` 64-bit words each, and
    /// for each listed subset `S` of the variables the XOR shares of `AND_{i in S} a_i`:
    /// what evaluates products of those variables in one round. The parties open each
    /// variable XOR its mask once; a product over `T` is then
    /// `XOR_{S <= T} (AND_{i in T \ S} m_i) & a_S`, public coefficients times shared mask
    /// products, so a subset's products must be listed for every `S` of two or more
    /// variables under each product wanted. Free: the masks (variable `i` in words
    /// `i * words..(i + 1) * words`); dependent: the products (subset `j` in words
    /// `j * words..`). A subset is a bit mask over the variables with at least two bits set.
    MaskProducts {
        /// 64-bit words per variable (64 bits per word, so 64 evaluations per word).
        words: usize,
        /// Number of variables, `1..=MAX_MASK_VARS`.
        vars: u32,
        /// The subsets whose mask products are dealt, at most [`MAX_MASK_SUBSETS`].
        subsets: Vec<u32>,
    },
    /// A kind defined outside this crate ([`Correlation`]).
    Custom(CustomRequest),
}

/// Variables a [`Request::MaskProducts`] may have (its subsets are `u32` bit masks).
pub const MAX_MASK_VARS: u32 = 32;

/// Subsets a [`Request::MaskProducts`] may list.
pub const MAX_MASK_SUBSETS: usize = 1 << 12;

/// Why a [`Request::MaskProducts`]'s parameters are invalid, if they are.
fn mask_products_fault(vars: u32, subsets: &[u32]) -> Option<String> {
    if !(1..=MAX_MASK_VARS).contains(&vars) {
        return Some(format!("{vars} variables (must be 1..={MAX_MASK_VARS})"));
    }
    if subsets.len() > MAX_MASK_SUBSETS {
        return Some(format!("{} subsets (at most {MAX_MASK_SUBSETS})", subsets.len()));
    }
    let outside = if vars == 32 { 0 } else { u32::MAX << vars };
    subsets.iter().find_map(|&s| {
        if s & outside != 0 {
            Some(format!("subset {s:#x} names a variable past the {vars}"))
        } else if s.count_ones() < 2 {
            Some(format!("subset {s:#x} has fewer than two variables"))
        } else {
            None
        }
    })
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
            Request::EdaBits { .. } => "edabits",
            Request::DigitTables { .. } => "digit_tables",
            Request::TruncDigitTables { .. } => "trunc_digit_tables",
            Request::TripleFixedRhs { .. } => "triple_fixed_rhs",
            Request::MaskProducts { .. } => "mask_products",
            Request::Custom(c) => c.correlation().kind(),
        }
    }

    /// A request of a custom kind.
    #[must_use]
    pub fn custom(correlation: impl Correlation + 'static) -> Self {
        Request::Custom(CustomRequest::new(correlation))
    }

    /// The request's components, or a typed error if its shapes are invalid.
    ///
    /// # Errors
    /// A shape error for inconsistent operand shapes, a truncation by 0 or 64+ bits, an
    /// element count that overflows or passes the limits of [`Layout::check`]; a custom
    /// kind's own error.
    pub fn layout(&self) -> Result<Layout, DealerError> {
        let layout = match self {
            Request::Triple(op) => {
                let out = op.output_shape()?;
                Layout::new(
                    vec![Component::arith(op.lhs_shape()), Component::arith(op.rhs_shape())],
                    vec![Component::arith(&out)],
                )
            }
            Request::Square { shape } => {
                Layout::new(vec![Component::arith(shape)], vec![Component::arith(shape)])
            }
            Request::BinaryTriple { words } => Layout::new(
                vec![Component::xor(*words), Component::xor(*words)],
                vec![Component::xor(*words)],
            ),
            Request::TruncPair { shape, bits } => {
                if !(1..64).contains(bits) {
                    return Err(RingError::InvalidArgument {
                        op: "trunc_pair",
                        reason: format!("truncation by {bits} bits (must be 1..=63)"),
                    }
                    .into());
                }
                Layout::new(
                    vec![Component::arith(shape)],
                    vec![Component::arith(shape), Component::arith(shape)],
                )
            }
            Request::DivPair { shape, divisor } => {
                if *divisor == 0 {
                    return Err(RingError::InvalidArgument {
                        op: "div_pair",
                        reason: "division by zero".into(),
                    }
                    .into());
                }
                Layout::new(
                    vec![Component::arith(shape)],
                    vec![Component::arith(shape), Component::arith(shape)],
                )
            }
            Request::RandomBits { count } => Layout::new(
                vec![Component::xor(count.div_ceil(64))],
                vec![Component::arith(&[*count])],
            ),
            Request::EdaBits { count } => Layout::new(
                vec![Component::arith(&[*count])],
                vec![Component::xor(count.div_ceil(64).saturating_mul(64))],
            ),
            Request::DigitTables { count, inject } => {
                let words = count.div_ceil(64);
                let tables = Component::xor(words.saturating_mul(cloak_ring::digits::TABLE_PLANES));
                if *inject {
                    Layout::new(
                        vec![Component::arith(&[*count]), Component::xor(words)],
                        vec![tables, Component::arith(&[*count]), Component::arith(&[*count])],
                    )
                } else {
                    Layout::new(vec![Component::arith(&[*count])], vec![tables])
                }
            }
            Request::TruncDigitTables { count, bits } => {
                if !(1..64).contains(bits) {
                    return Err(RingError::InvalidArgument {
                        op: "trunc_digit_tables",
                        reason: format!("truncation by {bits} bits (must be 1..=63)"),
                    }
                    .into());
                }
                let words = count.div_ceil(64);
                let tables = Component::xor(words.saturating_mul(cloak_ring::digits::TABLE_PLANES));
                let each = || Component::arith(&[*count]);
                Layout::new(
                    vec![each(), Component::xor(words)],
                    vec![tables, each(), each(), each(), each(), each()],
                )
            }
            Request::TripleFixedRhs { op, .. } => {
                let out = op.output_shape()?;
                // The dealer materialises the mask's value: it must fit like a component.
                crate::persistent::check_shape(op.rhs_shape())?;
                Layout::new(vec![Component::arith(op.lhs_shape())], vec![Component::arith(&out)])
            }
            Request::MaskProducts { words, vars, subsets } => {
                if let Some(reason) = mask_products_fault(*vars, subsets) {
                    return Err(RingError::InvalidArgument { op: "mask_products", reason }.into());
                }
                Layout::new(
                    vec![Component::xor(words.saturating_mul(*vars as usize))],
                    vec![Component::xor(words.saturating_mul(subsets.len()))],
                )
            }
            Request::Custom(c) => {
                // What a third-party dealer refuses on the wire, every provider refuses here,
                // so that a request works alike with every dealer.
                let corr = c.correlation();
                let kind = corr.kind();
                crate::correlation::check_kind(kind)
                    .map_err(|reason| DealerError::Correlation { kind: kind.into(), reason })?;
                let params = corr.params().len();
                if params > crate::correlation::MAX_PARAMS_LEN {
                    return Err(DealerError::Correlation {
                        kind: kind.into(),
                        reason: format!(
                            "{params} bytes of parameters (at most {})",
                            crate::correlation::MAX_PARAMS_LEN
                        ),
                    });
                }
                corr.layout()?
            }
        };
        layout.check(self.name())?;
        Ok(layout)
    }
}
