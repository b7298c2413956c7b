//! Products: shared by shared (Beaver, one round) and shared by public (local), each
//! followed by one truncation of the accumulated result (never one per term).

use ndarray::ArrayD;

use cloak_dealer::BilinearOp;
use cloak_ring::{Conv2dSpec, RingTensor};

use super::AShare;
use crate::error::Result;

impl AShare {
    /// `op(self, other)` for shared operands: one Beaver round, then truncation.
    fn bilinear(&self, other: &AShare, op: BilinearOp) -> Result<AShare> {
        self.check_session(other, op.name())?;
        let session = self.session.clone();
        let f = session.fixed_point().frac_bits();
        session.scoped(op.name(), || {
            let z = session.context()?.beaver_truncated(&op, &self.share, &other.share, f)?;
            Ok(self.with_share(z))
        })
    }

    /// `op(self, other)` by Beaver, not truncated: shares at twice the session's scale.
    fn bilinear_wide(&self, other: &AShare, op: BilinearOp) -> Result<AShare> {
        self.check_session(other, op.name())?;
        let session = self.session.clone();
        session.scoped(op.name(), || {
            let z = session.context()?.beaver(&op, &self.share, &other.share)?;
            Ok(self.with_share(z))
        })
    }

    /// [`conv2d`](Self::conv2d) without its truncation: shares of the product at twice the
    /// session's scale (`2^(2f)`), for a truncation fused with what follows
    /// ([`truncate_relu`](Self::truncate_relu)). One round.
    ///
    /// # Errors
    /// As [`conv2d`](Self::conv2d).
    pub fn conv2d_wide(&self, weight: &AShare, spec: &Conv2dSpec) -> Result<AShare> {
        let op = BilinearOp::Conv2d {
            input: self.shape().to_vec(),
            weight: weight.shape().to_vec(),
            spec: *spec,
        };
        self.bilinear_wide(weight, op)
    }

    /// [`matmul`](Self::matmul) without its truncation, as [`conv2d_wide`](Self::conv2d_wide).
    ///
    /// # Errors
    /// As [`matmul`](Self::matmul).
    pub fn matmul_wide(&self, other: &AShare) -> Result<AShare> {
        let op = BilinearOp::Matmul { lhs: self.shape().to_vec(), rhs: other.shape().to_vec() };
        self.bilinear_wide(other, op)
    }

    /// `op` with one public operand, encoded at the session's scale: local, then truncation.
    fn bilinear_public(
        &self,
        public: &ArrayD<f64>,
        op: BilinearOp,
        public_left: bool,
    ) -> Result<AShare> {
        let p = self.encode_public(public)?;
        let z = if public_left { op.apply(&p, &self.share)? } else { op.apply(&self.share, &p)? };
        let session = self.session.clone();
        session.scoped(op.name(), || self.truncated(z))
    }

    /// Elementwise product with broadcasting (Beaver, one round plus truncation).
    ///
    /// # Errors
    /// Shapes that do not broadcast (before anything is sent), or a communication or
    /// dealer error.
    pub fn mul(&self, other: &AShare) -> Result<AShare> {
        let op = BilinearOp::Mul { lhs: self.shape().to_vec(), rhs: other.shape().to_vec() };
        self.bilinear(other, op)
    }

    /// Elementwise square, with a square pair (one round, half the bytes of `mul`).
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn square(&self) -> Result<AShare> {
        let session = self.session.clone();
        session.scoped("square", || {
            let z = session.context()?.square(&self.share)?;
            self.truncated(z)
        })
    }

    /// (Batched) matrix product: `[.., m, k] x [.., k, n]` or `[.., m, k] x [k, n]`.
    ///
    /// # Errors
    /// As [`mul`](Self::mul).
    pub fn matmul(&self, other: &AShare) -> Result<AShare> {
        let op = BilinearOp::Matmul { lhs: self.shape().to_vec(), rhs: other.shape().to_vec() };
        self.bilinear(other, op)
    }

    /// 1-d convolution of `[N, C, L]` by a shared `[O, C/g, K]` weight.
    ///
    /// # Errors
    /// As [`mul`](Self::mul).
    pub fn conv1d(&self, weight: &AShare, spec: &Conv2dSpec) -> Result<AShare> {
        let op = BilinearOp::Conv1d {
            input: self.shape().to_vec(),
            weight: weight.shape().to_vec(),
            spec: *spec,
        };
        self.bilinear(weight, op)
    }

    /// 2-d convolution of NCHW by a shared OIHW weight.
    ///
    /// # Errors
    /// As [`mul`](Self::mul).
    pub fn conv2d(&self, weight: &AShare, spec: &Conv2dSpec) -> Result<AShare> {
        let op = BilinearOp::Conv2d {
            input: self.shape().to_vec(),
            weight: weight.shape().to_vec(),
            spec: *spec,
        };
        self.bilinear(weight, op)
    }

    /// Gradient of a conv2d with respect to its input, `self` being the output gradient.
    ///
    /// # Errors
    /// As [`mul`](Self::mul).
    pub fn conv2d_input_grad(
        &self,
        weight: &AShare,
        input_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<AShare> {
        let op = BilinearOp::Conv2dInputGrad {
            grad_out: self.shape().to_vec(),
            weight: weight.shape().to_vec(),
            input_shape: input_shape.to_vec(),
            spec: *spec,
        };
        self.bilinear(weight, op)
    }

    /// Gradient of a conv2d with respect to its weight, `self` being the input.
    ///
    /// # Errors
    /// As [`mul`](Self::mul).
    pub fn conv2d_weight_grad(
        &self,
        grad_out: &AShare,
        weight_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<AShare> {
        let op = BilinearOp::Conv2dWeightGrad {
            input: self.shape().to_vec(),
            grad_out: grad_out.shape().to_vec(),
            weight_shape: weight_shape.to_vec(),
            spec: *spec,
        };
        self.bilinear(grad_out, op)
    }

    /// Transposed 2-d convolution by a shared `[I, O/g, kh, kw]` weight.
    ///
    /// # Errors
    /// As [`mul`](Self::mul).
    pub fn conv_transpose2d(
        &self,
        weight: &AShare,
        spec: &Conv2dSpec,
        output_padding: (usize, usize),
    ) -> Result<AShare> {
        let op = BilinearOp::ConvTranspose2d {
            input: self.shape().to_vec(),
            weight: weight.shape().to_vec(),
            spec: *spec,
            output_padding,
        };
        self.bilinear(weight, op)
    }

    /// `self @ p` for a public matrix `p`: local, one truncation.
    ///
    /// # Errors
    /// Mismatched shapes or a bad public value.
    pub fn matmul_public(&self, p: &ArrayD<f64>) -> Result<AShare> {
        let op = BilinearOp::Matmul { lhs: self.shape().to_vec(), rhs: p.shape().to_vec() };
        self.bilinear_public(p, op, false)
    }

    /// `p @ self` for a public matrix `p`: local, one truncation.
    ///
    /// # Errors
    /// Mismatched shapes or a bad public value.
    pub fn public_matmul(&self, p: &ArrayD<f64>) -> Result<AShare> {
        let op = BilinearOp::Matmul { lhs: p.shape().to_vec(), rhs: self.shape().to_vec() };
        self.bilinear_public(p, op, true)
    }

    /// 2-d convolution by a public weight: local, one truncation.
    ///
    /// # Errors
    /// Mismatched shapes or a bad public value.
    pub fn conv2d_public(&self, weight: &ArrayD<f64>, spec: &Conv2dSpec) -> Result<AShare> {
        let op = BilinearOp::Conv2d {
            input: self.shape().to_vec(),
            weight: weight.shape().to_vec(),
            spec: *spec,
        };
        self.bilinear_public(weight, op, false)
    }

    /// 1-d convolution by a public weight: local, one truncation.
    ///
    /// # Errors
    /// Mismatched shapes or a bad public value.
    pub fn conv1d_public(&self, weight: &ArrayD<f64>, spec: &Conv2dSpec) -> Result<AShare> {
        let op = BilinearOp::Conv1d {
            input: self.shape().to_vec(),
            weight: weight.shape().to_vec(),
            spec: *spec,
        };
        self.bilinear_public(weight, op, false)
    }

    /// Elementwise product by an integer-valued shared tensor held at scale 1 (such as a
    /// comparison's bits): one Beaver round and no truncation.
    pub(crate) fn mul_by_bits(&self, bits: &RingTensor<u64>) -> Result<AShare> {
        let op = BilinearOp::Mul { lhs: self.shape().to_vec(), rhs: bits.shape().to_vec() };
        let z = self.session.context()?.beaver(&op, &self.share, bits)?;
        Ok(self.with_share(z))
    }
}
