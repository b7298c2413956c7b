//! B2A of whole words in tensor form, for shares that live on a device.
//!
//! [`Context::words_to_arith_tensor`] computes what [`Context::words_to_arith`] computes
//! (open `z = x ^ r`, then rebuild each bit as `z + r - 2 z r` and weigh it by its place),
//! with the same round, bytes and dealer words; every step is a tensor operation, so a
//! device share stays there: only the masked words cross to the host, and the opened ones
//! cross back.

use cloak_dealer::Request;
use cloak_ring::RingTensor;

use super::bit_tensors::unpack_bits;
use super::context::Context;
use crate::error::Result;

impl Context {
    /// Additive shares of the 64-bit values whose XOR shares are the words of `words`, in
    /// its shape, where it lives: [`words_to_arith`](Self::words_to_arith) as tensor
    /// operations. One round, the words to each peer, 64 random bits per word.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn words_to_arith_tensor(&mut self, words: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        let n = words.len();
        let shape = words.shape().to_vec();
        let bits = self.fetch(&Request::RandomBits { count: n * 64 })?.into_bits();
        let masked = words.reshape(&[n])?.xor(&bits.xor.reshape(&[n])?)?;
        let z = self.open_tensor_parts("b2a", vec![masked], &|_| true)?.remove(0);
        // Bit j of element e at column j of row e.
        let zb = unpack_bits(&z, n * 64)?.reshape(&[n, 64])?;
        let r = bits.arith.reshape(&[n, 64])?;
        // Each bit's share r + z (1 - 2r) less party 0's z, which is added back as the
        // opened word itself.
        let mut t = r.sub(&zb.mul(&r)?.mul_scalar(2))?;
        // Weigh column j by 2^j: six levels that each join neighbouring columns, the upper
        // one shifted by the lower's width.
        let (mut width, mut shift) = (64, 1);
        while width > 1 {
            let low = t.slice(1, 0, width, 2)?;
            let high = t.slice(1, 1, width, 2)?;
            t = low.add(&high.shl(shift)?)?;
            width /= 2;
            shift *= 2;
        }
        let mut out = t.reshape(&[n])?;
        if self.is_first() {
            out = out.add(&z)?;
        }
        Ok(out.reshape(&shape)?)
    }
}
