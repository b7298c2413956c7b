//! Matrix products for the plain backend, with the shapes the protocol layer accepts:
//! `[m, k] @ [k, n]`, `[.., m, k] @ [k, n]` (one right matrix for the whole batch) and
//! `[.., m, k] @ [.., k, n]` with equal leading axes. f64 GEMM goes through ndarray
//! (matrixmultiply).

use cloak_ring::{MatmulDims, matmul_dims};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array3, ArrayD};

use super::{from_vec, to_vec};
use crate::error::{Result, shape_mismatch};

/// `a @ b` over the last two axes; `op` names the caller in errors.
pub(super) fn matmul(op: &'static str, a: &ArrayD<f64>, b: &ArrayD<f64>) -> Result<ArrayD<f64>> {
    let err = || shape_mismatch(op, a.shape(), b.shape());
    let (dims, out_shape) = matmul_dims(a.shape(), b.shape()).map_err(|_| err())?;
    let MatmulDims { batch, m, k, n, b_batched } = dims;
    if !b_batched {
        // One right matrix: the batch folds into the rows of a single product.
        let a2 = Array2::from_shape_vec((batch * m, k), to_vec(a)).map_err(|_| err())?;
        let b2 = Array2::from_shape_vec((k, n), to_vec(b)).map_err(|_| err())?;
        return from_vec(op, &out_shape, a2.dot(&b2).iter().copied().collect());
    }
    let a3 = Array3::from_shape_vec((batch, m, k), to_vec(a)).map_err(|_| err())?;
    let b3 = Array3::from_shape_vec((batch, k, n), to_vec(b)).map_err(|_| err())?;
    let mut out = Array3::zeros((batch, m, n));
    for ((ai, bi), mut ci) in a3.outer_iter().zip(b3.outer_iter()).zip(out.outer_iter_mut()) {
        general_mat_mul(1.0, &ai, &bi, 0.0, &mut ci);
    }
    from_vec(op, &out_shape, out.iter().copied().collect())
}
