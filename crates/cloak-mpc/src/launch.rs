//! Starting sessions: from launcher variables over TCP, or all parties on this machine.

use cloak_comm::runner::{PartyFailure, run_threads};
use cloak_comm::{CommConfig, Communicator, TcpComm};

use crate::config::{DealerKind, SessionConfig};
use crate::error::{MpcError, Result};
use crate::session::Session;

impl SessionConfig {
    /// The communicator settings this configuration implies (its timeout for every step,
    /// and its network profile).
    #[must_use]
    pub fn comm_config(&self) -> CommConfig {
        CommConfig::with_timeouts(self.timeout).with_network(self.network)
    }
}

impl Session {
    /// Joins the TCP mesh described by this process's launcher variables (`RANK`,
    /// `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`, or torchrun / SLURM / Open MPI
    /// equivalents) with the configuration's timeout, and sets the session up securely
    /// ([`Session::setup`]). With a third-party dealer, the dealer process is the last rank
    /// and runs [`cloak_dealer::run_dealer`] instead.
    ///
    /// # Errors
    /// A rendezvous failure, or as [`Session::setup`].
    pub fn from_env(config: SessionConfig) -> Result<Session> {
        let comm = TcpComm::from_env(&config.comm_config())?;
        Session::setup(Box::new(comm), config)
    }
}

/// Each party's outcome, in rank order.
pub type PartyOutcomes<R, E = MpcError> = Vec<std::result::Result<R, PartyFailure<E>>>;

/// Runs `parties` parties as threads of this process over in-process channels, each with
/// a securely set-up session (fresh pairwise seeds; with
/// [`DealerKind::TrustedThirdParty`] one more thread plays the dealer), and returns each
/// party's result. For one-machine experiments and tests.
///
/// A party whose `f` fails tells the others why before it stops ([`Session::abort`] with
/// the error's message), so their errors carry its reason, not only a disconnection. For a
/// closure with its own error type, use [`run_local_typed`].
#[must_use]
pub fn run_local<R, F>(parties: usize, config: &SessionConfig, f: F) -> PartyOutcomes<R>
where
    R: Send,
    F: Fn(&Session) -> Result<R> + Sync,
{
    run_local_typed(parties, config, f)
}

/// [`run_local`] for a closure that fails with its own error type `E`, into which the
/// protocol layer's errors convert (a layer above keeps its error enum; no conversion into
/// [`MpcError`] by hand). The failing party announces `E`'s message to the others.
#[must_use]
pub fn run_local_typed<R, E, F>(parties: usize, config: &SessionConfig, f: F) -> PartyOutcomes<R, E>
where
    R: Send,
    E: From<MpcError> + std::fmt::Display + Send,
    F: Fn(&Session) -> std::result::Result<R, E> + Sync,
{
    run_local_with(parties, config, f)
        .into_iter()
        .take(parties)
        .map(|o| o.map(|r| r.unwrap_or_else(|| unreachable!("computing parties return Some"))))
        .collect()
}

/// Serves a session as its third-party dealer until every party has closed
/// ([`cloak_dealer::run_dealer_with`]), with the custom correlations of Cloak's own
/// strategies registered (the function-secret-sharing keys of
/// [`primitives::fss_correlations`](crate::primitives::fss_correlations)), so that any
/// built-in comparison or truncation strategy can run with a third-party dealer.
///
/// # Errors
/// A communication or dealer error.
pub fn run_dealer(
    comm: &mut dyn Communicator,
    parties: usize,
) -> Result<cloak_dealer::DealerStats, MpcError> {
    let correlations = crate::primitives::fss_correlations()?;
    Ok(cloak_dealer::run_dealer_with(comm, parties, &correlations)?)
}

/// [`run_local`] for a closure with its own error type, into which the protocol layer's
/// errors convert (a layer above, or an application, keeps its error enum: no conversion
/// into [`MpcError`] by hand), and a failing party announces its error to the others, as
/// [`run_local`] does. Returns every rank's outcome, the dealer's too (`Ok(None)` when it
/// served to the end), so that a caller can report a dealer's failure as the cause.
#[must_use]
pub fn run_local_with<R, E, F>(
    parties: usize,
    config: &SessionConfig,
    f: F,
) -> Vec<std::result::Result<Option<R>, PartyFailure<E>>>
where
    R: Send,
    E: From<MpcError> + std::fmt::Display + Send,
    F: Fn(&Session) -> std::result::Result<R, E> + Sync,
{
    let ttp = config.dealer == DealerKind::TrustedThirdParty;
    let world = if ttp { parties + 1 } else { parties };
    run_threads(world, &config.comm_config(), |mut comm| -> std::result::Result<Option<R>, E> {
        if ttp && comm.rank() == parties {
            run_dealer(&mut comm as &mut dyn Communicator, parties)?;
            return Ok(None);
        }
        let session = Session::setup(Box::new(comm), config.clone())?;
        let out = match f(&session) {
            Ok(out) => out,
            Err(e) => {
                session.abort(&e.to_string());
                return Err(e);
            }
        };
        session.close()?;
        Ok(Some(out))
    })
}
