//! Sums, products and their public-operand forms. Broadcast operands get their gradient
//! summed back to their own shape.

use ndarray::ArrayD;

use crate::backend::Backend;
use crate::error::{AutogradError, Result};
use crate::var::Var;

fn finite(op: &'static str, c: f64) -> Result<()> {
    if c.is_finite() { Ok(()) } else { Err(AutogradError::NotFinite { op, value: c }) }
}

impl<B: Backend> Var<B> {
    /// `self + other`, broadcasting.
    ///
    /// # Errors
    /// Shapes that do not broadcast.
    pub fn add(&self, other: &Var<B>) -> Result<Var<B>> {
        let b = self.backend();
        let out = b.add(&self.value(), &other.value())?;
        let (sa, sb) = (self.shape(), other.shape());
        Var::from_op("add", out, &[self, other], move |b, g| {
            Ok(vec![Some(b.sum_to_shape(g, &sa)?), Some(b.sum_to_shape(g, &sb)?)])
        })
    }

    /// `self - other`, broadcasting.
    ///
    /// # Errors
    /// Shapes that do not broadcast.
    pub fn sub(&self, other: &Var<B>) -> Result<Var<B>> {
        let b = self.backend();
        let out = b.sub(&self.value(), &other.value())?;
        let (sa, sb) = (self.shape(), other.shape());
        Var::from_op("sub", out, &[self, other], move |b, g| {
            Ok(vec![Some(b.sum_to_shape(g, &sa)?), Some(b.neg(&b.sum_to_shape(g, &sb)?))])
        })
    }

    /// `-self`.
    ///
    /// # Errors
    /// None in practice; `Result` for uniformity.
    pub fn neg(&self) -> Result<Var<B>> {
        let out = self.backend().neg(&self.value());
        Var::from_op("neg", out, &[self], |b, g| Ok(vec![Some(b.neg(g))]))
    }

    /// Elementwise `self * other`, broadcasting (one product; its backward two).
    ///
    /// # Errors
    /// Shapes that do not broadcast; the backend's protocol errors.
    pub fn mul(&self, other: &Var<B>) -> Result<Var<B>> {
        let b = self.backend();
        let (x, y) = (self.value(), other.value());
        let out = b.mul(&x, &y)?;
        let (need_x, need_y) = (self.requires_grad(), other.requires_grad());
        Var::from_op("mul", out, &[self, other], move |b, g| {
            let gx =
                if need_x { Some(b.sum_to_shape(&b.mul(g, &y)?, &B::shape(&x))?) } else { None };
            let gy =
                if need_y { Some(b.sum_to_shape(&b.mul(g, &x)?, &B::shape(&y))?) } else { None };
            Ok(vec![gx, gy])
        })
    }

    /// Elementwise square (one product).
    ///
    /// # Errors
    /// The backend's protocol errors.
    pub fn square(&self) -> Result<Var<B>> {
        let b = self.backend();
        let x = self.value();
        let out = b.square(&x)?;
        Var::from_op("square", out, &[self], move |b, g| {
            Ok(vec![Some(b.mul_scalar(&b.mul(g, &x)?, 2.0)?)])
        })
    }

    /// `self + c` for a public scalar.
    ///
    /// # Errors
    /// A non-finite `c`.
    pub fn add_scalar(&self, c: f64) -> Result<Var<B>> {
        finite("add_scalar", c)?;
        let out = self.backend().add_scalar(&self.value(), c)?;
        Var::from_op("add_scalar", out, &[self], |_, g| Ok(vec![Some(g.clone())]))
    }

    /// `self * c` for a public scalar.
    ///
    /// # Errors
    /// A non-finite `c`.
    pub fn mul_scalar(&self, c: f64) -> Result<Var<B>> {
        finite("mul_scalar", c)?;
        let out = self.backend().mul_scalar(&self.value(), c)?;
        Var::from_op("mul_scalar", out, &[self], move |b, g| Ok(vec![Some(b.mul_scalar(g, c)?)]))
    }

    /// `self / c` for a public non-zero scalar.
    ///
    /// # Errors
    /// A zero or non-finite `c`.
    pub fn div_scalar(&self, c: f64) -> Result<Var<B>> {
        if c == 0.0 {
            return Err(crate::error::invalid("div_scalar", "division by zero"));
        }
        self.mul_scalar(1.0 / c)
    }

    /// `self + p` for a public tensor, broadcasting.
    ///
    /// # Errors
    /// Shapes that do not broadcast; non-finite values.
    pub fn add_public(&self, p: &ArrayD<f64>) -> Result<Var<B>> {
        let out = self.backend().add_public(&self.value(), p)?;
        let shape = self.shape();
        Var::from_op("add_public", out, &[self], move |b, g| {
            Ok(vec![Some(b.sum_to_shape(g, &shape)?)])
        })
    }

    /// `self * p` for a public tensor, broadcasting.
    ///
    /// # Errors
    /// Shapes that do not broadcast; non-finite values.
    pub fn mul_public(&self, p: &ArrayD<f64>) -> Result<Var<B>> {
        let out = self.backend().mul_public(&self.value(), p)?;
        let shape = self.shape();
        let p = p.clone();
        Var::from_op("mul_public", out, &[self], move |b, g| {
            Ok(vec![Some(b.sum_to_shape(&b.mul_public(g, &p)?, &shape)?)])
        })
    }

    /// `self / other` elementwise, as `self * reciprocal(other)` (`other > 0` for the
    /// secure backend's reciprocal domain).
    ///
    /// # Errors
    /// Shapes that do not broadcast; the backend's protocol errors.
    pub fn div(&self, other: &Var<B>) -> Result<Var<B>> {
        self.mul(&other.reciprocal()?)
    }
}
