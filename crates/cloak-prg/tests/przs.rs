//! Pairwise seeds and pseudo-random zero sharing.

use cloak_prg::{PAR_MIN_BYTES, PairwiseSeeds, PrgError, Seed};
use proptest::prelude::*;

fn master() -> Seed {
    Seed::from_bytes([42; 16])
}

fn parties(world: usize) -> Vec<PairwiseSeeds> {
    (0..world).map(|r| PairwiseSeeds::from_master(&master(), r, world).expect("valid")).collect()
}

/// Each party's u64 share of zero for `len` elements.
fn shares_u64(parties: &mut [PairwiseSeeds], len: usize) -> Vec<Vec<u64>> {
    parties
        .iter_mut()
        .map(|p| {
            let mut out = vec![0xdead_beef; len];
            p.zero_share_u64(&mut out);
            out
        })
        .collect()
}

fn sum_u64(shares: &[Vec<u64>]) -> Vec<u64> {
    let mut sum = vec![0u64; shares[0].len()];
    for share in shares {
        for (s, x) in sum.iter_mut().zip(share) {
            *s = s.wrapping_add(*x);
        }
    }
    sum
}

#[test]
fn u64_shares_sum_to_zero_and_look_random() {
    for world in 2..=5 {
        let mut ps = parties(world);
        let mut previous: Option<Vec<Vec<u64>>> = None;
        for len in [0usize, 1, 7, 130, 1000] {
            let shares = shares_u64(&mut ps, len);
            assert!(sum_u64(&shares).iter().all(|&s| s == 0), "world {world}, len {len}");
            // A zero u64 in a uniform share has probability 2^-64 per element.
            for share in &shares {
                assert!(share.iter().all(|&x| x != 0), "world {world}: a zero element");
            }
            // Parties hold different shares (equal ones have probability 2^-64 per element).
            if len > 0 {
                assert_ne!(shares[0], shares[1]);
            }
            if let Some(prev) = previous.filter(|p| p[0].len() == len) {
                assert_ne!(prev, shares, "a call repeated the previous shares");
            }
            previous = Some(shares);
        }
        // Two calls of the same length give fresh shares.
        let a = shares_u64(&mut ps, 16);
        let b = shares_u64(&mut ps, 16);
        assert_ne!(a, b);
    }
}

#[test]
fn u32_shares_sum_to_zero() {
    for world in 2..=5 {
        let mut ps = parties(world);
        for len in [1usize, 3, 257] {
            let shares: Vec<Vec<u32>> = ps
                .iter_mut()
                .map(|p| {
                    let mut out = vec![7u32; len];
                    p.zero_share_u32(&mut out);
                    out
                })
                .collect();
            for i in 0..len {
                let sum = shares.iter().fold(0u32, |s, share| s.wrapping_add(share[i]));
                assert_eq!(sum, 0, "world {world}, len {len}, element {i}");
            }
            // At most a handful of zeros among uniform u32s (expected about len * world / 2^32).
            let zeros = shares.iter().flatten().filter(|&&x| x == 0).count();
            assert!(zeros <= 1, "world {world}: {zeros} zero elements");
        }
    }
}

#[test]
fn large_shares_are_parallel_and_still_sum_to_zero() {
    let len = PAR_MIN_BYTES / 8 * 2 + 3;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("thread pool");
    let mut ps = parties(3);
    let shares = pool.install(|| shares_u64(&mut ps, len));
    assert!(sum_u64(&shares).iter().all(|&s| s == 0));
    // Same as generating them on one thread, and the streams end at the same place.
    let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("thread pool");
    let mut seq = parties(3);
    let seq_shares = single.install(|| shares_u64(&mut seq, len));
    assert!(seq_shares == shares, "parallel shares differ from sequential ones");
    assert_eq!(pool.install(|| shares_u64(&mut ps, 5)), shares_u64(&mut seq, 5));
}

#[test]
fn pair_seeds_match_at_both_ends_and_differ_between_pairs() {
    let ps = parties(4);
    let mut seen = Vec::new();
    for i in 0..4 {
        for j in 0..4 {
            if i == j {
                continue;
            }
            let s = ps[i].seed_with(j).expect("peer");
            assert_eq!(s, ps[j].seed_with(i).expect("peer"));
            if i < j {
                assert!(!seen.contains(s), "two pairs share a seed");
                seen.push(s.clone());
            }
        }
    }
}

/// Seeds handed in by the caller: one fresh seed per pair, given to both ends.
fn exchanged(world: usize) -> Vec<PairwiseSeeds> {
    let pair_seed = |a: usize, b: usize| {
        let (lo, hi) = (a.min(b) as u8, a.max(b) as u8);
        Seed::from_bytes([lo, hi, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9])
    };
    (0..world)
        .map(|r| {
            let peers = (0..world).filter(|&p| p != r).rev().map(|p| (p, pair_seed(r, p)));
            PairwiseSeeds::from_peer_seeds(r, world, peers).expect("complete")
        })
        .collect()
}

#[test]
fn exchanged_seeds_share_zero_too() {
    for world in 2..=5 {
        let mut ps = exchanged(world);
        assert_eq!(ps[1].rank(), 1);
        assert_eq!(ps[1].world(), world);
        let shares = shares_u64(&mut ps, 100);
        assert!(sum_u64(&shares).iter().all(|&s| s == 0));
        assert_ne!(shares, shares_u64(&mut parties(world), 100));
    }
}

#[test]
fn bad_layouts_and_seed_sets_are_errors() {
    let s = || Seed::from_bytes([1; 16]);
    assert!(matches!(
        PairwiseSeeds::from_master(&master(), 0, 1),
        Err(PrgError::WorldTooSmall { world: 1 })
    ));
    assert!(matches!(
        PairwiseSeeds::from_master(&master(), 3, 3),
        Err(PrgError::RankOutOfRange { rank: 3, world: 3 })
    ));
    assert!(matches!(
        PairwiseSeeds::from_peer_seeds(0, 0, []),
        Err(PrgError::WorldTooSmall { world: 0 })
    ));
    assert!(matches!(
        PairwiseSeeds::from_peer_seeds(0, 3, [(1, s()), (3, s())]),
        Err(PrgError::PeerOutOfRange { peer: 3, world: 3 })
    ));
    assert!(matches!(
        PairwiseSeeds::from_peer_seeds(1, 3, [(1, s())]),
        Err(PrgError::SelfPair { rank: 1 })
    ));
    assert!(matches!(
        PairwiseSeeds::from_peer_seeds(0, 3, [(1, s()), (2, s()), (1, s())]),
        Err(PrgError::DuplicatePairSeed { rank: 0, peer: 1 })
    ));
    assert!(matches!(
        PairwiseSeeds::from_peer_seeds(2, 4, [(0, s()), (3, s())]),
        Err(PrgError::MissingPairSeed { rank: 2, peer: 1 })
    ));
    let p = PairwiseSeeds::from_master(&master(), 1, 3).expect("valid");
    assert!(matches!(p.seed_with(1), Err(PrgError::SelfPair { rank: 1 })));
    assert!(matches!(p.seed_with(5), Err(PrgError::PeerOutOfRange { peer: 5, world: 3 })));
    let text = PrgError::MissingPairSeed { rank: 2, peer: 1 }.to_string();
    assert!(text.contains("party 2") && text.contains("peer 1"), "{text}");
}

#[test]
fn debug_does_not_print_seeds() {
    let p = PairwiseSeeds::from_peer_seeds(0, 2, [(1, Seed::from_bytes([0xab; 16]))]).expect("ok");
    let text = format!("{p:?}");
    assert!(text.contains("redacted") && !text.contains("171"), "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn shares_sum_to_zero_for_any_calls(
        world in 2usize..=5,
        lens in proptest::collection::vec(0usize..600, 1..5),
        key in any::<[u8; 16]>(),
    ) {
        let mut ps: Vec<_> = (0..world)
            .map(|r| PairwiseSeeds::from_master(&Seed::from_bytes(key), r, world).expect("valid"))
            .collect();
        for len in lens {
            let shares = shares_u64(&mut ps, len);
            prop_assert!(sum_u64(&shares).iter().all(|&s| s == 0));
        }
    }
}
