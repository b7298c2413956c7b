//! The pseudo-random stream a device makes for [`Device::keystream`](super::Device::keystream),
//! computed on the host: the reference a device's kernel is checked against, and the simulated
//! device's implementation.
//!
//! The stream is AES-128 in counter mode with the key as given and the counter block starting
//! at 0: block `i` is `AES_key(i)` with `i` written big-endian in 16 bytes, and the stream is
//! the concatenation of the blocks. Words are read from it little-endian, `T::BYTES` at a
//! time, so word `w` of a `u64` stream is bytes `8w..8w + 8`. It is the stream of
//! `cloak_prg::Prg` for a seed of the same bytes (a test of the dealer layer, which sees both
//! crates, checks that they agree).

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use crate::element::RingElement;

/// Bytes per AES block.
const BLOCK: usize = 16;

/// Blocks encrypted per call (a batch the AES backend pipelines).
const BATCH: usize = 64;

/// Words `first_word..first_word + len` of the keystream under `key`.
#[must_use]
pub fn keystream<T: RingElement>(key: &[u8; 16], first_word: u64, len: usize) -> Vec<T> {
    let cipher = Aes128Enc::new(&Array::from(*key));
    let first_byte = u128::from(first_word) * T::BYTES as u128;
    let skip = (first_byte % BLOCK as u128) as usize;
    let mut counter = first_byte / BLOCK as u128;
    let mut out = Vec::with_capacity(len);
    let mut pending: Vec<u8> = Vec::with_capacity(BATCH * BLOCK + T::BYTES);
    let mut start = skip;
    while out.len() < len {
        let mut blocks = [[0u8; BLOCK]; BATCH];
        for b in &mut blocks {
            *b = counter.to_be_bytes();
            counter = counter.wrapping_add(1);
        }
        cipher.encrypt_blocks(Array::cast_slice_from_core_mut(&mut blocks));
        pending.extend(blocks.iter().flatten().skip(start));
        start = 0;
        let whole = pending.len() / T::BYTES;
        let take = whole.min(len - out.len());
        out.extend(pending[..take * T::BYTES].chunks_exact(T::BYTES).map(T::read_le));
        pending.drain(..take * T::BYTES);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::keystream;

    /// FIPS-197 appendix C.1's key encrypting the counter blocks 0 and 1, computed
    /// independently: a wrong byte order of the counter or of the words shows here.
    #[test]
    fn words_are_the_little_endian_blocks_of_the_counter() {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let words = keystream::<u64>(&key, 0, 4);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        // AES-128 under key 00..0f of the all-zero block.
        assert_eq!(&bytes[..16], &hex("c6a13b37878f5b826f4f8162a1c8d879"));
        // An offset stream is the same stream, from that word on, for any word width.
        for first in [0u64, 1, 3, 63, 64, 65, 130] {
            let all = keystream::<u64>(&key, 0, first as usize + 5);
            assert_eq!(keystream::<u64>(&key, first, 5), &all[first as usize..]);
            let all32 = keystream::<u32>(&key, 0, first as usize + 5);
            assert_eq!(keystream::<u32>(&key, first, 5), &all32[first as usize..]);
        }
        assert!(keystream::<u64>(&key, 7, 0).is_empty());
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
