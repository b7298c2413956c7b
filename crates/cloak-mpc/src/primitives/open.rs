//! Openings: the parties publish masked values, batched so that every protocol step sends
//! one message per peer per round however many tensors it opens.

use cloak_comm::{Op, OpKind};
use cloak_ring::RingTensor;

use super::context::Context;
use crate::error::{MpcError, Result};

/// Concatenated little-endian bytes of several `u64` vectors.
fn concat_bytes(parts: &[Vec<u64>]) -> Vec<u8> {
    let total: usize = parts.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(total * 8);
    for p in parts {
        out.extend(p.iter().flat_map(|v| v.to_le_bytes()));
    }
    out
}

/// Adds (or XORs) a peer's concatenated message into the accumulators.
fn fold_into(
    acc: &mut [Vec<u64>],
    bytes: &[u8],
    peer: usize,
    op: &'static str,
    xor: &dyn Fn(usize) -> bool,
) -> Result<()> {
    let expected: usize = acc.iter().map(|a| a.len() * 8).sum();
    if bytes.len() != expected {
        return Err(MpcError::Malformed {
            op,
            peer,
            reason: format!("{} bytes, expected {expected}", bytes.len()),
        });
    }
    let mut chunks = bytes.chunks_exact(8);
    let word = |c: &[u8]| {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        u64::from_le_bytes(b)
    };
    for (i, a) in acc.iter_mut().enumerate() {
        if xor(i) {
            a.iter_mut().zip(&mut chunks).for_each(|(v, c)| *v ^= word(c));
        } else {
            a.iter_mut().zip(&mut chunks).for_each(|(v, c)| *v = v.wrapping_add(word(c)));
        }
    }
    Ok(())
}

impl Context {
    /// Opens several word vectors to every party in one round: each party sends its share
    /// to every peer and combines (sum, or XOR with `xor`) what it receives into its own.
    /// One round; the total words of `parts` to each peer, in one message however many
    /// parts (this is round batching: open everything a step needs together). `op` names
    /// the step in errors.
    ///
    /// # Errors
    /// A communication error, or [`MpcError::Malformed`] for a message of the wrong size.
    pub fn open_words(
        &mut self,
        op: &'static str,
        parts: Vec<Vec<u64>>,
        xor: bool,
    ) -> Result<Vec<Vec<u64>>> {
        self.open_parts(op, parts, &|_| xor)
    }

    /// Opens XOR-shared and additively shared vectors together, in one round (one message
    /// per peer): part `i` is combined by XOR where `xor(i)`, by addition elsewhere.
    ///
    /// # Errors
    /// As [`open_words`](Self::open_words).
    pub fn open_parts(
        &mut self,
        op: &'static str,
        parts: Vec<Vec<u64>>,
        xor: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<Vec<u64>>> {
        let mut acc = parts;
        let peers = self.peers();
        let bytes = concat_bytes(&acc);
        let sends: Vec<(usize, &[u8])> = peers.iter().map(|&p| (p, bytes.as_slice())).collect();
        let got = self.comm().step(Op::new(OpKind::ExchangeAll), &sends, &peers)?;
        self.comm().flush()?;
        for (&peer, msg) in peers.iter().zip(&got) {
            fold_into(&mut acc, msg, peer, op, xor)?;
        }
        Ok(acc)
    }

    /// Opens several word vectors to `owner` only (one round; every other party sends its
    /// share to the owner); `Some` at the owner, `None` elsewhere.
    ///
    /// # Errors
    /// [`MpcError::InvalidArgument`] if `owner` is not a computing party (before anything is
    /// sent); otherwise as [`open_words`](Self::open_words).
    pub fn open_words_to(
        &mut self,
        op: &'static str,
        owner: usize,
        parts: Vec<Vec<u64>>,
        xor: bool,
    ) -> Result<Option<Vec<Vec<u64>>>> {
        if owner >= self.parties() {
            // A rank past the parties (a third-party dealer's) must never gather shares.
            return Err(crate::error::invalid(
                "open_to",
                format!("owner {owner} is not one of the {} parties", self.parties()),
            ));
        }
        let gather = Op::with_aux(OpKind::Gather, owner as u64);
        if self.rank() == owner {
            let peers = self.peers();
            let got = self.comm().step(gather, &[], &peers)?;
            let mut acc = parts;
            for (&peer, msg) in peers.iter().zip(&got) {
                fold_into(&mut acc, msg, peer, op, &|_| xor)?;
            }
            Ok(Some(acc))
        } else {
            let bytes = concat_bytes(&parts);
            self.comm().step(gather, &[(owner, bytes.as_slice())], &[])?;
            self.comm().flush()?;
            Ok(None)
        }
    }

    /// Opens additively shared ring tensors to every party, in one round (one message per
    /// peer). A tensor on a device is downloaded once (the bytes sent) and its opened value
    /// uploaded once, to the same device.
    ///
    /// # Errors
    /// As [`open_words`](Self::open_words).
    pub fn open_tensors(
        &mut self,
        op: &'static str,
        tensors: Vec<RingTensor<u64>>,
    ) -> Result<Vec<RingTensor<u64>>> {
        self.open_tensor_parts(op, tensors, &|_| false)
    }

    /// Opens several tensors in one round (one message per peer), tensor `i` combined by
    /// XOR where `xor(i)`, by addition elsewhere; each opened value where its share lives
    /// (a device share is downloaded once, the bytes sent, and its opened value uploaded
    /// once).
    ///
    /// # Errors
    /// As [`open_parts`](Self::open_parts).
    pub fn open_tensor_parts(
        &mut self,
        op: &'static str,
        tensors: Vec<RingTensor<u64>>,
        xor: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<RingTensor<u64>>> {
        let shapes: Vec<Vec<usize>> = tensors.iter().map(|t| t.shape().to_vec()).collect();
        let devices: Vec<_> = tensors.iter().map(|t| t.device().cloned()).collect();
        let parts = tensors
            .into_iter()
            .map(|t| if t.is_host() { Ok(t.into_vec()) } else { t.try_to_vec() })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let opened = self.open_parts(op, parts, xor)?;
        shapes
            .iter()
            .zip(opened)
            .zip(devices)
            .map(|((s, v), device)| {
                let t = RingTensor::from_vec(s, v)?;
                Ok(match device {
                    Some(d) => t.to_device(&d)?,
                    None => t,
                })
            })
            .collect()
    }
}
