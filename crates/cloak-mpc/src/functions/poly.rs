//! Chebyshev series: fitted in `f64` when a function is called, evaluated on shares.
//!
//! A series `sum_k c_k T_k(t)` on `t` in `[-1, 1]` is evaluated from the polynomials
//! `T_k(t)`, which stay within `[-1, 1]` there, so no term overflows and rounding does not
//! grow with the degree as it does for monomials. `T_0 .. T_{2^r}` known, the next level
//! `T_{2^r + j} = 2 T_{2^r} T_j - T_{2^r - j}` takes one round for all `j`: degree `d`
//! costs `ceil(log2 d)` rounds.

use std::f64::consts::PI;

use crate::error::Result;
use crate::functions::fx::{Fx, mul_many};
use crate::functions::lincomb::{LinComb, mul_const};
use crate::primitives::Context;

/// Chebyshev coefficients `c_0 .. c_degree` of `f` on `[lo, hi]`, by interpolation at the
/// Chebyshev nodes (within a small factor of the best uniform approximation).
pub(crate) fn chebyshev_fit(f: impl Fn(f64) -> f64, lo: f64, hi: f64, degree: usize) -> Vec<f64> {
    let n = degree + 1;
    let nodes = 2 * n.max(32);
    let (mid, half) = ((hi + lo) / 2.0, (hi - lo) / 2.0);
    let samples: Vec<(f64, f64)> = (0..nodes)
        .map(|i| {
            let theta = PI * (i as f64 + 0.5) / nodes as f64;
            (theta, f(mid + half * theta.cos()))
        })
        .collect();
    (0..n)
        .map(|k| {
            let s: f64 = samples.iter().map(|(theta, y)| y * (k as f64 * theta).cos()).sum();
            let c = 2.0 * s / nodes as f64;
            if k == 0 { c / 2.0 } else { c }
        })
        .collect()
}

/// The value of a Chebyshev series at `t` in `[-1, 1]` (Clenshaw), for choosing degrees.
pub(crate) fn chebyshev_value(coeffs: &[f64], t: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    for &c in coeffs.iter().skip(1).rev() {
        let b = 2.0 * t * b1 - b2 + c;
        b2 = b1;
        b1 = b;
    }
    t * b1 - b2 + coeffs.first().copied().unwrap_or(0.0)
}

/// The least degree up to `max_degree` whose fit of `f` on `[lo, hi]` is within `tol`
/// (checked on a fine grid), and its coefficients.
pub(crate) fn fit_within(
    f: impl Fn(f64) -> f64 + Copy,
    lo: f64,
    hi: f64,
    tol: f64,
    max_degree: usize,
) -> Vec<f64> {
    let mut degree = 1;
    loop {
        let c = chebyshev_fit(f, lo, hi, degree);
        let worst = (0..=400)
            .map(|i| {
                let t = -1.0 + 2.0 * i as f64 / 400.0;
                let x = (hi + lo) / 2.0 + (hi - lo) / 2.0 * t;
                (chebyshev_value(&c, t) - f(x)).abs()
            })
            .fold(0.0, f64::max);
        if worst <= tol || degree >= max_degree {
            return c;
        }
        degree += 1;
    }
}

/// Shares of `T_0(t) .. T_degree(t)` at `t`'s scale, `ceil(log2 degree)` rounds.
pub(crate) fn chebyshev_basis(state: &mut Context, t: &Fx, degree: usize) -> Result<Vec<Fx>> {
    chebyshev_basis_for(state, t, degree, &|_| true)
}

/// As [`chebyshev_basis`], but the last level computes only the `T_k` with `needed(k)`
/// (the others are left zero): an odd series needs only the odd ones there.
pub(crate) fn chebyshev_basis_for(
    state: &mut Context,
    t: &Fx,
    degree: usize,
    needed: &dyn Fn(usize) -> bool,
) -> Result<Vec<Fx>> {
    let rank = state.rank();
    let mut basis = vec![Fx::constant_like(t, 1.0, t.frac, rank), t.clone()];
    let mut top = 1;
    while top < degree {
        let next = (2 * top).min(degree);
        let last = next == degree;
        let ks: Vec<usize> = (top + 1..=next).filter(|&k| !last || needed(k)).collect();
        let pairs: Vec<(&Fx, &Fx)> = ks.iter().map(|&k| (&basis[top], &basis[k - top])).collect();
        let products = mul_many(state, &pairs, t.frac)?;
        let mut products = ks.iter().copied().zip(products).peekable();
        for k in top + 1..=next {
            // T_k = 2 T_top T_{k - top} - T_{2 top - k}
            match products.next_if(|(j, _)| *j == k) {
                Some((_, p)) => {
                    let doubled = p.mul_int(2);
                    let term = doubled.sub(&basis[2 * top - k])?;
                    basis.push(term);
                }
                None => basis.push(Fx::constant_like(t, 0.0, t.frac, rank)),
            }
        }
        top = next;
    }
    basis.truncate(degree + 1);
    Ok(basis)
}

/// Whether a coefficient matters (relative to the largest).
pub(crate) fn significant(coeffs: &[f64]) -> impl Fn(usize) -> bool + '_ {
    let max = coeffs.iter().fold(0.0f64, |a, c| a.max(c.abs()));
    move |k| coeffs.get(k).is_some_and(|c| c.abs() > 1e-12 * max)
}

/// `sum_k coeffs[k] T_k` at scale `out_frac` (one truncation).
pub(crate) fn chebyshev_sum(
    state: &mut Context,
    basis: &[Fx],
    coeffs: &[f64],
    out_frac: u32,
) -> Result<Fx> {
    chebyshev_comb(state.rank(), basis, coeffs)?.finish(state, out_frac)
}

/// `sum_k coeffs[k] T_k` as a combination still open to more terms.
pub(crate) fn chebyshev_comb(rank: usize, basis: &[Fx], coeffs: &[f64]) -> Result<LinComb> {
    let frac = basis.first().map_or(0, |b| b.frac);
    let mut comb = LinComb::new(frac);
    comb.add_const(coeffs.first().copied().unwrap_or(0.0), rank);
    for (c, t) in coeffs.iter().zip(basis).skip(1) {
        comb.add_term(*c, t)?;
    }
    Ok(comb)
}

/// Shares of `x^1 .. x^n` at `x`'s scale, `ceil(log2 n)` rounds (each round multiplies
/// the powers known so far by the highest of them).
pub(crate) fn powers(state: &mut Context, x: &Fx, n: usize) -> Result<Vec<Fx>> {
    let mut out = vec![x.clone()];
    while out.len() < n {
        let top = out.len();
        let next = (2 * top).min(n);
        let pairs: Vec<(&Fx, &Fx)> =
            (top + 1..=next).map(|k| (&out[top - 1], &out[k - top - 1])).collect();
        let products = mul_many(state, &pairs, x.frac)?;
        out.extend(products);
    }
    out.truncate(n);
    Ok(out)
}

/// The series of `f` fitted on `[lo, hi]` at the shared `x` (at `x`'s scale), for `x` in
/// `[lo, hi]`: maps `x` to `t` exactly where the interval allows, then the basis and sum.
pub(crate) fn chebyshev_eval(
    state: &mut Context,
    x: &Fx,
    lo: f64,
    hi: f64,
    coeffs: &[f64],
) -> Result<Fx> {
    let t = to_unit_interval(state, x, lo, hi)?;
    let basis = chebyshev_basis_for(state, &t, coeffs.len() - 1, &significant(coeffs))?;
    chebyshev_sum(state, &basis, coeffs, x.frac)
}

/// `t = (2x - lo - hi) / (hi - lo)` at `x`'s scale: exact when `hi - lo` is a power of two.
pub(crate) fn to_unit_interval(state: &mut Context, x: &Fx, lo: f64, hi: f64) -> Result<Fx> {
    let rank = state.rank();
    let width = hi - lo;
    let shifted = x.clone().add_const(-(lo + hi) / 2.0, rank);
    let log2 = (width / 2.0).log2();
    if log2.fract() == 0.0 && log2.abs() < 30.0 {
        // Division by a power of two: read at a finer scale, then back (exact up to one
        // rounding when growing).
        let k = log2 as i32;
        if k >= 0 {
            let fine = shifted.div_pow2_exact(k as u32);
            return crate::functions::fx::rescale(state, fine, x.frac);
        }
        return Ok(shifted.mul_int(1 << (-k)));
    }
    mul_const(state, &shifted, 2.0 / width)
}
