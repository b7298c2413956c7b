//! A party's shares of one request, and typed views of them.

use cloak_ring::RingTensor;

/// One party's shares of a request's components, in [`Layout`](crate::Layout) order.
#[derive(Clone)]
pub struct Shares {
    /// Shares of the free components.
    pub free: Vec<RingTensor<u64>>,
    /// Shares of the dependent components.
    pub dependent: Vec<RingTensor<u64>>,
    /// This party's own parts of the dealt components (empty for built-in requests).
    pub dealt: Vec<RingTensor<u64>>,
}

/// A party's share of a Beaver triple `(a, b, c = op(a, b))`.
#[derive(Clone)]
pub struct Triple {
    /// Share of the left mask.
    pub a: RingTensor<u64>,
    /// Share of the right mask.
    pub b: RingTensor<u64>,
    /// Share of `op(a, b)`.
    pub c: RingTensor<u64>,
}

/// A party's share of a Beaver triple with a persistent right mask `B`
/// ([`Request::TripleFixedRhs`](crate::Request::TripleFixedRhs)): `(a, c = op(a, B))`, the
/// share of `B` being held apart, taken once.
#[derive(Clone)]
pub struct FixedRhsTriple {
    /// Share of the fresh left mask.
    pub a: RingTensor<u64>,
    /// Share of `op(a, B)`.
    pub c: RingTensor<u64>,
}

/// A party's share of a square pair `(r, r^2)`.
#[derive(Clone)]
pub struct SquarePair {
    /// Share of the mask.
    pub r: RingTensor<u64>,
    /// Share of its square.
    pub r2: RingTensor<u64>,
}

/// A party's XOR share of a binary triple `(a, b, a & b)`, as `[words]` tensors.
#[derive(Clone)]
pub struct BinaryTriple {
    /// Share of the left mask.
    pub a: RingTensor<u64>,
    /// Share of the right mask.
    pub b: RingTensor<u64>,
    /// Share of `a & b`.
    pub c: RingTensor<u64>,
}

/// A party's share of a truncation pair (or of a division pair, `r_shifted` then holding
/// `r / divisor`).
#[derive(Clone)]
pub struct TruncPair {
    /// Share of `r`, uniform in the ring.
    pub r: RingTensor<u64>,
    /// Share of `r >> bits` (logical shift), or of `r / divisor` for a division pair.
    pub r_shifted: RingTensor<u64>,
    /// Share of the top bit of `r` (0 or 1).
    pub r_msb: RingTensor<u64>,
}

/// A party's shares of edaBits ([`Request::EdaBits`](crate::Request::EdaBits)): random
/// ring values and their bit planes.
#[derive(Clone)]
pub struct EdaBitShares {
    /// Additive share of `r`.
    pub r: RingTensor<u64>,
    /// XOR share of `r`'s 64 bit planes, one after the other.
    pub planes: RingTensor<u64>,
}

/// A party's shares of digit tables ([`Request::DigitTables`](crate::Request::DigitTables)).
#[derive(Clone)]
pub struct DigitTableShares {
    /// Additive share of `r`.
    pub r: RingTensor<u64>,
    /// XOR share of `r`'s digit tables and bit 63 ([`cloak_ring::digits`]).
    pub tables: RingTensor<u64>,
    /// The injection mask, if it was asked for.
    pub injection: Option<InjectionMask>,
}

/// A party's shares of a random bit per element `s`, both ways, and of `s * r`.
#[derive(Clone)]
pub struct InjectionMask {
    /// XOR share of the bits, 64 per word.
    pub xor: RingTensor<u64>,
    /// Additive share of the bits, one 0/1 value per element.
    pub arith: RingTensor<u64>,
    /// Additive share of `s * r`.
    pub times_r: RingTensor<u64>,
}

/// A party's shares of digit tables for a truncated product
/// ([`Request::TruncDigitTables`](crate::Request::TruncDigitTables)).
#[derive(Clone)]
pub struct TruncDigitTableShares {
    /// Additive share of `r`.
    pub r: RingTensor<u64>,
    /// XOR share of `r`'s digit tables and bit 63 ([`cloak_ring::digits`]).
    pub tables: RingTensor<u64>,
    /// XOR share of the injection bits `s`, 64 per word.
    pub s_xor: RingTensor<u64>,
    /// Additive share of `s`, one 0/1 value per element.
    pub s_arith: RingTensor<u64>,
    /// Additive share of `r >> bits`.
    pub r_shifted: RingTensor<u64>,
    /// Additive share of the top bit of `r`.
    pub r_msb: RingTensor<u64>,
    /// Additive share of `s * (r >> bits)`.
    pub s_shifted: RingTensor<u64>,
    /// Additive share of `s * r_63`.
    pub s_msb: RingTensor<u64>,
}

/// A party's shares of masks and their products
/// ([`Request::MaskProducts`](crate::Request::MaskProducts)).
#[derive(Clone)]
pub struct MaskProductShares {
    /// XOR share of the variables' masks, one variable's words after another.
    pub masks: RingTensor<u64>,
    /// XOR share of the subsets' mask products, in the request's order.
    pub products: RingTensor<u64>,
}

/// A party's shares of random bits, both ways.
#[derive(Clone)]
pub struct RandomBits {
    /// XOR share, 64 bits per word.
    pub xor: RingTensor<u64>,
    /// Additive share, one 0/1 value per bit.
    pub arith: RingTensor<u64>,
}

impl Shares {
    /// Shares of free and dependent components, with nothing dealt.
    #[must_use]
    pub fn new(free: Vec<RingTensor<u64>>, dependent: Vec<RingTensor<u64>>) -> Self {
        Self { free, dependent, dealt: Vec::new() }
    }

    /// The shares as a Beaver triple's named parts (for shares of a request of that kind).
    #[must_use]
    pub fn into_triple(self) -> Triple {
        let [a, b] = take(self.free);
        let [c] = take(self.dependent);
        Triple { a, b, c }
    }

    /// The shares as a fixed-right-operand triple's named parts (for shares of a request
    /// of that kind).
    #[must_use]
    pub fn into_fixed_rhs_triple(self) -> FixedRhsTriple {
        let [a] = take(self.free);
        let [c] = take(self.dependent);
        FixedRhsTriple { a, c }
    }

    /// The shares as a square pair's named parts (for shares of a request of that kind).
    #[must_use]
    pub fn into_square(self) -> SquarePair {
        let [r] = take(self.free);
        let [r2] = take(self.dependent);
        SquarePair { r, r2 }
    }

    /// The shares as a binary triple's named parts (for shares of a request of that kind).
    #[must_use]
    pub fn into_binary(self) -> BinaryTriple {
        let [a, b] = take(self.free);
        let [c] = take(self.dependent);
        BinaryTriple { a, b, c }
    }

    /// The shares as a truncation or division pair's named parts (for shares of a request of that kind).
    #[must_use]
    pub fn into_trunc(self) -> TruncPair {
        let [r] = take(self.free);
        let [r_shifted, r_msb] = take(self.dependent);
        TruncPair { r, r_shifted, r_msb }
    }

    /// The shares as edaBits' named parts (for shares of a request of that kind).
    #[must_use]
    pub fn into_eda_bits(self) -> EdaBitShares {
        let [r] = take(self.free);
        let [planes] = take(self.dependent);
        EdaBitShares { r, planes }
    }

    /// The shares as digit tables' named parts (for shares of a request of that kind).
    #[must_use]
    pub fn into_digit_tables(self) -> DigitTableShares {
        let mut free = self.free.into_iter();
        let mut dependent = self.dependent.into_iter();
        let (Some(r), Some(tables)) = (free.next(), dependent.next()) else {
            unreachable!("the layout of digit tables has r and the tables")
        };
        let injection = match (free.next(), dependent.next(), dependent.next()) {
            (Some(xor), Some(arith), Some(times_r)) => Some(InjectionMask { xor, arith, times_r }),
            _ => None,
        };
        DigitTableShares { r, tables, injection }
    }

    /// The shares as truncating digit tables' named parts (for shares of a request of that
    /// kind).
    #[must_use]
    pub fn into_trunc_digit_tables(self) -> TruncDigitTableShares {
        let [r, s_xor] = take(self.free);
        let [tables, s_arith, r_shifted, r_msb, s_shifted, s_msb] = take(self.dependent);
        TruncDigitTableShares { r, tables, s_xor, s_arith, r_shifted, r_msb, s_shifted, s_msb }
    }

    /// The shares as masks and their products (for shares of a request of that kind).
    #[must_use]
    pub fn into_mask_products(self) -> MaskProductShares {
        let [masks] = take(self.free);
        let [products] = take(self.dependent);
        MaskProductShares { masks, products }
    }

    /// The shares as random bits' named parts (for shares of a request of that kind).
    #[must_use]
    pub fn into_bits(self) -> RandomBits {
        let [xor] = take(self.free);
        let [arith] = take(self.dependent);
        RandomBits { xor, arith }
    }
}

/// `Debug` with each tensor's shape only: shares are secret-derived, and a mask share in a
/// log next to an opened value would give away an input share.
macro_rules! redacted_debug {
    ($ty:ident { $($field:ident),* }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &Shapes(&self.$field)))*
                    .finish_non_exhaustive()
            }
        }
    };
}

/// Prints the shapes of one tensor or of a list of them.
struct Shapes<'a, T: ?Sized>(&'a T);

impl std::fmt::Debug for Shapes<'_, RingTensor<u64>> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shape {:?}", self.0.shape())
    }
}

impl std::fmt::Debug for Shapes<'_, Vec<RingTensor<u64>>> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(RingTensor::shape)).finish()
    }
}

redacted_debug!(Shares { free, dependent, dealt });
redacted_debug!(Triple { a, b, c });
redacted_debug!(FixedRhsTriple { a, c });
redacted_debug!(SquarePair { r, r2 });
redacted_debug!(BinaryTriple { a, b, c });
redacted_debug!(TruncPair { r, r_shifted, r_msb });
redacted_debug!(RandomBits { xor, arith });
redacted_debug!(EdaBitShares { r, planes });
redacted_debug!(MaskProductShares { masks, products });
redacted_debug!(TruncDigitTableShares {
    r,
    tables,
    s_xor,
    s_arith,
    r_shifted,
    r_msb,
    s_shifted,
    s_msb
});
redacted_debug!(InjectionMask { xor, arith, times_r });

impl std::fmt::Debug for DigitTableShares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigitTableShares")
            .field("r", &Shapes(&self.r))
            .field("tables", &Shapes(&self.tables))
            .field("injection", &self.injection)
            .finish()
    }
}

/// The components as an array; the layouts fix their number, so a mismatch is a bug here.
fn take<const N: usize>(v: Vec<RingTensor<u64>>) -> [RingTensor<u64>; N] {
    match v.try_into() {
        Ok(a) => a,
        Err(v) => unreachable!("layout gave {} components, expected {N}", v.len()),
    }
}
