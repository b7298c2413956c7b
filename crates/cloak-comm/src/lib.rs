//! Communication for Cloak's multi-party computation.
//!
//! Every MPC protocol of Cloak runs over a [`Communicator`]: N parties, each running the same
//! program (SPMD), exchanging byte messages in rounds. Two transports implement it:
//!
//! - [`LocalComm`]: in-process channels, for tests and one-machine runs;
//! - [`TcpComm`]: TCP over a full mesh, for deployments, with rendezvous through launcher
//!   variables ([`Launch`]) or a peers file ([`PeersFile`]) and a documented frame format
//!   ([`wire`]). Links between machines are mutual TLS ([`tls`], [`Security`]): every peer's
//!   rank is proven by its certificate, and plain TCP is allowed by default only when every
//!   party is on loopback.
//!
//! Failures are values, never hangs: a peer that dies, stalls or sends garbage ends the
//! computation at every party within the timeout of [`CommConfig`], with a [`CommError`]
//! naming the peer; a party that runs a different program gets [`CommError::OutOfSync`]. A
//! party that fails tells the others why before it closes ([`Communicator::abort`]), so every
//! party's error names the party that failed first ([`CommError::Aborted`]).
//! A party that fails tells the others who failed first and why before it closes, so every
//! party names the same culprit ([`CommError::Aborted`]), and a party whose own work fails
//! says so with [`Communicator::abort`]. What one peer can make a party hold is bounded:
//! [`CommConfig::max_message`] per frame (allocated as it arrives),
//! [`CommConfig::recv_buffer`] read ahead and [`CommConfig::send_buffer`] queued per link.
//! Every communication call counts its rounds, messages and bytes under a label
//! ([`CommStats`]), because those numbers are part of each protocol's contract.
//!
//! Either transport can imitate a LAN or WAN ([`NetProfile`], chosen by
//! [`CommConfig::network`] or `CLOAK_NET`): each message is then delivered no earlier than
//! a link of that bandwidth and round-trip time would deliver it, so that times measured on
//! one machine show what rounds and bytes cost on a network.
//!
//! Every transport passes the same [`conformance`] suite
//! ([`communicator_conformance_tests!`]).
//!
//! The [`runner`] module runs N parties on one machine (threads or processes):
//!
//! ```
//! use cloak_comm::runner::run_threads;
//! use cloak_comm::{CommConfig, CommError, Communicator};
//!
//! let outcomes = run_threads(3, &CommConfig::default(), |mut comm| {
//!     let mut x = [comm.rank() as u64 + 1];
//!     comm.with_label("sum", |c| c.all_reduce_sum_u64(&mut x))?;
//!     assert_eq!(comm.stats().get("sum").map(|s| s.rounds), Some(1));
//!     Ok::<_, CommError>(x[0])
//! });
//! assert!(outcomes.iter().all(|o| matches!(o, Ok(6))));
//! ```

mod codec;
mod communicator;
mod config;
pub mod conformance;
mod endpoint;
mod error;
mod launch;
mod local;
mod net;
mod op;
mod peers;
pub mod runner;
mod shaper;
mod stats;
mod tcp;
pub mod tls;
pub mod wire;

pub use codec::{u64s_from_bytes, u64s_to_bytes};
pub use communicator::Communicator;
pub use config::{CommConfig, PLAINTEXT_VAR, Security, TLS_DIR_VAR};
pub use error::CommError;
pub use launch::{LAUNCHERS, Launch, Rendezvous};
pub use local::LocalComm;
pub use net::{NET_VAR, NetParseError, NetProfile};
pub use op::{MessageTag, Op, OpKind};
pub use peers::{PeerEntry, PeersFile};
pub use stats::{CommStats, DEFAULT_LABEL, OpStats};
pub use tcp::TcpComm;
