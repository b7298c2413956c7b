//! Why a CUDA device could not be opened.
//!
//! Opening a device is where a machine without CUDA shows it: the driver library or NVRTC is
//! missing, there is no GPU, or the driver refuses. Each case is a variant, so that a caller
//! (a test, a launcher choosing between CPU and GPU) can fall back without parsing messages.
//! Once a device is open, its operations report failures as
//! [`RingError::Device`](cloak_ring::RingError::Device), like every device.

use std::fmt;

use cloak_ring::RingError;

/// Why [`CudaDevice::new`](crate::CudaDevice::new) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuError {
    /// The CUDA driver library (`libcuda.so`) could not be loaded: no NVIDIA driver here.
    DriverLibraryMissing {
        /// The file names that were tried.
        searched: Vec<String>,
    },
    /// The NVRTC library (`libnvrtc.so`) could not be loaded: the kernels cannot be compiled.
    NvrtcLibraryMissing {
        /// The file names that were tried.
        searched: Vec<String>,
    },
    /// The driver is there but has no GPU of this ordinal.
    NoDevice {
        /// The ordinal asked for.
        ordinal: usize,
        /// How many GPUs the driver sees.
        count: usize,
    },
    /// A driver call failed.
    Driver {
        /// What was being done.
        during: &'static str,
        /// The driver's error.
        reason: String,
    },
    /// A GEMM method was asked for that this machine cannot run (cuBLAS missing for
    /// [`GemmMethod::Fp64Limbs`](crate::GemmMethod::Fp64Limbs)).
    GemmUnavailable {
        /// The method asked for.
        method: &'static str,
        /// Why it cannot run.
        reason: String,
    },
    /// An environment setting has a value Cloak does not know.
    BadSetting {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// The values it may take.
        expected: &'static str,
    },
    /// The CUDA bindings panicked (a symbol missing from an older driver, say); the panic was
    /// caught and is reported here.
    Bindings {
        /// What was being done.
        during: &'static str,
        /// The panic's message.
        reason: String,
    },
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::DriverLibraryMissing { searched } => write!(
                f,
                "the CUDA driver library could not be loaded (no NVIDIA driver on this machine?); \
                 tried {}",
                searched.join(", ")
            ),
            GpuError::NvrtcLibraryMissing { searched } => write!(
                f,
                "the NVRTC library could not be loaded, so the CUDA kernels cannot be compiled \
                 (install the CUDA toolkit's NVRTC and put it on LD_LIBRARY_PATH); tried {}",
                searched.join(", ")
            ),
            GpuError::NoDevice { ordinal, count } => {
                write!(f, "no CUDA device {ordinal}: the driver sees {count} device(s)")
            }
            GpuError::Driver { during, reason } => {
                write!(f, "CUDA driver error while {during}: {reason}")
            }
            GpuError::GemmUnavailable { method, reason } => {
                write!(f, "the {method} GEMM cannot run here: {reason}")
            }
            GpuError::BadSetting { name, value, expected } => {
                write!(f, "{name}={value:?} is not a setting Cloak knows (expected {expected})")
            }
            GpuError::Bindings { during, reason } => {
                write!(f, "the CUDA bindings failed while {during}: {reason}")
            }
        }
    }
}

impl std::error::Error for GpuError {}

impl From<GpuError> for RingError {
    /// A device that could not be opened, as the ring layer reports device failures.
    fn from(e: GpuError) -> Self {
        RingError::Device { device: "cuda".into(), reason: e.to_string() }
    }
}
