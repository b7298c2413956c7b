//! The secure backend: secret-shared [`AShare`] tensors, every operation a protocol of
//! `cloak-mpc`.

use cloak_mpc::{AShare, FixedOperand, MaxMethod, Pool2dSpec, Session};
use cloak_ring::{Conv2dSpec, RingTensor};
use ndarray::ArrayD;

use crate::backend::Backend;
use crate::error::{Result, invalid};
use crate::prepared::PreparedRhs;

/// Secret-shared tensors in one party's [`Session`].
#[derive(Clone, Debug)]
pub struct Secure {
    session: Session,
}

impl Secure {
    /// The backend of `session`.
    #[must_use]
    pub fn new(session: &Session) -> Self {
        Self { session: session.clone() }
    }

    /// The party's session.
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn wrap(&self, share: RingTensor<u64>) -> AShare {
        AShare::from_share(&self.session, share)
    }
}

impl Backend for Secure {
    type Tensor = AShare;

    fn name(&self) -> &'static str {
        "secure"
    }

    fn rank(&self) -> usize {
        self.session.rank()
    }

    fn parties(&self) -> usize {
        self.session.parties()
    }

    fn resolution(&self) -> f64 {
        (-f64::from(self.session.fixed_point().frac_bits())).exp2()
    }

    fn shape(t: &AShare) -> Vec<usize> {
        t.shape().to_vec()
    }

    fn input(&self, owner: usize, value: Option<&ArrayD<f64>>, shape: &[usize]) -> Result<AShare> {
        Ok(AShare::share(&self.session, owner, value, shape)?)
    }

    fn public(&self, value: &ArrayD<f64>) -> Result<AShare> {
        Ok(AShare::from_public(&self.session, value)?)
    }

    fn zeros(&self, shape: &[usize]) -> AShare {
        AShare::zeros(&self.session, shape)
    }

    fn reveal(&self, t: &AShare) -> Result<ArrayD<f64>> {
        Ok(t.reveal()?)
    }

    fn reveal_to(&self, t: &AShare, party: usize) -> Result<Option<ArrayD<f64>>> {
        Ok(t.reveal_to(party)?)
    }

    fn export_words(&self, t: &AShare) -> Vec<u64> {
        t.share_tensor().to_vec()
    }

    fn import_words(&self, shape: &[usize], words: Vec<u64>) -> Result<AShare> {
        Ok(self.wrap(RingTensor::from_vec(shape, words).map_err(cloak_mpc::MpcError::from)?))
    }

    fn add(&self, a: &AShare, b: &AShare) -> Result<AShare> {
        Ok(a.add(b)?)
    }

    fn sub(&self, a: &AShare, b: &AShare) -> Result<AShare> {
        Ok(a.sub(b)?)
    }

    fn neg(&self, a: &AShare) -> AShare {
        a.neg()
    }

    fn add_scalar(&self, a: &AShare, c: f64) -> Result<AShare> {
        Ok(a.add_scalar(c)?)
    }

    fn mul_scalar(&self, a: &AShare, c: f64) -> Result<AShare> {
        Ok(a.mul_scalar(c)?)
    }

    fn add_public(&self, a: &AShare, p: &ArrayD<f64>) -> Result<AShare> {
        Ok(a.add_public(p)?)
    }

    fn mul_public(&self, a: &AShare, p: &ArrayD<f64>) -> Result<AShare> {
        Ok(a.mul_public(p)?)
    }

    fn matmul_public(&self, a: &AShare, p: &ArrayD<f64>) -> Result<AShare> {
        Ok(a.matmul_public(p)?)
    }

    fn sum(&self, a: &AShare, axis: usize, keepdim: bool) -> Result<AShare> {
        Ok(a.sum(axis, keepdim)?)
    }

    fn sum_to_shape(&self, a: &AShare, shape: &[usize]) -> Result<AShare> {
        Ok(a.sum_to_shape(shape)?)
    }

    fn broadcast_to(&self, a: &AShare, shape: &[usize]) -> Result<AShare> {
        Ok(a.broadcast_to(shape)?)
    }

    fn reshape(&self, a: &AShare, shape: &[usize]) -> Result<AShare> {
        Ok(a.reshape(shape)?)
    }

    fn permute(&self, a: &AShare, axes: &[usize]) -> Result<AShare> {
        Ok(a.permute(axes)?)
    }

    fn concat(&self, parts: &[&AShare], axis: usize) -> Result<AShare> {
        Ok(AShare::concat(parts, axis)?)
    }

    fn slice(&self, a: &AShare, axis: usize, start: usize, end: usize) -> Result<AShare> {
        Ok(a.slice(axis, start, end, 1)?)
    }

    fn pad2d(&self, a: &AShare, pad: (usize, usize), crop: bool) -> Result<AShare> {
        let nd = a.shape().len();
        if nd < 2 {
            return Err(invalid("pad2d", format!("needs two spatial axes, got {:?}", a.shape())));
        }
        if crop {
            let (h, w) = (a.shape()[nd - 2], a.shape()[nd - 1]);
            if 2 * pad.0 > h || 2 * pad.1 > w {
                return Err(invalid("pad2d", format!("cannot crop {pad:?} from {:?}", a.shape())));
            }
            let rows = a.slice(nd - 2, pad.0, h - pad.0, 1)?;
            Ok(rows.slice(nd - 1, pad.1, w - pad.1, 1)?)
        } else {
            let mut pads = vec![(0, 0); nd];
            pads[nd - 2] = (pad.0, pad.0);
            pads[nd - 1] = (pad.1, pad.1);
            Ok(a.pad(&pads, 0.0)?)
        }
    }

    fn pad(&self, a: &AShare, pads: &[(usize, usize)], value: f64) -> Result<AShare> {
        Ok(a.pad(pads, value)?)
    }

    fn index_select(&self, a: &AShare, axis: usize, indices: &[usize]) -> Result<AShare> {
        Ok(a.index_select(axis, indices)?)
    }

    fn index_add(
        &self,
        a: &AShare,
        axis: usize,
        indices: &[usize],
        src: &AShare,
    ) -> Result<AShare> {
        Ok(a.index_add(axis, indices, src)?)
    }

    fn mul(&self, a: &AShare, b: &AShare) -> Result<AShare> {
        Ok(a.mul(b)?)
    }

    fn square(&self, a: &AShare) -> Result<AShare> {
        Ok(a.square()?)
    }

    fn matmul(&self, a: &AShare, b: &AShare) -> Result<AShare> {
        Ok(a.matmul(b)?)
    }

    fn conv2d(&self, x: &AShare, w: &AShare, spec: &Conv2dSpec) -> Result<AShare> {
        Ok(x.conv2d(w, spec)?)
    }

    fn prepare_rhs(&self, w: &AShare) -> Result<Option<PreparedRhs>> {
        Ok(w.try_fix()?.map(PreparedRhs::new))
    }

    fn conv2d_prepared(
        &self,
        x: &AShare,
        w: &AShare,
        prepared: &PreparedRhs,
        spec: &Conv2dSpec,
    ) -> Result<AShare> {
        match prepared.get::<FixedOperand>() {
            Some(fixed) => Ok(x.conv2d_fixed(fixed, spec)?),
            None => self.conv2d(x, w, spec),
        }
    }

    /// The product left at twice the scale, the bias raised to it, then one fused
    /// rescaling and ReLU ([`AShare::truncate_relu`]).
    fn conv2d_relu(
        &self,
        x: &AShare,
        w: &AShare,
        prepared: Option<&PreparedRhs>,
        bias: Option<&AShare>,
        spec: &Conv2dSpec,
    ) -> Result<AShare> {
        let f = self.session.fixed_point().frac_bits();
        let wide = match prepared.and_then(PreparedRhs::get::<FixedOperand>) {
            Some(fixed) => x.conv2d_fixed_wide(fixed, spec)?,
            None => x.conv2d_wide(w, spec)?,
        };
        let wide = match bias {
            Some(b) => {
                let raised = b.broadcast_to(wide.shape())?.share_tensor().mul_scalar(1u64 << f);
                wide.add(&AShare::from_share(&self.session, raised))?
            }
            None => wide,
        };
        Ok(wide.truncate_relu(f)?)
    }

    fn matmul_prepared(&self, x: &AShare, w: &AShare, prepared: &PreparedRhs) -> Result<AShare> {
        match prepared.get::<FixedOperand>() {
            Some(fixed) => Ok(x.matmul_fixed(fixed)?),
            None => self.matmul(x, w),
        }
    }

    fn conv2d_input_grad(
        &self,
        grad: &AShare,
        w: &AShare,
        input_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<AShare> {
        Ok(grad.conv2d_input_grad(w, input_shape, spec)?)
    }

    fn conv2d_weight_grad(
        &self,
        x: &AShare,
        grad: &AShare,
        weight_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<AShare> {
        Ok(x.conv2d_weight_grad(grad, weight_shape, spec)?)
    }

    fn conv_transpose2d(
        &self,
        x: &AShare,
        w: &AShare,
        spec: &Conv2dSpec,
        output_padding: (usize, usize),
    ) -> Result<AShare> {
        Ok(x.conv_transpose2d(w, spec, output_padding)?)
    }

    fn relu_with_grad(&self, a: &AShare) -> Result<(AShare, AShare)> {
        Ok(a.relu_with_grad()?)
    }

    /// `clamp = a + relu(lo - a) - relu(a - hi)` with both ReLUs in one batched circuit;
    /// their masks are `[a <= lo]` and `[a >= hi]`, so `1 - both` is `[lo < a < hi]`.
    fn clamp_with_grad(&self, a: &AShare, lo: f64, hi: f64) -> Result<(AShare, AShare)> {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(invalid("clamp", format!("bounds [{lo}, {hi}]")));
        }
        if lo == hi {
            // A constant: no gradient anywhere.
            let zeros = AShare::zeros(&self.session, a.shape());
            return Ok((zeros.add_scalar(lo)?, zeros));
        }
        let flat = a.flatten();
        let n = flat.len();
        let below = flat.neg().add_scalar(lo)?;
        let above = flat.add_scalar(-hi)?;
        let (r, m) = AShare::concat(&[&below, &above], 0)?.relu_with_grad()?;
        let (r_lo, r_hi) = (r.slice(0, 0, n, 1)?, r.slice(0, n, 2 * n, 1)?);
        let (m_lo, m_hi) = (m.slice(0, 0, n, 1)?, m.slice(0, n, 2 * n, 1)?);
        let out = flat.add(&r_lo)?.sub(&r_hi)?.reshape(a.shape())?;
        let mask = m_lo.add(&m_hi)?.neg().add_scalar(1.0)?.reshape(a.shape())?;
        Ok((out, mask))
    }

    fn sign(&self, a: &AShare) -> Result<AShare> {
        Ok(a.sign()?)
    }

    fn abs(&self, a: &AShare) -> Result<AShare> {
        Ok(a.abs()?)
    }

    fn max(&self, a: &AShare, axis: usize, keepdim: bool) -> Result<AShare> {
        Ok(a.max(axis, keepdim)?)
    }

    fn argmax_onehot(&self, a: &AShare, axis: usize) -> Result<AShare> {
        Ok(a.argmax(axis)?)
    }

    /// The tree reduction carries the winner's one-hot along: one set of comparisons for
    /// both (the default would run the tree twice).
    fn max_with_onehot(&self, a: &AShare, axis: usize, keepdim: bool) -> Result<(AShare, AShare)> {
        Ok(a.max_with_argmax(axis, keepdim, MaxMethod::Tree)?)
    }

    fn max_pool2d(&self, x: &AShare, spec: &Pool2dSpec) -> Result<(AShare, AShare)> {
        Ok(x.max_pool2d(spec)?)
    }

    fn max_pool2d_values(&self, x: &AShare, spec: &Pool2dSpec) -> Result<AShare> {
        Ok(x.max_pool2d_values(spec)?)
    }

    fn max_pool2d_backward(
        &self,
        grad: &AShare,
        onehot: &AShare,
        input_shape: &[usize],
        spec: &Pool2dSpec,
    ) -> Result<AShare> {
        Ok(AShare::max_pool2d_backward(grad, onehot, input_shape, spec)?)
    }

    fn avg_pool2d(&self, x: &AShare, spec: &Pool2dSpec) -> Result<AShare> {
        Ok(x.avg_pool2d(spec)?)
    }

    fn avg_pool2d_backward(
        &self,
        grad: &AShare,
        input_shape: &[usize],
        spec: &Pool2dSpec,
    ) -> Result<AShare> {
        Ok(AShare::avg_pool2d_backward(grad, input_shape, spec)?)
    }

    fn exp(&self, a: &AShare) -> Result<AShare> {
        Ok(a.exp()?)
    }

    fn log(&self, a: &AShare) -> Result<AShare> {
        Ok(a.log()?)
    }

    fn reciprocal(&self, a: &AShare) -> Result<AShare> {
        Ok(a.reciprocal()?)
    }

    fn sqrt(&self, a: &AShare) -> Result<AShare> {
        Ok(a.sqrt()?)
    }

    fn inv_sqrt(&self, a: &AShare) -> Result<AShare> {
        Ok(a.inv_sqrt()?)
    }

    fn sigmoid(&self, a: &AShare) -> Result<AShare> {
        Ok(a.sigmoid()?)
    }

    fn tanh(&self, a: &AShare) -> Result<AShare> {
        Ok(a.tanh()?)
    }

    fn erf(&self, a: &AShare) -> Result<AShare> {
        Ok(a.erf()?)
    }

    fn softmax(&self, a: &AShare, axis: usize) -> Result<AShare> {
        Ok(a.softmax(axis)?)
    }

    fn log_softmax(&self, a: &AShare, axis: usize) -> Result<AShare> {
        Ok(a.log_softmax(axis)?)
    }

    fn softmax_and_log_softmax(&self, a: &AShare, axis: usize) -> Result<(AShare, AShare)> {
        Ok(a.softmax_and_log_softmax(axis)?)
    }
}
