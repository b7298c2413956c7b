//! The in-process communicator: N parties as threads of one process, linked by channels.
//!
//! It has the same semantics as TCP (tags checked, timeouts, failure propagation), so
//! protocol tests on threads exercise the same error paths a deployment would hit.

use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Select, Sender};

use crate::op::{check_tag, validate_transfer};
use crate::{CommConfig, CommError, CommStats, Communicator, MessageTag, Op};

/// One message in flight between two threads.
#[derive(Debug)]
struct Message {
    tag: MessageTag,
    payload: Vec<u8>,
}

/// Both directions of the link to one peer.
#[derive(Debug)]
struct Link {
    tx: Sender<Message>,
    rx: Receiver<Message>,
    send_seq: u64,
    recv_seq: u64,
}

/// A party's endpoint over in-process channels; create a whole network with
/// [`LocalComm::create`] and move one endpoint into each party's thread.
///
/// Channels are unbounded, so sends never block. When a party's endpoint is dropped (the
/// party returned, panicked or failed), its peers see [`CommError::Disconnected`].
#[derive(Debug)]
pub struct LocalComm {
    rank: usize,
    world: usize,
    config: CommConfig,
    /// Indexed by peer rank; `None` for this party itself and after a failure.
    links: Vec<Option<Link>>,
    stats: CommStats,
    failed: Option<String>,
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
            .map(|rank| LocalComm {
                rank,
                world: n,
                config: config.clone(),
                links: (0..n)
                    .map(|peer| {
                        (peer != rank).then(|| Link {
                            tx: channels[rank][peer].0.clone(),
                            rx: channels[peer][rank].1.clone(),
                            send_seq: 0,
                            recv_seq: 0,
                        })
                    })
                    .collect(),
                stats: CommStats::default(),
                failed: None,
            })
            .collect()
    }

    fn link(&mut self, peer: usize) -> Result<&mut Link, CommError> {
        // Validation guarantees `peer` is a valid other rank, so a missing link means the
        // communicator failed; report that rather than panicking.
        self.links
            .get_mut(peer)
            .and_then(Option::as_mut)
            .ok_or_else(|| CommError::Failed { cause: format!("no link to peer {peer}") })
    }

    fn run(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError> {
        let max = self.config.max_message;
        for &(to, data) in sends {
            if data.len() as u64 > max {
                return Err(CommError::TooLarge { peer: to, len: data.len() as u64, max });
            }
        }
        // A send to a peer that is gone is reported only after the receives: if this party
        // is also owed a message that explains the failure (a diverged peer's), reporting
        // that is more useful than the disconnection it caused.
        let mut send_error = None;
        for &(to, data) in sends {
            let link = self.link(to)?;
            let tag = MessageTag { seq: link.send_seq, op };
            link.send_seq += 1;
            if link.tx.send(Message { tag, payload: data.to_vec() }).is_err() {
                send_error.get_or_insert(CommError::Disconnected { peer: to });
            }
        }

        let mut received: Vec<Option<Vec<u8>>> = vec![None; recv_from.len()];
        let mut pending: Vec<usize> = (0..recv_from.len()).collect();
        while !pending.is_empty() {
            let (slot, outcome) = self.wait_any(recv_from, &pending)?;
            let peer = recv_from[slot];
            let message = outcome.ok_or(CommError::Disconnected { peer })?;
            let link = self.link(peer)?;
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

    /// Waits up to the timeout for a message from any of the pending peers; returns the slot
    /// it came from and the message, or `None` when that peer's channel closed.
    fn wait_any(
        &self,
        recv_from: &[usize],
        pending: &[usize],
    ) -> Result<(usize, Option<Message>), CommError> {
        let timeout = self.config.timeout;
        let deadline = Instant::now() + timeout;
        let first_peer = recv_from[pending[0]];
        let rx = |slot: usize| {
            let peer = recv_from[slot];
            self.links[peer]
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

impl Communicator for LocalComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.world
    }

    fn transfer(
        &mut self,
        op: Op,
        sends: &[(usize, &[u8])],
        recv_from: &[usize],
    ) -> Result<Vec<Vec<u8>>, CommError> {
        if let Some(cause) = &self.failed {
            return Err(CommError::Failed { cause: cause.clone() });
        }
        validate_transfer(self.rank, self.world, sends, recv_from)?;
        let result = self.run(op, sends, recv_from);
        if let Err(error) = &result {
            // Dropping every channel end makes all peers fail promptly instead of waiting
            // for their own timeouts.
            self.failed = Some(error.to_string());
            self.links.iter_mut().for_each(|l| *l = None);
        }
        result
    }

    fn stats(&self) -> &CommStats {
        &self.stats
    }

    fn stats_mut(&mut self) -> &mut CommStats {
        &mut self.stats
    }
}
