//! The dealer's fast path for elementwise requests (products and squares of equal shapes,
//! binary triples, truncation pairs): every component has the same length and element `k`
//! of a dependent component depends only on element `k` of the free ones, so the
//! correction is computed a cache-sized chunk at a time from a cursor into each party's
//! stream, with no whole tensor of another party's shares and one pass over memory.

use cloak_prg::{Prg, Seed};
use cloak_ring::RingTensor;

use crate::generate::{CORRECTION_PARTY, fold, stream};
use crate::{BilinearOp, DealerError, Layout, Request, Shares};

/// Elements per chunk (32 KiB per component).
const CHUNK: usize = 4096;

/// How an elementwise request's dependent values follow from its free ones.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// `c = a * b`.
    Mul,
    /// `r2 = r * r`.
    Square,
    /// `c = a & b`.
    And,
    /// `(r >> bits, r >> 63)`.
    Trunc(u32),
    /// `(r / d, r >> 63)`.
    Div(u64),
}

impl Rule {
    fn of(request: &Request) -> Option<Rule> {
        match request {
            Request::Triple(BilinearOp::Mul { lhs, rhs }) if lhs == rhs => Some(Rule::Mul),
            Request::Square { .. } => Some(Rule::Square),
            Request::BinaryTriple { .. } => Some(Rule::And),
            Request::TruncPair { bits, .. } => Some(Rule::Trunc(*bits)),
            Request::DivPair { divisor, .. } if *divisor > 0 => Some(Rule::Div(*divisor)),
            _ => None,
        }
    }

    /// Dependent values of one chunk from the free values.
    fn apply(self, free: &[Vec<u64>], dep: &mut [Vec<u64>], len: usize) {
        match self {
            Rule::Mul => (0..len).for_each(|k| dep[0][k] = free[0][k].wrapping_mul(free[1][k])),
            Rule::Square => (0..len).for_each(|k| dep[0][k] = free[0][k].wrapping_mul(free[0][k])),
            Rule::And => (0..len).for_each(|k| dep[0][k] = free[0][k] & free[1][k]),
            Rule::Trunc(bits) => (0..len).for_each(|k| {
                dep[0][k] = free[0][k] >> bits;
                dep[1][k] = free[0][k] >> 63;
            }),
            Rule::Div(d) => (0..len).for_each(|k| {
                dep[0][k] = free[0][k] / d;
                dep[1][k] = free[0][k] >> 63;
            }),
        }
    }
}

/// A cursor at word `offset` of a party's stream for one request.
fn cursor(seed: &Seed, counter: u64, offset: usize) -> Prg {
    let mut prg = stream(seed, counter);
    prg.seek((offset / 2) as u64);
    if offset % 2 == 1 {
        let mut skip = [0u64; 1];
        prg.fill_u64(&mut skip);
    }
    prg
}

/// The correction party's shares by the chunked path, or `None` if the request is not
/// elementwise.
pub(crate) fn correction_shares_elementwise(
    seeds: &[Seed],
    request: &Request,
    layout: &Layout,
    counter: u64,
) -> Option<Result<Shares, DealerError>> {
    let rule = Rule::of(request)?;
    let n = layout.free.first()?.len();
    if layout.free.iter().chain(&layout.dependent).any(|c| c.len() != n) {
        return None;
    }
    let (nf, nd) = (layout.free.len(), layout.dependent.len());
    // The correction party's free components, and every other party's free and dependent
    // ones, each from a cursor at its place in that party's stream.
    let mut own: Vec<Prg> =
        (0..nf).map(|j| cursor(&seeds[CORRECTION_PARTY], counter, j * n)).collect();
    let mut others: Vec<(Vec<Prg>, Vec<Prg>)> = seeds
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != CORRECTION_PARTY)
        .map(|(_, s)| {
            let free = (0..nf).map(|j| cursor(s, counter, j * n)).collect();
            let dep = (0..nd).map(|d| cursor(s, counter, (nf + d) * n)).collect();
            (free, dep)
        })
        .collect();
    let mut out_free: Vec<Vec<u64>> = (0..nf).map(|_| vec![0u64; n]).collect();
    let mut out_dep: Vec<Vec<u64>> = (0..nd).map(|_| vec![0u64; n]).collect();
    let mut values: Vec<Vec<u64>> = vec![vec![0u64; CHUNK]; nf];
    let mut dep: Vec<Vec<u64>> = vec![vec![0u64; CHUNK]; nd];
    let mut scratch = vec![0u64; CHUNK];
    let mut start = 0;
    while start < n {
        let len = CHUNK.min(n - start);
        let range = start..start + len;
        for j in 0..nf {
            own[j].fill_u64(&mut out_free[j][range.clone()]);
            values[j][..len].copy_from_slice(&out_free[j][range.clone()]);
        }
        for (free, _) in &mut others {
            for (j, prg) in free.iter_mut().enumerate() {
                prg.fill_u64(&mut scratch[..len]);
                fold(layout.free[j].kind, &mut values[j][..len], &scratch[..len], false);
            }
        }
        rule.apply(&values, &mut dep, len);
        for (_, deps) in &mut others {
            for (d, prg) in deps.iter_mut().enumerate() {
                prg.fill_u64(&mut scratch[..len]);
                fold(layout.dependent[d].kind, &mut dep[d][..len], &scratch[..len], true);
            }
        }
        for d in 0..nd {
            out_dep[d][range.clone()].copy_from_slice(&dep[d][..len]);
        }
        start += len;
    }
    let tensors = |comps: &[crate::Component], data: Vec<Vec<u64>>| {
        comps
            .iter()
            .zip(data)
            .map(|(c, v)| RingTensor::from_vec(&c.shape, v).map_err(DealerError::from))
            .collect::<Result<Vec<_>, _>>()
    };
    Some((|| {
        Ok(Shares {
            free: tensors(&layout.free, out_free)?,
            dependent: tensors(&layout.dependent, out_dep)?,
        })
    })())
}
