//! Conversions between additive and binary shares.
//!
//! - A2B: the sum of the parties' shares by a binary adder
//!   ([`Context::add_binary_words`](crate::primitives::Context::add_binary_words)).
//! - B2A: with random bits shared both ways, open `z = x ^ r` (one round) and rebuild each
//!   bit as `z + r - 2 z r`, linear in the additive shares of `r`
//!   ([`Context::words_to_arith`](crate::primitives::Context::words_to_arith)).
//!
//! Shares on a device convert there, by the tensor forms of the same circuits
//! ([`Context::add_binary_tensors`](crate::primitives::Context::add_binary_tensors),
//! [`Context::words_to_arith_tensor`](crate::primitives::Context::words_to_arith_tensor)),
//! with the same rounds and bytes.

use cloak_ring::RingTensor;

use crate::ashare::AShare;
use crate::binary::BShare;
use crate::error::Result;

impl AShare {
    /// A2B: the same value as XOR shares of its 64-bit encoding (7 rounds for two parties;
    /// carry-save layers add one round per layer for more).
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn to_binary(&self) -> Result<BShare> {
        let session = self.session().clone();
        session.scoped("a2b", || {
            let mut s = session.context()?;
            let own = self.share_tensor();
            if !own.is_host() {
                // On a device: the adder in tensor operations, where the share lives.
                let own = own.reshape(&[own.len()])?;
                let zero = own.and_scalar(0);
                let values = (0..s.parties())
                    .map(|p| if p == s.rank() { own.clone() } else { zero.clone() })
                    .collect();
                let sum = s.add_binary_tensors(values)?.reshape(self.shape())?;
                drop(s);
                return Ok(BShare::from_share(&session, sum));
            }
            let values = s.own_as_binary_values(&self.share_tensor().as_slice());
            let sum = s.add_binary_words(values)?;
            drop(s);
            Ok(BShare::from_share(&session, RingTensor::from_vec(self.shape(), sum)?))
        })
    }
}

impl BShare {
    /// B2A: the words as an additively shared fixed-point tensor (the words are read as
    /// the encoding). One round, with 64 random bits per element.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn to_arith(&self) -> Result<AShare> {
        let session = self.session().clone();
        session.scoped("b2a", || {
            let words = self.share_tensor();
            if !words.is_host() {
                let out = session.context()?.words_to_arith_tensor(words)?;
                return Ok(AShare::from_share(&session, out));
            }
            let out = session.context()?.words_to_arith(&words.as_slice())?;
            Ok(AShare::from_share(&session, RingTensor::from_vec(self.shape(), out)?))
        })
    }
}
