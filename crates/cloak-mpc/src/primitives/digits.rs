//! The dealer-digits comparison: the dealer's mask `r` comes with XOR-shared tables of its
//! 4-bit digits, so after opening `c = x + r` the parties compare the public `c` with `r`
//! sixteen digits at a time by selecting table entries, which costs no message, and only
//! the carry over the 16 digits sends messages: two rounds of a four-way lookahead.
//!
//! `x = c - r (mod 2^64)`, so its sign bit is `c_63 ^ r_63 ^ b`, where `b` is the borrow
//! into bit 63, `[c mod 2^63 < r mod 2^63]`. Over digits, `b` is the carry out of a chain
//! whose generate bits are `[c_d < r_d]` and propagate bits `[c_d == r_d]`; both are
//! entries of digit `d`'s table chosen by the public bits of `c_d`
//! ([`cloak_ring::digits`]). Against [`DealerBits`](super::DealerBits), which starts a
//! binary carry tree at single bits (63 positions, 118 AND gates, 6 levels), the carry here
//! has 16 positions, and it combines them four at a time
//! ([`Context::carry_lookahead`]): each group's generate and propagate are products of up
//! to four bits, evaluated in one round from one opening of seven bits
//! ([`Context::and_monomials`]), so 2 levels and 34 bits per element where a binary tree
//! over the 16 digits takes 4 levels and 52 bits (26 AND gates).
//!
//! ReLU needs `[x < 0] * x`. With `s` a random bit of the dealer's and `s * r` shared, the
//! parties open only `z = [x < 0] ^ s`; then `b = z + s - 2 z s` and, as `x = c - r`,
//! `b x = b c - (z r + (1 - 2 z) s r)`, all linear once `z` and `c` are public. So the
//! product costs one bit per element where a Beaver product opens two ring elements.

use cloak_dealer::{DigitTableShares, InjectionMask, Request};
use cloak_ring::RingTensor;
use cloak_ring::digits::{self, DIGIT_VALUES, DIGITS, DigitSelection, TABLE_PLANES};

use super::bit_tensors::unpack_bits;
use super::context::Context;
use super::sign::{ComparisonProtocol, TruncatedSign};
use super::sign_circuits::{arith_where, packed_where};
use super::sign_planes::bit_plane_tensor;
use super::trunc::BIAS;
use crate::error::{Result, invalid};

/// The sign from digit tables: one opening of `x + r` (8 bytes per element), then the
/// lookahead carry over 16 digits, whose leaves are selected from the dealer's tables
/// without a message.
///
/// Rounds: 3 for any number of parties (1 opening, 2 lookahead levels); ReLU and abs take
/// one more, which opens one bit per element. Bytes to each peer per element: 8 for the
/// opening and 4.25 for the carry (34 bits), against 37.5 for
/// [`DealerBits`](super::DealerBits). The dealer's part per element: `r`, 257 bits of
/// tables and 137 bits of masks and their products (103 of them products); for ReLU also a
/// bit both ways and `s * r`. A third-party dealer sends party 0 the tables and the
/// products offline (about 45 bytes per element, 61 for ReLU).
#[derive(Clone, Copy, Debug, Default)]
pub struct DealerDigits;

impl ComparisonProtocol for DealerDigits {
    fn name(&self) -> &'static str {
        "dealer-digits"
    }

    fn ltz_packed(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<Vec<u64>> {
        Ok(sign_words(ctx, x, false)?.msb)
    }

    fn ltz_packed_tensor(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        packed_where(ctx, x, &|c| self.ltz_packed(c, x), &|c| Ok(sign_tensors(c, x, false)?.msb))
    }

    fn ltz_arith(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        arith_where(ctx, x, &|c| self.ltz_packed(c, x), &|c| Ok(sign_tensors(c, x, false)?.msb))
    }

    fn times_ltz(
        &self,
        ctx: &mut Context,
        x: &RingTensor<u64>,
    ) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        if x.is_host() { times_words(ctx, x) } else { times_tensors(ctx, x) }
    }

    /// Host shares only (a device's shares truncate, then compare).
    fn truncate_times_ltz(
        &self,
        ctx: &mut Context,
        x: &RingTensor<u64>,
        bits: u32,
    ) -> Result<Option<TruncatedSign>> {
        if !x.is_host() {
            return Ok(None);
        }
        truncate_times_words(ctx, x, bits).map(Some)
    }
}

/// `y = x / 2^bits`, `[y < 0] * y` and `[y < 0]` from one opening: the dealer's `r` has
/// digit tables and is a truncation pair's too ([`Request::TruncDigitTables`]), so the
/// opened `c' = x + 2^62 + r` gives `y`'s shares as a dealer pair's opening would
/// (`c' >> bits - (r >> bits) + [c' < 2^63] r_63 2^(64 - bits) - 2^(62 - bits)`) and
/// `c = c' - 2^62 = x + r` gives the sign of `x` from the tables, which is `y`'s (`y` is
/// `floor(x / 2^bits)` or one more, so `y < 0` only where `x < 0`, and where `x < 0` and
/// `y = 0` the product is 0 either way). The product then opens `z = [x < 0] ^ s` as
/// [`times_words`] does, with `y = A - R` for the public `A` and shared `R` above:
/// `b y = b A - (z R + (1 - 2 z) s R)`.
fn truncate_times_words(
    ctx: &mut Context,
    x: &RingTensor<u64>,
    bits: u32,
) -> Result<TruncatedSign> {
    let n = x.len();
    let words = n.div_ceil(64);
    let m = ctx.fetch(&Request::TruncDigitTables { count: n, bits })?.into_trunc_digit_tables();
    let first = ctx.is_first();
    let bias = if first { BIAS } else { 0 };
    let masked: Vec<u64> = x
        .as_slice()
        .iter()
        .zip(m.r.as_slice().iter())
        .map(|(x, r)| x.wrapping_add(*r).wrapping_add(bias))
        .collect();
    let c_biased = ctx.open_words("truncate_relu", vec![masked], false)?.remove(0);
    let c: Vec<u64> = c_biased.iter().map(|c| c.wrapping_sub(BIAS)).collect();
    let tables = m.tables.as_slice();
    let DigitSelection { below, mut equal, top } = digits::select_from_tables(&c, &tables)?;
    equal.remove(0);
    let borrow = ctx.carry_lookahead(below, equal)?;
    let r_top = &tables[(TABLE_PLANES - 1) * words..TABLE_PLANES * words];
    let masked_sign: Vec<u64> = borrow
        .iter()
        .zip(r_top)
        .zip(&top)
        .zip(m.s_xor.as_slice().iter())
        .map(|(((b, r), c), s)| if first { b ^ r ^ c ^ s } else { b ^ r ^ s })
        .collect();
    let z = ctx.open_words("bit_mul", vec![masked_sign], true)?.remove(0);
    let wrap = 1u64 << (64 - bits);
    let public_part = BIAS >> bits;
    let first_word = u64::from(first);
    let (s_arith, r_shifted, r_msb) =
        (m.s_arith.as_slice(), m.r_shifted.as_slice(), m.r_msb.as_slice());
    let (s_shifted, s_msb) = (m.s_shifted.as_slice(), m.s_msb.as_slice());
    let mut y = Vec::with_capacity(n);
    let mut by = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    for k in 0..n {
        let cb = c_biased[k];
        // The wrap of the opening, linear in r's top bit once c' is public.
        let w = wrap.wrapping_mul(1 - (cb >> 63));
        let a = (cb >> bits).wrapping_sub(public_part);
        let r_k = r_shifted[k].wrapping_sub(w.wrapping_mul(r_msb[k]));
        let sr_k = s_shifted[k].wrapping_sub(w.wrapping_mul(s_msb[k]));
        let zk = (z[k / 64] >> (k % 64)) & 1;
        let sk = s_arith[k];
        // b = s + z (1 - 2 s) (party 0 adds the 1); b R = s R + z (R - 2 s R).
        let bk = sk.wrapping_add(zk.wrapping_mul(first_word.wrapping_sub(sk << 1)));
        let brk = sr_k.wrapping_add(zk.wrapping_mul(r_k.wrapping_sub(sr_k << 1)));
        y.push(if first { a.wrapping_sub(r_k) } else { r_k.wrapping_neg() });
        by.push(a.wrapping_mul(bk).wrapping_sub(brk));
        b.push(bk);
    }
    let shape = x.shape();
    Ok((
        RingTensor::from_vec(shape, y)?,
        RingTensor::from_vec(shape, by)?,
        RingTensor::from_vec(shape, b)?,
    ))
}

/// What the sign circuit leaves: the XOR shares of the sign bits (packed), the opened
/// `c = x + r`, and the dealer's material (for the injection that may follow).
struct Sign<T> {
    msb: T,
    c: T,
    masks: DigitTableShares,
}

/// The sign of host shares, in word vectors.
fn sign_words(ctx: &mut Context, x: &RingTensor<u64>, inject: bool) -> Result<Sign<Vec<u64>>> {
    let n = x.len();
    let words = n.div_ceil(64);
    let masks = ctx.fetch(&Request::DigitTables { count: n, inject })?.into_digit_tables();
    let masked: Vec<u64> = x
        .as_slice()
        .iter()
        .zip(masks.r.as_slice().iter())
        .map(|(x, r)| x.wrapping_add(*r))
        .collect();
    let c = ctx.open_words("ltz", vec![masked], false)?.remove(0);
    let tables = masks.tables.as_slice();
    let DigitSelection { below, mut equal, top } = digits::select_from_tables(&c, &tables)?;
    // Nothing carries into the lowest digit: its `equal` is not needed.
    equal.remove(0);
    let borrow = ctx.carry_lookahead(below, equal)?;
    let first = ctx.is_first();
    let r_top = &tables[(TABLE_PLANES - 1) * words..TABLE_PLANES * words];
    let msb = borrow
        .iter()
        .zip(r_top)
        .zip(&top)
        .map(|((b, r), c)| if first { b ^ r ^ c } else { b ^ r })
        .collect();
    Ok(Sign { msb, c, masks })
}

/// [`sign_words`] in tensor operations, for shares on a device: the opened `c` is uploaded
/// once (as the bytes received) and laid out in bit planes there; the table selections run
/// for all 16 digits at once, one multiplexer level per selector bit.
fn sign_tensors(
    ctx: &mut Context,
    x: &RingTensor<u64>,
    inject: bool,
) -> Result<Sign<RingTensor<u64>>> {
    let n = x.len();
    let words = n.div_ceil(64);
    let masks = ctx.fetch(&Request::DigitTables { count: n, inject })?.into_digit_tables();
    let masked = x.reshape(&[n])?.add(&masks.r.reshape(&[n])?)?;
    let c = ctx.open_tensors("ltz", vec![masked])?.remove(0);
    let c_planes = bit_plane_tensor(&c)?;
    // Selector bits per digit, [16, 4, W]; the top digit's fourth bit (bit 63) is not part
    // of it.
    let top = c_planes.slice(0, 63, 64, 1)?;
    let sel = RingTensor::concat(&[&c_planes.slice(0, 0, 63, 1)?, &top.and_scalar(0)], 0)?
        .reshape(&[DIGITS, 4, words])?;
    let tables = masks.tables.reshape(&[TABLE_PLANES, words])?;
    let entries =
        tables.slice(0, 0, TABLE_PLANES - 1, 1)?.reshape(&[DIGITS, DIGIT_VALUES, words])?;
    let nothing = entries.slice(1, 0, 1, 1)?.and_scalar(0);
    let above = RingTensor::concat(&[&entries.slice(1, 1, DIGIT_VALUES, 1)?, &nothing], 1)?;
    let lt = select_tensor(&sel, above)?;
    let eq = select_tensor(&sel, entries)?.xor(&lt)?;
    let borrow = ctx.carry_lookahead_tensors(lt, eq.slice(0, 1, DIGITS, 1)?)?;
    let mut msb =
        borrow.xor(&tables.slice(0, TABLE_PLANES - 1, TABLE_PLANES, 1)?.reshape(&[words])?)?;
    if ctx.is_first() {
        msb = msb.xor(&top.reshape(&[words])?)?;
    }
    Ok(Sign { msb, c, masks })
}

/// Selects from `entries` (`[16, 16, W]`, per digit) by the selector bits `sel`
/// (`[16, 4, W]`): four multiplexer levels, each halving the entries. `[16, W]`.
fn select_tensor(sel: &RingTensor<u64>, entries: RingTensor<u64>) -> Result<RingTensor<u64>> {
    let mut level = entries;
    for i in 0..4 {
        let len = level.shape()[1];
        let even = level.slice(1, 0, len, 2)?;
        let odd = level.slice(1, 1, len, 2)?;
        let s = sel.slice(1, i, i + 1, 1)?;
        level = even.xor(&even.xor(&odd)?.and(&s)?)?;
    }
    let words = sel.shape()[2];
    Ok(level.reshape(&[DIGITS, words])?)
}

/// The injection mask of material fetched with `inject`.
fn injection(masks: DigitTableShares) -> Result<(RingTensor<u64>, InjectionMask)> {
    let r = masks.r;
    masks
        .injection
        .map(|m| (r, m))
        .ok_or_else(|| invalid("times_ltz", "digit tables without their injection mask"))
}

/// Shares of `[x < 0] * x` and `[x < 0]` for host shares: the sign, then one opening of
/// the sign bits XOR the dealer's bits.
fn times_words(
    ctx: &mut Context,
    x: &RingTensor<u64>,
) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
    let n = x.len();
    let Sign { msb, c, masks } = sign_words(ctx, x, true)?;
    let (r, s) = injection(masks)?;
    let masked: Vec<u64> = msb.iter().zip(s.xor.as_slice().iter()).map(|(b, s)| b ^ s).collect();
    let z = ctx.open_words("bit_mul", vec![masked], true)?.remove(0);
    let first = u64::from(ctx.is_first());
    let (r, s_arith, s_r) = (r.as_slice(), s.arith.as_slice(), s.times_r.as_slice());
    let mut bx = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    let x_rows = c.chunks(64).zip(r.chunks(64)).zip(s_arith.chunks(64).zip(s_r.chunks(64)));
    for (((c, r), (s_arith, s_r)), z) in x_rows.zip(&z) {
        for (k, (((c, r), s), sr)) in c.iter().zip(r).zip(s_arith).zip(s_r).enumerate() {
            // b = s + z (1 - 2 s) (party 0 adds the 1); b r = s r + z (r - 2 s r);
            // b x = b c - b r. Branch-free: z is a random bit.
            let zk = (z >> k) & 1;
            let bk = s.wrapping_add(zk.wrapping_mul(first.wrapping_sub(s << 1)));
            let brk = sr.wrapping_add(zk.wrapping_mul(r.wrapping_sub(sr << 1)));
            bx.push(c.wrapping_mul(bk).wrapping_sub(brk));
            b.push(bk);
        }
    }
    Ok((RingTensor::from_vec(x.shape(), bx)?, RingTensor::from_vec(x.shape(), b)?))
}

/// [`times_words`] in tensor operations, for shares on a device.
fn times_tensors(
    ctx: &mut Context,
    x: &RingTensor<u64>,
) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
    let n = x.len();
    let shape = x.shape().to_vec();
    let Sign { msb, c, masks } = sign_tensors(ctx, x, true)?;
    let (r, s) = injection(masks)?;
    let masked = msb.xor(&s.xor.reshape(msb.shape())?)?;
    let z = ctx.open_tensor_parts("bit_mul", vec![masked], &|_| true)?.remove(0);
    let z = unpack_bits(&z, n)?.reshape(&shape)?;
    let (r, s_arith, s_r) =
        (r.reshape(&shape)?, s.arith.reshape(&shape)?, s.times_r.reshape(&shape)?);
    // b = s + z (1 - 2 s) (party 0 adds the 1); b r = s r + z (r - 2 s r).
    let mut b = s_arith.sub(&z.mul(&s_arith)?.mul_scalar(2))?;
    if ctx.is_first() {
        b = b.add(&z)?;
    }
    let br = s_r.add(&z.mul(&r.sub(&s_r.mul_scalar(2))?)?)?;
    let bx = c.reshape(&shape)?.mul(&b)?.sub(&br)?;
    Ok((bx, b))
}
