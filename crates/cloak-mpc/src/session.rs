//! `Session`: one party's context for a computation.

use std::cell::{RefCell, RefMut};
use std::rc::Rc;

use cloak_comm::{CommStats, Communicator, Op, OpKind};
use cloak_dealer::{Dealer, DealerError, DealerStats, TrustedFirstParty, TtpClient};
use cloak_prg::{PairwiseSeeds, SEED_LEN, Seed};
use cloak_ring::FixedPoint;

use crate::config::{DealerKind, SessionConfig};
use crate::error::{MpcError, Result, invalid};
use crate::primitives::{Context, Parts};

/// Label of the pairwise-seed set-up round.
const SETUP_LABEL: &str = "setup";

/// One party's context: its communicator, dealer, seeds, configuration and statistics.
///
/// Shared tensors hold a cheap handle to it (an `Rc`), so a session lives on the thread
/// that runs the party, as SPMD programs do. Every party must run the same operations in
/// the same order; a party that diverges gets a communication error naming the peer.
#[derive(Clone)]
pub struct Session {
    inner: Rc<Inner>,
}

/// What every handle of a session shares: the protocol context (mutable, one user at a
/// time) and the configuration (fixed when the session is made).
struct Inner {
    context: RefCell<Context>,
    config: SessionConfig,
    rank: usize,
    parties: usize,
    fp: FixedPoint,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("rank", &self.inner.rank)
            .field("parties", &self.inner.parties)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session from its parts: a communicator whose ranks `0..parties` are the computing
    /// parties (a third-party dealer may be one more rank), a dealer, and pairwise seeds
    /// for input sharing.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`] if the parts disagree on rank or number of parties,
    /// the precision is unusable, or a strategy refuses this number of parties (local
    /// truncation needs exactly two).
    pub fn new(
        comm: Box<dyn Communicator>,
        dealer: Box<dyn Dealer>,
        przs: PairwiseSeeds,
        config: SessionConfig,
    ) -> Result<Self> {
        let (rank, parties) = (dealer.rank(), dealer.parties());
        if comm.rank() != rank || przs.rank() != rank || przs.world() != parties {
            return Err(invalid(
                "session",
                format!(
                    "communicator rank {}, dealer rank {rank} of {parties}, seeds rank {} of {}",
                    comm.rank(),
                    przs.rank(),
                    przs.world()
                ),
            ));
        }
        if comm.world_size() < parties {
            return Err(invalid(
                "session",
                format!("{parties} parties on a communicator of {}", comm.world_size()),
            ));
        }
        let fp = FixedPoint::new::<u64>(config.frac_bits)?;
        if config.frac_bits == 0 || config.frac_bits > 30 {
            return Err(invalid(
                "session",
                format!("{} fractional bits (products need 1..=30)", config.frac_bits),
            ));
        }
        config.truncation.check(parties)?;
        config.comparison.check(parties)?;
        let context = Context::new(Parts {
            comm,
            dealer,
            przs,
            fp,
            comparison: config.comparison.clone(),
            truncation: config.truncation.clone(),
            device: config.device.clone(),
        });
        let inner = Inner { context: RefCell::new(context), config, rank, parties, fp };
        Ok(Self { inner: Rc::new(inner) })
    }

    /// A session for tests and benchmarks: pairwise seeds and a trusted-first-party dealer
    /// all derived from `seed`, which every party passes, so no set-up message is sent but
    /// every party could compute every mask. Never use it to protect data.
    ///
    /// # Errors
    /// As [`Session::new`].
    pub fn insecure_for_testing(
        comm: impl Communicator + 'static,
        seed: &Seed,
        config: SessionConfig,
    ) -> Result<Self> {
        let (rank, parties) = (comm.rank(), comm.world_size());
        let przs = PairwiseSeeds::from_master(&seed.derive("cloak-mpc/przs"), rank, parties)?;
        let dealer =
            TrustedFirstParty::from_master(&seed.derive("cloak-mpc/dealer"), rank, parties)?;
        Self::new(Box::new(comm), Box::new(dealer), przs, config)
    }

    /// Sets a session up securely over `comm`: each pair of parties agrees on a fresh seed
    /// from the operating system (one round), and the dealer of `config.dealer` is
    /// arranged (party 0 sends seeds for the trusted first party; the trusted third party,
    /// the last rank of `comm`, sends them for itself and must be running
    /// [`cloak_dealer::run_dealer`]).
    ///
    /// # Errors
    /// A communication, dealer or entropy error, or as [`Session::new`].
    pub fn setup(mut comm: Box<dyn Communicator>, config: SessionConfig) -> Result<Self> {
        let world = comm.world_size();
        let parties = match config.dealer {
            DealerKind::TrustedFirstParty => world,
            DealerKind::TrustedThirdParty => world.saturating_sub(1),
        };
        let rank = comm.rank();
        if rank >= parties || parties < 2 {
            return Err(invalid(
                "session",
                format!("rank {rank} is not a computing party of {parties} (world {world})"),
            ));
        }
        let previous = comm.stats().label().to_owned();
        comm.set_label(SETUP_LABEL);
        let przs = agree_pair_seeds(comm.as_mut(), rank, parties);
        comm.set_label(&previous);
        let przs = przs?;
        let dealer: Box<dyn Dealer> = match config.dealer {
            DealerKind::TrustedFirstParty => {
                Box::new(TrustedFirstParty::setup(comm.as_mut(), parties)?)
            }
            DealerKind::TrustedThirdParty => Box::new(TtpClient::connect(comm.as_mut(), parties)?),
        };
        Self::new(comm, dealer, przs, config)
    }

    /// Sets a session up securely over `comm` with a caller-supplied provider of correlated
    /// randomness: each pair of computing parties agrees on a fresh seed from the operating
    /// system (one round, counted under `"setup"`, as in [`Session::setup`]), and every
    /// request goes to `dealer`. `config.dealer` is ignored; everything else in `config`
    /// applies. This is the seam for a provider that is not one of [`DealerKind`]'s: write
    /// an `impl` [`Dealer`] and hand it in. The standard providers are built from a
    /// communicator with [`TrustedFirstParty::setup`] (party 0 sends each party its seed)
    /// and [`TtpClient::connect`] (a dealer process on the last rank running
    /// [`cloak_dealer::run_dealer`]); a custom provider can wrap one of them.
    ///
    /// What the provider must guarantee:
    /// - [`Dealer::rank`] is `comm.rank()`, and [`Dealer::parties`] is the number of
    ///   computing parties, which are ranks `0..parties` of `comm`; ranks past them (at
    ///   most `comm.world_size() - parties`) are the provider's own, as a trusted third
    ///   party's. Every party's provider reports the same number of parties.
    /// - Every party's provider answers the same requests, in the same order, with shares of
    ///   values in the relation the [`Request`](cloak_dealer::Request) documents (a Beaver
    ///   triple's third component is `op(a, b)` of the first two, summed over every party's
    ///   shares, and so on), and all of them agree on the persistent masks.
    ///
    /// The first is checked here, at this party, before anything is sent: a rank other than
    /// the communicator's, fewer than two parties, this rank not among them, or more parties
    /// than the communicator has ranks is a [`DealerError::Setup`](cloak_dealer::DealerError::Setup)
    /// (inside [`MpcError::Dealer`]). Providers that each fit the communicator but
    /// disagree among the parties on the number of parties are not caught here: some party
    /// waits for a peer that never answers and fails with a communication error (a timeout
    /// naming the peer), at set-up or at the first step. The second cannot be checked without
    /// revealing the randomness: a provider that breaks a relation makes the protocols
    /// compute wrong results with no error, and one whose parties disagree on the order of
    /// requests does the same or fails with a communication error, so test a new provider
    /// against plain arithmetic before trusting it.
    ///
    /// # Errors
    /// [`MpcError::Dealer`] with [`DealerError::Setup`](cloak_dealer::DealerError::Setup)
    /// for a provider whose layout does not fit the communicator (nothing sent); a
    /// communication or entropy error; or as [`Session::new`].
    pub fn with_dealer(
        mut comm: Box<dyn Communicator>,
        config: SessionConfig,
        dealer: Box<dyn Dealer>,
    ) -> Result<Self> {
        let (rank, parties, world) = (dealer.rank(), dealer.parties(), comm.world_size());
        if rank != comm.rank() || parties < 2 || rank >= parties || parties > world {
            return Err(MpcError::Dealer(DealerError::Setup {
                reason: format!(
                    "the {} provider says rank {rank} of {parties} parties; the communicator \
                     is rank {} of {world} ranks (need the same rank, 2 or more parties, \
                     at most one per rank)",
                    dealer.name(),
                    comm.rank()
                ),
            }));
        }
        let previous = comm.stats().label().to_owned();
        comm.set_label(SETUP_LABEL);
        let przs = agree_pair_seeds(comm.as_mut(), rank, parties);
        comm.set_label(&previous);
        Self::new(comm, dealer, przs?, config)
    }

    /// This party's protocol context, for writing a new protocol on the public
    /// [`primitives`](crate::primitives). Hold it only for the protocol's own steps: while
    /// it is held, operations on this session's shared tensors fail with
    /// [`MpcError::SessionBusy`] (they need the context too).
    ///
    /// # Errors
    /// [`MpcError::SessionBusy`] if the context is already in use (a primitive called from
    /// inside another operation of the same session).
    pub fn context(&self) -> Result<RefMut<'_, Context>> {
        self.inner.context.try_borrow_mut().map_err(|_| MpcError::SessionBusy)
    }

    /// The context for the session's bookkeeping (statistics).
    ///
    /// # Panics
    /// If the caller holds the [`context`](Self::context).
    fn state(&self) -> RefMut<'_, Context> {
        self.inner.context.borrow_mut()
    }

    /// Whether two handles are the same session.
    #[must_use]
    pub fn same(&self, other: &Session) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    /// This party's rank.
    #[must_use]
    pub fn rank(&self) -> usize {
        self.inner.rank
    }

    /// The number of computing parties.
    #[must_use]
    pub fn parties(&self) -> usize {
        self.inner.parties
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SessionConfig {
        &self.inner.config
    }

    /// The fixed-point encoding in use.
    #[must_use]
    pub fn fixed_point(&self) -> FixedPoint {
        self.inner.fp
    }

    /// Communication statistics so far, one row per operation label (the dealer's traffic
    /// under [`cloak_dealer::DEALER_LABEL`]).
    ///
    /// # Panics
    /// While this party holds the [`context`](Self::context).
    #[must_use]
    pub fn comm_stats(&self) -> CommStats {
        self.state().comm_ref().stats().clone()
    }

    /// Correlated randomness used so far, and the time spent producing it.
    ///
    /// # Panics
    /// While this party holds the [`context`](Self::context).
    #[must_use]
    pub fn dealer_stats(&self) -> DealerStats {
        *self.state().dealer_ref().stats()
    }

    /// Forgets the communication statistics.
    ///
    /// # Panics
    /// While this party holds the [`context`](Self::context).
    pub fn reset_stats(&self) {
        self.state().comm().reset_stats();
    }

    /// Waits until every party has reached this point (one round among the computing
    /// parties).
    ///
    /// # Errors
    /// A communication error.
    pub fn barrier(&self) -> Result<()> {
        self.context()?.barrier()
    }

    /// Ends the session: tells a networked dealer to stop. Call it once every party is done.
    ///
    /// # Errors
    /// A communication error.
    pub fn close(&self) -> Result<()> {
        self.context()?.with_dealer(|d, c| d.close(c))
    }

    /// Fails this party because its own work failed (a bad input, a NaN, a file it could
    /// not read), telling every other party (and a networked dealer) why, so that they stop
    /// at once with [`CommError::Aborted`](cloak_comm::CommError::Aborted) naming this party
    /// and carrying `reason`, rather than with a bare disconnection or after their timeout.
    /// Every later communicating call of this session fails. Best effort: it never waits for
    /// a peer, and does nothing if the session's communication has already failed (the
    /// peers have been told then).
    ///
    /// `reason` is sent in clear to every party and shown in their errors and logs: never
    /// put a secret in it (an input, a weight, a share, a revealed value). Name what failed
    /// and where, as in `"input has NaN at element 2"`.
    ///
    /// Takes `&self` like every method of this shared handle; call it between operations,
    /// not from inside one.
    pub fn abort(&self, reason: &str) {
        if let Ok(mut ctx) = self.context() {
            ctx.comm().abort(reason);
        }
    }

    /// Runs `f` with communication counted under `label` in
    /// [`comm_stats`](Self::comm_stats), unless an enclosing operation already labelled it
    /// (so `relu` counts its comparison as `relu`). A new protocol runs its steps in here,
    /// borrowing the [`context`](Self::context) inside `f`.
    ///
    /// # Errors
    /// [`MpcError::SessionBusy`] if the context is held outside `f`; `f`'s error.
    pub fn scoped<R, E: From<MpcError>>(
        &self,
        label: &str,
        f: impl FnOnce() -> Result<R, E>,
    ) -> Result<R, E> {
        self.context()?.enter(label);
        // Leaves on every way out of `f`, unwinding included, so that no label sticks.
        let _leave = Leave(self);
        f()
    }
}

/// Each pair agrees on a seed drawn by its lower rank, in one round.
fn agree_pair_seeds(
    comm: &mut dyn Communicator,
    rank: usize,
    parties: usize,
) -> Result<PairwiseSeeds> {
    let drawn: Vec<(usize, Seed)> =
        (rank + 1..parties).map(|p| Ok((p, Seed::from_os_entropy()?))).collect::<Result<_>>()?;
    let sends: Vec<(usize, &[u8])> =
        drawn.iter().map(|(p, s)| (*p, &s.expose_bytes()[..])).collect();
    let lower: Vec<usize> = (0..rank).collect();
    let got = comm.step(Op::new(OpKind::PointToPoint), &sends, &lower)?;
    let mut pairs = drawn;
    for (&peer, bytes) in lower.iter().zip(got) {
        let arr: [u8; SEED_LEN] = bytes.as_slice().try_into().map_err(|_| MpcError::Malformed {
            op: "setup",
            peer,
            reason: format!("pair seed of {} bytes", bytes.len()),
        })?;
        pairs.push((peer, Seed::from_bytes(arr)));
    }
    Ok(PairwiseSeeds::from_peer_seeds(rank, parties, pairs)?)
}

/// Leaves a labelled region of [`Session::scoped`] when dropped.
struct Leave<'a>(&'a Session);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if let Ok(mut ctx) = self.0.inner.context.try_borrow_mut() {
            ctx.leave();
        }
    }
}
