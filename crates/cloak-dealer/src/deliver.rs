//! Delivery of what the dealer computes, shared by the providers: every message a dealer
//! sends or receives is counted under [`DEALER_LABEL`], apart from the online protocol.
//!
//! The delivery model: a party's free shares, and every party's dependent shares but the
//! correction party's, come from its seed, so nothing travels for them. What travels is the
//! correction party's dependent shares (one message per request, from the dealer) and,
//! only for requests with dealt components, each party's dealt part (one message to each
//! party, from the dealer). Built-in requests deal nothing, so they cost exactly what they
//! did before dealt components existed.

use cloak_comm::{Communicator, Op, OpKind};
use cloak_ring::RingTensor;

use crate::codec::{read_tensors, write_tensors};
use crate::{DEALER_LABEL, DealerError, Layout};

/// Runs `f` with the communicator's traffic counted under [`DEALER_LABEL`].
pub(crate) fn labelled<R>(
    comm: &mut dyn Communicator,
    f: impl FnOnce(&mut dyn Communicator) -> Result<R, DealerError>,
) -> Result<R, DealerError> {
    let previous = comm.stats().label().to_owned();
    comm.set_label(DEALER_LABEL);
    let out = f(comm);
    comm.set_label(&previous);
    out
}

/// Sends every party but `skip` its dealt part (`parts[p]` is party `p`'s), together with
/// `extra` messages, in one step.
pub(crate) fn send_dealt(
    comm: &mut dyn Communicator,
    parts: &[Vec<RingTensor<u64>>],
    skip: usize,
    extra: &[(usize, &[u8])],
) -> Result<(), DealerError> {
    let bytes: Vec<(usize, Vec<u8>)> = parts
        .iter()
        .enumerate()
        .filter(|(p, _)| *p != skip)
        .map(|(p, part)| {
            let mut out = Vec::new();
            write_tensors(&mut out, part);
            (p, out)
        })
        .collect();
    let mut sends: Vec<(usize, &[u8])> = extra.to_vec();
    sends.extend(bytes.iter().map(|(p, b)| (*p, b.as_slice())));
    labelled(comm, |c| Ok(c.step(Op::new(OpKind::PointToPoint), &sends, &[]).map(drop)?))
}

/// Receives this party's dealt part of a request of this layout from `dealer`.
pub(crate) fn recv_dealt(
    comm: &mut dyn Communicator,
    dealer: usize,
    layout: &Layout,
) -> Result<Vec<RingTensor<u64>>, DealerError> {
    let bytes = labelled(comm, |c| Ok(c.recv(dealer)?))?;
    read_tensors(&bytes, &layout.dealt, dealer, "dealt part")
}
