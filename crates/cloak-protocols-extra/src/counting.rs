//! A dealer that counts what it serves, around any other.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use cloak_comm::Communicator;
use cloak_dealer::{Dealer, DealerError, DealerStats, Pending, Request, Shares};
use cloak_ring::RingTensor;

/// Requests passed on, by kind (the request's name), with the words of each kind's layout
/// (free, dependent and dealt components).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Per request name: (requests, `u64` words of every component).
    pub by_kind: BTreeMap<&'static str, (u64, u64)>,
    /// Persistent masks taken.
    pub persistent_masks: u64,
}

impl RequestCounts {
    /// Requests of every kind together.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.by_kind.values().map(|(n, _)| n).sum()
    }
}

/// Wraps a dealer and counts every request it passes on (see [`RequestCounts`]); the
/// shares are the inner dealer's, untouched. The counts are shared with every clone of
/// [`counts`](Self::counts), so a caller keeps a handle while the session owns the dealer.
pub struct CountingDealer<D> {
    inner: D,
    counts: Arc<Mutex<RequestCounts>>,
}

impl<D: Dealer> std::fmt::Debug for CountingDealer<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingDealer").field("inner", &self.inner.name()).finish_non_exhaustive()
    }
}

impl<D: Dealer> CountingDealer<D> {
    /// Counts the requests `inner` serves.
    pub fn new(inner: D) -> Self {
        Self { inner, counts: Arc::default() }
    }

    /// A handle on the counts, readable while the dealer is in use.
    #[must_use]
    pub fn counts(&self) -> Arc<Mutex<RequestCounts>> {
        Arc::clone(&self.counts)
    }

    fn record(&self, request: &Request) {
        let words = request.layout().map_or(0, |l| l.words());
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = counts.by_kind.entry(request.name()).or_default();
        entry.0 += 1;
        entry.1 += words;
    }
}

impl<D: Dealer> Dealer for CountingDealer<D> {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn rank(&self) -> usize {
        self.inner.rank()
    }

    fn parties(&self) -> usize {
        self.inner.parties()
    }

    fn fetch(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError> {
        self.record(request);
        self.inner.fetch(request, comm)
    }

    fn begin(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Pending, DealerError> {
        self.record(request);
        self.inner.begin(request, comm)
    }

    fn finish(
        &mut self,
        pending: Pending,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError> {
        self.inner.finish(pending, comm)
    }

    fn stats(&self) -> &DealerStats {
        self.inner.stats()
    }

    fn prepare(&mut self, comm: &mut dyn Communicator) -> Result<(), DealerError> {
        self.inner.prepare(comm)
    }

    fn persistent_share(
        &mut self,
        mask: u64,
        shape: &[usize],
    ) -> Result<RingTensor<u64>, DealerError> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).persistent_masks += 1;
        self.inner.persistent_share(mask, shape)
    }

    fn draw_on(&mut self, device: Option<cloak_ring::device::DeviceRef<u64>>) {
        self.inner.draw_on(device);
    }

    fn close(&mut self, comm: &mut dyn Communicator) -> Result<(), DealerError> {
        self.inner.close(comm)
    }
}
