//! What each call delivers: point-to-point messages, every collective, and message sizes
//! from empty to several MiB.

use std::time::{Duration, Instant};

use super::{Factory, TIMEOUT, all_ok, pattern, run};

/// Every endpoint knows its rank and the world size.
pub fn ranks(make: &Factory, world: usize) {
    let got = all_ok("ranks", world, run(make, world, TIMEOUT, |c| Ok((c.rank(), c.world_size()))));
    let want: Vec<_> = (0..world).map(|r| (r, world)).collect();
    assert_eq!(got, want, "ranks ({world} parties): (rank, world) per endpoint");
}

/// `send`/`recv` around a ring (everyone sends first), several messages on one link kept
/// in order, and `send_u64s`/`recv_u64s`.
pub fn point_to_point(make: &Factory, world: usize) {
    let outcomes = run(make, world, TIMEOUT, |c| {
        let (r, n) = (c.rank(), c.world_size());
        let (next, prev) = ((r + 1) % n, (r + n - 1) % n);
        c.send(next, format!("ring {r}").as_bytes())?;
        let ring = c.recv(prev)?;
        for i in 0..3u64 {
            c.send(next, &pattern(10 * r as u64 + i, 100 + i as usize))?;
        }
        let ordered: Vec<Vec<u8>> = (0..3).map(|_| c.recv(prev)).collect::<Result<_, _>>()?;
        c.send_u64s(next, &[r as u64, u64::MAX, 0])?;
        let words = c.recv_u64s(prev)?;
        Ok((prev, ring, ordered, words))
    });
    for (r, (prev, ring, ordered, words)) in
        all_ok("point_to_point", world, outcomes).into_iter().enumerate()
    {
        let at = |what: &str| format!("point_to_point ({world} parties): party {r}: {what}");
        assert_eq!(
            ring,
            format!("ring {prev}").into_bytes(),
            "{}",
            at("message from the previous party")
        );
        for (i, m) in ordered.iter().enumerate() {
            let want = pattern(10 * prev as u64 + i as u64, 100 + i);
            assert!(*m == want, "{}", at(&format!("message {i} of 3 on one link (order kept)")));
        }
        assert_eq!(words, [prev as u64, u64::MAX, 0], "{}", at("recv_u64s"));
    }
}

/// `exchange` and `exchange_u64s` between parties `2k` and `2k + 1` (the last sits out when
/// the world is odd), then between every pair in turn.
pub fn exchange(make: &Factory, world: usize) {
    let outcomes = run(make, world, TIMEOUT, |c| {
        let (r, n) = (c.rank(), c.world_size());
        let mut wrong = Vec::new();
        let partner = r ^ 1;
        if partner < n {
            if c.exchange(partner, &pattern(r as u64, 1000))? != pattern(partner as u64, 1000) {
                wrong.push(format!("exchange with {partner}"));
            }
            if c.exchange_u64s(partner, &[r as u64, u64::MAX])? != [partner as u64, u64::MAX] {
                wrong.push(format!("exchange_u64s with {partner}"));
            }
        }
        // Every pair (a, b), a < b, in lexicographic order: each party's calls are in the
        // same order as its partners'.
        for a in 0..n {
            for b in a + 1..n {
                if r == a || r == b {
                    let peer = a + b - r;
                    if c.exchange(peer, &[r as u8; 5])? != [peer as u8; 5] {
                        wrong.push(format!("exchange in pair ({a}, {b})"));
                    }
                }
            }
        }
        Ok(wrong)
    });
    expect_nothing_wrong("exchange", world, all_ok("exchange", world, outcomes));
}

/// Personalised all-to-all: party `r` sends `"r->j"` to `j`; its own slot is its own data.
pub fn exchange_all(make: &Factory, world: usize) {
    let outcomes = run(make, world, TIMEOUT, |c| {
        let (r, n) = (c.rank(), c.world_size());
        let messages: Vec<Vec<u8>> = (0..n).map(|j| format!("{r}->{j}").into_bytes()).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let got = c.exchange_all(&refs)?;
        let want: Vec<Vec<u8>> = (0..n).map(|j| format!("{j}->{r}").into_bytes()).collect();
        let mut wrong = Vec::new();
        if got.len() != n {
            wrong.push(format!("exchange_all returned {} messages", got.len()));
        }
        for (j, (g, w)) in got.iter().zip(&want).enumerate() {
            if j != r && g != w || j == r && *g != messages[r] {
                wrong.push(format!("exchange_all slot {j}: {:?}", String::from_utf8_lossy(g)));
            }
        }
        Ok(wrong)
    });
    expect_nothing_wrong("exchange_all", world, all_ok("exchange_all", world, outcomes));
}

/// Broadcast from every root: the root's data everywhere, other parties' data ignored.
pub fn broadcast(make: &Factory, world: usize) {
    let outcomes = run(make, world, TIMEOUT, |c| {
        let (r, n) = (c.rank(), c.world_size());
        let mut wrong = Vec::new();
        for root in 0..n {
            let data = if r == root { format!("from root {root}") } else { "ignored".into() };
            if c.broadcast(root, data.as_bytes())? != format!("from root {root}").into_bytes() {
                wrong.push(format!("broadcast from root {root}"));
            }
        }
        Ok(wrong)
    });
    expect_nothing_wrong("broadcast", world, all_ok("broadcast", world, outcomes));
}

/// Gather at every root: every party's data in rank order at the root, `None` elsewhere.
pub fn gather(make: &Factory, world: usize) {
    let outcomes = run(make, world, TIMEOUT, |c| {
        let (r, n) = (c.rank(), c.world_size());
        let mut wrong = Vec::new();
        for root in 0..n {
            let got = c.gather(root, &vec![r as u8; r + 1])?;
            let want =
                (r == root).then(|| (0..n).map(|j| vec![j as u8; j + 1]).collect::<Vec<_>>());
            if got != want {
                wrong.push(format!("gather at root {root}: {got:?}"));
            }
        }
        Ok(wrong)
    });
    expect_nothing_wrong("gather", world, all_ok("gather", world, outcomes));
}

/// Every party's data at every party, in rank order, lengths differing by party.
pub fn all_gather(make: &Factory, world: usize) {
    let outcomes = run(make, world, TIMEOUT, |c| {
        let (r, n) = (c.rank(), c.world_size());
        let got = c.all_gather(&pattern(r as u64, 10 + r))?;
        let want: Vec<Vec<u8>> = (0..n).map(|j| pattern(j as u64, 10 + j)).collect();
        Ok(if got == want { Vec::new() } else { vec![format!("all_gather: {got:?}")] })
    });
    expect_nothing_wrong("all_gather", world, all_ok("all_gather", world, outcomes));
}

/// Wrapping sums of `u64`s (including overflow) and an empty reduction.
pub fn all_reduce(make: &Factory, world: usize) {
    let outcomes = run(make, world, TIMEOUT, |c| {
        let (r, n) = (c.rank(), c.world_size());
        let mut values = [r as u64, 1000 * r as u64, u64::MAX, 1];
        c.all_reduce_sum_u64(&mut values)?;
        let s = (n * (n - 1) / 2) as u64;
        let mut wrong = Vec::new();
        if values != [s, 1000 * s, (n as u64).wrapping_neg(), n as u64] {
            wrong.push(format!("all_reduce_sum_u64: {values:?}"));
        }
        let mut empty: [u64; 0] = [];
        c.all_reduce_sum_u64(&mut empty)?;
        Ok(wrong)
    });
    expect_nothing_wrong("all_reduce", world, all_ok("all_reduce", world, outcomes));
}

/// A barrier holds every party until the last arrives: with the last party 200 ms late, no
/// party leaves before it has entered.
pub fn barrier(make: &Factory, world: usize) {
    const LATE: Duration = Duration::from_millis(200);
    let start = Instant::now();
    let outcomes = run(make, world, TIMEOUT, |c| {
        c.barrier()?;
        let entered = Instant::now();
        if c.rank() == c.world_size() - 1 {
            std::thread::sleep(LATE);
        }
        c.barrier()?;
        let waited = entered.elapsed();
        c.barrier()?;
        Ok(waited)
    });
    for (r, waited) in all_ok("barrier", world, outcomes).into_iter().enumerate() {
        assert!(
            waited >= LATE * 9 / 10,
            "barrier ({world} parties): party {r} left after {waited:?}, before the last party \
             (late by {LATE:?}) entered"
        );
    }
    assert!(start.elapsed() < TIMEOUT, "barrier ({world} parties): took {:?}", start.elapsed());
}

/// Messages of 0, 1, 4099 bytes, 64 KiB + 3 and 5 MiB + 1 (many frames and reads), each in a
/// ring of sends and in one all-to-all, arrive intact.
pub fn message_sizes(make: &Factory, world: usize) {
    const SIZES: [usize; 5] = [0, 1, 4099, (64 << 10) + 3, (5 << 20) + 1];
    let outcomes = run(make, world, TIMEOUT, |c| {
        let (r, n) = (c.rank(), c.world_size());
        let (next, prev) = ((r + 1) % n, (r + n - 1) % n);
        let mut wrong = Vec::new();
        for (i, &len) in SIZES.iter().enumerate() {
            let seed = |from: usize| (100 * i + from) as u64;
            c.send(next, &pattern(seed(r), len))?;
            let got = c.recv(prev)?;
            if got != pattern(seed(prev), len) {
                wrong.push(format!("{len}-byte send/recv: got {} bytes", got.len()));
            }
            let mine = pattern(seed(r) + 50, len);
            let all = c.exchange_all(&vec![mine.as_slice(); n])?;
            for (j, m) in all.iter().enumerate() {
                if *m != pattern(seed(j) + 50, len) {
                    wrong.push(format!("{len}-byte exchange_all from {j}: got {} bytes", m.len()));
                }
            }
        }
        Ok(wrong)
    });
    expect_nothing_wrong("message_sizes", world, all_ok("message_sizes", world, outcomes));
}

fn expect_nothing_wrong(what: &str, world: usize, per_party: Vec<Vec<String>>) {
    let wrong: Vec<String> = per_party
        .into_iter()
        .enumerate()
        .flat_map(|(r, w)| w.into_iter().map(move |m| format!("party {r}: {m}")))
        .collect();
    assert!(wrong.is_empty(), "{what} ({world} parties): wrong results:\n{}", wrong.join("\n"));
}
