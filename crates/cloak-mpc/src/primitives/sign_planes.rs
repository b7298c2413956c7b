//! The bit-plane sign circuit in tensor form, for shares that live on a device.
//!
//! [`Context::msb_of_sum_plane_tensors`] computes what [`Context::msb_of_sum_planes`]
//! computes (carry-save layers over bit planes, the generate level, then the carry tree),
//! with the same AND levels, rounds, bytes and dealer words: each level's gates are
//! concatenated into one [`and_tensors`](Context::and_tensors) call, as the word form
//! passes them to one `and_words` call. Every step is a tensor operation, so a device share
//! stays there: only the masked values each level sends cross to the host.

use cloak_ring::RingTensor;

use super::adder_tensors::pack_bits;
use super::context::Context;
use crate::error::{Result, invalid};

/// The 64 bit planes of a tensor's elements as a `[64, ceil(n / 64)]` word tensor, where
/// they live: row `j` packs bit `j` of every element 64 per word (element `k` at bit
/// `k % 64` of word `k / 64`, the last word padded with zeros), as
/// [`cloak_ring::planes::to_bit_planes`] lays them out. One shift and mask per plane, one
/// assembly, one packing.
///
/// # Errors
/// A tensor operation that fails.
pub fn bit_plane_tensor(x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
    let n = x.len();
    let words = n.div_ceil(64);
    let flat = x.reshape(&[n])?;
    let flat = if n == words * 64 { flat } else { flat.pad(&[(0, words * 64 - n)], 0)? };
    let row = flat.reshape(&[1, words * 64])?;
    let planes =
        (0..64u32).map(|j| Ok(row.shr_logical(j)?.and_scalar(1))).collect::<Result<Vec<_>>>()?;
    let refs: Vec<&RingTensor<u64>> = planes.iter().collect();
    let bits = RingTensor::concat(&refs, 0)?.reshape(&[64 * words * 64])?;
    Ok(pack_bits(&bits)?.reshape(&[64, words])?)
}

impl Context {
    /// Reduces binary-shared values given as `[64, W]` plane tensors to two, with
    /// carry-save layers: the carry of plane `j` moves to plane `j + 1`, and the top plane's
    /// carry is dropped. One AND level per layer, the gates of every group in one call (the
    /// word form's order: group by group, planes 0..63).
    fn csa_plane_tensors(
        &mut self,
        mut values: Vec<RingTensor<u64>>,
    ) -> Result<Vec<RingTensor<u64>>> {
        while values.len() > 2 {
            let groups = values.len() / 3;
            let rest = values.split_off(groups * 3);
            let low = |t: &RingTensor<u64>| t.slice(0, 0, 63, 1);
            let mut lhs = Vec::with_capacity(groups);
            let mut rhs = Vec::with_capacity(groups);
            for g in values.chunks(3) {
                let c = low(&g[2])?;
                lhs.push(low(&g[0])?.xor(&c)?);
                rhs.push(low(&g[1])?.xor(&c)?);
            }
            let lhs_refs: Vec<&RingTensor<u64>> = lhs.iter().collect();
            let rhs_refs: Vec<&RingTensor<u64>> = rhs.iter().collect();
            let ands = self.and_tensors(
                &RingTensor::concat(&lhs_refs, 0)?,
                &RingTensor::concat(&rhs_refs, 0)?,
            )?;
            let mut next = Vec::with_capacity(groups * 2 + rest.len());
            for (i, g) in values.chunks(3).enumerate() {
                let words = g[0].shape()[1];
                let m = ands.slice(0, i * 63, (i + 1) * 63, 1)?;
                let carry = m.xor(&low(&g[2])?)?;
                let zero = g[0].slice(0, 0, 1, 1)?.and_scalar(0);
                next.push(g[0].xor(&g[1])?.xor(&g[2])?);
                next.push(RingTensor::concat(&[&zero, &carry], 0)?.reshape(&[64, words])?);
            }
            next.extend(rest);
            values = next;
        }
        Ok(values)
    }

    /// [`msb_of_sum_planes`](Self::msb_of_sum_planes) on tensors: each value is a `[64, W]`
    /// tensor of bit planes (row `j` is plane `j`); the top bit of the sum, `[W]` packed
    /// words, where the values live. The same rounds (7 for two values, one more per
    /// carry-save layer), bytes and dealer words as the word form.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for no values or
    /// values that are not `[64, W]` of one `W` (before anything is sent); a communication
    /// or dealer error.
    pub fn msb_of_sum_plane_tensors(
        &mut self,
        values: Vec<RingTensor<u64>>,
    ) -> Result<RingTensor<u64>> {
        let Some(first) = values.first() else {
            return Err(invalid("sign", "no values"));
        };
        let shape = first.shape().to_vec();
        if shape.len() != 2 || shape[0] != 64 || values.iter().any(|v| v.shape() != shape) {
            return Err(invalid("sign", "values that are not 64 planes of one length"));
        }
        let words = shape[1];
        let mut values = self.csa_plane_tensors(values)?;
        let top = |t: &RingTensor<u64>| -> Result<RingTensor<u64>> {
            Ok(t.slice(0, 63, 64, 1)?.reshape(&[words])?)
        };
        if values.len() == 1 {
            return top(&values.remove(0));
        }
        let (u, v) = (&values[0], &values[1]);
        let high = top(u)?.xor(&top(v)?)?;
        // Generate bits of planes 0..63 (one level), propagate bits by XOR.
        let generate = self.and_tensors(&u.slice(0, 0, 63, 1)?, &v.slice(0, 0, 63, 1)?)?;
        let propagate = u.slice(0, 1, 63, 1)?.xor(&v.slice(0, 1, 63, 1)?)?;
        let carry = self.carry_tree_tensors(generate, propagate)?;
        Ok(high.xor(&carry)?)
    }
}
