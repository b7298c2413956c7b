//! Bit-slicing of `u64` words: `n` elements of 64 bits to 64 bit planes and back.
//!
//! Secure comparison and truncation run a boolean adder over the bits of shared ring elements.
//! Each adder level ANDs only *selected* bit positions (the generate/propagate bits a level still
//! needs), for every element at once. In the natural layout those bits are scattered over one
//! word per element, so packing them for an AND gate costs a per-bit gather. In the bit-sliced
//! layout, plane `j` holds bit `j` of every element packed 64 per word, so selecting bit
//! positions selects whole planes: the operands of a level's AND gates are contiguous words,
//! dense to compute on and to send.
//!
//! The conversion works on 64 elements at a time: a 64x64 bit matrix transposed in place with
//! the recursive block-swap method ([`transpose64`]), six stages of masked swaps with no per-bit
//! loop. Large inputs (at least `1 << 16` elements) are split over the rayon pool; the result
//! does not depend on the split.

use rayon::prelude::*;

use crate::error::{Result, RingError};

/// Elements at and above which the conversions split their work over the rayon pool.
const PAR_THRESHOLD: usize = 1 << 16;

/// Fewest words (blocks of 64 elements) one rayon task converts.
const MIN_WORDS_PER_TASK: usize = 64;

/// The stages of [`transpose64`]: swap distance and the mask of the low half of each group.
const STAGES: [(usize, u64); 6] = [
    (32, 0x0000_0000_FFFF_FFFF),
    (16, 0x0000_FFFF_0000_FFFF),
    (8, 0x00FF_00FF_00FF_00FF),
    (4, 0x0F0F_0F0F_0F0F_0F0F),
    (2, 0x3333_3333_3333_3333),
    (1, 0x5555_5555_5555_5555),
];

/// Transposes a 64x64 bit matrix in place: row `r` is word `r`, column `c` is bit `c`
/// (LSB-first), so afterwards bit `c` of word `r` is what bit `r` of word `c` was.
///
/// Recursive block swap: at distance `d` (32, 16, ..., 1), every row `k` with bit `d` of `k`
/// clear exchanges its high `d`-bit halves of each `2d`-bit group with the low halves of row
/// `k + d`, one masked XOR swap per row pair.
#[inline]
pub fn transpose64(block: &mut [u64; 64]) {
    for &(d, mask) in &STAGES {
        // Rows come in groups of 2d: the first d rows pair with the next d.
        for group in block.chunks_exact_mut(2 * d) {
            let (lo, hi) = group.split_at_mut(d);
            for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
                let t = ((*a >> d) ^ *b) & mask;
                *a ^= t << d;
                *b ^= t;
            }
        }
    }
}

/// Number of 64-bit words that hold `n` bits.
fn words_for(n: usize) -> usize {
    n.div_ceil(64)
}

/// Words per rayon task for `words` words in all.
fn words_per_task(words: usize) -> usize {
    words.div_ceil(rayon::current_num_threads() * 4).max(MIN_WORDS_PER_TASK)
}

/// Loads block `w` of `values` (64 elements, zero-padded past the end).
#[inline]
fn load_block(values: &[u64], w: usize, block: &mut [u64; 64]) {
    let start = 64 * w;
    let end = (start + 64).min(values.len());
    let src = &values[start..end];
    block[..src.len()].copy_from_slice(src);
    block[src.len()..].fill(0);
}

/// Bit-slices the blocks `w0..w0 + out[j].len()` of `values` into `out` (one slice per plane,
/// all of the same length).
fn slice_blocks(values: &[u64], w0: usize, out: &mut [&mut [u64]]) {
    debug_assert_eq!(out.len(), 64);
    let len = out.first().map_or(0, |p| p.len());
    let mut block = [0u64; 64];
    for lw in 0..len {
        load_block(values, w0 + lw, &mut block);
        transpose64(&mut block);
        for (plane, &word) in out.iter_mut().zip(block.iter()) {
            plane[lw] = word;
        }
    }
}

/// Bit-slices `values` (`n` elements of 64 bits) into 64 planes: plane `j` holds bit `j` of
/// every element packed 64 per word, so bit `i` (LSB-first) of `planes[j][w]` is bit `j` of
/// `values[64 * w + i]`.
///
/// Each plane has `ceil(n / 64)` words; bits past `n` are zero. Inputs of at least `1 << 16`
/// elements are converted on the rayon pool, with the same result.
pub fn to_bit_planes(values: &[u64]) -> Vec<Vec<u64>> {
    let words = words_for(values.len());
    let mut planes: Vec<Vec<u64>> = (0..64).map(|_| vec![0u64; words]).collect();
    if values.len() < PAR_THRESHOLD {
        let mut out: Vec<&mut [u64]> = planes.iter_mut().map(Vec::as_mut_slice).collect();
        slice_blocks(values, 0, &mut out);
        return planes;
    }
    let per_task = words_per_task(words);
    let mut tasks: Vec<Vec<&mut [u64]>> =
        (0..words.div_ceil(per_task)).map(|_| Vec::with_capacity(64)).collect();
    for plane in &mut planes {
        for (task, chunk) in tasks.iter_mut().zip(plane.chunks_mut(per_task)) {
            task.push(chunk);
        }
    }
    tasks
        .into_par_iter()
        .enumerate()
        .for_each(|(t, mut out)| slice_blocks(values, t * per_task, &mut out));
    planes
}

/// Rebuilds the elements of blocks `w0..` into `out` (a whole number of blocks, except perhaps
/// a shorter last one).
fn unslice_blocks(planes: &[Vec<u64>], w0: usize, out: &mut [u64]) {
    let mut block = [0u64; 64];
    for (lw, dst) in out.chunks_mut(64).enumerate() {
        let w = w0 + lw;
        for (word, plane) in block.iter_mut().zip(planes) {
            *word = plane[w];
        }
        block[planes.len()..].fill(0);
        transpose64(&mut block);
        dst.copy_from_slice(&block[..dst.len()]);
    }
}

/// The inverse of [`to_bit_planes`]: rebuilds `n` elements from bit planes, bit `j` of element
/// `64 * w + i` being bit `i` of `planes[j][w]`.
///
/// Any number of planes up to 64 is accepted; missing high planes read as zero. Words past
/// `ceil(n / 64)` and bits past `n` are ignored. Outputs of at least `1 << 16` elements are
/// rebuilt on the rayon pool, with the same result.
///
/// # Errors
///
/// [`RingError::InvalidArgument`] if more than 64 planes are given or a plane has fewer than
/// `ceil(n / 64)` words.
pub fn from_bit_planes(planes: &[Vec<u64>], n: usize) -> Result<Vec<u64>> {
    const OP: &str = "from_bit_planes";
    if planes.len() > 64 {
        return Err(RingError::InvalidArgument {
            op: OP,
            reason: format!("{} planes given, at most 64 fit a u64", planes.len()),
        });
    }
    let words = words_for(n);
    if let Some((j, plane)) = planes.iter().enumerate().find(|(_, p)| p.len() < words) {
        return Err(RingError::InvalidArgument {
            op: OP,
            reason: format!("plane {j} has {} words, {n} elements need {words}", plane.len()),
        });
    }
    let mut values = vec![0u64; n];
    if n < PAR_THRESHOLD {
        unslice_blocks(planes, 0, &mut values);
    } else {
        let per_task = words_per_task(words);
        values
            .par_chunks_mut(64 * per_task)
            .enumerate()
            .for_each(|(t, out)| unslice_blocks(planes, t * per_task, out));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestRng;

    const SIZES: [usize; 7] = [0, 1, 63, 64, 65, 1000, 70000];

    fn naive_planes(values: &[u64]) -> Vec<Vec<u64>> {
        let words = values.len().div_ceil(64);
        let mut planes = vec![vec![0u64; words]; 64];
        for (e, &v) in values.iter().enumerate() {
            for (j, plane) in planes.iter_mut().enumerate() {
                plane[e / 64] |= ((v >> j) & 1) << (e % 64);
            }
        }
        planes
    }

    fn naive_values(planes: &[Vec<u64>], n: usize) -> Vec<u64> {
        (0..n)
            .map(|e| {
                planes
                    .iter()
                    .enumerate()
                    .fold(0u64, |acc, (j, p)| acc | (((p[e / 64] >> (e % 64)) & 1) << j))
            })
            .collect()
    }

    #[test]
    fn transpose64_matches_naive() {
        let mut rng = TestRng::new(0x9E37_79B9_7F4A_7C15);
        let original: [u64; 64] = std::array::from_fn(|_| rng.next_u64());
        let mut block = original;
        transpose64(&mut block);
        for (r, &row) in block.iter().enumerate() {
            for (c, &col) in original.iter().enumerate() {
                assert_eq!((row >> c) & 1, (col >> r) & 1, "row {r} col {c}");
            }
        }
    }

    #[test]
    fn transpose64_twice_is_identity() {
        let mut rng = TestRng::new(42);
        for _ in 0..16 {
            let original: [u64; 64] = std::array::from_fn(|_| rng.next_u64());
            let mut block = original;
            transpose64(&mut block);
            assert_ne!(block, original);
            transpose64(&mut block);
            assert_eq!(block, original);
        }
        let mut identity: [u64; 64] = std::array::from_fn(|r| 1u64 << r);
        transpose64(&mut identity);
        assert_eq!(identity, std::array::from_fn(|r| 1u64 << r));
    }

    #[test]
    fn to_bit_planes_matches_naive() {
        let mut rng = TestRng::new(0xDEAD_BEEF_CAFE_F00D);
        for n in SIZES {
            let values = rng.words(n);
            let planes = to_bit_planes(&values);
            assert_eq!(planes.len(), 64);
            assert!(planes.iter().all(|p| p.len() == n.div_ceil(64)), "n = {n}");
            assert_eq!(planes, naive_planes(&values), "n = {n}");
        }
    }

    #[test]
    fn to_bit_planes_zero_pads_tail() {
        let values = vec![u64::MAX; 65];
        let planes = to_bit_planes(&values);
        for plane in &planes {
            assert_eq!(plane, &vec![u64::MAX, 1]);
        }
    }

    #[test]
    fn from_bit_planes_matches_naive_and_roundtrips() {
        let mut rng = TestRng::new(7);
        for n in SIZES {
            let values = rng.words(n);
            let planes = to_bit_planes(&values);
            assert_eq!(from_bit_planes(&planes, n).unwrap(), values, "n = {n}");
            // Arbitrary planes (garbage past n included) agree with the reference.
            let words = n.div_ceil(64);
            let random: Vec<Vec<u64>> = (0..64).map(|_| rng.words(words)).collect();
            assert_eq!(from_bit_planes(&random, n).unwrap(), naive_values(&random, n), "n = {n}");
        }
    }

    #[test]
    fn parallel_and_serial_agree() {
        let mut rng = TestRng::new(11);
        let n = PAR_THRESHOLD * 3 + 17;
        let values = rng.words(n);
        let planes = to_bit_planes(&values);
        let mut serial: Vec<Vec<u64>> = (0..64).map(|_| vec![0u64; n.div_ceil(64)]).collect();
        let mut out: Vec<&mut [u64]> = serial.iter_mut().map(Vec::as_mut_slice).collect();
        slice_blocks(&values, 0, &mut out);
        assert_eq!(planes, serial);
        assert_eq!(from_bit_planes(&planes, n).unwrap(), values);
    }

    #[test]
    fn from_bit_planes_with_fewer_planes() {
        let mut rng = TestRng::new(99);
        for n in SIZES {
            let values = rng.words(n);
            let planes = to_bit_planes(&values);
            for k in [0usize, 1, 8, 32, 63] {
                let mask = if k == 0 { 0 } else { u64::MAX >> (64 - k) };
                let expected: Vec<u64> = values.iter().map(|v| v & mask).collect();
                assert_eq!(from_bit_planes(&planes[..k], n).unwrap(), expected, "n={n} k={k}");
            }
        }
    }

    #[test]
    fn from_bit_planes_accepts_longer_planes() {
        let values = [5u64, 6, 7];
        let mut planes = to_bit_planes(&values);
        for plane in &mut planes {
            plane.push(u64::MAX);
        }
        assert_eq!(from_bit_planes(&planes, 3).unwrap(), values);
    }

    #[test]
    fn from_bit_planes_rejects_short_planes() {
        let mut planes = to_bit_planes(&TestRng::new(3).words(130));
        assert_eq!(from_bit_planes(&planes, 0).unwrap(), Vec::<u64>::new());
        planes[5].pop();
        let err = from_bit_planes(&planes, 130).unwrap_err();
        assert!(
            matches!(&err, RingError::InvalidArgument { op: "from_bit_planes", reason }
                if reason.contains("plane 5")),
            "{err:?}"
        );
        // 128 elements need only two words per plane.
        assert!(from_bit_planes(&planes, 128).is_ok());
    }

    #[test]
    fn from_bit_planes_rejects_too_many_planes() {
        let planes = vec![vec![0u64; 1]; 65];
        assert!(matches!(
            from_bit_planes(&planes, 10),
            Err(RingError::InvalidArgument { op: "from_bit_planes", .. })
        ));
    }
}
