//! The relation of every request, written once.
//!
//! A request's relation is either elementwise (an [`ElementwiseRule`], which both the
//! dealer's chunked path and the whole-tensor path apply) or general (a bilinear op, the
//! bit decomposition of random bits, or a custom kind's own `dependents`). Nothing else
//! computes dependent values, so a new kind cannot take one path with one relation and the
//! other path with another.

use cloak_ring::{BilinearOp, RingTensor};

use crate::correlation::{Correlation, ElementwiseRule};
use crate::{DealerError, Layout, Request};

/// The built-in elementwise rules.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Builtin {
    /// `c = a * b`.
    Mul,
    /// `r2 = r * r`.
    Square,
    /// `c = a & b`.
    And,
    /// `(r >> bits, r >> 63)`.
    Trunc(u32),
    /// `(r / d, r >> 63)`, `d > 0`.
    Div(u64),
}

impl ElementwiseRule for Builtin {
    fn apply(&self, free: &[&[u64]], dependent: &mut [&mut [u64]]) {
        match (*self, free, dependent) {
            (Builtin::Mul, [a, b, ..], [c, ..]) => {
                c.iter_mut().zip(a.iter().zip(b.iter())).for_each(|(c, (a, b))| {
                    *c = a.wrapping_mul(*b);
                });
            }
            (Builtin::Square, [r, ..], [r2, ..]) => {
                r2.iter_mut().zip(r.iter()).for_each(|(o, r)| *o = r.wrapping_mul(*r));
            }
            (Builtin::And, [a, b, ..], [c, ..]) => {
                c.iter_mut().zip(a.iter().zip(b.iter())).for_each(|(c, (a, b))| *c = a & b);
            }
            (Builtin::Trunc(bits), [r, ..], [shifted, msb, ..]) => {
                shifted.iter_mut().zip(r.iter()).for_each(|(o, r)| *o = r >> bits);
                msb.iter_mut().zip(r.iter()).for_each(|(o, r)| *o = r >> 63);
            }
            (Builtin::Div(d), [r, ..], [quotient, msb, ..]) => {
                quotient.iter_mut().zip(r.iter()).for_each(|(o, r)| *o = r / d);
                msb.iter_mut().zip(r.iter()).for_each(|(o, r)| *o = r >> 63);
            }
            // The layouts fix the component counts; a mismatch leaves the output untouched
            // and the caller's shape checks report it.
            _ => {}
        }
    }
}

/// An elementwise rule: a built-in one or a custom kind's.
#[derive(Clone, Copy)]
pub(crate) enum Rule<'a> {
    Builtin(Builtin),
    Custom(&'a dyn ElementwiseRule),
}

impl Rule<'_> {
    pub(crate) fn apply(&self, free: &[&[u64]], dependent: &mut [&mut [u64]]) {
        match self {
            Rule::Builtin(b) => b.apply(free, dependent),
            Rule::Custom(c) => c.apply(free, dependent),
        }
    }
}

/// How a request's dependent values follow from its free ones.
pub(crate) enum Relation<'a> {
    /// Elementwise, by this rule.
    Elementwise(Rule<'a>),
    /// `c = op(a, b)`; for a fixed-operand triple `b` is the persistent mask's value.
    Bilinear(&'a BilinearOp),
    /// The arithmetic bits of `count` XOR-packed bits.
    Bits(usize),
    /// The bit planes of ring values.
    Planes,
    /// The digit tables of ring values, and with `true` the injection mask's values.
    DigitTables(bool),
    /// The digit tables and injection mask of ring values, with their truncation by this
    /// many bits.
    TruncDigitTables(u32),
    /// The products of variables' masks over the subsets listed.
    MaskProducts(&'a [u32]),
    /// A custom kind's own `dependents`.
    Custom(&'a dyn Correlation),
}

impl Request {
    /// The request's relation.
    pub(crate) fn relation(&self) -> Relation<'_> {
        let builtin = |b| Relation::Elementwise(Rule::Builtin(b));
        match self {
            Request::Triple(BilinearOp::Mul { lhs, rhs }) if lhs == rhs => builtin(Builtin::Mul),
            Request::Triple(op) | Request::TripleFixedRhs { op, .. } => Relation::Bilinear(op),
            Request::Square { .. } => builtin(Builtin::Square),
            Request::BinaryTriple { .. } => builtin(Builtin::And),
            Request::TruncPair { bits, .. } => builtin(Builtin::Trunc(*bits)),
            Request::DivPair { divisor, .. } => builtin(Builtin::Div(*divisor)),
            Request::RandomBits { count } => Relation::Bits(*count),
            Request::EdaBits { .. } => Relation::Planes,
            Request::DigitTables { inject, .. } => Relation::DigitTables(*inject),
            Request::MaskProducts { subsets, .. } => Relation::MaskProducts(subsets),
            Request::TruncDigitTables { bits, .. } => Relation::TruncDigitTables(*bits),
            Request::Custom(c) => match c.correlation().elementwise() {
                Some(rule) => Relation::Elementwise(Rule::Custom(rule)),
                None => Relation::Custom(c.correlation()),
            },
        }
    }

    /// The dependent components' true values from the free components' true values (for
    /// [`Request::TripleFixedRhs`], followed by the persistent mask's value). What the
    /// dealer computes; public so that a provider or a test can check a relation with the
    /// very rule the dealer uses.
    ///
    /// # Errors
    /// A typed error for an invalid request, or free values that do not fit its layout.
    pub fn dependents(
        &self,
        free: &[RingTensor<u64>],
    ) -> Result<Vec<RingTensor<u64>>, DealerError> {
        let layout = self.layout()?;
        let mismatch =
            |reason: String| DealerError::Correlation { kind: self.name().into(), reason };
        let extra = usize::from(matches!(self, Request::TripleFixedRhs { .. }));
        if free.len() != layout.free.len() + extra {
            return Err(mismatch(format!(
                "{} free values for {} free components",
                free.len(),
                layout.free.len() + extra
            )));
        }
        for (t, c) in free.iter().zip(&layout.free) {
            if t.shape() != &c.shape[..] {
                return Err(mismatch(format!(
                    "a free value of shape {:?}, not {:?}",
                    t.shape(),
                    c.shape
                )));
            }
        }
        match self {
            Request::TripleFixedRhs { .. } => self.dependents_in(&layout, &free[..1], free.get(1)),
            _ => self.dependents_in(&layout, free, None),
        }
    }

    /// [`Request::dependents`] for a layout already computed and free values already
    /// checked against it; `mask` is a fixed-operand triple's persistent mask value (held
    /// apart so that the dealer's copy of a model-sized mask is never cloned).
    pub(crate) fn dependents_in(
        &self,
        layout: &Layout,
        free: &[RingTensor<u64>],
        mask: Option<&RingTensor<u64>>,
    ) -> Result<Vec<RingTensor<u64>>, DealerError> {
        let missing = || DealerError::Correlation {
            kind: self.name().into(),
            reason: "a product without its operands".into(),
        };
        let dependent = match self.relation() {
            Relation::Elementwise(rule) => derive(self.name(), rule, layout, free)?,
            Relation::Bilinear(op) => {
                let a = free.first().ok_or_else(missing)?;
                let b = mask.or(free.get(1)).ok_or_else(missing)?;
                vec![op.apply(a, b)?]
            }
            Relation::Bits(count) => {
                let words = free.first().ok_or_else(missing)?;
                vec![RingTensor::from_vec(&[count], unpack(words, count).ok_or_else(missing)?)?]
            }
            Relation::Planes => {
                let r = free.first().ok_or_else(missing)?;
                let planes: Vec<u64> = cloak_ring::planes::to_bit_planes(&r.as_slice())
                    .into_iter()
                    .flatten()
                    .collect();
                let words = planes.len();
                vec![RingTensor::from_vec(&[words], planes)?]
            }
            Relation::DigitTables(inject) => {
                let r = free.first().ok_or_else(missing)?;
                let s = if inject { Some(free.get(1).ok_or_else(missing)?) } else { None };
                digit_table_dependents(r, s)?.ok_or_else(missing)?
            }
            Relation::TruncDigitTables(bits) => {
                let (r, s) = (free.first().ok_or_else(missing)?, free.get(1).ok_or_else(missing)?);
                trunc_digit_table_dependents(r, s, bits)?.ok_or_else(missing)?
            }
            Relation::MaskProducts(subsets) => {
                let masks = free.first().ok_or_else(missing)?;
                let words = layout.dependent.first().map_or(0, crate::Component::len);
                let words = words.checked_div(subsets.len()).unwrap_or(0);
                let products = mask_products(&masks.as_slice(), words, subsets);
                vec![RingTensor::from_vec(&[products.len()], products)?]
            }
            Relation::Custom(c) => c.dependents(free)?,
        };
        check_values(self.name(), "dependent", &layout.dependent, &dependent)?;
        Ok(dependent)
    }
}

/// The first `count` bits of XOR-packed words, one 0/1 value each; `None` for too few words.
fn unpack(words: &RingTensor<u64>, count: usize) -> Option<Vec<u64>> {
    let words = words.as_slice();
    (words.len() >= count.div_ceil(64))
        .then(|| (0..count).map(|i| (words[i / 64] >> (i % 64)) & 1).collect())
}

/// The dependents of [`Request::DigitTables`]: the tables of `r`, and with the injection
/// mask's XOR words `s`, its bits at scale 1 and `s * r`. `None` for mask words too few
/// for `r`.
fn digit_table_dependents(
    r: &RingTensor<u64>,
    s: Option<&RingTensor<u64>>,
) -> Result<Option<Vec<RingTensor<u64>>>, DealerError> {
    let values = r.as_slice();
    let n = values.len();
    let tables = cloak_ring::digits::digit_tables(&values);
    let mut out = vec![RingTensor::from_vec(&[tables.len()], tables)?];
    if let Some(s) = s {
        let Some(bits) = unpack(s, n) else { return Ok(None) };
        let times_r: Vec<u64> =
            bits.iter().zip(values.iter()).map(|(s, r)| s.wrapping_mul(*r)).collect();
        out.push(RingTensor::from_vec(&[n], bits)?);
        out.push(RingTensor::from_vec(&[n], times_r)?);
    }
    Ok(Some(out))
}

/// The dependents of [`Request::TruncDigitTables`]: the tables of `r`, the injection bits
/// `s` at scale 1, `r >> bits`, `r`'s top bit, `s * (r >> bits)` and `s * r_63`. `None` for
/// mask words too few for `r`.
fn trunc_digit_table_dependents(
    r: &RingTensor<u64>,
    s: &RingTensor<u64>,
    bits: u32,
) -> Result<Option<Vec<RingTensor<u64>>>, DealerError> {
    let values = r.as_slice();
    let n = values.len();
    let Some(s) = unpack(s, n) else { return Ok(None) };
    let tables = cloak_ring::digits::digit_tables(&values);
    let shifted: Vec<u64> = values.iter().map(|r| r >> bits).collect();
    let msb: Vec<u64> = values.iter().map(|r| r >> 63).collect();
    let s_shifted: Vec<u64> = s.iter().zip(&shifted).map(|(s, q)| s * q).collect();
    let s_msb: Vec<u64> = s.iter().zip(&msb).map(|(s, m)| s & m).collect();
    let each = |v: Vec<u64>| RingTensor::from_vec(&[n], v);
    Ok(Some(vec![
        RingTensor::from_vec(&[tables.len()], tables)?,
        each(s)?,
        each(shifted)?,
        each(msb)?,
        each(s_shifted)?,
        each(s_msb)?,
    ]))
}

/// The products of the masks (`words` words per variable, one after the other) over each
/// subset, `words` words per subset.
fn mask_products(masks: &[u64], words: usize, subsets: &[u32]) -> Vec<u64> {
    let mut out = Vec::with_capacity(words * subsets.len());
    for &subset in subsets {
        let mut product = vec![u64::MAX; words];
        for (i, var) in masks.chunks_exact(words.max(1)).enumerate().take(32) {
            if (subset >> i) & 1 == 1 {
                product.iter_mut().zip(var).for_each(|(p, a)| *p &= a);
            }
        }
        out.extend(product);
    }
    out
}

/// Whether every component of the layout has one length (what an elementwise rule needs).
pub(crate) fn uniform(layout: &Layout) -> Option<usize> {
    let n = layout.free.iter().chain(&layout.dependent).next().map_or(0, crate::Component::len);
    layout.free.iter().chain(&layout.dependent).all(|c| c.len() == n).then_some(n)
}

/// An elementwise rule applied to whole tensors.
fn derive(
    kind: &str,
    rule: Rule<'_>,
    layout: &Layout,
    free: &[RingTensor<u64>],
) -> Result<Vec<RingTensor<u64>>, DealerError> {
    if uniform(layout).is_none() {
        return Err(not_elementwise(kind, layout));
    }
    let free: Vec<Vec<u64>> = free.iter().map(RingTensor::to_vec).collect();
    let free: Vec<&[u64]> = free.iter().map(Vec::as_slice).collect();
    let mut out: Vec<Vec<u64>> = layout.dependent.iter().map(|c| vec![0u64; c.len()]).collect();
    let mut refs: Vec<&mut [u64]> = out.iter_mut().map(Vec::as_mut_slice).collect();
    rule.apply(&free, &mut refs);
    layout.dependent.iter().zip(out).map(|(c, v)| Ok(RingTensor::from_vec(&c.shape, v)?)).collect()
}

/// The error for an elementwise rule over components of different lengths.
pub(crate) fn not_elementwise(kind: &str, layout: &Layout) -> DealerError {
    DealerError::Correlation {
        kind: kind.into(),
        reason: format!(
            "an elementwise rule over components of different lengths ({:?})",
            layout
                .free
                .iter()
                .chain(&layout.dependent)
                .map(crate::Component::len)
                .collect::<Vec<_>>()
        ),
    }
}

/// Checks that values computed by a relation (or dealt) have the layout's shapes: a custom
/// kind that breaks its own layout gets a typed error, not a panic further on.
pub(crate) fn check_values(
    kind: &str,
    what: &str,
    components: &[crate::Component],
    values: &[RingTensor<u64>],
) -> Result<(), DealerError> {
    let ok = values.len() == components.len()
        && values.iter().zip(components).all(|(t, c)| t.shape() == &c.shape[..]);
    if ok {
        return Ok(());
    }
    Err(DealerError::Correlation {
        kind: kind.into(),
        reason: format!(
            "{what} values of shapes {:?}, the layout says {:?}",
            values.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>(),
            components.iter().map(|c| c.shape.clone()).collect::<Vec<_>>()
        ),
    })
}
