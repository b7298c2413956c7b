//! The conformance suite of [`Communicator`]: test support for every transport.
//!
//! Protocols are written once against [`Communicator`], so every transport (channels, TCP,
//! TLS, and any added later) must agree on what each call delivers, what it costs and how it
//! fails. This suite states that contract as checks that run `world` parties as threads over
//! endpoints from a factory, so that a transport proves itself in one line:
//!
//! ```ignore
//! cloak_comm::communicator_conformance_tests!(channels, |world, config| {
//!     Ok(cloak_comm::LocalComm::create(world, config).into_iter().map(boxed).collect())
//! });
//! ```
//!
//! which expands to one `#[test]` per check and per world size (2 and 3 parties; name others
//! with `communicator_conformance_tests!(name, factory, [w4: 4])`). The checks can also be
//! called directly ([`checks`], [`run_all`]).
//!
//! The checks cover point-to-point messages, every collective, messages from empty to
//! several MiB, the statistics each call records under its label, typed errors for bad
//! arguments and diverging programs, and failures that must end every party's wait with a
//! typed error naming the culprit: a peer that aborts, and a peer that drops its endpoint.
//! They are tests: they panic (naming the check, the world and the party) rather than
//! return errors.

mod accounting;
mod collectives;
mod faults;

use std::time::Duration;

use crate::runner::{Outcomes, PartyFailure, run_parties};
use crate::{CommConfig, CommError, Communicator};

pub use accounting::statistics;
pub use collectives::{
    all_gather, all_reduce, barrier, broadcast, exchange, exchange_all, gather, message_sizes,
    point_to_point, ranks,
};
pub use faults::{aborting_peer, bad_arguments, dropped_peer, out_of_sync};

/// Makes the connected endpoints of one `world`-party network (entry `r` is rank `r`) with
/// `config`'s timeouts and limits; a transport with its own settings (TLS identities, say)
/// adds them to `config`.
pub type Factory =
    dyn Fn(usize, &CommConfig) -> Result<Vec<Box<dyn Communicator>>, CommError> + Sync;

/// One check: the factory and the number of parties (at least 2).
pub type Check = fn(&Factory, usize);

/// Every check, by name, in the order the macro lists them.
pub fn checks() -> Vec<(&'static str, Check)> {
    vec![
        ("ranks", ranks),
        ("point_to_point", point_to_point),
        ("exchange", exchange),
        ("exchange_all", exchange_all),
        ("broadcast", broadcast),
        ("gather", gather),
        ("all_gather", all_gather),
        ("all_reduce", all_reduce),
        ("barrier", barrier),
        ("message_sizes", message_sizes),
        ("statistics", statistics),
        ("bad_arguments", bad_arguments),
        ("out_of_sync", out_of_sync),
        ("aborting_peer", aborting_peer),
        ("dropped_peer", dropped_peer),
    ]
}

/// Runs every check with `world` parties.
pub fn run_all(make: &Factory, world: usize) {
    for (_, check) in checks() {
        check(make, world);
    }
}

/// Boxes an endpoint, for factories: `LocalComm::create(n, c).into_iter().map(boxed)`.
pub fn boxed<C: Communicator + 'static>(comm: C) -> Box<dyn Communicator> {
    Box::new(comm)
}

/// The timeout of the checks that must succeed: long enough for a loaded test machine.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `f` on every party of a fresh `world`-party network with `timeout`, as threads.
fn run<R: Send>(
    make: &Factory,
    world: usize,
    timeout: Duration,
    f: impl Fn(&mut dyn Communicator) -> Result<R, CommError> + Sync,
) -> Outcomes<R, CommError> {
    assert!(world >= 2, "the communicator conformance checks need at least 2 parties");
    let config = CommConfig::with_timeouts(timeout);
    let comms = make(world, &config)
        .unwrap_or_else(|e| panic!("the factory could not make {world} endpoints: {e}"));
    assert_eq!(comms.len(), world, "the factory made the wrong number of endpoints");
    run_parties(comms, |mut c| f(&mut *c))
}

/// Every party's result, or a panic naming `what` and the first party that failed.
fn all_ok<R>(what: &str, world: usize, outcomes: Outcomes<R, CommError>) -> Vec<R> {
    outcomes
        .into_iter()
        .enumerate()
        .map(|(rank, o)| match o {
            Ok(r) => r,
            Err(PartyFailure::Error(e)) => panic!("{what} ({world} parties): party {rank}: {e}"),
            Err(PartyFailure::Panicked(m)) => {
                panic!("{what} ({world} parties): party {rank} panicked: {m}")
            }
        })
        .collect()
}

/// A recognisable pseudo-random payload (xorshift64), so that misplaced, truncated or
/// reordered bytes are caught.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Expands to one `#[test]` per conformance check and per world size, in a module `$name`,
/// each on fresh endpoints from `$factory`, an expression of a type that fits
/// [`conformance::Factory`](crate::conformance::Factory) (a closure
/// `|world, config| -> Result<Vec<Box<dyn Communicator>>, CommError>`). With no list, the
/// tests run for 2 and 3 parties (submodules `w2` and `w3`); others are named:
/// `communicator_conformance_tests!(name, factory, [w5: 5])`.
#[macro_export]
macro_rules! communicator_conformance_tests {
    (@tests $world:expr; $($check:ident),+) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::$check(&factory, $world);
            }
        )+
    };
    ($name:ident, $factory:expr, [$($w:ident : $world:expr),+ $(,)?]) => {
        mod $name {
            $(
                mod $w {
                    #[allow(unused_imports)]
                    use super::super::*;

                    fn factory(
                        world: usize,
                        config: &$crate::CommConfig,
                    ) -> ::std::result::Result<
                        ::std::vec::Vec<::std::boxed::Box<dyn $crate::Communicator>>,
                        $crate::CommError,
                    > {
                        ($factory)(world, config)
                    }

                    $crate::communicator_conformance_tests!(@tests $world;
                        ranks, point_to_point, exchange, exchange_all, broadcast, gather,
                        all_gather, all_reduce, barrier, message_sizes, statistics,
                        bad_arguments, out_of_sync, aborting_peer, dropped_peer);
                }
            )+
        }
    };
    ($name:ident, $factory:expr $(,)?) => {
        $crate::communicator_conformance_tests!($name, $factory, [w2: 2, w3: 3]);
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CommStats, LocalComm, Op};

    /// Channels that lose the last byte of every message over 1 MiB: the suite must notice.
    struct Truncating(LocalComm);

    impl Communicator for Truncating {
        fn rank(&self) -> usize {
            self.0.rank()
        }
        fn world_size(&self) -> usize {
            self.0.world_size()
        }
        fn transfer(
            &mut self,
            op: Op,
            sends: &[(usize, &[u8])],
            recv_from: &[usize],
        ) -> Result<Vec<Vec<u8>>, CommError> {
            let mut got = self.0.transfer(op, sends, recv_from)?;
            for m in got.iter_mut().filter(|m| m.len() > 1 << 20) {
                m.pop();
            }
            Ok(got)
        }
        fn stats(&self) -> &CommStats {
            self.0.stats()
        }
        fn stats_mut(&mut self) -> &mut CommStats {
            self.0.stats_mut()
        }
        fn abort(&mut self, reason: &str) {
            self.0.abort(reason)
        }
    }

    fn truncating(
        world: usize,
        config: &CommConfig,
    ) -> Result<Vec<Box<dyn Communicator>>, CommError> {
        Ok(LocalComm::create(world, config).into_iter().map(|c| boxed(Truncating(c))).collect())
    }

    #[test]
    fn the_suite_catches_lost_bytes() {
        assert!(std::panic::catch_unwind(|| message_sizes(&truncating, 2)).is_err());
        // Small messages are untouched: the checks that use only those pass.
        gather(&truncating, 2);
        statistics(&truncating, 3);
    }

    #[test]
    fn the_check_list_covers_every_check_once() {
        let names: Vec<_> = checks().into_iter().map(|(n, _)| n).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert_eq!(names.len(), 15);
    }
}
