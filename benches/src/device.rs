//! `--device`: where the parties of the nn, onnx and bert rows keep their shares (the host,
//! a simulated device, or a GPU), chosen once per run.

use std::sync::OnceLock;

use cloak_mpc::ComputeDevice;
use cloak_ring::device::SimulatedDevice;

static CHOSEN: OnceLock<ComputeDevice> = OnceLock::new();

/// Opens the device named `cpu`, `sim`, `cuda` or `cuda:N` for this run.
///
/// # Errors
/// An unknown name, or a GPU that cannot be opened (no driver, no such GPU).
pub fn choose(name: &str) -> Result<(), String> {
    let device = match name {
        "cpu" => ComputeDevice::Host,
        "sim" => ComputeDevice::on(SimulatedDevice::new().handle()),
        _ => {
            let ordinal = match name {
                "cuda" => 0,
                _ => name
                    .strip_prefix("cuda:")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("--device {name}: use cpu, sim, cuda or cuda:N"))?,
            };
            let gpu =
                cloak_gpu::CudaDevice::new(ordinal).map_err(|e| format!("--device {name}: {e}"))?;
            ComputeDevice::on(gpu.handle())
        }
    };
    CHOSEN.set(device).map_err(|_| "--device given twice".to_owned())
}

/// The device of this run (the host unless `--device` named another).
pub fn chosen() -> ComputeDevice {
    CHOSEN.get().cloned().unwrap_or_default()
}
