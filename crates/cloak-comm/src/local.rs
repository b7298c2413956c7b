//! The in-process communicator: N parties as threads of one process, linked by channels.
//!
//! It has the same semantics as TCP (tags checked, timeouts, failure propagation, buffered
//! sends), so protocol tests on threads exercise the same error paths a deployment would hit.

use std::fmt;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Select, Sender};

use crate::endpoint::{Endpoint, Transport, guarded_transfer};
use crate::op::check_tag;
use crate::{CommConfig, CommError, CommStats, Communicator, MessageTag, Op};

/// One message in flight between two threads.
struct Message {
    tag: MessageTag,
    payload: Vec<u8>,
}

impl fmt::Debug for Message {
    /// The tag and length only: payloads are secret shares.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message").field("tag", &self.tag).field("len", &self.payload.len()).finish()
    }
}

/// Both directions of the link to one peer.
pub(crate) struct Link {
    tx: Sender<Message>,
    rx: Receiver<Message>,
    send_seq: u64,
    recv_seq: u64,
}

impl fmt::Debug for Link {
    /// Counters only, never the messages in the channels.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("send_seq", &self.send_seq)
            .field("recv_seq", &self.recv_seq)
            .field("unread", &self.rx.len())
            .finish()
    }
}

/// A party's endpoint over in-process channels; create a whole network with
/// [`LocalComm::create`] and move one endpoint into each party's thread.
///
/// Sends are buffered as the [`Communicator`] documentation describes, without a limit: the
/// channels are unbounded, so a send never waits for its receiver (unlike
/// [`TcpComm`](crate::TcpComm), which waits once more than
/// [`CommConfig::send_buffer`] bytes to one peer are unsent). When a party's endpoint is
/// dropped (the party returned, panicked or failed), its peers see
/// [`CommError::Disconnected`] once they have received everything it sent.
pub struct LocalComm {
    endpoint: Endpoint<Link>,
}

impl fmt::Debug for LocalComm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LocalComm").field(&self.endpoint).finish()
    }
}

impl LocalComm {
    /// Creates the endpoints of an `n`-party network, in rank order.
    pub fn create(n: usize, config: &CommConfig) -> Vec<LocalComm> {
        // channels[from][to] carries messages from `from` to `to`. Each endpoint keeps a
        // clone of its ends and the originals are dropped on return, so that one party's
        // endpoint holds the only handle: dropping it disconnects its peers.
        let channels: Vec<Vec<(Sender<Message>, Receiver<Message>)>> =
            (0..n).map(|_| (0..n).map(|_| crossbeam_channel::unbounded()).collect()).collect();
        (0..n)
            .map(|rank| {
                let links = (0..n)
                    .map(|peer| {
                        (peer != rank).then(|| Link {
                            tx: channels[rank][peer].0.clone(),
                            rx: channels[peer][rank].1.clone(),
                            send_seq: 0,
                            recv_seq: 0,
                        })
                    })
                    .collect();
                LocalComm { endpoint: Endpoint::new(rank, config, links) }
            })
            .collect()
    }

    /// Waits until `deadline` (the timeout after the call began) for a message from any of
    /// the pending peers; returns the slot it came from and the message, or `None` when that
    /// peer's channel closed.
    fn wait_any(
        &self,
        recv_from: &[usize],
        pending: &[usize],
        deadline: Instant,
    ) -> Result<(usize, Option<Message>), CommError> {
        let timeout = self.endpoint.config.timeout;
        let first_peer = recv_from[pending[0]];
        let rx = |slot: usize| {
            let peer = recv_from[slot];
            self.endpoint.links[peer]
                .as_ref()
                .map(|l| &l.rx)
                .ok_or(CommError::Failed { cause: format!("no link to peer {peer}") })
        };
        if let [slot] = pending {
            return match rx(*slot)?.recv_deadline(deadline) {
                Ok(m) => Ok((*slot, Some(m))),
                Err(RecvTimeoutError::Disconnected) => Ok((*slot, None)),
                Err(RecvTimeoutError::Timeout) => {
                    Err(CommError::Timeout { peer: first_peer, after: timeout })
                }
            };
        }
        let receivers = pending.iter().map(|&s| rx(s)).collect::<Result<Vec<_>, _>>()?;
        let mut select = Select::new();
        for r in &receivers {
            select.recv(r);
        }
        let ready = select
            .select_deadline(deadline)
            .map_err(|_| CommError::Timeout { peer: first_peer, after: timeout })?;
        let index = ready.index();
        let slot = pending[index];
        Ok((slot, ready.recv(receivers[index]).ok()))
    }
}

impl Transport for LocalComm {
    type Link = Link;

    fn endpoint(&mut self) -> &mut Endpoint<Link> {
        &mut self.endpoint
    }

    fn run(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError> {
        // A send to a peer that is gone is reported only after the receives: if this party
        // is also owed a message that explains the failure (a diverged peer's), reporting
        // that is more useful than the disconnection it caused.
        let mut send_error = None;
        for &(to, data) in sends {
            let link = self.endpoint.link(to)?;
            let tag = MessageTag { seq: link.send_seq, op };
            link.send_seq += 1;
            if link.tx.send(Message { tag, payload: data.to_vec() }).is_err() {
                send_error.get_or_insert(CommError::Disconnected { peer: to });
            }
        }

        let mut received: Vec<Option<Vec<u8>>> = vec![None; recv_from.len()];
        let mut pending: Vec<usize> = (0..recv_from.len()).collect();
        // All the receives of one call share one timeout, as over TCP.
        let deadline = Instant::now() + self.endpoint.config.timeout;
        while !pending.is_empty() {
            let (slot, outcome) = self.wait_any(recv_from, &pending, deadline)?;
            let peer = recv_from[slot];
            let message = outcome.ok_or(CommError::Disconnected { peer })?;
            let link = self.endpoint.link(peer)?;
            check_tag(peer, MessageTag { seq: link.recv_seq, op }, message.tag)?;
            link.recv_seq += 1;
            received[slot] = Some(message.payload);
            pending.retain(|&s| s != slot);
        }
        match send_error {
            Some(error) => Err(error),
            None => Ok(received.into_iter().map(Option::unwrap_or_default).collect()),
        }
    }
}

impl Communicator for LocalComm {
    fn rank(&self) -> usize {
        self.endpoint.rank
    }

    fn world_size(&self) -> usize {
        self.endpoint.world
    }

    fn transfer(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError> {
        // On failure, dropping every channel end makes all peers fail promptly instead of
        // waiting for their own timeouts.
        guarded_transfer(self, op, sends, recv_from)
    }

    fn stats(&self) -> &CommStats {
        &self.endpoint.stats
    }

    fn stats_mut(&mut self) -> &mut CommStats {
        &mut self.endpoint.stats
    }
}
