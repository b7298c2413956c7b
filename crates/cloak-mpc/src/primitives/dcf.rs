//! A distributed comparison function (DCF) for two parties, with outputs in `Z_2`: keys
//! `k0, k1` for a secret `alpha` such that `eval(k0, x) ^ eval(k1, x) = [x < alpha]` for
//! every public `m`-bit `x`, while each key alone looks random (Boyle, Chandran, Gilboa,
//! Gupta, Ishai, Kumar, Rathee, "Function Secret Sharing for Mixed-Mode and Fixed-Point
//! Secure Computation", Eurocrypt 2021, the DCF of its figure 1 with `beta = 1` in `Z_2`).
//!
//! The keys share one path down a binary tree of 128-bit seeds, expanded by the fixed-key
//! AES hash [`FixedKeyAes`]: each level stores a seed correction, two control-bit
//! corrections and a value correction, so a key is `2 + 2m` words of seeds and corrections
//! and `ceil((3m + 1) / 64)` words of bits. Gen and eval work on a whole batch of elements
//! one level at a time, so AES runs in hardware batches.

use cloak_prg::{FixedKeyAes, Prg};

/// The two low bits of a hashed block are the control bit `t` and the value bit `v`; the
/// rest is the next seed.
const SEED_MASK: u128 = !3;

/// Words of one key for `m`-bit inputs.
#[must_use]
pub(crate) fn key_words(m: u32) -> usize {
    let m = m as usize;
    2 + 2 * m + (3 * m + 1).div_ceil(64)
}

/// `(seed, t, v)` of a hashed block.
fn split(block: u128) -> (u128, bool, bool) {
    (block & SEED_MASK, block & 1 == 1, block & 2 == 2)
}

/// Bit `i` of the `bits` region of a key (after the seed words).
fn bit(key: &[u64], m: u32, i: usize) -> bool {
    let base = 2 + 2 * m as usize;
    (key[base + i / 64] >> (i % 64)) & 1 == 1
}

fn set_bit(key: &mut [u64], m: u32, i: usize, value: bool) {
    let base = 2 + 2 * m as usize;
    key[base + i / 64] |= u64::from(value) << (i % 64);
}

fn seed_at(key: &[u64], at: usize) -> u128 {
    u128::from(key[at]) | (u128::from(key[at + 1]) << 64)
}

fn put_seed(key: &mut [u64], at: usize, s: u128) {
    key[at] = s as u64;
    key[at + 1] = (s >> 64) as u64;
}

/// Keys of both parties for every `alphas[k]` (`m`-bit, `m <= 64`), laid out one after the
/// other (`key_words(m)` words each), from the dealer's `rng`.
pub(crate) fn keys(alphas: &[u64], m: u32, rng: &mut Prg) -> [Vec<u64>; 2] {
    let (n, kw) = (alphas.len(), key_words(m));
    let g = FixedKeyAes::new();
    let mut keys = [vec![0u64; n * kw], vec![0u64; n * kw]];
    let mut random = vec![0u64; 4 * n];
    rng.fill_u64(&mut random);
    let mut s: [Vec<u128>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
    for k in 0..n {
        for (b, seeds) in s.iter_mut().enumerate() {
            let seed = (u128::from(random[4 * k + 2 * b])
                | (u128::from(random[4 * k + 2 * b + 1]) << 64))
                & SEED_MASK;
            seeds.push(seed);
            put_seed(&mut keys[b][k * kw..(k + 1) * kw], 0, seed);
        }
    }
    let mut t = [vec![false; n], vec![true; n]];
    let mut v_alpha = vec![false; n];
    let (mut e0, mut e1) = (Vec::new(), Vec::new());
    for level in 0..m {
        let j = m - 1 - level;
        g.expand(&s[0], &mut e0);
        g.expand(&s[1], &mut e1);
        for k in 0..n {
            let a = (alphas[k] >> j) & 1 == 1;
            let (l0, r0) = (split(e0[k].0), split(e0[k].1));
            let (l1, r1) = (split(e1[k].0), split(e1[k].1));
            // Keep the branch alpha takes; the lost one gets the correction.
            let (keep, lose) = if a { ((r0, r1), (l0, l1)) } else { ((l0, l1), (r0, r1)) };
            let s_cw = lose.0.0 ^ lose.1.0;
            // Leaving alpha's path to the left (where alpha's bit is 1) means x < alpha.
            let v_cw = lose.0.2 ^ lose.1.2 ^ v_alpha[k] ^ a;
            v_alpha[k] ^= keep.0.2 ^ keep.1.2 ^ v_cw;
            let t_cw_l = l0.1 ^ l1.1 ^ a ^ true;
            let t_cw_r = r0.1 ^ r1.1 ^ a;
            let t_cw_keep = if a { t_cw_r } else { t_cw_l };
            for (b, key) in keys.iter_mut().enumerate() {
                let key = &mut key[k * kw..(k + 1) * kw];
                put_seed(key, 2 + 2 * level as usize, s_cw);
                let i = 3 * level as usize;
                set_bit(key, m, i, t_cw_l);
                set_bit(key, m, i + 1, t_cw_r);
                set_bit(key, m, i + 2, v_cw);
                let (s_keep, t_keep) =
                    if b == 0 { (keep.0.0, keep.0.1) } else { (keep.1.0, keep.1.1) };
                let tb = t[b][k];
                s[b][k] = s_keep ^ if tb { s_cw } else { 0 };
                t[b][k] = t_keep ^ (tb & t_cw_keep);
            }
        }
    }
    // The last correction makes the leaves' converted seeds add up to the value.
    for k in 0..n {
        let last = convert(s[0][k]) ^ convert(s[1][k]) ^ v_alpha[k];
        for key in &mut keys {
            set_bit(&mut key[k * kw..(k + 1) * kw], m, 3 * m as usize, last);
        }
    }
    keys
}

/// The bit a leaf seed converts to.
fn convert(s: u128) -> bool {
    (s >> 2) & 1 == 1
}

/// Party `party`'s (0 or 1) XOR shares of `[xs[k] < alpha_k]` for its `keys` (one per
/// element, `key_words(m)` each), packed 64 per word.
pub(crate) fn eval(party: usize, keys: &[u64], xs: &[u64], m: u32) -> Vec<u64> {
    let (n, kw) = (xs.len(), key_words(m));
    let g = FixedKeyAes::new();
    let mut s: Vec<u128> = (0..n).map(|k| seed_at(&keys[k * kw..], 0)).collect();
    let mut t = vec![party == 1; n];
    let mut v = vec![false; n];
    let mut e = Vec::new();
    for level in 0..m {
        let j = m - 1 - level;
        g.expand(&s, &mut e);
        for k in 0..n {
            let key = &keys[k * kw..(k + 1) * kw];
            let ((mut sl, mut tl, vl), (mut sr, mut tr, vr)) = (split(e[k].0), split(e[k].1));
            let i = 3 * level as usize;
            let v_cw = bit(key, m, i + 2);
            if t[k] {
                let s_cw = seed_at(key, 2 + 2 * level as usize);
                sl ^= s_cw;
                sr ^= s_cw;
                tl ^= bit(key, m, i);
                tr ^= bit(key, m, i + 1);
            }
            let go_right = (xs[k] >> j) & 1 == 1;
            let (vb, sn, tn) = if go_right { (vr, sr, tr) } else { (vl, sl, tl) };
            v[k] ^= vb ^ (t[k] & v_cw);
            s[k] = sn;
            t[k] = tn;
        }
    }
    let mut packed = vec![0u64; n.div_ceil(64)];
    for k in 0..n {
        let key = &keys[k * kw..(k + 1) * kw];
        let out = v[k] ^ convert(s[k]) ^ (t[k] & bit(key, m, 3 * m as usize));
        packed[k / 64] |= u64::from(out) << (k % 64);
    }
    packed
}

#[cfg(test)]
mod tests {
    use cloak_prg::{Prg, Seed};

    use super::{eval, keys};

    fn lt_bits(keys: &[Vec<u64>; 2], xs: &[u64], m: u32) -> Vec<bool> {
        let (a, b) = (eval(0, &keys[0], xs, m), eval(1, &keys[1], xs, m));
        (0..xs.len()).map(|k| ((a[k / 64] ^ b[k / 64]) >> (k % 64)) & 1 == 1).collect()
    }

    #[test]
    fn the_shares_of_both_keys_give_the_comparison() {
        let mut rng = Prg::new(&Seed::from_bytes([3; 16]));
        for m in [1u32, 2, 5, 8, 63, 64] {
            let top = if m == 64 { u64::MAX } else { (1u64 << m) - 1 };
            // Edge alphas and inputs: 0, 1, the top, and random ones.
            let mut words = vec![0u64; 40];
            rng.fill_u64(&mut words);
            let mut alphas: Vec<u64> = vec![0, 1, top, top - 1, top / 2, top / 2 + 1];
            alphas.extend(words[..20].iter().map(|w| w & top));
            let mut xs: Vec<u64> = vec![0, 1, top, top - 1, top / 2, top / 2 + 1];
            xs.extend(words[20..].iter().map(|w| w & top));
            for &alpha in &alphas {
                let keys = keys(&vec![alpha; xs.len()], m, &mut rng);
                let got = lt_bits(&keys, &xs, m);
                for (x, g) in xs.iter().zip(got) {
                    assert_eq!(g, *x < alpha, "m {m}: [{x} < {alpha}]");
                }
            }
        }
    }

    #[test]
    fn one_key_alone_looks_random() {
        // The same alpha or its opposite: a single party's key and its evaluations do not
        // depend on alpha. Check that party 0's output bits are balanced over many
        // independent keys for alpha = 0 (always 0 in total) and alpha = max (mostly 1).
        let mut rng = Prg::new(&Seed::from_bytes([5; 16]));
        let m = 63;
        let n = 4096;
        for alpha in [0u64, (1 << 63) - 1] {
            let keys = keys(&vec![alpha; n], m, &mut rng);
            let xs = vec![12345u64; n];
            let share = eval(0, &keys[0], &xs, m);
            let ones: u32 = share.iter().map(|w| w.count_ones()).sum();
            // Binomial(4096, 1/2): 5 standard deviations is 160.
            assert!((ones as i64 - 2048).abs() < 160, "alpha {alpha}: {ones} ones of {n}");
        }
    }
}
