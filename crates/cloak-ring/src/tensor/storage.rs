//! Where a tensor's elements live: a host array, or a buffer owned by a device. Clones of a
//! device tensor share its buffer.

use ndarray::{ArrayD, IxDyn};

use super::RingTensor;
use crate::element::RingElement;
use crate::error::{Result, RingError};
use crate::tensor::device::{DeviceBuffer, DeviceRef};

#[derive(Clone)]
pub(super) enum Storage<T: RingElement> {
    Host(ArrayD<T>),
    Device(OnDevice<T>),
}

/// A device buffer with its device and the tensor's shape.
#[derive(Clone)]
pub(super) struct OnDevice<T: RingElement> {
    pub(super) device: DeviceRef<T>,
    pub(super) buffer: DeviceBuffer,
    pub(super) shape: Vec<usize>,
}

impl<T: RingElement> OnDevice<T> {
    /// The elements on the host, for the host views without a `Result`.
    pub(super) fn download(&self) -> Vec<T> {
        self.device.download(&self.buffer).unwrap_or_else(|e| panic!("{e}"))
    }

    pub(super) fn download_array(&self) -> ArrayD<T> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.download())
            .unwrap_or_else(|e| panic!("device {}: {e}", self.device.label()))
    }

    /// Host elements uploaded to the same device under the same shape.
    pub(super) fn with_host(&self, host: &[T]) -> Self {
        let buffer = self.device.upload(host).unwrap_or_else(|e| panic!("{e}"));
        Self { device: self.device.clone(), buffer, shape: self.shape.clone() }
    }

    pub(super) fn with(&self, buffer: DeviceBuffer, shape: &[usize]) -> Self {
        Self { device: self.device.clone(), buffer, shape: shape.to_vec() }
    }
}

impl<T: RingElement> RingTensor<T> {
    pub(super) fn host(data: ArrayD<T>) -> Self {
        Self { storage: Storage::Host(data) }
    }

    pub(super) fn on_device(d: OnDevice<T>) -> Self {
        Self { storage: Storage::Device(d) }
    }

    pub(super) fn device_data(&self) -> Option<&OnDevice<T>> {
        match &self.storage {
            Storage::Host(_) => None,
            Storage::Device(d) => Some(d),
        }
    }

    /// A tensor of `shape` whose elements are `buffer` on `device`: how a device returns
    /// its results. The buffer must hold exactly the shape's elements.
    ///
    /// # Panics
    /// If the buffer's length does not match the shape (a device bug).
    pub fn from_device_buffer(device: DeviceRef<T>, buffer: DeviceBuffer, shape: &[usize]) -> Self {
        assert_eq!(buffer.len(), shape.iter().product::<usize>(), "device buffer for {shape:?}");
        Self { storage: Storage::Device(OnDevice { device, buffer, shape: shape.to_vec() }) }
    }

    /// Words `first_word..` of the pseudo-random stream under `key` (see
    /// [`Device::keystream`](crate::device::Device::keystream)), made on `device` in
    /// `shape`; `Ok(None)` if the device cannot make it (draw on the host then).
    ///
    /// # Errors
    /// A shape too large, or the device's error.
    pub fn keystream_on(
        device: &DeviceRef<T>,
        key: &[u8; 16],
        first_word: u64,
        shape: &[usize],
    ) -> Result<Option<Self>> {
        let len = crate::error::checked_numel("keystream", shape)?;
        let Some(buffer) = device.keystream(key, first_word, len)? else {
            return Ok(None);
        };
        if buffer.len() != len {
            return Err(RingError::Device {
                device: device.label(),
                reason: format!("a keystream of {} words for {len}", buffer.len()),
            });
        }
        Ok(Some(Self::from_device_buffer(device.clone(), buffer, shape)))
    }

    /// The device holding the elements, `None` on the host.
    pub fn device(&self) -> Option<&DeviceRef<T>> {
        self.device_data().map(|d| &d.device)
    }

    /// The device and its buffer, `None` on the host.
    pub fn device_buffer(&self) -> Option<(&DeviceRef<T>, &DeviceBuffer)> {
        self.device_data().map(|d| (&d.device, &d.buffer))
    }

    /// Whether the elements are on the host.
    pub fn is_host(&self) -> bool {
        matches!(self.storage, Storage::Host(_))
    }

    /// Where the elements are: `"cpu"` or the device's label.
    pub fn placement(&self) -> String {
        self.device().map_or_else(|| "cpu".to_owned(), |d| d.label())
    }

    /// The tensor on `device`: one upload from the host, a shared buffer if it is already
    /// there.
    ///
    /// # Errors
    /// [`RingError::DeviceMismatch`] for a tensor on another device (bring it to the host
    /// first); the device's error if the upload fails.
    pub fn to_device(&self, device: &DeviceRef<T>) -> Result<Self> {
        match &self.storage {
            Storage::Device(d) if d.device.label() == device.label() => Ok(self.clone()),
            Storage::Device(d) => Err(RingError::DeviceMismatch {
                op: "to_device",
                lhs: d.device.label(),
                rhs: device.label(),
            }),
            Storage::Host(a) => {
                let buffer = match a.as_slice() {
                    Some(s) => device.upload(s)?,
                    None => device.upload(&a.iter().copied().collect::<Vec<_>>())?,
                };
                Ok(Self::from_device_buffer(device.clone(), buffer, a.shape()))
            }
        }
    }

    /// The tensor on the host: one download from a device, a clone on the host.
    ///
    /// # Errors
    /// The device's error if the download fails.
    pub fn to_host(&self) -> Result<Self> {
        match &self.storage {
            Storage::Host(_) => Ok(self.clone()),
            Storage::Device(d) => {
                let host = d.device.download(&d.buffer)?;
                Self::from_vec(&d.shape, host)
            }
        }
    }

    /// The elements in row-major order, with a device's failure as an error.
    ///
    /// # Errors
    /// The device's error if the download fails.
    pub fn try_to_vec(&self) -> Result<Vec<T>> {
        match &self.storage {
            Storage::Host(_) => Ok(self.to_vec()),
            Storage::Device(d) => d.device.download(&d.buffer),
        }
    }

    /// The device both operands should run on: `None` if both are on the host; a host
    /// operand goes to the other's device (one upload, counted by the device).
    pub(super) fn common_device(
        op: &'static str,
        a: &Self,
        b: &Self,
    ) -> Result<Option<DeviceRef<T>>> {
        match (a.device(), b.device()) {
            (None, None) => Ok(None),
            (Some(d), None) | (None, Some(d)) => Ok(Some(d.clone())),
            (Some(x), Some(y)) if x.label() == y.label() => Ok(Some(x.clone())),
            (Some(x), Some(y)) => {
                Err(RingError::DeviceMismatch { op, lhs: x.label(), rhs: y.label() })
            }
        }
    }

    /// This tensor's buffer on `device` (uploading a host tensor).
    pub(super) fn buffer_on(&self, device: &DeviceRef<T>) -> Result<DeviceBuffer> {
        let moved = self.to_device(device)?;
        match moved.storage {
            Storage::Device(d) => Ok(d.buffer),
            Storage::Host(_) => unreachable!("to_device returns a device tensor"),
        }
    }
}
