//! Correlated randomness obtained ahead of time: an offline phase for any provider.
//!
//! A private inference repeats the same requests pass after pass (the same shapes, in the
//! same order). [`Preprocessed`] wraps any [`Dealer`]: while [`PreprocessHandle::record`]
//! is on, it passes requests through and notes them; [`Dealer::prepare`] then obtains
//! material for every noted request at once (the offline phase: the provider's work and
//! its traffic, such as the keys of function secret sharing, happen there), and the next
//! pass is served from it with no provider work or traffic (the online phase). A request
//! that differs from the plan at that point is obtained from the provider as usual, at
//! every party alike (the program is the same at every party), and counted as a miss.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use cloak_comm::Communicator;
use cloak_ring::RingTensor;

use crate::error::DealerError;
use crate::provider::{Dealer, Pending};
use crate::request::Request;
use crate::shares::Shares;
use crate::stats::DealerStats;

/// What the handle and the wrapper share.
#[derive(Debug, Default)]
struct Plan {
    recording: bool,
    requests: Vec<Request>,
    /// Requests served from prepared material, and those that missed the plan.
    served: u64,
    misses: u64,
    /// Seconds and prepare calls of the offline phase.
    prepare_s: f64,
    prepares: u64,
}

/// Controls a [`Preprocessed`] dealer from outside the session (cheap to clone).
#[derive(Clone, Debug, Default)]
pub struct PreprocessHandle(Arc<Mutex<Plan>>);

/// What a [`Preprocessed`] dealer has done.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PreprocessStats {
    /// Requests in the plan.
    pub planned: usize,
    /// Requests served from prepared material.
    pub served: u64,
    /// Requests that did not match the plan (obtained from the provider online).
    pub misses: u64,
    /// Calls of [`Dealer::prepare`] that obtained material.
    pub prepares: u64,
    /// Seconds spent in them.
    pub prepare_s: f64,
}

impl PreprocessHandle {
    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts noting requests (forgetting an earlier plan): the next pass defines it.
    pub fn record(&self) {
        let mut p = self.plan();
        p.recording = true;
        p.requests.clear();
    }

    /// Stops noting requests; the plan stays for [`Dealer::prepare`].
    pub fn stop(&self) {
        self.plan().recording = false;
    }

    /// What the wrapper has done so far.
    #[must_use]
    pub fn stats(&self) -> PreprocessStats {
        let p = self.plan();
        PreprocessStats {
            planned: p.requests.len(),
            served: p.served,
            misses: p.misses,
            prepares: p.prepares,
            prepare_s: p.prepare_s,
        }
    }
}

/// Any dealer, with an offline phase (see the module documentation).
pub struct Preprocessed<D> {
    inner: D,
    handle: PreprocessHandle,
    ready: VecDeque<(Request, Shares)>,
}

impl<D: Dealer> std::fmt::Debug for Preprocessed<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The prepared shares are secret: only their number.
        f.debug_struct("Preprocessed")
            .field("inner", &self.inner.name())
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

impl<D: Dealer> Preprocessed<D> {
    /// Wraps `inner`; the handle controls recording.
    pub fn new(inner: D) -> (Self, PreprocessHandle) {
        let handle = PreprocessHandle::default();
        (Self { inner, handle: handle.clone(), ready: VecDeque::new() }, handle)
    }

    /// Material prepared for `request`, if it is next in the plan. Once a request misses,
    /// the rest of the prepared material is dropped (it no longer lines up).
    fn take_ready(&mut self, request: &Request) -> Option<Shares> {
        let hit = self.ready.front().is_some_and(|(r, _)| r == request);
        let mut plan = self.handle.plan();
        if plan.recording {
            plan.requests.push(request.clone());
        }
        if hit {
            plan.served += 1;
            return self.ready.pop_front().map(|(_, s)| s);
        }
        if !self.ready.is_empty() {
            self.ready.clear();
        }
        if plan.prepares > 0 {
            plan.misses += 1;
        }
        None
    }
}

impl<D: Dealer> Dealer for Preprocessed<D> {
    fn name(&self) -> &'static str {
        "preprocessed"
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
        match self.take_ready(request) {
            Some(shares) => Ok(shares),
            None => self.inner.fetch(request, comm),
        }
    }

    fn begin(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Pending, DealerError> {
        match self.take_ready(request) {
            Some(shares) => Ok(Pending::complete(request.clone(), shares)),
            None => self.inner.begin(request, comm),
        }
    }

    fn finish(
        &mut self,
        pending: Pending,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError> {
        self.inner.finish(pending, comm)
    }

    fn prepare(&mut self, comm: &mut dyn Communicator) -> Result<(), DealerError> {
        let requests = {
            let mut plan = self.handle.plan();
            plan.recording = false;
            plan.requests.clone()
        };
        let start = Instant::now();
        self.ready.clear();
        for request in requests {
            let shares = self.inner.fetch(&request, comm)?;
            self.ready.push_back((request, shares));
        }
        let mut plan = self.handle.plan();
        plan.prepares += 1;
        plan.prepare_s += start.elapsed().as_secs_f64();
        Ok(())
    }

    fn stats(&self) -> &DealerStats {
        self.inner.stats()
    }

    fn persistent_share(
        &mut self,
        mask: u64,
        shape: &[usize],
    ) -> Result<RingTensor<u64>, DealerError> {
        self.inner.persistent_share(mask, shape)
    }

    /// The material obtained ahead of time is made where the inner provider makes it, so a
    /// recorded pass prepared for a device session waits in device memory.
    fn draw_on(&mut self, device: Option<cloak_ring::device::DeviceRef<u64>>) {
        self.inner.draw_on(device);
    }

    fn close(&mut self, comm: &mut dyn Communicator) -> Result<(), DealerError> {
        self.inner.close(comm)
    }
}
