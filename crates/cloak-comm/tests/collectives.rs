//! Every collective for 2 to 5 parties, over channels and over loopback TCP.

mod common;

use cloak_comm::{CommError, Communicator};
use common::{TRANSPORTS, all_ok, config, pattern, run};

/// Runs every operation once and checks its result; returns a description of the first
/// wrong result.
fn exercise(comm: &mut dyn Communicator) -> Result<Vec<String>, CommError> {
    let (r, n) = (comm.rank(), comm.world_size());
    let mut wrong = Vec::new();
    let mut check = |ok: bool, what: &str| {
        if !ok {
            wrong.push(format!("party {r}: {what}"));
        }
    };

    // Point to point around a ring: everyone sends first, then receives.
    let (next, prev) = ((r + 1) % n, (r + n - 1) % n);
    comm.send(next, format!("ring {r}").as_bytes())?;
    check(comm.recv(prev)? == format!("ring {prev}").into_bytes(), "send/recv ring");

    // Pairwise exchange between 2k and 2k+1 (the last party sits out when n is odd).
    let partner = r ^ 1;
    if partner < n {
        let got = comm.exchange(partner, &pattern(r as u64, 1000))?;
        check(got == pattern(partner as u64, 1000), "exchange");
        let got = comm.exchange_u64s(partner, &[r as u64, u64::MAX])?;
        check(got == [partner as u64, u64::MAX], "exchange_u64s");
    }

    // Personalised all-to-all, including a 1 MiB message so frames span many reads.
    let messages: Vec<Vec<u8>> = (0..n)
        .map(|j| {
            if j == (r + 1) % n {
                pattern(100 + r as u64, 1 << 20)
            } else {
                format!("{r}->{j}").into_bytes()
            }
        })
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let got = comm.exchange_all(&refs)?;
    for (j, m) in got.iter().enumerate() {
        let want = if j == r {
            messages[r].clone()
        } else if r == (j + 1) % n {
            pattern(100 + j as u64, 1 << 20)
        } else {
            format!("{j}->{r}").into_bytes()
        };
        check(*m == want, &format!("exchange_all from {j}"));
    }

    for root in 0..n {
        let data = if r == root { format!("from root {root}") } else { "ignored".into() };
        let got = comm.broadcast(root, data.as_bytes())?;
        check(got == format!("from root {root}").into_bytes(), &format!("broadcast root {root}"));

        let got = comm.gather(root, &[r as u8; 3])?;
        let want = (r == root).then(|| (0..n).map(|j| vec![j as u8; 3]).collect::<Vec<_>>());
        check(got == want, &format!("gather root {root}"));
    }

    let got = comm.all_gather(&pattern(r as u64, 10 + r))?;
    let want: Vec<Vec<u8>> = (0..n).map(|j| pattern(j as u64, 10 + j)).collect();
    check(got == want, "all_gather");

    let mut values = [r as u64, 1000 * r as u64, u64::MAX, 1];
    comm.all_reduce_sum_u64(&mut values)?;
    let s = (n * (n - 1) / 2) as u64;
    check(values == [s, 1000 * s, (n as u64).wrapping_neg(), n as u64], "all_reduce_sum_u64");

    let mut empty: [u64; 0] = [];
    comm.all_reduce_sum_u64(&mut empty)?;
    comm.barrier()?;
    Ok(wrong)
}

#[test]
fn every_collective_for_2_to_5_parties_on_both_transports() {
    for transport in TRANSPORTS {
        for n in 2..=5 {
            let context = format!("{transport:?} with {n} parties");
            let wrong: Vec<String> =
                all_ok(run(transport, n, &config(5000), exercise), &context).concat();
            assert!(wrong.is_empty(), "{context}: {wrong:#?}");
        }
    }
}

#[test]
fn a_single_party_world_works_locally() {
    for transport in TRANSPORTS {
        let got = all_ok(
            run(transport, 1, &config(1000), |c| {
                let mut v = [7u64];
                c.all_reduce_sum_u64(&mut v)?;
                c.barrier()?;
                Ok((c.all_gather(b"me")?, c.broadcast(0, b"b")?, v))
            }),
            "one party",
        );
        assert_eq!(got, [(vec![b"me".to_vec()], b"b".to_vec(), [7])]);
    }
}

#[test]
fn a_64_mib_simultaneous_exchange_over_tcp_arrives_intact() {
    const LEN: usize = 64 << 20;
    let got = all_ok(
        run(common::Transport::Tcp, 2, &config(10_000), |c| {
            let mine = pattern(c.rank() as u64 + 7, LEN);
            let theirs = c.exchange(1 - c.rank(), &mine)?;
            Ok(theirs == pattern(2 - c.rank() as u64 + 6, LEN))
        }),
        "64 MiB exchange",
    );
    assert_eq!(got, [true, true]);
}

#[test]
fn large_one_way_sends_do_not_deadlock_when_both_send_first() {
    // Both parties send 8 MiB before receiving: more than the kernel buffers hold, so this
    // completes only because every transfer also reads ahead.
    const LEN: usize = 8 << 20;
    for transport in TRANSPORTS {
        let got = all_ok(
            run(transport, 2, &config(10_000), |c| {
                let peer = 1 - c.rank();
                c.send(peer, &pattern(c.rank() as u64, LEN))?;
                Ok(c.recv(peer)? == pattern(peer as u64, LEN))
            }),
            "send-send",
        );
        assert_eq!(got, [true, true], "{transport:?}");
    }
}
