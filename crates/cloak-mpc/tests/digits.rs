//! The dealer-digits comparison ([`DealerDigits`]) on raw ring values: the sign of every
//! value of the ring, edges included (0, -1, the ends of the signed range, every digit
//! boundary), exact, for 2, 3 and 4 parties; `[x < 0] * x` exact; and its rounds and bytes
//! pinned, against the dealer-bits circuit it replaces.

use cloak_mpc::primitives::{ComparisonProtocol, DealerBits, DealerDigits};
use cloak_mpc::{ComparisonStrategy, DealerKind, MpcError, RingTensor, SessionConfig, run_local};

fn config(strategy: impl ComparisonProtocol, dealer: DealerKind) -> SessionConfig {
    SessionConfig { comparison: ComparisonStrategy::new(strategy), dealer, ..Default::default() }
}

/// Edge values: 0, 1, -1, the signed range's ends and their neighbours, each digit's
/// boundaries (`2^(4d) - 1`, `2^(4d)`, negated), then pseudo-random values.
fn values(n: usize) -> Vec<u64> {
    let mut v = vec![0, 1, u64::MAX, 1 << 63, (1 << 63) - 1, (1 << 63) + 1, (1 << 62), 3 << 62];
    for d in 0..16 {
        let b = 1u64 << (4 * d);
        v.extend([b, b - 1, b.wrapping_neg(), b.wrapping_sub(1).wrapping_neg(), b | (1 << 63)]);
    }
    let mut state = 0x853C_49E6_748F_EA9Bu64;
    while v.len() < n {
        state =
            state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        // Mix small and large magnitudes, both signs.
        let shift = (state >> 58) as u32;
        v.push(((state ^ (state >> 29)) >> shift) ^ if state & 1 == 1 { u64::MAX } else { 0 });
    }
    v.truncate(n);
    v
}

/// Party `rank`'s additive share of `values` among `parties` (party 0 takes the rest).
fn share(values: &[u64], rank: usize, parties: usize) -> RingTensor<u64> {
    let mask = |p: usize, k: usize| {
        (k as u64 ^ (p as u64) << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
    };
    let words: Vec<u64> = values
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

/// What one party measured: the opened sign bits (packed), the opened `[x < 0] * x` and
/// `[x < 0]`, and the rounds and bytes it sent for the sign and for the product.
struct Measured {
    signs: Vec<u64>,
    product: Vec<u64>,
    bit: Vec<u64>,
    sign_cost: (u64, u64),
    product_cost: (u64, u64),
}

fn measure(parties: usize, config: &SessionConfig, x: &[u64]) -> Measured {
    let out = run_local(parties, config, |s| {
        let mine = share(x, s.rank(), parties);
        s.reset_stats();
        let packed = s.context()?.ltz_packed(&mine)?;
        let sign = s.comm_stats().total();
        s.reset_stats();
        let (bx, b) = s.context()?.times_ltz(&mine)?;
        let product = s.comm_stats().total();
        let mut ctx = s.context()?;
        let signs = ctx.open_words("test", vec![packed], true)?.remove(0);
        let mut opened = ctx.open_words("test", vec![bx.to_vec(), b.to_vec()], false)?;
        let bit = opened.pop().unwrap_or_default();
        Ok::<_, MpcError>(Measured {
            signs,
            product: opened.pop().unwrap_or_default(),
            bit,
            sign_cost: (sign.rounds, sign.bytes_sent),
            product_cost: (product.rounds, product.bytes_sent),
        })
    });
    out.into_iter().next().expect("party 0").expect("party 0 ran")
}

#[test]
fn signs_and_products_are_exact_over_the_whole_ring() {
    let x = values(1000);
    for (parties, dealer) in [
        (2, DealerKind::TrustedFirstParty),
        (3, DealerKind::TrustedFirstParty),
        (4, DealerKind::TrustedFirstParty),
        (2, DealerKind::TrustedThirdParty),
        (3, DealerKind::TrustedThirdParty),
    ] {
        let m = measure(parties, &config(DealerDigits, dealer), &x);
        for (k, &v) in x.iter().enumerate() {
            let negative = (v as i64) < 0;
            let what = format!("{parties} parties, {dealer:?}, x = {v:#x}");
            assert_eq!((m.signs[k / 64] >> (k % 64)) & 1 == 1, negative, "{what}: sign");
            assert_eq!(m.bit[k], u64::from(negative), "{what}: [x < 0]");
            assert_eq!(m.product[k], if negative { v } else { 0 }, "{what}: [x < 0] * x");
        }
    }
}

#[test]
fn the_sign_takes_three_rounds_and_twelve_and_a_quarter_bytes_per_element_and_peer() {
    // 4096 elements: 64 words of bits. The opening sends 8 bytes per element; the
    // lookahead carry over 16 digits opens 7 bits for each of 4 groups, then 6 for the
    // last group, in 2 rounds: 34 bits, 4.25 bytes (the binary tree: 26 AND gates in 4
    // rounds, 6.5 bytes). The product then opens 1 bit per element.
    let n = 4096u64;
    let x = values(n as usize);
    for parties in [2, 3, 4] {
        let m = measure(parties, &config(DealerDigits, DealerKind::TrustedFirstParty), &x);
        let peers = parties as u64 - 1;
        assert_eq!(m.sign_cost, (3, peers * (8 * n + 34 * n / 8)), "{parties} parties: sign");
        assert_eq!(
            m.product_cost,
            (4, peers * (8 * n + 34 * n / 8 + n / 8)),
            "{parties} parties: [x < 0] * x"
        );
        // The dealer-bits circuit on the same values: 7 rounds and 8 rounds, and at least
        // 3 times the bytes for the sign (its tree has 118 gates) and 3.5 times for the
        // product (its product opens a Beaver pair).
        let bits = measure(parties, &config(DealerBits, DealerKind::TrustedFirstParty), &x);
        assert_eq!((bits.sign_cost.0, bits.product_cost.0), (7, 8));
        assert!(bits.sign_cost.1 > 3 * m.sign_cost.1, "{parties} parties");
        assert!(bits.product_cost.1 * 2 > 7 * m.product_cost.1, "{parties} parties");
        assert_eq!((bits.signs, bits.product), (m.signs, m.product));
    }
}

/// Bytes party `s` has received from the dealer so far.
fn dealer_bytes(s: &cloak_mpc::Session) -> u64 {
    s.comm_stats().get(cloak_dealer::DEALER_LABEL).map_or(0, |o| o.bytes_received)
}

#[test]
fn a_third_party_sends_party_0_the_tables_offline_and_party_1_nothing() {
    // 4096 elements, 64 words of bits. Party 0's corrections: 257 table planes and the
    // lookahead's mask products, 22 for each of 4 groups and 15 for the last (a word each
    // per 64 elements); for the product also
    // `s` at scale 1 and `s r` (a word each per element). Everything else comes from
    // seeds. A request's framing adds a few bytes.
    let n = 4096u64;
    let x = values(n as usize);
    let out = run_local(2, &config(DealerDigits, DealerKind::TrustedThirdParty), |s| {
        let mine = share(&x, s.rank(), 2);
        let start = dealer_bytes(s);
        s.context()?.ltz_packed(&mine)?;
        let sign = dealer_bytes(s) - start;
        s.context()?.times_ltz(&mine)?;
        Ok::<_, MpcError>((sign, dealer_bytes(s) - start - sign))
    });
    let words = n / 64;
    let sign = (257 + 4 * 22 + 15) * words * 8;
    let product = sign + 2 * n * 8;
    let (p0, p1) = (out[0].as_ref().expect("party 0"), out[1].as_ref().expect("party 1"));
    assert!((sign..sign + 512).contains(&p0.0), "sign: {} bytes, want {sign}", p0.0);
    assert!((product..product + 512).contains(&p0.1), "product: {} bytes, want {product}", p0.1);
    assert!(p1.0 < 512 && p1.1 < 512, "party 1 got {p1:?} bytes of corrections");
    // Per element: about 45 bytes for the sign and 61 for ReLU's product, offline.
    eprintln!(
        "offline bytes per element: sign {:.1}, product {:.1}",
        p0.0 as f64 / n as f64,
        p0.1 as f64 / n as f64
    );
}
