//! B2A of single bits: XOR-shared bits to additive 0/1 shares, with random bits the dealer
//! shares both ways.
//!
//! Open `z = b ^ r` (one round, the bits packed 64 per word, so one bit per element on the
//! wire; CrypTen sends a 64-bit word per bit) and rebuild each bit as `z + r - 2 z r`,
//! linear in the additive shares of `r` once `z` is public.

use cloak_dealer::Request;

use super::context::Context;
use crate::error::{Result, invalid};

impl Context {
    /// Additive shares (0/1, scale 1) of `n` XOR-shared bits packed 64 per word: one round,
    /// `ceil(n / 64)` words per peer, `n` random bits from the dealer.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for a packing of the
    /// wrong length (before anything is sent); a communication or dealer error.
    pub fn bits_to_arith(&mut self, packed: &[u64], n: usize) -> Result<Vec<u64>> {
        if packed.len() != n.div_ceil(64) {
            return Err(invalid("b2a", format!("{} words for {n} bits", packed.len())));
        }
        let bits = self.fetch(&Request::RandomBits { count: n })?.into_bits();
        let masked: Vec<u64> =
            packed.iter().zip(bits.xor.as_slice().iter()).map(|(x, r)| x ^ r).collect();
        let z = self.open_words("b2a", vec![masked], true)?.remove(0);
        let first = self.is_first();
        let r = bits.arith.as_slice();
        Ok((0..n)
            .map(|i| {
                // r + z (1 - 2 r), party 0 adding z: branch-free, as z is a random bit.
                let zi = (z[i / 64] >> (i % 64)) & 1;
                let share = r[i].wrapping_sub(zi.wrapping_mul(r[i] << 1));
                share.wrapping_add(zi & u64::from(first))
            })
            .collect())
    }

    /// B2A of whole words: additive shares of the 64-bit values whose XOR shares are
    /// `words`. One round, 64 random bits per word.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn words_to_arith(&mut self, words: &[u64]) -> Result<Vec<u64>> {
        let n = words.len();
        let bits = self.fetch(&Request::RandomBits { count: n * 64 })?.into_bits();
        let masked: Vec<u64> =
            words.iter().zip(bits.xor.as_slice().iter()).map(|(x, r)| x ^ r).collect();
        let z = self.open_words("b2a", vec![masked], true)?.remove(0);
        let r = bits.arith.as_slice();
        let first = self.is_first();
        Ok((0..n)
            .map(|e| {
                let mut acc = if first { z[e] } else { 0 };
                for j in 0..64 {
                    let rj = r[e * 64 + j];
                    let term = if (z[e] >> j) & 1 == 1 { rj.wrapping_neg() } else { rj };
                    acc = acc.wrapping_add(term << j);
                }
                acc
            })
            .collect())
    }
}
