//! One GPU as the kernels see it: its CUDA context, one stream, the compiled kernels, and
//! the allocation and copy primitives every operation uses.
//!
//! All work for a GPU goes to one stream, in the order it is issued, so an operation never
//! needs to wait on another explicitly: a kernel sees the results of every earlier kernel,
//! and a download (which waits for the stream) sees them all. With one stream per context,
//! cudarc's per-buffer event tracking is unnecessary and is switched off.

use std::fmt::Display;
use std::sync::Arc;

use cloak_ring::{DeviceBuffer, RingError};
use cudarc::driver::{CudaContext, CudaFunction, CudaStream};

use crate::buffer::GpuBuffer;
use crate::error::GpuError;
use crate::kernels::{Kernel, ModuleCache};
use crate::probe::{self, guarded};

/// A GPU opened for Cloak: shared by every handle to the same ordinal.
pub(crate) struct Gpu {
    ordinal: usize,
    label: String,
    name: String,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: ModuleCache,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("label", &self.label)
            .field("name", &self.name)
            .field("modules", &self.modules)
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// Opens GPU `ordinal`: checks that the driver and NVRTC libraries load, that the GPU
    /// exists, then creates its context and stream. Never panics.
    pub(crate) fn open(ordinal: usize) -> Result<Self, GpuError> {
        if !probe::driver_library_present() {
            return Err(GpuError::DriverLibraryMissing { searched: probe::searched("cuda") });
        }
        if !probe::nvrtc_library_present() {
            return Err(GpuError::NvrtcLibraryMissing { searched: probe::searched("nvrtc") });
        }
        let driver = |during: &'static str| {
            move |e: cudarc::driver::DriverError| GpuError::Driver { during, reason: e.to_string() }
        };
        let count = guarded("counting devices", CudaContext::device_count)?
            .map_err(driver("counting devices"))?;
        let count = usize::try_from(count).unwrap_or(0);
        if ordinal >= count {
            return Err(GpuError::NoDevice { ordinal, count });
        }
        let ctx = guarded("creating the context", || CudaContext::new(ordinal))?
            .map_err(driver("creating the context"))?;
        let name = guarded("naming the device", || ctx.name())?.unwrap_or_default();
        // SAFETY: every buffer of this context is used on the one stream created below, so
        // the cross-stream synchronisation that event tracking provides is never needed.
        unsafe { ctx.disable_event_tracking() };
        let stream = guarded("creating a stream", || ctx.new_stream())?
            .map_err(driver("creating a stream"))?;
        Ok(Self {
            ordinal,
            label: format!("cuda:{ordinal}"),
            name,
            ctx,
            stream,
            modules: ModuleCache::default(),
        })
    }

    /// The device label, `cuda:N`.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The GPU's name as the driver reports it.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The GPU's ordinal.
    pub(crate) fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// A device failure, labelled with this GPU.
    pub(crate) fn err(&self, during: &str, reason: impl Display) -> RingError {
        RingError::Device { device: self.label.clone(), reason: format!("{during}: {reason}") }
    }

    /// The stream all work goes to.
    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// A kernel, compiled at its module's first use.
    pub(crate) fn function(&self, kernel: Kernel) -> Result<CudaFunction, RingError> {
        self.modules.function(&self.ctx, kernel).map_err(|e| self.err(kernel.name(), e))
    }

    /// Compiles and loads every kernel now (otherwise each module compiles at first use).
    pub(crate) fn compile_all(&self) -> Result<(), RingError> {
        for kernel in Kernel::ALL {
            self.function(kernel)?;
        }
        Ok(())
    }

    /// A new buffer of `len` elements, contents unset (every caller writes all of them).
    pub(crate) fn alloc(&self, len: usize) -> Result<GpuBuffer, RingError> {
        // SAFETY: the memory is written by the caller's kernel or copy before any read.
        let slice =
            unsafe { self.stream.alloc::<u64>(len.max(1)) }.map_err(|e| self.err("alloc", e))?;
        Ok(GpuBuffer { slice, len, ordinal: self.ordinal })
    }

    /// Host elements copied to a new buffer.
    pub(crate) fn upload(&self, host: &[u64]) -> Result<GpuBuffer, RingError> {
        let mut buf = self.alloc(host.len())?;
        if !host.is_empty() {
            self.stream.memcpy_htod(host, &mut buf.slice).map_err(|e| self.err("upload", e))?;
        }
        Ok(buf)
    }

    /// A buffer's elements copied to the host, after every earlier operation.
    pub(crate) fn download(&self, buf: &GpuBuffer) -> Result<Vec<u64>, RingError> {
        if buf.len == 0 {
            return Ok(Vec::new());
        }
        let mut host = vec![0u64; buf.len];
        self.stream
            .memcpy_dtoh(&buf.slice.slice(..buf.len), &mut host)
            .map_err(|e| self.err("download", e))?;
        self.synchronize()?;
        Ok(host)
    }

    /// Waits until every operation issued so far has finished (and reports a failure of an
    /// earlier kernel, which the driver reports late).
    pub(crate) fn synchronize(&self) -> Result<(), RingError> {
        self.stream.synchronize().map_err(|e| self.err("synchronize", e))
    }

    /// The device's own buffer inside a `DeviceBuffer`, refusing another device's.
    pub(crate) fn buffer<'a>(&self, b: &'a DeviceBuffer) -> Result<&'a GpuBuffer, RingError> {
        match b.downcast::<GpuBuffer>() {
            Some(g) if g.ordinal == self.ordinal && g.len == b.len() => Ok(g),
            Some(g) => Err(self.err("buffer", format!("a buffer of cuda:{}", g.ordinal))),
            None => Err(self.err("buffer", "a buffer this device did not make")),
        }
    }
}

/// A `GpuBuffer` as the ring layer holds it.
pub(crate) fn wrap(buf: GpuBuffer) -> DeviceBuffer {
    let len = buf.len;
    DeviceBuffer::new(buf, len)
}
