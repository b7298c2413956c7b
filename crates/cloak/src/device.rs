//! Choosing where a party computes by name, as the command line and configuration files
//! spell it: `cpu`, `sim` (a simulated device: separate memory, every transfer counted, for
//! trying the device path on a machine without one) or `cuda:N` (the N-th GPU, through
//! `cloak-gpu`).

use cloak_mpc::ComputeDevice;
use cloak_ring::device::SimulatedDevice;

use crate::error::{Error, Result};

/// What `--device` accepts, for messages.
pub const DEVICE_NAMES: &str = "cpu, sim, cuda or cuda:N";

/// A device named as users name it (`cpu`, `sim`, `cuda`, `cuda:N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceName {
    /// The host.
    Cpu,
    /// A new simulated device.
    Simulated,
    /// The GPU of this ordinal.
    Cuda(usize),
}

impl DeviceName {
    /// Parses a name.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming what is accepted.
    pub fn parse(name: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument {
            what: "device",
            reason: format!("`{name}` is not a device (use {DEVICE_NAMES})"),
        };
        match name {
            "cpu" => Ok(Self::Cpu),
            "sim" => Ok(Self::Simulated),
            "cuda" => Ok(Self::Cuda(0)),
            _ => {
                let ordinal = name.strip_prefix("cuda:").ok_or_else(bad)?;
                ordinal.parse().map(Self::Cuda).map_err(|_| bad())
            }
        }
    }

    /// The name as `parse` reads it back.
    #[must_use]
    pub fn label(self) -> String {
        match self {
            Self::Cpu => "cpu".to_owned(),
            Self::Simulated => "sim".to_owned(),
            Self::Cuda(n) => format!("cuda:{n}"),
        }
    }

    /// Opens the device for a session's configuration
    /// ([`SessionConfig::device`](cloak_mpc::SessionConfig::device)).
    ///
    /// # Errors
    /// [`Error::Device`] if the device cannot be opened: no CUDA driver on this machine, no
    /// GPU of that ordinal.
    pub fn open(self) -> Result<ComputeDevice> {
        match self {
            Self::Cpu => Ok(ComputeDevice::Host),
            Self::Simulated => Ok(ComputeDevice::on(SimulatedDevice::new().handle())),
            Self::Cuda(ordinal) => open_cuda(ordinal),
        }
    }
}

/// Opens a device by name: [`DeviceName::parse`] then [`DeviceName::open`].
///
/// # Errors
/// As those.
pub fn open_device(name: &str) -> Result<ComputeDevice> {
    DeviceName::parse(name)?.open()
}

/// The GPU of this ordinal, through `cloak-gpu`. Every party that names it opens its own
/// handle; handles to one GPU share its context and kernels, so two parties on one machine
/// can share one GPU.
fn open_cuda(ordinal: usize) -> Result<ComputeDevice> {
    cloak_gpu::CudaDevice::new(ordinal)
        .map(|gpu| ComputeDevice::on(gpu.handle()))
        .map_err(|e| Error::Device { device: format!("cuda:{ordinal}"), reason: e.to_string() })
}
