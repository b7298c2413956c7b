//! A fixed-key AES hash for the trees of function secret sharing: `G(s)` doubles a 128-bit
//! seed into two pseudo-random blocks, as Matyas-Meyer-Oseas with a public key,
//! `AES_k(s) ^ s` and `AES_k(s ^ 1) ^ s ^ 1`. The key is public and fixed, so the key
//! schedule is done once and a whole level of a tree (one seed per element) is hashed in
//! batches through the hardware AES path.

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

/// The public key of the tree hash: any fixed value works, this one is Cloak's.
const TREE_KEY: [u8; 16] = *b"cloak/fss/tree-g";

/// Blocks per batch: a VAES-512 batch of the `aes` crate is 64 blocks.
const BATCH: usize = 64;

/// `G(s) = (AES_k(s) ^ s, AES_k(s ^ 1) ^ s ^ 1)` with a fixed public key.
pub struct FixedKeyAes {
    cipher: Aes128Enc,
}

impl std::fmt::Debug for FixedKeyAes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FixedKeyAes")
    }
}

impl Default for FixedKeyAes {
    fn default() -> Self {
        Self::new()
    }
}

impl FixedKeyAes {
    /// The tree hash with Cloak's fixed key.
    #[must_use]
    pub fn new() -> Self {
        Self { cipher: Aes128Enc::new(&Array::from(TREE_KEY)) }
    }

    /// `G` of every seed: `out[k] = (left, right)` of `seeds[k]`.
    pub fn expand(&self, seeds: &[u128], out: &mut Vec<(u128, u128)>) {
        out.clear();
        out.reserve(seeds.len());
        let mut blocks = [Array::<u8, _>::default(); BATCH];
        for chunk in seeds.chunks(BATCH / 2) {
            let used = 2 * chunk.len();
            for (i, &s) in chunk.iter().enumerate() {
                blocks[2 * i] = Array::from(s.to_le_bytes());
                blocks[2 * i + 1] = Array::from((s ^ 1).to_le_bytes());
            }
            self.cipher.encrypt_blocks(&mut blocks[..used]);
            for (i, &s) in chunk.iter().enumerate() {
                let word = |b: &Array<u8, _>| {
                    let mut bytes = [0u8; 16];
                    bytes.copy_from_slice(b);
                    u128::from_le_bytes(bytes)
                };
                out.push((word(&blocks[2 * i]) ^ s, word(&blocks[2 * i + 1]) ^ s ^ 1));
            }
        }
    }

    /// `width` hashed blocks of every seed, `AES_k(s ^ i) ^ s ^ i` for `i` in `0..width`,
    /// seed after seed in `out` (`width` of 1 to 64). The first two are [`expand`]'s pair;
    /// the others carry the values of a tree whose leaves hold ring elements.
    ///
    /// [`expand`]: Self::expand
    pub fn expand_wide(&self, seeds: &[u128], width: usize, out: &mut Vec<u128>) {
        let width = width.clamp(1, BATCH);
        let per = BATCH / width;
        out.resize(seeds.len() * width, 0);
        let mut blocks = [[0u8; 16]; BATCH];
        for (chunk, dst) in seeds.chunks(per).zip(out.chunks_mut(per * width)) {
            for (i, &s) in chunk.iter().enumerate() {
                for j in 0..width {
                    blocks[width * i + j] = (s ^ j as u128).to_le_bytes();
                }
            }
            // Always a whole batch: the `aes` crate encrypts blocks past its last full
            // batch one at a time, at the latency of one AES call each (a width of 3 would
            // leave 63 of 64 blocks to that slow path).
            self.cipher.encrypt_blocks(Array::cast_slice_from_core_mut(&mut blocks));
            for (i, &s) in chunk.iter().enumerate() {
                for j in 0..width {
                    dst[width * i + j] = u128::from_le_bytes(blocks[width * i + j]) ^ s ^ j as u128;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FixedKeyAes;

    #[test]
    fn expansion_is_deterministic_batched_and_spreads() {
        let g = FixedKeyAes::new();
        let seeds: Vec<u128> =
            (0..100u128).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
        let (mut all, mut one) = (Vec::new(), Vec::new());
        g.expand(&seeds, &mut all);
        for (k, s) in seeds.iter().enumerate() {
            g.expand(&[*s], &mut one);
            assert_eq!(one[0], all[k], "seed {k}: batching changes nothing");
            assert_ne!(one[0].0, one[0].1);
        }
        let mut wide = Vec::new();
        g.expand_wide(&seeds, 3, &mut wide);
        for (k, pair) in all.iter().enumerate() {
            assert_eq!((wide[3 * k], wide[3 * k + 1]), *pair, "seed {k}: the wide hash extends G");
        }
        // Neighbouring seeds give unrelated outputs: about half the bits differ.
        let diff = (all[0].0 ^ all[1].0).count_ones();
        assert!((32..=96).contains(&diff), "{diff} bits differ");
    }
}
