//! A device in separate host memory that counts every transfer: the device path (dispatch,
//! residency, transfers) runs and is tested on machines without an accelerator, as candle's
//! dummy backend lets candle build everywhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::view::StridedView;
use super::{BinaryOp, Device, DeviceBuffer, DeviceRef, UnaryOp, host_ops};
use crate::element::RingElement;
use crate::error::{Result, RingError};
use crate::tensor::backend::{Backend, CpuBackend};
use crate::tensor::{Conv2dSpec, RingTensor};

/// What crossed between the host and a device so far, as
/// [`Device::transfers`](super::Device::transfers) reports it ([`SimulatedDevice`] and
/// `cloak-gpu`'s CUDA device count every transfer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfers {
    /// Host-to-device copies.
    pub uploads: u64,
    /// Bytes copied host to device (elements and indices).
    pub upload_bytes: u64,
    /// Device-to-host copies.
    pub downloads: u64,
    /// Bytes copied device to host.
    pub download_bytes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    uploads: AtomicU64,
    upload_bytes: AtomicU64,
    downloads: AtomicU64,
    download_bytes: AtomicU64,
}

/// The simulated device's buffers: plain vectors, apart from the host's arrays.
struct SimBuffer<T>(Vec<T>);

/// A device whose memory is ordinary host memory kept apart from the host's tensors, with
/// every transfer counted ([`transfers`](Self::transfers)). Its kernels are the host
/// reference ones; what it shows is residency: which operations stay on the device and
/// which cross to the host. Clones are handles to the same device.
#[derive(Clone, Debug)]
pub struct SimulatedDevice {
    id: usize,
    counters: Arc<Counters>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl Default for SimulatedDevice {
    fn default() -> Self {
        Self::new()
    }
}

impl SimulatedDevice {
    /// A new simulated device, labelled `sim:N` with a number of its own.
    #[must_use]
    pub fn new() -> Self {
        Self { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), counters: Arc::default() }
    }

    /// This device as a handle tensors hold.
    #[must_use]
    pub fn handle<T: RingElement>(&self) -> DeviceRef<T> {
        Arc::new(self.clone())
    }

    /// The transfers so far.
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

    fn count_upload(&self, bytes: usize) {
        self.counters.uploads.fetch_add(1, Ordering::Relaxed);
        self.counters.upload_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn count_download(&self, bytes: usize) {
        self.counters.downloads.fetch_add(1, Ordering::Relaxed);
        self.counters.download_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn elements<'a, T: RingElement>(&self, buffer: &'a DeviceBuffer) -> Result<&'a [T]> {
        buffer.downcast::<SimBuffer<T>>().map(|b| &b.0[..]).ok_or_else(|| RingError::Device {
            device: Device::<T>::label(self),
            reason: "a buffer this device did not make".into(),
        })
    }

    fn buffer<T: RingElement>(data: Vec<T>) -> DeviceBuffer {
        let len = data.len();
        DeviceBuffer::new(SimBuffer(data), len)
    }

    /// A tensor's elements as this device sees them: its own buffer as it is, a host
    /// tensor's elements counted as an upload.
    fn operand<T: RingElement>(&self, t: &RingTensor<T>) -> Result<RingTensor<T>> {
        match t.device_buffer() {
            Some((dev, buf)) if dev.label() == Device::<T>::label(self) => {
                RingTensor::from_vec(t.shape(), self.elements::<T>(buf)?.to_vec())
            }
            Some((dev, _)) => Err(RingError::DeviceMismatch {
                op: "sim product",
                lhs: Device::<T>::label(self),
                rhs: dev.label(),
            }),
            None => {
                self.count_upload(t.len() * T::BYTES);
                Ok(t.clone())
            }
        }
    }

    /// A host result moved into this device's memory (computed here: not a transfer).
    fn resident<T: RingElement>(&self, t: RingTensor<T>) -> RingTensor<T> {
        let shape = t.shape().to_vec();
        RingTensor::from_device_buffer(self.handle(), Self::buffer(t.into_vec()), &shape)
    }

    fn product<T: RingElement>(
        &self,
        a: &RingTensor<T>,
        b: &RingTensor<T>,
        f: impl FnOnce(&CpuBackend, &RingTensor<T>, &RingTensor<T>) -> Result<RingTensor<T>>,
    ) -> Result<RingTensor<T>> {
        let (a, b) = (self.operand(a)?, self.operand(b)?);
        Ok(self.resident(f(&CpuBackend::default(), &a, &b)?))
    }
}

impl<T: RingElement> Backend<T> for SimulatedDevice {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn matmul(&self, a: &RingTensor<T>, b: &RingTensor<T>) -> Result<RingTensor<T>> {
        self.product(a, b, |cpu, a, b| cpu.matmul(a, b))
    }

    fn conv2d(
        &self,
        x: &RingTensor<T>,
        w: &RingTensor<T>,
        p: &Conv2dSpec,
    ) -> Result<RingTensor<T>> {
        self.product(x, w, |cpu, x, w| cpu.conv2d(x, w, p))
    }

    fn conv2d_input_grad(
        &self,
        dy: &RingTensor<T>,
        w: &RingTensor<T>,
        x_shape: &[usize],
        p: &Conv2dSpec,
    ) -> Result<RingTensor<T>> {
        self.product(dy, w, |cpu, dy, w| cpu.conv2d_input_grad(dy, w, x_shape, p))
    }

    fn conv2d_weight_grad(
        &self,
        x: &RingTensor<T>,
        dy: &RingTensor<T>,
        w_shape: &[usize],
        p: &Conv2dSpec,
    ) -> Result<RingTensor<T>> {
        self.product(x, dy, |cpu, x, dy| cpu.conv2d_weight_grad(x, dy, w_shape, p))
    }

    fn conv_transpose2d(
        &self,
        x: &RingTensor<T>,
        w: &RingTensor<T>,
        p: &Conv2dSpec,
        output_padding: (usize, usize),
    ) -> Result<RingTensor<T>> {
        self.product(x, w, |cpu, x, w| cpu.conv_transpose2d(x, w, p, output_padding))
    }
}

impl<T: RingElement> Device<T> for SimulatedDevice {
    fn label(&self) -> String {
        format!("sim:{}", self.id)
    }

    fn transfers(&self) -> Option<Transfers> {
        Some(SimulatedDevice::transfers(self))
    }

    fn keystream(
        &self,
        key: &[u8; 16],
        first_word: u64,
        len: usize,
    ) -> Result<Option<DeviceBuffer>> {
        // Made in this device's memory: not a transfer.
        Ok(Some(Self::buffer(super::keystream::keystream::<T>(key, first_word, len))))
    }

    fn upload(&self, host: &[T]) -> Result<DeviceBuffer> {
        self.count_upload(std::mem::size_of_val(host));
        Ok(Self::buffer(host.to_vec()))
    }

    fn download(&self, buffer: &DeviceBuffer) -> Result<Vec<T>> {
        let data = self.elements::<T>(buffer)?;
        self.count_download(std::mem::size_of_val(data));
        Ok(data.to_vec())
    }

    fn fill(&self, len: usize, value: T) -> Result<DeviceBuffer> {
        Ok(Self::buffer(vec![value; len]))
    }

    fn binary(
        &self,
        op: BinaryOp,
        a: (&DeviceBuffer, &[usize]),
        b: (&DeviceBuffer, &[usize]),
        out_shape: &[usize],
    ) -> Result<DeviceBuffer> {
        let (x, y) = (self.elements::<T>(a.0)?, self.elements::<T>(b.0)?);
        Ok(Self::buffer(host_ops::binary(op, (x, a.1), (y, b.1), out_shape)?))
    }

    fn unary(&self, op: UnaryOp<T>, a: &DeviceBuffer) -> Result<DeviceBuffer> {
        Ok(Self::buffer(host_ops::unary(op, self.elements::<T>(a)?)))
    }

    fn strided_copy(&self, src: &DeviceBuffer, view: &StridedView) -> Result<DeviceBuffer> {
        let src = self.elements::<T>(src)?;
        view.check_within("strided_copy", src.len())?;
        Ok(Self::buffer(host_ops::strided_copy(src, view)))
    }

    fn assemble(
        &self,
        len: usize,
        fill: T,
        parts: &[(&DeviceBuffer, StridedView)],
    ) -> Result<DeviceBuffer> {
        let mut sources = Vec::with_capacity(parts.len());
        for (buf, view) in parts {
            view.check_within("assemble", len)?;
            sources.push((self.elements::<T>(buf)?, view));
        }
        Ok(Self::buffer(host_ops::assemble(len, fill, &sources)))
    }

    fn take(&self, src: &DeviceBuffer, indices: &[usize]) -> Result<DeviceBuffer> {
        // The indices travel to the device as 32- or 64-bit words: count them.
        self.count_upload(std::mem::size_of_val(indices));
        let src = self.elements::<T>(src)?;
        if let Some(&bad) = indices.iter().find(|&&i| i >= src.len()) {
            return Err(RingError::IndexOutOfRange {
                op: "take",
                axis: 0,
                index: bad,
                len: src.len(),
            });
        }
        Ok(Self::buffer(host_ops::take(src, indices)))
    }

    fn sum_axis(&self, src: &DeviceBuffer, shape: &[usize], axis: usize) -> Result<DeviceBuffer> {
        Ok(Self::buffer(host_ops::sum_axis(self.elements::<T>(src)?, shape, axis)))
    }
}
