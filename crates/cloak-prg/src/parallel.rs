//! Multi-threaded fills: counter mode makes every block independent, so a large buffer is cut
//! into pieces that rayon threads generate from their own positions in the same stream.

use rayon::prelude::*;

use crate::Prg;
use crate::word::Word;

/// Buffers smaller than this are filled on the calling thread: below about 1 MiB (≈0.1 ms at
/// 10 GB/s) thread hand-off costs more than it saves.
pub const PAR_MIN_BYTES: usize = 1 << 20;

/// Bytes per parallel piece: large enough that seeking and buffer set-up are negligible,
/// small enough to balance over threads.
pub(crate) const PAR_PIECE_BYTES: usize = 256 << 10;

impl Prg {
    /// [`fill_u64`](Self::fill_u64) spread over the rayon thread pool for buffers of at least
    /// [`PAR_MIN_BYTES`]; the result and the generator's state afterwards are exactly those of
    /// the sequential fill.
    pub fn par_fill_u64(&mut self, out: &mut [u64]) {
        self.par_fill(out);
    }

    /// [`fill_u32`](Self::fill_u32) spread over threads; see [`par_fill_u64`](Self::par_fill_u64).
    pub fn par_fill_u32(&mut self, out: &mut [u32]) {
        self.par_fill(out);
    }

    /// [`fill_bytes`](Self::fill_bytes) spread over threads; see
    /// [`par_fill_u64`](Self::par_fill_u64).
    pub fn par_fill_bytes(&mut self, out: &mut [u8]) {
        self.par_fill(out);
    }

    fn par_fill<W: Word>(&mut self, out: &mut [W]) {
        if !worth_splitting::<W>(out.len()) {
            self.fill_words(out);
            return;
        }
        let start = self.byte_position();
        out.par_chunks_mut(PAR_PIECE_BYTES / W::BYTES).enumerate().for_each(|(i, piece)| {
            self.fork_at(start + (i * PAR_PIECE_BYTES) as u128).fill_words(piece);
        });
        self.set_byte_position(start + (out.len() * W::BYTES) as u128);
    }

    /// A generator on the same key, at stream byte `pos`.
    pub(crate) fn fork_at(&self, pos: u128) -> Prg {
        let mut fork = Prg::from_ctr(self.ctr.clone());
        fork.set_byte_position(pos);
        fork
    }
}

/// Whether `words` words are enough to split over threads.
pub(crate) fn worth_splitting<W: Word>(words: usize) -> bool {
    words * W::BYTES >= PAR_MIN_BYTES && rayon::current_num_threads() > 1
}
