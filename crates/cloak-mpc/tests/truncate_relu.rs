//! A product's truncation fused with the ReLU after it ([`AShare::truncate_relu`],
//! [`Context::truncate_times_ltz`]): against plain `f64`, for 2, 3 and 4 parties and both
//! kinds of dealer; the truncation exactly as dealer pairs truncate (`floor(x / 2^16)` or
//! one more, never below); one round and a truncation's opening fewer than truncating
//! first; and the unfused path where the session's strategies do not fuse.
//!
//! Tolerance: the input is a product at scale `2^32`; the exact ReLU of `x / 2^16` is
//! `max(floor(x / 2^16), 0)`, and the result may be one unit (`2^-16`) above it, as a
//! dealer pair's truncation may be.

use cloak_mpc::primitives::{DealerBits, DealerDigits};
use cloak_mpc::{
    AShare, ComparisonStrategy, DealerKind, MpcError, RingTensor, SessionConfig, Truncation,
    run_local,
};

const F: u32 = 16;

/// Products at scale `2^32`: 0, ±1, the edges of a unit (`±2^16` and around), large
/// magnitudes up to `2^61`, and pseudo-random ones of every size.
fn products(n: usize) -> Vec<u64> {
    let mut v: Vec<i64> = vec![0, 1, -1, 65535, 65536, 65537, -65535, -65536, -65537];
    v.extend([1 << 40, -(1 << 40), (1 << 61) - 1, -(1 << 61), 3 << 32, -(3 << 32)]);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    while v.len() < n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let shift = 3 + (state >> 58) as u32 % 60;
        v.push((state as i64) >> shift);
    }
    v.truncate(n);
    v.into_iter().map(|x| x as u64).collect()
}

/// Party `rank`'s additive share of `values` (party 0 takes the rest).
fn share(values: &[u64], rank: usize, parties: usize) -> RingTensor<u64> {
    let mask = |p: usize, k: usize| (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15 ^ p as u64);
    let words = values
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            if rank == 0 {
                (1..parties).fold(v, |acc, p| acc.wrapping_sub(mask(p, k)))
            } else {
                mask(rank, k)
            }
        })
        .collect();
    RingTensor::from_vec(&[values.len()], words).expect("a flat shape")
}

/// The opened ReLU and party 0's rounds and bytes sent for it.
fn run(parties: usize, config: &SessionConfig, x: &[u64]) -> (Vec<i64>, u64, u64) {
    let out = run_local(parties, config, |s| {
        let a = AShare::from_share(s, share(x, s.rank(), parties));
        s.reset_stats();
        let y = a.truncate_relu(F)?;
        let t = s.comm_stats().total();
        let opened = s.context()?.open_words("test", vec![y.share_tensor().to_vec()], false)?;
        Ok::<_, MpcError>((opened[0].iter().map(|&w| w as i64).collect(), t.rounds, t.bytes_sent))
    });
    out.into_iter().next().expect("party 0").expect("party 0 ran")
}

fn config(dealer: DealerKind) -> SessionConfig {
    SessionConfig { dealer, ..Default::default() }
}

#[test]
fn the_fused_relu_is_the_truncated_relu_within_one_unit() {
    let x = products(2000);
    for (parties, dealer) in [
        (2, DealerKind::TrustedFirstParty),
        (3, DealerKind::TrustedFirstParty),
        (4, DealerKind::TrustedFirstParty),
        (2, DealerKind::TrustedThirdParty),
        (3, DealerKind::TrustedThirdParty),
    ] {
        let (got, _, _) = run(parties, &config(dealer), &x);
        for (k, (&v, &g)) in x.iter().zip(&got).enumerate() {
            let floor = (v as i64) >> F;
            let want = floor.max(0);
            let what = format!("{parties} parties, {dealer:?}, element {k}: x = {}", v as i64);
            assert!(g == want || g == floor + 1 && floor >= 0, "{what}: got {g}, want {want}");
            // Against the real value in f64: within one unit of 2^-16.
            let real = (v as i64) as f64 / 2f64.powi(32);
            assert!((g as f64 / 65536.0 - real.max(0.0)).abs() <= 1.0 / 65536.0 + 1e-12, "{what}");
        }
    }
}

#[test]
fn fusing_saves_a_round_and_the_truncations_opening() {
    // 4096 elements. Fused: the opening (8 bytes per element), the lookahead carry over the
    // digits (34 bits in 2 rounds) and the product's bit: 4 rounds. Unfused (the same
    // protocols without fusion, a dealer-bits comparison): the truncation's opening and
    // round, then that comparison's ReLU.
    let n = 4096u64;
    let x = products(n as usize);
    for parties in [2usize, 3] {
        let peers = parties as u64 - 1;
        let (fused, rounds, bytes) = run(parties, &config(DealerKind::TrustedFirstParty), &x);
        assert_eq!((rounds, bytes), (4, peers * (8 * n + 34 * n / 8 + n / 8)), "{parties}");
        // Dealer digits with local truncation (two parties) does not fuse: 0 + 4 rounds.
        if parties == 2 {
            let local = SessionConfig {
                truncation: Truncation::LocalShares.into(),
                ..config(DealerKind::TrustedFirstParty)
            };
            let (_, r, b) = run(parties, &local, &x);
            assert_eq!((r, b), (4, peers * (8 * n + 34 * n / 8 + n / 8)), "local truncation");
        }
        // A strategy that does not fuse: the truncation (1 round, 8 bytes per element),
        // then its ReLU; the values are the same up to the truncation's unit.
        let bits = SessionConfig {
            comparison: ComparisonStrategy::new(DealerBits),
            ..config(DealerKind::TrustedFirstParty)
        };
        let (unfused, r, b) = run(parties, &bits, &x);
        let (_, relu_rounds, relu_bytes) = {
            // The dealer-bits ReLU alone, on already truncated values.
            let truncated: Vec<u64> = x.iter().map(|&v| ((v as i64) >> F) as u64).collect();
            let out = run_local(parties, &bits, |s| {
                let a = AShare::from_share(s, share(&truncated, s.rank(), parties));
                s.reset_stats();
                a.relu()?;
                let t = s.comm_stats().total();
                Ok::<_, MpcError>((t.rounds, t.bytes_sent))
            });
            let (rr, rb) = out.into_iter().next().expect("party 0").expect("ran");
            ((), rr, rb)
        };
        assert_eq!((r, b), (relu_rounds + 1, relu_bytes + peers * 8 * n), "{parties}: unfused");
        for (k, (f, u)) in fused.iter().zip(&unfused).enumerate() {
            assert!((f - u).abs() <= 1, "{parties} parties, element {k}: {f} against {u}");
        }
    }
    // The default strategies with DealerDigits named explicitly: the same fused path.
    let explicit = SessionConfig {
        comparison: ComparisonStrategy::new(DealerDigits),
        ..config(DealerKind::TrustedFirstParty)
    };
    assert_eq!(run(2, &explicit, &x).1, 4);
}
