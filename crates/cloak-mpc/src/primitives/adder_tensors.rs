//! The A2B adder in tensor form, for shares that live on a device, and the packing of 0/1
//! elements into words that the bit openings need.
//!
//! [`Context::add_binary_tensors`] computes what [`Context::add_binary_words`] computes
//! (carry-save layers, then a Kogge-Stone adder), with the same AND levels, rounds, bytes
//! and dealer words: each level's gates are concatenated into one
//! [`and_tensors`](Context::and_tensors) call, as the word form passes them to one
//! `and_words` call. Every step is a tensor operation, so a device share stays there.

use cloak_ring::RingTensor;

use super::context::Context;
use crate::error::{Result, invalid};

/// Shift amounts of the Kogge-Stone levels for 64-bit words.
const KS_SHIFTS: [u32; 6] = [1, 2, 4, 8, 16, 32];

impl Context {
    /// XOR shares of `lhs[k] & rhs[k]` for every pair of flat word tensors, in one AND
    /// round (the pairs concatenated, as [`and_words`](Self::and_words) sends them).
    ///
    /// # Errors
    /// Operands of different lengths; a communication or dealer error.
    pub fn and_tensor_pairs(
        &mut self,
        pairs: &[(&RingTensor<u64>, &RingTensor<u64>)],
    ) -> Result<Vec<RingTensor<u64>>> {
        if pairs.iter().any(|(x, y)| x.shape() != y.shape() || x.ndim() != 1) {
            return Err(invalid("and", "operands that are not flat tensors of one length"));
        }
        if let [(x, y)] = pairs {
            return Ok(vec![self.and_tensors(x, y)?]);
        }
        let lhs: Vec<&RingTensor<u64>> = pairs.iter().map(|(x, _)| *x).collect();
        let rhs: Vec<&RingTensor<u64>> = pairs.iter().map(|(_, y)| *y).collect();
        let out = self.and_tensors(&RingTensor::concat(&lhs, 0)?, &RingTensor::concat(&rhs, 0)?)?;
        let mut offset = 0;
        pairs
            .iter()
            .map(|(x, _)| {
                offset += x.len();
                Ok(out.slice(0, offset - x.len(), offset, 1)?)
            })
            .collect()
    }

    /// Reduces binary-shared word tensors to two with carry-save adders, one AND level per
    /// layer of adders (three inputs become two).
    fn csa_tensors(&mut self, mut values: Vec<RingTensor<u64>>) -> Result<Vec<RingTensor<u64>>> {
        while values.len() > 2 {
            let groups = values.len() / 3;
            let rest = values.split_off(groups * 3);
            let xs = values
                .chunks(3)
                .map(|g| Ok((g[0].xor(&g[2])?, g[1].xor(&g[2])?)))
                .collect::<Result<Vec<_>>>()?;
            let pairs: Vec<_> = xs.iter().map(|(a, b)| (a, b)).collect();
            let ands = self.and_tensor_pairs(&pairs)?;
            let mut next = Vec::with_capacity(groups * 2 + rest.len());
            for (g, m) in values.chunks(3).zip(ands) {
                next.push(g[0].xor(&g[1])?.xor(&g[2])?);
                next.push(m.xor(&g[2])?.shl(1)?);
            }
            next.extend(rest);
            values = next;
        }
        Ok(values)
    }

    /// [`add_binary_words`](Self::add_binary_words) on flat word tensors: the sum (mod
    /// 2^64) of binary-shared values, where they live. The same rounds, bytes and dealer
    /// words.
    ///
    /// # Errors
    /// No values, or values that are not flat tensors of one length (before anything is
    /// sent); a communication or dealer error.
    pub fn add_binary_tensors(&mut self, values: Vec<RingTensor<u64>>) -> Result<RingTensor<u64>> {
        let Some(first) = values.first() else {
            return Err(invalid("add_binary", "no values"));
        };
        if first.ndim() != 1 || values.iter().any(|v| v.shape() != first.shape()) {
            return Err(invalid("add_binary", "values that are not flat tensors of one length"));
        }
        let mut values = self.csa_tensors(values)?;
        if values.len() == 1 {
            return Ok(values.remove(0));
        }
        let (u, v) = (&values[0], &values[1]);
        let p0 = u.xor(v)?;
        let mut g = self.and_tensors(u, v)?;
        let mut p = p0.clone();
        for (level, k) in KS_SHIFTS.into_iter().enumerate() {
            let g_shift = g.shl(k)?;
            let pg = if level + 1 == KS_SHIFTS.len() {
                self.and_tensors(&p, &g_shift)?
            } else {
                let p_shift = p.shl(k)?;
                let mut out = self.and_tensor_pairs(&[(&p, &g_shift), (&p, &p_shift)])?;
                p = out.pop().unwrap_or_else(|| unreachable!("two gates"));
                out.pop().unwrap_or_else(|| unreachable!("two gates"))
            };
            g = g.xor(&pg)?;
        }
        Ok(p0.xor(&g.shl(1)?)?)
    }
}

/// 0/1 elements of a flat tensor packed 64 per word (element `k` at bit `k % 64` of word
/// `k / 64`, the last word padded with zeros), where they live: six levels that each join
/// neighbouring columns by a shift and an XOR (their bits are disjoint), so no host loop
/// and no public constant.
///
/// # Errors
/// A tensor that is not flat.
pub fn pack_bits(bits: &RingTensor<u64>) -> Result<RingTensor<u64>> {
    if bits.ndim() != 1 {
        return Err(invalid("pack_bits", format!("a tensor of shape {:?}", bits.shape())));
    }
    let n = bits.len();
    let words = n.div_ceil(64);
    let padded = if n == words * 64 { bits.clone() } else { bits.pad(&[(0, words * 64 - n)], 0)? };
    let mut t = padded.reshape(&[words, 64])?;
    let (mut width, mut shift) = (64, 1);
    while width > 1 {
        let low = t.slice(1, 0, width, 2)?;
        let high = t.slice(1, 1, width, 2)?;
        t = low.xor(&high.shl(shift)?)?;
        width /= 2;
        shift *= 2;
    }
    Ok(t.reshape(&[words])?)
}
