//! What a party has obtained from its dealer.

use std::time::{Duration, Instant};

use crate::Layout;

/// Time and volume of the correlated randomness a party has used.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DealerStats {
    /// Requests served.
    pub requests: u64,
    /// `u64` words of randomness this party obtained (its shares of every component, and
    /// its parts of the dealt ones).
    pub words: u64,
    /// Time spent producing them: drawing streams, computing corrections, and (for a
    /// networked dealer) waiting for them.
    pub time: Duration,
}

impl DealerStats {
    /// Counts one request of this layout, served since `start`.
    pub fn record(&mut self, layout: &Layout, start: Instant) {
        self.record_time(layout, start.elapsed());
    }

    /// Counts one request of this layout that took `time` (for a provider whose work on a
    /// request is split between [`Dealer::begin`](crate::Dealer::begin) and
    /// [`Dealer::finish`](crate::Dealer::finish)).
    pub fn record_time(&mut self, layout: &Layout, time: Duration) {
        self.requests += 1;
        self.words += layout.words();
        self.time += time;
    }
}
