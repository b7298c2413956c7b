//! The `Dealer` trait: where a party's correlated randomness comes from.

use std::time::Duration;

use cloak_comm::Communicator;
use cloak_ring::RingTensor;
use cloak_ring::device::DeviceRef;

use crate::shares::{BinaryTriple, FixedRhsTriple, RandomBits, SquarePair, Triple, TruncPair};
use crate::{BilinearOp, DealerError, DealerStats, Request, Shares};

/// One party's source of correlated randomness.
///
/// Every party calls [`fetch`](Dealer::fetch) with the same requests in the same order (the
/// programs are SPMD), and gets its shares. The communicator is passed in, not owned, so the
/// protocol layer keeps one communicator for everything; a dealer that talks over it counts
/// its traffic under the label [`DEALER_LABEL`](crate::DEALER_LABEL), apart from the online
/// protocol.
pub trait Dealer: Send {
    /// A short name of the provider (`"tfp"`, `"ttp"`, ...).
    fn name(&self) -> &'static str;

    /// This party's rank among the computing parties.
    fn rank(&self) -> usize;

    /// The number of computing parties (a third-party dealer is not counted).
    fn parties(&self) -> usize;

    /// This party's shares of `request`.
    ///
    /// # Errors
    /// A shape error for an invalid request; a communication or protocol error if a
    /// networked dealer fails.
    fn fetch(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError>;

    /// Starts a request: this party's free shares at once, the dependent ones (which may be
    /// computed or in flight meanwhile) from [`finish`](Dealer::finish). Every seed-based
    /// provider can give the free shares first, so a protocol sends its masked openings
    /// before waiting for the correction: the dealer's work and the openings overlap. The
    /// default fetches everything at once.
    ///
    /// # Errors
    /// As [`fetch`](Dealer::fetch).
    fn begin(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Pending, DealerError> {
        let shares = self.fetch(request, comm)?;
        Ok(Pending::complete(request.clone(), shares))
    }

    /// Completes a request started with [`begin`](Dealer::begin). Requests must be finished
    /// in the order they were begun.
    ///
    /// # Errors
    /// As [`fetch`](Dealer::fetch).
    fn finish(
        &mut self,
        pending: Pending,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError> {
        let _ = comm;
        Ok(pending.into_shares())
    }

    /// What this party has obtained so far.
    fn stats(&self) -> &DealerStats;

    /// Obtains ahead of time whatever material the provider has planned (the offline phase
    /// of [`Preprocessed`](crate::Preprocessed)); every party calls it at the same point of
    /// the program. The default has nothing planned.
    ///
    /// # Errors
    /// As [`fetch`](Dealer::fetch).
    fn prepare(&mut self, comm: &mut dyn Communicator) -> Result<(), DealerError> {
        let _ = comm;
        Ok(())
    }

    /// Makes this party's seed-derived shares on `device` from now on, as the device's own
    /// pseudo-random stream ([`Device::keystream`](cloak_ring::device::Device::keystream)),
    /// so that they never cross from the host; `None` goes back to the host. A provider
    /// without seed-derived shares, or a device without a keystream, leaves them on the
    /// host (the session then uploads them). The default ignores it.
    fn draw_on(&mut self, device: Option<DeviceRef<u64>>) {
        let _ = device;
    }

    /// This party's share of the persistent mask number `mask` at `shape`, from its own
    /// seed with no communication: the right mask of every [`Request::TripleFixedRhs`]
    /// naming `mask`. The same mask gives the same share every time; a mask has one shape.
    /// The default, for providers without per-party seeds, refuses.
    ///
    /// # Errors
    /// [`DealerError::Unsupported`] from a provider that has no persistent masks; a shape
    /// error for a shape too large or other than the mask's first one.
    fn persistent_share(
        &mut self,
        mask: u64,
        shape: &[usize],
    ) -> Result<RingTensor<u64>, DealerError> {
        let _ = (mask, shape);
        Err(DealerError::Unsupported { provider: self.name(), what: "persistent masks" })
    }

    /// Ends the session with the dealer (a networked dealer stops serving). Idempotent.
    ///
    /// # Errors
    /// A communication error if the dealer cannot be told.
    fn close(&mut self, comm: &mut dyn Communicator) -> Result<(), DealerError> {
        let _ = comm;
        Ok(())
    }

    /// A Beaver triple for `op`.
    ///
    /// # Errors
    /// As [`fetch`](Dealer::fetch).
    fn triple(
        &mut self,
        op: &BilinearOp,
        comm: &mut dyn Communicator,
    ) -> Result<Triple, DealerError> {
        Ok(self.fetch(&Request::Triple(op.clone()), comm)?.into_triple())
    }

    /// A triple `(a, op(a, B))` for a product whose right operand is masked by the
    /// persistent mask `mask` (taken first with [`persistent_share`](Dealer::persistent_share)).
    ///
    /// # Errors
    /// As [`fetch`](Dealer::fetch); a mask never taken, or taken at another shape than
    /// `op`'s right operand, is a typed error.
    fn triple_fixed_rhs(
        &mut self,
        op: &BilinearOp,
        mask: u64,
        comm: &mut dyn Communicator,
    ) -> Result<FixedRhsTriple, DealerError> {
        let request = Request::TripleFixedRhs { op: op.clone(), mask };
        Ok(self.fetch(&request, comm)?.into_fixed_rhs_triple())
    }

    /// A square pair of this shape.
    ///
    /// # Errors
    /// As [`fetch`](Dealer::fetch).
    fn square(
        &mut self,
        shape: &[usize],
        comm: &mut dyn Communicator,
    ) -> Result<SquarePair, DealerError> {
        Ok(self.fetch(&Request::Square { shape: shape.to_vec() }, comm)?.into_square())
    }

    /// A binary triple over `words` 64-bit words.
    ///
    /// # Errors
    /// As [`fetch`](Dealer::fetch).
    fn binary_triple(
        &mut self,
        words: usize,
        comm: &mut dyn Communicator,
    ) -> Result<BinaryTriple, DealerError> {
        Ok(self.fetch(&Request::BinaryTriple { words }, comm)?.into_binary())
    }

    /// A truncation pair of this shape for a division by `2^bits`.
    ///
    /// # Errors
    /// As [`fetch`](Dealer::fetch); `bits` outside `1..=63` is a typed error.
    fn trunc_pair(
        &mut self,
        shape: &[usize],
        bits: u32,
        comm: &mut dyn Communicator,
    ) -> Result<TruncPair, DealerError> {
        Ok(self.fetch(&Request::TruncPair { shape: shape.to_vec(), bits }, comm)?.into_trunc())
    }

    /// A division pair of this shape for a division by the public `divisor`.
    ///
    /// # Errors
    /// As [`fetch`](Dealer::fetch); a zero divisor is a typed error.
    fn div_pair(
        &mut self,
        shape: &[usize],
        divisor: u64,
        comm: &mut dyn Communicator,
    ) -> Result<TruncPair, DealerError> {
        Ok(self.fetch(&Request::DivPair { shape: shape.to_vec(), divisor }, comm)?.into_trunc())
    }

    /// `count` random bits shared both ways.
    ///
    /// # Errors
    /// As [`fetch`](Dealer::fetch).
    fn random_bits(
        &mut self,
        count: usize,
        comm: &mut dyn Communicator,
    ) -> Result<RandomBits, DealerError> {
        Ok(self.fetch(&Request::RandomBits { count }, comm)?.into_bits())
    }
}

/// A request begun with [`Dealer::begin`] and not yet finished: the request, this party's
/// shares so far, and whether they are complete. A provider makes one in `begin` and
/// completes it in `finish` (filling in what arrives meanwhile through
/// [`shares_mut`](Pending::shares_mut)). Its `Debug` shows the request, never the shares.
pub struct Pending {
    request: Request,
    shares: Shares,
    /// Whether the dependent shares (and the dealt parts) are already in `shares`.
    complete: bool,
    /// Provider time spent so far on it.
    spent: Duration,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("request", &self.request)
            .field("complete", &self.complete)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// A request with the shares obtained so far; `complete` says whether they are all
    /// there (then [`Dealer::finish`] has nothing left to fetch).
    #[must_use]
    pub fn new(request: Request, shares: Shares, complete: bool) -> Self {
        Pending { request, shares, complete, spent: Duration::ZERO }
    }

    /// A request whose shares are all there.
    #[must_use]
    pub fn complete(request: Request, shares: Shares) -> Self {
        Self::new(request, shares, true)
    }

    /// The same, noting `spent` of provider time so far (for its statistics at `finish`).
    #[must_use]
    pub fn with_spent(mut self, spent: Duration) -> Self {
        self.spent = spent;
        self
    }

    /// This party's shares of the free components (the masks to open against).
    #[must_use]
    pub fn free(&self) -> &[cloak_ring::RingTensor<u64>] {
        &self.shares.free
    }

    /// The request.
    #[must_use]
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Whether every share is already there.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Provider time spent so far, as noted with [`with_spent`](Pending::with_spent).
    #[must_use]
    pub fn spent(&self) -> Duration {
        self.spent
    }

    /// The shares obtained so far.
    #[must_use]
    pub fn shares(&self) -> &Shares {
        &self.shares
    }

    /// The shares, to fill in what arrives in `finish`.
    pub fn shares_mut(&mut self) -> &mut Shares {
        &mut self.shares
    }

    /// The shares, the request done with.
    #[must_use]
    pub fn into_shares(self) -> Shares {
        self.shares
    }
}

impl<D: Dealer + ?Sized> Dealer for Box<D> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn parties(&self) -> usize {
        (**self).parties()
    }
    fn fetch(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError> {
        (**self).fetch(request, comm)
    }
    fn begin(
        &mut self,
        request: &Request,
        comm: &mut dyn Communicator,
    ) -> Result<Pending, DealerError> {
        (**self).begin(request, comm)
    }
    fn finish(
        &mut self,
        pending: Pending,
        comm: &mut dyn Communicator,
    ) -> Result<Shares, DealerError> {
        (**self).finish(pending, comm)
    }
    fn stats(&self) -> &DealerStats {
        (**self).stats()
    }
    fn prepare(&mut self, comm: &mut dyn Communicator) -> Result<(), DealerError> {
        (**self).prepare(comm)
    }
    fn persistent_share(
        &mut self,
        mask: u64,
        shape: &[usize],
    ) -> Result<RingTensor<u64>, DealerError> {
        (**self).persistent_share(mask, shape)
    }
    fn close(&mut self, comm: &mut dyn Communicator) -> Result<(), DealerError> {
        (**self).close(comm)
    }
    fn draw_on(&mut self, device: Option<DeviceRef<u64>>) {
        (**self).draw_on(device);
    }
}

/// Checks a party layout: at least two parties, the rank among them.
pub(crate) fn check_layout(rank: usize, parties: usize) -> Result<(), DealerError> {
    if parties < 2 || rank >= parties {
        return Err(DealerError::Setup {
            reason: format!("rank {rank} among {parties} parties (need 2 or more parties)"),
        });
    }
    Ok(())
}
