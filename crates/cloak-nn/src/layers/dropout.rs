//! Dropout with a public mask.
//!
//! Which units drop is independent of the data, so the mask is drawn from a generator all
//! parties seed alike and is public: applying it is a local product, where a secret mask
//! (CrypTen draws one and compares) would cost a comparison per element. What it reveals,
//! which units were dropped, is noise the parties chose, not data.

use std::cell::Cell;

use cloak_autograd::{Backend, Var};
use cloak_prg::{Prg, Seed};
use ndarray::ArrayD;

use crate::error::{Result, invalid};
use crate::module::{Module, TensorKind};

/// Zeroes each element with probability `p` in training and scales the rest by
/// `1 / (1 - p)`; the identity in evaluation.
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    seed: Seed,
    calls: Cell<u64>,
    training: Cell<bool>,
}

impl Dropout {
    /// Dropout with probability `p`; every party passes the same `seed`.
    ///
    /// # Errors
    /// `p` outside `[0, 1)`.
    pub fn new(p: f64, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(invalid("Dropout", format!("probability {p}")));
        }
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        Ok(Self {
            p,
            seed: Seed::from_bytes(bytes),
            calls: Cell::new(0),
            training: Cell::new(true),
        })
    }

    /// The public mask for the next call, already scaled by `1 / (1 - p)`.
    fn mask(&self, shape: &[usize]) -> ArrayD<f64> {
        let call = self.calls.get();
        self.calls.set(call + 1);
        let mut prg = Prg::new(&self.seed.derive_indexed("cloak-nn/dropout", call));
        let n: usize = shape.iter().product();
        let mut words = vec![0u64; n];
        prg.fill_u64(&mut words);
        let keep = 1.0 / (1.0 - self.p);
        let values = words
            .into_iter()
            .map(|w| if ((w >> 11) as f64) * (-53f64).exp2() < self.p { 0.0 } else { keep })
            .collect();
        ArrayD::from_shape_vec(shape, values).unwrap_or_else(|_| ArrayD::zeros(shape))
    }
}

impl<B: Backend> Module<B> for Dropout {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        if !self.training.get() || self.p == 0.0 {
            return Ok(x.clone());
        }
        Ok(x.mul_public(&self.mask(&x.shape()))?)
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}
