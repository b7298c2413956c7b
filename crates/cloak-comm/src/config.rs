//! Settings shared by every communicator.

use std::time::Duration;

use std::path::Path;

use crate::CommError;
use crate::net::NetProfile;
use crate::tls::TlsConfig;

/// How [`TcpComm`](crate::TcpComm) protects its links.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Security {
    /// Plain TCP when every party is on loopback (one machine: nothing crosses a network),
    /// and a refusal ([`TlsRequired`](crate::CommError::TlsRequired)) otherwise. The
    /// default, so that no deployment across machines runs in the clear by accident.
    #[default]
    Auto,
    /// Mutual TLS with this party's identity ([`TlsConfig`]): every link encrypted, every
    /// peer's rank proven by its certificate.
    Tls(TlsConfig),
    /// Plain TCP whatever the addresses: unencrypted and unauthenticated, so anyone on the
    /// path reads every share and anyone who reaches a port can pose as a party. For
    /// benchmarks and trusted networks only; logged as insecure.
    InsecurePlain,
}

/// How long to wait and how much to accept.
///
/// The defaults suit a deployment over a real network. Tests should shorten `timeout` and
/// `connect_timeout` to a second or two so that a failure shows up quickly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommConfig {
    /// The longest any single wait may last, measured from when it began, before it fails
    /// with [`Timeout`](crate::CommError::Timeout): one call (a protocol step) must have
    /// received all its messages, whole, and settled its sends within it. Progress does not
    /// extend it, so a peer trickling a byte now and then cannot hold a party for longer. It
    /// bounds how long a stalled, dead or hostile peer can keep the others waiting (the
    /// party that times out then gives the peer it blames a tenth of the timeout, between
    /// 0.1 and 1 s, to say that it is itself waiting on another party, so that every party
    /// names the one that stalled, not a party blocked by it); it must
    /// exceed the largest compute skew between parties plus the time to move a call's
    /// largest message over the network (2 GiB takes about 17 s at 1 Gbit/s).
    pub timeout: Duration,
    /// How long to keep trying to reach every peer while building the TCP mesh.
    pub connect_timeout: Duration,
    /// The largest message (frame payload) accepted, in bytes: the bound on what one peer can
    /// make this party allocate for one frame. A peer announcing more is rejected with
    /// [`TooLarge`](crate::CommError::TooLarge), naming it and the announced length, as soon
    /// as the frame header arrives and before anything is allocated, so a corrupt or hostile
    /// length cannot exhaust memory; sending more fails the same way before anything is sent.
    ///
    /// The default, 4 GiB, is kept above the largest message the workspace's protocols send:
    /// opening a 2^28-word tensor moves 2 GiB in one message, so a lower default could break
    /// real runs. Deployments that know their largest tensor should lower it to match.
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
    /// Encryption and authentication of links (see [`Security`]).
    pub security: Security,
    /// How many bytes [`TcpComm`](crate::TcpComm) may read from one peer ahead of the calls
    /// that will consume them. While a party waits (for any peer), it keeps reading every
    /// link, so that its peers' sends keep moving, a peer sending at the same time as this
    /// party never deadlocks with it, and a peer's abort is noticed even during a call that
    /// does not involve that peer. This bounds that read-ahead: once a link holds this many
    /// bytes of unconsumed frames (each counted with its 32-byte header, plus the part of
    /// the next frame that has arrived), the party stops reading that link until a call
    /// consumes from it, and TCP flow control then holds the sender back instead of this
    /// party's memory growing. A call that waits for a frame from a link always reads that
    /// link (the frame it needs is never behind the bound), so a party holds at most about
    /// `recv_buffer + max_message` bytes per peer on the receiving side. With `send_buffer`
    /// it sets how far two parties may run apart: a program in which one party leaves more
    /// than `send_buffer + recv_buffer` (plus the kernel's socket buffers) unread by a peer
    /// while that peer waits on something the sender has not yet sent times out on TCP,
    /// though it would finish over [`LocalComm`](crate::LocalComm), which reads ahead
    /// without limit (its messages are in this process's memory anyway).
    pub recv_buffer: u64,
    /// The network to imitate, or `None` (the default) to deliver messages as fast as the
    /// transport moves them. Shaping only delays: what is sent, and the statistics, are the
    /// same.
    ///
    /// Each directed link (sender to receiver) is modelled as in [`NetProfile`]: a message
    /// handed to the link at `t` is delivered no earlier than `t` plus its transmit time
    /// (queued behind the earlier messages on that link) plus half the round-trip time.
    /// Every message counts its payload and a 32-byte frame header; abort notices are not
    /// delayed (a failure should still reach every party at once), so an abort may overtake
    /// messages held before it. The receiver holds each message until then, and a wait for a
    /// held message counts toward `timeout` like any other.
    ///
    /// What "handed to the link" means differs by transport, since parties on TCP share no
    /// clock: over [`LocalComm`](crate::LocalComm) it is when the sender sent it, exactly;
    /// over [`TcpComm`](crate::TcpComm) it is when the receiver reads the frame's header off
    /// the socket, which on loopback is when it was sent as long as the receiver is inside a
    /// call (it reads every link while it waits). A frame sent while its receiver is busy
    /// computing is stamped when the receiver next reads, so on an otherwise idle link its
    /// delay runs from then; on a busy link the queue behind earlier frames decides, and
    /// the late stamp costs nothing.
    ///
    /// [`TcpComm::from_env`](crate::TcpComm::from_env) fills this from [`NET_VAR`]
    /// (`CLOAK_NET`) when it is `None`.
    ///
    /// [`NET_VAR`]: crate::NET_VAR
    pub network: Option<NetProfile>,
}

impl Default for CommConfig {
    fn default() -> Self {
        CommConfig {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(60),
            max_message: 1 << 32,
            spin: Duration::from_micros(50),
            send_buffer: 64 << 20,
            security: Security::Auto,
            recv_buffer: 64 << 20,
            network: None,
        }
    }
}

/// The variable naming the directory of this party's TLS credentials.
pub const TLS_DIR_VAR: &str = "CLOAK_TLS_DIR";
/// The variable that, set to `1`, accepts plain TCP off loopback.
pub const PLAINTEXT_VAR: &str = "CLOAK_PLAINTEXT";

impl Security {
    /// The security the environment asks for, read through `lookup` (name to value) for
    /// rank `rank` of `world`: [`TLS_DIR_VAR`] (`CLOAK_TLS_DIR`) names a directory of
    /// credentials laid out as `cloak certs` writes them (see
    /// [`TlsConfig::from_dir`]); [`PLAINTEXT_VAR`] (`CLOAK_PLAINTEXT=1`) accepts plain TCP
    /// anywhere; neither leaves [`Security::Auto`]. Both at once is a configuration error.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        rank: usize,
        world: usize,
    ) -> Result<Security, CommError> {
        let dir = lookup(TLS_DIR_VAR).filter(|d| !d.trim().is_empty());
        let plain = lookup(PLAINTEXT_VAR).map(|v| v.trim().to_owned());
        let plain = match plain.as_deref() {
            None | Some("" | "0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(CommError::Config {
                    var: format!("{PLAINTEXT_VAR}={other}"),
                    reason: "expected 1 (or 0)".into(),
                });
            }
        };
        match (dir, plain) {
            (Some(_), true) => Err(CommError::Config {
                var: format!("{TLS_DIR_VAR} and {PLAINTEXT_VAR}"),
                reason: "both set: choose TLS or plain TCP".into(),
            }),
            (Some(dir), false) => {
                Ok(Security::Tls(TlsConfig::from_dir(Path::new(dir.trim()), rank, world)?))
            }
            (None, true) => Ok(Security::InsecurePlain),
            (None, false) => Ok(Security::Auto),
        }
    }

    /// [`Security::from_lookup`] on this process's environment.
    pub fn from_env(rank: usize, world: usize) -> Result<Security, CommError> {
        Self::from_lookup(|name| std::env::var(name).ok(), rank, world)
    }
}

impl CommConfig {
    /// The defaults with both timeouts set to `timeout`: what tests want.
    pub fn with_timeouts(timeout: Duration) -> Self {
        CommConfig { timeout, connect_timeout: timeout, ..CommConfig::default() }
    }

    /// This configuration imitating `network` (see [`CommConfig::network`]); `None` turns
    /// shaping off.
    #[must_use]
    pub fn with_network(self, network: Option<NetProfile>) -> Self {
        CommConfig { network, ..self }
    }
}
