//! The autograd backend parity suite: every differentiable operation, forward and
//! backward, on the backend under test against the same graph on the plain `f64` backend;
//! and the plain backend's gradients against central finite differences.
//!
//! A backend (a GPU one, a new protocol's) runs the battery by saying how it evaluates a
//! graph at every party: a [`Harness`] returns each party's output and input gradients for
//! a [`Case`], usually by calling [`run_graph`] with its backend. [`secure`] is the harness
//! of [`Secure`](crate::Secure) over sessions on threads. Then [`parity`] lists the
//! mismatches (empty when the backend conforms).
//!
//! Tolerances: with 16 fractional bits one unit is `u = 2^-16 = 1.5e-5`. A product costs at
//! most one unit of truncation (2-party local truncation: one unit except with probability
//! about `|v| 2^-32`; dealer pairs: within one unit), so linear and bilinear graphs on
//! inputs of size <= 2 with a few accumulations stay within `1e-4` absolute. Selections
//! (index_select, pad, max and its one-hot) move or compare shares exactly and their
//! backward rules add one product at most, so they share that bound; transposed
//! convolutions are one product of sums like conv2d (`3e-4`). Functions add their
//! documented approximation error (relative 4e-4 for exp, 3e-5 absolute for sigmoid/tanh
//! series and erf, 3e-4 relative for reciprocal/log/sqrt), and their backward rules
//! multiply such values by the seed gradient (entries <= 1): `3e-3 |ref| + 3e-4` covers
//! those with a 2-3x margin (erf's derivative squares an `exp`, doubling its relative
//! error to 4e-4, still within). The finite-difference check uses `h = 1e-6` on smooth points:
//! the central difference is accurate to `h^2 |f'''|` plus rounding `eps/h ~ 1e-10`, so
//! `1e-6` relative is a safe bound.

mod cases;

pub use cases::Case;

use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_ring::testing::TestRng;
use ndarray::ArrayD;

use crate::{Backend, Plain, Result, Secure, Var};

/// Each party's output and input gradients for one case.
pub type PartyResults = Vec<(ArrayD<f64>, Vec<ArrayD<f64>>)>;

/// How the backend under test evaluates a case: given its inputs and seed gradient, every
/// party's output and input gradients (revealed), or why it could not.
pub trait Harness: Sync {
    /// Runs `case` at every party.
    ///
    /// # Errors
    /// A description of the failure.
    fn run(
        &self,
        case: Case,
        inputs: &[ArrayD<f64>],
        seed: &ArrayD<f64>,
    ) -> Result<PartyResults, String>;
}

/// The [`Secure`] backend, `parties` parties on threads with `config`.
#[must_use]
pub fn secure(parties: usize, config: SessionConfig) -> impl Harness {
    SecureHarness { parties, config }
}

struct SecureHarness {
    parties: usize,
    config: SessionConfig,
}

impl Harness for SecureHarness {
    fn run(
        &self,
        case: Case,
        inputs: &[ArrayD<f64>],
        seed: &ArrayD<f64>,
    ) -> Result<PartyResults, String> {
        run_local_typed(self.parties, &self.config, |session| {
            run_graph(&Secure::new(session), case, inputs, seed)
        })
        .into_iter()
        .enumerate()
        .map(|(rank, o)| o.map_err(|e| format!("party {rank}: {e}")))
        .collect()
    }
}

/// A mismatch of the backend under test.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// The case.
    pub case: Case,
    /// What differs: the party, the output or gradient, the element and the bound.
    pub reason: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.case, self.reason)
    }
}

/// Runs every case on `harness` against the plain backend; the mismatches.
#[must_use]
pub fn parity(harness: &dyn Harness) -> Vec<Mismatch> {
    Case::ALL
        .into_iter()
        .enumerate()
        .filter_map(|(k, case)| parity_case(harness, case, 1000 + k as u64).err())
        .collect()
}

/// One case with inputs drawn from `seed`.
///
/// # Errors
/// The first mismatch.
pub fn parity_case(harness: &dyn Harness, case: Case, seed: u64) -> Result<(), Mismatch> {
    let fail = |reason: String| Mismatch { case, reason };
    let mut rng = TestRng::new(seed);
    let inputs = case.inputs(&mut rng);
    let shape = output_shape(case, &inputs).map_err(|e| fail(e.to_string()))?;
    let seed_grad = rng.array(&shape, -1.0, 1.0);
    let (want_y, want_g) =
        run_graph(&Plain, case, &inputs, &seed_grad).map_err(|e| fail(e.to_string()))?;
    let tol = case.tolerance();
    for (rank, (y, grads)) in
        harness.run(case, &inputs, &seed_grad).map_err(fail)?.iter().enumerate()
    {
        close(&format!("party {rank} output"), y, &want_y, tol).map_err(fail)?;
        for (i, (g, w)) in grads.iter().zip(&want_g).enumerate() {
            close(&format!("party {rank} grad {i}"), g, w, tol).map_err(fail)?;
        }
        if grads.len() != want_g.len() {
            return Err(fail(format!(
                "party {rank}: {} gradients, expected {}",
                grads.len(),
                want_g.len()
            )));
        }
    }
    Ok(())
}

/// Output and input gradients of `case` on `backend` for a seed gradient `seed`, revealed:
/// party 0 owns every input.
///
/// # Errors
/// The backend's error.
pub fn run_graph<B: Backend>(
    backend: &B,
    case: Case,
    inputs: &[ArrayD<f64>],
    seed: &ArrayD<f64>,
) -> Result<(ArrayD<f64>, Vec<ArrayD<f64>>)> {
    let owner = 0;
    let vars = inputs
        .iter()
        .map(|v| {
            let mine = backend.rank() == owner;
            let t = backend.input(owner, mine.then_some(v), v.shape())?;
            Ok(Var::leaf(backend, t, true))
        })
        .collect::<Result<Vec<_>>>()?;
    let out = case.build(&vars)?;
    out.backward_with(backend.public(seed)?)?;
    let y = backend.reveal(&out.value())?;
    let grads = vars.iter().map(|v| backend.reveal(&v.grad()?)).collect::<Result<Vec<_>>>()?;
    Ok((y, grads))
}

/// The shape of `case`'s output on these inputs.
///
/// # Errors
/// The plain backend's error.
pub fn output_shape(case: Case, inputs: &[ArrayD<f64>]) -> Result<Vec<usize>> {
    let vars: Vec<Var<Plain>> = inputs.iter().map(|v| Var::constant(&Plain, v.clone())).collect();
    Ok(case.build(&vars)?.shape())
}

fn close(
    what: &str,
    got: &ArrayD<f64>,
    want: &ArrayD<f64>,
    (abs, rel): (f64, f64),
) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!("{what}: shape {:?}, expected {:?}", got.shape(), want.shape()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let bound = abs + rel * w.abs();
        if (g - w).abs() > bound || g.is_nan() {
            return Err(format!("{what}[{i}]: got {g}, want {w} (bound {bound})"));
        }
    }
    Ok(())
}
