//! The generator: AES-128-CTR keyed by a seed, buffered so every read continues one stream.

use std::fmt;

use rand_core::{CryptoRng, RngCore, SeedableRng};

use crate::PrgError;
use crate::ctr::{AesCtr, BLOCK_LEN, CHUNK_BLOCKS};
use crate::seed::{SEED_LEN, Seed};
use crate::word::Word;

/// Keystream bytes a refill adds to the buffer: one `encrypt_blocks` chunk (1 KiB), so a run of
/// `next_u64` calls costs one AES call per 128 words while a generator stays small.
const BUF_LEN: usize = CHUNK_BLOCKS * BLOCK_LEN;

/// The cryptographic pseudo-random generator under every share in Cloak.
///
/// Its output is the AES-128-CTR keystream with the seed as key and the counter block starting
/// at 0 (so block `i` is `AES_seed(i)` with `i` big-endian): `fill_bytes` returns that byte
/// stream, and `next_u32`/`next_u64`/`fill_u32`/`fill_u64` read its next 4 or 8 bytes as
/// little-endian integers. All reads, in any mix and of any lengths, consume one stream, so a
/// party's randomness depends only on its seed and the sequence of amounts it asked for.
///
/// Bulk fills encrypt counter blocks straight into the caller's buffer, 64 blocks per AES call,
/// with no per-element work; `par_fill_*` split large buffers over rayon threads with identical
/// results.
#[derive(Clone)]
pub struct Prg {
    pub(crate) ctr: AesCtr,
    /// Keystream bytes generated but not yet returned are `buf[pos..end]`; `buf[end]` is the
    /// stream position of `ctr`, always a block boundary. The extra block of room holds a word
    /// split across refills.
    buf: Box<[u8; BUF_LEN + BLOCK_LEN]>,
    pos: usize,
    end: usize,
}

impl Prg {
    /// The generator of `seed`, at the start of its stream.
    #[must_use]
    pub fn new(seed: &Seed) -> Self {
        Self::from_ctr(AesCtr::new(seed.expose_bytes(), &[0; BLOCK_LEN]))
    }

    /// A generator on a freshly drawn operating-system seed.
    ///
    /// # Errors
    /// [`PrgError::Entropy`] if the operating system cannot provide random bytes.
    pub fn from_os_entropy() -> Result<Self, PrgError> {
        Ok(Self::new(&Seed::from_os_entropy()?))
    }

    pub(crate) fn from_ctr(ctr: AesCtr) -> Self {
        Self { ctr, buf: Box::new([0; BUF_LEN + BLOCK_LEN]), pos: 0, end: 0 }
    }

    /// Fills `out` with the next `8 * out.len()` stream bytes read as little-endian `u64`s.
    pub fn fill_u64(&mut self, out: &mut [u64]) {
        self.fill_words(out);
    }

    /// Fills `out` with the next `4 * out.len()` stream bytes read as little-endian `u32`s.
    pub fn fill_u32(&mut self, out: &mut [u32]) {
        self.fill_words(out);
    }

    /// Fills `out` with the next `out.len()` stream bytes.
    pub fn fill_bytes(&mut self, out: &mut [u8]) {
        self.fill_words(out);
    }

    /// Moves to the start of keystream block `block` (byte `16 * block` of the stream).
    pub fn seek(&mut self, block: u64) {
        self.set_byte_position(u128::from(block) * BLOCK_LEN as u128);
    }

    /// How many stream bytes have been returned so far.
    #[must_use]
    pub fn byte_position(&self) -> u128 {
        // Every buffered byte came from `ctr`, so this never wraps for reachable positions
        // (below 2^124 blocks); wrapping arithmetic only keeps it panic-free.
        let generated = self.ctr.block_position().wrapping_mul(BLOCK_LEN as u128);
        generated.wrapping_sub((self.end - self.pos) as u128)
    }

    /// Moves to stream byte `pos`, dropping whatever was buffered (the stream is a function
    /// of the position, so nothing is lost).
    pub(crate) fn set_byte_position(&mut self, pos: u128) {
        self.ctr.seek(pos / BLOCK_LEN as u128);
        self.pos = 0;
        self.end = 0;
        let offset = (pos % BLOCK_LEN as u128) as usize;
        if offset > 0 {
            self.refill();
            self.pos = offset;
        }
    }

    /// Fills `out` with the next words of the stream.
    ///
    /// Buffered bytes are used first. Then, if that leaves the stream at a block boundary
    /// (always, unless earlier reads ended mid-word), whole 1 KiB chunks are encrypted straight
    /// into `out`; only a final partial chunk, or everything after a read that ended mid-word,
    /// goes through the buffer.
    pub(crate) fn fill_words<W: Word>(&mut self, out: &mut [W]) {
        let mut rest = self.take_buffered(out);
        if self.pos == self.end {
            // Whole chunks only: the AES backend is fastest on full 64-block batches.
            let words_per_chunk = BUF_LEN / W::BYTES;
            let whole = rest.len() / words_per_chunk * words_per_chunk;
            let (blocks, tail) = rest.split_at_mut(whole);
            W::keystream_into(&mut self.ctr, blocks);
            rest = tail;
        }
        while !rest.is_empty() {
            self.refill();
            rest = self.take_buffered(rest);
        }
    }

    /// Decodes as many whole words of `out` as the buffer holds; returns the rest of `out`.
    fn take_buffered<'a, W: Word>(&mut self, out: &'a mut [W]) -> &'a mut [W] {
        let n = ((self.end - self.pos) / W::BYTES).min(out.len());
        let (head, rest) = out.split_at_mut(n);
        W::decode_le(head, &self.buf[self.pos..self.pos + n * W::BYTES]);
        self.pos += n * W::BYTES;
        rest
    }

    /// Keeps the unused bytes (fewer than a word, hence than a block), moved to the front, and
    /// appends `BUF_LEN` fresh keystream bytes.
    fn refill(&mut self) {
        let kept = self.end - self.pos;
        debug_assert!(kept < BLOCK_LEN, "refill with a whole block still buffered");
        self.buf.copy_within(self.pos..self.end, 0);
        self.ctr.keystream(&mut self.buf[kept..kept + BUF_LEN]);
        self.pos = 0;
        self.end = kept + BUF_LEN;
    }

    #[inline]
    fn next_word<W: Word>(&mut self) -> W {
        let mut word = [W::ZERO];
        if self.end - self.pos >= W::BYTES {
            W::decode_le(&mut word, &self.buf[self.pos..]);
            self.pos += W::BYTES;
        } else {
            self.fill_words(&mut word);
        }
        word[0]
    }
}

impl RngCore for Prg {
    fn next_u32(&mut self) -> u32 {
        self.next_word()
    }

    fn next_u64(&mut self) -> u64 {
        self.next_word()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        Prg::fill_bytes(self, dst);
    }
}

/// AES-128-CTR with a secret uniformly random key is a PRF-based stream: indistinguishable
/// from random bytes for anyone without the seed.
impl CryptoRng for Prg {}

impl SeedableRng for Prg {
    type Seed = [u8; SEED_LEN];

    fn from_seed(seed: Self::Seed) -> Self {
        Self::new(&Seed::from_bytes(seed))
    }
}

impl fmt::Debug for Prg {
    /// Shows the position only: the key and buffered keystream are secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prg")
            .field("seed", &"<redacted>")
            .field("byte_position", &self.byte_position())
            .finish_non_exhaustive()
    }
}
