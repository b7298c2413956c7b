//! Products of many XOR-shared bits in one round ([`Context::and_monomials`]) and the
//! four-way lookahead carry built on them ([`Context::carry_lookahead`]): each against the
//! same computation on plain words, for 2, 3 and 4 parties and both kinds of dealer; the
//! word and tensor forms alike in results, rounds and bytes; the lookahead equal to the
//! binary carry tree in `ceil(log4 n)` rounds; bad arguments refused before anything is
//! sent.

use cloak_mpc::primitives::{Context, mask_subsets};
use cloak_mpc::{DealerKind, MpcError, RingTensor, SessionConfig, run_local};

fn config(dealer: DealerKind) -> SessionConfig {
    SessionConfig { dealer, ..Default::default() }
}

/// Pseudo-random words from `seed`.
fn words(seed: u64, n: usize) -> Vec<u64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state ^ (state >> 29)
        })
        .collect()
}

/// Party `rank`'s XOR share of `values` among `parties` (party 0 takes the rest).
fn xor_share(values: &[u64], rank: usize, parties: usize, salt: u64) -> Vec<u64> {
    let mask = |p: usize| words(salt ^ ((p as u64) << 40), values.len());
    if rank == 0 {
        (1..parties)
            .fold(values.to_vec(), |acc, p| acc.iter().zip(mask(p)).map(|(a, m)| a ^ m).collect())
    } else {
        mask(rank)
    }
}

/// Opens XOR-shared word vectors.
fn open(ctx: &mut Context, parts: Vec<Vec<u64>>) -> Result<Vec<Vec<u64>>, MpcError> {
    parts.into_iter().map(|p| Ok(ctx.open_words("test", vec![p], true)?.remove(0))).collect()
}

/// The plain product of the variables named by `t`.
fn plain(vars: &[Vec<u64>], t: u32) -> Vec<u64> {
    let mut out = vec![u64::MAX; vars[0].len()];
    for (i, v) in vars.iter().enumerate() {
        if (t >> i) & 1 == 1 {
            out.iter_mut().zip(v).for_each(|(o, x)| *o &= x);
        }
    }
    out
}

#[test]
fn the_subsets_are_every_product_of_two_or_more_under_the_monomials() {
    assert_eq!(mask_subsets(&[0b11]), vec![0b11]);
    assert_eq!(mask_subsets(&[0b111]), vec![0b11, 0b101, 0b110, 0b111]);
    // Shared subsets appear once; a single variable needs none.
    assert_eq!(mask_subsets(&[0b011, 0b110, 0b1000]), vec![0b011, 0b110]);
    // The lookahead's group: 22 subsets; its last level: 15.
    assert_eq!(mask_subsets(&[0b1001, 0b10011, 0b100111, 0b1000111]).len(), 22);
    assert_eq!(mask_subsets(&[0b1001, 0b10011, 0b100111]).len(), 15);
}

#[test]
fn monomials_equal_the_plain_products_in_one_round() {
    // Five variables of three words; monomials of one to five variables.
    let vars: Vec<Vec<u64>> = (0..5).map(|i| words(100 + i, 3)).collect();
    let monomials = [0b1, 0b11, 0b10100, 0b1011, 0b11111, 0b10000, 0b1110];
    for (parties, dealer) in [
        (2, DealerKind::TrustedFirstParty),
        (3, DealerKind::TrustedFirstParty),
        (4, DealerKind::TrustedFirstParty),
        (2, DealerKind::TrustedThirdParty),
        (3, DealerKind::TrustedThirdParty),
    ] {
        let out = run_local(parties, &config(dealer), |s| {
            let mine: Vec<Vec<u64>> = vars
                .iter()
                .enumerate()
                .map(|(i, v)| xor_share(v, s.rank(), parties, i as u64))
                .collect();
            let refs: Vec<&[u64]> = mine.iter().map(Vec::as_slice).collect();
            s.reset_stats();
            let products = s.context()?.and_monomials(&refs, &monomials)?;
            let cost = s.comm_stats().total();
            // The tensor form: the same request, the same bytes, the same shares' values.
            let rows: Vec<u64> = mine.concat();
            let tensor = RingTensor::from_vec(&[5, 3], rows)?;
            s.reset_stats();
            let from_tensors = s.context()?.and_monomials_tensors(&tensor, &monomials)?;
            let tensor_cost = s.comm_stats().total();
            let mut ctx = s.context()?;
            let opened = open(&mut ctx, products)?;
            let opened_tensors =
                open(&mut ctx, from_tensors.to_vec().chunks(3).map(<[u64]>::to_vec).collect())?;
            Ok::<_, MpcError>((opened, opened_tensors, cost, tensor_cost))
        });
        for (rank, result) in out.into_iter().enumerate() {
            let (opened, opened_tensors, cost, tensor_cost) = result.expect("the party ran");
            let what = format!("{parties} parties, {dealer:?}, rank {rank}");
            for (t, got) in monomials.iter().zip(&opened) {
                assert_eq!(got, &plain(&vars, *t), "{what}: monomial {t:#b}");
            }
            assert_eq!(opened_tensors, opened, "{what}: tensor form");
            // One round: five variables of three words to each peer (a third-party dealer's
            // traffic comes on top).
            if dealer == DealerKind::TrustedThirdParty {
                continue;
            }
            let peers = parties as u64 - 1;
            assert_eq!((cost.rounds, cost.bytes_sent), (1, peers * 5 * 3 * 8), "{what}");
            assert_eq!(
                (tensor_cost.rounds, tensor_cost.bytes_sent),
                (cost.rounds, cost.bytes_sent),
                "{what}"
            );
        }
    }
}

/// The carry out of `n` positions in plain words: the ripple of `c = g_j ^ (p_j & c)`.
fn ripple(g: &[Vec<u64>], p: &[Vec<u64>]) -> Vec<u64> {
    let mut c = g[0].clone();
    for j in 1..g.len() {
        c = c.iter().zip(&g[j]).zip(&p[j - 1]).map(|((c, g), p)| g ^ (p & c)).collect();
    }
    c
}

#[test]
fn the_lookahead_carry_equals_the_ripple_and_the_tree_in_log4_rounds() {
    for (parties, dealer) in [
        (2, DealerKind::TrustedFirstParty),
        (3, DealerKind::TrustedFirstParty),
        (2, DealerKind::TrustedThirdParty),
    ] {
        for n in [1usize, 2, 3, 4, 5, 7, 16, 17, 63] {
            // Two words of chains; generate and propagate independent random bits, and
            // exclusive ones as a comparison makes them.
            let g: Vec<Vec<u64>> = (0..n).map(|j| words(7 * j as u64, 2)).collect();
            let raw: Vec<Vec<u64>> = (1..n).map(|j| words(1000 + j as u64, 2)).collect();
            let exclusive: Vec<Vec<u64>> = raw
                .iter()
                .zip(&g[1..])
                .map(|(p, g)| p.iter().zip(g).map(|(p, g)| p & !g).collect())
                .collect();
            for p in [&raw, &exclusive] {
                let out = run_local(parties, &config(dealer), |s| {
                    let share = |rows: &[Vec<u64>], salt: u64| -> Vec<Vec<u64>> {
                        rows.iter()
                            .enumerate()
                            .map(|(j, v)| xor_share(v, s.rank(), parties, salt + j as u64))
                            .collect()
                    };
                    let (gs, ps) = (share(&g, 0), share(p, 500));
                    s.reset_stats();
                    let carry = s.context()?.carry_lookahead(gs.clone(), ps.clone())?;
                    let rounds = s.comm_stats().total().rounds;
                    let tree = s.context()?.carry_tree(gs.clone(), ps.clone())?;
                    let tensor =
                        |rows: &[Vec<u64>]| RingTensor::from_vec(&[rows.len(), 2], rows.concat());
                    s.reset_stats();
                    let from_tensors =
                        s.context()?.carry_lookahead_tensors(tensor(&gs)?, tensor(&ps)?)?;
                    let tensor_rounds = s.comm_stats().total().rounds;
                    let mut ctx = s.context()?;
                    let opened = open(&mut ctx, vec![carry, tree, from_tensors.to_vec()])?;
                    Ok::<_, MpcError>((opened, rounds, tensor_rounds))
                });
                let want = ripple(&g, p);
                let (opened, rounds, tensor_rounds) =
                    out.into_iter().next().expect("party 0").expect("party 0 ran");
                let what = format!("{parties} parties, {dealer:?}, {n} positions");
                assert_eq!(opened[0], want, "{what}: lookahead");
                assert_eq!(opened[1], want, "{what}: tree");
                assert_eq!(opened[2], want, "{what}: lookahead on tensors");
                // ceil(log4 n) levels (a third-party dealer's traffic comes on top).
                if dealer == DealerKind::TrustedThirdParty {
                    continue;
                }
                let levels = (0..).find(|&l| 4usize.pow(l) >= n).expect("a level count");
                assert_eq!(
                    (rounds, tensor_rounds),
                    (u64::from(levels), u64::from(levels)),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn bad_monomials_are_refused_before_anything_is_sent() {
    let out = run_local(2, &SessionConfig::default(), |s| {
        let v = vec![0u64; 2];
        // The dealer's setup is not part of what is measured.
        s.context()?;
        s.reset_stats();
        let mut ctx = s.context()?;
        let refused = [
            ctx.and_monomials(&[&v, &v], &[0]).is_err(),
            ctx.and_monomials(&[&v, &v], &[0b100]).is_err(),
            ctx.and_monomials(&[], &[]).is_err(),
            ctx.and_monomials(&[&v, &v[..1]], &[0b11]).is_err(),
            ctx.and_monomials(&[v.as_slice(); 33], &[0b11]).is_err(),
            ctx.and_monomials(&[v.as_slice(); 12], &[0xfff]).is_err(),
            ctx.carry_lookahead(vec![v.clone()], vec![v.clone()]).is_err(),
            ctx.and_monomials_tensors(&RingTensor::zeros(&[4]), &[0b11]).is_err(),
        ];
        drop(ctx);
        Ok::<_, MpcError>((refused, s.comm_stats().total().rounds))
    });
    for result in out {
        let (refused, rounds) = result.expect("the party ran");
        assert!(refused.iter().all(|r| *r), "{refused:?}");
        assert_eq!(rounds, 0);
    }
}
