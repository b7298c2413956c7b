//! Every collective for 2 to 5 parties, over channels and over loopback TCP.

mod common;

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use cloak_comm::runner::{Outcomes, run_parties, run_tcp_threads, run_threads};
use cloak_comm::{CommConfig, CommError, Communicator};
use common::{TRANSPORTS, all_ok, config, error_of, pattern, run};

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

/// A large message that is cheap to build and check in debug builds.
fn bulk(len: usize) -> Vec<u8> {
    let mut data = vec![0x5a; len];
    data[0] = 1;
    data[len / 2] = 2;
    data[len - 1] = 3;
    data
}

/// Party 0 sends `first` (and `second`, if any) to party 1, then "go" to party 2; party 1
/// reads party 0's messages only after party 2 has relayed that "go".
fn relay_after_bulk(
    c: &mut dyn Communicator,
    first: usize,
    second: Option<usize>,
) -> Result<bool, CommError> {
    match c.rank() {
        0 => {
            c.send(1, &bulk(first))?;
            if let Some(len) = second {
                c.send(1, &bulk(len))?;
            }
            c.send(2, b"go")?;
            Ok(true)
        }
        1 => {
            let relayed = c.recv(2)?;
            let mut ok = relayed == b"go" && c.recv(0)? == bulk(first);
            if let Some(len) = second {
                ok &= c.recv(0)? == bulk(len);
            }
            Ok(ok)
        }
        _ => {
            let go = c.recv(0)?;
            c.send(1, &go)?;
            Ok(true)
        }
    }
}

#[test]
fn a_send_completes_without_waiting_for_its_receiver() {
    // Far more than the kernel buffers hold: this finishes only if party 0's send returns
    // before party 1 reads, and if party 0's later calls (and its drop) keep delivering.
    for transport in TRANSPORTS {
        let got = all_ok(
            run(transport, 3, &config(5000), |c| relay_after_bulk(c, 64 << 20, None)),
            &format!("{transport:?} buffered send"),
        );
        assert_eq!(got, [true; 3], "{transport:?}");
    }
}

#[test]
fn tcp_sends_wait_once_send_buffer_bytes_to_the_peer_are_unsent() {
    // A second message to party 1 is accepted while at most `send_buffer` bytes of the
    // first are unsent: with the default bound the program finishes; with a bound smaller
    // than the first message's unsent rest, party 0 waits for party 1, which waits on party
    // 0's later "go" and reads ahead at most its `recv_buffer`: a timeout naming party 1.
    let len = 32 << 20;
    let got = all_ok(
        run(common::Transport::Tcp, 3, &config(5000), |c| relay_after_bulk(c, len, Some(len))),
        "default send buffer",
    );
    assert_eq!(got, [true; 3]);
    // Only party 0 is impatient, so that it is the one to give up.
    let bounded = CommConfig { send_buffer: 1 << 20, ..config(300) };
    let reader = CommConfig { recv_buffer: 1 << 20, ..config(5000) };
    let comms = common::tcp_mesh(&[bounded, reader, config(5000)]);
    let outcomes = run_parties(comms, |mut c| relay_after_bulk(&mut c, len, Some(len)));
    let e = error_of(&outcomes[0]);
    assert!(matches!(e, CommError::Timeout { peer: 1, .. }), "{e}");
}

#[test]
fn parties_that_both_queue_past_the_send_buffer_do_not_deadlock() {
    // Each party's second and third sends wait for the other to read, which it does only
    // inside its own waiting sends.
    let config = CommConfig { send_buffer: 1 << 20, ..config(5000) };
    let got = all_ok(
        run(common::Transport::Tcp, 2, &config, |c| {
            let peer = 1 - c.rank();
            let lens = [8 << 20, (8 << 20) + 1, (8 << 20) + 2];
            for len in lens {
                c.send(peer, &bulk(len))?;
            }
            lens.iter().try_fold(true, |ok, &len| Ok(ok && c.recv(peer)? == bulk(len)))
        }),
        "send-send past the send buffer",
    );
    assert_eq!(got, [true, true]);
}

/// Message `i` of a numbered series: its number at both ends, a filler in between.
fn numbered(i: usize, len: usize) -> Vec<u8> {
    let mut data = vec![i as u8 ^ 0x5a; len];
    data[..8].copy_from_slice(&(i as u64).to_le_bytes());
    data[len - 8..].copy_from_slice(&(i as u64).to_le_bytes());
    data
}

#[test]
fn tcp_reads_a_peer_ahead_only_up_to_recv_buffer() {
    // Party 0 sends 40 messages of 4 MiB to party 1 while party 1 waits on party 2, which
    // holds back until party 0 has sent them all (party 0 may queue them: its send buffer
    // is large). Party 1 reads ahead while it waits, but no more than its 8 MiB
    // `recv_buffer` and the frame that crosses it; the rest waits in party 0's queue and
    // the kernel. Then every message arrives intact, in order.
    const LEN: usize = 4 << 20;
    const COUNT: usize = 40;
    let recv_buffer: usize = 8 << 20;
    let sender = CommConfig { send_buffer: 1 << 30, ..config(20_000) };
    let receiver = CommConfig { recv_buffer: recv_buffer as u64, ..config(20_000) };
    let comms = common::tcp_mesh(&[sender, receiver, config(20_000)]);
    let all_sent = AtomicBool::new(false);
    let outcomes = run_parties(comms, |mut c| match c.rank() {
        0 => {
            for i in 0..COUNT {
                c.send(1, &numbered(i, LEN))?;
            }
            all_sent.store(true, Ordering::Release);
            c.barrier().map(|()| None)
        }
        1 => {
            c.recv(2)?;
            let ahead = c.read_ahead(0);
            let mut intact = true;
            for i in 0..COUNT {
                intact &= c.recv(0)? == numbered(i, LEN);
            }
            c.barrier().map(|()| Some((ahead, intact)))
        }
        _ => {
            let start = Instant::now();
            while !all_sent.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(15) {
                thread::sleep(Duration::from_millis(1));
            }
            // Time for party 1 to read as far ahead as it will.
            thread::sleep(Duration::from_millis(300));
            c.send(1, b"go")?;
            c.barrier().map(|()| None)
        }
    });
    let (ahead, intact) = all_ok(outcomes, "read-ahead").remove(1).expect("party 1's view");
    assert!(intact, "the messages changed on the way");
    assert!(ahead >= recv_buffer, "read only {ahead} bytes ahead");
    assert!(ahead <= recv_buffer + LEN + 32, "read {ahead} bytes ahead");
}

#[test]
fn flush_and_barrier_leave_nothing_queued() {
    // Party 1 reads only after a while, so party 0's 32 MiB (more than the kernel buffers
    // hold) is partly queued when its send returns; `flush` waits until it has all left.
    let len = 32 << 20;
    let views = all_ok(
        run_tcp_threads(2, &config(5000), |mut c| {
            if c.rank() == 0 {
                c.send(1, &bulk(len))?;
                let queued = format!("{c:?}");
                c.flush()?;
                let flushed = format!("{c:?}");
                c.send(1, &bulk(len))?;
                c.barrier()?;
                Ok(vec![queued, flushed, format!("{c:?}")])
            } else {
                thread::sleep(Duration::from_millis(50));
                let ok = c.recv(0)? == bulk(len) && c.recv(0)? == bulk(len);
                c.barrier()?;
                Ok(vec![ok.to_string()])
            }
        })
        .expect("loopback mesh"),
        "flush",
    );
    assert_eq!(views[1], ["true"]);
    let [queued, flushed, after_barrier] = &views[0][..] else { panic!("{views:?}") };
    assert!(!queued.contains("queued_bytes: 0,"), "{queued}");
    assert!(flushed.contains("queued_bytes: 0,"), "{flushed}");
    assert!(after_barrier.contains("queued_bytes: 0,"), "{after_barrier}");
}

/// Each party's `Debug` output after receiving (and, at party 0, queueing) messages made of
/// one distinctive byte.
fn debug_views<C: Communicator + Debug>(mut c: C) -> Result<Vec<String>, CommError> {
    const SECRET: u8 = 171;
    let mut views = Vec::new();
    if c.rank() == 0 {
        c.send(1, &[SECRET; 1000])?;
        c.send(1, &[SECRET; 1000])?;
        c.send(1, &[SECRET; 4 << 20])?;
        views.push(format!("{c:?}"));
    } else {
        // Let everything arrive, so that reading the first message reads ahead.
        thread::sleep(Duration::from_millis(50));
        c.recv(0)?;
        views.push(format!("{c:?}"));
        c.recv(0)?;
        c.recv(0)?;
        views.push(format!("{c:?}"));
    }
    c.barrier()?;
    Ok(views)
}

#[test]
fn debug_output_shows_no_payload_bytes() {
    let check = |outcomes: Outcomes<Vec<String>, CommError>, what: &str| {
        for view in all_ok(outcomes, what).concat() {
            assert!(!view.contains("171, 171"), "{what}: {view}");
            assert!(view.len() < 2000, "{what}: {} bytes: {view}", view.len());
        }
    };
    check(run_threads(2, &config(5000), debug_views), "channels");
    check(run_tcp_threads(2, &config(5000), debug_views).expect("loopback mesh"), "tcp");
}
