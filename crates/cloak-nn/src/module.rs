//! The [`Module`] trait: a forward pass plus named parameters and buffers, and what every
//! module gets from that ([`ModuleExt`]): parameter lists, train/eval mode, sharing weights
//! from their owner, revealing them to one party, zeroing gradients.

use std::collections::BTreeMap;
use std::fmt::Debug;

use cloak_autograd::{Backend, Var};
use ndarray::ArrayD;

use crate::error::{NnError, Result};

/// Plain weights by name (`"0.weight"`, `"1.running_mean"`), as PyTorch's `state_dict`.
pub type StateDict = BTreeMap<String, ArrayD<f64>>;

/// Whether a visited tensor is trained or only carried (running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    /// A trained parameter (requires grad).
    Parameter,
    /// A buffer: state that is saved and loaded but not trained.
    Buffer,
}

/// A layer or a model over backend `B`. Forward takes `&self`: state that changes as a
/// model runs (running statistics, the train/eval flag) lives in interior cells, so a
/// model can be shared by reference between the forward pass and the optimizer.
pub trait Module<B: Backend>: Debug {
    /// The forward pass.
    ///
    /// # Errors
    /// Shapes that do not fit, or the backend's protocol errors.
    fn forward(&self, x: &Var<B>) -> Result<Var<B>>;

    /// Calls `f` with the name (prefixed) and tensor of every parameter and buffer, in a
    /// fixed order that every party sees alike. Required, with no default, so that a new
    /// layer cannot forget its weights (they would be neither trained, shared nor saved);
    /// a layer without any writes an empty body.
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind));

    /// Switches training-only behaviour (batch statistics, dropout) on or off.
    fn set_training(&self, _training: bool) {}
}

/// Joins a container's prefix and a child's name.
#[must_use]
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

/// What every [`Module`] can do, from `visit` and `set_training`.
pub trait ModuleExt<B: Backend>: Module<B> {
    /// Parameters with their names.
    fn named_parameters(&self) -> Vec<(String, Var<B>)> {
        let mut out = Vec::new();
        self.visit("", &mut |name, v, kind| {
            if kind == TensorKind::Parameter {
                out.push((name.to_string(), v.clone()));
            }
        });
        out
    }

    /// Parameters, for an optimizer.
    fn parameters(&self) -> Vec<Var<B>> {
        self.named_parameters().into_iter().map(|(_, v)| v).collect()
    }

    /// Parameters and buffers with their names and kinds.
    fn named_tensors(&self) -> Vec<(String, Var<B>, TensorKind)> {
        let mut out = Vec::new();
        self.visit("", &mut |name, v, kind| out.push((name.to_string(), v.clone(), kind)));
        out
    }

    /// The number of trained scalars.
    fn parameter_count(&self) -> usize {
        self.parameters().iter().map(Var::numel).sum()
    }

    /// Training mode: batch statistics, dropout on.
    fn train(&self) {
        self.set_training(true);
    }

    /// Evaluation mode: running statistics, dropout off.
    fn eval(&self) {
        self.set_training(false);
    }

    /// Clears every parameter's gradient.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// Replaces every parameter and buffer with the weights `owner` holds: the owner passes
    /// its state, the other parties `None`. With the secure backend the owner's values are
    /// secret-shared (no one else learns them); with the plain backend they are copied.
    ///
    /// The owner's checks are agreed on first (one round), so a refused state is an error at
    /// every party, and nothing has been replaced.
    ///
    /// # Errors
    /// At the owner, a missing or extra name, a shape mismatch or a non-finite value
    /// ([`NnError::State`]), and at the other parties a [`NnError::State`] saying the owner
    /// refused; the backend's errors.
    fn load_state(&self, owner: usize, state: Option<&StateDict>) -> Result<()> {
        let tensors = self.named_tensors();
        let Some((_, first, _)) = tensors.first() else { return Ok(()) };
        let backend = first.backend();
        let owner = if backend.parties() == 1 { 0 } else { owner };
        // The owner checks its state, then every party learns whether it passed (one
        // round), so that a refusal stops all parties together.
        let check = match (backend.rank() == owner, state) {
            (true, Some(s)) => check_state(&tensors, s),
            (true, None) => Err(NnError::State {
                name: "(all)".into(),
                reason: format!("party {owner} owns the state but passed none"),
            }),
            (false, _) => Ok(()),
        };
        let verdict = crate::agree::agree_all(&backend, check.is_ok())?;
        check?;
        if !verdict.get(owner).copied().unwrap_or(false) {
            return Err(NnError::State {
                name: "(all)".into(),
                reason: format!("party {owner} refused its state"),
            });
        }
        // Checked above: at the owner every name is present.
        let mine = state.filter(|_| backend.rank() == owner);
        for (name, var, _) in &tensors {
            let value = mine.and_then(|s| s.get(name));
            var.set_value(backend.input(owner, value, &var.shape())?)?;
        }
        Ok(())
    }

    /// Opens every parameter and buffer to `party` only: `Some(state)` there, `None` at the
    /// other parties (and everywhere for a model without tensors). Nothing is revealed to
    /// anyone else.
    ///
    /// # Errors
    /// The backend's errors (`party` not a party, a peer failing).
    fn reveal_state_to(&self, party: usize) -> Result<Option<StateDict>> {
        let mut state = StateDict::new();
        let mut mine = false;
        for (name, var, _) in self.named_tensors() {
            let backend = var.backend();
            if let Some(v) = backend.reveal_to(&var.value(), party)? {
                mine = true;
                state.insert(name, v);
            }
        }
        Ok(mine.then_some(state))
    }
}

impl<B: Backend, M: Module<B> + ?Sized> ModuleExt<B> for M {}

/// The owner's checks of a state against the model: the same names, shapes, finite values.
fn check_state<B: Backend>(
    tensors: &[(String, Var<B>, TensorKind)],
    state: &StateDict,
) -> Result<()> {
    for name in state.keys() {
        if !tensors.iter().any(|(n, _, _)| n == name) {
            return Err(NnError::State { name: name.clone(), reason: "not in the model".into() });
        }
    }
    for (name, var, _) in tensors {
        let v = state.get(name).ok_or_else(|| NnError::State {
            name: name.clone(),
            reason: "missing from the state".into(),
        })?;
        let shape = var.shape();
        if v.shape() != shape.as_slice() {
            return Err(NnError::State {
                name: name.clone(),
                reason: format!("shape {:?}, the model has {shape:?}", v.shape()),
            });
        }
        if !crate::agree::all_finite(v) {
            return Err(NnError::State {
                name: name.clone(),
                reason: "a value is not finite".into(),
            });
        }
    }
    Ok(())
}
