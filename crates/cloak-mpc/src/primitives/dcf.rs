//! A distributed comparison function (DCF) for two parties with outputs in the ring: keys
//! `k0, k1` for a secret threshold `alpha` and payload `beta` (a vector of `w` ring
//! words) such that `eval(k0, x) + eval(k1, x) = beta * [x < alpha]` for every public
//! `m`-bit `x`, while each key alone looks random (Boyle, Chandran, Gilboa, Gupta, Ishai,
//! Kumar, Rathee, "Function Secret Sharing for Mixed-Mode and Fixed-Point Secure
//! Computation", Eurocrypt 2021, the DCF of its figure 1 over `G = Z_{2^64}^w`).
//!
//! The keys share one path down a binary tree of 128-bit seeds, expanded by the fixed-key
//! AES hash ([`FixedKeyAes::expand_wide`]: two blocks for the children's seeds and control
//! bits, `w` more for their values). Each level stores a seed correction (2 words), a value
//! correction (`w` words) and two control-bit corrections; the root seed and the final
//! correction add `2 + w` words: `(2 + w) (m + 1)` words and `2 m` bits per element.
//! Additive shares of a bit are also XOR shares of it in their low bits, so one kind of key
//! serves packed and arithmetic comparisons.
//!
//! Gen and eval work on a whole batch one level at a time (AES in hardware batches), and
//! the keys of a batch are stored level by level so that both read memory in order.

use cloak_prg::{FixedKeyAes, Prg};

/// The shape of a batch of keys: `n` elements, `m` input bits, `w` payload words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub n: usize,
    pub m: usize,
    pub w: usize,
}

impl Shape {
    pub(crate) fn new(n: usize, m: u32, w: usize) -> Self {
        Self { n, m: m as usize, w }
    }

    /// Words of one party's keys.
    pub(crate) fn len(self) -> usize {
        (2 + self.w) * self.n * (self.m + 1) + 2 * self.m * self.bit_words()
    }

    fn bit_words(self) -> usize {
        self.n.div_ceil(64)
    }

    /// Words per level: seed corrections, value corrections, two bit rows.
    fn level_words(self) -> usize {
        (2 + self.w) * self.n + 2 * self.bit_words()
    }

    /// The root seed of element `k` (2 words).
    fn root(self, k: usize) -> usize {
        2 * k
    }

    fn level(self, level: usize) -> usize {
        2 * self.n + level * self.level_words()
    }

    fn seed_cw(self, level: usize, k: usize) -> usize {
        self.level(level) + 2 * k
    }

    fn value_cw(self, level: usize, k: usize) -> usize {
        self.level(level) + 2 * self.n + self.w * k
    }

    /// Bit `k` of the left (`side` 0) or right (1) control-bit correction row.
    fn bit(self, level: usize, side: usize, k: usize) -> (usize, u32) {
        let row = self.level(level) + (2 + self.w) * self.n + side * self.bit_words();
        (row + k / 64, (k % 64) as u32)
    }

    /// The final correction of element `k` (`w` words).
    fn last(self, k: usize) -> usize {
        self.level(self.m) + self.w * k
    }

    /// Hashed blocks per seed: two for the children, `w` for their values (rounded up to
    /// whole blocks: two words per block).
    fn width(self) -> usize {
        2 + self.w
    }
}

/// The words of one party's keys for `n` elements of `m`-bit inputs and `w`-word payloads.
#[must_use]
pub(crate) fn keys_len(n: usize, m: u32, w: usize) -> usize {
    Shape::new(n, m, w).len()
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

/// One expanded node: the children's seeds and control bits, and their values (word `j`
/// of the left value is `left_value(j)`).
struct Node<'a> {
    blocks: &'a [u128],
    w: usize,
}

impl Node<'_> {
    fn child(&self, right: bool) -> (u128, bool) {
        let b = self.blocks[usize::from(right)];
        (b & !1, b & 1 == 1)
    }

    /// Word `j` of a child's value: the value blocks hold the left words, then the right.
    fn value(&self, right: bool, j: usize) -> u64 {
        let i = j + if right { self.w } else { 0 };
        let block = self.blocks[2 + i / 2];
        if i.is_multiple_of(2) { block as u64 } else { (block >> 64) as u64 }
    }
}

/// `x` or `-x`.
fn signed(negative: bool, x: u64) -> u64 {
    if negative { x.wrapping_neg() } else { x }
}

/// The `w` words a leaf seed converts to (its hash, so every word is uniform).
fn convert(g: &FixedKeyAes, seeds: &[u128], w: usize, out: &mut Vec<u64>) {
    let mut blocks = Vec::new();
    g.expand_wide(seeds, w.div_ceil(2), &mut blocks);
    out.clear();
    let per = w.div_ceil(2);
    for k in 0..seeds.len() {
        for j in 0..w {
            let b = blocks[k * per + j / 2];
            out.push(if j.is_multiple_of(2) { b as u64 } else { (b >> 64) as u64 });
        }
    }
}

/// Both parties' keys ([`keys_len`] words each) for thresholds `alphas[k]` (`m`-bit,
/// `1 <= m <= 64`) and payloads `betas[k * w..(k + 1) * w]`, from the dealer's `rng`.
pub(crate) fn keys(
    alphas: &[u64],
    betas: &[u64],
    m: u32,
    w: usize,
    rng: &mut Prg,
) -> [Vec<u64>; 2] {
    let sh = Shape::new(alphas.len(), m, w);
    let n = sh.n;
    debug_assert_eq!(betas.len(), n * w);
    let mut keys = [vec![0u64; sh.len()], vec![0u64; sh.len()]];
    for key in &mut keys {
        rng.fill_u64(&mut key[..2 * n]);
        for k in 0..n {
            let seed = read_seed(key, sh.root(k)) & !1;
            write_seed(key, sh.root(k), seed);
        }
    }
    for start in (0..n).step_by(CHUNK) {
        keys_chunk(alphas, betas, sh, start..(start + CHUNK).min(n), &mut keys);
    }
    keys
}

fn keys_chunk(
    alphas: &[u64],
    betas: &[u64],
    sh: Shape,
    range: std::ops::Range<usize>,
    keys: &mut [Vec<u64>; 2],
) {
    let (w, len) = (sh.w, range.len());
    let g = FixedKeyAes::new();
    let mut s: [Vec<u128>; 2] =
        [0, 1].map(|b| range.clone().map(|k| read_seed(&keys[b], sh.root(k))).collect());
    let mut t = [vec![false; len], vec![true; len]];
    // V_alpha: what the parties' values on alpha's path add up to so far.
    let mut v_alpha = vec![0u64; len * w];
    let (mut e0, mut e1) = (Vec::new(), Vec::new());
    let width = sh.width();
    for level in 0..sh.m {
        let j = sh.m - 1 - level;
        g.expand_wide(&s[0], width, &mut e0);
        g.expand_wide(&s[1], width, &mut e1);
        for (i, k) in range.clone().enumerate() {
            let a = (alphas[k] >> j) & 1 == 1;
            let n0 = Node { blocks: &e0[i * width..(i + 1) * width], w };
            let n1 = Node { blocks: &e1[i * width..(i + 1) * width], w };
            // Keep the branch alpha takes; the lost one gets the correction.
            let (keep, lose) = (a, !a);
            let s_cw = n0.child(lose).0 ^ n1.child(lose).0;
            let neg = t[1][i];
            for x in 0..w {
                let at = i * w + x;
                let mut v_cw =
                    n1.value(lose, x).wrapping_sub(n0.value(lose, x)).wrapping_sub(v_alpha[at]);
                // Leaving alpha's path to the left (alpha's bit is 1) means x < alpha.
                if a {
                    v_cw = v_cw.wrapping_add(betas[k * w + x]);
                }
                let v_cw = signed(neg, v_cw);
                v_alpha[at] = v_alpha[at]
                    .wrapping_sub(n1.value(keep, x))
                    .wrapping_add(n0.value(keep, x))
                    .wrapping_add(signed(neg, v_cw));
                for key in keys.iter_mut() {
                    key[sh.value_cw(level, k) + x] = v_cw;
                }
            }
            let t_cw_l = n0.child(false).1 ^ n1.child(false).1 ^ a ^ true;
            let t_cw_r = n0.child(true).1 ^ n1.child(true).1 ^ a;
            let t_cw_keep = if keep { t_cw_r } else { t_cw_l };
            for (b, node) in [&n0, &n1].into_iter().enumerate() {
                let key = &mut keys[b];
                write_seed(key, sh.seed_cw(level, k), s_cw);
                write_bit(key, sh.bit(level, 0, k), t_cw_l);
                write_bit(key, sh.bit(level, 1, k), t_cw_r);
                let (s_keep, t_keep) = node.child(keep);
                let tb = t[b][i];
                s[b][i] = s_keep ^ if tb { s_cw } else { 0 };
                t[b][i] = t_keep ^ (tb & t_cw_keep);
            }
        }
    }
    // The last correction makes the leaves' converted seeds add up to alpha's value.
    let (mut c0, mut c1) = (Vec::new(), Vec::new());
    convert(&g, &s[0], w, &mut c0);
    convert(&g, &s[1], w, &mut c1);
    for (i, k) in range.enumerate() {
        for x in 0..w {
            let at = i * w + x;
            let last = signed(t[1][i], c1[at].wrapping_sub(c0[at]).wrapping_sub(v_alpha[at]));
            for key in keys.iter_mut() {
                key[sh.last(k) + x] = last;
            }
        }
    }
}

/// Party `party`'s (0 or 1) additive shares of `beta_k * [xs[k] < alpha_k]` from its
/// `keys` ([`keys_len`] words for `xs.len()` elements): `w` words per element, element
/// after element.
pub(crate) fn eval(party: usize, keys: &[u64], xs: &[u64], m: u32, w: usize) -> Vec<u64> {
    let sh = Shape::new(xs.len(), m, w);
    let mut v = vec![0u64; sh.n * w];
    for start in (0..sh.n).step_by(CHUNK) {
        let end = (start + CHUNK).min(sh.n);
        eval_chunk(party, keys, sh, xs, start..end, &mut v[start * w..end * w]);
    }
    v
}

/// Elements walked through every level together: their seeds and hashes stay in cache,
/// while each level's corrections are read in order.
const CHUNK: usize = 2048;

fn eval_chunk(
    party: usize,
    keys: &[u64],
    sh: Shape,
    xs: &[u64],
    range: std::ops::Range<usize>,
    v: &mut [u64],
) {
    match sh.w {
        1 => eval_levels::<1>(party, keys, sh, xs, range, v),
        2 => eval_levels::<2>(party, keys, sh, xs, range, v),
        _ => eval_levels_any(party, keys, sh, xs, range, v),
    }
}

/// All-ones when `on`, else zero: corrections are added under a mask, not a branch (the
/// control bits are random, so a branch would be mispredicted half the time).
fn mask64(on: bool) -> u64 {
    0u64.wrapping_sub(u64::from(on))
}

/// [`eval_levels_any`] for a payload width known at compile time (comparison and relu use
/// 1 and 2 words), branch-free in the element loop.
fn eval_levels<const W: usize>(
    party: usize,
    keys: &[u64],
    sh: Shape,
    xs: &[u64],
    range: std::ops::Range<usize>,
    v: &mut [u64],
) {
    let neg = party == 1;
    let g = FixedKeyAes::new();
    let mut s: Vec<u128> = range.clone().map(|k| read_seed(keys, sh.root(k))).collect();
    let mut t = vec![neg; range.len()];
    let mut e = Vec::new();
    let width = sh.width();
    for level in 0..sh.m {
        let j = sh.m - 1 - level;
        g.expand_wide(&s, width, &mut e);
        let seeds = &keys[sh.seed_cw(level, range.start)..][..2 * range.len()];
        let values = &keys[sh.value_cw(level, range.start)..][..W * range.len()];
        let nodes = e.chunks_exact(width);
        let outs = v.chunks_exact_mut(W);
        for (i, (((node, out), k), cws)) in
            nodes.zip(outs).zip(range.clone()).zip(values.chunks_exact(W)).enumerate()
        {
            let right = (xs[k] >> j) & 1 == 1;
            let on = mask64(t[i]);
            let child = node[usize::from(right)];
            let seed_cw = u128::from(seeds[2 * i]) | (u128::from(seeds[2 * i + 1]) << 64);
            let bit = read_bit(keys, sh.bit(level, usize::from(right), k));
            let on_seed = u128::from(on) | (u128::from(on) << 64);
            s[i] = (child & !1) ^ (seed_cw & on_seed);
            t[i] = (child & 1 == 1) ^ (bit & t[i]);
            for a in 0..W {
                let i = a + if right { W } else { 0 };
                let block = node[2 + i / 2];
                let value = if i % 2 == 0 { block as u64 } else { (block >> 64) as u64 };
                let add = value.wrapping_add(cws[a] & on);
                out[a] = out[a].wrapping_add(signed(neg, add));
            }
        }
    }
    finish(&g, party, keys, sh, range, &s, &t, v);
}

fn eval_levels_any(
    party: usize,
    keys: &[u64],
    sh: Shape,
    xs: &[u64],
    range: std::ops::Range<usize>,
    v: &mut [u64],
) {
    let w = sh.w;
    let neg = party == 1;
    let g = FixedKeyAes::new();
    let mut s: Vec<u128> = range.clone().map(|k| read_seed(keys, sh.root(k))).collect();
    let mut t = vec![neg; range.len()];
    let mut e = Vec::new();
    let width = sh.width();
    for level in 0..sh.m {
        let j = sh.m - 1 - level;
        g.expand_wide(&s, width, &mut e);
        for (i, k) in range.clone().enumerate() {
            let node = Node { blocks: &e[i * width..(i + 1) * width], w };
            let right = (xs[k] >> j) & 1 == 1;
            let (mut sn, mut tn) = node.child(right);
            let on = t[i];
            if on {
                sn ^= read_seed(keys, sh.seed_cw(level, k));
                tn ^= read_bit(keys, sh.bit(level, usize::from(right), k));
            }
            let cw = sh.value_cw(level, k);
            for a in 0..w {
                let mut add = node.value(right, a);
                if on {
                    add = add.wrapping_add(keys[cw + a]);
                }
                v[i * w + a] = v[i * w + a].wrapping_add(signed(neg, add));
            }
            s[i] = sn;
            t[i] = tn;
        }
    }
    finish(&g, party, keys, sh, range, &s, &t, v);
}

/// The leaves: each element's converted seed, plus the last correction where its control
/// bit is set.
fn finish(
    g: &FixedKeyAes,
    party: usize,
    keys: &[u64],
    sh: Shape,
    range: std::ops::Range<usize>,
    s: &[u128],
    t: &[bool],
    v: &mut [u64],
) {
    let (w, neg) = (sh.w, party == 1);
    let mut c = Vec::new();
    convert(g, s, w, &mut c);
    for (i, k) in range.enumerate() {
        for a in 0..w {
            let add = c[i * w + a].wrapping_add(keys[sh.last(k) + a] & mask64(t[i]));
            v[i * w + a] = v[i * w + a].wrapping_add(signed(neg, add));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[ignore = "a timing probe: cargo test --release -p cloak-mpc --lib dcf_speed -- --ignored --nocapture"]
    fn dcf_speed() {
        let mut rng = Prg::new(&Seed::from_bytes([1; 16]));
        let n = 1 << 18;
        let mut alphas = vec![0u64; n];
        rng.fill_u64(&mut alphas);
        for w in [1usize, 2] {
            let betas = vec![1u64; n * w];
            let t = std::time::Instant::now();
            let k = keys(&alphas, &betas, 63, w, &mut rng);
            let gen_s = t.elapsed().as_secs_f64();
            // The fastest of five: scheduling only adds time.
            let mut eval_s = f64::INFINITY;
            let mut out = Vec::new();
            for _ in 0..5 {
                let t = std::time::Instant::now();
                out = eval(0, &k[0], &alphas, 63, w);
                eval_s = eval_s.min(t.elapsed().as_secs_f64());
            }
            eprintln!(
                "w {w}: gen {:.1} ns, eval {:.1} ns per element and level ({})",
                gen_s * 1e9 / (n as f64 * 63.0),
                eval_s * 1e9 / (n as f64 * 63.0),
                out[0]
            );
        }
    }

    use cloak_prg::{Prg, Seed};

    use super::{eval, keys};

    fn outputs(keys: &[Vec<u64>; 2], xs: &[u64], m: u32, w: usize) -> Vec<u64> {
        let (a, b) = (eval(0, &keys[0], xs, m, w), eval(1, &keys[1], xs, m, w));
        a.iter().zip(&b).map(|(a, b)| a.wrapping_add(*b)).collect()
    }

    #[test]
    fn the_shares_of_both_keys_give_the_comparison_times_the_payload() {
        let mut rng = Prg::new(&Seed::from_bytes([3; 16]));
        for (m, w) in [(1u32, 1usize), (2, 2), (5, 1), (8, 3), (16, 1), (63, 2), (64, 1)] {
            let top = if m == 64 { u64::MAX } else { (1u64 << m) - 1 };
            // Edge alphas and inputs: 0, 1, the top, the middle, and random ones.
            let mut words = vec![0u64; 40];
            rng.fill_u64(&mut words);
            let mut alphas: Vec<u64> = vec![0, 1, top, top - 1, top / 2, top / 2 + 1];
            alphas.extend(words[..20].iter().map(|x| x & top));
            let mut xs: Vec<u64> = vec![0, 1, top, top - 1, top / 2, top / 2 + 1];
            xs.extend(words[20..].iter().map(|x| x & top));
            for (a, &alpha) in alphas.iter().enumerate() {
                let mut betas = vec![0u64; xs.len() * w];
                rng.fill_u64(&mut betas);
                betas[0] = 1;
                betas[w] = u64::MAX;
                let keys = keys(&vec![alpha; xs.len()], &betas, m, w, &mut rng);
                let got = outputs(&keys, &xs, m, w);
                for (k, x) in xs.iter().enumerate() {
                    for i in 0..w {
                        let want = if *x < alpha { betas[k * w + i] } else { 0 };
                        assert_eq!(got[k * w + i], want, "m {m} w {w} alpha #{a}: [{x} < {alpha}]");
                    }
                }
            }
        }
    }

    #[test]
    fn one_key_alone_looks_random() {
        // A single party's outputs do not depend on alpha: for alpha = 0 (the comparison is
        // always 0) and alpha = max (almost always 1), party 0's output bits over many
        // independent keys are balanced, bit by bit.
        let mut rng = Prg::new(&Seed::from_bytes([5; 16]));
        let (m, n) = (63, 4096);
        for alpha in [0u64, (1 << 63) - 1] {
            let keys = keys(&vec![alpha; n], &vec![1; n], m, 1, &mut rng);
            let share = eval(0, &keys[0], &vec![12345u64; n], m, 1);
            for bit in [0, 1, 31, 63] {
                let ones = share.iter().filter(|v| (*v >> bit) & 1 == 1).count();
                // Binomial(4096, 1/2): 5 standard deviations is 160.
                assert!(ones.abs_diff(2048) < 160, "alpha {alpha}, bit {bit}: {ones} of {n}");
            }
        }
    }
}
