//! A distributed comparison function (DCF) for two parties, with outputs in `Z_2`: keys
//! `k0, k1` for a secret `alpha` such that `eval(k0, x) ^ eval(k1, x) = [x < alpha]` for
//! every public `m`-bit `x`, while each key alone looks random (Boyle, Chandran, Gilboa,
//! Gupta, Ishai, Kumar, Rathee, "Function Secret Sharing for Mixed-Mode and Fixed-Point
//! Secure Computation", Eurocrypt 2021, the DCF of its figure 1 with `beta = 1` in `Z_2`).
//!
//! The keys share one path down a binary tree of 128-bit seeds, expanded by the fixed-key
//! AES hash [`FixedKeyAes`]: each level stores a seed correction, two control-bit
//! corrections and a value correction: `2 + 2m` words and `3m + 1` bits per element. Gen and eval work on a whole batch of elements
//! one level at a time, so AES runs in hardware batches.

use cloak_prg::{FixedKeyAes, Prg};

/// The two low bits of a hashed block are the control bit `t` and the value bit `v`; the
/// rest is the next seed.
const SEED_MASK: u128 = !3;

/// The words of one party's keys for `n` elements of `m`-bit inputs. The keys of a batch
/// are stored level by level (every element's seed, then every element's correction of
/// level 0, ...), so that gen and eval, which go one level at a time over all elements,
/// read memory in order.
#[must_use]
pub(crate) fn keys_len(n: usize, m: u32) -> usize {
    let (m, w) = (m as usize, n.div_ceil(64));
    2 * n * (1 + m) + (3 * m + 1) * w
}

/// Where each part of a batch's keys lives.
#[derive(Clone, Copy)]
struct Layout {
    n: usize,
    m: usize,
    w: usize,
}

impl Layout {
    fn new(n: usize, m: u32) -> Self {
        Self { n, m: m as usize, w: n.div_ceil(64) }
    }

    /// The root seed of element `k` (2 words).
    fn root(self, k: usize) -> usize {
        2 * k
    }

    /// The seed correction of `level` for element `k` (2 words).
    fn seed_cw(self, level: usize, k: usize) -> usize {
        2 * self.n * (1 + level) + 2 * k
    }

    /// Bit `k` of bit row `row` (`3 level + {0: t_L, 1: t_R, 2: v}`, then `3 m`: the last).
    fn bit(self, row: usize, k: usize) -> (usize, u32) {
        (2 * self.n * (1 + self.m) + row * self.w + k / 64, (k % 64) as u32)
    }
}

/// `(seed, t, v)` of a hashed block.
fn split(block: u128) -> (u128, bool, bool) {
    (block & SEED_MASK, block & 1 == 1, block & 2 == 2)
}

fn read_bit(keys: &[u64], (word, shift): (usize, u32)) -> bool {
    (keys[word] >> shift) & 1 == 1
}

fn write_bit(keys: &mut [u64], (word, shift): (usize, u32), value: bool) {
    keys[word] |= u64::from(value) << shift;
}

fn read_seed(keys: &[u64], at: usize) -> u128 {
    u128::from(keys[at]) | (u128::from(keys[at + 1]) << 64)
}

fn write_seed(keys: &mut [u64], at: usize, s: u128) {
    keys[at] = s as u64;
    keys[at + 1] = (s >> 64) as u64;
}

/// Both parties' keys (each [`keys_len`] words) for every `alphas[k]` (`m`-bit,
/// `m <= 64`), from the dealer's `rng`.
pub(crate) fn keys(alphas: &[u64], m: u32, rng: &mut Prg) -> [Vec<u64>; 2] {
    let n = alphas.len();
    let lay = Layout::new(n, m);
    let g = FixedKeyAes::new();
    let mut keys = [vec![0u64; keys_len(n, m)], vec![0u64; keys_len(n, m)]];
    let mut s: [Vec<u128>; 2] = [vec![0; n], vec![0; n]];
    for (key, seeds) in keys.iter_mut().zip(&mut s) {
        rng.fill_u64(&mut key[..2 * n]);
        for (k, seed) in seeds.iter_mut().enumerate() {
            *seed = read_seed(key, lay.root(k)) & SEED_MASK;
            write_seed(key, lay.root(k), *seed);
        }
    }
    let mut t = [vec![false; n], vec![true; n]];
    let mut v_alpha = vec![false; n];
    let (mut e0, mut e1) = (Vec::new(), Vec::new());
    for level in 0..lay.m {
        let j = lay.m - 1 - level;
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
                write_seed(key, lay.seed_cw(level, k), s_cw);
                write_bit(key, lay.bit(3 * level, k), t_cw_l);
                write_bit(key, lay.bit(3 * level + 1, k), t_cw_r);
                write_bit(key, lay.bit(3 * level + 2, k), v_cw);
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
            write_bit(key, lay.bit(3 * lay.m, k), last);
        }
    }
    keys
}

/// The bit a leaf seed converts to.
fn convert(s: u128) -> bool {
    (s >> 2) & 1 == 1
}

/// Party `party`'s (0 or 1) XOR shares of `[xs[k] < alpha_k]` from its `keys` for
/// `xs.len()` elements ([`keys_len`] words), packed 64 per word.
pub(crate) fn eval(party: usize, keys: &[u64], xs: &[u64], m: u32) -> Vec<u64> {
    let n = xs.len();
    let lay = Layout::new(n, m);
    let g = FixedKeyAes::new();
    let mut s: Vec<u128> = (0..n).map(|k| read_seed(keys, lay.root(k))).collect();
    let mut t = vec![party == 1; n];
    let mut v = vec![false; n];
    let mut e = Vec::new();
    for level in 0..lay.m {
        let j = lay.m - 1 - level;
        g.expand(&s, &mut e);
        for k in 0..n {
            let ((mut sl, mut tl, vl), (mut sr, mut tr, vr)) = (split(e[k].0), split(e[k].1));
            let v_cw = read_bit(keys, lay.bit(3 * level + 2, k));
            if t[k] {
                let s_cw = read_seed(keys, lay.seed_cw(level, k));
                sl ^= s_cw;
                sr ^= s_cw;
                tl ^= read_bit(keys, lay.bit(3 * level, k));
                tr ^= read_bit(keys, lay.bit(3 * level + 1, k));
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
        let out = v[k] ^ convert(s[k]) ^ (t[k] & read_bit(keys, lay.bit(3 * lay.m, k)));
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
