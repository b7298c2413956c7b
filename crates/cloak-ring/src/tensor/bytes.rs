//! Little-endian wire encoding. The ring layer owns it so that every transport and every
//! party agrees on the bytes of a tensor, whatever the host's endianness.

use super::RingTensor;
use crate::element::RingElement;
use crate::error::{Result, RingError, checked_numel};

impl<T: RingElement> RingTensor<T> {
    /// The elements in row-major order, each as `T::BYTES` little-endian bytes.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.len() * T::BYTES];
        for (chunk, &x) in out.chunks_exact_mut(T::BYTES).zip(self.data.iter()) {
            x.write_le(chunk);
        }
        out
    }

    /// Decodes a tensor of the given shape from its little-endian bytes; the length must match
    /// exactly (a short or long message is an error, never a silently wrong tensor).
    pub fn from_le_bytes(shape: &[usize], bytes: &[u8]) -> Result<Self> {
        let expected =
            checked_numel("from_le_bytes", shape)?.checked_mul(T::BYTES).ok_or_else(|| {
                RingError::InvalidShape {
                    op: "from_le_bytes",
                    shape: shape.to_vec(),
                    reason: "byte length overflows usize".into(),
                }
            })?;
        if bytes.len() != expected {
            return Err(RingError::ByteLength {
                expected,
                got: bytes.len(),
                shape: shape.to_vec(),
            });
        }
        let data = bytes.chunks_exact(T::BYTES).map(T::read_le).collect();
        Self::from_vec(shape, data)
    }
}
