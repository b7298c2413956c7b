//! The model of one shaped directed link (sender to receiver): when each message may be
//! handed to its receiver.
//!
//! A link transmits one message at a time, in order, at the profile's bandwidth, and each
//! message then travels the one-way latency. A message handed to the link at `t` starts
//! once the link is free (`max(t, end of the previous message)`), finishes
//! [`NetProfile::transmit_time`] later, and is delivered one [`NetProfile::one_way`] after
//! that. This is a token bucket whose depth is one message: the link never sends faster
//! than its bandwidth, and never saves up idle time for a burst (a real link cannot).
//!
//! The shaper only computes times; it never reads the clock, so its arithmetic is tested
//! without sleeping, and each transport decides which instant stands for "handed to the
//! link" (see [`CommConfig::network`](crate::CommConfig::network)).

use std::time::{Duration, Instant};

use crate::net::NetProfile;

/// The state of one directed link: the profile, and when it finishes its last message.
#[derive(Clone, Debug)]
pub(crate) struct LinkShaper {
    profile: NetProfile,
    /// When the link has finished transmitting everything handed to it so far.
    free_at: Option<Instant>,
}

impl LinkShaper {
    /// An idle link of `profile`.
    pub(crate) fn new(profile: NetProfile) -> Self {
        LinkShaper { profile, free_at: None }
    }

    /// Hands the link a message of `bytes` at `at`, behind everything handed to it before;
    /// returns when the receiver may have it. Calls must come in the link's order, with
    /// `at` not decreasing (an earlier `at` is treated as queued behind the last message,
    /// which is what it would be).
    pub(crate) fn release(&mut self, at: Instant, bytes: u64) -> Instant {
        let start = self.free_at.map_or(at, |free| free.max(at));
        let done = later(start, self.profile.transmit_time(bytes));
        self.free_at = Some(done);
        later(done, self.profile.one_way())
    }
}

/// `at + by`, or `at` pushed as far as the clock goes when that overflows (it cannot with
/// the delays a profile allows, which are bounded well inside the clock's range).
fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by).unwrap_or(at)
}

/// How close to a held message's release a waiting transport stops blocking and spins
/// (yielding the processor between looks): a blocked thread wakes 50 to 150 µs late on a
/// typical Linux virtual machine, which would add most of a LAN's one-way latency (0.1 ms)
/// to every message.
pub(crate) const SPIN: Duration = Duration::from_micros(250);

/// Until when a transport waiting for a message held until `release` may block (it spins
/// from then on, see [`SPIN`]).
pub(crate) fn block_until(release: Instant) -> Instant {
    release.checked_sub(SPIN).unwrap_or(release)
}

/// The instant a message released at `release` is still held until, as seen at `now`:
/// `None` once it may be delivered (or when it was never shaped).
pub(crate) fn held_until(release: Option<Instant>, now: Instant) -> Option<Instant> {
    release.filter(|&r| r > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8 Mbit/s (a byte per microsecond) and a 10 ms round trip: easy arithmetic.
    fn profile() -> NetProfile {
        NetProfile::new(8_000_000, Duration::from_millis(10)).expect("valid profile")
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_lone_message_takes_its_transmit_time_and_half_the_round_trip() {
        let t0 = Instant::now();
        let mut link = LinkShaper::new(profile());
        assert_eq!(link.release(t0, 1_000), t0 + us(1_000) + us(5_000));
        let mut empty = LinkShaper::new(profile());
        assert_eq!(empty.release(t0, 0), t0 + us(5_000));
    }

    #[test]
    fn messages_queue_behind_earlier_ones_on_the_same_link() {
        let t0 = Instant::now();
        let mut link = LinkShaper::new(profile());
        // Three back-to-back messages: each waits for the one before to leave the link,
        // but their latencies overlap (the link is a pipe, not a stop-and-wait).
        assert_eq!(link.release(t0, 2_000), t0 + us(2_000 + 5_000));
        assert_eq!(link.release(t0, 3_000), t0 + us(5_000 + 5_000));
        assert_eq!(link.release(t0 + us(100), 1_000), t0 + us(6_000 + 5_000));
    }

    #[test]
    fn an_idle_link_saves_up_no_burst() {
        let t0 = Instant::now();
        let mut link = LinkShaper::new(profile());
        link.release(t0, 1_000);
        // Long after the first message left, a new one starts when it is handed over...
        let t1 = t0 + us(50_000);
        assert_eq!(link.release(t1, 4_000), t1 + us(4_000 + 5_000));
        // ...and one right behind it still queues.
        assert_eq!(link.release(t1 + us(10), 1_000), t1 + us(5_000 + 5_000));
    }

    #[test]
    fn a_message_handed_over_late_is_still_queued_in_order() {
        let t0 = Instant::now();
        let mut link = LinkShaper::new(profile());
        link.release(t0 + us(1_000), 1_000);
        // Stamped before the previous one (clock read on another thread): it follows it.
        assert_eq!(link.release(t0, 1_000), t0 + us(3_000 + 5_000));
    }

    #[test]
    fn links_are_independent() {
        let t0 = Instant::now();
        let (mut ab, mut ba) = (LinkShaper::new(profile()), LinkShaper::new(profile()));
        assert_eq!(ab.release(t0, 10_000), t0 + us(15_000));
        assert_eq!(ba.release(t0, 10_000), t0 + us(15_000));
    }

    #[test]
    fn held_until_is_none_once_due() {
        let t0 = Instant::now();
        assert_eq!(held_until(None, t0), None);
        assert_eq!(held_until(Some(t0), t0), None);
        assert_eq!(held_until(Some(t0 + us(1)), t0), Some(t0 + us(1)));
        assert_eq!(held_until(Some(t0), t0 + us(1)), None);
    }

    /// The arithmetic the integration tests hold the transports to: R ping-pong round
    /// trips of m bytes each way take `R * RTT + B / bandwidth` with B = 2Rm, replayed on
    /// the model with instant hand-overs.
    #[test]
    fn ping_pong_costs_rounds_times_rtt_plus_bytes_over_bandwidth() {
        let p = profile();
        let (mut ab, mut ba) = (LinkShaper::new(p), LinkShaper::new(p));
        let (rounds, m) = (7u64, 3_000u64);
        let t0 = Instant::now();
        let mut now = t0;
        for _ in 0..rounds {
            now = ab.release(now, m);
            now = ba.release(now, m);
        }
        assert_eq!(now - t0, p.estimate(rounds, 2 * rounds * m));
    }
}
