//! The carry out of a chain of positions by four-way lookahead: each level combines four
//! blocks in one round, so `n` positions take `ceil(log4 n)` rounds where the binary carry
//! tree ([`Context::carry_tree`]) takes `ceil(log2 n)`.
//!
//! Four blocks `0..4` (block 0 the lowest) with generate bits `g_j` and propagate bits `p_j`
//! combine into `g = g3 ^ p3 g2 ^ p3 p2 g1 ^ p3 p2 p1 g0` and `p = p3 p2 p1 p0` (a carry
//! comes out if some block generates one and every block above it propagates it; the
//! terms exclude each other, so their OR is their XOR). All four products are monomials
//! over seven variables, evaluated in one round by [`Context::and_monomials`]: seven bits
//! opened per group where the three-level AND tree it replaces opens ten, over two rounds.
//! The lowest block's propagate is zero (nothing carries into position 0); a short top
//! group is padded with blocks that propagate and do not generate. A level with one group
//! left drops `p0` and `p`, which the carry does not need.
//!
//! All groups of a level go in one call, laid side by side along the words, so a level is
//! one round and one dealer request whatever its width.

use cloak_ring::RingTensor;

use super::context::Context;
use crate::error::Result;

/// The variables of a group, as bits of a monomial.
const P3: u32 = 1;
const P2: u32 = 1 << 1;
const P1: u32 = 1 << 2;
const G2: u32 = 1 << 3;
const G1: u32 = 1 << 4;
const G0: u32 = 1 << 5;
const P0: u32 = 1 << 6;

/// The generate terms below the top block's, and the group's propagate.
const GENERATE: [u32; 3] = [P3 | G2, P3 | P2 | G1, P3 | P2 | P1 | G0];
const PROPAGATE: u32 = P3 | P2 | P1 | P0;

/// The monomials of a level with `groups` groups: the last level needs no propagate, nor
/// the variable `p0`.
fn monomials(groups: usize) -> (usize, Vec<u32>) {
    if groups == 1 { (6, GENERATE.to_vec()) } else { (7, [&GENERATE[..], &[PROPAGATE]].concat()) }
}

impl Context {
    /// [`carry_tree`](Self::carry_tree) by four-way lookahead: the same carry (XOR shares,
    /// 64 chains per word) from `generate` (`n` positions, the lowest first) and
    /// `propagate` (positions `1..n`), in `ceil(log4 n)` rounds instead of `ceil(log2 n)`.
    /// Each level opens 7 bits per group of four (6 on the last level) and spends a
    /// [`MaskProducts`](cloak_dealer::Request::MaskProducts) request of 22 (15) subsets.
    /// For 16 positions: 2 rounds, 34 bits per chain to each peer, against 4 rounds and 52
    /// bits for the tree.
    ///
    /// # Errors
    /// As [`carry_tree`](Self::carry_tree).
    pub fn carry_lookahead(
        &mut self,
        generate: Vec<Vec<u64>>,
        propagate: Vec<Vec<u64>>,
    ) -> Result<Vec<u64>> {
        let words = super::adder::check_chain(&generate, &propagate)?;
        let ones = if self.is_first() { vec![u64::MAX; words] } else { vec![0; words] };
        let mut g = generate;
        let mut p: Vec<Vec<u64>> = std::iter::once(vec![0; words]).chain(propagate).collect();
        while g.len() > 1 {
            let groups = g.len().div_ceil(4);
            // Pad to whole groups with blocks that propagate and do not generate.
            g.resize(4 * groups, vec![0; words]);
            p.resize(4 * groups, ones.clone());
            let (v, wanted) = monomials(groups);
            // Variable rows in the order of the bit masks, each all groups side by side.
            let pick = |rows: &[Vec<u64>], j: usize| -> Vec<u64> {
                (0..groups).flat_map(|t| rows[4 * t + j].iter().copied()).collect()
            };
            let vars = [
                pick(&p, 3),
                pick(&p, 2),
                pick(&p, 1),
                pick(&g, 2),
                pick(&g, 1),
                pick(&g, 0),
                pick(&p, 0),
            ];
            let refs: Vec<&[u64]> = vars[..v].iter().map(Vec::as_slice).collect();
            let products = self.and_monomials(&refs, &wanted)?;
            let top = pick(&g, 3);
            let mut next_g = Vec::with_capacity(groups);
            let mut next_p = Vec::with_capacity(groups);
            for t in 0..groups {
                let range = t * words..(t + 1) * words;
                let mut gt = top[range.clone()].to_vec();
                for term in &products[..3] {
                    gt.iter_mut().zip(&term[range.clone()]).for_each(|(g, x)| *g ^= x);
                }
                next_g.push(gt);
                next_p.push(products.get(3).map_or_else(Vec::new, |x| x[range].to_vec()));
            }
            (g, p) = (next_g, next_p);
        }
        Ok(g.swap_remove(0))
    }

    /// [`carry_lookahead`](Self::carry_lookahead) on tensors: `generate` is `[n, W]`,
    /// `propagate` `[n - 1, W]`; the carry `[W]`, where the shares live. The same groups,
    /// requests and bytes as the word form.
    ///
    /// # Errors
    /// As [`carry_tree_tensors`](Self::carry_tree_tensors).
    pub fn carry_lookahead_tensors(
        &mut self,
        generate: RingTensor<u64>,
        propagate: RingTensor<u64>,
    ) -> Result<RingTensor<u64>> {
        let words = super::bit_tensors::check_chain_tensors(&generate, &propagate)?;
        let zero_row = generate.slice(0, 0, 1, 1)?.and_scalar(0);
        let one_row =
            if self.is_first() { zero_row.add_scalar(u64::MAX) } else { zero_row.clone() };
        let (mut g, mut p) = (generate, RingTensor::concat(&[&zero_row, &propagate], 0)?);
        while g.shape()[0] > 1 {
            let m = g.shape()[0];
            let groups = m.div_ceil(4);
            let pad = 4 * groups - m;
            if pad > 0 {
                let zeros: Vec<&RingTensor<u64>> = std::iter::repeat_n(&zero_row, pad).collect();
                let ones: Vec<&RingTensor<u64>> = std::iter::repeat_n(&one_row, pad).collect();
                g = RingTensor::concat(&[&[&g][..], &zeros].concat(), 0)?;
                p = RingTensor::concat(&[&[&p][..], &ones].concat(), 0)?;
            }
            // [groups, 4, W]: block j of group t in row t, column j.
            let (g4, p4) = (g.reshape(&[groups, 4, words])?, p.reshape(&[groups, 4, words])?);
            let col = |x: &RingTensor<u64>, j: usize| -> Result<RingTensor<u64>> {
                Ok(x.slice(1, j, j + 1, 1)?.reshape(&[1, groups * words])?)
            };
            let (v, wanted) = monomials(groups);
            let rows = [
                col(&p4, 3)?,
                col(&p4, 2)?,
                col(&p4, 1)?,
                col(&g4, 2)?,
                col(&g4, 1)?,
                col(&g4, 0)?,
                col(&p4, 0)?,
            ];
            let refs: Vec<&RingTensor<u64>> = rows[..v].iter().collect();
            let products = self.and_monomials_tensors(&RingTensor::concat(&refs, 0)?, &wanted)?;
            let mut next_g = col(&g4, 3)?;
            for i in 0..3 {
                next_g = next_g.xor(&products.slice(0, i, i + 1, 1)?)?;
            }
            g = next_g.reshape(&[groups, words])?;
            if groups > 1 {
                p = products.slice(0, 3, 4, 1)?.reshape(&[groups, words])?;
            }
        }
        Ok(g.reshape(&[words])?)
    }
}
