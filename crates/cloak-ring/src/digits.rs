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
/// Bit-sliced: for each digit, the 16 minterms of its bit planes, then entry `v` as the
/// OR of the minterms `u >= v` (a running OR from the top), about 50 word operations per
/// digit and 64 elements.
#[must_use]
pub fn digit_tables(values: &[u64]) -> Vec<u64> {
    let words = values.len().div_ceil(64);
    let planes = to_bit_planes(values);
    let mut out = vec![0u64; TABLE_PLANES * words];
    if words == 0 {
        return out;
    }
    let (tables, top) = out.split_at_mut(DIGITS * DIGIT_VALUES * words);
    for (d, digit_tables) in tables.chunks_exact_mut(DIGIT_VALUES * words).enumerate() {
        let bit = |i: usize, w: usize| if i < digit_bits(d) { planes[4 * d + i][w] } else { 0 };
        for w in 0..words {
            let b = [bit(0, w), bit(1, w), bit(2, w), bit(3, w)];
            let low = [!b[0] & !b[1], b[0] & !b[1], !b[0] & b[1], b[0] & b[1]];
            let high = [!b[2] & !b[3], b[2] & !b[3], !b[2] & b[3], b[2] & b[3]];
            let mut at_least = 0u64;
            for v in (0..DIGIT_VALUES).rev() {
                at_least |= low[v & 3] & high[v >> 2];
                digit_tables[v * words + w] = at_least;
            }
        }
    }
    top.copy_from_slice(&planes[63]);
    out
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
