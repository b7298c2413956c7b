//! Labelled seed derivation: one master seed, many independent seeds.
//!
//! # Construction
//!
//! `derive*(master, input) = CBC-MAC_K(len(m) || m)` with AES-128, where
//!
//! - `K = AES_master("cloak-prg/kdf/v1")`. A [`Prg`](crate::Prg) keyed by the same master
//!   encrypts the counter blocks 0, 1, 2, ... and can only seek to a `u64` block index, so its
//!   counters stay below 2^65 in any run (the first 8 bytes, big-endian, are 0 or 1), while
//!   this constant's first 8 bytes read "cloak-pr". The two uses of the master key therefore
//!   never encrypt the same block, so derived seeds are independent of the master's own
//!   stream (up to the PRP/PRF switching bound).
//! - `m = kind || u64le(len(label)) || label || u64le(field)...`: the kind byte tells plain,
//!   indexed and pair derivations apart, and the length prefix makes label/field boundaries
//!   unambiguous, so distinct inputs give distinct messages.
//! - `len(m)` (bytes, as a u64le, zero-padded) is encrypted as the first block and the message
//!   is zero-padded to whole blocks. CBC-MAC with the length prepended is a secure PRF on
//!   messages of any length (Bellare, Kilian, Rogaway, "The security of the cipher block
//!   chaining message authentication code", JCSS 2000; the length-prepending variant is
//!   their Section 5), with distinguishing advantage about `q^2 l^2 / 2^128` for `q` queries
//!   of `l` blocks: negligible here.
//!
//! Why CBC-MAC rather than "AES_K of a fixed-length encoding": labels are strings of any
//! length, and a single AES call only takes 16 bytes; CBC-MAC reuses the AES hardware already
//! in use and needs no hash-function dependency.

use std::fmt;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use crate::ctr::BLOCK_LEN;
use crate::seed::Seed;

/// The block the master key encrypts to make the derivation key (see the module docs for
/// why its first 8 bytes must not be zero).
const KDF_DOMAIN: [u8; BLOCK_LEN] = *b"cloak-prg/kdf/v1";

/// Kind bytes: the first byte of every derivation message.
const KIND_LABEL: u8 = 1;
const KIND_INDEXED: u8 = 2;
const KIND_PAIR: u8 = 3;

/// Derives many seeds from one master seed; keeps the expanded derivation key so that deriving
/// in a loop (a seed per tensor, per party, per step) costs a few AES calls per seed.
#[derive(Clone)]
pub struct SeedDeriver {
    cipher: Aes128Enc,
}

impl SeedDeriver {
    /// The deriver of `master`.
    #[must_use]
    pub fn new(master: &Seed) -> Self {
        let master_cipher = Aes128Enc::new(&Array::from(*master.expose_bytes()));
        let mut key = Array::from(KDF_DOMAIN);
        master_cipher.encrypt_block(&mut key);
        Self { cipher: Aes128Enc::new(&key) }
    }

    /// The seed for `label` (any bytes; a `&str` works).
    #[must_use]
    pub fn derive(&self, label: impl AsRef<[u8]>) -> Seed {
        self.mac(KIND_LABEL, label.as_ref(), &[])
    }

    /// The seed for item `index` under `label` (a seed per tensor, per step, ...).
    #[must_use]
    pub fn derive_indexed(&self, label: impl AsRef<[u8]>, index: u64) -> Seed {
        self.mac(KIND_INDEXED, label.as_ref(), &[index])
    }

    /// The seed for the unordered pair of parties `{a, b}` under `label`: the same whichever
    /// end asks, so both ends of a pair agree without talking.
    #[must_use]
    pub fn derive_pair(&self, label: impl AsRef<[u8]>, a: usize, b: usize) -> Seed {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        self.mac(KIND_PAIR, label.as_ref(), &[lo as u64, hi as u64])
    }

    /// Length-prepended CBC-MAC of `kind || u64le(len(label)) || label || u64le(fields)...`.
    fn mac(&self, kind: u8, label: &[u8], fields: &[u64]) -> Seed {
        let msg_len = 1 + 8 + label.len() + 8 * fields.len();
        let mut mac = CbcMac::new(&self.cipher, msg_len as u64);
        mac.absorb(&[kind]);
        mac.absorb(&(label.len() as u64).to_le_bytes());
        mac.absorb(label);
        for field in fields {
            mac.absorb(&field.to_le_bytes());
        }
        Seed::from_bytes(mac.finish())
    }
}

impl fmt::Debug for SeedDeriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeedDeriver(<redacted>)")
    }
}

/// CBC-MAC state: XOR message bytes into the chaining value, encrypt each full block.
struct CbcMac<'a> {
    cipher: &'a Aes128Enc,
    state: Array<u8, aes::cipher::consts::U16>,
    filled: usize,
}

impl<'a> CbcMac<'a> {
    /// Starts the MAC by encrypting the length block.
    fn new(cipher: &'a Aes128Enc, msg_len: u64) -> Self {
        let mut first = [0u8; BLOCK_LEN];
        first[..8].copy_from_slice(&msg_len.to_le_bytes());
        let mut state = Array::from(first);
        cipher.encrypt_block(&mut state);
        Self { cipher, state, filled: 0 }
    }

    fn absorb(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.state[self.filled] ^= byte;
            self.filled += 1;
            if self.filled == BLOCK_LEN {
                self.cipher.encrypt_block(&mut self.state);
                self.filled = 0;
            }
        }
    }

    /// Zero-pads the last block (XOR with zero leaves the state as is) and encrypts it.
    fn finish(mut self) -> [u8; BLOCK_LEN] {
        if self.filled > 0 {
            self.cipher.encrypt_block(&mut self.state);
        }
        self.state.into()
    }
}

impl Seed {
    /// The seed for `label` under this master seed; see [`SeedDeriver::derive`]. Build a
    /// [`SeedDeriver`] once when deriving many seeds from one master.
    #[must_use]
    pub fn derive(&self, label: impl AsRef<[u8]>) -> Seed {
        SeedDeriver::new(self).derive(label)
    }

    /// The seed for item `index` under `label`; see [`SeedDeriver::derive_indexed`].
    #[must_use]
    pub fn derive_indexed(&self, label: impl AsRef<[u8]>, index: u64) -> Seed {
        SeedDeriver::new(self).derive_indexed(label, index)
    }

    /// The seed for the unordered pair `{a, b}` under `label`; see
    /// [`SeedDeriver::derive_pair`].
    #[must_use]
    pub fn derive_pair(&self, label: impl AsRef<[u8]>, a: usize, b: usize) -> Seed {
        SeedDeriver::new(self).derive_pair(label, a, b)
    }
}
