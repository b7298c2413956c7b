//! What both transports share: the per-peer link table and the guard around every transfer
//! (refuse after a failure, validate the arguments, refuse oversized messages, and poison the
//! communicator on any error).

use std::fmt;

use crate::op::validate_transfer;
use crate::{CommConfig, CommError, CommStats, Op};

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

    /// Records `error` as the cause of failure and closes every link with `close`, so that
    /// every peer notices at once instead of after its own timeout.
    pub(crate) fn fail(&mut self, error: &CommError, mut close: impl FnMut(L)) {
        self.failed.get_or_insert_with(|| error.to_string());
        self.links.iter_mut().filter_map(Option::take).for_each(&mut close);
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

    /// Closes one link after a failure (by default, dropping it).
    fn close(link: Self::Link) {
        drop(link);
    }
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
        transport.endpoint().fail(error, T::close);
    }
    result
}
