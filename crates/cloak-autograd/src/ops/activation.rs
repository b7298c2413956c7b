//! Activations and elementwise functions. Each backward rule reuses what the forward pass
//! computed (the output, a mask) wherever the derivative is a function of it, so the
//! secure backend pays for no second approximation.

use crate::backend::Backend;
use crate::error::Result;
use crate::var::Var;

impl<B: Backend> Var<B> {
    /// `max(self, 0)`; the backward multiplies by the mask the comparison produced,
    /// `[x >= 0]`: at exactly 0 the gradient is 1, where PyTorch uses 0 (it matters only for
    /// inputs that are exactly zero, such as padding, and both backends agree).
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn relu(&self) -> Result<Var<B>> {
        let (out, mask) = self.backend().relu_with_grad(&self.value())?;
        Var::from_op("relu", out, &[self], move |b, g| Ok(vec![Some(b.mul(g, &mask)?)]))
    }

    /// Clamps into `[lo, hi]` (PyTorch's `hardtanh`); the gradient passes where
    /// `lo < x < hi`.
    ///
    /// # Errors
    /// `lo > hi` or NaN bounds; the backend's protocol errors.
    pub fn hardtanh(&self, lo: f64, hi: f64) -> Result<Var<B>> {
        let (out, mask) = self.backend().clamp_with_grad(&self.value(), lo, hi)?;
        Var::from_op("hardtanh", out, &[self], move |b, g| Ok(vec![Some(b.mul(g, &mask)?)]))
    }

    /// `min(max(self, 0), 6)`.
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn relu6(&self) -> Result<Var<B>> {
        self.hardtanh(0.0, 6.0)
    }

    /// `|self|`; the gradient is `sign(x)` (`+1` at zero).
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn abs(&self) -> Result<Var<B>> {
        let b = self.backend();
        let x = self.value();
        let sign = b.sign(&x)?;
        let out = b.mul(&x, &sign)?;
        Var::from_op("abs", out, &[self], move |b, g| Ok(vec![Some(b.mul(g, &sign)?)]))
    }

    /// The logistic function; the gradient is `y (1 - y)`.
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn sigmoid(&self) -> Result<Var<B>> {
        let y = self.backend().sigmoid(&self.value())?;
        let saved = y.clone();
        Var::from_op("sigmoid", y, &[self], move |b, g| {
            let one_minus = b.add_scalar(&b.neg(&saved), 1.0)?;
            Ok(vec![Some(b.mul(g, &b.mul(&saved, &one_minus)?)?)])
        })
    }

    /// `tanh`; the gradient is `1 - y^2`.
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn tanh(&self) -> Result<Var<B>> {
        let y = self.backend().tanh(&self.value())?;
        let saved = y.clone();
        Var::from_op("tanh", y, &[self], move |b, g| {
            let d = b.add_scalar(&b.neg(&b.square(&saved)?), 1.0)?;
            Ok(vec![Some(b.mul(g, &d)?)])
        })
    }

    /// The error function, elementwise (ONNX's `Erf`, GELU's core); the gradient is
    /// `2 / sqrt(pi) * exp(-x^2)`, computed from the saved input in the backward pass only
    /// (inference pays nothing for it): one `exp` and products, plus, for fixed-point
    /// backends, one comparison that keeps `exp` in its domain (see
    /// [`Backend::erf_grad`]).
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn erf(&self) -> Result<Var<B>> {
        let x = self.value();
        let y = self.backend().erf(&x)?;
        Var::from_op("erf", y, &[self], move |b, g| Ok(vec![Some(b.mul(g, &b.erf_grad(&x)?)?)]))
    }

    /// `exp`; the gradient is the output.
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn exp(&self) -> Result<Var<B>> {
        let y = self.backend().exp(&self.value())?;
        let saved = y.clone();
        Var::from_op("exp", y, &[self], move |b, g| Ok(vec![Some(b.mul(g, &saved)?)]))
    }

    /// Natural log (`self > 0`); the gradient is `1/x`.
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn log(&self) -> Result<Var<B>> {
        let x = self.value();
        let y = self.backend().log(&x)?;
        Var::from_op("log", y, &[self], move |b, g| Ok(vec![Some(b.mul(g, &b.reciprocal(&x)?)?)]))
    }

    /// `1/self` (`self > 0` for the secure backend's default method); the gradient is
    /// `-y^2`.
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn reciprocal(&self) -> Result<Var<B>> {
        let y = self.backend().reciprocal(&self.value())?;
        let saved = y.clone();
        Var::from_op("reciprocal", y, &[self], move |b, g| {
            Ok(vec![Some(b.neg(&b.mul(g, &b.square(&saved)?)?))])
        })
    }

    /// `sqrt` (`self > 0`); the gradient is `1 / (2 y)`.
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn sqrt(&self) -> Result<Var<B>> {
        let x = self.value();
        let b = self.backend();
        let y = b.sqrt(&x)?;
        Var::from_op("sqrt", y, &[self], move |b, g| {
            Ok(vec![Some(b.mul_scalar(&b.mul(g, &b.inv_sqrt(&x)?)?, 0.5)?)])
        })
    }

    /// `1/sqrt(self)` (`self > 0`); the gradient is `-y^3 / 2`.
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn inv_sqrt(&self) -> Result<Var<B>> {
        let y = self.backend().inv_sqrt(&self.value())?;
        let saved = y.clone();
        Var::from_op("inv_sqrt", y, &[self], move |b, g| {
            let cube = b.mul(&b.square(&saved)?, &saved)?;
            Ok(vec![Some(b.mul_scalar(&b.mul(g, &cube)?, -0.5)?)])
        })
    }

    /// `softmax` along `axis`; the gradient is `y (g - sum(g y))`.
    ///
    /// # Errors
    /// `axis` out of range; the backend's protocol errors.
    pub fn softmax(&self, axis: usize) -> Result<Var<B>> {
        let y = self.backend().softmax(&self.value(), axis)?;
        let saved = y.clone();
        Var::from_op("softmax", y, &[self], move |b, g| {
            let gy = b.mul(g, &saved)?;
            let s = b.sum(&gy, axis, true)?;
            Ok(vec![Some(b.sub(&gy, &b.mul(&saved, &s)?)?)])
        })
    }

    /// `log_softmax` along `axis`; the gradient is `g - softmax(x) sum(g)`. The softmax is
    /// computed from the input in the backward pass (not as `exp` of the output, whose
    /// very negative entries would leave `exp`'s domain).
    ///
    /// # Errors
    /// `axis` out of range; the backend's protocol errors.
    pub fn log_softmax(&self, axis: usize) -> Result<Var<B>> {
        let x = self.value();
        let y = self.backend().log_softmax(&x, axis)?;
        Var::from_op("log_softmax", y, &[self], move |b, g| {
            let soft = b.softmax(&x, axis)?;
            let s = b.sum(g, axis, true)?;
            Ok(vec![Some(b.sub(g, &b.mul(&soft, &s)?)?)])
        })
    }
}
