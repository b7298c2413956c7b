//! `AShare`: an additively shared fixed-point tensor.
//!
//! The value is the wrapping sum of the parties' shares, read as a fixed-point number with
//! the session's fractional bits. Linear operations are local; products spend a Beaver
//! triple and one round, then truncate; comparisons go through binary shares.

mod bilinear;
mod fixed;
mod linear;
mod shape;

use std::rc::Rc;

use ndarray::ArrayD;

use cloak_ring::RingTensor;

use crate::error::{MpcError, Result, invalid};
use crate::session::Session;

pub use fixed::FixedOperand;

/// One party's share of a secret fixed-point tensor.
///
/// Cloning is cheap: clones share the share's storage (operations make new tensors, never
/// change one in place), so a model's weight handed to every forward pass is not copied.
#[derive(Clone)]
pub struct AShare {
    session: Session,
    share: Rc<RingTensor<u64>>,
}

impl std::fmt::Debug for AShare {
    /// Shape only: a share is secret-derived, so it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AShare").field("shape", &self.share.shape()).finish_non_exhaustive()
    }
}

impl AShare {
    /// Wraps a raw share (already at the session's scale). For protocol researchers: the
    /// caller is responsible for the shares of all parties summing to something meaningful.
    #[must_use]
    pub fn from_share(session: &Session, share: RingTensor<u64>) -> Self {
        Self { session: session.clone(), share: Rc::new(share) }
    }

    /// Shares `value`, known to `owner` only, with every party. Every party passes the
    /// shape; only the owner passes the value. The other parties' shares come from
    /// pairwise pseudo-random zero sharing, so no message is sent at all.
    ///
    /// # Errors
    /// At the owner, [`MpcError::Ring`] if a value is NaN, infinite or out of the
    /// fixed-point range (naming the element), or its shape differs from `shape`;
    /// [`MpcError::InvalidArgument`] if `owner` is not a party or a non-owner passes a value.
    /// Such an error is seen by the party that made it only (no message is sent); the
    /// session's streams stay in step, but the parties' programs have diverged, so the
    /// caller should end the computation (its peers then fail with a communication error).
    pub fn share(
        session: &Session,
        owner: usize,
        value: Option<&ArrayD<f64>>,
        shape: &[usize],
    ) -> Result<Self> {
        let mut s = session.context()?;
        // Checks every party makes alike come first; then every party draws its zero share,
        // so the pairwise streams stay in step even when the owner's value is then refused
        // (a refusal only the owner sees, since sharing sends no message).
        if owner >= s.parties() {
            return Err(invalid("share", format!("owner {owner} of {} parties", s.parties())));
        }
        let on_host = s.device().handle().is_none();
        let mut share = if on_host {
            let numel = cloak_ring::error::checked_numel("share", shape)?;
            RingTensor::from_vec(shape, s.zero_share(numel))?
        } else {
            // Made on the device: only the owner's value crosses.
            s.zero_share_tensor(shape)?
        };
        let is_owner = s.rank() == owner;
        match (is_owner, value) {
            (true, Some(v)) => {
                if v.shape() != shape {
                    return Err(MpcError::Ring(cloak_ring::RingError::ShapeMismatch {
                        op: "share",
                        lhs: v.shape().to_vec(),
                        rhs: shape.to_vec(),
                    }));
                }
                share.add_assign(&RingTensor::<u64>::encode(v, s.fixed_point())?)?;
            }
            (true, None) => return Err(invalid("share", "the owner must pass the value")),
            (false, Some(_)) => {
                return Err(invalid("share", "only the owner passes a value"));
            }
            (false, None) => {}
        }
        let share = s.place(share)?;
        drop(s);
        Ok(Self::from_share(session, share))
    }

    /// A public value as a shared tensor (party 0 holds it, the others zero), on the
    /// session's device.
    ///
    /// # Errors
    /// [`MpcError::Ring`] for NaN, infinite or out-of-range values; the device's error.
    pub fn from_public(session: &Session, value: &ArrayD<f64>) -> Result<Self> {
        let encoded = RingTensor::<u64>::encode(value, session.fixed_point())?;
        let share = if session.rank() == 0 { encoded } else { RingTensor::zeros(encoded.shape()) };
        Ok(Self::from_share(session, session.config().device.place(share)?))
    }

    /// Zeros of this shape, on the host whatever the session's device (a zero operand
    /// joins a device operation as one upload).
    #[must_use]
    pub fn zeros(session: &Session, shape: &[usize]) -> Self {
        Self::from_share(session, RingTensor::zeros(shape))
    }

    /// The session this tensor belongs to.
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// This party's share (secret-derived: do not log it).
    #[must_use]
    pub fn share_tensor(&self) -> &RingTensor<u64> {
        &self.share
    }

    /// The shape.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        self.share.shape()
    }

    /// The number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.share.len()
    }

    /// Whether it has no element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.share.is_empty()
    }

    /// Reveals the value to every party (one round). Each share is re-randomised with a
    /// fresh zero sharing first, so what the parties see is a uniformly random sharing of
    /// the value, whatever computation produced the shares.
    ///
    /// The decoded `f64` keeps every fractional bit only below `2^(53 - f)` in magnitude
    /// (`2^37` at 16 bits): above, it rounds to the nearest `f64`. To keep them all, reveal
    /// the encoding with [`reveal_ring`](Self::reveal_ring) and read it as the signed
    /// integer `value * 2^f` (`word as i64`).
    ///
    /// # Errors
    /// A communication error.
    pub fn reveal(&self) -> Result<ArrayD<f64>> {
        let ring = self.reveal_ring()?;
        Ok(ring.decode(self.session.fixed_point()))
    }

    /// Reveals the ring value (not decoded) to every party (one round).
    ///
    /// # Errors
    /// A communication error.
    pub fn reveal_ring(&self) -> Result<RingTensor<u64>> {
        self.session.scoped("reveal", || {
            let mut s = self.session.context()?;
            let fresh = s.rerandomized(&self.share);
            Ok(s.open_words("reveal", vec![fresh], false)?.remove(0))
                .and_then(|v| Ok(RingTensor::from_vec(self.share.shape(), v)?))
        })
    }

    /// Reveals the value to `party` only (one round): `Some` there, `None` elsewhere.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`] if `party` is out of range; a communication error.
    pub fn reveal_to(&self, party: usize) -> Result<Option<ArrayD<f64>>> {
        let fp = self.session.fixed_point();
        self.session.scoped("reveal", || {
            let mut s = self.session.context()?;
            if party >= s.parties() {
                return Err(invalid("reveal_to", format!("party {party} of {}", s.parties())));
            }
            let fresh = s.rerandomized(&self.share);
            let got = s.open_words_to("reveal", party, vec![fresh], false)?;
            got.map(|mut v| Ok(RingTensor::from_vec(self.share.shape(), v.remove(0))?.decode(fp)))
                .transpose()
        })
    }

    /// A new tensor of the same session.
    pub(crate) fn with_share(&self, share: RingTensor<u64>) -> Self {
        Self::from_share(&self.session, share)
    }

    /// Checks that `other` belongs to the same session.
    pub(crate) fn check_session(&self, other: &AShare, op: &'static str) -> Result<()> {
        if self.session.same(&other.session) {
            Ok(())
        } else {
            Err(MpcError::SessionMismatch { op })
        }
    }
}
