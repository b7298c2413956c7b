//! A fixed-key AES hash for the trees of function secret sharing: `G(s)` doubles a 128-bit
//! seed into two pseudo-random blocks, as Matyas-Meyer-Oseas with a public key,
//! `AES_k(s) ^ s` and `AES_k(s ^ 1) ^ s ^ 1`. The key is public and fixed, so the key
//! schedule is done once and a whole level of a tree (one seed per element) is hashed in
//! batches through the hardware AES path.

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use crate::mem::as_bytes_mut;

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
        match width {
            0..=1 => self.expand_fixed::<1>(seeds, out),
            2 => self.expand_fixed::<2>(seeds, out),
            3 => self.expand_fixed::<3>(seeds, out),
            4 => self.expand_fixed::<4>(seeds, out),
            _ => self.expand_any(seeds, width.min(BATCH), out),
        }
    }

    /// [`expand_wide`](Self::expand_wide) for a width known at compile time (the trees use
    /// 2 to 4): each batch of tweaked seeds is hashed in a buffer on the stack, and the
    /// loops that fill it and feed forward have a fixed length.
    fn expand_fixed<const W: usize>(&self, seeds: &[u128], out: &mut Vec<u128>) {
        let per = BATCH / W;
        // Resizing a reused buffer to the same length writes nothing.
        out.resize(seeds.len() * W, 0);
        let mut batch = [0u128; BATCH];
        for (chunk, dst) in seeds.chunks(per).zip(out.chunks_mut(per * W)) {
            for (blocks, &s) in batch.chunks_exact_mut(W).zip(chunk) {
                for (j, b) in blocks.iter_mut().enumerate() {
                    *b = s ^ j as u128;
                }
            }
            self.encrypt_batch(&mut batch);
            for ((hashed, blocks), &s) in
                dst.chunks_exact_mut(W).zip(batch.chunks_exact(W)).zip(chunk)
            {
                for (j, (h, b)) in hashed.iter_mut().zip(blocks).enumerate() {
                    *h = b ^ s ^ j as u128;
                }
            }
        }
    }

    /// Encrypts a whole batch in place: the `aes` crate encrypts blocks past its last full
    /// batch one at a time, at the latency of one AES call each, so a batch is always full
    /// (a width of 3 leaves one unused block).
    fn encrypt_batch(&self, batch: &mut [u128; BATCH]) {
        let (bytes, _) = as_bytes_mut(batch).as_chunks_mut::<16>();
        self.cipher.encrypt_blocks(Array::cast_slice_from_core_mut(bytes));
    }

    fn expand_any(&self, seeds: &[u128], width: usize, out: &mut Vec<u128>) {
        let per = BATCH / width;
        out.resize(seeds.len() * width, 0);
        let mut batch = [0u128; BATCH];
        for (chunk, dst) in seeds.chunks(per).zip(out.chunks_mut(per * width)) {
            for (blocks, &s) in batch.chunks_exact_mut(width).zip(chunk) {
                for (j, b) in blocks.iter_mut().enumerate() {
                    *b = s ^ j as u128;
                }
            }
            self.encrypt_batch(&mut batch);
            for ((hashed, blocks), &s) in
                dst.chunks_exact_mut(width).zip(batch.chunks_exact(width)).zip(chunk)
            {
                for (j, (h, b)) in hashed.iter_mut().zip(blocks).enumerate() {
                    *h = b ^ s ^ j as u128;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aes::Aes128Enc;
    use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

    use super::{FixedKeyAes, TREE_KEY};

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
        // Every width, and seed counts that leave a partial last batch, hash each block by
        // the definition AES_k(s ^ j) ^ s ^ j.
        let aes = Aes128Enc::new(&Array::from(TREE_KEY));
        for width in 1..=7 {
            for count in [1, 20, 21, 22, 65] {
                g.expand_wide(&seeds[..count], width, &mut wide);
                assert_eq!(wide.len(), count * width);
                for (k, &s) in seeds[..count].iter().enumerate() {
                    for j in 0..width {
                        let input = s ^ j as u128;
                        let mut block = Array::from(input.to_le_bytes());
                        aes.encrypt_block(&mut block);
                        let want = u128::from_le_bytes(block.into()) ^ input;
                        assert_eq!(
                            wide[k * width + j],
                            want,
                            "width {width}, {count} seeds, seed {k}, block {j}"
                        );
                    }
                }
            }
        }
        // Neighbouring seeds give unrelated outputs: about half the bits differ.
        let diff = (all[0].0 ^ all[1].0).count_ones();
        assert!((32..=96).contains(&diff), "{diff} bits differ");
    }
}
