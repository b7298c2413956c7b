//! Before the session starts, the parties tell each other what is public: the model owner
//! the model's structure ([`OnnxModel::public_bytes`](cloak::onnx::OnnxModel::public_bytes):
//! the graph, shapes and public constants, no weights), the data owner the input's shape.
//! One round, every computing party to every other, so it costs the same whoever holds
//! what.
//!
//! Each announcement also says whether its sender could read its own inputs: a party whose
//! file is missing still announces (a refusal), so the others stop at once with "party 0
//! refused its model" instead of waiting for it until a timeout. Sizes are bounded before
//! anything is allocated from them.

use cloak::Roles;
use cloak::comm::{Communicator, Op, OpKind};

/// The largest model structure a party accepts (the weights never travel).
pub(crate) const MAX_MODEL_BYTES: usize = 64 << 20;
/// The most input elements a party accepts (as `.npy` reading allows).
pub(crate) const MAX_INPUT_ELEMENTS: usize = cloak::npy::MAX_ELEMENTS;
/// The highest input rank accepted.
const MAX_RANK: usize = 16;

const VERSION: u8 = 1;
const OK: u8 = 1;
const SHAPE: u8 = 2;
const MODEL: u8 = 4;

/// What this party announces: whether its own inputs are fine, and the public part of
/// what it holds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mine<'a> {
    pub ok: bool,
    pub model: Option<&'a [u8]>,
    pub shape: Option<&'a [usize]>,
}

/// What every party knows after the round.
#[derive(Clone, Debug)]
pub(crate) struct Public {
    /// The model's structure, from the model owner (`None` at the owner itself).
    pub model: Option<Vec<u8>>,
    /// The input's shape.
    pub shape: Vec<usize>,
}

fn encode(mine: &Mine<'_>) -> Vec<u8> {
    let mut flags = if mine.ok { OK } else { 0 };
    let mut out = vec![VERSION, 0];
    if let (true, Some(shape)) = (mine.ok, mine.shape) {
        flags |= SHAPE;
        out.push(shape.len() as u8);
        for &d in shape {
            out.extend_from_slice(&(d as u64).to_le_bytes());
        }
    }
    if let (true, Some(model)) = (mine.ok, mine.model) {
        flags |= MODEL;
        out.extend_from_slice(model);
    }
    out[1] = flags;
    out
}

/// A decoded announcement: `None` for a refusal.
struct Theirs {
    shape: Option<Vec<usize>>,
    model: Option<Vec<u8>>,
}

fn decode(peer: usize, bytes: &[u8]) -> cloak::Result<Option<Theirs>> {
    let bad = |reason: String| {
        cloak::Error::Mpc(cloak::mpc::MpcError::Malformed { op: "announce", peer, reason })
    };
    let [version, flags, rest @ ..] = bytes else {
        return Err(bad(format!("{} bytes", bytes.len())));
    };
    if *version != VERSION {
        return Err(bad(format!("version {version}, expected {VERSION}")));
    }
    if flags & OK == 0 {
        return Ok(None);
    }
    let mut rest = rest;
    let mut shape = None;
    if flags & SHAPE != 0 {
        let [rank, dims @ ..] = rest else { return Err(bad("no shape".into())) };
        let rank = usize::from(*rank);
        if rank > MAX_RANK || dims.len() < 8 * rank {
            return Err(bad(format!("a shape of rank {rank}")));
        }
        let s: Vec<usize> = dims[..8 * rank]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .map(|d| usize::try_from(d).unwrap_or(usize::MAX))
            .collect();
        let fits = s
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .is_some_and(|n| n <= MAX_INPUT_ELEMENTS);
        if !fits {
            return Err(bad(format!(
                "input shape {s:?} has more than {MAX_INPUT_ELEMENTS} elements"
            )));
        }
        shape = Some(s);
        rest = &dims[8 * rank..];
    }
    let model = if flags & MODEL != 0 {
        if rest.len() > MAX_MODEL_BYTES {
            return Err(bad(format!(
                "a model of {} bytes, over the {MAX_MODEL_BYTES} accepted",
                rest.len()
            )));
        }
        Some(rest.to_vec())
    } else if !rest.is_empty() {
        return Err(bad(format!("{} unexpected bytes", rest.len())));
    } else {
        None
    };
    Ok(Some(Theirs { shape, model }))
}

/// The announcement round among the `parties` computing parties of `comm` (a third-party
/// dealer, the rank after them, takes no part).
///
/// # Errors
/// A communication error; a refusal by the model owner or the data owner
/// ([`cloak::Error::Refused`]); a malformed or oversized announcement.
pub(crate) fn announce(
    comm: &mut dyn Communicator,
    parties: usize,
    roles: &Roles,
    mine: Mine<'_>,
) -> cloak::Result<Public> {
    let rank = comm.rank();
    if let Some(m) = mine.model
        && m.len() > MAX_MODEL_BYTES
    {
        return Err(cloak::Error::Input {
            reason: format!(
                "the model's structure is {} bytes, over the {MAX_MODEL_BYTES} a party accepts",
                m.len()
            ),
        });
    }
    let message = encode(&mine);
    let peers: Vec<usize> = (0..parties).filter(|&p| p != rank).collect();
    let sends: Vec<(usize, &[u8])> = peers.iter().map(|&p| (p, message.as_slice())).collect();
    let previous = comm.stats().label().to_owned();
    comm.set_label("announce");
    let got = comm.step(Op::new(OpKind::AllGather), &sends, &peers);
    comm.set_label(&previous);
    let got = got?;
    let mut shape = if rank == roles.data_owner { mine.shape.map(<[usize]>::to_vec) } else { None };
    let mut model = None;
    for (&peer, bytes) in peers.iter().zip(&got) {
        let Some(theirs) = decode(peer, bytes)? else {
            let what = match peer {
                p if p == roles.model_owner => "model",
                p if p == roles.data_owner => "input",
                _ => "part",
            };
            return Err(cloak::Error::Refused { party: peer, what: what.into() });
        };
        if peer == roles.data_owner {
            shape = theirs.shape;
        }
        if peer == roles.model_owner {
            model = theirs.model;
        }
    }
    if !mine.ok {
        // This party's own failure is reported by its caller; the round only told the others.
        return Ok(Public { model: None, shape: Vec::new() });
    }
    let missing = |what: &str, who: usize| {
        cloak::Error::Mpc(cloak::mpc::MpcError::Malformed {
            op: "announce",
            peer: who,
            reason: format!("no {what}"),
        })
    };
    if rank != roles.model_owner && model.is_none() {
        return Err(missing("model", roles.model_owner));
    }
    let shape = shape.ok_or_else(|| missing("input shape", roles.data_owner))?;
    Ok(Public { model, shape })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_round_trip_and_bad_ones_are_refused() {
        let m = Mine { ok: true, model: Some(b"onnx"), shape: Some(&[8, 1, 8, 8]) };
        let t = decode(0, &encode(&m)).unwrap().unwrap();
        assert_eq!(t.shape, Some(vec![8, 1, 8, 8]));
        assert_eq!(t.model.as_deref(), Some(&b"onnx"[..]));
        // A refusal carries nothing, even where the sender had something.
        assert!(decode(0, &encode(&Mine { ok: false, ..m })).unwrap().is_none());
        // Too many elements, a truncated shape, a wrong version, nothing at all.
        let huge = encode(&Mine { ok: true, model: None, shape: Some(&[1 << 20, 1 << 20]) });
        assert!(decode(1, &huge).is_err());
        let mut cut = encode(&Mine { ok: true, model: None, shape: Some(&[2, 3]) });
        cut.truncate(10);
        assert!(decode(1, &cut).is_err());
        assert!(decode(1, &[9, 1]).is_err());
        assert!(decode(1, &[]).is_err());
    }
}
