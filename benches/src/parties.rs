//! Two parties as threads of this process over loopback TCP, one thread each (a one-thread
//! rayon pool per party), each with a securely set-up session (fresh pairwise seeds, as a
//! deployment would; not timed), as the network rows measure them.

use std::time::Duration;

use cloak_comm::runner::run_parties;
use cloak_comm::{Communicator, NetProfile, TcpComm};
use cloak_dealer::{PreprocessHandle, Preprocessed, TrustedFirstParty};
use cloak_mpc::{Session, SessionConfig};

/// How the two parties are set up.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// Mutual TLS on the link.
    pub tls: bool,
    /// The network the link imitates (`None`: bare loopback).
    pub net: Option<NetProfile>,
    /// The sessions' configuration (strategies).
    pub config: SessionConfig,
}

/// Runs `party` at both parties over loopback TCP, under mutual TLS when `tls`, and returns
/// their results in rank order.
pub fn two_parties_tcp_secured<R: Send>(
    timeout: Duration,
    tls: bool,
    party: impl Fn(&Session) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    let setup = Setup { tls, ..Setup::default() };
    two_parties_tcp(timeout, &setup, |s, _| party(s))
}

/// Runs `party` at both parties set up as `setup`, each with a trusted-first-party dealer
/// wrapped in [`Preprocessed`] (which passes requests through until its handle records a
/// pass and [`Context::prepare_dealer`](cloak_mpc::primitives::Context::prepare_dealer)
/// obtains that pass's material ahead of time).
pub fn two_parties_tcp<R: Send>(
    timeout: Duration,
    setup: &Setup,
    party: impl Fn(&Session, &PreprocessHandle) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    let configs = crate::comm::pair_configs(setup.tls, timeout, setup.net);
    let comms = TcpComm::create_local_each(&configs).map_err(|e| e.to_string())?;
    let outcomes = run_parties(comms, |mut comm| -> Result<R, String> {
        let pool =
            rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| e.to_string())?;
        pool.install(|| {
            let tfp = TrustedFirstParty::setup(&mut comm as &mut dyn Communicator, 2)
                .map_err(|e| e.to_string())?;
            let (dealer, handle) = Preprocessed::new(tfp);
            let config = SessionConfig { device: crate::device::chosen(), ..setup.config.clone() };
            let s = Session::with_dealer(Box::new(comm), config, Box::new(dealer))
                .map_err(|e| e.to_string())?;
            party(&s, &handle)
        })
    });
    outcomes.into_iter().map(|o| o.map_err(|e| e.to_string())).collect()
}

/// As [`two_parties_tcp_secured`], with sessions of `config`.
pub fn two_parties_tcp_with<R: Send>(
    config: &SessionConfig,
    timeout: Duration,
    tls: bool,
    party: impl Fn(&Session) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    let setup = Setup { tls, config: config.clone(), ..Setup::default() };
    two_parties_tcp(timeout, &setup, |s, _| party(s))
}
