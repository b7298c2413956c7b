//! The dealer's wire encoding of requests and of the tensors it sends back.
//!
//! A request is a tag byte and its fields as little-endian `u64`s (shapes as a length and
//! the dimensions). A custom kind (tag 7) carries its kind name and its parameters, each as
//! a length and the bytes, both bounded; a third-party dealer decodes it with the decoder
//! registered for that name. Tensors go as their little-endian words, one after another,
//! their shapes known to both ends from the request's layout.

use cloak_ring::RingTensor;

use crate::bytes::{Reader, Writer};
use crate::correlation::{Correlations, MAX_KIND_LEN, MAX_PARAMS_LEN, check_kind};
use crate::{Component, DealerError, Request};

/// Tag of a custom kind.
const TAG_CUSTOM: u8 = 7;

/// Appends a request's encoding.
pub(crate) fn write_request(request: &Request, w: &mut Writer) {
    match request {
        Request::Triple(op) => {
            w.u8(0);
            crate::op::write(op, w);
        }
        Request::Square { shape } => {
            w.u8(1);
            w.shape(shape);
        }
        Request::BinaryTriple { words } => {
            w.u8(2);
            w.usize(*words);
        }
        Request::TruncPair { shape, bits } => {
            w.u8(3);
            w.shape(shape);
            w.u64(u64::from(*bits));
        }
        Request::RandomBits { count } => {
            w.u8(4);
            w.usize(*count);
        }
        Request::EdaBits { count } => {
            w.u8(8);
            w.usize(*count);
        }
        Request::DigitTables { count, inject } => {
            w.u8(9);
            w.usize(*count);
            w.u8(u8::from(*inject));
        }
        Request::TruncDigitTables { count, bits } => {
            w.u8(11);
            w.usize(*count);
            w.u64(u64::from(*bits));
        }
        Request::MaskProducts { words, vars, subsets } => {
            w.u8(10);
            w.usize(*words);
            w.u64(u64::from(*vars));
            w.usize(subsets.len());
            for s in subsets {
                w.u64(u64::from(*s));
            }
        }
        Request::DivPair { shape, divisor } => {
            w.u8(5);
            w.shape(shape);
            w.u64(*divisor);
        }
        Request::TripleFixedRhs { op, mask } => {
            w.u8(6);
            crate::op::write(op, w);
            w.u64(*mask);
        }
        Request::Custom(c) => {
            w.u8(TAG_CUSTOM);
            w.bytes(c.correlation().kind().as_bytes());
            w.bytes(&c.correlation().params());
        }
    }
}

/// Reads a request, decoding custom kinds with `correlations`.
pub(crate) fn read_request(
    r: &mut Reader<'_>,
    correlations: &Correlations,
) -> Result<Request, DealerError> {
    Ok(match r.u8()? {
        0 => Request::Triple(crate::op::read(r)?),
        1 => Request::Square { shape: r.shape()? },
        2 => Request::BinaryTriple { words: r.usize()? },
        3 => {
            let shape = r.shape()?;
            let bits = r.u64()?;
            let bits = u32::try_from(bits).map_err(|_| r.malformed("truncation bits"))?;
            Request::TruncPair { shape, bits }
        }
        4 => Request::RandomBits { count: r.usize()? },
        8 => Request::EdaBits { count: r.usize()? },
        9 => {
            let count = r.usize()?;
            let inject = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(r.malformed("an injection flag that is not 0 or 1")),
            };
            Request::DigitTables { count, inject }
        }
        11 => {
            let count = r.usize()?;
            let bits = u32::try_from(r.u64()?).map_err(|_| r.malformed("truncation bits"))?;
            Request::TruncDigitTables { count, bits }
        }
        10 => {
            let words = r.usize()?;
            let vars = u32::try_from(r.u64()?).map_err(|_| r.malformed("a variable count"))?;
            let len = r.usize()?;
            if len > crate::request::MAX_MASK_SUBSETS {
                return Err(r.malformed(format!("{len} mask subsets")));
            }
            let subsets = (0..len)
                .map(|_| u32::try_from(r.u64()?).map_err(|_| r.malformed("a mask subset")))
                .collect::<Result<Vec<u32>, DealerError>>()?;
            Request::MaskProducts { words, vars, subsets }
        }
        5 => Request::DivPair { shape: r.shape()?, divisor: r.u64()? },
        6 => Request::TripleFixedRhs { op: crate::op::read(r)?, mask: r.u64()? },
        TAG_CUSTOM => {
            let kind = r.bytes(MAX_KIND_LEN, "a kind name")?;
            let kind = std::str::from_utf8(kind)
                .ok()
                .filter(|k| check_kind(k).is_ok())
                .ok_or_else(|| r.malformed("a kind name that is not a name"))?;
            let params = r.bytes(MAX_PARAMS_LEN, "parameters")?;
            Request::Custom(correlations.decode(kind, params)?)
        }
        tag => return Err(r.malformed(format!("unknown request tag {tag}"))),
    })
}

/// Appends tensors' little-endian words.
pub(crate) fn write_tensors<'a>(
    out: &mut Vec<u8>,
    tensors: impl IntoIterator<Item = &'a RingTensor<u64>>,
) {
    for t in tensors {
        out.extend_from_slice(&t.to_le_bytes());
    }
}

/// Reads tensors of the given components from `bytes`, which must hold exactly them.
pub(crate) fn read_tensors(
    bytes: &[u8],
    components: &[Component],
    peer: usize,
    what: &str,
) -> Result<Vec<RingTensor<u64>>, DealerError> {
    let expected: usize = components.iter().map(|c| c.len() * 8).sum();
    if bytes.len() != expected {
        return Err(DealerError::Malformed {
            peer,
            reason: format!("{what} of {} bytes, expected {expected}", bytes.len()),
        });
    }
    let mut offset = 0;
    components
        .iter()
        .map(|c| {
            let len = c.len() * 8;
            let t = RingTensor::from_le_bytes(&c.shape, &bytes[offset..offset + len])?;
            offset += len;
            Ok(t)
        })
        .collect()
}
