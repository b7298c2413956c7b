//! AES-128 in counter mode (NIST SP 800-38A), generated many blocks per call.

use std::fmt;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use crate::mem::prefetch;

/// Bytes in one AES block.
pub const BLOCK_LEN: usize = 16;

/// Blocks encrypted per `encrypt_blocks` call: 64 blocks (1 KiB) is one VAES-512 batch of the
/// `aes` crate (8 AES-NI batches); counters are written and encrypted while in L1.
pub(crate) const CHUNK_BLOCKS: usize = 64;

/// Up to this many blocks, encrypting one block at a time beats encrypting a whole chunk.
const FEW_BLOCKS: usize = 4;

/// How far ahead of the chunk being encrypted the output is prefetched: 8 KiB (8 chunks) was
/// the best distance measured (1 to 32 KiB tried) on a 64 MiB fill.
const PREFETCH_AHEAD_BLOCKS: usize = 8 * CHUNK_BLOCKS;

/// AES-128 counter mode: keystream block `i` is `AES_k(c0 + i)`, where the counter block `c0`
/// is read as a big-endian 128-bit integer and incremented modulo 2^128 (SP 800-38A, B.1).
///
/// The keystream is a byte stream: calls to [`keystream`](Self::keystream) and
/// [`apply_keystream`](Self::apply_keystream) of any lengths continue where the last one
/// stopped, keeping the unused tail of a partly consumed block.
#[derive(Clone)]
pub struct AesCtr {
    cipher: Aes128Enc,
    /// The counter block of keystream block 0, as an integer.
    initial: u128,
    /// The counter block of the next block to encrypt.
    next: u128,
    /// Keystream of the last block encrypted; bytes before `partial_pos` are used up.
    partial: [u8; BLOCK_LEN],
    partial_pos: usize,
}

impl AesCtr {
    /// A counter-mode keystream under `key`, starting at the counter block `initial_counter`.
    #[must_use]
    pub fn new(key: &[u8; BLOCK_LEN], initial_counter: &[u8; BLOCK_LEN]) -> Self {
        let initial = u128::from_be_bytes(*initial_counter);
        Self {
            cipher: Aes128Enc::new(&Array::from(*key)),
            initial,
            next: initial,
            partial: [0; BLOCK_LEN],
            partial_pos: BLOCK_LEN,
        }
    }

    /// Moves to the start of keystream block `block` (counter `initial + block`, mod 2^128),
    /// forgetting any partly used block.
    pub fn seek(&mut self, block: u128) {
        self.next = self.initial.wrapping_add(block);
        self.partial_pos = BLOCK_LEN;
    }

    /// The number of keystream blocks generated so far (a partly used block counts as
    /// generated), i.e. the block index the next fresh block will have.
    #[must_use]
    pub fn block_position(&self) -> u128 {
        self.next.wrapping_sub(self.initial)
    }

    /// Overwrites `out` with the next `out.len()` keystream bytes. Whole blocks are encrypted
    /// in place in `out` (counters written there first), so nothing is copied.
    pub fn keystream(&mut self, out: &mut [u8]) {
        let out = self.take_partial(out, |o, k| o.copy_from_slice(k));
        let (blocks, tail) = out.as_chunks_mut::<BLOCK_LEN>();
        for start in (0..blocks.len()).step_by(CHUNK_BLOCKS) {
            prefetch_blocks(blocks, start + PREFETCH_AHEAD_BLOCKS);
            let end = (start + CHUNK_BLOCKS).min(blocks.len());
            self.encrypt_counters(&mut blocks[start..end]);
        }
        self.put_partial(tail, |o, k| o.copy_from_slice(k));
    }

    /// XORs the next `data.len()` keystream bytes into `data` (encrypts or decrypts).
    pub fn apply_keystream(&mut self, data: &mut [u8]) {
        let data = self.take_partial(data, xor_into);
        let (blocks, tail) = data.as_chunks_mut::<BLOCK_LEN>();
        let mut ks = [[0u8; BLOCK_LEN]; CHUNK_BLOCKS];
        for start in (0..blocks.len()).step_by(CHUNK_BLOCKS) {
            prefetch_blocks(blocks, start + PREFETCH_AHEAD_BLOCKS);
            let end = (start + CHUNK_BLOCKS).min(blocks.len());
            let ks = &mut ks[..end - start];
            self.encrypt_counters(ks);
            for (d, k) in blocks[start..end].iter_mut().zip(ks.iter()) {
                xor_into(d, k);
            }
        }
        self.put_partial(tail, xor_into);
    }

    /// Overwrites `blocks` (at most one chunk) with the next `blocks.len()` keystream blocks.
    ///
    /// The `aes` crate encrypts the blocks past its last full batch one at a time, bound by the
    /// latency of one AES call each (about 12 ns); a partial chunk of more than a few blocks is
    /// therefore encrypted as a whole chunk in scratch, and the blocks not needed are dropped.
    fn encrypt_counters(&mut self, blocks: &mut [[u8; BLOCK_LEN]]) {
        let n = blocks.len();
        debug_assert!(n <= CHUNK_BLOCKS, "encrypt_counters takes at most one chunk");
        if n == CHUNK_BLOCKS || n <= FEW_BLOCKS {
            write_counters(blocks, self.next);
            self.cipher.encrypt_blocks(Array::cast_slice_from_core_mut(blocks));
        } else {
            let mut chunk = [[0u8; BLOCK_LEN]; CHUNK_BLOCKS];
            write_counters(&mut chunk, self.next);
            self.cipher.encrypt_blocks(Array::cast_slice_from_core_mut(&mut chunk));
            blocks.copy_from_slice(&chunk[..n]);
        }
        self.next = self.next.wrapping_add(n as u128);
    }

    /// Combines the unused bytes of the partial block into the front of `out` with `op`;
    /// returns the rest of `out`.
    fn take_partial<'a>(
        &mut self,
        out: &'a mut [u8],
        op: impl Fn(&mut [u8], &[u8]),
    ) -> &'a mut [u8] {
        let take = (BLOCK_LEN - self.partial_pos).min(out.len());
        let (head, rest) = out.split_at_mut(take);
        op(head, &self.partial[self.partial_pos..self.partial_pos + take]);
        self.partial_pos += take;
        rest
    }

    /// Encrypts one more block for a `tail` shorter than a block, combines its start into
    /// `tail` with `op` and keeps the rest for the next call.
    fn put_partial(&mut self, tail: &mut [u8], op: impl Fn(&mut [u8], &[u8])) {
        if tail.is_empty() {
            return;
        }
        let mut block = [[0u8; BLOCK_LEN]];
        self.encrypt_counters(&mut block);
        self.partial = block[0];
        op(tail, &self.partial[..tail.len()]);
        self.partial_pos = tail.len();
    }
}

/// Writes the big-endian counter blocks `start, start + 1, ...` (mod 2^128) into `blocks`.
///
/// Unless the low 64 bits wrap inside this batch (once per 2^64 blocks), the high half is the
/// same for every block and the low half is a plain `u64` count, which the compiler turns into
/// a few vector instructions per 4 blocks instead of a 128-bit add and byte swap per block.
fn write_counters(blocks: &mut [[u8; BLOCK_LEN]], start: u128) {
    let high = ((start >> 64) as u64).to_be_bytes();
    let low = start as u64;
    if low.checked_add(blocks.len() as u64).is_none() {
        let mut counter = start;
        for block in blocks.iter_mut() {
            *block = counter.to_be_bytes();
            counter = counter.wrapping_add(1);
        }
        return;
    }
    for (i, block) in (0u64..).zip(blocks.iter_mut()) {
        let (hi, lo) = block.split_at_mut(8);
        hi.copy_from_slice(&high);
        lo.copy_from_slice(&(low + i).to_be_bytes());
    }
}

/// Prefetches the chunk of `blocks` that starts at block `from`, if there is one.
fn prefetch_blocks(blocks: &[[u8; BLOCK_LEN]], from: usize) {
    if let Some(ahead) = blocks.get(from..(from + CHUNK_BLOCKS).min(blocks.len())) {
        prefetch(ahead.as_flattened());
    }
}

fn xor_into(data: &mut [u8], keystream: &[u8]) {
    for (d, k) in data.iter_mut().zip(keystream) {
        *d ^= k;
    }
}

impl fmt::Debug for AesCtr {
    /// Shows the position only: the key and keystream are secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesCtr")
            .field("key", &"<redacted>")
            .field("block_position", &self.block_position())
            .finish_non_exhaustive()
    }
}
