//! Two parties as threads of this process over loopback TCP, one thread each (a one-thread
//! rayon pool per party), each with a securely set-up session (fresh pairwise seeds, as a
//! deployment would; not timed), as the network rows measure them.

use std::time::Duration;

use cloak_comm::TcpComm;
use cloak_comm::runner::run_parties;
use cloak_mpc::{Session, SessionConfig};

/// Runs `party` at both parties over loopback TCP, under mutual TLS when `tls`, and returns
/// their results in rank order.
pub fn two_parties_tcp_secured<R: Send>(
    timeout: Duration,
    tls: bool,
    party: impl Fn(&Session) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    let comms = TcpComm::create_local_each(&crate::comm::pair_configs(tls, timeout, None))
        .map_err(|e| e.to_string())?;
    let outcomes = run_parties(comms, |comm| -> Result<R, String> {
        let pool =
            rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| e.to_string())?;
        pool.install(|| {
            let s = Session::setup(Box::new(comm), SessionConfig::default())
                .map_err(|e| e.to_string())?;
            party(&s)
        })
    });
    outcomes.into_iter().map(|o| o.map_err(|e| e.to_string())).collect()
}
