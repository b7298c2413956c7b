//! The `Communicator` trait: what every MPC protocol of Cloak runs over.
//!
//! A transport implements one primitive, [`Communicator::transfer`]: send some messages and
//! receive some, all concurrently, with every message tagged by the operation it belongs to.
//! Every collective is written once here on top of it, as a single transfer, so each costs
//! exactly one round and the transports cannot disagree on semantics or statistics.

use std::time::Instant;

use crate::codec::{u64s_from_bytes, u64s_to_bytes};
use crate::{CommError, CommStats, Op, OpKind, OpStats};

/// One party's endpoint of an N-party network.
///
/// All operations are SPMD: every party must call the same operations in the same order
/// (point-to-point `send`/`recv` pair up by program position). A party that diverges gets
/// [`CommError::OutOfSync`]; a peer that dies or stalls produces
/// [`CommError::Disconnected`] or [`CommError::Timeout`] naming it.
///
/// # Sends are buffered
///
/// A call returns once it has received what it receives and its own messages are queued
/// for delivery: it does not wait for the receivers to read them. So `send` never waits for
/// its `recv`, and a program may send to one peer and go on to wait on another, even where
/// the first peer will read that message only after this wait is over. Queued messages
/// keep moving during the party's later calls (whichever peers those involve), and when the
/// communicator is dropped (best effort, for at most the timeout);
/// `barrier` returns only once everything this party sent before it has been handed to the
/// transport.
/// [`LocalComm`](crate::LocalComm) queues without limit; [`TcpComm`](crate::TcpComm) queues
/// up to [`CommConfig::send_buffer`](crate::CommConfig::send_buffer) unsent bytes per peer,
/// after which a send to that peer waits (under the timeout) for the peer to read.
///
/// # Errors
///
/// An invalid argument (a rank out of range, a message to oneself, a peer listed twice, a
/// wrong number of messages) is rejected before anything is sent, and leaves the
/// communicator usable. Any other error, including a message over
/// [`CommConfig::max_message`](crate::CommConfig::max_message)
/// ([`CommError::TooLarge`]: its peer already expects a message at that position, so the
/// parties could not stay in step without it), fails the communicator: it closes its
/// connections so that the failure reaches every other party, and every later call returns
/// [`CommError::Failed`].
///
/// Before closing, a failing communicator tells every peer which party failed first and
/// why, so that all parties report the same culprit: a peer then fails with
/// [`CommError::Aborted`] naming it (or with [`CommError::Disconnected`] or
/// [`CommError::Timeout`] naming it, when it noticed the culprit itself). A party that
/// fails because of a peer passes that peer on as the culprit: the one that stalled,
/// disconnected or aborted. Its own work failing (a bad input, say) is what
/// [`Communicator::abort`] is for.
///
/// Once any peer's abort has arrived, a call that still waits for a message fails with it
/// at once, even when it waits on other peers (who would otherwise keep it waiting until
/// they fail or the timeout ends it); a message that arrived before the abort is still
/// received, and a call that has everything it waits for completes. Over TCP an abort is
/// noticed this way only while the link it arrives on holds less than
/// [`CommConfig::recv_buffer`](crate::CommConfig::recv_buffer) bytes of unread messages;
/// otherwise it waits behind them.
pub trait Communicator: Send {
    /// This party's rank, in `0..world_size()`.
    fn rank(&self) -> usize;

    /// The number of parties.
    fn world_size(&self) -> usize;

    /// The transport primitive: sends each `(peer, payload)` of `sends` and receives one
    /// message from each peer of `recv_from`, all at once (full duplex: parties sending each
    /// other messages of any size never deadlock), and returns the received payloads in the
    /// order of `recv_from`. Every message is tagged with `op` and a per-link sequence number, and
    /// every received tag is checked.
    ///
    /// The call returns once the receives are done and the sends are queued (see
    /// "Sends are buffered" above); it never waits for a receiver to read.
    ///
    /// Peers must be in range, differ from this party and appear at most once in each list.
    /// This call records no statistics; protocol code should use the collectives (or
    /// [`Communicator::step`]), which do.
    fn transfer(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError>;

    /// The statistics recorded so far.
    fn stats(&self) -> &CommStats;

    /// Mutable access to the statistics, for the provided methods.
    fn stats_mut(&mut self) -> &mut CommStats;

    /// Fails the communicator because this party's own work failed, telling every peer:
    /// each then fails (promptly, even if it is waiting on another party) with
    /// [`CommError::Aborted`] naming this party and carrying `reason`, instead of with a
    /// bare disconnection or after its timeout. Later calls here return
    /// [`CommError::Failed`]. Delivery is best effort: it takes a few milliseconds at most
    /// and never waits for a peer.
    ///
    /// `reason` is sent in clear to every peer and shown in their errors and logs: it must
    /// never contain a secret value (a share, an input, a weight). Name what failed and
    /// where, as in `"input has NaN at element 2"`. It is cut to
    /// [`MAX_ABORT_REASON`](crate::wire::MAX_ABORT_REASON) bytes, and control characters
    /// are removed. A communicator that has already failed has told its peers, and
    /// ignores this call.
    fn abort(&mut self, reason: &str);

    /// One round: [`Communicator::transfer`] plus its statistics under the current label.
    fn step(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError> {
        let start = Instant::now();
        let received = self.transfer(op, sends, recv_from)?;
        let call = OpStats {
            rounds: 1,
            messages: sends.len() as u64,
            bytes_sent: sends.iter().map(|(_, d)| d.len() as u64).sum(),
            bytes_received: received.iter().map(|d| d.len() as u64).sum(),
            time: start.elapsed(),
        };
        self.stats_mut().record(call);
        Ok(received)
    }

    /// Sends `data` to `to` (pairs with `recv` at `to`). Returns once the message is queued,
    /// without waiting for `to` to receive it.
    fn send(&mut self, to: usize, data: &[u8]) -> Result<(), CommError> {
        self.step(Op::new(OpKind::PointToPoint), &[(to, data)], &[]).map(drop)
    }

    /// Receives the message that `from` sends with `send`.
    fn recv(&mut self, from: usize) -> Result<Vec<u8>, CommError> {
        let mut got = self.step(Op::new(OpKind::PointToPoint), &[], &[from])?;
        Ok(got.pop().unwrap_or_default())
    }

    /// Sends `data` to `peer` and receives `peer`'s message at the same time (both must call
    /// `exchange` with each other).
    fn exchange(&mut self, peer: usize, data: &[u8]) -> Result<Vec<u8>, CommError> {
        let mut got = self.step(Op::new(OpKind::Exchange), &[(peer, data)], &[peer])?;
        Ok(got.pop().unwrap_or_default())
    }

    /// Sends `data[j]` to every peer `j` and receives one message from every peer, in one
    /// round: the building block of a Beaver opening among N parties. Entry `rank()` of the
    /// result is a copy of `data[rank()]`, as if sent to oneself.
    fn exchange_all(&mut self, data: &[&[u8]]) -> Result<Vec<Vec<u8>>, CommError> {
        let (rank, world) = (self.rank(), self.world_size());
        if data.len() != world {
            return Err(CommError::InvalidArgument {
                reason: format!("exchange_all needs {world} messages, got {}", data.len()),
            });
        }
        let peers: Vec<usize> = (0..world).filter(|&p| p != rank).collect();
        let sends: Vec<(usize, &[u8])> = peers.iter().map(|&p| (p, data[p])).collect();
        let got = self.step(Op::new(OpKind::ExchangeAll), &sends, &peers)?;
        Ok(with_own(rank, data[rank], got))
    }

    /// Sends `data` from `root` to every other party; returns it at every party. `data` is
    /// ignored off the root.
    fn broadcast(&mut self, root: usize, data: &[u8]) -> Result<Vec<u8>, CommError> {
        let (rank, world) = (self.rank(), self.world_size());
        check_rank(root, world)?;
        let op = Op::with_aux(OpKind::Broadcast, root as u64);
        if rank == root {
            let sends: Vec<(usize, &[u8])> =
                (0..world).filter(|&p| p != rank).map(|p| (p, data)).collect();
            self.step(op, &sends, &[])?;
            Ok(data.to_vec())
        } else {
            let mut got = self.step(op, &[], &[root])?;
            Ok(got.pop().unwrap_or_default())
        }
    }

    /// Collects every party's `data` at `root`, in rank order. Returns `Some` at the root,
    /// `None` elsewhere.
    fn gather(&mut self, root: usize, data: &[u8]) -> Result<Option<Vec<Vec<u8>>>, CommError> {
        let (rank, world) = (self.rank(), self.world_size());
        check_rank(root, world)?;
        let op = Op::with_aux(OpKind::Gather, root as u64);
        if rank == root {
            let peers: Vec<usize> = (0..world).filter(|&p| p != rank).collect();
            let got = self.step(op, &[], &peers)?;
            Ok(Some(with_own(rank, data, got)))
        } else {
            self.step(op, &[(root, data)], &[])?;
            Ok(None)
        }
    }

    /// Every party's `data` at every party, in rank order, in one round.
    fn all_gather(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, CommError> {
        let (rank, world) = (self.rank(), self.world_size());
        let peers: Vec<usize> = (0..world).filter(|&p| p != rank).collect();
        let sends: Vec<(usize, &[u8])> = peers.iter().map(|&p| (p, data)).collect();
        let got = self.step(Op::new(OpKind::AllGather), &sends, &peers)?;
        Ok(with_own(rank, data, got))
    }

    /// Replaces `data` by the wrapping sum of every party's `data` (all parties must pass the
    /// same length), in one round.
    fn all_reduce_sum_u64(&mut self, data: &mut [u64]) -> Result<(), CommError> {
        let (rank, world) = (self.rank(), self.world_size());
        let bytes = u64s_to_bytes(data);
        let peers: Vec<usize> = (0..world).filter(|&p| p != rank).collect();
        let sends: Vec<(usize, &[u8])> = peers.iter().map(|&p| (p, bytes.as_slice())).collect();
        let op = Op::with_aux(OpKind::AllReduce, data.len() as u64);
        let got = self.step(op, &sends, &peers)?;
        for (&peer, payload) in peers.iter().zip(&got) {
            let values = u64s_from_bytes(payload).filter(|v| v.len() == data.len());
            let values = values.ok_or_else(|| CommError::Malformed {
                peer,
                reason: format!(
                    "all_reduce_sum_u64 of {} elements got {} bytes",
                    data.len(),
                    payload.len()
                ),
            })?;
            for (acc, v) in data.iter_mut().zip(values) {
                *acc = acc.wrapping_add(v);
            }
        }
        Ok(())
    }

    /// Returns once every party has called `barrier` (one round of empty messages) and
    /// everything this party sent before has been handed to the transport.
    fn barrier(&mut self) -> Result<(), CommError> {
        let rank = self.rank();
        let peers: Vec<usize> = (0..self.world_size()).filter(|&p| p != rank).collect();
        let sends: Vec<(usize, &[u8])> = peers.iter().map(|&p| (p, &[][..])).collect();
        self.step(Op::new(OpKind::Barrier), &sends, &peers).map(drop)
    }

    /// Sends `values` as little-endian bytes.
    fn send_u64s(&mut self, to: usize, values: &[u64]) -> Result<(), CommError> {
        self.send(to, &u64s_to_bytes(values))
    }

    /// Receives little-endian `u64`s sent with [`Communicator::send_u64s`].
    fn recv_u64s(&mut self, from: usize) -> Result<Vec<u64>, CommError> {
        let bytes = self.recv(from)?;
        decode_u64s(from, &bytes)
    }

    /// [`Communicator::exchange`] for `u64` vectors.
    fn exchange_u64s(&mut self, peer: usize, values: &[u64]) -> Result<Vec<u64>, CommError> {
        let bytes = self.exchange(peer, &u64s_to_bytes(values))?;
        decode_u64s(peer, &bytes)
    }

    /// Waits until everything this party has sent is handed to the transport, receiving
    /// meanwhile so that peers doing the same never deadlock. Sends return once queued (see
    /// "Sends are buffered"), and a queued tail moves only during later calls: a protocol
    /// that computes for a long time after a large round calls this first, so that its
    /// peers are not left waiting for bytes it sits on. Transports that deliver at once
    /// (channels) have nothing to do.
    fn flush(&mut self) -> Result<(), CommError> {
        Ok(())
    }

    /// Forgets all statistics.
    fn reset_stats(&mut self) {
        self.stats_mut().reset();
    }

    /// Counts communication under `label` from now on.
    fn set_label(&mut self, label: &str) {
        self.stats_mut().set_label(label);
    }

    /// Runs `f` with communication counted under `label`, then restores the previous label.
    fn with_label<R>(&mut self, label: &str, f: impl FnOnce(&mut Self) -> R) -> R
    where
        Self: Sized,
    {
        let previous = self.stats().label().to_owned();
        self.set_label(label);
        let out = f(self);
        self.set_label(&previous);
        out
    }
}

impl<C: Communicator + ?Sized> Communicator for Box<C> {
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn world_size(&self) -> usize {
        (**self).world_size()
    }
    fn transfer(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError> {
        (**self).transfer(op, sends, recv_from)
    }
    fn stats(&self) -> &CommStats {
        (**self).stats()
    }
    fn stats_mut(&mut self) -> &mut CommStats {
        (**self).stats_mut()
    }
    fn abort(&mut self, reason: &str) {
        (**self).abort(reason)
    }
    fn flush(&mut self) -> Result<(), CommError> {
        (**self).flush()
    }
}

fn check_rank(rank: usize, world: usize) -> Result<(), CommError> {
    if rank < world { Ok(()) } else { Err(CommError::InvalidRank { rank, world }) }
}

/// Turns the messages received from every other party (in rank order) into a full
/// rank-indexed vector with this party's own `data` in its slot.
fn with_own(rank: usize, own: &[u8], others: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut all = Vec::with_capacity(others.len() + 1);
    let mut others = others.into_iter();
    all.extend(others.by_ref().take(rank));
    all.push(own.to_vec());
    all.extend(others);
    all
}

fn decode_u64s(peer: usize, bytes: &[u8]) -> Result<Vec<u64>, CommError> {
    u64s_from_bytes(bytes).ok_or_else(|| CommError::Malformed {
        peer,
        reason: format!("{} bytes is not a whole number of u64s", bytes.len()),
    })
}
