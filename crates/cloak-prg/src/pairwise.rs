//! Seeds shared by pairs of parties, and pseudo-random zero sharing (PRZS) built on them.

use std::fmt;

use rayon::prelude::*;

use crate::parallel::{PAR_PIECE_BYTES, worth_splitting};
use crate::word::Word;
use crate::{Prg, PrgError, Seed, SeedDeriver};

/// Label under which [`PairwiseSeeds::from_master`] derives the seed of each pair.
const PAIR_LABEL: &str = "cloak-prg/pairwise";
/// Label under which a pair seed is turned into its zero-sharing stream, so that callers may
/// use the pair seed itself for other purposes without reusing the zero-sharing randomness.
const PRZS_LABEL: &str = "cloak-prg/przs";

/// Words generated per step when subtracting the second stream: 4 KiB of `u64` on the stack,
/// a whole number of the generator's 1 KiB chunks.
const SCRATCH_WORDS: usize = 512;

/// Party `rank`'s seeds shared with each of the other `world - 1` parties (the same seed at
/// both ends of a pair), and the streams for pseudo-random zero sharing.
///
/// # Zero sharing
///
/// Parties sit on a ring. The edge from `i` to `i + 1 (mod world)` carries a stream derived
/// from their pair seed; party `i` adds its outgoing edge's stream and subtracts its incoming
/// edge's, so every edge is added once and subtracted once and the shares sum to zero. With
/// two parties the two edges are the same pair, so the single stream is added by party 0 and
/// subtracted by party 1. Each party draws at most two streams whatever the world size (as
/// CrypTen does), rather than one per peer.
///
/// Security (semi-honest): a party's share looks uniformly random to anyone lacking one of the
/// (at most) two pair seeds it depends on, and the sum of all shares is zero by construction.
/// The ring trades some collusion resistance for speed: the two ring neighbours of a party
/// together know both of its seeds, hence its share; the all-pairs variant would resist any
/// coalition of up to `world - 2` parties, at `world - 1` streams per party.
pub struct PairwiseSeeds {
    rank: usize,
    world: usize,
    /// `seeds[peer]`: the seed shared with `peer`; `None` exactly at `rank`.
    seeds: Vec<Option<Seed>>,
    /// Stream of the edge `rank -> rank + 1` (added); `None` for party 1 of 2.
    plus: Option<Prg>,
    /// Stream of the edge `rank - 1 -> rank` (subtracted); `None` for party 0 of 2.
    minus: Option<Prg>,
    /// The keys of `plus` and `minus`, for a device that makes the same streams.
    plus_key: Option<[u8; 16]>,
    minus_key: Option<[u8; 16]>,
}

/// Where a run of one zero-sharing stream lies: its AES-128-CTR key and its first `u64`
/// word, for a device that makes the stream itself (`cloak_ring`'s `Device::keystream`).
/// Secret: a party's own pairwise randomness.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StreamRun {
    /// The stream's key (the [`Prg`] seed).
    pub key: [u8; 16],
    /// The run's first word.
    pub first_word: u64,
}

impl fmt::Debug for StreamRun {
    /// The position only: the key is secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRun").field("first_word", &self.first_word).finish_non_exhaustive()
    }
}

/// The runs of the two streams of one zero share: the share is `plus - minus` word by word,
/// a missing stream counting as zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZeroShareRuns {
    /// The added stream's run.
    pub plus: Option<StreamRun>,
    /// The subtracted stream's run.
    pub minus: Option<StreamRun>,
}

impl PairwiseSeeds {
    /// Pair seeds derived from one `master` seed that every party knows. Every party can then
    /// compute every pair's seed, so this is only for tests, benchmarks and trusted set-ups.
    ///
    /// # Errors
    /// [`PrgError::WorldTooSmall`] if `world < 2`; [`PrgError::RankOutOfRange`] if
    /// `rank >= world`.
    pub fn from_master(master: &Seed, rank: usize, world: usize) -> Result<Self, PrgError> {
        check_layout(rank, world)?;
        let deriver = SeedDeriver::new(master);
        let seeds = (0..world)
            .map(|peer| (peer != rank).then(|| deriver.derive_pair(PAIR_LABEL, rank, peer)))
            .collect();
        Ok(Self::build(rank, world, seeds))
    }

    /// Pair seeds agreed by the caller (for example, for each pair the lower rank draws
    /// [`Seed::from_os_entropy`] and sends it to the higher one): one `(peer, seed)` for each
    /// other party, in any order.
    ///
    /// # Errors
    /// [`PrgError::WorldTooSmall`], [`PrgError::RankOutOfRange`] for a bad layout;
    /// [`PrgError::PeerOutOfRange`], [`PrgError::SelfPair`] or
    /// [`PrgError::DuplicatePairSeed`] for a bad entry; [`PrgError::MissingPairSeed`] if a
    /// peer has no seed.
    pub fn from_peer_seeds(
        rank: usize,
        world: usize,
        pairs: impl IntoIterator<Item = (usize, Seed)>,
    ) -> Result<Self, PrgError> {
        check_layout(rank, world)?;
        let mut seeds: Vec<Option<Seed>> = vec![None; world];
        for (peer, seed) in pairs {
            check_peer(rank, world, peer)?;
            let slot = &mut seeds[peer];
            if slot.is_some() {
                return Err(PrgError::DuplicatePairSeed { rank, peer });
            }
            *slot = Some(seed);
        }
        if let Some(peer) = (0..world).find(|&p| p != rank && seeds[p].is_none()) {
            return Err(PrgError::MissingPairSeed { rank, peer });
        }
        Ok(Self::build(rank, world, seeds))
    }

    /// Sets up the zero-sharing streams; `seeds` is complete (checked by the constructors).
    fn build(rank: usize, world: usize, seeds: Vec<Option<Seed>>) -> Self {
        let key = |peer: usize| seeds[peer].as_ref().map(|s| *s.derive(PRZS_LABEL).expose_bytes());
        let next = (rank + 1) % world;
        let prev = (rank + world - 1) % world;
        let two = world == 2;
        let plus_key = if two && rank == 1 { None } else { key(next) };
        let minus_key = if two && rank == 0 { None } else { key(prev) };
        let stream = |k: Option<[u8; 16]>| k.map(|k| Prg::new(&Seed::from_bytes(k)));
        let (plus, minus) = (stream(plus_key), stream(minus_key));
        Self { rank, world, seeds, plus, minus, plus_key, minus_key }
    }

    /// This party's rank.
    #[must_use]
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of parties.
    #[must_use]
    pub fn world(&self) -> usize {
        self.world
    }

    /// The seed shared with `peer`.
    ///
    /// # Errors
    /// [`PrgError::PeerOutOfRange`] if `peer >= world`; [`PrgError::SelfPair`] if
    /// `peer == rank`.
    pub fn seed_with(&self, peer: usize) -> Result<&Seed, PrgError> {
        check_peer(self.rank, self.world, peer)?;
        self.seeds[peer].as_ref().ok_or(PrgError::MissingPairSeed { rank: self.rank, peer })
    }

    /// Overwrites `out` with this party's share of zero: pseudo-random, and summing (mod 2^64)
    /// to zero over all parties when every party calls it with the same length. Each call
    /// moves on in the streams, so successive calls give fresh shares. Buffers of at least
    /// [`PAR_MIN_BYTES`](crate::PAR_MIN_BYTES) are generated on all rayon threads (same
    /// result).
    pub fn zero_share_u64(&mut self, out: &mut [u64]) {
        self.zero_share(out);
    }

    /// Where the next `len` words of this party's zero share lie in its two streams, for a
    /// device that makes them itself; the streams move on as
    /// [`zero_share_u64`](Self::zero_share_u64) of `len` words would move them. `None` (and
    /// nothing moves) if a stream is not at a whole `u64` word (after odd `u32` draws).
    pub fn zero_share_runs(&mut self, len: usize) -> Option<ZeroShareRuns> {
        let run = |prg: &Option<Prg>, key: Option<[u8; 16]>| -> Option<Option<StreamRun>> {
            match (prg, key) {
                (Some(p), Some(key)) => {
                    let pos = p.byte_position();
                    (pos % 8 == 0).then_some(Some(StreamRun { key, first_word: (pos / 8) as u64 }))
                }
                _ => Some(None),
            }
        };
        let runs = ZeroShareRuns {
            plus: run(&self.plus, self.plus_key)?,
            minus: run(&self.minus, self.minus_key)?,
        };
        let advance = (len as u128) * 8;
        for prg in [&mut self.plus, &mut self.minus].into_iter().flatten() {
            let pos = prg.byte_position();
            prg.set_byte_position(pos + advance);
        }
        Some(runs)
    }

    /// [`zero_share_u64`](Self::zero_share_u64) modulo 2^32.
    pub fn zero_share_u32(&mut self, out: &mut [u32]) {
        self.zero_share(out);
    }

    fn zero_share<W: Word>(&mut self, out: &mut [W]) {
        if !worth_splitting::<W>(out.len()) {
            zero_share_piece(self.plus.as_mut(), self.minus.as_mut(), out);
            return;
        }
        // Every piece forks both streams at its own offset; the result is the sequential one.
        let plus_start = self.plus.as_ref().map(Prg::byte_position);
        let minus_start = self.minus.as_ref().map(Prg::byte_position);
        let (plus, minus) = (self.plus.as_ref(), self.minus.as_ref());
        out.par_chunks_mut(PAR_PIECE_BYTES / W::BYTES).enumerate().for_each(|(i, piece)| {
            let offset = (i * PAR_PIECE_BYTES) as u128;
            let fork = |prg: Option<&Prg>, start: Option<u128>| {
                prg.zip(start).map(|(p, s)| p.fork_at(s + offset))
            };
            let mut plus = fork(plus, plus_start);
            let mut minus = fork(minus, minus_start);
            zero_share_piece(plus.as_mut(), minus.as_mut(), piece);
        });
        let advance = (out.len() * W::BYTES) as u128;
        for (prg, start) in [(&mut self.plus, plus_start), (&mut self.minus, minus_start)] {
            if let (Some(prg), Some(start)) = (prg.as_mut(), start) {
                prg.set_byte_position(start + advance);
            }
        }
    }
}

/// `out = plus - minus` over the next `out.len()` words of each stream (a missing stream
/// counts as zero), subtracting through a small stack scratch to avoid an allocation.
fn zero_share_piece<W: Word>(plus: Option<&mut Prg>, minus: Option<&mut Prg>, out: &mut [W]) {
    match plus {
        Some(plus) => plus.fill_words(out),
        None => out.fill(W::ZERO),
    }
    let Some(minus) = minus else { return };
    let mut scratch = [W::ZERO; SCRATCH_WORDS];
    for piece in out.chunks_mut(SCRATCH_WORDS) {
        let scratch = &mut scratch[..piece.len()];
        minus.fill_words(scratch);
        for (o, r) in piece.iter_mut().zip(scratch.iter()) {
            *o = o.wrapping_sub(*r);
        }
    }
}

fn check_layout(rank: usize, world: usize) -> Result<(), PrgError> {
    if world < 2 {
        return Err(PrgError::WorldTooSmall { world });
    }
    if rank >= world {
        return Err(PrgError::RankOutOfRange { rank, world });
    }
    Ok(())
}

fn check_peer(rank: usize, world: usize, peer: usize) -> Result<(), PrgError> {
    if peer >= world {
        return Err(PrgError::PeerOutOfRange { peer, world });
    }
    if peer == rank {
        return Err(PrgError::SelfPair { rank });
    }
    Ok(())
}

impl fmt::Debug for PairwiseSeeds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairwiseSeeds")
            .field("rank", &self.rank)
            .field("world", &self.world)
            .field("seeds", &"<redacted>")
            .finish_non_exhaustive()
    }
}
