//! Where a session computes: on the host, or on a device that owns its tensors.
//!
//! A session told a device keeps every share it makes there: inputs it shares, public
//! values it encodes, zeros, and the dealer's material as it arrives. The protocols are
//! written in tensor operations, which run wherever their operands live, so the data
//! crosses to the host only where a protocol sends it to another party (the wire bytes)
//! and where a strategy has no device form yet (it then round-trips through host views,
//! which the device counts).

use cloak_ring::RingTensor;
use cloak_ring::device::DeviceRef;

use crate::error::Result;

/// The device a session computes on: the host (the default) or any
/// [`Device`](cloak_ring::device::Device) (`cloak-gpu`'s CUDA device,
/// [`SimulatedDevice`](cloak_ring::device::SimulatedDevice), or one of your own).
///
/// Two parties may share one device: each holds its own handle, and their buffers never
/// mix (the shares stay apart as they would on two devices).
#[derive(Clone, Default)]
pub enum ComputeDevice {
    /// Host memory, with the CPU kernels.
    #[default]
    Host,
    /// A device's memory, with its kernels.
    On(DeviceRef<u64>),
}

impl ComputeDevice {
    /// The device behind `handle`.
    #[must_use]
    pub fn on(handle: DeviceRef<u64>) -> Self {
        Self::On(handle)
    }

    /// Where the data lives, as users name it: `"cpu"`, or the device's label (`"cuda:0"`).
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Host => "cpu".to_owned(),
            Self::On(d) => d.label(),
        }
    }

    /// The device's handle, `None` on the host.
    #[must_use]
    pub fn handle(&self) -> Option<&DeviceRef<u64>> {
        match self {
            Self::Host => None,
            Self::On(d) => Some(d),
        }
    }

    /// `t` where this session computes: unchanged on the host or if it is already on the
    /// device, one upload otherwise.
    ///
    /// # Errors
    /// The device's error if the upload fails, or
    /// [`RingError::DeviceMismatch`](cloak_ring::RingError::DeviceMismatch) for a tensor on
    /// another device.
    pub fn place(&self, t: RingTensor<u64>) -> Result<RingTensor<u64>> {
        match self {
            Self::On(d) if t.device().is_none_or(|on| on.label() != d.label()) => {
                Ok(t.to_device(d)?)
            }
            _ => Ok(t),
        }
    }
}

impl std::fmt::Debug for ComputeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ComputeDevice({})", self.label())
    }
}

/// Two choices are equal when they name the same memory (the same label).
impl PartialEq for ComputeDevice {
    fn eq(&self, other: &Self) -> bool {
        self.label() == other.label()
    }
}

impl Eq for ComputeDevice {}
