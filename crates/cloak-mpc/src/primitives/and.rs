//! The AND gate of every binary circuit, on XOR-shared words.
//!
//! An AND spends a binary triple `(a, b, a & b)`: the parties open `e = x ^ a` and
//! `d = y ^ b`, and party `i` keeps `c_i ^ (e & b_i) ^ (d & a_i)`, party 0 adding `e & d`.
//! [`Context::and_words`] takes every AND gate of one circuit level at once, so a level
//! costs one round and one message per peer, whatever its width.

use cloak_dealer::Request;

use super::context::Context;
use crate::error::{Result, invalid};

impl Context {
    /// ANDs of XOR-shared word vectors, all in one round: `out[k] = pairs[k].0 & pairs[k].1`
    /// (64 gates per word). One round; `2 * W` words to each peer for `W` words of gates,
    /// and a binary triple of `W` words from the dealer.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument) for operands of
    /// different lengths (before anything is sent); a communication or dealer error.
    pub fn and_words(&mut self, pairs: &[(&[u64], &[u64])]) -> Result<Vec<Vec<u64>>> {
        let total: usize = pairs.iter().map(|(x, _)| x.len()).sum();
        if pairs.iter().any(|(x, y)| x.len() != y.len()) {
            return Err(invalid("and", "operands of different lengths"));
        }
        let triple = self.fetch(&Request::BinaryTriple { words: total })?.into_binary();
        let (a, b, c) = (triple.a.as_slice(), triple.b.as_slice(), triple.c.as_slice());
        let mut masked = Vec::with_capacity(2 * total);
        let mut offset = 0;
        for (x, _) in pairs {
            masked.extend(x.iter().zip(&a[offset..]).map(|(x, a)| x ^ a));
            offset += x.len();
        }
        offset = 0;
        for (_, y) in pairs {
            masked.extend(y.iter().zip(&b[offset..]).map(|(y, b)| y ^ b));
            offset += y.len();
        }
        let opened = self.open_words("and", vec![masked], true)?.remove(0);
        let (e, d) = opened.split_at(total);
        let rank0 = self.is_first();
        let mut out = Vec::with_capacity(pairs.len());
        offset = 0;
        for (x, _) in pairs {
            let n = x.len();
            let range = offset..offset + n;
            let z: Vec<u64> = (range.clone())
                .map(|k| {
                    let mut z = c[k] ^ (e[k] & b[k]) ^ (d[k] & a[k]);
                    if rank0 {
                        z ^= e[k] & d[k];
                    }
                    z
                })
                .collect();
            out.push(z);
            offset += n;
        }
        Ok(out)
    }
}
