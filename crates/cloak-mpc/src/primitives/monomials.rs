//! Products of several XOR-shared bits in one round.
//!
//! An AND gate opens both inputs masked and spends one product of masks. A product of `k`
//! inputs can be had the same way in one round: open every input `x_i` masked by its own
//! random `a_i`, `m_i = x_i ^ a_i`, then
//! `AND_{i in T} x_i = XOR_{S <= T} (AND_{i in T \ S} m_i) & a_S`,
//! where `a_S` is the product of the masks over `S` (`a_{} = 1`). The coefficients are
//! public, so with XOR shares of every `a_S` of two or more variables
//! ([`Request::MaskProducts`]) each party computes its share of any monomial over the
//! opened variables locally. A variable is opened once however many monomials use it: the
//! bytes are one bit per variable, and the dealer's cost is one bit per subset.
//!
//! [`Context::and_monomials`] (words) and [`Context::and_monomials_tensors`] (tensors, where
//! the shares live) make the same request and send the same bytes.

use cloak_dealer::{MaskProductShares, Request};
use cloak_ring::RingTensor;

use super::context::Context;
use crate::error::{Result, invalid};

/// Variables a monomial may multiply: the dealer's subsets under a monomial of `k`
/// variables are `2^k - k - 1`, and a request lists at most
/// [`MAX_MASK_SUBSETS`](cloak_dealer::MAX_MASK_SUBSETS).
pub const MAX_MONOMIAL_DEGREE: u32 = 11;

/// Words evaluated together: a monomial of `k` variables keeps `2^k` blocks of its
/// coefficients in cache.
const BLOCK: usize = 256;

/// The subsets of two or more variables under the `monomials` (bit masks over the
/// variables), sorted and without repeats: the mask products a [`Request::MaskProducts`]
/// must deal to evaluate them.
#[must_use]
pub fn mask_subsets(monomials: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    for &t in monomials {
        // Every non-empty subset of t, walked down from t.
        let mut s = t;
        while s != 0 {
            if s.count_ones() >= 2 {
                out.push(s);
            }
            s = (s - 1) & t;
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Checks the variables' count and the monomials before anything is fetched or sent.
fn check(vars: usize, monomials: &[u32]) -> Result<()> {
    if vars == 0 || vars > cloak_dealer::MAX_MASK_VARS as usize {
        let most = cloak_dealer::MAX_MASK_VARS;
        return Err(invalid("and_monomials", format!("{vars} variables (1 to {most})")));
    }
    let outside = if vars == 32 { 0 } else { u32::MAX << vars };
    for &t in monomials {
        if t == 0 || t & outside != 0 {
            return Err(invalid("and_monomials", format!("monomial {t:#x} over {vars} variables")));
        }
        if t.count_ones() > MAX_MONOMIAL_DEGREE {
            return Err(invalid(
                "and_monomials",
                format!("monomial {t:#x} of more than {MAX_MONOMIAL_DEGREE} variables"),
            ));
        }
    }
    Ok(())
}

/// Where a subset's share lies: nowhere (the empty subset, a public 1), a mask, or a product.
enum Term {
    One,
    Mask(usize),
    Product(usize),
}

/// Where subset `s`'s share lies, `subsets` being [`mask_subsets`] of the monomials.
fn term_of(s: u32, subsets: &[u32]) -> Term {
    match s.count_ones() {
        0 => Term::One,
        1 => Term::Mask(s.trailing_zeros() as usize),
        _ => Term::Product(subsets.binary_search(&s).unwrap_or_else(|_| {
            unreachable!("mask_subsets lists every subset of two or more variables")
        })),
    }
}

/// The terms of monomial `t`: each subset `S` of `t` (the empty one included) with its
/// share's place and the variables of its public coefficient, `t \ S`.
fn terms(t: u32, subsets: &[u32]) -> Vec<(Term, u32)> {
    let mut out = Vec::new();
    let mut s = t;
    loop {
        out.push((term_of(s, subsets), t & !s));
        if s == 0 {
            return out;
        }
        s = (s - 1) & t;
    }
}

impl Context {
    /// XOR shares of `AND_{i in T} vars[i]` for each monomial `T` (a bit mask over the
    /// variables; 64 products per word), all in one round. Every variable is opened once
    /// (its words XOR a mask); [`Request::MaskProducts`] deals the masks and their products
    /// over [`mask_subsets`]. One round; the words of all variables to each peer.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for no variables or
    /// more than 32, variables of different lengths, an empty monomial, one naming a
    /// variable past the last or of more than [`MAX_MONOMIAL_DEGREE`] variables (before
    /// anything is sent); a communication or dealer error.
    pub fn and_monomials(&mut self, vars: &[&[u64]], monomials: &[u32]) -> Result<Vec<Vec<u64>>> {
        check(vars.len(), monomials)?;
        let words = vars[0].len();
        if vars.iter().any(|v| v.len() != words) {
            return Err(invalid("and_monomials", "variables of different lengths"));
        }
        let subsets = mask_subsets(monomials);
        let MaskProductShares { masks, products } =
            self.fetch_mask_products(words, vars.len(), &subsets)?;
        let (masks, products) = (masks.as_slice(), products.as_slice());
        let mut masked = Vec::with_capacity(words * vars.len());
        for (v, a) in vars.iter().zip(masks.chunks_exact(words.max(1))) {
            masked.extend(v.iter().zip(a).map(|(x, a)| x ^ a));
        }
        let opened = self.open_words("and_monomials", vec![masked], true)?.remove(0);
        let first = self.is_first();
        let share_of = |s: u32| -> Option<&[u64]> {
            match term_of(s, &subsets) {
                Term::One => None,
                Term::Mask(i) => Some(&masks[i * words..(i + 1) * words]),
                Term::Product(j) => Some(&products[j * words..(j + 1) * words]),
            }
        };
        let mut out = Vec::with_capacity(monomials.len());
        for &t in monomials {
            // The monomial's variables, and each subset of them (a local bit mask `u` over
            // those variables) with its share: the public 1 (party 0 only), a mask or a
            // product.
            let local: Vec<usize> = (0..vars.len()).filter(|i| (t >> i) & 1 == 1).collect();
            let full = (1usize << local.len()) - 1;
            let global = |u: usize| -> u32 {
                local
                    .iter()
                    .enumerate()
                    .filter(|(b, _)| (u >> b) & 1 == 1)
                    .map(|(_, &i)| 1 << i)
                    .sum()
            };
            let shares: Vec<Option<&[u64]>> = (0..=full).map(|u| share_of(global(u))).collect();
            let rows: Vec<&[u64]> =
                local.iter().map(|&i| &opened[i * words..(i + 1) * words]).collect();
            // coefficient[u]: the product of the opened values over `u`, built up from the
            // subset without `u`'s lowest variable; a block of words at a time, so that the
            // loops run over words (vectorised) and the products stay in cache.
            let mut coefficient = vec![u64::MAX; (full + 1) * BLOCK];
            let mut acc = vec![0u64; words];
            for start in (0..words).step_by(BLOCK) {
                let len = BLOCK.min(words - start);
                for u in 1..=full {
                    let (done, rest) = coefficient.split_at_mut(u * BLOCK);
                    let below = &done[(u & (u - 1)) * BLOCK..][..len];
                    let row = &rows[u.trailing_zeros() as usize][start..start + len];
                    for ((c, b), r) in rest[..len].iter_mut().zip(below).zip(row) {
                        *c = b & r;
                    }
                }
                // XOR over subsets S of the coefficient of the rest times S's share.
                let out = &mut acc[start..start + len];
                for (u, share) in shares.iter().enumerate() {
                    let c = &coefficient[(full ^ u) * BLOCK..][..len];
                    match share {
                        Some(s) => {
                            for ((o, c), s) in out.iter_mut().zip(c).zip(&s[start..start + len]) {
                                *o ^= c & s;
                            }
                        }
                        None if first => out.iter_mut().zip(c).for_each(|(o, c)| *o ^= c),
                        None => {}
                    }
                }
            }
            out.push(acc);
        }
        Ok(out)
    }

    /// [`and_monomials`](Self::and_monomials) on tensors: `vars` is `[v, W]` (variable `i`
    /// in row `i`); the products `[monomials, W]`, where the shares live. The same request
    /// and the same bytes as the word form.
    ///
    /// # Errors
    /// As [`and_monomials`](Self::and_monomials), and for `vars` of other than two
    /// dimensions.
    pub fn and_monomials_tensors(
        &mut self,
        vars: &RingTensor<u64>,
        monomials: &[u32],
    ) -> Result<RingTensor<u64>> {
        let [v, words] = vars.shape()[..] else {
            return Err(invalid("and_monomials", "variables not laid out as [count, words]"));
        };
        check(v, monomials)?;
        let subsets = mask_subsets(monomials);
        let MaskProductShares { masks, products } = self.fetch_mask_products(words, v, &subsets)?;
        let masks = masks.reshape(&[v, words])?;
        let products = products.reshape(&[subsets.len(), words])?;
        let opened =
            self.open_tensor_parts("and_monomials", vec![vars.xor(&masks)?], &|_| true)?.remove(0);
        let first = self.is_first();
        let mut out = Vec::with_capacity(monomials.len());
        for &t in monomials {
            let mut acc: Option<RingTensor<u64>> = None;
            for (term, coefficient) in terms(t, &subsets) {
                let share = match term {
                    Term::One if !first => continue,
                    Term::One => None,
                    Term::Mask(i) => Some(masks.slice(0, i, i + 1, 1)?),
                    Term::Product(j) => Some(products.slice(0, j, j + 1, 1)?),
                };
                let mut value = share;
                for i in (0..v).filter(|i| (coefficient >> i) & 1 == 1) {
                    let m = opened.slice(0, i, i + 1, 1)?;
                    value = Some(match value {
                        Some(x) => x.and(&m)?,
                        None => m,
                    });
                }
                // The empty subset with no coefficient: a monomial of no variables, which
                // `check` refuses.
                let value = value.unwrap_or_else(|| unreachable!("monomials are non-empty"));
                acc = Some(match acc {
                    Some(a) => a.xor(&value)?,
                    None => value,
                });
            }
            let acc = match acc {
                Some(a) => a,
                None => opened.slice(0, 0, 1, 1)?.and_scalar(0),
            };
            out.push(acc);
        }
        let refs: Vec<&RingTensor<u64>> = out.iter().collect();
        if refs.is_empty() {
            return Ok(vars.slice(0, 0, 0, 1)?);
        }
        Ok(RingTensor::concat(&refs, 0)?)
    }

    fn fetch_mask_products(
        &mut self,
        words: usize,
        vars: usize,
        subsets: &[u32],
    ) -> Result<MaskProductShares> {
        let request = Request::MaskProducts { words, vars: vars as u32, subsets: subsets.to_vec() };
        Ok(self.fetch(&request)?.into_mask_products())
    }
}
