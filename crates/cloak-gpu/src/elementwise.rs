//! The elementwise, strided, gather and reduction operations of the device: host-side
//! checks and launches of the kernels in `kernels/elementwise.cu`.
//!
//! Every operation checks what the kernels rely on (lengths, ranks, indices in range) before
//! launching: the kernels index without checks, so a wrong shape must become a typed error
//! here, never an out-of-bounds access on the GPU.

use cloak_ring::device::view::row_major_strides;
use cloak_ring::device::{BinaryOp, StridedView, UnaryOp};
use cloak_ring::error::checked_numel;
use cloak_ring::{RingError, broadcast_shapes};
use cudarc::driver::PushKernelArg;

use crate::buffer::GpuBuffer;
use crate::context::Gpu;
use crate::kernels::Kernel;
use crate::launch::{Indexing, binary_code, elementwise_config, unary_code};

type Result<T> = std::result::Result<T, RingError>;

/// Checks that a buffer holds exactly the elements of `shape`.
fn check_len(op: &'static str, buf: &GpuBuffer, shape: &[usize]) -> Result<()> {
    let n = checked_numel(op, shape)?;
    if n == buf.len {
        Ok(())
    } else {
        Err(RingError::InvalidShape {
            op,
            shape: shape.to_vec(),
            reason: format!("a buffer of {} elements for {n}", buf.len),
        })
    }
}

/// A new buffer of `len` elements equal to `value`.
pub(crate) fn fill(gpu: &Gpu, len: usize, value: u64) -> Result<GpuBuffer> {
    let mut out = gpu.alloc(len)?;
    if len == 0 {
        return Ok(out);
    }
    let f = gpu.function(Kernel::Fill)?;
    let n = len as u64;
    let mut launch = gpu.stream().launch_builder(&f);
    launch.arg(&mut out.slice).arg(&n).arg(&value);
    // SAFETY: fill_u64(u64* out, u64 n, u64 value); out holds n elements.
    unsafe { launch.launch(elementwise_config(len)) }.map_err(|e| gpu.err("fill", e))?;
    Ok(out)
}

/// `op(a, b)` with `a` and `b` broadcast to `out_shape` (NumPy rules).
pub(crate) fn binary(
    gpu: &Gpu,
    op: BinaryOp,
    (a, a_shape): (&GpuBuffer, &[usize]),
    (b, b_shape): (&GpuBuffer, &[usize]),
    out_shape: &[usize],
) -> Result<GpuBuffer> {
    check_len("binary", a, a_shape)?;
    check_len("binary", b, b_shape)?;
    let mismatch =
        || RingError::ShapeMismatch { op: "binary", lhs: a_shape.to_vec(), rhs: b_shape.to_vec() };
    if broadcast_shapes(a_shape, b_shape).as_deref() != Some(out_shape) {
        return Err(mismatch());
    }
    let n = checked_numel("binary", out_shape)?;
    let mut out = gpu.alloc(n)?;
    if n == 0 {
        return Ok(out);
    }
    let code = binary_code(op);
    if a_shape == out_shape && b_shape == out_shape {
        let f = gpu.function(Kernel::BinarySame)?;
        let n64 = n as u64;
        let mut launch = gpu.stream().launch_builder(&f);
        launch.arg(&a.slice).arg(&b.slice).arg(&mut out.slice).arg(&n64).arg(&code);
        // SAFETY: binary_same_u64(const u64* a, const u64* b, u64* out, u64 n, unsigned op);
        // a, b and out hold n elements each.
        unsafe { launch.launch(elementwise_config(n)) }.map_err(|e| gpu.err("binary", e))?;
        return Ok(out);
    }
    let (Some(va), Some(vb)) =
        (StridedView::broadcast(a_shape, out_shape), StridedView::broadcast(b_shape, out_shape))
    else {
        return Err(mismatch());
    };
    let p = Indexing::new("binary", out_shape, (0, &va.strides), (0, &vb.strides))?;
    let f = gpu.function(Kernel::BinaryBroadcast)?;
    let mut launch = gpu.stream().launch_builder(&f);
    launch.arg(&a.slice).arg(&b.slice).arg(&mut out.slice).arg(&code).arg(&p);
    // SAFETY: binary_broadcast_u64(const u64* a, const u64* b, u64* out, unsigned op,
    // Indexing p); the broadcast strides keep every read inside a and b (an axis of length 1
    // has stride 0), and out holds p.n elements.
    unsafe { launch.launch(elementwise_config(n)) }.map_err(|e| gpu.err("binary", e))?;
    Ok(out)
}

/// `op(a)` elementwise.
pub(crate) fn unary(gpu: &Gpu, op: UnaryOp<u64>, a: &GpuBuffer) -> Result<GpuBuffer> {
    let (code, s) = unary_code(op)?;
    let mut out = gpu.alloc(a.len)?;
    if a.len == 0 {
        return Ok(out);
    }
    let f = gpu.function(Kernel::Unary)?;
    let n = a.len as u64;
    let mut launch = gpu.stream().launch_builder(&f);
    launch.arg(&a.slice).arg(&mut out.slice).arg(&n).arg(&code).arg(&s);
    // SAFETY: unary_u64(const u64* a, u64* out, u64 n, unsigned op, u64 s); a and out hold n
    // elements; shifts are below 64 (unary_code checks).
    unsafe { launch.launch(elementwise_config(a.len)) }.map_err(|e| gpu.err("unary", e))?;
    Ok(out)
}

/// The elements `view` selects from `src`, contiguous in the view's row-major order.
pub(crate) fn strided_copy(gpu: &Gpu, src: &GpuBuffer, view: &StridedView) -> Result<GpuBuffer> {
    view.check_within("strided_copy", src.len)?;
    let n = checked_numel("strided_copy", &view.shape)?;
    let mut out = gpu.alloc(n)?;
    if n == 0 {
        return Ok(out);
    }
    let p = Indexing::new("strided_copy", &view.shape, (view.offset, &view.strides), (0, &[]))?;
    let f = gpu.function(Kernel::StridedCopy)?;
    let mut launch = gpu.stream().launch_builder(&f);
    launch.arg(&src.slice).arg(&mut out.slice).arg(&p);
    // SAFETY: strided_copy_u64(const u64* src, u64* out, Indexing p); check_within bounds
    // every read by src.len, and out holds p.n elements.
    unsafe { launch.launch(elementwise_config(n)) }.map_err(|e| gpu.err("strided_copy", e))?;
    Ok(out)
}

/// A part of an assembly as the scatter kernel writes it: the source read row-major, the
/// destination through the view, with every destination written once.
///
/// A view with a stride of 0 along an axis of length above 1 points several source elements
/// at one destination; on the host the last of them (in row-major order) wins. The scatter
/// kernel writes in parallel, so such an axis is reduced to its last index here (the source
/// offset moved to it), which writes exactly what the host writes. Views whose non-zero
/// strides overlap are not produced by the tensor layer (concatenation and padding write
/// disjoint blocks) and are not supported.
fn scatter_indexing(view: &StridedView) -> Result<Indexing> {
    let src_strides = row_major_strides(&view.shape);
    let mut shape = view.shape.clone();
    let mut src_offset = 0;
    for d in 0..shape.len() {
        if view.strides[d] == 0 && shape[d] > 1 {
            src_offset += (shape[d] - 1) * src_strides[d];
            shape[d] = 1;
        }
    }
    Indexing::new("assemble", &shape, (src_offset, &src_strides), (view.offset, &view.strides))
}

/// A buffer of `len` elements equal to `fill`, then each part's elements written where its
/// view points, in order (a later part overwrites an earlier one, as on the host).
pub(crate) fn assemble(
    gpu: &Gpu,
    len: usize,
    fill_value: u64,
    parts: &[(&GpuBuffer, &StridedView)],
) -> Result<GpuBuffer> {
    let mut launches = Vec::with_capacity(parts.len());
    for (src, view) in parts {
        view.check_within("assemble", len)?;
        if src.len < view.len() {
            return Err(RingError::InvalidShape {
                op: "assemble",
                shape: view.shape.clone(),
                reason: format!("a part of {} elements for a view of {}", src.len, view.len()),
            });
        }
        if !view.is_empty() {
            launches.push((*src, scatter_indexing(view)?));
        }
    }
    let mut out = fill(gpu, len, fill_value)?;
    if launches.is_empty() {
        return Ok(out);
    }
    let f = gpu.function(Kernel::Scatter)?;
    for (src, p) in launches {
        let mut launch = gpu.stream().launch_builder(&f);
        launch.arg(&src.slice).arg(&mut out.slice).arg(&p);
        // SAFETY: scatter_u64(const u64* src, u64* out, Indexing p); reads stay inside the
        // part (row-major over a shape no larger than the view, which src covers), writes
        // inside out (check_within), and each destination is written once (scatter_indexing).
        unsafe { launch.launch(elementwise_config(p.n as usize)) }
            .map_err(|e| gpu.err("assemble", e))?;
    }
    Ok(out)
}

/// `out[i] = src[indices[i]]`; the indices are uploaded (one small copy).
pub(crate) fn take(gpu: &Gpu, src: &GpuBuffer, indices: &[usize]) -> Result<GpuBuffer> {
    if let Some(&bad) = indices.iter().find(|&&i| i >= src.len) {
        return Err(RingError::IndexOutOfRange { op: "take", axis: 0, index: bad, len: src.len });
    }
    let mut out = gpu.alloc(indices.len())?;
    if indices.is_empty() {
        return Ok(out);
    }
    let idx: Vec<u64> = indices.iter().map(|&i| i as u64).collect();
    let idx = gpu.upload(&idx)?;
    let f = gpu.function(Kernel::Take)?;
    let n = indices.len() as u64;
    let mut launch = gpu.stream().launch_builder(&f);
    launch.arg(&src.slice).arg(&idx.slice).arg(&mut out.slice).arg(&n);
    // SAFETY: take_u64(const u64* src, const u64* idx, u64* out, u64 n); every index is below
    // src.len (checked above), idx and out hold n elements.
    unsafe { launch.launch(elementwise_config(indices.len())) }.map_err(|e| gpu.err("take", e))?;
    Ok(out)
}

/// Wrapping sum along `axis` of a row-major tensor of `shape` (the axis removed).
pub(crate) fn sum_axis(
    gpu: &Gpu,
    src: &GpuBuffer,
    shape: &[usize],
    axis: usize,
) -> Result<GpuBuffer> {
    if axis >= shape.len() {
        return Err(RingError::AxisOutOfRange { op: "sum_axis", axis, ndim: shape.len() });
    }
    check_len("sum_axis", src, shape)?;
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let n = outer * inner;
    if len == 0 {
        return fill(gpu, n, 0);
    }
    let mut out = gpu.alloc(n)?;
    if n == 0 {
        return Ok(out);
    }
    let f = gpu.function(Kernel::SumAxis)?;
    let (o, l, i) = (outer as u64, len as u64, inner as u64);
    let mut launch = gpu.stream().launch_builder(&f);
    launch.arg(&src.slice).arg(&mut out.slice).arg(&o).arg(&l).arg(&i);
    // SAFETY: sum_axis_u64(const u64* src, u64* out, u64 outer, u64 len, u64 inner); src holds
    // outer * len * inner elements (check_len), out outer * inner.
    unsafe { launch.launch(elementwise_config(n)) }.map_err(|e| gpu.err("sum_axis", e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the scatter kernel writes, run on the host: out[dst(i)] = src[src(i)] in order.
    fn scatter_on_host(out: &mut [u64], src: &[u64], p: &Indexing) {
        let rank = p.rank as usize;
        for i in 0..p.n {
            let (mut rem, mut a, mut b) = (i, p.offset_a, p.offset_b);
            for d in (0..rank).rev() {
                let c = rem % p.shape[d];
                rem /= p.shape[d];
                a += c * p.sa[d];
                b += c * p.sb[d];
            }
            out[b as usize] = src[a as usize];
        }
    }

    #[test]
    fn scatter_views_with_repeats_write_what_the_host_writes() {
        let src: Vec<u64> = (1..=24).collect();
        let views = [
            StridedView { shape: vec![2, 3, 4], strides: vec![0, 4, 1], offset: 2 },
            StridedView { shape: vec![4, 3, 2], strides: vec![1, 0, 5], offset: 0 },
            StridedView::contiguous(&[3, 8]),
            StridedView { shape: vec![3, 1, 2], strides: vec![2, 0, 9], offset: 1 },
        ];
        for view in views {
            let len = view.max_index().unwrap() + 1;
            let want = cloak_ring::device::assemble(len, 0, &[(&src[..], &view)]);
            let mut got = vec![0; len];
            let p = scatter_indexing(&view).unwrap();
            // No destination twice: the parallel writes cannot race.
            let mut seen = std::collections::HashSet::new();
            let dst = StridedView {
                shape: p.shape[..p.rank as usize].iter().map(|&x| x as usize).collect(),
                strides: p.sb[..p.rank as usize].iter().map(|&x| x as usize).collect(),
                offset: p.offset_b as usize,
            };
            assert!(dst.indices().all(|i| seen.insert(i)), "{view:?}");
            scatter_on_host(&mut got, &src, &p);
            assert_eq!(got, want, "{view:?}");
        }
    }
}
