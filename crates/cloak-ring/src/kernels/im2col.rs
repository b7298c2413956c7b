//! im2col and col2im: convolutions as matrix products.
//!
//! For one image and one group, the im2col matrix has a row per (input channel, kernel row,
//! kernel column) and a column per output position; entry `(r, j)` is the input pixel that
//! kernel tap `r` sees at output position `j` (zero in the padding). The convolution is then
//! the weight matrix times it. For a 3x3 kernel the matrix is nine times the image, so the
//! forward convolution never writes it out: [`Im2col`] gathers it block by block while the
//! GEMM packs its right operand, from an image that stays in cache.

use super::driver::{MicroKernel, Rhs, SWEEP_ROWS};
use crate::RingElement;

/// The shape of one image-and-group's convolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    /// Input channels (of one group).
    pub channels: usize,
    /// Input height and width.
    pub in_hw: (usize, usize),
    /// Kernel height and width.
    pub kernel_hw: (usize, usize),
    /// Stride (height, width).
    pub stride: (usize, usize),
    /// Zero padding (height, width), on both sides.
    pub padding: (usize, usize),
    /// Dilation (height, width).
    pub dilation: (usize, usize),
    /// Output height and width.
    pub out_hw: (usize, usize),
}

impl Geometry {
    /// Rows of the im2col matrix: channels x kernel taps.
    pub fn rows(&self) -> usize {
        self.channels * self.kernel_hw.0 * self.kernel_hw.1
    }

    /// Columns of the im2col matrix: output positions.
    pub fn cols(&self) -> usize {
        self.out_hw.0 * self.out_hw.1
    }

    /// Elements of the input of one image-and-group.
    pub fn image_len(&self) -> usize {
        self.channels * self.in_hw.0 * self.in_hw.1
    }

    /// The channel and the (height, width) offsets into the padded input of im2col row `r`.
    fn tap(&self, r: usize) -> (usize, usize, usize) {
        let (kh, kw) = self.kernel_hw;
        let (c, t) = (r / (kh * kw), r % (kh * kw));
        (c, t / kw * self.dilation.0, t % kw * self.dilation.1)
    }

    /// Walks columns `j0..j0 + len_total` of im2col row `r` in runs that share an output row,
    /// calling `f(at, c, ih, iw0, len)` for each: the run covers columns `j0 + at ..` and
    /// `len` of them, reads input channel `c` at input row `ih` (`None` in the padding), and its
    /// first element sits at padded input column `iw0`, each further one a width stride on.
    fn runs(
        &self,
        r: usize,
        j0: usize,
        len_total: usize,
        mut f: impl FnMut(usize, usize, Option<usize>, usize, usize),
    ) {
        let (c, dh, dw) = self.tap(r);
        let ow_n = self.out_hw.1;
        let (mut oh, mut ow) = (j0 / ow_n, j0 % ow_n);
        let mut done = 0;
        while done < len_total {
            let len = (ow_n - ow).min(len_total - done);
            let ih =
                (oh * self.stride.0 + dh).checked_sub(self.padding.0).filter(|&i| i < self.in_hw.0);
            f(done, c, ih, ow * self.stride.1 + dw, len);
            done += len;
            ow = 0;
            oh += 1;
        }
    }

    /// Writes columns `j0..j0 + dst.len()` of im2col row `r` of the image `x` into `dst`.
    pub fn write_row<T: RingElement>(&self, x: &[T], r: usize, j0: usize, dst: &mut [T]) {
        let (h, w) = self.in_hw;
        let (sw, pw) = (self.stride.1, self.padding.1);
        self.runs(r, j0, dst.len(), |at, c, ih, iw0, len| {
            let out = &mut dst[at..at + len];
            let Some(ih) = ih else {
                out.fill(T::zero());
                return;
            };
            let row = &x[(c * h + ih) * w..(c * h + ih + 1) * w];
            if sw == 1 {
                // Padded columns iw0 .. iw0 + len; the input covers padded pw .. pw + w.
                let lo = pw.saturating_sub(iw0).min(len);
                let hi = (pw + w).saturating_sub(iw0).min(len).max(lo);
                out[..lo].fill(T::zero());
                if lo < hi {
                    out[lo..hi].copy_from_slice(&row[iw0 + lo - pw..iw0 + hi - pw]);
                }
                out[hi..].fill(T::zero());
            } else {
                for (t, o) in out.iter_mut().enumerate() {
                    let iw = (iw0 + t * sw).checked_sub(pw).filter(|&i| i < w);
                    *o = iw.map_or(T::zero(), |i| row[i]);
                }
            }
        });
    }

    /// Adds columns `j0..j0 + src.len()` of a row-`r` im2col gradient into the image
    /// gradient `dx` (the adjoint of [`Geometry::write_row`]).
    pub fn add_row<T: RingElement>(&self, src: &[T], r: usize, j0: usize, dx: &mut [T]) {
        let (h, w) = self.in_hw;
        let (sw, pw) = (self.stride.1, self.padding.1);
        self.runs(r, j0, src.len(), |at, c, ih, iw0, len| {
            let Some(ih) = ih else { return };
            let row = &mut dx[(c * h + ih) * w..(c * h + ih + 1) * w];
            let inp = &src[at..at + len];
            if sw == 1 {
                let lo = pw.saturating_sub(iw0).min(len);
                let hi = (pw + w).saturating_sub(iw0).min(len).max(lo);
                if lo < hi {
                    let dst = &mut row[iw0 + lo - pw..iw0 + hi - pw];
                    for (d, s) in dst.iter_mut().zip(&inp[lo..hi]) {
                        *d = d.wrapping_add(s);
                    }
                }
            } else {
                for (t, s) in inp.iter().enumerate() {
                    if let Some(i) = (iw0 + t * sw).checked_sub(pw).filter(|&i| i < w) {
                        row[i] = row[i].wrapping_add(s);
                    }
                }
            }
        });
    }

    /// The whole im2col matrix of image `x` (`rows() x cols()`, row-major).
    pub fn im2col<T: RingElement>(&self, x: &[T]) -> Vec<T> {
        let cols = self.cols();
        let mut out = vec![T::zero(); self.rows() * cols];
        if cols > 0 {
            for (r, row) in out.chunks_exact_mut(cols).enumerate() {
                self.write_row(x, r, 0, row);
            }
        }
        out
    }

    /// Adds the im2col-shaped gradient `cols` (`rows() x cols()`) into the image gradient `dx`.
    pub fn col2im<T: RingElement>(&self, cols: &[T], dx: &mut [T]) {
        let n = self.cols();
        if n > 0 {
            for (r, row) in cols.chunks_exact(n).enumerate() {
                self.add_row(row, r, 0, dx);
            }
        }
    }
}

/// The im2col matrix of one image-and-group as a GEMM right operand, gathered while packing.
#[derive(Debug)]
pub(crate) struct Im2col<'a, T> {
    /// The image (`geo.image_len()` elements, CHW).
    pub x: &'a [T],
    /// Its convolution shape.
    pub geo: Geometry,
}

impl<T: RingElement> Rhs<T> for Im2col<'_, T> {
    unsafe fn pack_block<K: MicroKernel<Elem = T>>(
        &self,
        k0: usize,
        kc: usize,
        j0: usize,
        nc: usize,
        dst: &mut [K::Word],
        panel_len: usize,
    ) {
        let mut rows = vec![T::zero(); SWEEP_ROWS * nc];
        for r0 in (0..kc).step_by(SWEEP_ROWS) {
            let g = SWEEP_ROWS.min(kc - r0);
            for (t, row) in rows.chunks_exact_mut(nc).take(g).enumerate() {
                self.geo.write_row(self.x, k0 + r0 + t, j0, row);
            }
            let at = r0 / K::KU * K::B_UNIT;
            for (p, d) in dst.chunks_exact_mut(panel_len).take(nc.div_ceil(K::NR)).enumerate() {
                let j = p * K::NR;
                // SAFETY: the CPU supports `K` (caller contract).
                unsafe { K::pack_b(&rows[j..], nc, K::NR.min(nc - j), g, &mut d[at..]) };
            }
        }
    }
}

/// The transpose of a dense row-major matrix `m` (`n x k`, row stride `ld`) as a GEMM right
/// operand (`k x n`): the weight gradient multiplies by a transposed im2col matrix.
#[derive(Debug)]
pub(crate) struct DenseT<'a, T> {
    /// The matrix to transpose.
    pub m: &'a [T],
    /// Its row stride.
    pub ld: usize,
}

impl<T: RingElement> Rhs<T> for DenseT<'_, T> {
    unsafe fn pack_block<K: MicroKernel<Elem = T>>(
        &self,
        k0: usize,
        kc: usize,
        j0: usize,
        nc: usize,
        dst: &mut [K::Word],
        panel_len: usize,
    ) {
        let mut tile = vec![T::zero(); kc * K::NR];
        for (p, d) in dst.chunks_exact_mut(panel_len).take(nc.div_ceil(K::NR)).enumerate() {
            let j = j0 + p * K::NR;
            let cols = K::NR.min(j0 + nc - j);
            for jj in 0..cols {
                let src = &self.m[(j + jj) * self.ld + k0..][..kc];
                for (kk, &v) in src.iter().enumerate() {
                    tile[kk * cols + jj] = v;
                }
            }
            // SAFETY: the CPU supports `K` (caller contract).
            unsafe { K::pack_b(&tile, cols, cols, kc, d) };
        }
    }
}
