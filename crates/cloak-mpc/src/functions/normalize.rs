//! Leading-one normalisation: the octave `e` of `|x|` (so `|x| = m 2^e` with `m` in
//! `[1, 2)`), as one-hot shares, for reciprocal, log and square roots.
//!
//! A2B gives `x`'s bits as XOR shares (7 rounds for two parties). A negative `x` is
//! complemented bitwise (XOR with its replicated sign, local; `-x - 1` differs from `|x|`
//! by one unit, which moves only exact powers of two to the octave below, where the
//! methods' first guesses still hold). A suffix OR (`s |= s >> k` for k = 1, 2, .., 32, one
//! AND round each) sets every bit below the leading one, so `s ^ (s >> 1)` is the leading
//! one alone. The octaves `e` of a window within `[-f, f]` (`f` fractional bits) are
//! converted to additive 0/1 shares in one B2A round, with the sign bit. 14 rounds for two
//! parties.
//!
//! An element with no leading one in the window (zero, `|x|` beyond the window, or a
//! negative value when only positive ones are expected) has every indicator 0: the
//! functions report it as outside their domain. The raw value `-1` complements to 0, so the
//! negative domain starts one unit further from zero.

use super::FnCtx;
use crate::error::Result;

/// The octave indicators of a tensor: `onehot[i][k]` is 1 (additive share at scale 1) when
/// element `k` lies in octave `lowest + i`.
pub(crate) struct Octaves {
    /// Indicators per octave, `lowest ..= lowest + onehot.len() - 1`.
    pub(crate) onehot: Vec<Vec<u64>>,
    /// The lowest octave of the window.
    pub(crate) lowest: i32,
    /// Shares of the sign bit (1 for negative), when asked for.
    pub(crate) sign: Option<Vec<u64>>,
}

impl Octaves {
    /// Shares of `1 - sum of indicators`: 1 where the element lies in no octave.
    pub(crate) fn outside(&self, rank: usize) -> Vec<u64> {
        let n = self.onehot.first().map_or(0, Vec::len);
        (0..n)
            .map(|k| {
                let inside = self.onehot.iter().fold(0u64, |a, h| a.wrapping_add(h[k]));
                let one = u64::from(rank == 0);
                one.wrapping_sub(inside)
            })
            .collect()
    }

    /// `sum_e weight(e) [element in octave e]` per element, for raw integer weights: a
    /// value per octave (such as `2^-e` at some scale) as shares, with no communication.
    pub(crate) fn weighted(&self, weight: impl Fn(i32) -> u64) -> Vec<u64> {
        let n = self.onehot.first().map_or(0, Vec::len);
        let mut out = vec![0u64; n];
        for (e, h) in self.iter() {
            let w = weight(e);
            out.iter_mut().zip(h).for_each(|(a, h)| *a = a.wrapping_add(h.wrapping_mul(w)));
        }
        out
    }

    /// The octaves `lowest ..`, paired with their indicators.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i32, &Vec<u64>)> {
        self.onehot.iter().enumerate().map(|(i, h)| (self.lowest + i as i32, h))
    }
}

impl FnCtx<'_> {
    /// The octaves `lowest ..= highest` (within `[-f, f]`) of `|x|` (`signed`) or of `x`
    /// (negative values then lie in none), for raw shares `x` with `f` fractional bits.
    pub(crate) fn octaves(
        &mut self,
        x: &[u64],
        f: u32,
        signed: bool,
        window: (i32, i32),
    ) -> Result<Octaves> {
        let lowest = window.0.max(-(f as i32));
        let highest = window.1.min(f as i32).max(lowest);
        let n = x.len();
        let values = self.own_as_binary_values(x);
        let bits = self.add_binary_words(values)?;
        let mut s: Vec<u64> = if signed {
            bits.iter().map(|w| w ^ (((*w as i64) >> 63) as u64)).collect()
        } else {
            bits.clone()
        };
        let low63 = (1u64 << 63) - 1;
        s.iter_mut().for_each(|w| *w &= low63);
        for k in [1u32, 2, 4, 8, 16, 32] {
            let shifted: Vec<u64> = s.iter().map(|w| w >> k).collect();
            let and = self.and_words(&[(&s, &shifted)])?.remove(0);
            // a | b = a ^ b ^ (a & b)
            s.iter_mut().zip(&shifted).zip(&and).for_each(|((a, b), c)| *a ^= b ^ c);
        }
        let onehot: Vec<u64> = s.iter().map(|w| w ^ (w >> 1)).collect();
        // Octave e sits at bit f + e. Columns are packed densely (column c, element k at
        // bit c n + k) for one B2A round.
        let octaves = (highest - lowest + 1) as usize;
        let columns = octaves + usize::from(signed);
        let mut dense = vec![0u64; (columns * n).div_ceil(64)];
        let mut put = |idx: usize, bit: u64| dense[idx / 64] |= bit << (idx % 64);
        for c in 0..octaves {
            let p = (f as i32 + lowest) as usize + c;
            for (k, w) in onehot.iter().enumerate() {
                put(c * n + k, (w >> p) & 1);
            }
        }
        if signed {
            for (k, w) in bits.iter().enumerate() {
                put((columns - 1) * n + k, w >> 63);
            }
        }
        let arith = self.bits_to_arith(&dense, columns * n)?;
        let mut chunks: Vec<Vec<u64>> = arith.chunks(n.max(1)).map(<[u64]>::to_vec).collect();
        chunks.resize(columns, Vec::new());
        let sign = if signed { chunks.pop() } else { None };
        Ok(Octaves { onehot: chunks, lowest, sign })
    }
}
