//! Data sets and how parties hold them.
//!
//! - [`Dataset`]: a plain table of features and class labels, read from CSV, split into
//!   train and test by a seeded shuffle, standardised with the training statistics.
//! - [`share_rows`] and [`share_columns`]: the joint secret tensor when each party holds
//!   some samples (a horizontal split) or some features of every sample (a vertical
//!   split). Labels held by one party are shared with [`Backend::input`] as any input.

use cloak_autograd::{Backend, Var};
use cloak_prg::{Prg, Seed};
use ndarray::{Array2, ArrayD, Axis};

use crate::error::{NnError, Result, invalid};

/// The most classes a data set may have (defined beside [`crate::loss::one_hot`], which
/// enforces it for every caller).
pub use crate::loss::MAX_CLASSES;

/// Features `[n, d]` and labels `0..classes`, in the clear at the party that holds them.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// One row per sample.
    pub features: Array2<f64>,
    /// One label per sample.
    pub labels: Vec<usize>,
    /// The number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Reads a CSV of numbers whose last column is the label (an integer), skipping
    /// `header_lines` lines.
    ///
    /// # Errors
    /// [`NnError::Io`] if the file cannot be read; [`NnError::Format`] for a ragged row,
    /// a value that is not a finite number, a label that is not a non-negative integer, or
    /// an empty file.
    pub fn from_csv(path: &str, header_lines: usize) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| NnError::Io { path: path.to_string(), source })?;
        Self::parse_csv(&text, header_lines)
            .map_err(|reason| NnError::Format { path: path.to_string(), reason })
    }

    /// Parses CSV text as [`from_csv`](Self::from_csv) does.
    ///
    /// # Errors
    /// A message naming the line and what is wrong with it.
    pub fn parse_csv(text: &str, header_lines: usize) -> std::result::Result<Self, String> {
        let mut values = Vec::new();
        let mut labels = Vec::new();
        let mut width = None;
        for (i, line) in text.lines().enumerate().skip(header_lines) {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() < 2 {
                return Err(format!("line {}: fewer than two columns", i + 1));
            }
            if *width.get_or_insert(fields.len()) != fields.len() {
                return Err(format!(
                    "line {}: {} columns, expected {:?}",
                    i + 1,
                    fields.len(),
                    width
                ));
            }
            for f in &fields[..fields.len() - 1] {
                let v: f64 =
                    f.parse().map_err(|_| format!("line {}: {f:?} is not a number", i + 1))?;
                if !v.is_finite() {
                    return Err(format!("line {}: {f} is not finite", i + 1));
                }
                values.push(v);
            }
            let last = fields[fields.len() - 1];
            let label: usize = last
                .parse()
                .map_err(|_| format!("line {}: the label is not a class index", i + 1))?;
            if label >= MAX_CLASSES {
                return Err(format!(
                    "line {}: the label is beyond the largest class index Cloak takes ({})",
                    i + 1,
                    MAX_CLASSES - 1
                ));
            }
            labels.push(label);
        }
        let d = width.ok_or("no data rows")? - 1;
        let features =
            Array2::from_shape_vec((labels.len(), d), values).map_err(|e| e.to_string())?;
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        Ok(Self { features, labels, classes })
    }

    /// The number of samples.
    #[must_use]
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The rows `indices`, in that order.
    #[must_use]
    pub fn select(&self, indices: &[usize]) -> Self {
        Self {
            features: self.features.select(Axis(0), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        }
    }

    /// A seeded shuffle split: `(train, test)` with `test_fraction` of the rows in test.
    ///
    /// # Errors
    /// A fraction outside `(0, 1)` or a split that leaves either side empty.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Self, Self)> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(invalid("split", format!("test fraction {test_fraction}")));
        }
        let n = self.len();
        let test = ((n as f64) * test_fraction).round() as usize;
        if test == 0 || test == n {
            return Err(invalid("split", format!("{test} of {n} rows in test")));
        }
        let order = permutation(n, seed);
        Ok((self.select(&order[test..]), self.select(&order[..test])))
    }

    /// Standardises every feature with this set's mean and standard deviation (constant
    /// features are only centred); returns the statistics for the other splits.
    pub fn standardize(&mut self) -> (Vec<f64>, Vec<f64>) {
        let n = self.len().max(1) as f64;
        let mean: Vec<f64> = self.features.columns().into_iter().map(|c| c.sum() / n).collect();
        let std: Vec<f64> = self
            .features
            .columns()
            .into_iter()
            .zip(&mean)
            .map(|(c, m)| {
                let s = (c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n).sqrt();
                if s > 0.0 { s } else { 1.0 }
            })
            .collect();
        self.apply_standardization(&mean, &std);
        (mean, std)
    }

    /// Applies statistics from [`standardize`](Self::standardize).
    pub fn apply_standardization(&mut self, mean: &[f64], std: &[f64]) {
        for mut row in self.features.rows_mut() {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                *v = (*v - m) / s;
            }
        }
    }

    /// Scales every feature by `factor` (pixel ranges to `[0, 1]`).
    pub fn scale(&mut self, factor: f64) {
        self.features.mapv_inplace(|v| v * factor);
    }

    /// The labels as one-hot rows `[n, classes]`.
    ///
    /// # Errors
    /// None for a consistent data set.
    pub fn one_hot(&self) -> Result<ArrayD<f64>> {
        crate::loss::one_hot(&self.labels, self.classes)
    }

    /// Splits the rows into `parts` contiguous blocks as even as possible (party `p`'s rows
    /// in a horizontal split).
    #[must_use]
    pub fn partition_rows(&self, parts: usize) -> Vec<Self> {
        let n = self.len();
        let parts = parts.max(1);
        (0..parts)
            .map(|p| {
                let idx: Vec<usize> = (p * n / parts..(p + 1) * n / parts).collect();
                self.select(&idx)
            })
            .collect()
    }
}

/// A seeded permutation of `0..n` (Fisher-Yates on the AES generator).
#[must_use]
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut prg = Prg::new(&Seed::from_bytes(bytes).derive_indexed("cloak-nn/shuffle", 0));
    let mut order: Vec<usize> = (0..n).collect();
    let mut word = [0u64; 1];
    for i in (1..n).rev() {
        prg.fill_u64(&mut word);
        let j = (word[0] % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// The joint `[sum rows, d]` tensor when party `p` holds `rows[p]` samples: each party
/// passes its own block (`None` if it holds no rows) and every party passes `rows` and
/// `d`. Party blocks are stacked in rank order.
///
/// # Errors
/// A block whose shape differs from `[rows[rank], d]`, `rows` of the wrong length; the
/// backend's errors.
pub fn share_rows<B: Backend>(
    backend: &B,
    local: Option<&Array2<f64>>,
    rows: &[usize],
    d: usize,
) -> Result<Var<B>> {
    share_blocks(backend, local, rows, d, 0)
}

/// The joint `[n, sum cols]` tensor when party `p` holds `cols[p]` features of every
/// sample (a vertical split), columns stacked in rank order.
///
/// # Errors
/// As [`share_rows`].
pub fn share_columns<B: Backend>(
    backend: &B,
    local: Option<&Array2<f64>>,
    cols: &[usize],
    n: usize,
) -> Result<Var<B>> {
    share_blocks(backend, local, cols, n, 1)
}

fn share_blocks<B: Backend>(
    backend: &B,
    local: Option<&Array2<f64>>,
    sizes: &[usize],
    other: usize,
    axis: usize,
) -> Result<Var<B>> {
    if sizes.len() != backend.parties() {
        return Err(invalid(
            "share_blocks",
            format!("{} block sizes for {} parties", sizes.len(), backend.parties()),
        ));
    }
    // Each party checks its own block, then all agree (one round) before anything is
    // shared, so a refused block is an error at every party.
    let rank = backend.rank();
    let my_shape = if axis == 0 { [sizes[rank], other] } else { [other, sizes[rank]] };
    let check = match local {
        _ if sizes[rank] == 0 => Ok(None),
        None => Err(invalid(
            "share_blocks",
            format!("party {rank} holds {} but passed none", sizes[rank]),
        )),
        Some(block) if block.shape() != my_shape => Err(invalid(
            "share_blocks",
            format!("block {:?}, expected {my_shape:?}", block.shape()),
        )),
        Some(block) if !block.iter().all(|v| v.is_finite()) => Err(invalid(
            "share_blocks",
            format!("party {rank}'s block has a value that is not finite"),
        )),
        Some(block) => Ok(Some(block.clone().into_dyn())),
    };
    let verdict = crate::agree::agree_all(backend, check.is_ok())?;
    let mine = check?;
    if let Some(p) = verdict.iter().position(|ok| !ok) {
        return Err(invalid("share_blocks", format!("party {p} refused its block")));
    }
    let mut parts = Vec::new();
    for (p, &size) in sizes.iter().enumerate() {
        if size == 0 {
            continue;
        }
        let shape = if axis == 0 { [size, other] } else { [other, size] };
        let value = if p == rank { mine.as_ref() } else { None };
        parts.push(backend.input(p, value, &shape)?);
    }
    let refs: Vec<&B::Tensor> = parts.iter().collect();
    if refs.is_empty() {
        return Err(invalid("share_blocks", "no party holds any data"));
    }
    Ok(Var::constant(backend, backend.concat(&refs, axis)?))
}
