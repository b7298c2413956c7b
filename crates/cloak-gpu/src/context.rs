//! One GPU as the kernels see it: its CUDA context, one stream, the compiled kernels, and
//! the allocation and copy primitives every operation uses.
//!
//! All work for a GPU goes to one stream, in the order it is issued, so an operation never
//! needs to wait on another explicitly: a kernel sees the results of every earlier kernel,
//! and a download (which waits for the stream) sees them all. With one stream per context,
//! cudarc's per-buffer event tracking is unnecessary and is switched off.

use std::fmt::Display;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use cloak_ring::{DeviceBuffer, RingError};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaFunction, CudaStream};

use crate::buffer::GpuBuffer;
use crate::error::GpuError;
use crate::kernels::{Kernel, ModuleCache};
use crate::probe::{self, guarded};
use crate::staging::{Staging, chunks};

/// A GPU opened for Cloak: shared by every handle to the same ordinal.
pub(crate) struct Gpu {
    ordinal: usize,
    label: String,
    name: String,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: ModuleCache,
    /// Page-locked host memory for uploads and downloads (see [`crate::staging`]).
    staging: Mutex<Staging>,
    /// cuBLAS on the stream, made at first use; why not, where it cannot be.
    blas: OnceLock<Result<CudaBlas, String>>,
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
            staging: Mutex::default(),
            blas: OnceLock::new(),
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

    /// cuBLAS on this GPU's stream (for the FP64 limb GEMM), set up at first use; why not
    /// where `libcublas` does not load or refuses.
    pub(crate) fn blas(&self) -> Result<&CudaBlas, String> {
        let blas = self.blas.get_or_init(|| {
            if !probe::cublas_library_present() {
                let tried = probe::searched("cublas").join(", ");
                return Err(format!("cuBLAS could not be loaded (tried {tried})"));
            }
            guarded("creating a cuBLAS handle", || CudaBlas::new(self.stream.clone()))
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("creating a cuBLAS handle: {e}"))
        });
        blas.as_ref().map_err(Clone::clone)
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

    /// Host elements copied to a new buffer (through page-locked memory, see
    /// [`upload_with`](Self::upload_with)).
    pub(crate) fn upload(&self, host: &[u64]) -> Result<GpuBuffer, RingError> {
        self.upload_with(host.len(), |range, words| words.copy_from_slice(&host[range]))
    }

    /// A new buffer of `len` elements, which `fill(range, words)` writes on the host a range
    /// at a time (`words.len() == range.len()`, the ranges in order and covering `0..len`).
    ///
    /// The words are written into this GPU's page-locked staging buffer and copied from
    /// there at full link speed; if page-locked memory cannot be had, they are written into
    /// an ordinary vector and copied from it (the plain path, slower).
    pub(crate) fn upload_with(
        &self,
        len: usize,
        mut fill: impl FnMut(Range<usize>, &mut [u64]),
    ) -> Result<GpuBuffer, RingError> {
        let mut buf = self.alloc(len)?;
        if len == 0 {
            return Ok(buf);
        }
        let mut staging = self.staging.lock().unwrap_or_else(PoisonError::into_inner);
        let capacity = staging.words(&self.ctx, len).map(|w| w.len());
        if let (Some(capacity), Some(_)) = (capacity, staging.copied_event(&self.ctx)) {
            for range in chunks(len, capacity) {
                // The previous copy out of the staging buffer must be done before it is
                // written again.
                staging.wait_idle().map_err(|e| self.err("upload", e))?;
                let Some(words) = staging.current() else {
                    return Err(self.err("upload", "the staging buffer is unreadable"));
                };
                let words = &mut words[..range.len()];
                fill(range.clone(), words);
                let mut dst = buf.slice.slice_mut(range);
                self.stream.memcpy_htod(&*words, &mut dst).map_err(|e| self.err("upload", e))?;
                staging.record_copy(&self.stream).map_err(|e| self.err("upload", e))?;
            }
            return Ok(buf);
        }
        drop(staging);
        // The plain path: no page-locked memory.
        let mut host = vec![0u64; len];
        fill(0..len, &mut host);
        self.stream.memcpy_htod(&host, &mut buf.slice).map_err(|e| self.err("upload", e))?;
        Ok(buf)
    }

    /// A buffer's elements copied to the host, after every earlier operation.
    pub(crate) fn download(&self, buf: &GpuBuffer) -> Result<Vec<u64>, RingError> {
        let mut host = Vec::with_capacity(buf.len);
        self.download_with(buf, |words| host.extend_from_slice(words))?;
        Ok(host)
    }

    /// A buffer's elements, after every earlier operation, handed to `sink` a piece at a
    /// time, in order.
    ///
    /// The elements are copied into this GPU's page-locked staging buffer at full link
    /// speed and handed out from there; if page-locked memory cannot be had, they are copied
    /// into an ordinary vector (the plain path, slower).
    pub(crate) fn download_with(
        &self,
        buf: &GpuBuffer,
        mut sink: impl FnMut(&[u64]),
    ) -> Result<(), RingError> {
        if buf.len == 0 {
            return Ok(());
        }
        let mut staging = self.staging.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(words) = staging.words(&self.ctx, buf.len) {
            for range in chunks(buf.len, words.len()) {
                let part = &mut words[..range.len()];
                self.stream
                    .memcpy_dtoh(&buf.slice.slice(range), part)
                    .map_err(|e| self.err("download", e))?;
                self.synchronize()?;
                sink(part);
            }
            return Ok(());
        }
        drop(staging);
        // The plain path: no page-locked memory.
        let mut host = vec![0u64; buf.len];
        self.stream
            .memcpy_dtoh(&buf.slice.slice(..buf.len), &mut host)
            .map_err(|e| self.err("download", e))?;
        self.synchronize()?;
        sink(&host);
        Ok(())
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
