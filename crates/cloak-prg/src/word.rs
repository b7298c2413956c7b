//! The integer types a [`Prg`](crate::Prg) fills: how each is read from keystream bytes.

use crate::AesCtr;
use crate::mem::as_bytes_mut;

/// An output type of the generator. Words are read little-endian from consecutive keystream
/// bytes, so every machine sees the same values for the same seed.
pub(crate) trait Word: Copy + Send + Sync + 'static {
    /// Bytes per word (divides the 16-byte block).
    const BYTES: usize;
    /// The additive identity (for zero sharing).
    const ZERO: Self;

    /// Reads `out.len()` words from the start of `bytes` (which holds at least that many).
    fn decode_le(out: &mut [Self], bytes: &[u8]);

    /// Overwrites `out` with the next `out.len() * BYTES` keystream bytes of `ctr`, encrypted
    /// straight into `out`'s memory (no copy).
    fn keystream_into(ctr: &mut AesCtr, out: &mut [Self]);

    /// Subtraction modulo 2^bits.
    fn wrapping_sub(self, rhs: Self) -> Self;
}

macro_rules! impl_word {
    ($t:ty, $n:literal) => {
        impl Word for $t {
            const BYTES: usize = $n;
            const ZERO: Self = 0;

            #[inline]
            fn decode_le(out: &mut [Self], bytes: &[u8]) {
                let (chunks, _) = bytes.as_chunks::<$n>();
                for (o, c) in out.iter_mut().zip(chunks) {
                    *o = <$t>::from_le_bytes(*c);
                }
            }

            fn keystream_into(ctr: &mut AesCtr, out: &mut [Self]) {
                ctr.keystream(as_bytes_mut(out));
                if cfg!(target_endian = "big") {
                    for word in out.iter_mut() {
                        *word = <$t>::from_le(*word);
                    }
                }
            }

            #[inline]
            fn wrapping_sub(self, rhs: Self) -> Self {
                <$t>::wrapping_sub(self, rhs)
            }
        }
    };
}

impl_word!(u32, 4);
impl_word!(u64, 8);

impl Word for u8 {
    const BYTES: usize = 1;
    const ZERO: Self = 0;

    fn decode_le(out: &mut [Self], bytes: &[u8]) {
        let n = out.len();
        out.copy_from_slice(&bytes[..n]);
    }

    fn keystream_into(ctr: &mut AesCtr, out: &mut [Self]) {
        ctr.keystream(out);
    }

    fn wrapping_sub(self, rhs: Self) -> Self {
        u8::wrapping_sub(self, rhs)
    }
}
