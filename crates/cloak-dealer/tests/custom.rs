//! Custom correlations: a kind whose dealer deals each party a different random key, the
//! keys XORing to a function of the free values (`conformance::XorKeys`), from the trusted
//! first party and the third-party dealer for 2 and 3 parties: the relation holds, the
//! keys differ per party, and the delivery is what the crate documents (under the trusted
//! first party one message from party 0 to each other party; under the third-party dealer
//! party 0's reply carries its key and every other party gets one message from the
//! dealer). Also: the codec round-trips custom requests through a registry; a dealer
//! without the kind's decoder, or given bad parameters, stops with a typed error; a
//! registration with an unusable name or a decoder that makes another kind is refused.

mod common;

use std::time::Duration;

use cloak_comm::runner::run_threads;
use cloak_comm::{CommConfig, Communicator, OpStats};
use cloak_dealer::conformance::{self, Affine, RowSums, XorKeys};
use cloak_dealer::{
    Correlations, DEALER_LABEL, Dealer, DealerError, Request, Shares, TrustedFirstParty, TtpClient,
    decode_request, decode_request_with, encode_request, run_dealer, run_dealer_with,
};
use cloak_prg::Seed;
use common::unwrap_all;

fn quick() -> CommConfig {
    CommConfig::with_timeouts(Duration::from_secs(10))
}

fn keys() -> Request {
    Request::custom(XorKeys { words: 9 })
}

/// Checks the relation of every party's shares of [`keys`], and that the keys differ.
fn check_keys(per_party: &[Shares]) {
    let values = conformance::reconstruct(&keys(), per_party).expect("shapes");
    conformance::relation(&keys(), &values, None).expect("keys XOR to !r");
    for p in 1..per_party.len() {
        assert_ne!(per_party[p].dealt, per_party[0].dealt, "party {p}'s key is party 0's");
    }
}

/// Dealer traffic of a communicator.
fn dealer_traffic(comm: &dyn Communicator) -> OpStats {
    comm.stats().get(DEALER_LABEL).copied().unwrap_or_default()
}

#[test]
fn trusted_first_party_deals_one_message_per_other_party() {
    for parties in [2, 3] {
        let outcomes = run_threads(parties, &quick(), |mut comm| {
            let master = Seed::from_bytes([3; 16]);
            let mut dealer = TrustedFirstParty::from_master(&master, comm.rank(), parties)?;
            let square = dealer.fetch(&Request::Square { shape: vec![4] }, &mut comm)?;
            assert_eq!(comm.stats().total(), OpStats::default(), "built-in: no message");
            let shares = dealer.fetch(&keys(), &mut comm)?;
            let traffic = dealer_traffic(&comm);
            assert_eq!(comm.stats().total(), traffic, "only dealer traffic");
            if comm.rank() == 0 {
                assert_eq!(traffic.messages, parties as u64 - 1);
                assert_eq!(traffic.bytes_sent, 72 * (parties as u64 - 1));
            } else {
                assert_eq!((traffic.messages, traffic.bytes_received), (0, 72));
            }
            assert_eq!(dealer.stats().words, 8 + 9 + 9);
            drop(square);
            Ok::<_, DealerError>(shares)
        });
        check_keys(&unwrap_all(outcomes));
    }
}

#[test]
fn third_party_dealer_sends_every_party_its_key() {
    for parties in [2, 3] {
        let outcomes = run_threads(parties + 1, &quick(), |mut comm| {
            if comm.rank() == parties {
                let stats = run_dealer_with(&mut comm, parties, &conformance::correlations())?;
                assert_eq!(stats.requests, 2);
                return Ok(None);
            }
            let mut client = TtpClient::connect(&mut comm, parties)?;
            let before = dealer_traffic(&comm);
            let pending = client.begin(&keys(), &mut comm)?;
            let shares = client.finish(pending, &mut comm)?;
            let after = dealer_traffic(&comm);
            // Party 0: a request out, its reply (a key of 9 words) in. Others: a key in.
            let (sent, received) = if comm.rank() == 0 { (1, 72) } else { (0, 72) };
            assert_eq!(after.messages - before.messages, sent, "party {}", comm.rank());
            assert_eq!(after.bytes_received - before.bytes_received, received);
            // A built-in request after it: the other parties hear nothing.
            client.fetch(&Request::BinaryTriple { words: 2 }, &mut comm)?;
            let last = dealer_traffic(&comm);
            if comm.rank() != 0 {
                assert_eq!(last, after, "party {}: a built-in request costs nothing", comm.rank());
            }
            client.close(&mut comm)?;
            Ok::<_, DealerError>(Some(shares))
        });
        let shares: Vec<Shares> = unwrap_all(outcomes).into_iter().flatten().collect();
        check_keys(&shares);
    }
}

#[test]
fn custom_requests_round_trip_through_a_registry() {
    let registry = conformance::correlations();
    for request in conformance::custom() {
        let bytes = encode_request(&request);
        assert_eq!(decode_request_with(&bytes, &registry).expect("known kind"), request);
        let r = decode_request(&bytes);
        assert!(matches!(r, Err(DealerError::UnknownCorrelation { .. })), "{r:?}");
    }
    // Hostile parameters: the decoder refuses them, typed.
    let mut bytes = vec![7u8];
    for part in [XorKeys::KIND.as_bytes(), &u64::MAX.to_le_bytes()[..]] {
        bytes.extend((part.len() as u64).to_le_bytes());
        bytes.extend(part);
    }
    let r = decode_request_with(&bytes, &registry);
    assert!(matches!(r, Err(DealerError::Correlation { .. })), "{r:?}");
    // A parameter length past the limit is malformed before anything is read.
    let mut bytes = vec![7u8];
    bytes.extend((RowSums::KIND.len() as u64).to_le_bytes());
    bytes.extend(RowSums::KIND.as_bytes());
    bytes.extend(u64::MAX.to_le_bytes());
    let r = decode_request_with(&bytes, &registry);
    assert!(matches!(r, Err(DealerError::Malformed { .. })), "{r:?}");
}

/// A dealer without the kind's decoder stops with a typed error naming it.
#[test]
fn a_dealer_refuses_an_unknown_kind() {
    let outcomes = run_threads(3, &quick(), |mut comm| {
        if comm.rank() == 2 {
            return Ok(Some(run_dealer(&mut comm, 2).map(drop)));
        }
        let mut client = TtpClient::connect(&mut comm, 2)?;
        let r = client.fetch(&Request::custom(Affine { len: 3, scale: 2 }), &mut comm);
        if comm.rank() == 0 {
            assert!(matches!(r, Err(DealerError::Comm(_))), "the dealer is gone: {r:?}");
        } else {
            assert!(r.is_ok(), "party 1 never talks to the dealer for this kind: {r:?}");
        }
        Ok::<_, DealerError>(None)
    });
    let dealer = unwrap_all(outcomes).into_iter().flatten().next().expect("the dealer");
    assert!(
        matches!(&dealer, Err(DealerError::UnknownCorrelation { kind }) if kind == Affine::KIND),
        "{dealer:?}"
    );
}

#[test]
fn bad_registrations_are_refused() {
    let mut registry = Correlations::new();
    for kind in ["", "has space", "ünicode", &*"x".repeat(65).leak()] {
        let r = registry.register(kind, |_| Ok(RowSums { rows: 1, cols: 1 }));
        assert!(matches!(r, Err(DealerError::Correlation { .. })), "{kind:?}");
    }
    // A decoder that makes another kind than it was registered for.
    registry.register("liar", |_| Ok(RowSums { rows: 1, cols: 1 })).expect("a valid name");
    let r = registry.decode("liar", &[]);
    assert!(matches!(r, Err(DealerError::Correlation { .. })), "{r:?}");
    assert!(registry.contains("liar") && !registry.contains("other"));
}
