//! The cryptographic pseudo-random generator under every share in Cloak.
//!
//! - [`AesCtr`]: AES-128 in counter mode (NIST SP 800-38A) on the `aes` crate, which picks
//!   VAES-512, VAES-256, AES-NI or software AES at run time ([`aes_backend`] says which).
//! - [`Prg`]: the generator (a [`Seed`] as AES key, counter from 0), a rand_core
//!   `RngCore + CryptoRng + SeedableRng`, with bulk `fill_u64`/`fill_u32`/`fill_bytes` and
//!   rayon-parallel `par_fill_*` that give the same stream.
//! - [`Seed`] and [`SeedDeriver`]: 128-bit seeds (redacted in `Debug`) and labelled derivation
//!   of independent seeds per label, index and party pair (AES CBC-MAC PRF).
//! - [`PairwiseSeeds`]: a seed per pair of parties and pseudo-random zero sharing.
//!
//! This crate knows nothing of communication: the layers above exchange seeds.
//!
//! ```
//! use cloak_prg::{PairwiseSeeds, Prg, Seed};
//!
//! // A dealer derives one generator per purpose from its master seed.
//! let master = Seed::from_bytes([7; 16]);
//! let mut prg = Prg::new(&master.derive_indexed("beaver/a", 0));
//! let mut a = vec![0u64; 1000];
//! prg.fill_u64(&mut a);
//!
//! // Three parties' shares of zero (here from a common master, as in tests).
//! let mut parties = (0..3)
//!     .map(|rank| PairwiseSeeds::from_master(&master, rank, 3))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let mut shares = vec![vec![0u64; 4]; 3];
//! for (party, share) in parties.iter_mut().zip(&mut shares) {
//!     party.zero_share_u64(share);
//! }
//! for i in 0..4 {
//!     let sum = shares.iter().fold(0u64, |s, share| s.wrapping_add(share[i]));
//!     assert_eq!(sum, 0);
//! }
//! # Ok::<(), cloak_prg::PrgError>(())
//! ```

mod backend;
mod ctr;
mod derive;
mod error;
mod fixed_key;
mod mem;
mod pairwise;
mod parallel;
mod prg;
mod seed;
mod word;

pub use backend::aes_backend;
pub use ctr::{AesCtr, BLOCK_LEN};
pub use derive::SeedDeriver;
pub use error::PrgError;
pub use fixed_key::FixedKeyAes;
pub use pairwise::{PairwiseSeeds, StreamRun, ZeroShareRuns};
pub use parallel::PAR_MIN_BYTES;
pub use prg::Prg;
pub use seed::{SEED_LEN, Seed};
