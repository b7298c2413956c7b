//! The in-process communicator: N parties as threads of one process, linked by channels.
//!
//! It has the same semantics as TCP (tags checked, timeouts, failure propagation, buffered
//! sends), so protocol tests on threads exercise the same error paths a deployment would hit.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError};

use crate::endpoint::{AbortNotice, Endpoint, Transport, guarded_transfer};
use crate::op::check_tag;
use crate::shaper::{LinkShaper, block_until, held_until};
use crate::wire::{HEADER_LEN, sanitize_reason};
use crate::{CommConfig, CommError, CommStats, Communicator, MessageTag, Op};

/// One message in flight between two threads.
struct Message {
    tag: MessageTag,
    payload: Vec<u8>,
    /// When a shaped link delivers it (see [`CommConfig::network`]); `None` unshaped.
    release: Option<Instant>,
}

impl fmt::Debug for Message {
    /// The tag and length only: payloads are secret shares.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message").field("tag", &self.tag).field("len", &self.payload.len()).finish()
    }
}

/// What travels on a channel: messages, and, last, the notice of a party that failed (the
/// counterpart of the TCP abort frame).
enum Packet {
    Message(Message),
    Abort(AbortNotice),
}

/// Both directions of the link to one peer.
pub(crate) struct Link {
    tx: Sender<Packet>,
    rx: Receiver<Packet>,
    send_seq: u64,
    recv_seq: u64,
    /// Messages taken off the channel ahead of the call that will consume them: a waiting
    /// call watches every link, to notice an abort from a peer it is not waiting on.
    inbox: VecDeque<Message>,
    /// The channel has ended: the peer's endpoint is gone, or it aborted (nothing follows
    /// an abort). What it sent before is still in `inbox`.
    closed: bool,
    /// The peer's abort, once it has arrived.
    aborted: Option<CommError>,
    /// The model of the link to the peer, when the network is shaped. The sender stamps
    /// each message with its release time: both ends share this process's clock, so the
    /// model runs from the true send time.
    shaper: Option<LinkShaper>,
}

impl fmt::Debug for Link {
    /// Counters only, never the messages in the channels.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("send_seq", &self.send_seq)
            .field("recv_seq", &self.recv_seq)
            .field("unread", &(self.inbox.len() + self.rx.len()))
            .field("closed", &self.closed)
            .field("aborted", &self.aborted)
            .finish()
    }
}

impl Link {
    /// Files what came off the channel from `peer`: a message into the inbox; the end of
    /// the channel, or an abort, closes the link.
    fn take(&mut self, peer: usize, packet: Option<Packet>) {
        match packet {
            Some(Packet::Message(m)) => self.inbox.push_back(m),
            Some(Packet::Abort(AbortNotice { origin, reason })) => {
                let reason = sanitize_reason(reason.as_bytes());
                self.aborted = Some(CommError::Aborted { origin, via: peer, reason });
                self.closed = true;
            }
            None => self.closed = true,
        }
    }

    /// Takes everything already on the channel without waiting (after a send found the
    /// peer gone: its abort, if it sent one, is there).
    fn drain(&mut self, peer: usize) {
        while !self.closed {
            match self.rx.try_recv() {
                Ok(packet) => self.take(peer, Some(packet)),
                Err(TryRecvError::Disconnected) => self.take(peer, None),
                Err(TryRecvError::Empty) => return,
            }
        }
    }
}

/// A party's endpoint over in-process channels; create a whole network with
/// [`LocalComm::create`] and move one endpoint into each party's thread.
///
/// Sends are buffered as the [`Communicator`] documentation describes, without a limit: the
/// channels are unbounded, so a send never waits for its receiver (unlike
/// [`TcpComm`](crate::TcpComm), which waits once more than
/// [`CommConfig::send_buffer`] bytes to one peer are unsent), and a waiting call takes
/// messages off every channel ahead of their calls without a limit
/// ([`CommConfig::recv_buffer`] is TCP's). When a party's endpoint is
/// dropped (the party returned, panicked or failed), its peers see
/// [`CommError::Disconnected`] once they have received everything it sent; when it fails,
/// they see its [`CommError::Aborted`] notice first, as over TCP.
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
        let channels: Vec<Vec<(Sender<Packet>, Receiver<Packet>)>> =
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
                            inbox: VecDeque::new(),
                            closed: false,
                            aborted: None,
                            shaper: config.network.map(LinkShaper::new),
                        })
                    })
                    .collect();
                LocalComm { endpoint: Endpoint::new(rank, config, links) }
            })
            .collect()
    }

    /// Waits until `deadline` for anything on any open link (so that an abort from a peer
    /// this call does not wait on is noticed too) and files it; fails with a timeout naming
    /// `waiting_on` if nothing comes. Returns without anything at `wake`, when that comes
    /// first (a held message is due then): shortly before it, to spin the rest of the way
    /// (see [`SPIN`](crate::shaper::SPIN)), and at once, after yielding, once that close.
    fn wait_any(
        &mut self,
        waiting_on: usize,
        deadline: Instant,
        wake: Option<Instant>,
    ) -> Result<(), CommError> {
        let open: Vec<usize> = (0..self.endpoint.world)
            .filter(|&p| self.endpoint.links[p].as_ref().is_some_and(|l| !l.closed))
            .collect();
        let timeout =
            || CommError::Timeout { peer: waiting_on, after: self.endpoint.config.timeout };
        let wake = wake.map(block_until);
        if wake.is_some_and(|w| w <= Instant::now()) && Instant::now() < deadline {
            std::thread::yield_now();
            return Ok(());
        }
        let (peer, packet) = {
            let receivers: Vec<&Receiver<Packet>> = open
                .iter()
                .filter_map(|&p| self.endpoint.links[p].as_ref().map(|l| &l.rx))
                .collect();
            let mut select = Select::new();
            for r in &receivers {
                select.recv(r);
            }
            let until = wake.map_or(deadline, |w| w.min(deadline));
            let ready = match select.select_deadline(until) {
                Ok(ready) => ready,
                Err(_) if until < deadline => return Ok(()),
                Err(_) => return Err(timeout()),
            };
            let index = ready.index();
            (open[index], ready.recv(receivers[index]).ok())
        };
        self.endpoint.link(peer)?.take(peer, packet);
        Ok(())
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
            let bytes = (data.len() + HEADER_LEN) as u64;
            let release = link.shaper.as_mut().map(|s| s.release(Instant::now(), bytes));
            let message = Message { tag, payload: data.to_vec(), release };
            if link.tx.send(Packet::Message(message)).is_err() {
                link.drain(to);
                send_error.get_or_insert(CommError::Disconnected { peer: to });
            }
        }

        let mut received: Vec<Option<Vec<u8>>> = vec![None; recv_from.len()];
        // All the receives of one call share one timeout, as over TCP.
        let deadline = Instant::now() + self.endpoint.config.timeout;
        // Whether the links this call waits on have been drained since an abort arrived.
        let mut drained = false;
        loop {
            let mut waiting_on = None;
            // The earliest time a message this call waits for is held until.
            let mut wake: Option<Instant> = None;
            let now = Instant::now();
            for (slot, &peer) in recv_from.iter().enumerate() {
                if received[slot].is_some() {
                    continue;
                }
                let link = self.endpoint.link(peer)?;
                if let Some(held) = held_until(link.inbox.front().and_then(|m| m.release), now) {
                    wake = Some(wake.map_or(held, |w| w.min(held)));
                    waiting_on.get_or_insert(peer);
                } else if let Some(message) = link.inbox.pop_front() {
                    check_tag(peer, MessageTag { seq: link.recv_seq, op }, message.tag)?;
                    link.recv_seq += 1;
                    received[slot] = Some(message.payload);
                } else if link.closed {
                    return Err(link.aborted.take().unwrap_or(CommError::Disconnected { peer }));
                } else {
                    waiting_on.get_or_insert(peer);
                }
            }
            let Some(waiting_on) = waiting_on else {
                break;
            };
            // Before failing with a peer's abort, take what the peers this call waits on have
            // already sent: a message of the wrong operation explains more than the abort it
            // may have caused elsewhere.
            if !drained && self.endpoint.links.iter().flatten().any(|l| l.aborted.is_some()) {
                drained = true;
                for (slot, &peer) in recv_from.iter().enumerate() {
                    if received[slot].is_none() {
                        self.endpoint.link(peer)?.drain(peer);
                    }
                }
                continue;
            }
            if let Some(abort) = take_abort(&mut self.endpoint.links) {
                return Err(abort);
            }
            self.wait_any(waiting_on, deadline, wake)?;
        }
        match send_error {
            Some(error) => Err(take_abort(&mut self.endpoint.links).unwrap_or(error)),
            None => Ok(received.into_iter().map(Option::unwrap_or_default).collect()),
        }
    }

    /// Puts the notice on every channel (they are unbounded: this never waits), then drops
    /// the channel ends so that every peer sees this party go.
    fn close_links(&mut self, links: Vec<Link>, notice: &AbortNotice) {
        for link in links {
            let _ = link.tx.send(Packet::Abort(notice.clone()));
        }
    }
}

/// The abort some peer has sent, if any has arrived.
fn take_abort(links: &mut [Option<Link>]) -> Option<CommError> {
    links.iter_mut().flatten().find_map(|l| l.aborted.take())
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

    fn abort(&mut self, reason: &str) {
        crate::endpoint::abort(self, reason);
    }

    fn stats(&self) -> &CommStats {
        &self.endpoint.stats
    }

    fn stats_mut(&mut self) -> &mut CommStats {
        &mut self.endpoint.stats
    }
}
