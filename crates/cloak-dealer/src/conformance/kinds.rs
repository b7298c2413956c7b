//! Custom kinds the suite asks for, one per path a custom kind can take: an elementwise
//! rule (the dealer's chunked path), a general relation, and dealt material. A provider
//! that decodes requests from bytes (a third-party dealer) registers them from
//! [`correlations`].

use cloak_prg::Prg;
use cloak_ring::RingTensor;

use crate::{
    Component, Correlation, Correlations, DealerError, ElementwiseRule, Layout, MAX_COMPONENT_WORDS,
};

/// Reads `N` little-endian `u64`s, exactly.
fn words<const N: usize>(kind: &str, bytes: &[u8]) -> Result<[u64; N], DealerError> {
    let bad = || DealerError::Correlation {
        kind: kind.into(),
        reason: format!("parameters of {} bytes, expected {}", bytes.len(), 8 * N),
    };
    if bytes.len() != 8 * N {
        return Err(bad());
    }
    let mut out = [0u64; N];
    for (o, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *o = u64::from_le_bytes(b);
    }
    Ok(out)
}

/// A length from the wire, bounded so that a hostile value is refused, not allocated.
fn length(kind: &str, v: u64) -> Result<usize, DealerError> {
    usize::try_from(v).ok().filter(|&n| n <= MAX_COMPONENT_WORDS).ok_or_else(|| {
        DealerError::Correlation { kind: kind.into(), reason: format!("length {v}") }
    })
}

/// `(x, y = scale * x + 1)`, elementwise over `len` additive elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affine {
    /// Number of elements.
    pub len: usize,
    /// The public factor.
    pub scale: u64,
}

impl Affine {
    /// Its kind name.
    pub const KIND: &'static str = "conformance/affine";
}

impl ElementwiseRule for Affine {
    fn apply(&self, free: &[&[u64]], dependent: &mut [&mut [u64]]) {
        if let ([x, ..], [y, ..]) = (free, dependent) {
            y.iter_mut()
                .zip(x.iter())
                .for_each(|(y, x)| *y = x.wrapping_mul(self.scale).wrapping_add(1));
        }
    }
}

impl Correlation for Affine {
    fn kind(&self) -> &'static str {
        Self::KIND
    }
    fn params(&self) -> Vec<u8> {
        [self.len as u64, self.scale].iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    fn layout(&self) -> Result<Layout, DealerError> {
        Ok(Layout::new(vec![Component::arith(&[self.len])], vec![Component::arith(&[self.len])]))
    }
    fn elementwise(&self) -> Option<&dyn ElementwiseRule> {
        Some(self)
    }
}

/// `(x, s)` with `x` of shape `[rows, cols]` and `s[i]` the sum of row `i`: a relation
/// that is not elementwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowSums {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

impl RowSums {
    /// Its kind name.
    pub const KIND: &'static str = "conformance/row_sums";
}

impl Correlation for RowSums {
    fn kind(&self) -> &'static str {
        Self::KIND
    }
    fn params(&self) -> Vec<u8> {
        [self.rows as u64, self.cols as u64].iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    fn layout(&self) -> Result<Layout, DealerError> {
        Ok(Layout::new(
            vec![Component::arith(&[self.rows, self.cols])],
            vec![Component::arith(&[self.rows])],
        ))
    }
    fn dependents(&self, free: &[RingTensor<u64>]) -> Result<Vec<RingTensor<u64>>, DealerError> {
        let x = free.first().map(RingTensor::to_vec).unwrap_or_default();
        let sums = (0..self.rows)
            .map(|i| {
                x.iter().skip(i * self.cols).take(self.cols).fold(0u64, |a, v| a.wrapping_add(*v))
            })
            .collect();
        Ok(vec![RingTensor::from_vec(&[self.rows], sums)?])
    }
}

/// `words` XOR-shared words `r` and, dealt to each party, a key of `words` words, the
/// parties' keys XORing to `!r`: material no seed gives, different per party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XorKeys {
    /// Words of `r` and of each key.
    pub words: usize,
}

impl XorKeys {
    /// Its kind name.
    pub const KIND: &'static str = "conformance/xor_keys";
}

impl Correlation for XorKeys {
    fn kind(&self) -> &'static str {
        Self::KIND
    }
    fn params(&self) -> Vec<u8> {
        (self.words as u64).to_le_bytes().to_vec()
    }
    fn layout(&self) -> Result<Layout, DealerError> {
        Ok(Layout::new(vec![Component::xor(self.words)], Vec::new())
            .with_dealt(vec![Component::xor(self.words)]))
    }
    fn dependents(&self, _: &[RingTensor<u64>]) -> Result<Vec<RingTensor<u64>>, DealerError> {
        Ok(Vec::new())
    }
    fn deal(
        &self,
        free: &[RingTensor<u64>],
        _: &[RingTensor<u64>],
        parties: usize,
        rng: &mut Prg,
    ) -> Result<Vec<Vec<RingTensor<u64>>>, DealerError> {
        let mut last: Vec<u64> = free.first().map(RingTensor::to_vec).unwrap_or_default();
        last.iter_mut().for_each(|v| *v = !*v);
        let mut parts = Vec::with_capacity(parties);
        for _ in 1..parties {
            let mut key = vec![0u64; self.words];
            rng.fill_u64(&mut key);
            last.iter_mut().zip(&key).for_each(|(l, k)| *l ^= k);
            parts.push(vec![RingTensor::from_vec(&[self.words], key)?]);
        }
        parts.insert(0, vec![RingTensor::from_vec(&[self.words], last)?]);
        Ok(parts)
    }
}

/// Decoders for the suite's custom kinds, for a provider that decodes requests from bytes.
#[must_use]
pub fn correlations() -> Correlations {
    let mut c = Correlations::new();
    let registered = c
        .register(Affine::KIND, |b| {
            let [len, scale] = words(Affine::KIND, b)?;
            Ok(Affine { len: length(Affine::KIND, len)?, scale })
        })
        .and_then(|c| {
            c.register(RowSums::KIND, |b| {
                let [rows, cols] = words(RowSums::KIND, b)?;
                Ok(RowSums {
                    rows: length(RowSums::KIND, rows)?,
                    cols: length(RowSums::KIND, cols)?,
                })
            })
        })
        .and_then(|c| {
            c.register(XorKeys::KIND, |b| {
                let [n] = words(XorKeys::KIND, b)?;
                Ok(XorKeys { words: length(XorKeys::KIND, n)? })
            })
        })
        .map(drop);
    debug_assert!(registered.is_ok(), "the suite's kind names are valid");
    c
}
