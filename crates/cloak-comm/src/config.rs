//! Settings shared by every communicator.

use std::time::Duration;

/// How long to wait and how much to accept.
///
/// The defaults suit a deployment over a real network. Tests should shorten `timeout` and
/// `connect_timeout` to a second or two so that a failure shows up quickly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommConfig {
    /// The longest any single wait may last without progress (no byte moved to or from the
    /// peers that this party is waiting on) before it fails with
    /// [`Timeout`](crate::CommError::Timeout). It bounds how long a stalled or dead peer can
    /// keep the others waiting; it must exceed the largest compute skew between parties.
    pub timeout: Duration,
    /// How long to keep trying to reach every peer while building the TCP mesh.
    pub connect_timeout: Duration,
    /// The largest message accepted, in bytes. A peer announcing more is rejected with
    /// [`TooLarge`](crate::CommError::TooLarge) before anything is allocated, so a corrupt
    /// length cannot exhaust memory.
    pub max_message: u64,
    /// How long a TCP wait keeps polling without sleeping after the last progress. Waking a
    /// sleeping thread costs tens of microseconds (far more in virtual machines), which
    /// dominates a round on a fast network; spinning briefly trades a little CPU for it.
    /// Zero disables spinning (best when parties share too few cores).
    pub spin: Duration,
    /// How many bytes of accepted but unsent messages [`TcpComm`](crate::TcpComm) may hold
    /// for one peer before a new send to that peer waits for the peer to read. Sends are
    /// buffered (see [`Communicator`](crate::Communicator)): a send returns once its message
    /// is queued, and its unsent tail is copied into a per-peer queue that later calls drain.
    /// This bounds that queue: a send is accepted while at most `send_buffer` bytes to its
    /// peer are waiting, so a party holds at most `send_buffer + max_message` bytes per peer
    /// (beyond the kernel's socket buffers). A program in which one party leaves more than
    /// this unread by a peer while that peer waits on something the sender has not yet sent
    /// times out on TCP, though it would finish over [`LocalComm`](crate::LocalComm), whose
    /// buffers are unbounded.
    pub send_buffer: u64,
}

impl Default for CommConfig {
    fn default() -> Self {
        CommConfig {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(60),
            max_message: 1 << 32,
            spin: Duration::from_micros(50),
            send_buffer: 64 << 20,
        }
    }
}

impl CommConfig {
    /// The defaults with both timeouts set to `timeout`: what tests want.
    pub fn with_timeouts(timeout: Duration) -> Self {
        CommConfig { timeout, connect_timeout: timeout, ..CommConfig::default() }
    }
}
