//! The binary-circuit primitives in tensor form, for shares that live on a device: the AND
//! gate, the carry tree, and the conversions of XOR-shared bits into additive shares.
//!
//! They compute what their word-vector counterparts in `and.rs`, `adder.rs`, `b2a.rs` and
//! `inject.rs` compute, with the same rounds and the same bytes per peer, but every step is
//! a tensor operation, so a share on a device stays there: only the masked values a step
//! sends cross to the host, and only the values opened to it cross back. XOR shares of bits
//! are packed 64 per word as in the word-vector forms (bit `k % 64` of word `k / 64`).

use cloak_dealer::Request;
use cloak_ring::RingTensor;

use super::context::Context;
use crate::error::{Result, invalid};

impl Context {
    /// XOR shares of `x & y` for XOR-shared word tensors of one shape (64 gates per word):
    /// [`and_words`](Self::and_words) as tensor operations. One round, twice the words to
    /// each peer, a binary triple of as many words from the dealer.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for operands of
    /// different shapes (before anything is sent); a communication or dealer error.
    pub fn and_tensors(
        &mut self,
        x: &RingTensor<u64>,
        y: &RingTensor<u64>,
    ) -> Result<RingTensor<u64>> {
        if x.shape() != y.shape() {
            return Err(invalid("and", "operands of different shapes"));
        }
        let triple = self.fetch(&Request::BinaryTriple { words: x.len() })?.into_binary();
        let (a, b, c) = (
            triple.a.reshape(x.shape())?,
            triple.b.reshape(x.shape())?,
            triple.c.reshape(x.shape())?,
        );
        let mut opened = self.open_tensor_parts("and", vec![x.xor(&a)?, y.xor(&b)?], &|_| true)?;
        let d = opened.pop().unwrap_or_else(|| unreachable!("two tensors opened"));
        let e = opened.pop().unwrap_or_else(|| unreachable!("two tensors opened"));
        let mut z = c.xor(&e.and(&b)?)?.xor(&d.and(&a)?)?;
        if self.is_first() {
            z = z.xor(&e.and(&d)?)?;
        }
        Ok(z)
    }

    /// [`carry_tree`](Self::carry_tree) on tensors: `generate` is `[n, W]` (position `j`'s
    /// generate bits in row `j`), `propagate` is `[n - 1, W]` (positions `1..n`); the carry
    /// out of position `n - 1`, `[W]`. The same blocks are combined level by level as in the
    /// word form, so the rounds (`ceil(log2 n)`) and AND gates are the same.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for shapes that do
    /// not fit (before anything is sent); a communication or dealer error.
    pub fn carry_tree_tensors(
        &mut self,
        generate: RingTensor<u64>,
        propagate: RingTensor<u64>,
    ) -> Result<RingTensor<u64>> {
        let words = check_chain_tensors(&generate, &propagate)?;
        // Block `i`'s generate bits are row `i` of `g`; its propagate bits row `i - 1` of `p`
        // (the lowest block has none: nothing carries into bit 0).
        let (mut g, mut p) = (generate, propagate);
        while g.shape()[0] > 1 {
            let m = g.shape()[0];
            let pairs = m / 2;
            // Gates: p_hi & g_lo for every pair; p_hi & p_lo for the pairs above the lowest.
            let p_hi = p.slice(0, 0, 2 * pairs - 1, 2)?;
            let g_lo = g.slice(0, 0, 2 * pairs - 1, 2)?;
            let g_hi = g.slice(0, 1, 2 * pairs, 2)?;
            let (lhs, rhs) = if pairs > 1 {
                let p_hi_upper = p.slice(0, 2, 2 * pairs - 1, 2)?;
                let p_lo_upper = p.slice(0, 1, 2 * pairs - 2, 2)?;
                (
                    RingTensor::concat(&[&p_hi, &p_hi_upper], 0)?,
                    RingTensor::concat(&[&g_lo, &p_lo_upper], 0)?,
                )
            } else {
                (p_hi, g_lo)
            };
            let out = self.and_tensors(&lhs, &rhs)?;
            let mut next_g = g_hi.xor(&out.slice(0, 0, pairs, 1)?)?;
            let mut next_p = out.slice(0, pairs, 2 * pairs - 1, 1)?;
            if m % 2 == 1 {
                next_g = RingTensor::concat(&[&next_g, &g.slice(0, m - 1, m, 1)?], 0)?;
                next_p = RingTensor::concat(&[&next_p, &p.slice(0, m - 2, m - 1, 1)?], 0)?;
            }
            (g, p) = (next_g, next_p);
        }
        Ok(g.reshape(&[words])?)
    }

    /// Additive shares (0/1, scale 1) of XOR-shared bits packed in the word tensor `packed`
    /// (`[ceil(n / 64)]`), in `shape` (`n` elements): [`bits_to_arith`](Self::bits_to_arith)
    /// as tensor operations. One round, the packed words to each peer, `n` random bits from
    /// the dealer.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for a packing of the
    /// wrong length; a communication or dealer error.
    pub fn bits_to_arith_tensor(
        &mut self,
        packed: &RingTensor<u64>,
        shape: &[usize],
    ) -> Result<RingTensor<u64>> {
        let n = shape.iter().product::<usize>();
        check_packing("b2a", packed, n)?;
        let bits = self.fetch(&Request::RandomBits { count: n })?.into_bits();
        let xor_mask = bits.xor.reshape(packed.shape())?;
        let z = self.open_tensor_parts("b2a", vec![packed.xor(&xor_mask)?], &|_| true)?.remove(0);
        let z = unpack_bits(&z, n)?.reshape(shape)?;
        let r = bits.arith.reshape(shape)?;
        // b = z ^ r = r + z (1 - 2r): party 0 adds z, every party adds -2 z r.
        let mut b = r.sub(&z.mul(&r)?.mul_scalar(2))?;
        if self.is_first() {
            b = b.add(&z)?;
        }
        Ok(b)
    }

    /// Shares of `b * x` and of `b` (0/1, scale 1) for XOR-shared bits packed in the word
    /// tensor `packed`: [`mul_by_xor_bits`](Self::mul_by_xor_bits) as tensor operations,
    /// with the same round and bytes (the masked bits and a Beaver product's masks in one
    /// message per peer).
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for a packing of the
    /// wrong length; a communication or dealer error.
    pub fn mul_by_xor_bits_tensor(
        &mut self,
        x: &RingTensor<u64>,
        packed: &RingTensor<u64>,
    ) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        let n = x.len();
        check_packing("bit_mul", packed, n)?;
        let shape = x.shape().to_vec();
        let (bits, triple) = self.bit_injection_material(&shape)?;
        let r = bits.arith.reshape(&shape)?;
        let masked = packed.xor(&bits.xor.reshape(packed.shape())?)?;
        let (eps, delta) = (x.sub(&triple.a)?, r.sub(&triple.b)?);
        let mut opened =
            self.open_tensor_parts("bit_mul", vec![masked, eps, delta], &|i| i == 0)?;
        let delta = opened.pop().unwrap_or_else(|| unreachable!("three tensors opened"));
        let eps = opened.pop().unwrap_or_else(|| unreachable!("three tensors opened"));
        let z = unpack_bits(&opened.pop().unwrap_or_else(|| unreachable!()), n)?.reshape(&shape)?;
        let first = self.is_first();
        // r x by Beaver: c + eps b + (a [+ eps at party 0]) delta.
        let left = if first { triple.a.add(&eps)? } else { triple.a };
        let rx = triple.c.add(&eps.mul(&triple.b)?)?.add(&left.mul(&delta)?)?;
        // b = r + z (1 - 2r) and b x = r x + z (x - 2 r x), linear once z is public.
        let bx = rx.add(&z.mul(&x.sub(&rx.mul_scalar(2))?)?)?;
        let mut b = r.sub(&z.mul(&r)?.mul_scalar(2))?;
        if first {
            b = b.add(&z)?;
        }
        Ok((bx, b))
    }
}

/// Refuses a packing of other than `ceil(n / 64)` words.
fn check_packing(op: &'static str, packed: &RingTensor<u64>, n: usize) -> Result<()> {
    if packed.len() == n.div_ceil(64) {
        Ok(())
    } else {
        Err(invalid(op, format!("{} words for {n} bits", packed.len())))
    }
}

/// The bits of a public word tensor as elements 0/1 (`n` of them, in packing order), where
/// the words live: one shift and mask per bit position, then one assembly.
pub(crate) fn unpack_bits(words: &RingTensor<u64>, n: usize) -> Result<RingTensor<u64>> {
    let count = words.len();
    let flat = words.reshape(&[count, 1])?;
    let columns =
        (0..64u32).map(|j| Ok(flat.shr_logical(j)?.and_scalar(1))).collect::<Result<Vec<_>>>()?;
    let refs: Vec<&RingTensor<u64>> = columns.iter().collect();
    let all = RingTensor::concat(&refs, 1)?.reshape(&[count * 64])?;
    Ok(all.slice(0, 0, n, 1)?)
}

/// Checks a carry chain's tensors (`generate` `[n, W]` with `n >= 1`, `propagate`
/// `[n - 1, W]`) before anything is sent; `W`.
pub(super) fn check_chain_tensors(
    generate: &RingTensor<u64>,
    propagate: &RingTensor<u64>,
) -> Result<usize> {
    let (gs, ps) = (generate.shape(), propagate.shape());
    if gs.len() != 2 || ps.len() != 2 || gs[0] == 0 || ps[0] + 1 != gs[0] || ps[1] != gs[1] {
        return Err(invalid("carry", "positions of other lengths or counts"));
    }
    Ok(gs[1])
}
