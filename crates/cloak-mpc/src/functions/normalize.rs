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

use cloak_ring::RingTensor;

use super::FnCtx;
use crate::error::{Result, invalid};
use crate::functions::fx::split;
use crate::functions::lincomb::axpy;

/// The octave indicators of a tensor: `onehot[i]` holds 1 (additive share at scale 1) for
/// the elements that lie in octave `lowest + i`.
pub(crate) struct Octaves {
    /// Indicators per octave, `lowest ..= lowest + onehot.len() - 1`, each flat.
    pub(crate) onehot: Vec<RingTensor<u64>>,
    /// The lowest octave of the window.
    pub(crate) lowest: i32,
    /// Shares of the sign bit (1 for negative), when asked for.
    pub(crate) sign: Option<RingTensor<u64>>,
}

impl Octaves {
    /// Shares of `1 - sum of indicators`: 1 where the element lies in no octave.
    pub(crate) fn outside(&self, rank: usize) -> Result<RingTensor<u64>> {
        let inside = self.weighted(|_| 1)?;
        let neg = inside.neg();
        Ok(if rank == 0 { neg.add_scalar(1) } else { neg })
    }

    /// `sum_e weight(e) [element in octave e]` per element, for raw integer weights: a
    /// value per octave (such as `2^-e` at some scale) as shares, with no communication.
    pub(crate) fn weighted(&self, weight: impl Fn(i32) -> u64) -> Result<RingTensor<u64>> {
        let mut terms = self.iter();
        let (e, first) = terms.next().ok_or_else(|| invalid("normalize", "no octaves"))?;
        let mut out = first.mul_scalar(weight(e));
        for (e, h) in terms {
            axpy(&mut out, h, weight(e))?;
        }
        Ok(out)
    }

    /// The octaves `lowest ..`, paired with their indicators.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i32, &RingTensor<u64>)> {
        self.onehot.iter().enumerate().map(|(i, h)| (self.lowest + i as i32, h))
    }

    /// Octaves from the additive bits of `columns` indicator columns (the octaves, then the
    /// sign when `signed`), each `n` long, one after the other.
    fn from_columns(
        arith: RingTensor<u64>,
        n: usize,
        columns: usize,
        signed: bool,
        lowest: i32,
    ) -> Result<Self> {
        let mut chunks = split(arith, &vec![n; columns])?;
        let sign = if signed { chunks.pop() } else { None };
        Ok(Octaves { onehot: chunks, lowest, sign })
    }
}

impl FnCtx<'_> {
    /// The octaves `lowest ..= highest` (within `[-f, f]`) of `|x|` (`signed`) or of `x`
    /// (negative values then lie in none), for flat raw shares `x` with `f` fractional
    /// bits. A device share stays on the device (`octaves_tensor`), with the same rounds
    /// and bytes.
    pub(crate) fn octaves(
        &mut self,
        x: &RingTensor<u64>,
        f: u32,
        signed: bool,
        window: (i32, i32),
    ) -> Result<Octaves> {
        let lowest = window.0.max(-(f as i32));
        let highest = window.1.min(f as i32).max(lowest);
        let n = x.len();
        let octaves = (highest - lowest + 1) as usize;
        let columns = octaves + usize::from(signed);
        if !x.is_host() {
            let arith = self.octave_bits_tensor(x, f, signed, lowest, octaves)?;
            return Octaves::from_columns(arith, n, columns, signed, lowest);
        }
        let values = self.own_as_binary_values(&x.as_slice());
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
        let arith = RingTensor::from_vec(&[columns * n], arith)?;
        Octaves::from_columns(arith, n, columns, signed, lowest)
    }

    /// The octave columns of [`octaves`](Self::octaves) in tensor operations, where `x`
    /// lives: the A2B adder, the suffix OR and the B2A round as tensors, the columns cut
    /// by shifts and packed 64 per word on the device. Additive 0/1 shares, the `octaves`
    /// columns (then the sign column when `signed`) one after the other.
    fn octave_bits_tensor(
        &mut self,
        x: &RingTensor<u64>,
        f: u32,
        signed: bool,
        lowest: i32,
        octaves: usize,
    ) -> Result<RingTensor<u64>> {
        let zeros = x.and_scalar(0);
        let rank = self.rank();
        let values = (0..self.parties()).map(|p| if p == rank { x.clone() } else { zeros.clone() });
        let bits = self.add_binary_tensors(values.collect())?;
        let s = if signed { bits.xor(&bits.shr_arithmetic(63)?)? } else { bits.clone() };
        let mut s = s.and_scalar((1u64 << 63) - 1);
        for k in [1u32, 2, 4, 8, 16, 32] {
            let shifted = s.shr_logical(k)?;
            let and = self.and_tensors(&s, &shifted)?;
            // a | b = a ^ b ^ (a & b)
            s = s.xor(&shifted)?.xor(&and)?;
        }
        let onehot = s.xor(&s.shr_logical(1)?)?;
        // Octave e sits at bit f + e.
        let mut columns = (0..octaves)
            .map(|c| Ok(onehot.shr_logical((f as i32 + lowest) as u32 + c as u32)?.and_scalar(1)))
            .collect::<Result<Vec<_>>>()?;
        if signed {
            columns.push(bits.shr_logical(63)?);
        }
        let refs: Vec<&RingTensor<u64>> = columns.iter().collect();
        let all = RingTensor::concat(&refs, 0)?;
        let packed = crate::primitives::pack_bits(&all)?;
        self.bits_to_arith_tensor(&packed, &[all.len()])
    }
}
