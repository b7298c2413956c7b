//! Binary (XOR) shares: [`BShare`]. Their AND gates are
//! [`Context::and_words`](crate::primitives::Context::and_words).

use cloak_ring::RingTensor;

use crate::error::{MpcError, Result};
use crate::session::Session;

/// One party's XOR share of a tensor of 64-bit words (one word per element): the value is
/// the XOR of all parties' shares.
#[derive(Clone)]
pub struct BShare {
    session: Session,
    words: RingTensor<u64>,
}

impl std::fmt::Debug for BShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BShare").field("shape", &self.words.shape()).finish_non_exhaustive()
    }
}

impl BShare {
    /// Wraps this party's XOR share.
    #[must_use]
    pub fn from_share(session: &Session, words: RingTensor<u64>) -> Self {
        Self { session: session.clone(), words }
    }

    /// A public tensor of words as a shared one (party 0 holds it).
    #[must_use]
    pub fn from_public(session: &Session, words: &RingTensor<u64>) -> Self {
        let words =
            if session.rank() == 0 { words.clone() } else { RingTensor::zeros(words.shape()) };
        Self { session: session.clone(), words }
    }

    /// This party's share (secret-derived: do not log it).
    #[must_use]
    pub fn share_tensor(&self) -> &RingTensor<u64> {
        &self.words
    }

    /// The shape.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        self.words.shape()
    }

    /// The session.
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn with(&self, words: RingTensor<u64>) -> Self {
        Self { session: self.session.clone(), words }
    }

    fn check(&self, other: &BShare, op: &'static str) -> Result<()> {
        if self.session.same(&other.session) {
            Ok(())
        } else {
            Err(MpcError::SessionMismatch { op })
        }
    }

    /// `self ^ other`, local.
    ///
    /// # Errors
    /// A shape mismatch, or operands from different sessions.
    pub fn xor(&self, other: &BShare) -> Result<BShare> {
        self.check(other, "xor")?;
        Ok(self.with(self.words.xor(&other.words)?))
    }

    /// `self ^ p` for public words, local.
    ///
    /// # Errors
    /// A shape mismatch.
    pub fn xor_public(&self, p: &RingTensor<u64>) -> Result<BShare> {
        if self.session.rank() == 0 {
            Ok(self.with(self.words.xor(p)?))
        } else {
            let shape = cloak_ring::broadcast_shapes(self.shape(), p.shape()).ok_or(
                cloak_ring::RingError::ShapeMismatch {
                    op: "xor_public",
                    lhs: self.shape().to_vec(),
                    rhs: p.shape().to_vec(),
                },
            )?;
            Ok(self.with(self.words.broadcast_to(&shape)?))
        }
    }

    /// `self & p` for public words, local.
    ///
    /// # Errors
    /// A shape mismatch.
    pub fn and_public(&self, p: &RingTensor<u64>) -> Result<BShare> {
        Ok(self.with(self.words.and(p)?))
    }

    /// Bitwise NOT (party 0 flips its share), local.
    #[must_use]
    pub fn not(&self) -> BShare {
        if self.session.rank() == 0 { self.with(self.words.not()) } else { self.clone() }
    }

    /// Logical shift left by `k` bits, local.
    ///
    /// # Errors
    /// `k >= 64`.
    pub fn shl(&self, k: u32) -> Result<BShare> {
        Ok(self.with(self.words.shl(k)?))
    }

    /// Logical shift right by `k` bits, local.
    ///
    /// # Errors
    /// `k >= 64`.
    pub fn shr(&self, k: u32) -> Result<BShare> {
        Ok(self.with(self.words.shr_logical(k)?))
    }

    /// Bit `k` of every element, as words holding 0 or 1, local.
    ///
    /// # Errors
    /// `k >= 64`.
    pub fn bit(&self, k: u32) -> Result<BShare> {
        Ok(self.with(self.words.shr_logical(k)?.and_scalar(1)))
    }

    /// `self & other`: one binary triple, one round.
    ///
    /// # Errors
    /// A shape mismatch (before anything is sent), or a communication or dealer error.
    pub fn and(&self, other: &BShare) -> Result<BShare> {
        Ok(Self::and_many(&[(self, other)])?.remove(0))
    }

    /// Several ANDs in one round.
    ///
    /// # Errors
    /// As [`and`](Self::and).
    pub fn and_many(pairs: &[(&BShare, &BShare)]) -> Result<Vec<BShare>> {
        let Some((first, _)) = pairs.first() else { return Ok(Vec::new()) };
        for (x, y) in pairs {
            first.check(x, "and")?;
            first.check(y, "and")?;
            if x.shape() != y.shape() {
                return Err(cloak_ring::RingError::ShapeMismatch {
                    op: "and",
                    lhs: x.shape().to_vec(),
                    rhs: y.shape().to_vec(),
                }
                .into());
            }
        }
        let slices: Vec<_> =
            pairs.iter().map(|(x, y)| (x.words.as_slice(), y.words.as_slice())).collect();
        let refs: Vec<(&[u64], &[u64])> = slices.iter().map(|(x, y)| (&x[..], &y[..])).collect();
        let session = first.session.clone();
        let out = session.scoped("and", || session.context()?.and_words(&refs))?;
        pairs
            .iter()
            .zip(out)
            .map(|((x, _), z)| Ok(x.with(RingTensor::from_vec(x.shape(), z)?)))
            .collect()
    }

    /// Reveals the words to every party (one round).
    ///
    /// # Errors
    /// A communication error.
    pub fn reveal(&self) -> Result<RingTensor<u64>> {
        let session = self.session.clone();
        session.scoped("reveal", || {
            let words = self.words.to_vec();
            let v = session.context()?.open_words("reveal", vec![words], true)?.remove(0);
            Ok(RingTensor::from_vec(self.shape(), v)?)
        })
    }
}
