//! What a message belongs to: the operation kind and the tag that the receiver checks.
//!
//! Protocol code is SPMD: every party runs the same program, so the n-th message from peer p
//! must belong to the same kind of operation (with the same root or size) as the n-th
//! receive that this party posts for p. Checking that on every message turns a diverged
//! program into an [`OutOfSync`](crate::CommError::OutOfSync) error instead of garbage.

use std::fmt;

use crate::CommError;

/// The communication operation a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpKind {
    /// Point-to-point `send`/`recv`.
    PointToPoint,
    /// Pairwise `exchange`.
    Exchange,
    /// `exchange_all`.
    ExchangeAll,
    /// `broadcast`.
    Broadcast,
    /// `gather`.
    Gather,
    /// `all_gather`.
    AllGather,
    /// `all_reduce_sum_u64`.
    AllReduce,
    /// `barrier`.
    Barrier,
}

impl OpKind {
    /// Every kind, in wire-code order.
    pub const ALL: [OpKind; 8] = [
        OpKind::PointToPoint,
        OpKind::Exchange,
        OpKind::ExchangeAll,
        OpKind::Broadcast,
        OpKind::Gather,
        OpKind::AllGather,
        OpKind::AllReduce,
        OpKind::Barrier,
    ];

    /// The byte that identifies this kind on the wire.
    pub fn code(self) -> u8 {
        match self {
            OpKind::PointToPoint => 1,
            OpKind::Exchange => 2,
            OpKind::ExchangeAll => 3,
            OpKind::Broadcast => 4,
            OpKind::Gather => 5,
            OpKind::AllGather => 6,
            OpKind::AllReduce => 7,
            OpKind::Barrier => 8,
        }
    }

    /// The kind with wire code `code`, if there is one.
    pub fn from_code(code: u8) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The name of the public method that sends this kind of message.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::PointToPoint => "send",
            OpKind::Exchange => "exchange",
            OpKind::ExchangeAll => "exchange_all",
            OpKind::Broadcast => "broadcast",
            OpKind::Gather => "gather",
            OpKind::AllGather => "all_gather",
            OpKind::AllReduce => "all_reduce_sum_u64",
            OpKind::Barrier => "barrier",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An operation: its kind and one operation-specific value that every party must agree on
/// (the root of a broadcast or gather, the element count of an all-reduce, otherwise 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Op {
    /// The kind of operation.
    pub kind: OpKind,
    /// The value all parties must agree on.
    pub aux: u64,
}

impl Op {
    /// An operation with no parameter.
    pub fn new(kind: OpKind) -> Self {
        Op { kind, aux: 0 }
    }

    /// An operation with parameter `aux`.
    pub fn with_aux(kind: OpKind, aux: u64) -> Self {
        Op { kind, aux }
    }

    /// The exact payload length of this operation's messages, where the operation fixes it:
    /// an all-reduce of `aux` words carries `8 * aux` bytes, a barrier none. A receiver
    /// checks an announced length against it before allocating anything, so within these
    /// steps a peer cannot make it hold more than the step needs (other operations are
    /// bounded by [`CommConfig::max_message`](crate::CommConfig::max_message), and their
    /// payloads are allocated as their bytes arrive).
    pub fn payload_len(&self) -> Option<u64> {
        match self.kind {
            OpKind::AllReduce => self.aux.checked_mul(8),
            OpKind::Barrier => Some(0),
            _ => None,
        }
    }
}

/// What identifies one message from one peer: its sequence number on that direction of that
/// link, and the operation it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageTag {
    /// Index of the message among all messages from this sender to this receiver.
    pub seq: u64,
    /// The operation it belongs to.
    pub op: Op,
}

impl fmt::Display for MessageTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message #{} of {}", self.seq, self.op.kind)?;
        match self.op.kind {
            OpKind::Broadcast | OpKind::Gather => write!(f, " (root {})", self.op.aux),
            OpKind::AllReduce => write!(f, " ({} elements)", self.op.aux),
            _ => Ok(()),
        }
    }
}

/// Checks the arguments of one transfer, the same way for every transport: every rank in
/// range, none equal to `rank`, none listed twice.
pub(crate) fn validate_transfer(
    rank: usize,
    world: usize,
    sends: &[(usize, &[u8])],
    recv_from: &[usize],
) -> Result<(), CommError> {
    let mut seen_send = vec![false; world];
    let mut seen_recv = vec![false; world];
    let peers = sends.iter().map(|(p, _)| (*p, true)).chain(recv_from.iter().map(|p| (*p, false)));
    for (peer, is_send) in peers {
        if peer >= world {
            return Err(CommError::InvalidRank { rank: peer, world });
        }
        if peer == rank {
            return Err(CommError::InvalidArgument {
                reason: format!("party {rank} cannot send to or receive from itself"),
            });
        }
        let seen = if is_send { &mut seen_send[peer] } else { &mut seen_recv[peer] };
        if std::mem::replace(seen, true) {
            return Err(CommError::InvalidArgument {
                reason: format!("peer {peer} listed twice in one transfer"),
            });
        }
    }
    Ok(())
}

/// Checks that a received message carries the tag this party expects.
pub(crate) fn check_tag(
    peer: usize,
    expected: MessageTag,
    got: MessageTag,
) -> Result<(), CommError> {
    if expected == got { Ok(()) } else { Err(CommError::OutOfSync { peer, expected, got }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for kind in OpKind::ALL {
            assert_eq!(OpKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(OpKind::from_code(0), None);
        assert_eq!(OpKind::from_code(200), None);
    }

    #[test]
    fn validation_rejects_bad_peers() {
        let d: &[u8] = b"x";
        assert!(validate_transfer(0, 3, &[(1, d), (2, d)], &[1, 2]).is_ok());
        assert!(matches!(
            validate_transfer(0, 3, &[(3, d)], &[]),
            Err(CommError::InvalidRank { rank: 3, world: 3 })
        ));
        assert!(matches!(
            validate_transfer(1, 3, &[], &[1]),
            Err(CommError::InvalidArgument { .. })
        ));
        assert!(matches!(
            validate_transfer(0, 3, &[], &[2, 2]),
            Err(CommError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn tag_display_names_the_operation() {
        let tag = MessageTag { seq: 4, op: Op::with_aux(OpKind::Broadcast, 2) };
        assert_eq!(tag.to_string(), "message #4 of broadcast (root 2)");
    }
}
