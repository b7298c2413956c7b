//! What both transports share: the per-peer link table, the guard around every transfer
//! (refuse after a failure, validate the arguments, refuse oversized messages, and poison the
//! communicator on any error), and what a failing communicator tells its peers.

use std::fmt;

use crate::op::validate_transfer;
use crate::wire::{sanitize_reason, truncate_reason};
use crate::{CommConfig, CommError, CommStats, Op};

/// How the reason of a notice naming a party that stalled begins (see
/// [`AbortNotice::for_error`]).
pub(crate) const STALLED: &str = "stalled: ";

/// What a failing party tells every peer before closing its link: who failed first, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AbortNotice {
    /// Rank of the party that failed first.
    pub(crate) origin: usize,
    /// Why, at most [`MAX_ABORT_REASON`](crate::wire::MAX_ABORT_REASON) bytes.
    pub(crate) reason: String,
}

impl AbortNotice {
    /// The notice party `rank` sends when it fails with `error`: an abort it received is
    /// passed on unchanged; a peer that stalled or went away, or (while the mesh is being
    /// built) never came or could not be reached, is named as the origin (it is the one that
    /// failed, and every party should name it, not the neighbour that noticed first); any
    /// other error is this party's own failure, described by its text (which names ranks,
    /// tags and lengths, never payload bytes).
    pub(crate) fn for_error(rank: usize, error: &CommError) -> Self {
        let (origin, reason) = match error {
            CommError::Aborted { origin, reason, .. } => (*origin, reason.clone()),
            CommError::Timeout { peer, after } => {
                (*peer, format!("{STALLED}kept party {rank} waiting for {after:?}"))
            }
            CommError::Disconnected { peer } => (*peer, "disconnected".to_owned()),
            CommError::NotConnected { missing, after, .. } if !missing.is_empty() => {
                (missing[0], format!("did not connect to party {rank} within {after:?}"))
            }
            CommError::Connect { peer, after, source, .. } => {
                (*peer, format!("party {rank} could not connect to it within {after:?}: {source}"))
            }
            other => (rank, other.to_string()),
        };
        AbortNotice { origin, reason: truncate_reason(&reason).to_owned() }
    }
}

/// The state every transport keeps besides its links' internals.
pub(crate) struct Endpoint<L> {
    pub(crate) rank: usize,
    pub(crate) world: usize,
    pub(crate) config: CommConfig,
    /// Indexed by peer rank; `None` for this party itself and after a failure.
    pub(crate) links: Vec<Option<L>>,
    pub(crate) stats: CommStats,
    /// The first error, as text, once the communicator has failed.
    failed: Option<String>,
}

impl<L> Endpoint<L> {
    /// An endpoint of a `links.len()`-party network.
    pub(crate) fn new(rank: usize, config: &CommConfig, links: Vec<Option<L>>) -> Self {
        Endpoint {
            rank,
            world: links.len(),
            config: config.clone(),
            links,
            stats: CommStats::default(),
            failed: None,
        }
    }

    /// The link to `peer`. Validation guarantees `peer` is another valid rank, so a missing
    /// link means the communicator failed; that is reported rather than panicking.
    pub(crate) fn link(&mut self, peer: usize) -> Result<&mut L, CommError> {
        self.links
            .get_mut(peer)
            .and_then(Option::as_mut)
            .ok_or_else(|| CommError::Failed { cause: format!("no link to peer {peer}") })
    }

    /// [`CommError::Failed`] if the communicator failed earlier.
    pub(crate) fn check_usable(&self) -> Result<(), CommError> {
        match &self.failed {
            Some(cause) => Err(CommError::Failed { cause: cause.clone() }),
            None => Ok(()),
        }
    }

    /// Whether the communicator failed earlier.
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Records `error` as the cause of failure (the first one stays) and hands over every
    /// link that is still open, for the transport to close.
    fn fail(&mut self, error: &CommError) -> Vec<L> {
        self.failed.get_or_insert_with(|| error.to_string());
        self.links.iter_mut().filter_map(Option::take).collect()
    }
}

impl<L: fmt::Debug> fmt::Debug for Endpoint<L> {
    /// Ranks, links (which print only lengths and counters, never payload bytes) and the
    /// failure; not the statistics, which can be long.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("rank", &self.rank)
            .field("world", &self.world)
            .field("links", &self.links)
            .field("failed", &self.failed)
            .finish()
    }
}

/// A transport as seen by [`guarded_transfer`].
pub(crate) trait Transport {
    /// The state of the link to one peer.
    type Link;

    /// The shared state.
    fn endpoint(&mut self) -> &mut Endpoint<Self::Link>;

    /// Moves the messages of one transfer whose arguments have been checked.
    fn run(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError>;

    /// Closes the links after a failure, first sending `notice` on each where that can be
    /// done without waiting more than a few milliseconds, so that every peer notices at once
    /// (instead of after its own timeout) and learns who failed first.
    fn close_links(&mut self, links: Vec<Self::Link>, notice: &AbortNotice);
}

/// Fails the communicator with `error`: records it, tells every peer who failed first and
/// why, and closes every link. Later calls return [`CommError::Failed`].
pub(crate) fn fail<T: Transport>(transport: &mut T, error: &CommError) {
    let endpoint = transport.endpoint();
    let notice = AbortNotice::for_error(endpoint.rank, error);
    let links = endpoint.fail(error);
    transport.close_links(links, &notice);
}

/// [`Communicator::abort`](crate::Communicator::abort) for every transport: this party fails
/// because of `reason`, and says so to every peer. Nothing happens after an earlier failure,
/// which the peers have been told about already.
pub(crate) fn abort<T: Transport>(transport: &mut T, reason: &str) {
    let endpoint = transport.endpoint();
    if endpoint.has_failed() {
        return;
    }
    let rank = endpoint.rank;
    fail(
        transport,
        &CommError::Aborted { origin: rank, via: rank, reason: sanitize_reason(reason.as_bytes()) },
    );
}

/// [`Communicator::transfer`](crate::Communicator::transfer) for every transport: refuses to
/// run after a failure; reports invalid arguments without touching the connections; refuses
/// a message over `max_message` ([`CommError::TooLarge`]) and, like every other error of the
/// transfer itself, fails the communicator, because its peers already expect that message.
pub(crate) fn guarded_transfer<T: Transport>(
    transport: &mut T,
    op: Op,
    sends: &[(usize, &[u8])],
    recv_from: &[usize],
) -> Result<Vec<Vec<u8>>, CommError> {
    let endpoint = transport.endpoint();
    endpoint.check_usable()?;
    validate_transfer(endpoint.rank, endpoint.world, sends, recv_from)?;
    let max = endpoint.config.max_message;
    let result = match sends.iter().find(|(_, data)| data.len() as u64 > max) {
        Some(&(peer, data)) => Err(CommError::TooLarge { peer, len: data.len() as u64, max }),
        None => transport.run(op, sends, recv_from),
    };
    if let Err(error) = &result {
        fail(transport, error);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_notice_names_the_party_that_failed_first() {
        let notice = |e: CommError| {
            let n = AbortNotice::for_error(1, &e);
            (n.origin, n.reason)
        };
        let relayed = CommError::Aborted { origin: 3, via: 2, reason: "NaN at element 2".into() };
        assert_eq!(notice(relayed), (3, "NaN at element 2".to_owned()));
        let stalled = CommError::Timeout { peer: 2, after: Duration::from_millis(300) };
        assert_eq!(notice(stalled), (2, "stalled: kept party 1 waiting for 300ms".to_owned()));
        assert_eq!(notice(CommError::Disconnected { peer: 0 }), (0, "disconnected".to_owned()));
        let missing = CommError::NotConnected {
            missing: vec![3, 4],
            after: Duration::from_secs(5),
            refused: Vec::new(),
        };
        assert_eq!(notice(missing), (3, "did not connect to party 1 within 5s".to_owned()));
        let unreachable = CommError::Connect {
            peer: 2,
            addr: "127.0.0.1:9".into(),
            after: Duration::from_secs(5),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        let (origin, reason) = notice(unreachable);
        assert_eq!(origin, 2);
        assert!(reason.starts_with("party 1 could not connect to it within 5s: "), "{reason}");
        let own = CommError::Malformed { peer: 0, reason: "bad magic".into() };
        assert_eq!(notice(own), (1, "malformed data from peer 0: bad magic".to_owned()));
        let long = CommError::Aborted { origin: 0, via: 0, reason: "x".repeat(5000) };
        assert_eq!(notice(long).1.len(), crate::wire::MAX_ABORT_REASON);
    }
}
