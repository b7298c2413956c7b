//! Conversions between additive and binary shares.
//!
//! - A2B: the sum of the parties' shares by a binary adder ([`adder`](crate::adder)).
//! - B2A: with random bits shared both ways, open `z = x ^ r` (one round) and rebuild each
//!   bit as `z + r - 2 z r`, linear in the additive shares of `r`. Bits are opened packed,
//!   64 per word, so B2A of one bit per element costs one bit per element on the wire
//!   (CrypTen sends a 64-bit word per bit).

use cloak_ring::{RingTensor, planes};

use crate::ashare::AShare;
use crate::binary::BShare;
use crate::error::Result;
use crate::session::State;

impl State {
    /// Additive shares (0/1, scale 1) of `n` XOR-shared bits packed 64 per word: one round.
    pub(crate) fn bits_to_arith(&mut self, packed: &[u64], n: usize) -> Result<Vec<u64>> {
        let bits = {
            let State { comm, dealer, .. } = self;
            dealer.random_bits(n, comm.as_mut())?
        };
        let masked: Vec<u64> =
            packed.iter().zip(bits.xor.as_slice().iter()).map(|(x, r)| x ^ r).collect();
        let z = self.open_words("b2a", vec![masked], true)?.remove(0);
        let rank0 = self.rank == 0;
        let r = bits.arith.as_slice();
        Ok((0..n)
            .map(|i| {
                let zi = (z[i / 64] >> (i % 64)) & 1;
                let share = if zi == 1 { r[i].wrapping_neg() } else { r[i] };
                if rank0 { share.wrapping_add(zi) } else { share }
            })
            .collect())
    }

    /// Additive shares (scale 1) of `[x < 0]` for additively shared ring values `x`: the
    /// sign bit of the sum of the shares, by the bit-plane carry tree, then B2A.
    pub(crate) fn ltz_bits(&mut self, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        let msb = self.ltz_packed(x)?;
        let bits = self.bits_to_arith(&msb, x.len())?;
        Ok(RingTensor::from_vec(x.shape(), bits)?)
    }

    /// XOR shares of `[x < 0]`, packed 64 per word in row-major order: the sign bit of the
    /// sum of the shares, by the bit-plane carry tree (7 rounds for two parties).
    pub(crate) fn ltz_packed(&mut self, x: &RingTensor<u64>) -> Result<Vec<u64>> {
        let words = x.len().div_ceil(64);
        let own = planes::to_bit_planes(&x.as_slice());
        let mut own = Some(own);
        let values: Vec<Vec<Vec<u64>>> = (0..self.parties)
            .map(|p| {
                if p == self.rank {
                    own.take().unwrap_or_default()
                } else {
                    vec![vec![0u64; words]; 64]
                }
            })
            .collect();
        self.msb_of_sum_planes(values)
    }
}

impl AShare {
    /// A2B: the same value as XOR shares of its 64-bit encoding (7 rounds for two parties;
    /// carry-save layers add one round per layer for more).
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn to_binary(&self) -> Result<BShare> {
        let session = self.session().clone();
        session.scoped("a2b", || {
            let mut s = session.state();
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
            let mut s = session.state();
            let words = self.share_tensor().as_slice();
            let n = words.len();
            let bits = {
                let State { comm, dealer, .. } = &mut *s;
                dealer.random_bits(n * 64, comm.as_mut())?
            };
            let masked: Vec<u64> =
                words.iter().zip(bits.xor.as_slice().iter()).map(|(x, r)| x ^ r).collect();
            let z = s.open_words("b2a", vec![masked], true)?.remove(0);
            let r = bits.arith.as_slice();
            let rank0 = s.rank == 0;
            let out: Vec<u64> = (0..n)
                .map(|e| {
                    let mut acc = if rank0 { z[e] } else { 0 };
                    for j in 0..64 {
                        let rj = r[e * 64 + j];
                        let term = if (z[e] >> j) & 1 == 1 { rj.wrapping_neg() } else { rj };
                        acc = acc.wrapping_add(term << j);
                    }
                    acc
                })
                .collect();
            drop(s);
            Ok(AShare::from_share(&session, RingTensor::from_vec(self.shape(), out)?))
        })
    }
}
