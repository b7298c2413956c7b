//! Attention masks, as PyTorch's `nn.MultiheadAttention` takes them: a boolean key-padding
//! mask (`true` = ignore that key) and an attention mask, boolean (`true` = not allowed) or
//! additive (a float added to the scores). Masks are public: every party passes the same.
//!
//! Both become one public additive tensor added to the scores before the softmax over the
//! keys. PyTorch uses `-inf`; fixed point has no infinity, so a masked score gets
//! [`MASKED_SCORE`] added instead, and additive values below it (`-inf` included) are
//! raised to it. That is enough for the secure softmax to give a masked key a weight of a
//! unit or two of the encoding (about `1.5e-5`), and for f64 a weight `exp(-256)` (about
//! `1e-111`) times the kept keys' at most:
//!
//! - Cloak's `exp` (the default): the softmax subtracts the row's maximum, then clamps the
//!   differences below at `-32` (`exp(-32) = 1.3e-14`, nothing even summed over a long
//!   row). A masked key's difference is at most `-256 + (its score - the largest kept
//!   score)`, so below `-32` whenever it would not have beaten every kept key by more than
//!   224.
//! - CrypTen's limit `exp`, `(1 + z/2^n)^(2^n)` with its default `n = 8`: at `z = -256`
//!   the base is exactly 0, and for `z` in `-256 ± 200` it is at most `0.8` in size, whose
//!   256th power is below `1e-24`. (More negative values would leave its domain: below
//!   `-512` the base exceeds 1 in size and the power explodes, which is why the mask is not
//!   simply a huge negative number.)
//!
//! A query whose keys are all masked has no softmax (PyTorch returns NaN there): it is an
//! error here, found from the public mask before anything is computed.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::error::{Result, invalid};

/// What a masked score gets added (see the module documentation): `-256`.
pub const MASKED_SCORE: f64 = -256.0;

/// PyTorch's `attn_mask`: boolean (`true` = the query may not attend to the key) or
/// additive, of shape `[L, S]` (every batch element and head) or `[N * H, L, S]` (one per
/// batch element and head, batch-major as in PyTorch).
#[derive(Clone, Debug, PartialEq)]
pub enum AttnMask {
    /// `true` where attention is not allowed.
    Bool(ArrayD<bool>),
    /// Added to the scores; `-inf` (or anything below [`MASKED_SCORE`]) masks.
    Additive(ArrayD<f64>),
}

/// The masks of one attention call; the default masks nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttentionMask {
    /// `[N, S]` (or `[S]` for an unbatched input), `true` = ignore that key (padding).
    pub key_padding: Option<ArrayD<bool>>,
    /// The attention mask.
    pub attn: Option<AttnMask>,
}

impl AttentionMask {
    /// No masking.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// A key-padding mask `[N, S]` (`[S]` for an unbatched input): `true` marks padding
    /// keys, which no query attends to.
    #[must_use]
    pub fn key_padding(mask: ArrayD<bool>) -> Self {
        Self { key_padding: Some(mask), attn: None }
    }

    /// A causal mask for `len` tokens: query `i` attends to keys `0..=i` only (PyTorch's
    /// `generate_square_subsequent_mask`).
    #[must_use]
    pub fn causal(len: usize) -> Self {
        let m = ArrayD::from_shape_fn(IxDyn(&[len, len]), |ix| ix[1] > ix[0]);
        Self { key_padding: None, attn: Some(AttnMask::Bool(m)) }
    }

    /// This mask with `attn` as its attention mask (builder style).
    #[must_use]
    pub fn with_attn(mut self, attn: AttnMask) -> Self {
        self.attn = Some(attn);
        self
    }

    /// This mask with a key-padding mask (builder style).
    #[must_use]
    pub fn with_key_padding(mut self, mask: ArrayD<bool>) -> Self {
        self.key_padding = Some(mask);
        self
    }

    /// Whether nothing is masked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.key_padding.is_none() && self.attn.is_none()
    }

    /// This mask for one unbatched sequence seen as a batch of one: a key-padding mask `[S]`
    /// (PyTorch's unbatched form) becomes `[1, S]`.
    pub(crate) fn as_batch_of_one(&self) -> Self {
        let mut m = self.clone();
        if let Some(p) = &self.key_padding
            && p.ndim() == 1
        {
            m.key_padding = Some(p.clone().insert_axis(Axis(0)));
        }
        m
    }

    /// The key-padding mask checked against `n` sequences of `s` tokens.
    ///
    /// # Errors
    /// A shape other than `[n, s]`.
    pub(crate) fn checked_key_padding(&self, n: usize, s: usize) -> Result<Option<&ArrayD<bool>>> {
        match &self.key_padding {
            Some(m) if m.shape() != [n, s] => Err(invalid(
                "attention mask",
                format!("key padding mask {:?} for {n} sequences of {s} keys", m.shape()),
            )),
            other => Ok(other.as_ref()),
        }
    }

    /// The public tensor added to the scores `[n, h, l, s]`, in the smallest shape that
    /// broadcasts to them (`[1, 1, l, s]`, `[n, 1, 1, s]`, `[n, 1, l, s]` or
    /// `[n, h, l, s]`), or `None` when nothing is masked.
    ///
    /// # Errors
    /// Shapes that do not fit, NaN or `+inf` in an additive mask, or a query whose keys
    /// are all masked.
    pub(crate) fn additive(
        &self,
        n: usize,
        h: usize,
        l: usize,
        s: usize,
    ) -> Result<Option<ArrayD<f64>>> {
        let padding = self.checked_key_padding(n, s)?;
        let attn = self.attn.as_ref().map(|a| attn_additive(a, n, h, l, s)).transpose()?;
        let total = match (attn, padding) {
            (None, None) => return Ok(None),
            (Some(a), None) => a,
            (attn, Some(p)) => {
                let pad = p
                    .mapv(|m| if m { MASKED_SCORE } else { 0.0 })
                    .into_shape_with_order(IxDyn(&[n, 1, 1, s]))
                    .map_err(|e| invalid("attention mask", e.to_string()))?;
                match attn {
                    None => pad,
                    Some(a) => &a + &pad,
                }
            }
        };
        let total = total.mapv(|v| v.max(MASKED_SCORE));
        // Every query needs a key it may attend to. The mask broadcasts over the axes of
        // length 1, so a query row of the mask is a row of `total`.
        if total.lanes(Axis(3)).into_iter().any(|r| r.iter().all(|&v| v <= MASKED_SCORE)) {
            return Err(invalid(
                "attention mask",
                "a query has every key masked (PyTorch returns NaN there)",
            ));
        }
        Ok(Some(total))
    }
}

/// An attention mask as additive values shaped `[1, 1, l, s]` or `[n, h, l, s]`.
fn attn_additive(a: &AttnMask, n: usize, h: usize, l: usize, s: usize) -> Result<ArrayD<f64>> {
    let values = match a {
        AttnMask::Bool(m) => m.mapv(|m| if m { MASKED_SCORE } else { 0.0 }),
        AttnMask::Additive(m) => {
            if let Some(v) = m.iter().find(|v| v.is_nan() || **v == f64::INFINITY) {
                return Err(invalid("attention mask", format!("additive value {v}")));
            }
            m.clone()
        }
    };
    let target: Vec<usize> = match values.shape() {
        [ml, ms] if (*ml, *ms) == (l, s) => vec![1, 1, l, s],
        [b, ml, ms] if (*b, *ml, *ms) == (n * h, l, s) => vec![n, h, l, s],
        other => {
            return Err(invalid(
                "attention mask",
                format!(
                    "attention mask {other:?}: expected [{l}, {s}] or [{}, {l}, {s}] for {n} \
                     sequences, {h} heads",
                    n * h
                ),
            ));
        }
    };
    values
        .into_shape_with_order(IxDyn(&target))
        .map_err(|e| invalid("attention mask", e.to_string()))
}
