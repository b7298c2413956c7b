//! [`Context`]: one party's view of a computation, as protocols see it.

use std::any::{Any, TypeId};
use std::collections::HashMap;

use cloak_comm::{Communicator, Op, OpKind};
use cloak_dealer::{Dealer, DealerError, Pending, Request, Shares};
use cloak_prg::PairwiseSeeds;
use cloak_ring::{FixedPoint, RingTensor};

use super::placement::ComputeDevice;
use super::sign::ComparisonStrategy;
use super::trunc::TruncationStrategy;
use crate::error::{MpcError, Result, invalid};

/// One party's protocol context: its communicator, its dealer, its pairwise seeds, the
/// fixed-point encoding and the strategies chosen for comparison and truncation.
///
/// Every primitive of this module is a method of it, working on this party's raw shares
/// (`RingTensor<u64>` for additive shares, packed `u64` words for XOR shares). A new
/// protocol is a function of `&mut Context`, written in any crate; it reaches the
/// context of a live session through [`Session::context`](crate::Session::context) and
/// runs under a statistics label with [`Session::scoped`](crate::Session::scoped).
///
/// All parties must call the same primitives in the same order with tensors of the same
/// shapes (SPMD): every primitive that communicates is one step of the communicator, and a
/// party that diverges gets a communication error naming the peer, never garbage.
pub struct Context {
    comm: Box<dyn Communicator>,
    dealer: Box<dyn Dealer>,
    rank: usize,
    parties: usize,
    fp: FixedPoint,
    przs: PairwiseSeeds,
    comparison: ComparisonStrategy,
    truncation: TruncationStrategy,
    /// Where this party's shares live (the dealer's material is placed there on arrival).
    device: ComputeDevice,
    /// Depth of nested labelled calls: only the outermost labels the statistics.
    depth: usize,
    /// The label in force before the outermost call.
    outer_label: String,
    /// The next persistent mask number: every party fixes the same operands in the same
    /// order, so the numbers agree without a message.
    next_mask: u64,
    /// Per-session state of the protocols built on top (one value per type).
    extensions: HashMap<TypeId, Box<dyn Any>>,
    /// The strategies running now: a strategy that calls back into its own dispatch would
    /// recurse until the stack overflows, which no runner can catch.
    in_comparison: bool,
    in_truncation: bool,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("rank", &self.rank)
            .field("parties", &self.parties)
            .field("dealer", &self.dealer.name())
            .field("comparison", &self.comparison)
            .field("truncation", &self.truncation)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// What a [`Context`] is made of; the checks that they agree are the session's.
pub(crate) struct Parts {
    pub(crate) comm: Box<dyn Communicator>,
    pub(crate) dealer: Box<dyn Dealer>,
    pub(crate) przs: PairwiseSeeds,
    pub(crate) fp: FixedPoint,
    pub(crate) comparison: ComparisonStrategy,
    pub(crate) truncation: TruncationStrategy,
    pub(crate) device: ComputeDevice,
}

impl Context {
    pub(crate) fn new(parts: Parts) -> Self {
        let Parts { comm, mut dealer, przs, fp, comparison, truncation, device } = parts;
        // Seed-derived material is made where the shares live, where the provider can.
        dealer.draw_on(device.handle().cloned());
        let outer_label = comm.stats().label().to_owned();
        Self {
            rank: dealer.rank(),
            parties: dealer.parties(),
            comm,
            dealer,
            fp,
            przs,
            comparison,
            truncation,
            device,
            depth: 0,
            outer_label,
            next_mask: 0,
            extensions: HashMap::new(),
            in_comparison: false,
            in_truncation: false,
        }
    }

    /// This party's rank among the computing parties.
    #[must_use]
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of computing parties.
    #[must_use]
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Whether this party adds the public terms of a protocol (party 0 does, by
    /// convention, so that public constants are counted once).
    #[must_use]
    pub fn is_first(&self) -> bool {
        self.rank == 0
    }

    /// The other computing parties, in rank order.
    #[must_use]
    pub fn peers(&self) -> Vec<usize> {
        (0..self.parties).filter(|&p| p != self.rank).collect()
    }

    /// The fixed-point encoding of the session.
    #[must_use]
    pub fn fixed_point(&self) -> FixedPoint {
        self.fp
    }

    /// The comparison strategy in force.
    #[must_use]
    pub fn comparison(&self) -> &ComparisonStrategy {
        &self.comparison
    }

    /// The truncation strategy in force.
    #[must_use]
    pub fn truncation(&self) -> &TruncationStrategy {
        &self.truncation
    }

    /// The communicator, for a protocol step the opening primitives do not cover. Every
    /// party must make the same steps; count them under a label with
    /// [`Session::scoped`](crate::Session::scoped).
    pub fn comm(&mut self) -> &mut dyn Communicator {
        self.comm.as_mut()
    }

    /// The dealer and the communicator together, for a request the typed primitives do
    /// not cover (a dealer that talks to its provider does so over the communicator).
    pub fn dealer_and_comm(&mut self) -> (&mut dyn Dealer, &mut dyn Communicator) {
        (self.dealer.as_mut(), self.comm.as_mut())
    }

    /// The dealer's name, for messages.
    #[must_use]
    pub fn dealer_name(&self) -> &'static str {
        self.dealer.name()
    }

    /// This party's shares of `request` (see [`Dealer::fetch`]), checked against the
    /// request's layout, so that a provider that returns the wrong components is a typed
    /// error here rather than a panic in the protocol that uses them.
    ///
    /// # Errors
    /// A dealer error, or [`MpcError::InvalidArgument`](crate::MpcError::InvalidArgument)
    /// for shares that do not fit the request.
    pub fn fetch(&mut self, request: &Request) -> Result<Shares> {
        let shares = self.dealer.fetch(request, self.comm.as_mut())?;
        check_shares(request, &shares, true)?;
        self.place_shares(shares)
    }

    /// Starts `request`: the free shares now, the dependent ones from
    /// [`finish`](Self::finish), so that openings can go out while the dealer works
    /// (see [`Dealer::begin`]). Every request begun must be finished, in the order begun,
    /// before the next is begun or fetched.
    ///
    /// # Errors
    /// As [`fetch`](Self::fetch), for the free shares.
    pub fn begin(&mut self, request: &Request) -> Result<Pending> {
        let mut pending = self.dealer.begin(request, self.comm.as_mut())?;
        check_shares(request, pending.shares(), false)?;
        if self.device.handle().is_some() {
            let free = std::mem::take(&mut pending.shares_mut().free);
            pending.shares_mut().free = self.place_all(free)?;
        }
        Ok(pending)
    }

    /// Completes a request started with [`begin`](Self::begin), in the order begun.
    ///
    /// # Errors
    /// As [`fetch`](Self::fetch).
    pub fn finish(&mut self, pending: Pending) -> Result<Shares> {
        let request = pending.request().clone();
        let shares = self.dealer.finish(pending, self.comm.as_mut())?;
        check_shares(&request, &shares, true)?;
        self.place_shares(shares)
    }

    /// The device this party computes on ([`ComputeDevice::Host`] unless the session's
    /// configuration names one).
    #[must_use]
    pub fn device(&self) -> &ComputeDevice {
        &self.device
    }

    /// `t` where this party computes (one upload if it is on the host and the session on a
    /// device; unchanged otherwise). Protocols call it on what they make on the host.
    ///
    /// # Errors
    /// The device's error.
    pub fn place(&self, t: RingTensor<u64>) -> Result<RingTensor<u64>> {
        self.device.place(t)
    }

    fn place_all(&self, ts: Vec<RingTensor<u64>>) -> Result<Vec<RingTensor<u64>>> {
        ts.into_iter().map(|t| self.place(t)).collect()
    }

    /// The dealer's material where this party computes: the provider makes it on the host,
    /// and it crosses to the device once, as it arrives.
    fn place_shares(&self, shares: Shares) -> Result<Shares> {
        if self.device.handle().is_none() {
            return Ok(shares);
        }
        Ok(Shares {
            free: self.place_all(shares.free)?,
            dependent: self.place_all(shares.dependent)?,
            dealt: self.place_all(shares.dealt)?,
        })
    }

    /// The offline phase: the dealer obtains whatever it has planned ahead of time
    /// ([`Dealer::prepare`]; a [`cloak_dealer::Preprocessed`] dealer fetches the material of
    /// its recorded pass). Every party calls it at the same point.
    ///
    /// # Errors
    /// The dealer's error.
    pub fn prepare_dealer(&mut self) -> Result<()> {
        Ok(self.dealer.prepare(self.comm.as_mut())?)
    }

    /// Runs `f` with the dealer and the communicator (the typed requests of [`Dealer`]).
    ///
    /// # Errors
    /// The dealer's error.
    pub fn with_dealer<R>(
        &mut self,
        f: impl FnOnce(&mut dyn Dealer, &mut dyn Communicator) -> Result<R, DealerError>,
    ) -> Result<R> {
        Ok(f(self.dealer.as_mut(), self.comm.as_mut())?)
    }

    /// The next persistent mask number and this party's share of that mask at `shape`
    /// (no message; see [`Dealer::persistent_share`]). Every party must take masks in the
    /// same order.
    ///
    /// # Errors
    /// A dealer without persistent masks, or a shape too large.
    pub fn take_persistent_mask(&mut self, shape: &[usize]) -> Result<(u64, RingTensor<u64>)> {
        let mask = self.next_mask;
        self.next_mask += 1;
        Ok((mask, self.dealer.persistent_share(mask, shape)?))
    }

    /// `n` words of this party's share of zero from the pairwise seeds (no message): the
    /// shares of all parties sum to zero (mod 2^64), and each looks uniform to the others.
    #[must_use]
    pub fn zero_share(&mut self, n: usize) -> Vec<u64> {
        let mut zero = vec![0u64; n];
        self.przs.zero_share_u64(&mut zero);
        zero
    }

    /// A share of zero in `shape` where this party computes (no message): on a device, its
    /// two pairwise streams are made there ([`Device::keystream`](cloak_ring::device::Device::keystream)),
    /// so nothing crosses; a device without a keystream gets the same words drawn on the
    /// host, in one upload. The streams move on as [`zero_share`](Self::zero_share) moves them.
    ///
    /// # Errors
    /// A shape too large; the device's error.
    pub fn zero_share_tensor(&mut self, shape: &[usize]) -> Result<RingTensor<u64>> {
        let n = cloak_ring::error::checked_numel("zero share", shape)?;
        let runs = match self.device.handle() {
            Some(_) => self.przs.zero_share_runs(n),
            None => None,
        };
        let (Some(device), Some(runs)) = (self.device.handle(), runs) else {
            let zero = RingTensor::from_vec(shape, self.zero_share(n))?;
            return self.place(zero);
        };
        let stream = |run: Option<cloak_prg::StreamRun>| -> Result<Option<RingTensor<u64>>> {
            let Some(run) = run else { return Ok(None) };
            let made = RingTensor::keystream_on(device, &run.key, run.first_word, shape)?;
            Ok(Some(match made {
                Some(t) => t,
                None => {
                    let words =
                        cloak_ring::device::keystream::keystream(&run.key, run.first_word, n);
                    RingTensor::from_vec(shape, words)?.to_device(device)?
                }
            }))
        };
        Ok(match (stream(runs.plus)?, stream(runs.minus)?) {
            (Some(p), Some(m)) => p.sub(&m)?,
            (Some(p), None) => p,
            (None, Some(m)) => m.neg(),
            (None, None) => self.place(RingTensor::zeros(shape))?,
        })
    }

    /// This party's share plus a fresh share of zero (no message): the same value under a
    /// sharing that is uniformly random, for revealing.
    #[must_use]
    pub fn rerandomized(&mut self, share: &RingTensor<u64>) -> Vec<u64> {
        let mut zero = self.zero_share(share.len());
        zero.iter_mut().zip(share.as_slice().iter()).for_each(|(z, s)| *z = z.wrapping_add(*s));
        zero
    }

    /// The session's value of type `T` for a protocol built on top (a cache of key
    /// material, a counter), created with `T::default()` at first use. Each type has one
    /// value per session.
    pub fn extension<T: Default + 'static>(&mut self) -> &mut T {
        self.extensions
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut::<T>()
            .unwrap_or_else(|| unreachable!("extensions are keyed by their type"))
    }

    /// Waits until every computing party has reached this point (one round).
    ///
    /// # Errors
    /// A communication error.
    pub fn barrier(&mut self) -> Result<()> {
        let peers = self.peers();
        let sends: Vec<(usize, &[u8])> = peers.iter().map(|&p| (p, &[][..])).collect();
        self.comm.step(Op::new(OpKind::Barrier), &sends, &peers)?;
        Ok(())
    }

    /// The sign circuit of the comparison strategy: XOR shares of `[x < 0]` packed 64
    /// per word (see [`ComparisonProtocol::ltz_packed`](super::ComparisonProtocol::ltz_packed)).
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn ltz_packed(&mut self, x: &RingTensor<u64>) -> Result<Vec<u64>> {
        let packed = self.with_comparison(|s, ctx| s.ltz_packed(ctx, x))?;
        if packed.len() != x.len().div_ceil(64) {
            return Err(self.comparison_broke(format!(
                "{} words of sign bits for {} elements",
                packed.len(),
                x.len()
            )));
        }
        Ok(packed)
    }

    /// Additive shares at scale 1 of `[x < 0]`, by the comparison strategy.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn ltz_arith(&mut self, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        let bits = self.with_comparison(|s, ctx| s.ltz_arith(ctx, x))?;
        if bits.shape() != x.shape() {
            return Err(self.comparison_broke(format!(
                "sign bits of shape {:?} for an input of shape {:?}",
                bits.shape(),
                x.shape()
            )));
        }
        self.place(bits)
    }

    /// Shares of `[x < 0] * x` and of `[x < 0]` (scale 1), by the comparison strategy.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn times_ltz(&mut self, x: &RingTensor<u64>) -> Result<(RingTensor<u64>, RingTensor<u64>)> {
        let (bx, b) = self.with_comparison(|s, ctx| s.times_ltz(ctx, x))?;
        if bx.shape() != x.shape() || b.shape() != x.shape() {
            return Err(self.comparison_broke(format!(
                "products of shapes {:?} and {:?} for an input of shape {:?}",
                bx.shape(),
                b.shape(),
                x.shape()
            )));
        }
        Ok((self.place(bx)?, self.place(b)?))
    }

    /// Shares of `y = x / 2^bits`, of `[y < 0] * y` and of `[y < 0]` (scale 1): a
    /// fixed-point product's truncation followed by a comparison, as a ReLU after a linear
    /// layer needs. Where the session truncates with dealer pairs and the comparison
    /// strategy can fuse the two
    /// ([`ComparisonProtocol::truncate_times_ltz`](super::ComparisonProtocol::truncate_times_ltz);
    /// dealer digits does), one opening serves both: a round and a truncation's opening
    /// fewer. Otherwise [`truncate`](Self::truncate), then [`times_ltz`](Self::times_ltz).
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn truncate_times_ltz(
        &mut self,
        x: &RingTensor<u64>,
        bits: u32,
    ) -> Result<super::sign::TruncatedSign> {
        let parties = self.parties;
        if (1..64).contains(&bits)
            && self.truncation.fuses_with_comparison(parties)
            && let Some((y, by, b)) =
                self.with_comparison(|s, ctx| s.truncate_times_ltz(ctx, x, bits))?
        {
            if [&y, &by, &b].iter().any(|t| t.shape() != x.shape()) {
                return Err(self.comparison_broke(format!(
                    "fused results of shapes {:?}, {:?}, {:?} for an input of shape {:?}",
                    y.shape(),
                    by.shape(),
                    b.shape(),
                    x.shape()
                )));
            }
            return Ok((self.place(y)?, self.place(by)?, self.place(b)?));
        }
        let y = self.truncate(x.clone(), bits)?;
        let (by, b) = self.times_ltz(&y)?;
        Ok((y, by, b))
    }

    /// Runs the comparison strategy, refusing a strategy that calls back into it.
    fn with_comparison<R>(
        &mut self,
        f: impl FnOnce(&ComparisonStrategy, &mut Context) -> Result<R>,
    ) -> Result<R> {
        if self.in_comparison {
            return Err(self.comparison_broke(
                "it called the session's comparison from inside itself (endless recursion)".into(),
            ));
        }
        let strategy = self.comparison.clone();
        self.in_comparison = true;
        let out = f(&strategy, self);
        self.in_comparison = false;
        out
    }

    fn comparison_broke(&self, what: String) -> MpcError {
        invalid(
            "comparison",
            format!("the {} strategy broke its contract: {what}", self.comparison.name()),
        )
    }

    /// This party's share of `x / 2^bits`, by the truncation strategy.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn truncate(&mut self, x: RingTensor<u64>, bits: u32) -> Result<RingTensor<u64>> {
        if bits == 0 {
            return Ok(x);
        }
        let mut out = self.truncate_many(vec![(x, bits)])?;
        out.pop().ok_or_else(|| self.truncation_broke("no result".into()))
    }

    /// Divides this party's `shares` by `2^bits` (`bits < 64`) with no message if the truncation strategy
    /// can (see [`TruncationProtocol::truncate_local`](super::TruncationProtocol::truncate_local)); `false` if it needs a round.
    pub fn truncate_local(&mut self, shares: &mut [u64], bits: u32) -> bool {
        if bits == 0 || bits >= 64 || self.in_truncation {
            return bits == 0;
        }
        let strategy = self.truncation.clone();
        strategy.truncate_local(self, shares, bits)
    }

    /// This party's share of `x / 2^bits` (`bits < 64`) with no message, where `x` lives,
    /// if the truncation strategy can (see
    /// [`TruncationProtocol::truncate_local_tensor`](super::TruncationProtocol::truncate_local_tensor));
    /// `Ok(None)` if it needs a round.
    ///
    /// # Errors
    /// The device's error.
    pub fn truncate_local_tensor(
        &mut self,
        x: &RingTensor<u64>,
        bits: u32,
    ) -> Result<Option<RingTensor<u64>>> {
        if bits == 0 {
            return Ok(Some(x.clone()));
        }
        if bits >= 64 || self.in_truncation {
            return Ok(None);
        }
        let strategy = self.truncation.clone();
        strategy.truncate_local_tensor(self, x, bits)
    }

    /// Truncates several tensors, each by its own number of bits, in at most one round,
    /// by the truncation strategy.
    ///
    /// # Errors
    /// A communication or dealer error.
    pub fn truncate_many(
        &mut self,
        pieces: Vec<(RingTensor<u64>, u32)>,
    ) -> Result<Vec<RingTensor<u64>>> {
        if let Some((_, bits)) = pieces.iter().find(|(_, b)| *b >= 64) {
            return Err(invalid("truncate", format!("truncation by {bits} bits (at most 63)")));
        }
        if pieces.iter().all(|(_, b)| *b == 0) {
            return Ok(pieces.into_iter().map(|(x, _)| x).collect());
        }
        if self.in_truncation {
            return Err(self.truncation_broke(
                "it called the session's truncation from inside itself (endless recursion)".into(),
            ));
        }
        let shapes: Vec<Vec<usize>> = pieces.iter().map(|(x, _)| x.shape().to_vec()).collect();
        let strategy = self.truncation.clone();
        self.in_truncation = true;
        let out = strategy.truncate_many(self, pieces);
        self.in_truncation = false;
        let out = out?;
        if out.len() != shapes.len() || out.iter().zip(&shapes).any(|(t, s)| t.shape() != &s[..]) {
            return Err(self.truncation_broke(format!(
                "{} results for {} pieces, or of other shapes",
                out.len(),
                shapes.len()
            )));
        }
        Ok(out)
    }

    fn truncation_broke(&self, what: String) -> MpcError {
        invalid(
            "truncate",
            format!("the {} strategy broke its contract: {what}", self.truncation.name()),
        )
    }

    /// Enters a labelled region: the outermost one sets the statistics label.
    pub(crate) fn enter(&mut self, label: &str) {
        if self.depth == 0 {
            self.outer_label = self.comm.stats().label().to_owned();
            self.comm.set_label(label);
        }
        self.depth += 1;
    }

    /// Leaves a labelled region.
    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
        if self.depth == 0 {
            let outer = std::mem::take(&mut self.outer_label);
            self.comm.set_label(&outer);
        }
    }

    /// The communicator and the dealer, for the session's own bookkeeping.
    pub(crate) fn comm_ref(&self) -> &dyn Communicator {
        self.comm.as_ref()
    }

    /// The dealer, for the session's own bookkeeping.
    pub(crate) fn dealer_ref(&self) -> &dyn Dealer {
        self.dealer.as_ref()
    }
}

/// Checks a provider's shares against the request's layout: the number of components of
/// each kind and their shapes (`complete`: the dependent and dealt ones too).
fn check_shares(request: &Request, shares: &Shares, complete: bool) -> Result<()> {
    let layout = request.layout()?;
    let fits = |got: &[RingTensor<u64>], want: &[cloak_dealer::Component]| {
        got.len() == want.len() && got.iter().zip(want).all(|(t, c)| t.shape() == &c.shape[..])
    };
    let ok = fits(&shares.free, &layout.free)
        && (!complete || fits(&shares.dependent, &layout.dependent))
        && (!complete || fits(&shares.dealt, &layout.dealt));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "dealer",
            format!("the provider's shares of a {} request do not fit its layout", request.name()),
        ))
    }
}
