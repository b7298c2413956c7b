//! The dealer-bits comparison (edaBits): the dealer gives a random `r` shared both
//! additively and as bits; the parties open `c = x + r` and finish on bits, comparing the
//! public `c` with the shared bits of `r`.
//!
//! `x = c - r (mod 2^64)`, so its sign bit is `c_63 ^ r_63 ^ b`, where `b` is the borrow
//! into bit 63 when subtracting the low 63 bits: `[c mod 2^63 < r mod 2^63]`. With `c`
//! public, each position's borrow-generate bit `!c_j & r_j` and borrow-propagate bit
//! `!(c_j ^ r_j)` are local functions of the shares of `r_j`, so only the carry tree
//! ([`Context::carry_tree`]) costs AND gates: no generate level, and no carry-save layers
//! however many parties there are.

use cloak_dealer::Request;
use cloak_ring::{RingTensor, planes};

use super::context::Context;
use super::sign::ComparisonProtocol;
use super::sign_circuits::{arith_where, packed_where, times_where};
use crate::error::Result;

/// The sign from dealer bits: one opening of `x + r` (8 bytes per element), then the carry
/// tree over 63 positions, whose first level is local.
///
/// Rounds: 7 for any number of parties (1 opening, 6 tree levels), where
/// [`BitPlaneCarry`](super::BitPlaneCarry) takes 7 for two parties and one more per
/// carry-save layer beyond. Bytes to each peer per element: 8 for the opening and about 30
/// for the tree (118 AND gates), against about 45 for the built-in circuit with two
/// parties. The dealer's part: `r` and its 64 bit planes (with a third-party dealer, 8
/// bytes per element of correction to party 0, offline).
#[derive(Clone, Copy, Debug, Default)]
pub struct DealerBits;

impl ComparisonProtocol for DealerBits {
    fn name(&self) -> &'static str {
        "dealer-bits"
    }

    fn ltz_packed(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<Vec<u64>> {
        let n = x.len();
        let words = n.div_ceil(64);
        let eda = ctx.fetch(&Request::EdaBits { count: n })?.into_eda_bits();
        let masked: Vec<u64> = x
            .as_slice()
            .iter()
            .zip(eda.r.as_slice().iter())
            .map(|(x, r)| x.wrapping_add(*r))
            .collect();
        let c = ctx.open_words("ltz", vec![masked], false)?.remove(0);
        let c = planes::to_bit_planes(&c);
        let r = eda.planes.as_slice();
        let r_plane = |j: usize| &r[j * words..(j + 1) * words];
        let first = ctx.is_first();
        // Borrow generated at position j: c_j = 0 and r_j = 1 (an AND with a public value,
        // local); propagated: c_j = r_j (party 0 adds the public complement).
        let generate: Vec<Vec<u64>> =
            (0..63).map(|j| r_plane(j).iter().zip(&c[j]).map(|(r, c)| r & !c).collect()).collect();
        let propagate: Vec<Vec<u64>> = (1..63)
            .map(|j| {
                r_plane(j).iter().zip(&c[j]).map(|(r, c)| if first { r ^ !c } else { *r }).collect()
            })
            .collect();
        let borrow = ctx.carry_tree(generate, propagate)?;
        Ok(borrow
            .iter()
            .zip(r_plane(63))
            .zip(&c[63])
            .map(|((b, r), c)| if first { b ^ r ^ c } else { b ^ r })
            .collect())
    }

    fn ltz_packed_tensor(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        packed_where(ctx, x, &|c| self.ltz_packed(c, x), &|c| ltz_packed_tensor(c, x))
    }

    fn ltz_arith(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        arith_where(ctx, x, &|c| self.ltz_packed(c, x), &|c| ltz_packed_tensor(c, x))
    }

    fn times_ltz(
        &self,
        ctx: &mut Context,
        x: &RingTensor<u64>,
    ) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        times_where(ctx, x, &|c| self.ltz_packed(c, x), &|c| ltz_packed_tensor(c, x))
    }
}

/// [`DealerBits::ltz_packed`] in tensor operations, for shares on a device: the packed
/// sign bits, `[ceil(n / 64)]`, where `x` lives. The same round, bytes and dealer material;
/// the public `c` is laid out in bit planes on the host as it is opened (it is on the host
/// then, as the bytes received), so it crosses to the device once, as planes.
fn ltz_packed_tensor(ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
    let n = x.len();
    let words = n.div_ceil(64);
    let eda = ctx.fetch(&Request::EdaBits { count: n })?.into_eda_bits();
    let masked = x.reshape(&[n])?.add(&eda.r.reshape(&[n])?)?;
    let c = ctx.open_words("ltz", vec![masked.try_to_vec()?], false)?.remove(0);
    let c = ctx.place(RingTensor::from_vec(&[64, words], planes::to_bit_planes(&c).concat())?)?;
    let r = eda.planes.reshape(&[64, words])?;
    // Borrow generated at position j: c_j = 0 and r_j = 1; propagated: c_j = r_j (party 0
    // adds the public complement).
    let generate = r.slice(0, 0, 63, 1)?.and(&c.slice(0, 0, 63, 1)?.not())?;
    let mut propagate = r.slice(0, 1, 63, 1)?;
    if ctx.is_first() {
        propagate = propagate.xor(&c.slice(0, 1, 63, 1)?.not())?;
    }
    let borrow = ctx.carry_tree_tensors(generate, propagate)?;
    let mut msb = borrow.xor(&r.slice(0, 63, 64, 1)?.reshape(&[words])?)?;
    if ctx.is_first() {
        msb = msb.xor(&c.slice(0, 63, 64, 1)?.reshape(&[words])?)?;
    }
    Ok(msb)
}
