//! Convolutions on the device: im2col (or col2im) kernels and the GEMM, as the CPU backend
//! computes them (`cloak_ring::kernels::conv`), with the same results bit for bit.
//!
//! - conv2d: per image and group, `y = W_g (O/g x r) * im2col(x) (r x OH*OW)`, `r = I/g*kh*kw`:
//!   one im2col launch and one GEMM launch batched over images and groups.
//! - input gradient: `dcols = W_g^T * dy`, then col2im gathers each input pixel's terms; a
//!   transposed convolution is the input gradient of the convolution whose weight it shares.
//! - weight gradient: `dW_g = dy_g (O/g x N*OH*OW) * im2col(x)^T`, the images side by side
//!   in the inner dimension, so one GEMM per chunk sums over them.
//!
//! The im2col matrices of many images can be large, so the images go through in chunks whose
//! columns stay under [`SCRATCH_ELEMS`]. The algorithms are written against [`Engine`], the
//! handful of device primitives they use, so that the tests run them on a host emulation of
//! the kernels and compare with the CPU backend: the index arithmetic of every product and
//! layout is checked without a GPU.

use cloak_ring::device::StridedView;
use cloak_ring::{Conv2dSpec, RingError};
use cudarc::driver::PushKernelArg;

use crate::buffer::GpuBuffer;
use crate::context::Gpu;
use crate::elementwise;
use crate::gemm::{self, Layout, Product};
use crate::kernels::Kernel;
use crate::launch::{ConvGeometry, elementwise_config};

type Result<T> = std::result::Result<T, RingError>;

/// Elements of im2col scratch per chunk of images at most (1 GiB of `u64`); a single image
/// that needs more gets a chunk of its own.
pub(crate) const SCRATCH_ELEMS: usize = 1 << 27;

/// The device primitives a convolution uses.
pub(crate) trait Engine {
    /// A buffer of ring elements.
    type Buf;
    /// `len` elements, every one written by the caller before it is read.
    fn alloc(&self, len: usize) -> Result<Self::Buf>;
    /// `len` elements equal to `value`.
    fn fill(&self, len: usize, value: u64) -> Result<Self::Buf>;
    /// The elements `view` selects, contiguous.
    fn strided_copy(&self, src: &Self::Buf, view: &StridedView) -> Result<Self::Buf>;
    /// im2col of the images starting at element `x_off` of `x` into `cols` (`conv.cu`).
    fn im2col(
        &self,
        x: &Self::Buf,
        x_off: usize,
        cols: &mut Self::Buf,
        g: &ConvGeometry,
    ) -> Result<()>;
    /// col2im of `cols` into the images starting at element `dx_off` of `dx` (`conv.cu`).
    fn col2im(
        &self,
        cols: &Self::Buf,
        dx: &mut Self::Buf,
        dx_off: usize,
        g: &ConvGeometry,
    ) -> Result<()>;
    /// The product, each operand starting at its offset.
    fn gemm(
        &self,
        a: (&Self::Buf, usize),
        b: (&Self::Buf, usize),
        c: (&mut Self::Buf, usize),
        p: &Product,
    ) -> Result<()>;
}

/// The shapes of one convolution, named.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    ig: usize,
    kh: usize,
    kw: usize,
    groups: usize,
    og: usize,
    oh: usize,
    ow: usize,
    /// Rows of the im2col matrix of one image and group.
    r: usize,
    /// Columns of the im2col matrix (output positions).
    cols: usize,
}

impl Dims {
    /// From the input, weight (OIHW) and output shapes, already validated by the ring
    /// layer's shape checks.
    fn new(x: [usize; 4], w: [usize; 4], y_hw: (usize, usize), groups: usize) -> Self {
        let [n, c, h, wd] = x;
        let [o, ig, kh, kw] = w;
        let groups = groups.max(1);
        Dims {
            n,
            c,
            h,
            w: wd,
            o,
            ig,
            kh,
            kw,
            groups,
            og: o / groups,
            oh: y_hw.0,
            ow: y_hw.1,
            r: ig * kh * kw,
            cols: y_hw.0 * y_hw.1,
        }
    }

    /// The im2col geometry of `images` images, entry (n, g, r, col) at
    /// `n * s_n + g * s_g + r * s_r + col`.
    fn geometry(&self, p: &Conv2dSpec, images: usize, s: (usize, usize, usize)) -> ConvGeometry {
        ConvGeometry {
            images: images as u64,
            groups: self.groups as u64,
            channels: self.ig as u64,
            h: self.h as u64,
            w: self.w as u64,
            kh: self.kh as u64,
            kw: self.kw as u64,
            sh: p.stride.0 as u64,
            sw: p.stride.1 as u64,
            ph: p.padding.0 as u64,
            pw: p.padding.1 as u64,
            dh: p.dilation.0 as u64,
            dw: p.dilation.1 as u64,
            oh: self.oh as u64,
            ow: self.ow as u64,
            s_n: s.0 as u64,
            s_g: s.1 as u64,
            s_r: s.2 as u64,
        }
    }

    /// Images per chunk: as many as keep the scratch under `limit`, at least one.
    fn chunk(&self, per_image: usize, limit: usize) -> usize {
        limit.checked_div(per_image).map_or(self.n.max(1), |c| c.clamp(1, self.n.max(1)))
    }
}

/// conv2d of `x` (NCHW) by `w` (OIHW) into a new buffer of `[N, O, OH, OW]`.
pub(crate) fn conv2d<E: Engine>(
    e: &E,
    (x, xs): (&E::Buf, [usize; 4]),
    (w, ws): (&E::Buf, [usize; 4]),
    p: &Conv2dSpec,
    y_hw: (usize, usize),
    limit: usize,
) -> Result<E::Buf> {
    let d = Dims::new(xs, ws, y_hw, p.groups);
    let mut y = e.alloc(d.n * d.o * d.cols)?;
    let per_image = d.groups * d.r * d.cols;
    let chunk = d.chunk(per_image, limit);
    let mut im = e.alloc(chunk * per_image)?;
    for n0 in (0..d.n).step_by(chunk) {
        let nc = chunk.min(d.n - n0);
        let geo = d.geometry(p, nc, (per_image, d.r * d.cols, d.cols));
        e.im2col(x, n0 * d.c * d.h * d.w, &mut im, &geo)?;
        let product = Product {
            m: d.og,
            n: d.cols,
            k: d.r,
            outer: nc,
            inner: d.groups,
            a: Layout { rs: d.r, cs: 1, s1: 0, s2: d.og * d.r },
            b: Layout::row_major(d.cols, per_image, d.r * d.cols),
            c: Layout::row_major(d.cols, d.o * d.cols, d.og * d.cols),
            accumulate: false,
        };
        e.gemm((w, 0), (&im, 0), (&mut y, n0 * d.o * d.cols), &product)?;
    }
    Ok(y)
}

/// The gradient of conv2d with respect to its input `[N, C, H, W]` (`xs`), from the output
/// gradient `dy` (`[N, O, OH, OW]`, its spatial size taken as given) and `w` (OIHW).
pub(crate) fn input_grad<E: Engine>(
    e: &E,
    (dy, dys): (&E::Buf, [usize; 4]),
    (w, ws): (&E::Buf, [usize; 4]),
    xs: [usize; 4],
    p: &Conv2dSpec,
    limit: usize,
) -> Result<E::Buf> {
    let d = Dims::new(xs, ws, (dys[2], dys[3]), p.groups);
    let image = d.c * d.h * d.w;
    let mut dx = e.alloc(d.n * image)?;
    let per_image = d.groups * d.r * d.cols;
    let chunk = d.chunk(per_image, limit);
    let mut dcols = e.alloc(chunk * per_image)?;
    for n0 in (0..d.n).step_by(chunk) {
        let nc = chunk.min(d.n - n0);
        // dcols[n, g] (r x cols) = W_g^T (r x og) * dy[n, g] (og x cols).
        let product = Product {
            m: d.r,
            n: d.cols,
            k: d.og,
            outer: nc,
            inner: d.groups,
            a: Layout { rs: 1, cs: d.r, s1: 0, s2: d.og * d.r },
            b: Layout::row_major(d.cols, d.o * d.cols, d.og * d.cols),
            c: Layout::row_major(d.cols, per_image, d.r * d.cols),
            accumulate: false,
        };
        e.gemm((w, 0), (dy, n0 * d.o * d.cols), (&mut dcols, 0), &product)?;
        let geo = d.geometry(p, nc, (per_image, d.r * d.cols, d.cols));
        e.col2im(&dcols, &mut dx, n0 * image, &geo)?;
    }
    Ok(dx)
}

/// The gradient of conv2d with respect to its weight `[O, I/g, kh, kw]` (`ws`), from the
/// input `x` and the output gradient `dy`.
pub(crate) fn weight_grad<E: Engine>(
    e: &E,
    (x, xs): (&E::Buf, [usize; 4]),
    (dy, dys): (&E::Buf, [usize; 4]),
    ws: [usize; 4],
    p: &Conv2dSpec,
    limit: usize,
) -> Result<E::Buf> {
    let d = Dims::new(xs, ws, (dys[2], dys[3]), p.groups);
    let mut dw = e.fill(d.o * d.r, 0)?;
    let per_image = d.groups * d.r * d.cols;
    let chunk = d.chunk(per_image, limit);
    let mut im = e.alloc(chunk * per_image)?;
    for n0 in (0..d.n).step_by(chunk) {
        let nc = chunk.min(d.n - n0);
        let k = nc * d.cols;
        // im2col with the chunk's images side by side: entry (n, g, r, col) at
        // g * r * k + r * k + n * cols + col, so each group's matrix is r x k.
        let geo = d.geometry(p, nc, (d.cols, d.r * k, k));
        e.im2col(x, n0 * d.c * d.h * d.w, &mut im, &geo)?;
        // dy of the chunk as [g, og, n, cols]: each group's gradient is og x k.
        let view = StridedView {
            shape: vec![d.groups, d.og, nc, d.cols],
            strides: vec![d.og * d.cols, d.cols, d.o * d.cols, 1],
            offset: n0 * d.o * d.cols,
        };
        let dyp = e.strided_copy(dy, &view)?;
        // dW_g (og x r) += dy_g (og x k) * im_g^T (k x r).
        let product = Product {
            m: d.og,
            n: d.r,
            k,
            outer: d.groups,
            inner: 1,
            a: Layout { rs: k, cs: 1, s1: d.og * k, s2: 0 },
            b: Layout { rs: 1, cs: k, s1: d.r * k, s2: 0 },
            c: Layout { rs: d.r, cs: 1, s1: d.og * d.r, s2: 0 },
            accumulate: true,
        };
        e.gemm((&dyp, 0), (&im, 0), (&mut dw, 0), &product)?;
    }
    Ok(dw)
}

/// One past the last im2col entry a geometry writes (or col2im reads); 0 for none.
fn columns_reach(g: &ConvGeometry) -> Option<u64> {
    let rows = g.channels.checked_mul(g.kh)?.checked_mul(g.kw)?;
    let ncols = g.oh.checked_mul(g.ow)?;
    if g.images == 0 || g.groups == 0 || rows == 0 || ncols == 0 {
        return Some(0);
    }
    (g.images - 1)
        .checked_mul(g.s_n)?
        .checked_add((g.groups - 1).checked_mul(g.s_g)?)?
        .checked_add((rows - 1).checked_mul(g.s_r)?)?
        .checked_add(ncols)
}

/// Elements of the images a geometry covers (read by im2col, written by col2im).
fn images_len(g: &ConvGeometry) -> Option<u64> {
    g.images.checked_mul(g.groups)?.checked_mul(g.channels)?.checked_mul(g.h)?.checked_mul(g.w)
}

/// The [`Engine`] of a GPU: the kernels of `conv.cu`, the GEMM and the strided copy.
#[derive(Debug)]
pub(crate) struct GpuEngine<'a>(pub(crate) &'a Gpu);

impl GpuEngine<'_> {
    /// Checks that a geometry stays inside its images (from `off`) and columns.
    fn check(&self, g: &ConvGeometry, images: (usize, usize), cols: usize) -> Result<(u64, u64)> {
        let reach = columns_reach(g);
        let len = images_len(g);
        match (reach, len) {
            (Some(reach), Some(len))
                if reach <= cols as u64
                    && (images.0 as u64).checked_add(len).is_some_and(|e| e <= images.1 as u64) =>
            {
                Ok((reach, len))
            }
            _ => Err(self.0.err(
                "conv",
                format!(
                    "{g:?} leaves its buffers ({} image elements from {}, {cols} columns)",
                    images.1, images.0
                ),
            )),
        }
    }
}

impl Engine for GpuEngine<'_> {
    type Buf = GpuBuffer;

    fn alloc(&self, len: usize) -> Result<GpuBuffer> {
        self.0.alloc(len)
    }

    fn fill(&self, len: usize, value: u64) -> Result<GpuBuffer> {
        elementwise::fill(self.0, len, value)
    }

    fn strided_copy(&self, src: &GpuBuffer, view: &StridedView) -> Result<GpuBuffer> {
        elementwise::strided_copy(self.0, src, view)
    }

    fn im2col(
        &self,
        x: &GpuBuffer,
        x_off: usize,
        cols: &mut GpuBuffer,
        g: &ConvGeometry,
    ) -> Result<()> {
        let (reach, _) = self.check(g, (x_off, x.len), cols.len)?;
        if reach == 0 {
            return Ok(());
        }
        let total = g.images * g.groups * g.channels * g.kh * g.kw * g.oh * g.ow;
        let f = self.0.function(Kernel::Im2col)?;
        let xv = x.slice.slice(x_off..x.len);
        let mut launch = self.0.stream().launch_builder(&f);
        launch.arg(&xv).arg(&mut cols.slice).arg(g);
        // SAFETY: im2col_u64(const u64* x, u64* cols, ConvGeometry p); check showed that the
        // images lie inside x from x_off and every entry written inside cols.
        unsafe { launch.launch(elementwise_config(total as usize)) }
            .map_err(|e| self.0.err("im2col", e))?;
        Ok(())
    }

    fn col2im(
        &self,
        cols: &GpuBuffer,
        dx: &mut GpuBuffer,
        dx_off: usize,
        g: &ConvGeometry,
    ) -> Result<()> {
        let (_, len) = self.check(g, (dx_off, dx.len), cols.len)?;
        if len == 0 {
            return Ok(());
        }
        let f = self.0.function(Kernel::Col2im)?;
        let end = dx.len;
        let mut dxv = dx.slice.slice_mut(dx_off..end);
        let mut launch = self.0.stream().launch_builder(&f);
        launch.arg(&cols.slice).arg(&mut dxv).arg(g);
        // SAFETY: col2im_u64(const u64* cols, u64* dx, ConvGeometry p); check showed that the
        // images lie inside dx from dx_off and every entry read inside cols (an entry is read
        // only for an output position inside oh x ow).
        unsafe { launch.launch(elementwise_config(len as usize)) }
            .map_err(|e| self.0.err("col2im", e))?;
        Ok(())
    }

    fn gemm(
        &self,
        (a, a_off): (&GpuBuffer, usize),
        (b, b_off): (&GpuBuffer, usize),
        (c, c_off): (&mut GpuBuffer, usize),
        p: &Product,
    ) -> Result<()> {
        let range = |off: usize, len: usize| {
            if off <= len {
                Ok(off..len)
            } else {
                Err(self.0.err("gemm", format!("offset {off} past a buffer of {len}")))
            }
        };
        let av = a.slice.slice(range(a_off, a.len)?);
        let bv = b.slice.slice(range(b_off, b.len)?);
        let c_range = range(c_off, c.len)?;
        let mut cv = c.slice.slice_mut(c_range);
        gemm::gemm(self.0, &av, &bv, &mut cv, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::host::gemm_on_host;
    use cloak_ring::testing::TestRng;
    use cloak_ring::{Backend, CpuBackend, RingTensor};

    /// The kernels of `conv.cu` and the GEMM, run on the host line by line.
    struct HostEngine;

    impl Engine for HostEngine {
        type Buf = Vec<u64>;

        fn alloc(&self, len: usize) -> Result<Vec<u64>> {
            // Garbage, not zeros: an entry the algorithm forgets to write shows.
            Ok((0..len as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1).collect())
        }

        fn fill(&self, len: usize, value: u64) -> Result<Vec<u64>> {
            Ok(vec![value; len])
        }

        fn strided_copy(&self, src: &Vec<u64>, view: &StridedView) -> Result<Vec<u64>> {
            view.check_within("strided_copy", src.len())?;
            Ok(cloak_ring::device::strided_copy(src, view))
        }

        fn im2col(
            &self,
            x: &Vec<u64>,
            x_off: usize,
            cols: &mut Vec<u64>,
            p: &ConvGeometry,
        ) -> Result<()> {
            assert!(columns_reach(p).unwrap() <= cols.len() as u64);
            assert!(x_off as u64 + images_len(p).unwrap() <= x.len() as u64);
            let x = &x[x_off..];
            let taps = p.kh * p.kw;
            let rows = p.channels * taps;
            let ncols = p.oh * p.ow;
            let total = p.images * p.groups * rows * ncols;
            for i in 0..total {
                let col = i % ncols;
                let mut t = i / ncols;
                let r = t % rows;
                t /= rows;
                let g = t % p.groups;
                let n = t / p.groups;
                let c = r / taps;
                let tap = r % taps;
                let (ki, kj) = (tap / p.kw, tap % p.kw);
                let (oy, ox) = (col / p.ow, col % p.ow);
                let iy = (oy * p.sh + ki * p.dh) as i64 - p.ph as i64;
                let ix = (ox * p.sw + kj * p.dw) as i64 - p.pw as i64;
                let mut v = 0;
                if iy >= 0 && iy < p.h as i64 && ix >= 0 && ix < p.w as i64 {
                    let plane = n * p.groups * p.channels + g * p.channels + c;
                    v = x[((plane * p.h + iy as u64) * p.w + ix as u64) as usize];
                }
                cols[(n * p.s_n + g * p.s_g + r * p.s_r + col) as usize] = v;
            }
            Ok(())
        }

        fn col2im(
            &self,
            cols: &Vec<u64>,
            dx: &mut Vec<u64>,
            dx_off: usize,
            p: &ConvGeometry,
        ) -> Result<()> {
            assert!(columns_reach(p).unwrap() <= cols.len() as u64);
            assert!(dx_off as u64 + images_len(p).unwrap() <= dx.len() as u64);
            let taps = p.kh * p.kw;
            let total = images_len(p).unwrap();
            for i in 0..total {
                let x = i % p.w;
                let mut t = i / p.w;
                let y = t % p.h;
                t /= p.h;
                let c = t % p.channels;
                t /= p.channels;
                let g = t % p.groups;
                let n = t / p.groups;
                let base = n * p.s_n + g * p.s_g;
                let mut acc = 0u64;
                for ki in 0..p.kh {
                    let ny = (y + p.ph) as i64 - (ki * p.dh) as i64;
                    if ny < 0 || !(ny as u64).is_multiple_of(p.sh) {
                        continue;
                    }
                    let oy = ny as u64 / p.sh;
                    if oy >= p.oh {
                        continue;
                    }
                    for kj in 0..p.kw {
                        let nx = (x + p.pw) as i64 - (kj * p.dw) as i64;
                        if nx < 0 || !(nx as u64).is_multiple_of(p.sw) {
                            continue;
                        }
                        let ox = nx as u64 / p.sw;
                        if ox >= p.ow {
                            continue;
                        }
                        let r = c * taps + ki * p.kw + kj;
                        acc = acc.wrapping_add(cols[(base + r * p.s_r + oy * p.ow + ox) as usize]);
                    }
                }
                dx[dx_off + i as usize] = acc;
            }
            Ok(())
        }

        fn gemm(
            &self,
            (a, a_off): (&Vec<u64>, usize),
            (b, b_off): (&Vec<u64>, usize),
            (c, c_off): (&mut Vec<u64>, usize),
            p: &Product,
        ) -> Result<()> {
            gemm_on_host(p, &a[a_off..], &b[b_off..], &mut c[c_off..]);
            Ok(())
        }
    }

    fn random(rng: &mut TestRng, shape: &[usize]) -> RingTensor<u64> {
        RingTensor::from_vec(shape, rng.words(shape.iter().product())).unwrap()
    }

    fn shape4(s: &[usize]) -> [usize; 4] {
        [s[0], s[1], s[2], s[3]]
    }

    /// Every convolution, with the image chunks forced small and not, against the CPU.
    #[test]
    fn the_convolutions_match_the_cpu_backend() {
        let mut rng = TestRng::new(11);
        let cases = [
            ([2, 3, 7, 6], [4, 3, 3, 3], ((2, 1), (1, 1), (1, 1), 1)),
            ([3, 4, 8, 9], [6, 2, 3, 2], ((1, 2), (2, 0), (2, 1), 2)),
            ([1, 2, 5, 5], [2, 1, 1, 1], ((1, 1), (0, 0), (1, 1), 2)),
            ([2, 6, 9, 7], [3, 2, 2, 3], ((3, 2), (1, 2), (1, 2), 3)),
            ([0, 2, 4, 4], [2, 2, 3, 3], ((1, 1), (1, 1), (1, 1), 1)),
        ];
        let cpu = CpuBackend::sequential();
        for (xs, ws, (stride, padding, dilation, groups)) in cases {
            let spec = Conv2dSpec { stride, padding, dilation, groups };
            let (x, w) = (random(&mut rng, &xs), random(&mut rng, &ws));
            let y = cpu.conv2d(&x, &w, &spec).unwrap();
            let dy = random(&mut rng, y.shape());
            let dx = cpu.conv2d_input_grad(&dy, &w, &xs, &spec).unwrap();
            let dw = cpu.conv2d_weight_grad(&x, &dy, &ws, &spec).unwrap();
            let (xv, wv, dyv) = (x.to_vec(), w.to_vec(), dy.to_vec());
            let ys = shape4(y.shape());
            for limit in [1, 50, SCRATCH_ELEMS] {
                let what = format!("{xs:?} {ws:?} {spec:?} limit {limit}");
                let got = conv2d(&HostEngine, (&xv, xs), (&wv, ws), &spec, (ys[2], ys[3]), limit)
                    .unwrap();
                assert_eq!(got, y.to_vec(), "conv2d {what}");
                let got = input_grad(&HostEngine, (&dyv, ys), (&wv, ws), xs, &spec, limit).unwrap();
                assert_eq!(got, dx.to_vec(), "input grad {what}");
                let got =
                    weight_grad(&HostEngine, (&xv, xs), (&dyv, ys), ws, &spec, limit).unwrap();
                assert_eq!(got, dw.to_vec(), "weight grad {what}");
            }
        }
    }

    #[test]
    fn transposed_convolutions_are_input_gradients() {
        let mut rng = TestRng::new(12);
        let cpu = CpuBackend::sequential();
        for (xs, ws, groups, stride, padding, out_pad) in [
            ([2, 3, 4, 5], [3, 2, 3, 3], 1, (2, 1), (1, 1), (1, 0)),
            ([1, 4, 3, 3], [4, 1, 2, 3], 2, (2, 2), (0, 1), (1, 1)),
        ] {
            let spec = Conv2dSpec { stride, padding, dilation: (1, 1), groups };
            let (x, w) = (random(&mut rng, &xs), random(&mut rng, &ws));
            let want = cpu.conv_transpose2d(&x, &w, &spec, out_pad).unwrap();
            let out = shape4(want.shape());
            let got = input_grad(&HostEngine, (&x.to_vec(), xs), (&w.to_vec(), ws), out, &spec, 7)
                .unwrap();
            assert_eq!(got, want.to_vec(), "{xs:?} {ws:?} {spec:?} {out_pad:?}");
        }
    }

    #[test]
    fn geometries_report_their_reach() {
        let g = ConvGeometry {
            images: 2,
            groups: 3,
            channels: 1,
            h: 4,
            w: 4,
            kh: 2,
            kw: 2,
            sh: 1,
            sw: 1,
            dh: 1,
            dw: 1,
            oh: 3,
            ow: 3,
            s_n: 3 * 4 * 9,
            s_g: 4 * 9,
            s_r: 9,
            ..ConvGeometry::default()
        };
        assert_eq!(columns_reach(&g), Some(2 * 3 * 4 * 9));
        assert_eq!(images_len(&g), Some(2 * 3 * 16));
        assert_eq!(columns_reach(&ConvGeometry { images: 0, ..g }), Some(0));
    }
}
