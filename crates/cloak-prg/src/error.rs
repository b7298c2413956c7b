//! The one error type of this crate.

use rand_core::OsError;

/// Everything that can go wrong in `cloak-prg`.
///
/// Generating randomness itself cannot fail once a generator exists (AES in counter mode is
/// total), so errors only come from setting things up: a party layout that does not make
/// sense, a missing or misplaced pairwise seed, or an operating system that refuses entropy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrgError {
    /// A party's rank is not below the number of parties.
    #[error("party rank {rank} is out of range for a world of {world} parties")]
    RankOutOfRange {
        /// The offending rank.
        rank: usize,
        /// The number of parties.
        world: usize,
    },
    /// Pairwise seeds and zero sharing need at least two parties.
    #[error("pairwise seeds need a world of at least 2 parties, got {world}")]
    WorldTooSmall {
        /// The number of parties given.
        world: usize,
    },
    /// A peer index is not below the number of parties.
    #[error("peer {peer} is out of range for a world of {world} parties")]
    PeerOutOfRange {
        /// The offending peer index.
        peer: usize,
        /// The number of parties.
        world: usize,
    },
    /// A party was asked for (or given) a seed shared with itself, which has no meaning.
    #[error("party {rank} cannot hold a pairwise seed with itself")]
    SelfPair {
        /// The party's own rank.
        rank: usize,
    },
    /// The same peer appeared twice among the seeds handed to a party.
    #[error("party {rank} was given more than one seed for peer {peer}")]
    DuplicatePairSeed {
        /// The party's own rank.
        rank: usize,
        /// The peer that appeared twice.
        peer: usize,
    },
    /// A party lacks the seed it shares with some peer.
    #[error("party {rank} has no pairwise seed for peer {peer}")]
    MissingPairSeed {
        /// The party's own rank.
        rank: usize,
        /// The peer whose seed is missing.
        peer: usize,
    },
    /// The operating system's random source failed while drawing a fresh seed.
    #[error("the operating system's entropy source failed: {source}")]
    Entropy {
        /// The error reported by `getrandom` (through rand_core's `OsRng`).
        #[source]
        source: OsError,
    },
}
