//! Openings: the parties publish masked values, batched so that every protocol step sends
//! one message per peer per round however many tensors it opens.

use cloak_comm::{Op, OpKind};
use cloak_ring::RingTensor;

use crate::error::{MpcError, Result};
use crate::session::State;

/// Concatenated little-endian bytes of several `u64` slices.
fn concat_bytes(parts: &[&[u64]]) -> Vec<u8> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(total * 8);
    for p in parts {
        for v in *p {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Adds (or XORs) a peer's concatenated message into the accumulators.
fn fold_into(
    acc: &mut [Vec<u64>],
    bytes: &[u8],
    peer: usize,
    op: &'static str,
    xor: bool,
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
    for a in acc.iter_mut() {
        for (v, c) in a.iter_mut().zip(&mut chunks) {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            let w = u64::from_le_bytes(b);
            *v = if xor { *v ^ w } else { v.wrapping_add(w) };
        }
    }
    Ok(())
}

impl State {
    /// Opens several word vectors to every party in one round: each party sends its share
    /// to every peer and combines (sum, or XOR with `xor`) what it receives.
    pub(crate) fn open_words(
        &mut self,
        op: &'static str,
        parts: &[&[u64]],
        xor: bool,
    ) -> Result<Vec<Vec<u64>>> {
        let mut acc: Vec<Vec<u64>> = parts.iter().map(|p| p.to_vec()).collect();
        let peers = self.peers();
        let bytes = concat_bytes(parts);
        let sends: Vec<(usize, &[u8])> = peers.iter().map(|&p| (p, bytes.as_slice())).collect();
        let got = self.comm.step(Op::new(OpKind::ExchangeAll), &sends, &peers)?;
        for (&peer, msg) in peers.iter().zip(&got) {
            fold_into(&mut acc, msg, peer, op, xor)?;
        }
        Ok(acc)
    }

    /// Opens several word vectors to `owner` only (one round); `Some` at the owner.
    pub(crate) fn open_words_to(
        &mut self,
        op: &'static str,
        owner: usize,
        parts: &[&[u64]],
        xor: bool,
    ) -> Result<Option<Vec<Vec<u64>>>> {
        let gather = Op::with_aux(OpKind::Gather, owner as u64);
        if self.rank == owner {
            let peers = self.peers();
            let got = self.comm.step(gather, &[], &peers)?;
            let mut acc: Vec<Vec<u64>> = parts.iter().map(|p| p.to_vec()).collect();
            for (&peer, msg) in peers.iter().zip(&got) {
                fold_into(&mut acc, msg, peer, op, xor)?;
            }
            Ok(Some(acc))
        } else {
            let bytes = concat_bytes(parts);
            self.comm.step(gather, &[(owner, bytes.as_slice())], &[])?;
            Ok(None)
        }
    }

    /// Opens additively shared ring tensors to every party, in one round.
    pub(crate) fn open_tensors(
        &mut self,
        op: &'static str,
        tensors: &[&RingTensor<u64>],
    ) -> Result<Vec<RingTensor<u64>>> {
        let slices: Vec<_> = tensors.iter().map(|t| t.as_slice()).collect();
        let parts: Vec<&[u64]> = slices.iter().map(|s| &s[..]).collect();
        let opened = self.open_words(op, &parts, false)?;
        tensors.iter().zip(opened).map(|(t, v)| Ok(RingTensor::from_vec(t.shape(), v)?)).collect()
    }
}
