//! [`CudaDevice`]: a GPU as a ring [`Device`], handles to it, and what crosses to and from it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cloak_ring::device::{BinaryOp, StridedView, Transfers, UnaryOp};
use cloak_ring::{Device, DeviceBuffer, DeviceRef, RingError};

use crate::buffer::GpuBuffer;
use crate::context::{Gpu, wrap};
use crate::error::GpuError;
use crate::{elementwise, keystream, staging};

type Result<T> = std::result::Result<T, RingError>;

/// Transfer counters of one handle and its clones.
#[derive(Debug, Default)]
struct Counters {
    uploads: AtomicU64,
    upload_bytes: AtomicU64,
    downloads: AtomicU64,
    download_bytes: AtomicU64,
}

/// How [`Backend::matmul`](cloak_ring::Backend::matmul) multiplies on the GPU.
///
/// Both compute the same wrapping product mod 2^64, bit for bit; which is faster depends on
/// the GPU (its FP64 throughput against its 64-bit integer multiply throughput) and is
/// measured by `examples/gpu_check.rs`. The convolutions always use the integer kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GemmMethod {
    /// The tiled 64-bit integer kernel (`kernels/gemm.cu`), the default.
    #[default]
    Int64,
    /// Four 16-bit limbs per word held as `f64`, ten limb-pair products by cuBLAS DGEMM
    /// (exact below 2^53; inner dimensions past 2^21 go in chunks), recombined mod 2^64 on
    /// the GPU. Needs `libcublas`. Takes 4 (|A| + |B|) + 10 |C| doubles of GPU scratch per
    /// product; a product too large for cuBLAS's 32-bit sizes runs on the integer kernel.
    Fp64Limbs,
}

impl GemmMethod {
    /// The environment variable that chooses the method of a new [`CudaDevice`]:
    /// `int64` or `fp64`.
    pub const ENV: &'static str = "CLOAK_GPU_GEMM";

    /// The method's name in [`Self::ENV`]: `"int64"` or `"fp64"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            GemmMethod::Int64 => "int64",
            GemmMethod::Fp64Limbs => "fp64",
        }
    }

    /// The method a value of [`Self::ENV`] names (`int64`, `fp64`; case and surrounding
    /// spaces ignored).
    ///
    /// # Errors
    /// [`GpuError::BadSetting`] for any other value.
    pub fn parse(value: &str) -> std::result::Result<Self, GpuError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "int64" => Ok(GemmMethod::Int64),
            "fp64" => Ok(GemmMethod::Fp64Limbs),
            _ => Err(GpuError::BadSetting {
                name: Self::ENV,
                value: value.to_owned(),
                expected: "int64 or fp64",
            }),
        }
    }
}

/// A CUDA GPU holding ring tensors (`u64`, the ring Z_2^64), labelled `cuda:N`.
///
/// Every handle to one ordinal shares one context, one stream and one set of compiled
/// kernels, so two parties of one process can share a GPU: their tensors live side by side,
/// their operations queue on the same stream in the order they are issued, and a tensor one
/// handle made is usable through the other (the ring layer treats equal labels as one device).
/// Clones and [`handle`](Self::handle)s share the transfer counters; a new
/// [`CudaDevice::new`] starts its own, so a test can count what crosses through its handle
/// while other handles work on the same GPU.
///
/// The products (matmul, convolutions and their gradients) run on the device, see
/// [`Backend`](cloak_ring::Backend); host operands are uploaded and counted.
#[derive(Clone, Debug)]
pub struct CudaDevice {
    gpu: Arc<Gpu>,
    counters: Arc<Counters>,
    gemm: GemmMethod,
}

/// GPUs opened so far, by ordinal: a GPU opened once stays open for the process, so its
/// kernels compile once.
static OPEN: Mutex<Vec<Arc<Gpu>>> = Mutex::new(Vec::new());

impl CudaDevice {
    /// A handle to GPU `ordinal`.
    ///
    /// Never panics: on a machine without the NVIDIA driver, without NVRTC or without this
    /// GPU it returns the reason ([`GpuError`]). The kernels compile at their first use
    /// (see [`compile_kernels`](Self::compile_kernels) to do it now).
    ///
    /// The matmul method is [`GemmMethod::Int64`] unless the environment variable
    /// `CLOAK_GPU_GEMM` ([`GemmMethod::ENV`]) says `fp64` (see [`with_gemm`](Self::with_gemm)).
    ///
    /// # Errors
    /// [`GpuError`] saying what is missing or what the driver refused; also if
    /// `CLOAK_GPU_GEMM` has an unknown value, or asks for `fp64` where cuBLAS cannot run.
    pub fn new(ordinal: usize) -> std::result::Result<Self, GpuError> {
        let method = match std::env::var(GemmMethod::ENV) {
            Ok(v) => GemmMethod::parse(&v)?,
            Err(_) => GemmMethod::Int64,
        };
        Self::open(ordinal)?.with_gemm(method)
    }

    /// This handle (sharing the GPU, its stream and the transfer counters) with matmuls
    /// computed by `method`.
    ///
    /// # Errors
    /// [`GpuError::GemmUnavailable`] for [`GemmMethod::Fp64Limbs`] where `libcublas` does not
    /// load or cuBLAS refuses to start.
    pub fn with_gemm(&self, method: GemmMethod) -> std::result::Result<Self, GpuError> {
        if method == GemmMethod::Fp64Limbs {
            self.gpu
                .blas()
                .map_err(|reason| GpuError::GemmUnavailable { method: method.name(), reason })?;
        }
        Ok(Self { gemm: method, ..self.clone() })
    }

    /// The method this handle's matmuls use.
    #[must_use]
    pub fn gemm_method(&self) -> GemmMethod {
        self.gemm
    }

    /// Whether [`GemmMethod::Fp64Limbs`] can run on this GPU (cuBLAS loads and starts).
    #[must_use]
    pub fn fp64_limbs_available(&self) -> bool {
        self.gpu.blas().is_ok()
    }

    fn open(ordinal: usize) -> std::result::Result<Self, GpuError> {
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        let gpu = match open.iter().find(|g| g.ordinal() == ordinal) {
            Some(gpu) => gpu.clone(),
            None => {
                let gpu = Arc::new(Gpu::open(ordinal)?);
                open.push(gpu.clone());
                gpu
            }
        };
        Ok(Self { gpu, counters: Arc::default(), gemm: GemmMethod::Int64 })
    }

    /// This device as a handle tensors hold.
    #[must_use]
    pub fn handle(&self) -> DeviceRef<u64> {
        Arc::new(self.clone())
    }

    /// The GPU's ordinal.
    #[must_use]
    pub fn ordinal(&self) -> usize {
        self.gpu.ordinal()
    }

    /// The GPU's name as the driver reports it (`"NVIDIA H200"`).
    #[must_use]
    pub fn name(&self) -> &str {
        self.gpu.name()
    }

    /// Compiles and loads every kernel now, rather than at first use: reports a compilation
    /// problem early, and keeps the compilation out of a timing.
    ///
    /// # Errors
    /// [`RingError::Device`] with NVRTC's log if a source does not compile.
    pub fn compile_kernels(&self) -> Result<()> {
        self.gpu.compile_all()
    }

    /// Waits until every operation issued so far has finished. Operations return as soon as
    /// they are queued; downloads wait by themselves, timings need this.
    ///
    /// # Errors
    /// [`RingError::Device`] if an earlier operation failed on the GPU.
    pub fn synchronize(&self) -> Result<()> {
        self.gpu.synchronize()
    }

    /// What crossed between host and GPU through this handle and its clones so far.
    #[must_use]
    pub fn transfers(&self) -> Transfers {
        let c = &self.counters;
        Transfers {
            uploads: c.uploads.load(Ordering::Relaxed),
            upload_bytes: c.upload_bytes.load(Ordering::Relaxed),
            downloads: c.downloads.load(Ordering::Relaxed),
            download_bytes: c.download_bytes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    fn count_upload(&self, elements: usize) {
        self.counters.uploads.fetch_add(1, Ordering::Relaxed);
        self.counters.upload_bytes.fetch_add(elements as u64 * 8, Ordering::Relaxed);
    }

    fn count_download(&self, elements: usize) {
        self.counters.downloads.fetch_add(1, Ordering::Relaxed);
        self.counters.download_bytes.fetch_add(elements as u64 * 8, Ordering::Relaxed);
    }

    /// Host elements uploaded (and counted) as a new buffer.
    pub(crate) fn upload_counted(&self, host: &[u64]) -> Result<GpuBuffer> {
        let buf = self.gpu.upload(host)?;
        self.count_upload(host.len());
        Ok(buf)
    }

    fn own<'a>(&self, b: &'a DeviceBuffer) -> Result<&'a GpuBuffer> {
        self.gpu.buffer(b)
    }
}

impl Device<u64> for CudaDevice {
    fn label(&self) -> String {
        self.gpu.label().to_owned()
    }

    fn transfers(&self) -> Option<Transfers> {
        Some(CudaDevice::transfers(self))
    }

    fn upload(&self, host: &[u64]) -> Result<DeviceBuffer> {
        self.upload_counted(host).map(wrap)
    }

    fn keystream(
        &self,
        key: &[u8; 16],
        first_word: u64,
        len: usize,
    ) -> Result<Option<DeviceBuffer>> {
        // Made in GPU memory from the key alone (the round keys travel as a kernel
        // argument): nothing is uploaded.
        keystream::keystream(&self.gpu, key, first_word, len).map(|b| Some(wrap(b)))
    }

    fn download(&self, buffer: &DeviceBuffer) -> Result<Vec<u64>> {
        let host = self.gpu.download(self.own(buffer)?)?;
        self.count_download(host.len());
        Ok(host)
    }

    /// The wire bytes: one download through page-locked memory (the plain path if none can
    /// be had), encoded straight out of it; counted as one download, as the default is.
    fn to_le_bytes(&self, buffer: &DeviceBuffer) -> Result<Vec<u8>> {
        let src = self.own(buffer)?;
        let mut out = vec![0u8; src.len * 8];
        let mut at = 0;
        self.gpu.download_with(src, |words| {
            staging::encode_le(words, &mut out[at..at + words.len() * 8]);
            at += words.len() * 8;
        })?;
        self.count_download(src.len);
        Ok(out)
    }

    /// Values from the wire: decoded straight into page-locked memory (an ordinary vector
    /// if none can be had) and uploaded from there; counted as one upload, as the default is.
    fn upload_le_bytes(&self, bytes: &[u8]) -> Result<DeviceBuffer> {
        let len = bytes.len() / 8;
        let buf = self
            .gpu
            .upload_with(len, |range, words| {
                staging::decode_le(&bytes[range.start * 8..range.end * 8], words);
            })
            .map(wrap)?;
        self.count_upload(len);
        Ok(buf)
    }

    fn fill(&self, len: usize, value: u64) -> Result<DeviceBuffer> {
        elementwise::fill(&self.gpu, len, value).map(wrap)
    }

    fn binary(
        &self,
        op: BinaryOp,
        a: (&DeviceBuffer, &[usize]),
        b: (&DeviceBuffer, &[usize]),
        out_shape: &[usize],
    ) -> Result<DeviceBuffer> {
        let (x, y) = (self.own(a.0)?, self.own(b.0)?);
        elementwise::binary(&self.gpu, op, (x, a.1), (y, b.1), out_shape).map(wrap)
    }

    fn unary(&self, op: UnaryOp<u64>, a: &DeviceBuffer) -> Result<DeviceBuffer> {
        elementwise::unary(&self.gpu, op, self.own(a)?).map(wrap)
    }

    fn strided_copy(&self, src: &DeviceBuffer, view: &StridedView) -> Result<DeviceBuffer> {
        elementwise::strided_copy(&self.gpu, self.own(src)?, view).map(wrap)
    }

    fn assemble(
        &self,
        len: usize,
        fill: u64,
        parts: &[(&DeviceBuffer, StridedView)],
    ) -> Result<DeviceBuffer> {
        let mut own = Vec::with_capacity(parts.len());
        for (buf, view) in parts {
            own.push((self.own(buf)?, view));
        }
        elementwise::assemble(&self.gpu, len, fill, &own).map(wrap)
    }

    fn take(&self, src: &DeviceBuffer, indices: &[usize]) -> Result<DeviceBuffer> {
        let out = elementwise::take(&self.gpu, self.own(src)?, indices)?;
        if !indices.is_empty() {
            // The indices crossed to the device.
            self.count_upload(indices.len());
        }
        Ok(wrap(out))
    }

    fn sum_axis(&self, src: &DeviceBuffer, shape: &[usize], axis: usize) -> Result<DeviceBuffer> {
        elementwise::sum_axis(&self.gpu, self.own(src)?, shape, axis).map(wrap)
    }
}
