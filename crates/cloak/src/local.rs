//! All parties on this machine, as threads: for experiments, notebooks-style programs and
//! tests. Deployments run one party per process ([`Session::setup`] over
//! [`cloak_comm::TcpComm`], or the `cloak party` command).

use cloak_comm::runner::PartyFailure;
use cloak_mpc::{Session, SessionConfig};

use crate::error::{Error, Result};

/// Runs `parties` computing parties as threads over in-process channels, each with a
/// securely set-up session (fresh pairwise seeds; with
/// [`DealerKind::TrustedThirdParty`] one more thread plays the dealer), calls `f` at each,
/// and returns every party's result in rank order.
///
/// When parties fail, the error returned is the one that stopped the run: a party's own
/// failure rather than the disconnections and refusals it caused at the others
/// ([`Error::is_consequence`]), wrapped in [`Error::Party`] with its rank.
///
/// # Errors
/// Fewer than 2 parties, or the failure of a party (or of the dealer).
pub fn run_local<R, F>(parties: usize, config: &SessionConfig, f: F) -> Result<Vec<R>>
where
    R: Send,
    F: Fn(&Session) -> Result<R> + Sync,
{
    if parties < 2 {
        return Err(Error::invalid(
            "parties",
            format!("{parties}; secret sharing needs at least 2"),
        ));
    }
    let outcomes = cloak_mpc::run_local_with(parties, config, f);
    let mut results = Vec::with_capacity(parties);
    let mut failures = Vec::new();
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(Some(r)) => results.push(r),
            Ok(None) => {}
            Err(PartyFailure::Error(e)) => {
                failures.push(Error::Party { rank, source: Box::new(e) })
            }
            Err(PartyFailure::Panicked(message)) => {
                failures.push(Error::Panicked { rank, message })
            }
        }
    }
    match root_cause(failures) {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

/// The failure to report among several: the first (lowest rank) that is not a consequence
/// of another party's, else the first.
pub(crate) fn root_cause(mut failures: Vec<Error>) -> Option<Error> {
    let i = failures.iter().position(|e| !e.is_consequence()).unwrap_or(0);
    (i < failures.len()).then(|| failures.swap_remove(i))
}
