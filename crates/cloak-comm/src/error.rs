//! The one error type of this crate.
//!
//! Every failure that involves another party names that party's rank, so that an operator
//! looking at the log of any party learns which machine broke, not just that something did.

use std::io;
use std::time::Duration;

use crate::op::MessageTag;

/// Everything that can go wrong while communicating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommError {
    /// The peer closed its connection (it exited, crashed, or gave up after its own error).
    #[error("peer {peer} disconnected")]
    Disconnected {
        /// Rank of the peer that went away.
        peer: usize,
    },

    /// The peer did not deliver (or accept) all that one call needed within the timeout,
    /// measured from when the call began.
    #[error("timed out after {after:?} waiting for peer {peer}")]
    Timeout {
        /// Rank of the (first) peer still owing data when the wait expired.
        peer: usize,
        /// How long this party waited: the configured timeout, or less when a peer that
        /// had waited on this party for the whole timeout accused it of stalling while this
        /// party had itself been waiting on `peer` for more than half of it.
        after: Duration,
    },

    /// A party failed and said so: its own work failed
    /// ([`Communicator::abort`](crate::Communicator::abort)), or its communicator did. The
    /// peer `via` sent the notice, on behalf of `origin`, the party that failed first: a
    /// party that fails because a peer aborted, stalled or disconnected passes the blame on
    /// to that peer, so every party names the same one, however the failure reached it.
    #[error("party {origin} failed: {reason}{}", reported_by(*.origin, *.via))]
    Aborted {
        /// Rank of the party that failed first.
        origin: usize,
        /// Rank of the peer from which this party learned it (`origin` itself when the
        /// notice came straight from it).
        via: usize,
        /// Why, as `origin` (or the party that noticed it stall or disconnect) put it:
        /// an error message, never data. Control characters are removed and the length
        /// is bounded ([`MAX_ABORT_REASON`](crate::wire::MAX_ABORT_REASON) bytes).
        reason: String,
    },

    /// The peer sent bytes that are not a valid frame of this protocol.
    #[error("malformed data from peer {peer}: {reason}")]
    Malformed {
        /// Rank of the peer that sent the bytes.
        peer: usize,
        /// What was wrong with them.
        reason: String,
    },

    /// The peer sent a well-formed message that belongs to a different operation than the one
    /// this party is running: the parties are no longer running the same program.
    #[error("protocol out of sync with peer {peer}: expected {expected}, got {got}")]
    OutOfSync {
        /// Rank of the peer whose message did not match.
        peer: usize,
        /// The message this party was waiting for.
        expected: MessageTag,
        /// The message that arrived instead.
        got: MessageTag,
    },

    /// A rank outside `0..world`.
    #[error("rank {rank} is out of range for a world of {world} parties")]
    InvalidRank {
        /// The offending rank.
        rank: usize,
        /// The number of parties.
        world: usize,
    },

    /// An argument that no communicator could accept (wrong number of messages, sending to
    /// oneself, a peer listed twice).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What was wrong.
        reason: String,
    },

    /// An operating-system error on the connection to a peer.
    #[error("I/O error on the connection to peer {peer}: {source}")]
    Io {
        /// Rank of the peer on the other end.
        peer: usize,
        /// The underlying error.
        source: io::Error,
    },

    /// The operating system's event poller failed (not tied to any one peer).
    #[error("event poller failed: {source}")]
    Poll {
        /// The underlying error.
        source: io::Error,
    },

    /// Connecting to a peer kept failing until the connect deadline.
    #[error("could not connect to peer {peer} at {addr} within {after:?}: {source}")]
    Connect {
        /// Rank of the peer.
        peer: usize,
        /// The address tried.
        addr: String,
        /// How long this party kept trying.
        after: Duration,
        /// The last error seen.
        source: io::Error,
    },

    /// This party could not open its listening socket.
    #[error("could not listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// The underlying error.
        source: io::Error,
    },

    /// Some peers never connected to this party before the connect deadline.
    #[error("peers {missing:?} did not connect within {after:?}{}", refusals(refused))]
    NotConnected {
        /// Ranks that are still missing.
        missing: Vec<usize>,
        /// The connect deadline.
        after: Duration,
        /// Connections refused meanwhile (who, and why), newest last, at most a few: a
        /// party of another configuration or a stranger may explain the missing ones.
        refused: Vec<String>,
    },

    /// A peer's TLS handshake failed: its certificate is not the expected rank's or not of
    /// this deployment, or the connection broke during the handshake.
    #[error("TLS with party {peer} at {addr} failed: {reason}")]
    Tls {
        /// Rank this party meant to reach.
        peer: usize,
        /// Its address.
        addr: String,
        /// What failed.
        reason: String,
    },

    /// The party this one connected to refused it, and said why (another world size, another
    /// session, a certificate that is not this rank's, a rank already taken).
    #[error("party {peer} at {addr} refused this party: {reason}")]
    Refused {
        /// Rank of the refusing party.
        peer: usize,
        /// Its address.
        addr: String,
        /// Its reason.
        reason: String,
    },

    /// Plain TCP was not allowed: a party is not on loopback, and no TLS credentials were
    /// given (see [`Security`](crate::Security)).
    #[error(
        "{addr} is not a loopback address: links off this machine need TLS (set CLOAK_TLS_DIR \
         to this party's credentials from `cloak certs`), or CLOAK_PLAINTEXT=1 to accept \
         unencrypted, unauthenticated links"
    )]
    TlsRequired {
        /// The first address that is not on loopback.
        addr: String,
    },

    /// A certificate, key or trust file could not be used.
    #[error("unusable credentials {what}: {reason}")]
    Credentials {
        /// The file or rank concerned.
        what: String,
        /// What is wrong.
        reason: String,
    },

    /// A connecting party introduced itself with a well-formed hello (or registration) that
    /// does not match this party's: another world size, or another session (a party of an
    /// earlier or parallel job). Strays that send anything else, close, or stay silent are
    /// dropped during setup rather than reported.
    #[error("rejected connection from {addr}: {reason}")]
    Handshake {
        /// Remote address of the connection.
        addr: String,
        /// What was wrong.
        reason: String,
    },

    /// The rendezvous address does not resolve to any IP address. Checked by every party
    /// before anything else, so that a mistyped name fails at once, naming itself, instead
    /// of rank 0 listening on every interface until the connect timeout for peers that are
    /// looking for a host that does not exist.
    #[error("cannot resolve {addr} (from {origin}): {source}")]
    Unresolvable {
        /// The address as given (`host:port`).
        addr: String,
        /// Where it came from: the launcher variables, or the caller's argument.
        origin: String,
        /// The resolver's error.
        source: io::Error,
    },

    /// Two parties registered with rank 0 under the same rank (a launcher started with the
    /// same `RANK` twice). The first registration wins; the later one is refused, and this
    /// is the error that party reports.
    #[error("rank {rank} claimed twice: registered first from {first}, refused from {second}")]
    DuplicateRank {
        /// The rank claimed twice.
        rank: usize,
        /// Address of the party that registered first (and holds the rank).
        first: String,
        /// Address of the refused party, as rank 0 saw it.
        second: String,
    },

    /// A launcher variable (or other configuration) is missing or unusable.
    #[error("bad configuration {var}: {reason}")]
    Config {
        /// The variable or setting, with its value when it had one.
        var: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A message larger than [`CommConfig::max_message`](crate::CommConfig::max_message),
    /// rejected before allocating.
    #[error("message of {len} bytes for/from peer {peer} exceeds the limit of {max} bytes")]
    TooLarge {
        /// Rank of the peer that announced (or would have received) the message.
        peer: usize,
        /// Announced length.
        len: u64,
        /// Configured limit.
        max: u64,
    },

    /// The communicator failed earlier and has closed all its connections; it cannot be used
    /// any more.
    #[error("communicator unusable after an earlier failure: {cause}")]
    Failed {
        /// The first error, as text.
        cause: String,
    },

    /// A party process could not be started by the local runner.
    #[error("could not start party {rank}: {source}")]
    Spawn {
        /// Rank of the party.
        rank: usize,
        /// The underlying error.
        source: io::Error,
    },
}

/// The end of an [`CommError::Aborted`] message: who passed the notice on, when that was
/// not the party that failed.
fn reported_by(origin: usize, via: usize) -> String {
    if origin == via { String::new() } else { format!(" (reported by party {via})") }
}

impl CommError {
    /// The peer this error is about, if any: handy for tests and for operators' logs. For
    /// [`CommError::Aborted`] it is the party that failed first, not the one that reported it.
    pub fn peer(&self) -> Option<usize> {
        match self {
            Self::Aborted { origin: peer, .. }
            | Self::Disconnected { peer }
            | Self::Timeout { peer, .. }
            | Self::Malformed { peer, .. }
            | Self::OutOfSync { peer, .. }
            | Self::Io { peer, .. }
            | Self::Connect { peer, .. }
            | Self::Tls { peer, .. }
            | Self::Refused { peer, .. }
            | Self::TooLarge { peer, .. } => Some(*peer),
            _ => None,
        }
    }

    /// Maps an I/O error on the connection to `peer`: the kinds that mean "the other side is
    /// gone" become [`CommError::Disconnected`], the rest stay I/O errors.
    pub(crate) fn from_io(peer: usize, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected => Self::Disconnected { peer },
            _ => Self::Io { peer, source },
        }
    }
}

/// The refusals listed after a [`CommError::NotConnected`] message.
fn refusals(refused: &[String]) -> String {
    if refused.is_empty() {
        String::new()
    } else {
        format!("; refused meanwhile: {}", refused.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aborts_name_the_origin_and_whoever_reported_it() {
        let direct = CommError::Aborted { origin: 2, via: 2, reason: "input has NaN".into() };
        assert_eq!(direct.to_string(), "party 2 failed: input has NaN");
        let relayed = CommError::Aborted { origin: 2, via: 0, reason: "disconnected".into() };
        assert_eq!(relayed.to_string(), "party 2 failed: disconnected (reported by party 0)");
        assert_eq!(relayed.peer(), Some(2));
    }
}
