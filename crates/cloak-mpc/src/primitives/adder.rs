//! Binary adders on XOR-shared data: how A2B and the sign bit are computed.
//!
//! Each party's additive share is, by itself, a binary-shared value (that party holds it,
//! the others hold zero), so the sum of N additive shares is the sum of N binary-shared
//! values. Carry-save adders (one AND level each) reduce N values to two; a parallel-prefix
//! (Kogge-Stone) adder adds the last two in `1 + log2(64)` AND levels.
//!
//! Two layouts:
//! - words (one `u64` per element): the full sum, for A2B;
//! - bit planes (plane `j` packs bit `j` of 64 elements per word, see
//!   [`cloak_ring::planes`]): only the carry into the top bit, for the sign. There every AND
//!   level needs only the planes still in play, so the tree of the carry-out costs 181 AND
//!   gates per element where the full adder costs 768, and comparisons send about a quarter
//!   of CrypTen's bytes.

use super::context::Context;
use crate::error::{Result, invalid};

/// Shift amounts of the Kogge-Stone levels for 64-bit words.
const KS_SHIFTS: [u32; 6] = [1, 2, 4, 8, 16, 32];

/// `a ^ b ^ c`, wordwise: the sum bit of a carry-save adder.
fn xor3(a: &[u64], b: &[u64], c: &[u64]) -> Vec<u64> {
    a.iter().zip(b).zip(c).map(|((a, b), c)| a ^ b ^ c).collect()
}

fn xor2(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(a, b)| a ^ b).collect()
}

impl Context {
    /// The N-party starting point: party `p`'s additive share as the binary-shared value
    /// held by `p` (this party's share of value `p` is its own share or zero). No message.
    #[must_use]
    pub fn own_as_binary_values(&self, own: &[u64]) -> Vec<Vec<u64>> {
        (0..self.parties())
            .map(|p| if p == self.rank() { own.to_vec() } else { vec![0; own.len()] })
            .collect()
    }

    /// Reduces binary-shared word values to two with carry-save adders, one AND level per
    /// layer of adders (three inputs become two).
    fn csa_words(&mut self, mut values: Vec<Vec<u64>>) -> Result<Vec<Vec<u64>>> {
        while values.len() > 2 {
            let groups = values.len() / 3;
            let rest = values.split_off(groups * 3);
            let xs: Vec<(Vec<u64>, Vec<u64>)> =
                values.chunks(3).map(|g| (xor2(&g[0], &g[2]), xor2(&g[1], &g[2]))).collect();
            let pairs: Vec<(&[u64], &[u64])> =
                xs.iter().map(|(a, b)| (a.as_slice(), b.as_slice())).collect();
            let ands = self.and_words(&pairs)?;
            let mut next = Vec::with_capacity(groups * 2 + rest.len());
            for (g, m) in values.chunks(3).zip(ands) {
                next.push(xor3(&g[0], &g[1], &g[2]));
                next.push(m.iter().zip(&g[2]).map(|(m, c)| (m ^ c) << 1).collect());
            }
            next.extend(rest);
            values = next;
        }
        Ok(values)
    }

    /// The sum (mod 2^64) of binary-shared word values: carry-save layers, then a
    /// Kogge-Stone adder (7 AND levels). Rounds: 7 for two values, one more per carry-save
    /// layer; bytes: 12 AND words per element (1 for the generate level, 2 per
    /// level after but the last), each opening two words to every peer.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for no values or
    /// values of different lengths (before anything is sent); a communication or dealer
    /// error.
    pub fn add_binary_words(&mut self, values: Vec<Vec<u64>>) -> Result<Vec<u64>> {
        let len = values.first().map_or(0, Vec::len);
        if values.is_empty() || values.iter().any(|v| v.len() != len) {
            return Err(invalid("add_binary", "no values, or values of different lengths"));
        }
        let mut values = self.csa_words(values)?;
        if values.len() == 1 {
            return Ok(values.remove(0));
        }
        let (u, v) = (&values[0], &values[1]);
        let p0 = xor2(u, v);
        let mut g = self.and_words(&[(u, v)])?.remove(0);
        let mut p = p0.clone();
        for (level, k) in KS_SHIFTS.into_iter().enumerate() {
            let g_shift: Vec<u64> = g.iter().map(|x| x << k).collect();
            let last = level + 1 == KS_SHIFTS.len();
            let mut out = if last {
                self.and_words(&[(&p, &g_shift)])?
            } else {
                let p_shift: Vec<u64> = p.iter().map(|x| x << k).collect();
                self.and_words(&[(&p, &g_shift), (&p, &p_shift)])?
            };
            if !last {
                p = out.pop().unwrap_or_default();
            }
            let pg = out.pop().unwrap_or_default();
            g.iter_mut().zip(&pg).for_each(|(g, x)| *g ^= x);
        }
        Ok(p0.iter().zip(&g).map(|(p, g)| p ^ (g << 1)).collect())
    }

    /// Reduces binary-shared values given as bit planes (64 planes each) to two, with
    /// carry-save layers: the carry of plane `j` moves to plane `j + 1`, and the top
    /// plane's carry is dropped.
    fn csa_planes(&mut self, mut values: Vec<Vec<Vec<u64>>>) -> Result<Vec<Vec<Vec<u64>>>> {
        while values.len() > 2 {
            let groups = values.len() / 3;
            let rest = values.split_off(groups * 3);
            let mut xs = Vec::new();
            for g in values.chunks(3) {
                for ((a, b), c) in g[0].iter().zip(&g[1]).zip(&g[2]).take(63) {
                    xs.push((xor2(a, c), xor2(b, c)));
                }
            }
            let pairs: Vec<(&[u64], &[u64])> =
                xs.iter().map(|(a, b)| (a.as_slice(), b.as_slice())).collect();
            let mut ands = self.and_words(&pairs)?.into_iter();
            let mut next = Vec::with_capacity(groups * 2 + rest.len());
            for g in values.chunks(3) {
                let words = g[0][0].len();
                let sum: Vec<Vec<u64>> =
                    (0..64).map(|j| xor3(&g[0][j], &g[1][j], &g[2][j])).collect();
                let mut carry = vec![vec![0u64; words]];
                for c in g[2].iter().take(63) {
                    let m = ands.next().unwrap_or_default();
                    carry.push(m.iter().zip(c).map(|(m, c)| m ^ c).collect());
                }
                next.push(sum);
                next.push(carry);
            }
            next.extend(rest);
            values = next;
        }
        Ok(values)
    }

    /// The top bit (plane 63) of the sum of binary-shared values given as bit planes:
    /// carry-save layers, then only the carry-out tree over planes 0..63. Each value is 64
    /// planes of `ceil(n / 64)` words. Rounds: 7 for two values (one generate level, six
    /// tree levels), one more per carry-save layer; 181 AND gates per element.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for no values or
    /// values that are not 64 planes of one length (before anything is sent); a
    /// communication or dealer error.
    pub fn msb_of_sum_planes(&mut self, values: Vec<Vec<Vec<u64>>>) -> Result<Vec<u64>> {
        let words = values.first().and_then(|v| v.first()).map_or(0, Vec::len);
        let well_formed = |v: &Vec<Vec<u64>>| v.len() == 64 && v.iter().all(|p| p.len() == words);
        if values.is_empty() || !values.iter().all(well_formed) {
            return Err(invalid("sign", "no values, or values not of 64 planes of one length"));
        }
        let mut values = self.csa_planes(values)?;
        if values.len() == 1 {
            return Ok(values.remove(0).swap_remove(63));
        }
        let (u, v) = (&values[0], &values[1]);
        let top = xor2(&u[63], &v[63]);
        // Generate bits of planes 0..63 (one level), propagate bits by XOR.
        let pairs: Vec<(&[u64], &[u64])> =
            (0..63).map(|j| (u[j].as_slice(), v[j].as_slice())).collect();
        let gs = self.and_words(&pairs)?;
        let propagate: Vec<Vec<u64>> = (1..63).map(|j| xor2(&u[j], &v[j])).collect();
        let carry = self.carry_tree(gs, propagate)?;
        Ok(top.iter().zip(&carry).map(|(t, c)| t ^ c).collect())
    }

    /// The carry out of the top of a chain of bit positions, from XOR shares of each
    /// position's generate bit (`generate[j]`, a carry starts at position `j`) and propagate
    /// bit (`propagate[j - 1]` for positions `1..`, a carry passes position `j`; nothing
    /// carries into position 0, so its propagate bit is never needed). Each entry is words
    /// of packed bits, all of one length. A tree of `(g, p)` combinations,
    /// `(g_hi ^ (p_hi & g_lo), p_hi & p_lo)`, one AND level per level of the tree:
    /// `ceil(log2 n)` rounds for `n` positions, about `2n` AND words. The sign circuit and
    /// a comparison with a public value both end in it.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for no positions,
    /// a propagate list of other than `n - 1` entries or entries of different lengths
    /// (before anything is sent); a communication or dealer error.
    pub fn carry_tree(
        &mut self,
        generate: Vec<Vec<u64>>,
        propagate: Vec<Vec<u64>>,
    ) -> Result<Vec<u64>> {
        check_chain(&generate, &propagate)?;
        // Blocks from the low end: (generate, propagate); the lowest block's propagate is
        // never needed (nothing carries into bit 0).
        let mut blocks: Vec<(Vec<u64>, Option<Vec<u64>>)> = generate
            .into_iter()
            .zip(std::iter::once(None).chain(propagate.into_iter().map(Some)))
            .collect();
        while blocks.len() > 1 {
            let pairs_n = blocks.len() / 2;
            let mut gates: Vec<(&[u64], &[u64])> = Vec::new();
            for t in 0..pairs_n {
                let (lo, hi) = (&blocks[2 * t], &blocks[2 * t + 1]);
                let p_hi = hi.1.as_deref().unwrap_or_default();
                gates.push((p_hi, &lo.0));
                if let Some(p_lo) = lo.1.as_deref() {
                    gates.push((p_hi, p_lo));
                }
            }
            let mut outs = self.and_words(&gates)?.into_iter();
            let mut next = Vec::with_capacity(pairs_n + 1);
            let old = std::mem::take(&mut blocks);
            let mut old = old.into_iter();
            for _ in 0..pairs_n {
                let lo = old.next().unwrap_or_else(|| unreachable!());
                let hi = old.next().unwrap_or_else(|| unreachable!());
                let pg = outs.next().unwrap_or_default();
                let g: Vec<u64> = hi.0.iter().zip(&pg).map(|(g, x)| g ^ x).collect();
                let p = lo.1.map(|_| outs.next().unwrap_or_default());
                next.push((g, p));
            }
            next.extend(old);
            blocks = next;
        }
        Ok(blocks.swap_remove(0).0)
    }
}

/// Checks a carry chain's positions (`n >= 1` generate rows, `n - 1` propagate rows, all of
/// one length) before anything is sent; their length in words.
pub(super) fn check_chain(generate: &[Vec<u64>], propagate: &[Vec<u64>]) -> Result<usize> {
    let words = generate.first().map_or(0, Vec::len);
    if generate.is_empty()
        || propagate.len() + 1 != generate.len()
        || generate.iter().chain(propagate).any(|w| w.len() != words)
    {
        return Err(invalid("carry", "positions of other lengths or counts"));
    }
    Ok(words)
}
