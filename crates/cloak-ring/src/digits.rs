//! Digit tables of ring values, in bit planes: what a comparison with a dealer's mask
//! needs to compare a public value with the mask four bits at a time, without an AND gate.
//!
//! The low 63 bits of a value `r` are cut into 16 digits: digits `0..15` are bits
//! `4d..4d + 4`, digit 15 is bits 60, 61 and 62 (three bits). Digit `d`'s table has 16
//! entries, entry `v` being `[v <= r_d]`. For a public digit `c_d`, `[c_d < r_d]` is entry
//! `c_d + 1` (0 past the end) and `[c_d == r_d]` is entry `c_d` XOR entry `c_d + 1`: both
//! are a selection from the table by public bits, so on XOR shares of the table they cost
//! no message. Bit 63 of `r`, which the sign needs apart, follows the tables.
//!
//! Layout: plane `16 d + v` holds entry `v` of digit `d` for every element, packed 64 per
//! word like [`to_bit_planes`](crate::planes::to_bit_planes) (element `k` at bit `k % 64`
//! of word `k / 64`; elements past the end of the last word are taken as 0); plane 256
//! holds bit 63. [`TABLE_PLANES`] planes of `ceil(n / 64)` words, one after the other.

use crate::error::{Result, RingError};
use crate::planes::to_bit_planes;

/// Digits of the low 63 bits.
pub const DIGITS: usize = 16;

/// Entries of one digit's table.
pub const DIGIT_VALUES: usize = 16;

/// Planes of the tables of one set of values: 16 digits of 16 entries, and bit 63.
pub const TABLE_PLANES: usize = DIGITS * DIGIT_VALUES + 1;

/// Bits of digit `d` (the top digit has three: bit 63 is not part of it).
#[must_use]
pub const fn digit_bits(d: usize) -> usize {
    if d + 1 == DIGITS { 3 } else { 4 }
}

/// Digit `d` of `value` (see the module documentation).
#[must_use]
pub const fn digit(value: u64, d: usize) -> u64 {
    (value >> (4 * d)) & ((1 << digit_bits(d)) - 1)
}

/// The digit tables of `values` as [`TABLE_PLANES`] planes of `ceil(n / 64)` words.
///
/// Bit-sliced: the bit planes of `values`, then for each digit the 16 minterms of its four
/// planes and entry `v` as the OR of the minterms `u >= v` (a running OR from the top),
/// about 50 word operations per digit and 64 elements. Digit by digit, so that each pass
/// reads 4 planes and writes 16 in order.
#[must_use]
pub fn digit_tables(values: &[u64]) -> Vec<u64> {
    let words = values.len().div_ceil(64);
    let planes = to_bit_planes(values);
    let zero = vec![0u64; words];
    let mut out = vec![0u64; TABLE_PLANES * words];
    if words == 0 {
        return out;
    }
    let (tables, top) = out.split_at_mut(DIGITS * DIGIT_VALUES * words);
    for (d, digit_out) in tables.chunks_exact_mut(DIGIT_VALUES * words).enumerate() {
        let b = digit_plane_slices(&planes, &zero, d);
        let mut entries: Vec<&mut [u64]> = digit_out.chunks_exact_mut(words).collect();
        for w in 0..words {
            let b = [b[0][w], b[1][w], b[2][w], b[3][w]];
            let low = [!b[0] & !b[1], b[0] & !b[1], !b[0] & b[1], b[0] & b[1]];
            let high = [!b[2] & !b[3], b[2] & !b[3], !b[2] & b[3], b[2] & b[3]];
            let mut at_least = 0u64;
            for v in (0..DIGIT_VALUES).rev() {
                at_least |= low[v & 3] & high[v >> 2];
                entries[v][w] = at_least;
            }
        }
    }
    top.copy_from_slice(&planes[63]);
    out
}

/// What a public value selects from shared digit tables (see
/// [`select_from_tables`]), as planes of `ceil(n / 64)` words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitSelection {
    /// `[c_d < r_d]` for each digit `d`.
    pub below: Vec<Vec<u64>>,
    /// `[c_d == r_d]` for each digit `d`.
    pub equal: Vec<Vec<u64>>,
    /// Bit 63 of the public values.
    pub top: Vec<u64>,
}

/// Selects, for every element and digit, `[c_d < r_d]` (entry `c_d + 1`, nothing past the
/// last entry) and `[c_d == r_d]` (entry `c_d` XOR entry `c_d + 1`) from `tables` (laid out
/// as [`digit_tables`] makes them) by the digits of the public values `public`. Selection
/// by public bits is linear, so on XOR shares of the tables it gives XOR shares of the
/// comparisons. Digit by digit, a multiplexer tree per word ([`select16`]).
///
/// # Errors
/// [`RingError::InvalidArgument`] if `tables` is not [`TABLE_PLANES`] planes for
/// `public`'s length.
pub fn select_from_tables(public: &[u64], tables: &[u64]) -> Result<DigitSelection> {
    let words = public.len().div_ceil(64);
    if tables.len() != TABLE_PLANES * words {
        return Err(RingError::InvalidArgument {
            op: "select_from_tables",
            reason: format!("{} table words for {} values", tables.len(), public.len()),
        });
    }
    let mut planes = to_bit_planes(public);
    let zero = vec![0u64; words];
    let mut below = Vec::with_capacity(DIGITS);
    let mut equal = Vec::with_capacity(DIGITS);
    for d in 0..DIGITS {
        let sel = digit_plane_slices(&planes, &zero, d);
        let entry: [&[u64]; DIGIT_VALUES] = std::array::from_fn(|v| {
            let start = (DIGIT_VALUES * d + v) * words;
            &tables[start..start + words]
        });
        let (mut lt, mut eq) = (vec![0u64; words], vec![0u64; words]);
        for w in 0..words {
            let sel = [sel[0][w], sel[1][w], sel[2][w], sel[3][w]];
            let entries: [u64; DIGIT_VALUES] = std::array::from_fn(|v| entry[v][w]);
            let above: [u64; DIGIT_VALUES] =
                std::array::from_fn(|v| if v + 1 < DIGIT_VALUES { entries[v + 1] } else { 0 });
            lt[w] = select16(sel, above);
            eq[w] = select16(sel, entries) ^ lt[w];
        }
        below.push(lt);
        equal.push(eq);
    }
    Ok(DigitSelection { below, equal, top: planes.swap_remove(63) })
}

/// The bit planes of digit `d` (the top digit's fourth is `zero`).
fn digit_plane_slices<'a>(planes: &'a [Vec<u64>], zero: &'a [u64], d: usize) -> [&'a [u64]; 4] {
    let fourth = if digit_bits(d) == 4 { planes[4 * d + 3].as_slice() } else { zero };
    [&planes[4 * d], &planes[4 * d + 1], &planes[4 * d + 2], fourth]
}

/// Selects entry `sel` (four public selector bits per element, packed like the planes)
/// from 16 entries, wordwise: a multiplexer tree, 15 selections of three operations. On
/// XOR shares of the entries it gives XOR shares of the selected entry.
#[inline]
#[must_use]
pub fn select16(sel: [u64; 4], entries: [u64; 16]) -> u64 {
    let mut level = entries;
    let mut len = DIGIT_VALUES;
    for s in sel {
        len /= 2;
        for i in 0..len {
            let (a, b) = (level[2 * i], level[2 * i + 1]);
            level[i] = a ^ ((a ^ b) & s);
        }
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tables: &[u64], words: usize, plane: usize, k: usize) -> u64 {
        (tables[plane * words + k / 64] >> (k % 64)) & 1
    }

    #[test]
    fn tables_hold_each_digit_comparison() {
        let values: Vec<u64> = (0..200u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 59))
            .chain([0, u64::MAX, 1 << 63, (1 << 63) - 1])
            .collect();
        let words = values.len().div_ceil(64);
        let tables = digit_tables(&values);
        assert_eq!(tables.len(), TABLE_PLANES * words);
        for (k, &r) in values.iter().enumerate() {
            for d in 0..DIGITS {
                for v in 0..DIGIT_VALUES {
                    let want = u64::from(v as u64 <= digit(r, d));
                    assert_eq!(entry(&tables, words, 16 * d + v, k), want, "r {r:#x} d {d} v {v}");
                }
            }
            assert_eq!(entry(&tables, words, 256, k), r >> 63);
        }
    }

    #[test]
    fn selection_picks_below_and_equal_for_each_digit() {
        // Shares of zero tables (one party's view) make the selection the plain one.
        let r: Vec<u64> = (0..150u64).map(|i| i.wrapping_mul(0xD1B5_4A32_D192_ED03)).collect();
        let c: Vec<u64> = r
            .iter()
            .enumerate()
            .map(|(k, &v)| match k % 3 {
                0 => v,
                1 => v ^ (1 << (k % 64)),
                _ => v.wrapping_mul(3),
            })
            .collect();
        let words = r.len().div_ceil(64);
        let sel = select_from_tables(&c, &digit_tables(&r)).expect("tables of the right length");
        assert!(select_from_tables(&c, &digit_tables(&r[..64])).is_err());
        for k in 0..r.len() {
            for d in 0..DIGITS {
                let (cd, rd) = (digit(c[k], d), digit(r[k], d));
                let bit = |p: &[u64]| (p[k / 64] >> (k % 64)) & 1;
                assert_eq!(bit(&sel.below[d]), u64::from(cd < rd), "k {k} d {d}");
                assert_eq!(bit(&sel.equal[d]), u64::from(cd == rd), "k {k} d {d}");
            }
            assert_eq!((sel.top[k / 64] >> (k % 64)) & 1, c[k] >> 63);
        }
        assert_eq!(sel.below[0].len(), words);
    }

    #[test]
    fn select16_picks_the_entry_of_each_element() {
        let entries: [u64; 16] =
            std::array::from_fn(|v| (v as u64).wrapping_mul(0xA5A5_5A5A_1234_5678));
        for k in 0..64 {
            let v = (k * 7) % 16;
            let sel = [0, 1, 2, 3].map(|i| (((v >> i) & 1) as u64) << k);
            let got = (select16(sel, entries) >> k) & 1;
            assert_eq!(got, (entries[v] >> k) & 1);
        }
    }
}
