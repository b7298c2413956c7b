//! Products by a fixed right operand: a model's weight, used by every inference, has its
//! masked value opened once ([`AShare::fix`]) instead of once per product.
//!
//! With a persistent mask `B` for `w` (a dealer mask reserved for `w`), the parties open
//! `D = w - B` once. Each product `f(x, w)` then spends a triple `(a, B, c = f(a, B))`
//! with a fresh `a`, opens only `eps = x - a`, and party `i` keeps
//! `c_i + f(eps, B_i) + f(a_i, D)`, party 0 adding `f(eps, D)`; since `x = eps + a` and
//! `w = D + B`, the shares add up to `f(eps, D) + f(eps, B) + f(a, D) + f(a, B) = f(x, w)`.
//! Party 0 folds its extra term into its second product as `f(a_0 + eps, D)`, as
//! `Context::beaver` does, so every party evaluates `f` twice.

use std::rc::Rc;

use cloak_dealer::{BilinearOp, DealerError};
use cloak_ring::{Conv2dSpec, RingTensor};

use super::AShare;
use crate::error::{MpcError, Result};
use crate::session::Session;

/// A shared tensor fixed as the right operand of later products
/// ([`AShare::conv2d_fixed`], [`AShare::matmul_fixed`]); made by [`AShare::fix`].
///
/// It holds this party's share of the persistent mask `B` and the opened `D = w - B`.
/// Reusing `B` is safe: `B` is uniform in the ring (the sum of every party's share, each
/// from a seed no other computing party holds), and it masks nothing but `w`, so the one
/// opening `D = w - B` is a one-time pad of `w` and reveals nothing about it. Each product
/// draws a fresh left mask `a`, so `eps = x - a` reveals nothing about `x` either; the
/// only thing the products have in common is `D`, which is already public. What must
/// never happen is using `B` to mask another value, which is why a mask belongs to one
/// `FixedOperand` (the session numbers them) and the dealer refuses it at another shape.
///
/// Cloning is cheap (the tensors are shared). `Debug` shows the shape only.
#[derive(Clone)]
pub struct FixedOperand {
    session: Session,
    inner: Rc<Parts>,
}

/// The tensors of a fixed operand.
struct Parts {
    /// The persistent mask's number in this session.
    mask: u64,
    /// This party's share of `B`.
    b: RingTensor<u64>,
    /// The opened `D = w - B` (public).
    d: RingTensor<u64>,
}

impl std::fmt::Debug for FixedOperand {
    /// Shape only: `B`'s share is secret, and even `D` is not printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedOperand").field("shape", &self.shape()).finish_non_exhaustive()
    }
}

impl FixedOperand {
    /// The shape of the fixed tensor.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        self.inner.d.shape()
    }
}

impl AShare {
    /// Fixes this tensor as the right operand of later products
    /// ([`conv2d_fixed`](Self::conv2d_fixed), [`matmul_fixed`](Self::matmul_fixed)):
    /// allocates the next persistent mask number (a counter in the session, the same at
    /// every party since every party fixes the same tensors in the same order), takes this
    /// party's share of that mask `B` from the dealer (no message), and opens `D = self - B`
    /// (one round of this tensor's size, under the label `fix`). Each later product then
    /// opens only its left operand.
    ///
    /// # Errors
    /// [`MpcError::Dealer`] if the dealer has no persistent masks (`Unsupported`) or the
    /// shape is too large; a communication error.
    pub fn fix(&self) -> Result<FixedOperand> {
        let session = self.session.clone();
        session.scoped("fix", || {
            let mut s = session.context()?;
            let (mask, b) = s.take_persistent_mask(self.shape())?;
            let masked = self.share.sub(&b)?;
            let d = s.open_tensors("fix", vec![masked])?.remove(0);
            Ok(FixedOperand { session: session.clone(), inner: Rc::new(Parts { mask, b, d }) })
        })
    }

    /// [`fix`](Self::fix), or `None` where the session's dealer has no persistent masks
    /// (nothing is sent then, at any party, so every party falls back to plain products
    /// together): for callers that fix weights as an optimisation, not as a requirement.
    ///
    /// # Errors
    /// As [`fix`](Self::fix), but for the dealer's `Unsupported`.
    pub fn try_fix(&self) -> Result<Option<FixedOperand>> {
        match self.fix() {
            Ok(fixed) => Ok(Some(fixed)),
            Err(MpcError::Dealer(DealerError::Unsupported { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `self` (NCHW) convolved with the fixed weight `[O, C/g, kh, kw]`: one round opening
    /// only `self - a`, then truncation as [`conv2d`](Self::conv2d) does. The same result as
    /// `self.conv2d(&w)` up to the same rounding, for fewer bytes: the weight's opening is
    /// not repeated.
    ///
    /// # Errors
    /// [`MpcError::SessionMismatch`] for an operand fixed in another session, a shape error
    /// for shapes that do not fit (both before anything is sent), or a communication or
    /// dealer error.
    pub fn conv2d_fixed(&self, weight: &FixedOperand, spec: &Conv2dSpec) -> Result<AShare> {
        let op = BilinearOp::Conv2d {
            input: self.shape().to_vec(),
            weight: weight.shape().to_vec(),
            spec: *spec,
        };
        self.bilinear_fixed(weight, op, "conv2d_fixed")
    }

    /// `[.., m, k] @ [k, n]` (or batched, as [`matmul`](Self::matmul)) with a fixed right
    /// operand: one round opening only `self - a`, then truncation.
    ///
    /// # Errors
    /// As [`conv2d_fixed`](Self::conv2d_fixed).
    pub fn matmul_fixed(&self, rhs: &FixedOperand) -> Result<AShare> {
        let op = BilinearOp::Matmul { lhs: self.shape().to_vec(), rhs: rhs.shape().to_vec() };
        self.bilinear_fixed(rhs, op, "matmul_fixed")
    }

    /// [`conv2d_fixed`](Self::conv2d_fixed) without its truncation: shares of the product
    /// at twice the session's scale, for [`truncate_relu`](Self::truncate_relu).
    ///
    /// # Errors
    /// As [`conv2d_fixed`](Self::conv2d_fixed).
    pub fn conv2d_fixed_wide(&self, weight: &FixedOperand, spec: &Conv2dSpec) -> Result<AShare> {
        let op = BilinearOp::Conv2d {
            input: self.shape().to_vec(),
            weight: weight.shape().to_vec(),
            spec: *spec,
        };
        self.bilinear_fixed_scaled(weight, op, "conv2d_fixed", false)
    }

    /// [`matmul_fixed`](Self::matmul_fixed) without its truncation, as
    /// [`conv2d_fixed_wide`](Self::conv2d_fixed_wide).
    ///
    /// # Errors
    /// As [`matmul_fixed`](Self::matmul_fixed).
    pub fn matmul_fixed_wide(&self, rhs: &FixedOperand) -> Result<AShare> {
        let op = BilinearOp::Matmul { lhs: self.shape().to_vec(), rhs: rhs.shape().to_vec() };
        self.bilinear_fixed_scaled(rhs, op, "matmul_fixed", false)
    }

    /// `op(self, fixed)` truncated once, as `bilinear` does (dealer pairs, or the two-party
    /// local division, by the session's truncation).
    fn bilinear_fixed(
        &self,
        fixed: &FixedOperand,
        op: BilinearOp,
        label: &'static str,
    ) -> Result<AShare> {
        self.bilinear_fixed_scaled(fixed, op, label, true)
    }

    /// `op(self, fixed)`, truncated or left at twice the scale.
    fn bilinear_fixed_scaled(
        &self,
        fixed: &FixedOperand,
        op: BilinearOp,
        label: &'static str,
        truncate: bool,
    ) -> Result<AShare> {
        if !self.session.same(&fixed.session) {
            return Err(MpcError::SessionMismatch { op: label });
        }
        let session = self.session.clone();
        let f = session.fixed_point().frac_bits();
        session.scoped(label, || {
            let mut s = session.context()?;
            let Parts { mask, b, d } = &*fixed.inner;
            let z = s.beaver_fixed_rhs(&op, label, &self.share, *mask, b, d)?;
            let z = if truncate { s.truncate(z, f)? } else { z };
            Ok(self.with_share(z))
        })
    }
}
