//! Reading a classifier's output: the classes with the highest scores, row by row.

use ndarray::{ArrayD, Axis};

use crate::error::{Error, Result};

/// The `k` highest-scoring classes of each row of a `[rows, classes]` output, best first, as
/// `(class, score)`. Ties keep the lower class first (as `argmax` does).
///
/// # Errors
/// An output that is not 2-d.
pub fn top_k(output: &ArrayD<f64>, k: usize) -> Result<Vec<Vec<(usize, f64)>>> {
    if output.ndim() != 2 {
        return Err(Error::invalid(
            "output",
            format!("shape {:?} is not [rows, classes]", output.shape()),
        ));
    }
    Ok(output
        .axis_iter(Axis(0))
        .map(|row| {
            let mut scored: Vec<(usize, f64)> = row.iter().copied().enumerate().collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            scored.truncate(k);
            scored
        })
        .collect())
}

/// The highest-scoring class of each row of a `[rows, classes]` output.
///
/// # Errors
/// As [`top_k`].
pub fn predicted_classes(output: &ArrayD<f64>) -> Result<Vec<usize>> {
    Ok(top_k(output, 1)?.into_iter().map(|row| row.first().map_or(0, |c| c.0)).collect())
}
