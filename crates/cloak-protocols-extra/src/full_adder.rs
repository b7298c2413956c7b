//! CrypTen's comparison as a strategy: A2B by a full adder, then the top bit.

use cloak_mpc::Result;
use cloak_mpc::primitives::{ComparisonProtocol, Context};
use cloak_ring::RingTensor;

/// The sign of additively shared values as the top bit of their full binary sum: every
/// party's share is a binary-shared value held by that party, carry-save adders reduce
/// them to two and a Kogge-Stone adder adds those
/// ([`Context::add_binary_words`]), as CrypTen's `_A2B` does; bit 63 of each sum is the
/// sign.
///
/// Rounds: 7 for two parties, like the built-in circuit, but it computes all 64 sum bits
/// where only the top one is needed: 12 AND words per element instead of the built-in
/// circuit's 181 gates (under 3 words), about four times the bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct FullAdderSign;

impl ComparisonProtocol for FullAdderSign {
    fn name(&self) -> &'static str {
        "full-adder"
    }

    fn ltz_packed(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<Vec<u64>> {
        let own = x.as_slice();
        let values = ctx.own_as_binary_values(&own);
        let sums = ctx.add_binary_words(values)?;
        Ok(pack_top_bits(&sums))
    }
}

/// Bit 63 of every word, packed 64 per word (bit `k % 64` of word `k / 64` for element
/// `k`): a local step on XOR shares, since XOR acts bitwise.
fn pack_top_bits(words: &[u64]) -> Vec<u64> {
    let mut packed = vec![0u64; words.len().div_ceil(64)];
    for (k, w) in words.iter().enumerate() {
        packed[k / 64] |= (w >> 63) << (k % 64);
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::pack_top_bits;

    #[test]
    fn top_bits_are_packed_in_element_order() {
        let mut words = vec![0u64; 70];
        words[1] = 1 << 63;
        words[65] = u64::MAX;
        words[3] = (1 << 63) - 1;
        let packed = pack_top_bits(&words);
        assert_eq!(packed, vec![0b10, 0b10]);
    }
}
