//! The device's buffers: ring elements in GPU memory, and which GPU holds them.

use cudarc::driver::CudaSlice;

/// `len` ring elements in the memory of GPU `ordinal`, as a
/// [`DeviceBuffer`](cloak_ring::DeviceBuffer) wraps them.
///
/// The allocation holds at least one element even for an empty buffer: CUDA refuses empty
/// allocations, and an empty buffer is never read or written.
pub(crate) struct GpuBuffer {
    /// The memory; freed (asynchronously, on the device's stream) when the last clone of the
    /// wrapping `DeviceBuffer` goes.
    pub(crate) slice: CudaSlice<u64>,
    /// Elements in use.
    pub(crate) len: usize,
    /// The GPU that owns the memory.
    pub(crate) ordinal: usize,
}

impl std::fmt::Debug for GpuBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the contents: a buffer usually holds a share.
        write!(f, "GpuBuffer(cuda:{}, {} elements)", self.ordinal, self.len)
    }
}
