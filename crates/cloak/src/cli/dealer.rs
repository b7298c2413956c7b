//! `cloak dealer`: the trusted third party as its own process, the last rank of the launch.
//! It hands the computing parties correlated randomness (Beaver triples, truncation pairs,
//! random bits) and never sees an input, a weight or a share of one.

use std::time::{Duration, Instant};

use clap::Args;
use cloak::comm::{CommConfig, Communicator, Launch, Security, TcpComm};

use super::party::parse_parties;
use super::{CliError, CliResult, LaunchArgs, UNUSABLE, tell_others};

#[derive(Debug, Args)]
pub(crate) struct DealerArgs {
    /// Computing parties (the dealer is rank PARTIES, the world PARTIES + 1).
    #[arg(long, value_parser = parse_parties)]
    pub parties: Option<usize>,
    #[command(flatten)]
    pub launch: LaunchArgs,
    /// Seconds to wait for the parties to connect; then up to twice that for each of party
    /// 0's requests (party 0 may itself wait that long for another party first).
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

pub(crate) fn run(args: &DealerArgs) -> CliResult<()> {
    let launch = args.launch.resolve(args.parties.map(|p| p + 1))?;
    let parties = launch.world_size.saturating_sub(1);
    if launch.rank != parties || args.parties.is_some_and(|p| p != parties) {
        return Err(CliError::new(
            UNUSABLE,
            format!(
                "the dealer is the last rank: rank {parties} of a world of {}, not rank {}{}",
                launch.world_size,
                launch.rank,
                args.parties.map(|p| format!(" (--parties says {p})")).unwrap_or_default()
            ),
        ));
    }
    let security = args.launch.security(&launch)?;
    serve(&launch, super::seconds("--timeout", args.timeout)?, security, !args.quiet)
}

/// Joins the launch and deals until the parties close the session.
pub(crate) fn serve(
    launch: &Launch,
    timeout: Duration,
    security: Security,
    verbose: bool,
) -> CliResult<()> {
    let parties = launch.world_size.saturating_sub(1);
    if !(2..=8).contains(&parties) {
        return Err(CliError::new(
            UNUSABLE,
            format!("{parties} computing parties; Cloak runs 2 to 8"),
        ));
    }
    let start = Instant::now();
    // The dealer waits on party 0 alone, which may itself be waiting up to `timeout` for
    // another party before its next request. Waiting as long would race party 0's verdict
    // (and win, having started first): a party that dropped off the network would go
    // unnamed, and party 0 be blamed for stalling. Waiting twice as long lets party 0 give
    // up first and tell the dealer whom it waited for.
    let config = CommConfig {
        security,
        timeout: timeout.saturating_mul(2),
        network: cloak::comm::NetProfile::from_env()?,
        ..CommConfig::with_timeouts(timeout)
    };
    let mut comm = TcpComm::from_launch(launch, &config)?;
    let stats = cloak::mpc::run_dealer(&mut comm as &mut dyn Communicator, parties)
        .map_err(|e| tell_others(e.into(), |reason| comm.abort(reason)))?;
    if verbose {
        let sent = comm.stats().total();
        println!(
            "dealer (rank {parties}) served {} requests ({} words) to {parties} parties in {:.1} ms; sent {} bytes",
            stats.requests,
            stats.words,
            start.elapsed().as_secs_f64() * 1e3,
            sent.bytes_sent
        );
    }
    Ok(())
}
