//! Little-endian wire encoding. The ring layer owns it so that every transport and every
//! party agrees on the bytes of a tensor, whatever the host's endianness.

use super::RingTensor;
use crate::element::RingElement;
use crate::error::{Result, RingError, checked_numel};
use crate::tensor::device::DeviceRef;

impl<T: RingElement> RingTensor<T> {
    /// The elements in row-major order, each as `T::BYTES` little-endian bytes: on a
    /// device, the one download a message needs.
    ///
    /// # Panics
    /// If the tensor's device fails (see [`device`](crate::tensor::device));
    /// [`try_to_le_bytes`](Self::try_to_le_bytes) reports it instead.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.try_to_le_bytes().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`to_le_bytes`](Self::to_le_bytes), with a device's failure as an error.
    ///
    /// # Errors
    /// The device's error if the download fails.
    pub fn try_to_le_bytes(&self) -> Result<Vec<u8>> {
        if let Some((device, buffer)) = self.device_buffer() {
            return device.to_le_bytes(buffer);
        }
        let host = self.as_array();
        let mut out = vec![0u8; self.len() * T::BYTES];
        for (chunk, &x) in out.chunks_exact_mut(T::BYTES).zip(host.iter()) {
            x.write_le(chunk);
        }
        Ok(out)
    }

    /// [`from_le_bytes`](Self::from_le_bytes) straight onto `device` (the one upload a
    /// received message needs).
    ///
    /// # Errors
    /// As [`from_le_bytes`](Self::from_le_bytes); the device's error if the upload fails.
    pub fn from_le_bytes_on(device: &DeviceRef<T>, shape: &[usize], bytes: &[u8]) -> Result<Self> {
        Self::check_byte_length(shape, bytes)?;
        let buffer = device.upload_le_bytes(bytes)?;
        Ok(Self::from_device_buffer(device.clone(), buffer, shape))
    }

    /// Decodes a tensor of the given shape from its little-endian bytes; the length must match
    /// exactly (a short or long message is an error, never a silently wrong tensor).
    pub fn from_le_bytes(shape: &[usize], bytes: &[u8]) -> Result<Self> {
        Self::check_byte_length(shape, bytes)?;
        let data = bytes.chunks_exact(T::BYTES).map(T::read_le).collect();
        Self::from_vec(shape, data)
    }

    fn check_byte_length(shape: &[usize], bytes: &[u8]) -> Result<()> {
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
        Ok(())
    }
}
