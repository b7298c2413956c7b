//! Seeded weight initialisation, as PyTorch does it: the owner draws the values from the
//! AES-CTR generator and shares them. Only the owner draws, but anyone who knows the seed
//! can recompute the initial weights: with [`Init::new`] and a seed every party knows, the
//! initial weights are public (what a comparison with the same model in plain f64 needs,
//! and what the examples and benchmarks do). [`Init::from_os_entropy`] keeps them the
//! owner's secret: a fresh 128-bit seed that never leaves the owner.

use cloak_autograd::{Backend, Var};
use cloak_prg::{Prg, Seed};
use ndarray::ArrayD;

use crate::error::{Result, invalid};

/// Draws and shares initial parameters. Only the owner draws; the seed matters only there.
#[derive(Debug)]
pub struct Init<B: Backend> {
    backend: B,
    owner: usize,
    prg: Prg,
}

impl<B: Backend> Init<B> {
    /// Parameters owned by `owner`, drawn from `seed` (public to whoever knows the seed).
    #[must_use]
    pub fn new(backend: &B, owner: usize, seed: u64) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        Self::with_seed(backend, owner, &Seed::from_bytes(bytes))
    }

    /// Parameters owned by `owner`, drawn from a fresh seed of the operating system's
    /// entropy at the owner: no other party can recompute them.
    ///
    /// # Errors
    /// The operating system's generator failing.
    pub fn from_os_entropy(backend: &B, owner: usize) -> Result<Self> {
        let seed =
            Seed::from_os_entropy().map_err(|e| invalid("Init::from_os_entropy", e.to_string()))?;
        Ok(Self::with_seed(backend, owner, &seed))
    }

    fn with_seed(backend: &B, owner: usize, seed: &Seed) -> Self {
        let prg = Prg::new(&seed.derive_indexed("cloak-nn/init", 0));
        // The plain backend has one party: whoever owns the weights, it holds them.
        let owner = if backend.parties() == 1 { 0 } else { owner };
        Self { backend: backend.clone(), owner, prg }
    }

    /// The backend parameters are made in.
    #[must_use]
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Uniform values in `[-bound, bound)`: 53 random bits per value.
    fn uniform(&mut self, shape: &[usize], bound: f64) -> ArrayD<f64> {
        let n: usize = shape.iter().product();
        let mut words = vec![0u64; n];
        self.prg.fill_u64(&mut words);
        let values = words
            .into_iter()
            .map(|w| ((w >> 11) as f64 * (-53f64).exp2() * 2.0 - 1.0) * bound)
            .collect();
        ArrayD::from_shape_vec(shape, values).unwrap_or_else(|_| ArrayD::zeros(shape))
    }

    /// A trained parameter of `shape` drawn uniformly from `[-bound, bound)` at the owner.
    ///
    /// # Errors
    /// A non-finite or negative bound; the backend's errors.
    pub fn uniform_param(&mut self, shape: &[usize], bound: f64) -> Result<Var<B>> {
        if !bound.is_finite() || bound < 0.0 {
            return Err(invalid("init", format!("bound {bound}")));
        }
        let value = self.is_owner().then(|| self.uniform(shape, bound));
        self.param_from(shape, value.as_ref())
    }

    /// PyTorch's default for Linear and Conv weights and biases: Kaiming uniform with
    /// `a = sqrt(5)`, which is `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    ///
    /// # Errors
    /// A zero `fan_in`; the backend's errors.
    pub fn kaiming_uniform(&mut self, shape: &[usize], fan_in: usize) -> Result<Var<B>> {
        if fan_in == 0 {
            return Err(invalid("kaiming_uniform", "fan_in of 0"));
        }
        self.uniform_param(shape, 1.0 / (fan_in as f64).sqrt())
    }

    /// Glorot's (Xavier's) uniform initialisation, `U(-b, b)` with
    /// `b = sqrt(6 / (fan_in + fan_out))`: PyTorch's `xavier_uniform_`, which multi-head
    /// attention uses for its packed input projection.
    ///
    /// # Errors
    /// Zero fans; the backend's errors.
    pub fn xavier_uniform(
        &mut self,
        shape: &[usize],
        fan_in: usize,
        fan_out: usize,
    ) -> Result<Var<B>> {
        if fan_in + fan_out == 0 {
            return Err(invalid("xavier_uniform", "fan_in and fan_out of 0"));
        }
        self.uniform_param(shape, (6.0 / (fan_in + fan_out) as f64).sqrt())
    }

    /// A trained parameter of `shape` drawn from `N(0, std^2)` at the owner (Box-Muller on
    /// the owner's generator): PyTorch's default for `Embedding` weights (`std = 1`).
    ///
    /// # Errors
    /// A non-finite or negative `std`; the backend's errors.
    pub fn normal_param(&mut self, shape: &[usize], std: f64) -> Result<Var<B>> {
        if !std.is_finite() || std < 0.0 {
            return Err(invalid("init", format!("standard deviation {std}")));
        }
        let value = self.is_owner().then(|| self.normal(shape, std));
        self.param_from(shape, value.as_ref())
    }

    /// Normal values: each pair of uniform draws `(u1, u2)` in `(0, 1]` gives
    /// `sqrt(-2 ln u1) (cos, sin)(2 pi u2)`.
    fn normal(&mut self, shape: &[usize], std: f64) -> ArrayD<f64> {
        let n: usize = shape.iter().product();
        let mut words = vec![0u64; n.div_ceil(2) * 2];
        self.prg.fill_u64(&mut words);
        // 53 random bits, shifted into (0, 1] so that the log is finite.
        let unit = |w: u64| ((w >> 11) as f64 + 1.0) * (-53f64).exp2();
        let values = words
            .chunks_exact(2)
            .flat_map(|pair| {
                let radius = (-2.0 * unit(pair[0]).ln()).sqrt() * std;
                let angle = std::f64::consts::TAU * unit(pair[1]);
                [radius * angle.cos(), radius * angle.sin()]
            })
            .take(n)
            .collect();
        ArrayD::from_shape_vec(shape, values).unwrap_or_else(|_| ArrayD::zeros(shape))
    }

    /// A trained parameter filled with `value` (BatchNorm's weight and bias).
    ///
    /// # Errors
    /// The backend's errors.
    pub fn constant_param(&mut self, shape: &[usize], value: f64) -> Result<Var<B>> {
        let value = self.is_owner().then(|| ArrayD::from_elem(shape, value));
        self.param_from(shape, value.as_ref())
    }

    /// A buffer (not trained) filled with `value`, public: running statistics start at
    /// known constants.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn buffer(&mut self, shape: &[usize], value: f64) -> Result<Var<B>> {
        let t = self.backend.public(&ArrayD::from_elem(shape, value))?;
        Ok(Var::leaf(&self.backend, t, false))
    }

    fn is_owner(&self) -> bool {
        self.backend.rank() == self.owner
    }

    fn param_from(&mut self, shape: &[usize], value: Option<&ArrayD<f64>>) -> Result<Var<B>> {
        let t = self.backend.input(self.owner, value, shape)?;
        Ok(Var::leaf(&self.backend, t, true))
    }
}
