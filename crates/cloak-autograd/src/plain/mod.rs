//! The plain backend: the same operations as the secure one, on cleartext `ArrayD<f64>`.
//!
//! [`Plain`] is the reference a private run is checked against, so every operation is the
//! exact mathematical definition in f64 with PyTorch's semantics (NumPy broadcasting,
//! first maximum wins, zero padding counted in average pooling, IEEE results such as `NaN`
//! for `log(-1)`). Only inputs are checked for finiteness: a value that enters the
//! computation (an input, a public tensor or scalar) must be finite, as it must be for the
//! fixed-point backend.
//!
//! The operations live in small modules, one kind each: [`shape`] (broadcasting and
//! layout), [`reduce`] (sums, maxima, softmax), [`matmul`], [`conv`] and [`pool`].

mod conv;
mod matmul;
mod pool;
mod reduce;
mod shape;
#[cfg(test)]
mod tests;

use cloak_mpc::Pool2dSpec;
use cloak_ring::Conv2dSpec;
use ndarray::{ArrayD, IxDyn};

use crate::backend::Backend;
use crate::error::{AutogradError, Result, invalid, shape_mismatch};

/// The cleartext f64 backend: one party, no protocol, exact arithmetic in `f64`.
///
/// Models built on `Plain` from the same seed as a secure run are the reference its values
/// and gradients are compared with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plain;

/// The element count of `shape`, or an error if it does not fit in memory addressing.
fn numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| isize::try_from(n).is_ok())
        .ok_or_else(|| invalid(op, format!("shape {shape:?} has too many elements")))
}

/// An array of `shape` from its elements in row-major order.
fn from_vec(op: &'static str, shape: &[usize], v: Vec<f64>) -> Result<ArrayD<f64>> {
    let len = v.len();
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|_| shape_mismatch(op, shape, &[len]))
}

/// The elements of `a` in logical row-major order, whatever its memory layout.
fn to_vec(a: &ArrayD<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

/// An error unless `axis` names one of `a`'s axes.
fn check_axis(op: &'static str, a: &ArrayD<f64>, axis: usize) -> Result<()> {
    if axis < a.ndim() {
        Ok(())
    } else {
        Err(invalid(op, format!("axis {axis} out of range for shape {:?}", a.shape())))
    }
}

/// An error naming the first element of `a` that is NaN or infinite.
fn check_finite(op: &'static str, a: &ArrayD<f64>) -> Result<()> {
    match a.iter().find(|v| !v.is_finite()) {
        Some(&value) => Err(AutogradError::NotFinite { op, value }),
        None => Ok(()),
    }
}

/// An error if the public scalar `c` is NaN or infinite.
fn check_scalar(op: &'static str, c: f64) -> Result<()> {
    if c.is_finite() { Ok(()) } else { Err(AutogradError::NotFinite { op, value: c }) }
}

/// The logistic function, without overflow for large `|x|`.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The error function to a few ulps, by Abramowitz & Stegun 7.1.6:
/// `erf(z) = 2 / sqrt(pi) * exp(-z^2) * sum_n (2 z^2)^n z / (1 * 3 * ... * (2n + 1))`.
/// Every term is positive, so nothing cancels at any `z` (the Taylor series alternates and
/// loses digits beyond 2), and the terms fall below `1e-17` of the sum within 100 for
/// `z < 6`; from 6 on, erf is 1 to within half an ulp (`erfc(6) = 2e-17`). Against
/// CPython's `math.erf` on a dense grid of `[0, 6]` the relative error stays below `2e-15`
/// (9 ulps, near `z = 4.7`). The standard library has no `erf`, and the reference backend
/// must be exact enough for finite differences at `h = 1e-6`.
fn erf(x: f64) -> f64 {
    let z = x.abs();
    if z.is_nan() {
        return x;
    }
    if z >= 6.0 {
        return 1f64.copysign(x);
    }
    let two_z2 = 2.0 * z * z;
    let (mut term, mut sum, mut odd) = (z, z, 1.0);
    for _ in 0..400 {
        odd += 2.0;
        term *= two_z2 / odd;
        sum += term;
        if term <= sum * 1e-17 {
            break;
        }
    }
    (std::f64::consts::FRAC_2_SQRT_PI * (-z * z).exp() * sum).copysign(x)
}

impl Backend for Plain {
    type Tensor = ArrayD<f64>;

    fn name(&self) -> &'static str {
        "plain"
    }

    fn rank(&self) -> usize {
        0
    }

    fn parties(&self) -> usize {
        1
    }

    fn resolution(&self) -> f64 {
        0.0
    }

    fn shape(t: &ArrayD<f64>) -> Vec<usize> {
        t.shape().to_vec()
    }

    fn input(
        &self,
        owner: usize,
        value: Option<&ArrayD<f64>>,
        shape: &[usize],
    ) -> Result<ArrayD<f64>> {
        let op = "input";
        if owner != 0 {
            return Err(invalid(
                op,
                format!("owner {owner}, but the plain backend has party 0 only"),
            ));
        }
        let value = value.ok_or_else(|| invalid(op, "the owner passed no value"))?;
        if value.shape() != shape {
            return Err(shape_mismatch(op, value.shape(), shape));
        }
        check_finite(op, value)?;
        Ok(value.clone())
    }

    fn public(&self, value: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        check_finite("public", value)?;
        Ok(value.clone())
    }

    fn zeros(&self, shape: &[usize]) -> ArrayD<f64> {
        ArrayD::zeros(IxDyn(shape))
    }

    fn reveal(&self, t: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(t.clone())
    }

    fn reveal_to(&self, t: &ArrayD<f64>, party: usize) -> Result<Option<ArrayD<f64>>> {
        if party == 0 {
            Ok(Some(t.clone()))
        } else {
            Err(invalid(
                "reveal_to",
                format!("party {party}, but the plain backend has party 0 only"),
            ))
        }
    }

    fn export_words(&self, t: &ArrayD<f64>) -> Vec<u64> {
        t.iter().map(|v| v.to_bits()).collect()
    }

    fn import_words(&self, shape: &[usize], words: Vec<u64>) -> Result<ArrayD<f64>> {
        let op = "import_words";
        if numel(op, shape)? != words.len() {
            return Err(shape_mismatch(op, shape, &[words.len()]));
        }
        from_vec(op, shape, words.into_iter().map(f64::from_bits).collect())
    }

    fn add(&self, a: &ArrayD<f64>, b: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        shape::zip_broadcast("add", a, b, |x, y| x + y)
    }

    fn sub(&self, a: &ArrayD<f64>, b: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        shape::zip_broadcast("sub", a, b, |x, y| x - y)
    }

    fn neg(&self, a: &ArrayD<f64>) -> ArrayD<f64> {
        a.mapv(|x| -x)
    }

    fn add_scalar(&self, a: &ArrayD<f64>, c: f64) -> Result<ArrayD<f64>> {
        check_scalar("add_scalar", c)?;
        Ok(a.mapv(|x| x + c))
    }

    fn mul_scalar(&self, a: &ArrayD<f64>, c: f64) -> Result<ArrayD<f64>> {
        check_scalar("mul_scalar", c)?;
        Ok(a.mapv(|x| x * c))
    }

    fn add_public(&self, a: &ArrayD<f64>, p: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        check_finite("add_public", p)?;
        shape::zip_broadcast("add_public", a, p, |x, y| x + y)
    }

    fn mul_public(&self, a: &ArrayD<f64>, p: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        check_finite("mul_public", p)?;
        shape::zip_broadcast("mul_public", a, p, |x, y| x * y)
    }

    fn matmul_public(&self, a: &ArrayD<f64>, p: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        check_finite("matmul_public", p)?;
        matmul::matmul("matmul_public", a, p)
    }

    fn sum(&self, a: &ArrayD<f64>, axis: usize, keepdim: bool) -> Result<ArrayD<f64>> {
        reduce::sum(a, axis, keepdim)
    }

    fn sum_to_shape(&self, a: &ArrayD<f64>, shape: &[usize]) -> Result<ArrayD<f64>> {
        shape::sum_to_shape(a, shape)
    }

    fn broadcast_to(&self, a: &ArrayD<f64>, shape: &[usize]) -> Result<ArrayD<f64>> {
        shape::broadcast_to(a, shape)
    }

    fn reshape(&self, a: &ArrayD<f64>, shape: &[usize]) -> Result<ArrayD<f64>> {
        shape::reshape(a, shape)
    }

    fn permute(&self, a: &ArrayD<f64>, axes: &[usize]) -> Result<ArrayD<f64>> {
        shape::permute(a, axes)
    }

    fn concat(&self, parts: &[&ArrayD<f64>], axis: usize) -> Result<ArrayD<f64>> {
        shape::concat(parts, axis)
    }

    fn slice(&self, a: &ArrayD<f64>, axis: usize, start: usize, end: usize) -> Result<ArrayD<f64>> {
        shape::slice(a, axis, start, end)
    }

    fn pad2d(&self, a: &ArrayD<f64>, pad: (usize, usize), crop: bool) -> Result<ArrayD<f64>> {
        shape::pad2d(a, pad, crop)
    }

    fn pad(&self, a: &ArrayD<f64>, pads: &[(usize, usize)], value: f64) -> Result<ArrayD<f64>> {
        check_scalar("pad", value)?;
        shape::pad(a, pads, value)
    }

    fn index_select(&self, a: &ArrayD<f64>, axis: usize, indices: &[usize]) -> Result<ArrayD<f64>> {
        shape::index_select(a, axis, indices)
    }

    fn index_add(
        &self,
        a: &ArrayD<f64>,
        axis: usize,
        indices: &[usize],
        src: &ArrayD<f64>,
    ) -> Result<ArrayD<f64>> {
        shape::index_add(a, axis, indices, src)
    }

    fn mul(&self, a: &ArrayD<f64>, b: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        shape::zip_broadcast("mul", a, b, |x, y| x * y)
    }

    fn square(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(|x| x * x))
    }

    fn matmul(&self, a: &ArrayD<f64>, b: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        matmul::matmul("matmul", a, b)
    }

    fn conv2d(&self, x: &ArrayD<f64>, w: &ArrayD<f64>, spec: &Conv2dSpec) -> Result<ArrayD<f64>> {
        conv::conv2d(x, w, spec)
    }

    fn conv2d_input_grad(
        &self,
        grad: &ArrayD<f64>,
        w: &ArrayD<f64>,
        input_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<ArrayD<f64>> {
        conv::conv2d_input_grad(grad, w, input_shape, spec)
    }

    fn conv2d_weight_grad(
        &self,
        x: &ArrayD<f64>,
        grad: &ArrayD<f64>,
        weight_shape: &[usize],
        spec: &Conv2dSpec,
    ) -> Result<ArrayD<f64>> {
        conv::conv2d_weight_grad(x, grad, weight_shape, spec)
    }

    fn conv_transpose2d(
        &self,
        x: &ArrayD<f64>,
        w: &ArrayD<f64>,
        spec: &Conv2dSpec,
        output_padding: (usize, usize),
    ) -> Result<ArrayD<f64>> {
        conv::conv_transpose2d(x, w, spec, output_padding)
    }

    fn relu_with_grad(&self, a: &ArrayD<f64>) -> Result<(ArrayD<f64>, ArrayD<f64>)> {
        // `x < 0` is false for NaN, so NaN passes through as in PyTorch.
        let out = a.mapv(|x| if x < 0.0 { 0.0 } else { x });
        let mask = a.mapv(|x| if x >= 0.0 { 1.0 } else { 0.0 });
        Ok((out, mask))
    }

    fn clamp_with_grad(
        &self,
        a: &ArrayD<f64>,
        lo: f64,
        hi: f64,
    ) -> Result<(ArrayD<f64>, ArrayD<f64>)> {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(invalid("clamp", format!("bounds [{lo}, {hi}] are not ordered")));
        }
        let out = a.mapv(|x| {
            if x < lo {
                lo
            } else if x > hi {
                hi
            } else {
                x
            }
        });
        let mask = a.mapv(|x| if lo < x && x < hi { 1.0 } else { 0.0 });
        Ok((out, mask))
    }

    fn sign(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(|x| if x >= 0.0 { 1.0 } else { -1.0 }))
    }

    fn abs(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(f64::abs))
    }

    fn max(&self, a: &ArrayD<f64>, axis: usize, keepdim: bool) -> Result<ArrayD<f64>> {
        reduce::max(a, axis, keepdim)
    }

    fn argmax_onehot(&self, a: &ArrayD<f64>, axis: usize) -> Result<ArrayD<f64>> {
        reduce::argmax_onehot(a, axis)
    }

    fn max_pool2d(&self, x: &ArrayD<f64>, spec: &Pool2dSpec) -> Result<(ArrayD<f64>, ArrayD<f64>)> {
        pool::max_pool2d(x, spec)
    }

    fn max_pool2d_backward(
        &self,
        grad: &ArrayD<f64>,
        onehot: &ArrayD<f64>,
        input_shape: &[usize],
        spec: &Pool2dSpec,
    ) -> Result<ArrayD<f64>> {
        pool::max_pool2d_backward(grad, onehot, input_shape, spec)
    }

    fn avg_pool2d(&self, x: &ArrayD<f64>, spec: &Pool2dSpec) -> Result<ArrayD<f64>> {
        pool::avg_pool2d(x, spec)
    }

    fn avg_pool2d_backward(
        &self,
        grad: &ArrayD<f64>,
        input_shape: &[usize],
        spec: &Pool2dSpec,
    ) -> Result<ArrayD<f64>> {
        pool::avg_pool2d_backward(grad, input_shape, spec)
    }

    fn exp(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(f64::exp))
    }

    fn log(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(f64::ln))
    }

    fn reciprocal(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(f64::recip))
    }

    fn sqrt(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(f64::sqrt))
    }

    fn inv_sqrt(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(|x| 1.0 / x.sqrt()))
    }

    fn sigmoid(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(sigmoid))
    }

    fn tanh(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(f64::tanh))
    }

    fn erf(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(erf))
    }

    /// The formula itself: f64's `exp` has no domain to leave.
    fn erf_grad(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        Ok(a.mapv(|x| std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp()))
    }

    fn softmax(&self, a: &ArrayD<f64>, axis: usize) -> Result<ArrayD<f64>> {
        reduce::softmax(a, axis)
    }

    fn log_softmax(&self, a: &ArrayD<f64>, axis: usize) -> Result<ArrayD<f64>> {
        reduce::log_softmax(a, axis)
    }
}
