//! Weights fixed for repeated products: a layer's weight, used by every inference pass,
//! has its masked value opened once ([`Backend::prepare_rhs`], `cloak_mpc::FixedOperand`)
//! and each later product opens only its input's mask.
//!
//! A weight is prepared on its second use at the same value (the same parameter node and
//! [`Var::version`]), not its first: inference then pays the preparation once, on its
//! second pass, and saves on every pass after it, while training, whose weights change
//! every step, never pays for a preparation it cannot reuse. Every party makes the same
//! decisions, since they run the same program on the same versions. This is the rule
//! `cloak-onnx` follows for imported models.
//!
//! A weight is fixed at most once per layer: the dealer keeps every persistent mask for the
//! session, so fixing each new value (say, at every evaluation between training epochs)
//! would grow its memory by a model's size each time. Once a fixed weight changes, its
//! products go back to the plain path, which costs the weight's opening per product again.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use cloak_autograd::{Backend, PreparedRhs, Var};
use cloak_ring::Conv2dSpec;

use crate::error::Result;

/// One weight operand's state: which value it was seen at and what was prepared.
struct Entry<B: Backend> {
    /// The parameter the operand is derived from (a layer's weight field may be replaced).
    param: Var<B>,
    version: u64,
    uses: u32,
    tried: bool,
    prepared: Option<PreparedRhs>,
}

/// A slot's entry and whether it has ever been prepared (never again once it has).
struct Slot<B: Backend> {
    entry: Entry<B>,
    spent: bool,
}

/// The prepared weight operands of one layer, by a slot the layer chooses (a layer with
/// several products by parts of one parameter uses a slot per part).
pub(crate) struct FixedWeights<B: Backend> {
    entries: RefCell<HashMap<usize, Slot<B>>>,
}

impl<B: Backend> Default for FixedWeights<B> {
    fn default() -> Self {
        Self { entries: RefCell::new(HashMap::new()) }
    }
}

impl<B: Backend> fmt::Debug for FixedWeights<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.entries.borrow();
        let prepared = entries.values().filter(|s| s.entry.prepared.is_some()).count();
        write!(f, "FixedWeights {{ operands: {}, prepared: {prepared} }}", entries.len())
    }
}

impl<B: Backend> FixedWeights<B> {
    /// `operand` (derived from `param`) prepared, if this is at least its second use at
    /// `param`'s current value and the backend prepares operands.
    fn prepared(
        &self,
        slot: usize,
        param: &Var<B>,
        operand: &Var<B>,
    ) -> Result<Option<PreparedRhs>> {
        let version = param.version();
        let mut entries = self.entries.borrow_mut();
        let fresh =
            || Entry { param: param.clone(), version, uses: 0, tried: false, prepared: None };
        let s = entries.entry(slot).or_insert_with(|| Slot { entry: fresh(), spent: false });
        let e = &mut s.entry;
        if !e.param.same_node(param) || e.version != version {
            *e = fresh();
        }
        e.uses = e.uses.saturating_add(1);
        if e.uses >= 2 && !e.tried && !s.spent {
            // Tried once per value: a failure here is a protocol error that ends the session.
            e.tried = true;
            e.prepared = param.backend().prepare_rhs(&operand.value())?;
            s.spent = e.prepared.is_some();
        }
        Ok(e.prepared.clone())
    }

    /// `x @ w` for a 2-d `w` derived from `param` (its transpose, a slice of rows), by the
    /// prepared operand from the second use on.
    pub(crate) fn matmul(
        &self,
        slot: usize,
        x: &Var<B>,
        param: &Var<B>,
        w: &Var<B>,
    ) -> Result<Var<B>> {
        Ok(match self.prepared(slot, param, w)? {
            Some(p) => x.matmul_prepared(w, &p)?,
            None => x.matmul(w)?,
        })
    }

    /// `conv2d(x, w)` by the layer's own weight `w`, prepared from the second use on.
    pub(crate) fn conv2d(&self, x: &Var<B>, w: &Var<B>, spec: &Conv2dSpec) -> Result<Var<B>> {
        Ok(match self.prepared(0, w, w)? {
            Some(p) => x.conv2d_prepared(w, &p, spec)?,
            None => x.conv2d(w, spec)?,
        })
    }
}
