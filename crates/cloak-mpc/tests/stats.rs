//! Rounds and bytes per operation, which are part of each protocol's contract, for 2, 3
//! and 4 parties, counted under the outermost operation's label only.
//!
//! Exact expectations, derived from the protocols (`P` parties, `P - 1` peers, 8 bytes a
//! word, every round one message to each peer, as much received as sent):
//! - `share`: no communication; `reveal` of `n`: 1 round, `(P-1) 8n` bytes; `reveal_to`: 1
//!   round, the target receives and the others send.
//! - truncation (dealer pairs, the default for any number of parties): one opening of the
//!   product: 1 round, `(P-1) 8n`.
//! - Beaver products (`mul`, `matmul`, convolutions): one opening of both operands, then the
//!   truncation; `square` opens one operand.
//! - AND (`and_words`): one round, 2 words per AND word.
//! - sign bit of `n` elements, `w = ceil(n / 64)` words per bit plane: `L` carry-save layers
//!   (`L = 0, 1, 2` for 2, 3, 4 parties) of 63 plane ANDs, 63 generate planes, a carry tree of
//!   6 levels with 61 + 31 + 15 + 7 + 3 + 1 = 118 plane ANDs, then B2A of the packed bits
//!   (`w` words): `L + 8` rounds and `(2 (63 L + 181) + 1) w` words per peer.
//! - relu and abs replace the B2A round by one bit-injection round that opens the masked
//!   bits (`w` words) with the Beaver masks of a product by a random bit (`2n` words): the
//!   same rounds as the comparison, `2n` more words; eq and ne compare `2n` values in one
//!   circuit.
//! - A2B: `L` carry-save rounds of `n` words, then Kogge-Stone with 1 + 2*5 + 1 = 12 AND
//!   words per element in 7 rounds; B2A of `n` words: 1 round, `n` words.
//!
//! Also: two-party relu sends less than a third of CrypTen's 464 bytes per element, the
//! trusted-first-party dealer of a test session never communicates, and the dealer's
//! request counts.

mod common;

use cloak_comm::{CommStats, OpStats};
use cloak_mpc::{AShare, BShare, Session, SessionConfig};
use cloak_ring::{Conv2dSpec, RingTensor};
use common::*;

/// The bit-plane carry circuit, whose costs this file documents (the default comparison is
/// dealer bits; `comparison_costs.rs` pins both).
fn circuit() -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(cloak_mpc::primitives::BitPlaneCarry),
        ..SessionConfig::default()
    }
}

/// Carry-save layers that reduce `p` summands to two.
fn csa_layers(p: usize) -> u64 {
    let (mut v, mut layers) = (p, 0);
    while v > 2 {
        v = v / 3 * 2 + v % 3;
        layers += 1;
    }
    layers
}

/// Words one party sends to each peer, and rounds, of the sign-bit circuit on `n` elements.
fn ltz_cost(p: usize, n: usize) -> (u64, u64) {
    let w = n.div_ceil(64) as u64;
    let and_words = (63 * csa_layers(p) + 181) * w;
    (csa_layers(p) + 8, 2 * and_words + w)
}

/// Rounds and words per peer of truncating `n` elements.
fn trunc_cost(p: usize, n: usize) -> (u64, u64) {
    let _ = p;
    (1, n as u64)
}

/// The expected counters of `rounds` rounds sending `words_per_peer` words to each peer.
fn exchange(p: usize, rounds: u64, words_per_peer: u64) -> OpStats {
    let bytes = (p as u64 - 1) * words_per_peer * 8;
    OpStats {
        rounds,
        messages: rounds * (p as u64 - 1),
        bytes_sent: bytes,
        bytes_received: bytes,
        ..OpStats::default()
    }
}

/// Counters without the time.
fn counts(s: OpStats) -> (u64, u64, u64, u64) {
    (s.rounds, s.messages, s.bytes_sent, s.bytes_received)
}

/// Runs `op` on a session whose statistics were just reset, and returns the statistics.
fn measure(s: &Session, op: impl FnOnce() -> Result<(), cloak_mpc::MpcError>) -> CommStats {
    s.reset_stats();
    let before = s.comm_stats().label().to_owned();
    let out = op();
    assert_eq!(s.comm_stats().label(), before, "the label is restored");
    out.expect("op");
    s.comm_stats()
}

/// Asserts that `stats` has exactly one label, `label`, with the counts of `want`.
fn only(stats: &CommStats, label: &str, want: OpStats, what: &str) {
    let labels: Vec<&str> = stats.iter().map(|(l, _)| l).collect();
    if want.rounds == 0 {
        assert!(labels.is_empty(), "{what}: expected no communication, got {labels:?}");
        return;
    }
    assert_eq!(labels, [label], "{what}: labels");
    let got = stats.get(label).copied().unwrap_or_default();
    assert_eq!(counts(got), counts(want), "{what}: (rounds, messages, sent, received)");
}

#[test]
fn share_reveal_and_reveal_to() {
    let x = rand_arr(&[10, 7], -5.0, 5.0, 80);
    for p in PARTIES {
        run(p, &circuit(), |s| {
            let st = measure(s, || share_from(s, p - 1, &x).map(drop));
            assert_eq!(st.total(), OpStats::default(), "share is free");
            let a = share0(s, &x)?;
            let st = measure(s, || a.reveal().map(drop));
            only(&st, "reveal", exchange(p, 1, 70), "reveal");
            let st = measure(s, || a.reveal_to(1).map(drop));
            let r = st.get("reveal").copied().unwrap_or_default();
            let sent = if s.rank() == 1 { 0 } else { 70 * 8 };
            let recv = if s.rank() == 1 { (p as u64 - 1) * 70 * 8 } else { 0 };
            assert_eq!((r.rounds, r.bytes_sent, r.bytes_received), (1, sent, recv), "reveal_to");
            let b = BShare::from_public(s, &RingTensor::zeros(&[9]));
            let st = measure(s, || b.reveal().map(drop));
            only(&st, "reveal", exchange(p, 1, 9), "binary reveal");
            Ok(())
        });
    }
}

#[test]
fn products() {
    let x = rand_arr(&[6, 5], -5.0, 5.0, 81);
    let y = rand_arr(&[5], -5.0, 5.0, 82);
    let m = rand_arr(&[5, 3], -5.0, 5.0, 83);
    let img = rand_arr(&[2, 4, 6, 6], -1.0, 1.0, 84);
    let ker = rand_arr(&[6, 2, 3, 3], -1.0, 1.0, 85);
    let spec = Conv2dSpec { stride: (2, 2), padding: (1, 1), groups: 2, ..Conv2dSpec::default() };
    for p in PARTIES {
        run(p, &circuit(), |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, 1, &y)?;
            let c = share_from(s, p - 1, &m)?;
            let (i, k) = (share0(s, &img)?, share_from(s, 1, &ker)?);
            let (tr, tw) = trunc_cost(p, 30);
            // mul [6,5] by [5]: open 30 + 5 words, truncate 30.
            let st = measure(s, || a.mul(&b).map(drop));
            only(&st, "mul", exchange(p, 1 + tr, 35 + tw), "mul");
            let st = measure(s, || a.mul(&a).map(drop));
            only(&st, "mul", exchange(p, 1 + tr, 60 + tw), "mul by itself");
            let st = measure(s, || a.square().map(drop));
            only(&st, "square", exchange(p, 1 + tr, 30 + tw), "square");
            // matmul [6,5] x [5,3]: open 30 + 15, truncate 18.
            let (tr, tw) = trunc_cost(p, 18);
            let st = measure(s, || a.matmul(&c).map(drop));
            only(&st, "matmul", exchange(p, 1 + tr, 45 + tw), "matmul");
            // conv2d: open 288 + 108, truncate the [2, 6, 3, 3] output.
            let (tr, tw) = trunc_cost(p, 108);
            let st = measure(s, || i.conv2d(&k, &spec).map(drop));
            only(&st, "conv2d", exchange(p, 1 + tr, 288 + 108 + tw), "conv2d");
            // where: one mul of the [6,5] condition by the difference.
            let cond = a.ltz()?;
            let (tr, tw) = trunc_cost(p, 30);
            let st = measure(s, || AShare::where_select(&cond, &a, &b).map(drop));
            only(&st, "where", exchange(p, 1 + tr, 60 + tw), "where");
            Ok(())
        });
    }
}

#[test]
fn public_products_and_means() {
    let x = rand_arr(&[6, 5], -5.0, 5.0, 86);
    let y = rand_arr(&[5], -5.0, 5.0, 87);
    let m = rand_arr(&[5, 3], -5.0, 5.0, 88);
    for p in PARTIES {
        run(p, &circuit(), |s| {
            let a = share0(s, &x)?;
            let (tr, tw) = trunc_cost(p, 30);
            let st = measure(s, || a.mul_public(&y).map(drop));
            only(&st, "truncate", exchange(p, tr, tw), "mul_public");
            let st = measure(s, || a.mul_scalar(0.3).map(drop));
            only(&st, "truncate", exchange(p, tr, tw), "mul_scalar");
            let st = measure(s, || a.div_public(&y.mapv(|v| v + 10.0)).map(drop));
            only(&st, "truncate", exchange(p, tr, tw), "div_public");
            // mean: an exact division by a public integer, one opening of the 6 sums, for
            // any number of parties.
            let st = measure(s, || a.mean(1, false).map(drop));
            only(&st, "div", exchange(p, 1, 6), "mean");
            let (tr, tw) = trunc_cost(p, 18);
            let st = measure(s, || a.matmul_public(&m).map(drop));
            only(&st, "matmul", exchange(p, tr, tw), "matmul_public");
            // Local operations never communicate.
            let st = measure(s, || {
                let b = a.add(&a)?.sub_public(&y)?.mul_int(3).mul_scalar(-2.0)?.sum(0, true)?;
                b.t()?.reshape(&[5])?.add_scalar(1.0)?.neg().div_scalar(0.5).map(drop)
            });
            assert_eq!(st.total(), OpStats::default(), "local operations");
            Ok(())
        });
    }
}

#[test]
fn comparisons() {
    let x = rand_arr(&[100], -5.0, 5.0, 89);
    let y = rand_arr(&[100], -5.0, 5.0, 90);
    for p in PARTIES {
        run(p, &circuit(), |s| {
            let a = share0(s, &x)?;
            let b = share_from(s, 1, &y)?;
            let (r, words) = ltz_cost(p, 100);
            let cmp = exchange(p, r, words);
            for (label, st) in [
                ("ltz", measure(s, || a.ltz().map(drop))),
                ("lt", measure(s, || a.lt(&b).map(drop))),
                ("le", measure(s, || a.le(&b).map(drop))),
                ("gt", measure(s, || a.gt(&b).map(drop))),
                ("ge", measure(s, || a.ge(&b).map(drop))),
                ("lt", measure(s, || a.lt_public(&y).map(drop))),
                ("le", measure(s, || a.le_public(&y).map(drop))),
                ("gt", measure(s, || a.gt_public(&y).map(drop))),
                ("ge", measure(s, || a.ge_public(&y).map(drop))),
                ("sign", measure(s, || a.sign().map(drop))),
            ] {
                only(&st, label, cmp, label);
            }
            // eq and ne: one circuit on both differences (200 elements).
            let (r, words) = ltz_cost(p, 200);
            for (label, st) in [
                ("eq", measure(s, || a.eq(&b).map(drop))),
                ("ne", measure(s, || a.ne(&b).map(drop))),
                ("eq", measure(s, || a.eq_public(&y).map(drop))),
                ("ne", measure(s, || a.ne_public(&y).map(drop))),
            ] {
                only(&st, label, exchange(p, r, words), label);
            }
            // relu and abs: the circuit, then the bit-injection round in place of B2A
            // (200 more words, no extra round).
            let (r, words) = ltz_cost(p, 100);
            let relu = exchange(p, r, words + 200);
            only(&measure(s, || a.relu().map(drop)), "relu", relu, "relu");
            only(&measure(s, || a.relu_with_grad().map(drop)), "relu", relu, "relu_with_grad");
            only(&measure(s, || a.abs().map(drop)), "abs", relu, "abs");
            // clamp: one relu of 200 values.
            let (r, words) = ltz_cost(p, 200);
            let clamp = exchange(p, r, words + 400);
            only(&measure(s, || a.clamp(-1.0, 1.0).map(drop)), "clamp", clamp, "clamp");
            Ok(())
        });
    }
}

#[test]
fn round_counts_as_documented() {
    // The headline numbers, independent of the formulas above.
    let x = rand_arr(&[10], -5.0, 5.0, 91);
    for (p, ltz, relu, a2b, mul) in [(2, 8, 8, 7, 2), (3, 9, 9, 8, 2), (4, 10, 10, 9, 2)] {
        run(p, &circuit(), |s| {
            let a = share0(s, &x)?;
            let rounds = |label: &str, st: CommStats| st.get(label).map_or(0, |o| o.rounds);
            assert_eq!(rounds("ltz", measure(s, || a.ltz().map(drop))), ltz);
            assert_eq!(rounds("lt", measure(s, || a.lt(&a).map(drop))), ltz);
            assert_eq!(rounds("eq", measure(s, || a.eq(&a).map(drop))), ltz);
            assert_eq!(rounds("relu", measure(s, || a.relu().map(drop))), relu);
            assert_eq!(rounds("a2b", measure(s, || a.to_binary().map(drop))), a2b);
            assert_eq!(rounds("mul", measure(s, || a.mul(&a).map(drop))), mul);
            let b = a.to_binary()?;
            assert_eq!(rounds("b2a", measure(s, || b.to_arith().map(drop))), 1);
            assert_eq!(rounds("and", measure(s, || b.and(&b).map(drop))), 1);
            assert_eq!(rounds("reveal", measure(s, || a.reveal().map(drop))), 1);
            assert_eq!(measure(s, || share0(s, &x).map(drop)).total().rounds, 0);
            Ok(())
        });
    }
}

#[test]
fn binary_conversions_and_and() {
    let x = rand_arr(&[150], -5.0, 5.0, 92);
    for p in PARTIES {
        run(p, &circuit(), |s| {
            let a = share_from(s, p - 1, &x)?;
            let l = csa_layers(p);
            let st = measure(s, || a.to_binary().map(drop));
            only(&st, "a2b", exchange(p, l + 7, 2 * (l + 12) * 150), "a2b");
            let b = a.to_binary()?;
            let st = measure(s, || b.to_arith().map(drop));
            only(&st, "b2a", exchange(p, 1, 150), "b2a");
            let st = measure(s, || b.and(&b).map(drop));
            only(&st, "and", exchange(p, 1, 300), "and");
            let c = b.slice_words(10);
            let st = measure(s, || BShare::and_many(&[(&b, &b), (&c, &c), (&c, &c)]).map(drop));
            only(&st, "and", exchange(p, 1, 2 * (150 + 10 + 10)), "and_many");
            let st = measure(s, || BShare::and_many(&[]).map(drop));
            only(&st, "and", OpStats::default(), "and_many of nothing");
            Ok(())
        });
    }
}

/// The first `k` words of a binary share, as a new binary share.
trait SliceWords {
    fn slice_words(&self, k: usize) -> BShare;
}

impl SliceWords for BShare {
    fn slice_words(&self, k: usize) -> BShare {
        let words = self.share_tensor().slice(0, 0, k, 1).expect("k words");
        BShare::from_share(self.session(), words)
    }
}

#[test]
fn two_party_relu_is_under_a_third_of_crypten() {
    let n = 6400;
    let x = rand_arr(&[n], -5.0, 5.0, 93);
    let out = run(2, &circuit(), |s| {
        let a = share0(s, &x)?;
        let st = measure(s, || a.relu().map(drop));
        Ok(st.get("relu").copied().unwrap_or_default())
    });
    for st in out {
        // 100 words per plane: 2 * 181 * 100 words for the sign circuit, then one round with
        // the 100 masked bit words and 2 * 6400 Beaver words: 392800 bytes each way, in 8
        // rounds (CrypTen: 9).
        assert_eq!((st.rounds, st.bytes_sent, st.bytes_received), (8, 392_800, 392_800));
        let per_element = (st.bytes_sent + st.bytes_received) as f64 / n as f64;
        assert!(per_element < 155.0, "{per_element} bytes per element (CrypTen: 464)");
    }
}

#[test]
fn test_sessions_have_no_dealer_traffic_and_count_requests() {
    let x = rand_arr(&[64], -5.0, 5.0, 94);
    for p in PARTIES {
        run(p, &circuit(), |s| {
            let a = share0(s, &x)?;
            let d0 = s.dealer_stats().requests;
            a.mul(&a)?;
            // A triple and a truncation pair.
            let mul_requests = 2;
            assert_eq!(s.dealer_stats().requests - d0, mul_requests, "mul requests");
            let d0 = s.dealer_stats().requests;
            a.relu()?;
            // One binary triple per AND level, random bits for B2A, a triple for the product.
            let relu_requests = csa_layers(p) + 7 + 1 + 1;
            assert_eq!(s.dealer_stats().requests - d0, relu_requests, "relu requests");
            a.to_binary()?.to_arith()?.reveal()?;
            a.reshape(&[8, 8])?.square()?.matmul(&a.reshape(&[8, 8])?)?;
            s.barrier()?;
            let st = s.comm_stats();
            assert!(st.get(cloak_dealer::DEALER_LABEL).is_none(), "dealer traffic: {st}");
            assert!(st.get("setup").is_none(), "set-up traffic: {st}");
            // The barrier is the only unlabelled round.
            assert_eq!(stats_of(s, cloak_comm::DEFAULT_LABEL).rounds, 1);
            Ok(())
        });
    }
}
