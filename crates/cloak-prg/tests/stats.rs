//! Statistical sanity: bit balance of the generator's output.
//!
//! For a uniform source, the number of ones among `n` independent bits is Binomial(n, 1/2),
//! standard deviation `sqrt(n) / 2`. We accept a count within 7 standard deviations of `n / 2`:
//! by the normal approximation a two-sided 7-sigma excursion has probability 2.6e-12, and a
//! union bound over the 65 counts per stream and 4 streams checked keeps the chance of a false
//! failure for a truly random stream below 7e-10 (< 1e-9). Seeds are fixed, so the outcome is
//! deterministic.

use cloak_prg::{Prg, Seed};

const WORDS: usize = 1 << 17; // 2^23 bits = 1 MiB
const SIGMAS: f64 = 7.0;

/// Whether the total count of ones and the count at each of the 64 bit positions are within
/// `SIGMAS` standard deviations of half.
fn balanced(words: &[u64]) -> Result<(), String> {
    let within = |ones: u64, n: u64| {
        let dev = (ones as f64 - n as f64 / 2.0).abs();
        dev <= SIGMAS * (n as f64).sqrt() / 2.0
    };
    let n = words.len() as u64;
    let total: u64 = words.iter().map(|w| u64::from(w.count_ones())).sum();
    if !within(total, 64 * n) {
        return Err(format!("{total} ones among {} bits", 64 * n));
    }
    for bit in 0..64 {
        let ones = words.iter().filter(|&&w| w >> bit & 1 == 1).count() as u64;
        if !within(ones, n) {
            return Err(format!("bit {bit}: {ones} ones among {n} words"));
        }
    }
    Ok(())
}

#[test]
fn output_bits_are_balanced() {
    let mut words = vec![0u64; WORDS];
    for byte in [0u8, 1, 0x80, 0xff] {
        Prg::new(&Seed::from_bytes([byte; 16])).fill_u64(&mut words);
        balanced(&words).unwrap_or_else(|e| panic!("seed byte {byte:#x}: {e}"));
    }
}

#[test]
fn the_check_rejects_a_counter() {
    // The check has teeth: a plain counter (high bits always zero) fails it.
    let counter: Vec<u64> = (0..WORDS as u64).collect();
    assert!(balanced(&counter).is_err());
    // So does a slightly biased source: every 16th word forced to all ones.
    let mut words = vec![0u64; WORDS];
    Prg::new(&Seed::from_bytes([3; 16])).fill_u64(&mut words);
    for w in words.iter_mut().step_by(16) {
        *w = u64::MAX;
    }
    assert!(balanced(&words).is_err());
}
