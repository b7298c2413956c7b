//! The adjoint of average pooling's window sum, on raw words: every pooled value is added
//! to each input position of its window (padding positions dropped). Local, so the secure
//! backend runs it on shares directly.

use cloak_mpc::Pool2dSpec;
use ndarray::{Array4, ArrayD, Ix4, s};

use crate::error::{Result, invalid};

/// Scatters `[n, c, oh, ow]` values over the windows of an `input_shape` (`[n, c, h, w]`)
/// input, combining overlaps with `add`.
pub(crate) fn scatter_windows<T: Copy + Default>(
    pooled: &ArrayD<T>,
    input_shape: &[usize],
    spec: &Pool2dSpec,
    add: fn(T, T) -> T,
) -> Result<ArrayD<T>> {
    let op = "avg_pool2d_backward";
    let &[n, c, h, w] = input_shape else {
        return Err(invalid(op, format!("input shape {input_shape:?}, expected NCHW")));
    };
    let (kh, kw) = spec.kernel;
    let (sh, sw) = spec.stride;
    let (ph, pw) = spec.padding;
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 || h + 2 * ph < kh || w + 2 * pw < kw {
        return Err(invalid(op, format!("window {spec:?} does not fit {input_shape:?}")));
    }
    let (oh, ow) = ((h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1);
    let g = pooled
        .view()
        .into_dimensionality::<Ix4>()
        .map_err(|_| invalid(op, format!("gradient of shape {:?}", pooled.shape())))?;
    if g.shape() != [n, c, oh, ow] {
        return Err(invalid(
            op,
            format!("gradient {:?} does not match pooled shape {:?}", g.shape(), [n, c, oh, ow]),
        ));
    }
    let mut acc = Array4::<T>::default((n, c, h + 2 * ph, w + 2 * pw));
    for di in 0..kh {
        for dj in 0..kw {
            let mut dst = acc.slice_mut(
                s![.., .., di..di + sh * (oh - 1) + 1;sh, dj..dj + sw * (ow - 1) + 1;sw],
            );
            dst.zip_mut_with(&g, |d, &p| *d = add(*d, p));
        }
    }
    Ok(acc.slice(s![.., .., ph..ph + h, pw..pw + w]).to_owned().into_dyn())
}
