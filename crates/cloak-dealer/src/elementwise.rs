//! The dealer's fast path for elementwise requests (products and squares of equal shapes,
//! binary triples, truncation and division pairs, and custom kinds with an
//! [`ElementwiseRule`](crate::ElementwiseRule)): every component has the same length and
//! element `k` of a dependent component depends only on element `k` of the free ones, so
//! the correction is computed a cache-sized chunk at a time from a cursor into each party's
//! stream, with no whole tensor of another party's shares and one pass over memory.

use cloak_prg::{Prg, Seed};
use cloak_ring::RingTensor;

use crate::relation::{Rule, not_elementwise, uniform};
use crate::streams::{CORRECTION_PARTY, Values, fold, stream};
use crate::{Component, DealerError, Layout, Shares};

/// Elements per chunk (32 KiB per component).
const CHUNK: usize = 4096;

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

/// The correction party's shares by the chunked path; with `keep`, the components' true
/// values too (for a layout with dealt components).
pub(crate) fn correction_shares_elementwise(
    seeds: &[Seed],
    kind: &str,
    rule: Rule<'_>,
    layout: &Layout,
    counter: u64,
    keep: bool,
) -> Result<(Shares, Option<Values>), DealerError> {
    let n = uniform(layout).ok_or_else(|| not_elementwise(kind, layout))?;
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
    let (mut true_free, mut true_dep): (Vec<Vec<u64>>, Vec<Vec<u64>>) = if keep {
        ((0..nf).map(|_| vec![0u64; n]).collect(), (0..nd).map(|_| vec![0u64; n]).collect())
    } else {
        (Vec::new(), Vec::new())
    };
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
        {
            let free_refs: Vec<&[u64]> = values.iter().map(|v| &v[..len]).collect();
            let mut dep_refs: Vec<&mut [u64]> = dep.iter_mut().map(|v| &mut v[..len]).collect();
            rule.apply(&free_refs, &mut dep_refs);
        }
        if keep {
            for (t, v) in true_free.iter_mut().zip(&values) {
                t[range.clone()].copy_from_slice(&v[..len]);
            }
            for (t, v) in true_dep.iter_mut().zip(&dep) {
                t[range.clone()].copy_from_slice(&v[..len]);
            }
        }
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
    let shares = Shares {
        free: tensors(&layout.free, out_free)?,
        dependent: tensors(&layout.dependent, out_dep)?,
        dealt: Vec::new(),
    };
    let values = if keep {
        Some((tensors(&layout.free, true_free)?, tensors(&layout.dependent, true_dep)?))
    } else {
        None
    };
    Ok((shares, values))
}

/// Flat words as tensors of the components' shapes.
fn tensors(comps: &[Component], data: Vec<Vec<u64>>) -> Result<Vec<RingTensor<u64>>, DealerError> {
    comps.iter().zip(data).map(|(c, v)| Ok(RingTensor::from_vec(&c.shape, v)?)).collect()
}
