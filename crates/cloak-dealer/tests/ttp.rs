//! The trusted-third-party dealer, as an extra rank over channels (2, 3 and 4 parties) and
//! over loopback TCP (2 and 3 parties): reconstructed shares satisfy every request's
//! relation and look random; only party 0 talks to the dealer after the one-message set-up
//! (one round trip per request, one close message), nothing is counted outside the dealer
//! label, and the dealer reports how many requests it served.

mod common;

use cloak_comm::runner::{run_tcp_threads, run_threads};
use cloak_comm::{CommConfig, Communicator, OpStats};
use cloak_dealer::{
    DEALER_LABEL, Dealer, DealerError, DealerStats, Request, Shares, TtpClient, run_dealer,
};
use common::{catalogue, check_run, empty_requests, unwrap_all};

/// What one rank of a third-party run returns.
#[derive(Debug)]
enum Role {
    Party { shares: Vec<Shares>, stats: DealerStats, comm: OpStats, total: OpStats },
    Dealer { stats: DealerStats, comm: OpStats, total: OpStats },
}

/// One rank of a run: the dealer at rank `parties`, else a party that fetches `requests`
/// and closes.
fn rank_main<C: Communicator>(
    mut comm: C,
    parties: usize,
    requests: &[Request],
) -> Result<Role, DealerError> {
    let dealer_label = |c: &C| c.stats().get(DEALER_LABEL).copied().unwrap_or_default();
    if comm.rank() == parties {
        let stats = run_dealer(&mut comm, parties)?;
        return Ok(Role::Dealer { stats, comm: dealer_label(&comm), total: comm.stats().total() });
    }
    comm.set_label("online");
    let mut client = TtpClient::connect(&mut comm, parties)?;
    assert_eq!(comm.stats().label(), "online", "connect restores the label");
    assert_eq!((client.rank(), client.parties(), client.name()), (comm.rank(), parties, "ttp"));
    let mut shares = Vec::with_capacity(requests.len());
    for r in requests {
        shares.push(client.fetch(r, &mut comm)?);
    }
    client.close(&mut comm)?;
    client.close(&mut comm)?;
    assert_eq!(comm.stats().label(), "online", "fetch and close restore the label");
    Ok(Role::Party {
        shares,
        stats: *client.stats(),
        comm: dealer_label(&comm),
        total: comm.stats().total(),
    })
}

/// Checks the outcome of a run: relations, and who talked to the dealer how often.
fn check_outcome(parties: usize, requests: &[Request], roles: Vec<Role>) {
    assert_eq!(roles.len(), parties + 1);
    let n = requests.len() as u64;
    let mut per_party = Vec::new();
    for (rank, role) in roles.into_iter().enumerate() {
        match role {
            Role::Party { shares, stats, comm, total } => {
                assert!(rank < parties, "rank {rank} played a party");
                assert_eq!(stats.requests, n, "party {rank}'s requests");
                assert_eq!(total, comm, "party {rank}: traffic outside the dealer label");
                // Set-up is one receive at every party; then only party 0 sends each
                // request, receives its correction, and finally sends the close.
                let rounds = if rank == 0 { 1 + 2 * n + 1 } else { 1 };
                assert_eq!(comm.rounds, rounds, "party {rank}'s dealer rounds");
                let sent = if rank == 0 { n + 1 } else { 0 };
                assert_eq!(comm.messages, sent, "party {rank}'s messages");
                if rank != 0 {
                    assert_eq!((comm.bytes_sent, comm.bytes_received), (0, 16));
                }
                per_party.push(shares);
            }
            Role::Dealer { stats, comm, total } => {
                assert_eq!(rank, parties, "the dealer is the last rank");
                assert_eq!(stats.requests, n, "the dealer's requests");
                assert_eq!(total, comm, "dealer: traffic outside the dealer label");
                // One set-up step, a receive and a send per request, the close.
                assert_eq!(comm.rounds, 1 + 2 * n + 1, "the dealer's rounds");
                assert_eq!(comm.messages, parties as u64 + n, "the dealer's messages");
            }
        }
    }
    check_run(requests, &per_party);
}

#[test]
fn relations_hold_over_channels() {
    let requests = catalogue();
    for parties in 2..=4 {
        let outcomes = run_threads(parties + 1, &CommConfig::default(), |comm| {
            rank_main(comm, parties, &requests)
        });
        check_outcome(parties, &requests, unwrap_all(outcomes));
    }
}

#[test]
fn relations_hold_over_tcp() {
    let requests = catalogue();
    let cfg = CommConfig::with_timeouts(std::time::Duration::from_secs(20));
    for parties in 2..=3 {
        let outcomes =
            run_tcp_threads(parties + 1, &cfg, |comm| rank_main(comm, parties, &requests))
                .expect("loopback mesh");
        check_outcome(parties, &requests, unwrap_all(outcomes));
    }
}

#[test]
fn empty_requests_and_an_empty_session() {
    for requests in [empty_requests(), Vec::new()] {
        let outcomes = run_threads(3, &CommConfig::default(), |comm| rank_main(comm, 2, &requests));
        let roles = unwrap_all(outcomes);
        // The relation checks skip nothing: empty components reconstruct to empty tensors.
        check_outcome(2, &requests, roles);
    }
}

/// The dealer's seeds are fresh per session: the same request in two sessions gives
/// different shares.
#[test]
fn sessions_draw_fresh_seeds() {
    let requests = vec![Request::Square { shape: vec![8] }];
    let session = || {
        let outcomes = run_threads(3, &CommConfig::default(), |comm| rank_main(comm, 2, &requests));
        unwrap_all(outcomes)
            .into_iter()
            .filter_map(|r| match r {
                Role::Party { mut shares, .. } => shares.pop(),
                Role::Dealer { .. } => None,
            })
            .collect::<Vec<_>>()
    };
    let (one, two) = (session(), session());
    for p in 0..2 {
        assert_ne!(one[p].free, two[p].free, "party {p}");
    }
}

/// The typed helpers through a boxed client: party 0's corrections arrive in the right
/// components.
#[test]
fn typed_helpers_through_a_boxed_client() {
    let op = cloak_dealer::BilinearOp::Conv2d {
        input: vec![1, 2, 4, 4],
        weight: vec![2, 2, 3, 3],
        spec: common::spec(1, 1, 1, 1),
    };
    let parties = 3;
    let outcomes = run_threads(parties + 1, &CommConfig::default(), |mut comm| {
        if comm.rank() == parties {
            return run_dealer(&mut comm, parties).map(|stats| {
                assert_eq!(stats.requests, 2);
                None
            });
        }
        let mut dealer: Box<dyn Dealer> = Box::new(TtpClient::connect(&mut comm, parties)?);
        let triple = dealer.triple(&op, &mut comm)?;
        let bits = dealer.random_bits(100, &mut comm)?;
        dealer.close(&mut comm)?;
        Ok(Some((triple, bits)))
    });
    let all: Vec<_> = unwrap_all(outcomes).into_iter().flatten().collect();
    assert_eq!(all.len(), parties);
    let arith = |v: Vec<&cloak_ring::RingTensor<u64>>| common::sum(&v);
    let a = arith(all.iter().map(|x| &x.0.a).collect());
    let b = arith(all.iter().map(|x| &x.0.b).collect());
    let c = arith(all.iter().map(|x| &x.0.c).collect());
    assert_eq!(c, a.conv2d(&b, &common::spec(1, 1, 1, 1)).expect("conv2d"));
    let words = common::xor(&all.iter().map(|x| &x.1.xor).collect::<Vec<_>>()).to_vec();
    let bits = arith(all.iter().map(|x| &x.1.arith).collect()).to_vec();
    for (i, bit) in bits.into_iter().enumerate() {
        assert_eq!(bit, (words[i / 64] >> (i % 64)) & 1, "bit {i}");
    }
}

/// `begin` hands out the masks at once and `finish` the corrections later, in order, with
/// other traffic between them: several requests begun before any is finished give the
/// same relations, and party 0 still makes one round trip per request.
#[test]
fn begun_requests_finish_in_order_with_traffic_between() {
    let requests = catalogue();
    for parties in [2, 3] {
        let outcomes = run_threads(parties + 1, &CommConfig::default(), |mut comm| {
            if comm.rank() == parties {
                let stats = run_dealer(&mut comm, parties)?;
                return Ok::<_, DealerError>((Vec::new(), stats.requests));
            }
            let mut client = TtpClient::connect(&mut comm, parties)?;
            let mut pending = Vec::new();
            for r in &requests {
                let p = client.begin(r, &mut comm)?;
                assert_eq!(p.free().len(), r.layout()?.free.len());
                pending.push(p);
                // Unrelated traffic between parties 0 and 1 between begin and finish.
                if comm.rank() < 2 {
                    let peer = 1 - comm.rank();
                    comm.exchange(peer, &[7u8; 1000]).map_err(DealerError::from)?;
                }
            }
            let mut shares = Vec::new();
            for p in pending {
                shares.push(client.finish(p, &mut comm)?);
            }
            client.close(&mut comm)?;
            Ok((shares, 0))
        });
        let outcomes = unwrap_all(outcomes);
        assert_eq!(outcomes[parties].1, requests.len() as u64, "{parties} parties: served");
        let per_party: Vec<Vec<Shares>> =
            outcomes.into_iter().take(parties).map(|(s, _)| s).collect();
        check_run(&requests, &per_party);
    }
}
