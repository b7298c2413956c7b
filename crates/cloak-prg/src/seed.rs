//! The 16-byte secret from which every generator starts.

use std::fmt;

use rand_core::{CryptoRng, OsRng, TryRngCore};

use crate::PrgError;

/// Bytes in a [`Seed`]: one AES-128 key.
pub const SEED_LEN: usize = 16;

/// A 128-bit secret seed: the AES-128 key of a [`Prg`](crate::Prg) and the root of labelled
/// derivation ([`derive`](Self::derive) and friends).
///
/// It is deliberately not `Copy` and its `Debug` prints `Seed(<redacted>)`, so a seed does not
/// end up in a log by accident; [`expose_bytes`](Self::expose_bytes) is the one explicit way
/// out (to send it to a peer, for example).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Seed([u8; SEED_LEN]);

impl Seed {
    /// A seed with the given bytes (for example received from a peer).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; SEED_LEN]) -> Self {
        Self(bytes)
    }

    /// The secret bytes. Named so that every use stands out in review.
    #[must_use]
    pub const fn expose_bytes(&self) -> &[u8; SEED_LEN] {
        &self.0
    }

    /// A fresh seed from the operating system's entropy source (`getrandom`).
    ///
    /// # Errors
    /// [`PrgError::Entropy`] if the operating system cannot provide random bytes.
    pub fn from_os_entropy() -> Result<Self, PrgError> {
        let mut bytes = [0u8; SEED_LEN];
        OsRng.try_fill_bytes(&mut bytes).map_err(|source| PrgError::Entropy { source })?;
        Ok(Self(bytes))
    }

    /// A fresh seed drawn from a cryptographic generator (the bound rules out, at compile
    /// time, seeding from a non-cryptographic one).
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; SEED_LEN];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }
}

impl From<[u8; SEED_LEN]> for Seed {
    fn from(bytes: [u8; SEED_LEN]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}
