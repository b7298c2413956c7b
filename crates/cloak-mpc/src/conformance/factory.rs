//! How the suite makes the sessions of the implementation under test.

use std::sync::Arc;
use std::time::Duration;

use cloak_comm::runner::{PartyFailure, run_threads};
use cloak_comm::{CommConfig, Communicator};
use cloak_dealer::Dealer;

use super::Failure;
use super::checks::Check;
use crate::config::{DealerKind, SessionConfig};
use crate::error::Result;
use crate::session::Session;

/// Makes one party's session for a run of `parties` computing parties over a communicator
/// of `parties + extra_ranks()` ranks (channels in one process).
pub trait Factory: Sync {
    /// Whether the implementation runs with this many parties (a strategy for two parties
    /// only says no to three); the built-in factories ask the configuration's strategies.
    fn supports(&self, parties: usize) -> bool;

    /// Ranks past the computing parties that the implementation needs (a third-party
    /// dealer's). The default is none.
    fn extra_ranks(&self) -> usize {
        0
    }

    /// What an extra rank runs (a dealer's service loop) until the parties are done.
    ///
    /// # Errors
    /// The service's failure.
    fn serve(&self, comm: Box<dyn Communicator>, parties: usize) -> Result<()> {
        let _ = (comm, parties);
        Ok(())
    }

    /// The session of rank `comm.rank()` among `parties` computing parties.
    ///
    /// # Errors
    /// A set-up failure.
    fn session(&self, comm: Box<dyn Communicator>, parties: usize) -> Result<Session>;
}

/// Sessions set up securely from a configuration ([`Session::setup`]): the built-in dealers
/// (with a third-party dealer the last rank serves) and any strategies.
#[derive(Clone, Debug)]
pub struct Configured {
    config: SessionConfig,
}

impl Configured {
    /// Sessions from `config`.
    #[must_use]
    pub fn new(config: SessionConfig) -> Self {
        Self { config }
    }
}

impl Factory for Configured {
    fn supports(&self, parties: usize) -> bool {
        strategies_accept(&self.config, parties)
    }

    fn extra_ranks(&self) -> usize {
        usize::from(self.config.dealer == DealerKind::TrustedThirdParty)
    }

    fn serve(&self, mut comm: Box<dyn Communicator>, parties: usize) -> Result<()> {
        crate::run_dealer(comm.as_mut(), parties)?;
        Ok(())
    }

    fn session(&self, comm: Box<dyn Communicator>, _parties: usize) -> Result<Session> {
        Session::setup(comm, self.config.clone())
    }
}

/// The function a [`WithDealer`] makes each party's dealer with: it gets the communicator
/// (to set the provider up over it), the rank and the number of parties.
pub type MakeDealer =
    dyn Fn(&mut dyn Communicator, usize, usize) -> Result<Box<dyn Dealer>> + Send + Sync;

/// Sessions with a caller-supplied dealer ([`Session::with_dealer`]) and the strategies of
/// a configuration.
#[derive(Clone)]
pub struct WithDealer {
    config: SessionConfig,
    make: Arc<MakeDealer>,
}

impl std::fmt::Debug for WithDealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithDealer").field("config", &self.config).finish_non_exhaustive()
    }
}

impl WithDealer {
    /// Sessions whose dealer `make(comm, rank, parties)` returns, with `config`'s
    /// strategies and precision.
    pub fn new(
        config: SessionConfig,
        make: impl Fn(&mut dyn Communicator, usize, usize) -> Result<Box<dyn Dealer>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self { config, make: Arc::new(make) }
    }
}

impl Factory for WithDealer {
    fn supports(&self, parties: usize) -> bool {
        strategies_accept(&self.config, parties)
    }

    fn session(&self, mut comm: Box<dyn Communicator>, parties: usize) -> Result<Session> {
        let rank = comm.rank();
        let dealer = (self.make)(comm.as_mut(), rank, parties)?;
        Session::with_dealer(comm, self.config.clone(), dealer)
    }
}

fn strategies_accept(config: &SessionConfig, parties: usize) -> bool {
    config.truncation.check(parties).is_ok() && config.comparison.check(parties).is_ok()
}

/// Runs `check` at every party and the factory's extra ranks; the first failure.
pub(super) fn run_check(
    factory: &dyn Factory,
    check: &Check,
    parties: usize,
) -> Result<(), Failure> {
    let fail = |reason: String| Failure { check: check.name, parties, reason };
    let world = parties + factory.extra_ranks();
    let comm_config = CommConfig::with_timeouts(Duration::from_secs(20));
    let outcomes = run_threads(world, &comm_config, |comm| -> Result<Option<String>> {
        if comm.rank() >= parties {
            factory.serve(Box::new(comm), parties)?;
            return Ok(None);
        }
        let session = factory.session(Box::new(comm), parties)?;
        let verdict = match (check.run)(&session) {
            Ok(verdict) => verdict,
            Err(e) => {
                // Tell the others at once rather than leave them to their timeout.
                session.abort(&format!("the {} check failed", check.name));
                return Err(e);
            }
        };
        session.close()?;
        Ok(verdict.err())
    });
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(None) => {}
            Ok(Some(mismatch)) => return Err(fail(format!("party {rank}: {mismatch}"))),
            Err(PartyFailure::Error(e)) => return Err(fail(format!("party {rank}: {e}"))),
            Err(PartyFailure::Panicked(m)) => {
                return Err(fail(format!("party {rank} panicked: {m}")));
            }
        }
    }
    Ok(())
}
