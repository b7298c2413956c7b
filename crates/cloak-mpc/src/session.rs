//! `Session`: one party's context for a computation.

use std::cell::{RefCell, RefMut};
use std::rc::Rc;

use cloak_comm::{CommStats, Communicator, Op, OpKind};
use cloak_dealer::{Dealer, DealerError, DealerStats, TrustedFirstParty, TtpClient};
use cloak_prg::{PairwiseSeeds, SEED_LEN, Seed};
use cloak_ring::FixedPoint;

use crate::config::{DealerKind, SessionConfig, Truncation};
use crate::error::{MpcError, Result, invalid};

/// Label of the pairwise-seed set-up round.
const SETUP_LABEL: &str = "setup";

/// One party's context: its communicator, dealer, seeds, configuration and statistics.
///
/// Shared tensors hold a cheap handle to it (an `Rc`), so a session lives on the thread
/// that runs the party, as SPMD programs do. Every party must run the same operations in
/// the same order; a party that diverges gets a communication error naming the peer.
#[derive(Clone)]
pub struct Session {
    inner: Rc<RefCell<State>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner.try_borrow() {
            Ok(s) => f
                .debug_struct("Session")
                .field("rank", &s.rank)
                .field("parties", &s.parties)
                .field("dealer", &s.dealer.name())
                .field("config", &s.config)
                .finish_non_exhaustive(),
            Err(_) => f.write_str("Session(<in use>)"),
        }
    }
}

/// The mutable state behind a [`Session`].
pub(crate) struct State {
    pub(crate) comm: Box<dyn Communicator>,
    pub(crate) dealer: Box<dyn Dealer>,
    pub(crate) rank: usize,
    pub(crate) parties: usize,
    pub(crate) config: SessionConfig,
    pub(crate) fp: FixedPoint,
    pub(crate) przs: PairwiseSeeds,
    /// Depth of nested protocol calls: only the outermost labels the statistics.
    depth: usize,
    /// The label in force before the outermost call.
    outer_label: String,
    /// Shared counts of inputs outside the functions' domains.
    pub(crate) domain: crate::functions::DomainLog,
    /// The next persistent mask number ([`AShare::fix`](crate::AShare::fix)): every party
    /// fixes the same operands in the same order, so the numbers agree without a message.
    pub(crate) next_mask: u64,
}

impl Session {
    /// A session from its parts: a communicator whose ranks `0..parties` are the computing
    /// parties (a third-party dealer may be one more rank), a dealer, and pairwise seeds
    /// for input sharing.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`] if the parts disagree on rank or number of parties,
    /// the precision is unusable, or local truncation is asked of more than two parties.
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
        if config.truncation == Truncation::LocalShares && parties != 2 {
            return Err(invalid(
                "session",
                format!("local-share truncation needs 2 parties, not {parties}"),
            ));
        }
        let outer_label = comm.stats().label().to_owned();
        let state = State {
            comm,
            dealer,
            rank,
            parties,
            config,
            fp,
            przs,
            depth: 0,
            outer_label,
            domain: Default::default(),
            next_mask: 0,
        };
        Ok(Self { inner: Rc::new(RefCell::new(state)) })
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

    pub(crate) fn state(&self) -> RefMut<'_, State> {
        self.inner.borrow_mut()
    }

    /// Whether two handles are the same session.
    #[must_use]
    pub fn same(&self, other: &Session) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    /// This party's rank.
    #[must_use]
    pub fn rank(&self) -> usize {
        self.inner.borrow().rank
    }

    /// The number of computing parties.
    #[must_use]
    pub fn parties(&self) -> usize {
        self.inner.borrow().parties
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> SessionConfig {
        self.inner.borrow().config.clone()
    }

    /// The fixed-point encoding in use.
    #[must_use]
    pub fn fixed_point(&self) -> FixedPoint {
        self.inner.borrow().fp
    }

    /// Communication statistics so far, one row per operation label (the dealer's traffic
    /// under [`cloak_dealer::DEALER_LABEL`]).
    #[must_use]
    pub fn comm_stats(&self) -> CommStats {
        self.inner.borrow().comm.stats().clone()
    }

    /// Correlated randomness used so far, and the time spent producing it.
    #[must_use]
    pub fn dealer_stats(&self) -> DealerStats {
        *self.inner.borrow().dealer.stats()
    }

    /// Forgets the communication statistics.
    pub fn reset_stats(&self) {
        self.inner.borrow_mut().comm.reset_stats();
    }

    /// Waits until every party has reached this point (one round among the computing
    /// parties).
    ///
    /// # Errors
    /// A communication error.
    pub fn barrier(&self) -> Result<()> {
        let mut s = self.state();
        let peers = s.peers();
        let sends: Vec<(usize, &[u8])> = peers.iter().map(|&p| (p, &[][..])).collect();
        s.comm.step(Op::new(OpKind::Barrier), &sends, &peers)?;
        Ok(())
    }

    /// Ends the session: tells a networked dealer to stop. Call it once every party is done.
    ///
    /// # Errors
    /// A communication error.
    pub fn close(&self) -> Result<()> {
        let mut s = self.state();
        let State { comm, dealer, .. } = &mut *s;
        dealer.close(comm.as_mut())?;
        Ok(())
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
        self.state().comm.abort(reason);
    }

    /// Runs `f` with communication counted under `label`, unless an enclosing protocol
    /// already labelled it (so `relu` counts its comparison as `relu`).
    pub(crate) fn scoped<R>(&self, label: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
        {
            let mut s = self.state();
            if s.depth == 0 {
                s.outer_label = s.comm.stats().label().to_owned();
                s.comm.set_label(label);
            }
            s.depth += 1;
        }
        let out = f();
        let mut s = self.state();
        s.depth -= 1;
        if s.depth == 0 {
            let outer = std::mem::take(&mut s.outer_label);
            s.comm.set_label(&outer);
        }
        out
    }
}

impl State {
    /// The other computing parties.
    pub(crate) fn peers(&self) -> Vec<usize> {
        (0..self.parties).filter(|&p| p != self.rank).collect()
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
