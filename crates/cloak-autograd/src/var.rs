//! [`Var`]: a tensor in the graph, and the reverse pass over it.
//!
//! Every operation on a `Var` that requires grad records a node holding its parents and a
//! backward closure (which owns the tensors it saved). `backward` walks the graph once in
//! reverse topological order, consuming the closures: a second backward through the same
//! graph is a typed error ([`AutogradError::GraphFreed`]), as in PyTorch without
//! `retain_graph`. Gradients accumulate in leaves until cleared.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use crate::backend::Backend;
use crate::error::{AutogradError, Result, invalid};

/// What a backward closure returns: one optional gradient per parent, in order.
pub type ParentGrads<B> = Vec<Option<<B as Backend>::Tensor>>;

/// A node's backward rule: the output's gradient in, the parents' gradients out.
pub type BackwardFn<B> = Box<dyn FnOnce(&B, &<B as Backend>::Tensor) -> Result<ParentGrads<B>>>;

struct GradFn<B: Backend> {
    parents: Vec<Var<B>>,
    backward: BackwardFn<B>,
}

struct Node<B: Backend> {
    id: u64,
    backend: B,
    value: RefCell<B::Tensor>,
    requires_grad: bool,
    op: &'static str,
    /// `true` for a node made by an operation (it had a backward rule, even once freed).
    is_op: bool,
    /// Bumped by every `set_value`, so that values derived from a leaf can be cached.
    version: Cell<u64>,
    grad_fn: RefCell<Option<GradFn<B>>>,
    grad: RefCell<Option<B::Tensor>>,
}

impl<B: Backend> Drop for Node<B> {
    /// Frees a chain of nodes iteratively: the default drop would recurse once per node of
    /// a graph that never went through backward, and overflow the stack on a long one.
    fn drop(&mut self) {
        let mut stack: Vec<Var<B>> = match self.grad_fn.get_mut().take() {
            Some(f) => f.parents,
            None => return,
        };
        while let Some(var) = stack.pop() {
            // Only a node this is the last handle to is freed here; take its parents first.
            if let Ok(mut node) = Rc::try_unwrap(var.node)
                && let Some(f) = node.grad_fn.get_mut().take()
            {
                stack.extend(f.parents);
            }
        }
    }
}

/// A tensor of backend `B` in the autodiff graph. Cloning is cheap (a reference count).
pub struct Var<B: Backend> {
    node: Rc<Node<B>>,
}

impl<B: Backend> Clone for Var<B> {
    fn clone(&self) -> Self {
        Self { node: Rc::clone(&self.node) }
    }
}

impl<B: Backend> fmt::Debug for Var<B> {
    /// Shape, op and flags only: with the secure backend the value is a share.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Var")
            .field("shape", &self.shape())
            .field("op", &self.node.op)
            .field("requires_grad", &self.node.requires_grad)
            .finish_non_exhaustive()
    }
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

fn next_id() -> u64 {
    NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}

/// Whether operations record the graph on this thread (off inside [`no_grad`]).
#[must_use]
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(Cell::get)
}

/// Runs `f` without recording the graph (inference, optimizer updates), restoring the
/// previous mode afterwards, also on early return.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

/// Turns graph recording off until dropped.
#[derive(Debug)]
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    /// Disables recording; the drop restores the previous mode.
    #[must_use]
    pub fn new() -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        Self { previous }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

impl<B: Backend> Var<B> {
    fn make(
        backend: &B,
        value: B::Tensor,
        requires_grad: bool,
        op: &'static str,
        grad_fn: Option<GradFn<B>>,
    ) -> Self {
        let is_op = grad_fn.is_some();
        Self {
            node: Rc::new(Node {
                id: next_id(),
                backend: backend.clone(),
                value: RefCell::new(value),
                requires_grad,
                op,
                is_op,
                version: Cell::new(0),
                grad_fn: RefCell::new(grad_fn),
                grad: RefCell::new(None),
            }),
        }
    }

    /// A leaf: a parameter when `requires_grad`, else a constant input.
    #[must_use]
    pub fn leaf(backend: &B, value: B::Tensor, requires_grad: bool) -> Self {
        Self::make(backend, value, requires_grad, "leaf", None)
    }

    /// A leaf that no gradient flows to.
    #[must_use]
    pub fn constant(backend: &B, value: B::Tensor) -> Self {
        Self::leaf(backend, value, false)
    }

    /// The result of an operation on `parents`. The backward rule is recorded only if
    /// recording is on and some parent requires grad; otherwise the closure is dropped
    /// unused (so inference keeps no saved tensors).
    ///
    /// This is the extension point for new differentiable operations (fused losses, new
    /// protocols): `backward` receives the output's gradient and returns one optional
    /// gradient per parent, in order, each of its parent's shape.
    ///
    /// # Errors
    /// `InvalidArgument` without parents (a tensor without parents is a constant).
    pub fn from_op(
        op: &'static str,
        value: B::Tensor,
        parents: &[&Var<B>],
        backward: impl FnOnce(&B, &B::Tensor) -> Result<ParentGrads<B>> + 'static,
    ) -> Result<Self> {
        let backend = parents
            .first()
            .map(|p| p.backend())
            .ok_or_else(|| invalid(op, "an operation needs at least one parent"))?;
        let requires_grad = is_grad_enabled() && parents.iter().any(|p| p.requires_grad());
        let grad_fn = requires_grad.then(|| GradFn {
            parents: parents.iter().map(|&p| p.clone()).collect(),
            backward: Box::new(backward) as BackwardFn<B>,
        });
        Ok(Self::make(&backend, value, requires_grad, op, grad_fn))
    }

    /// The backend this tensor lives in.
    #[must_use]
    pub fn backend(&self) -> B {
        self.node.backend.clone()
    }

    /// The current value, as a clone of the backend's tensor: for the secure backend a
    /// handle on the same storage (shared tensors clone in constant time), so reading a
    /// weight in every forward pass copies nothing; the plain backend copies its array.
    #[must_use]
    pub fn value(&self) -> B::Tensor {
        self.node.value.borrow().clone()
    }

    /// The current value, borrowed (no copy): for operations that only read it, such as a
    /// forward product whose backward is not recorded.
    ///
    /// # Panics
    /// If the value is being replaced at the same time (`set_value` from inside a borrow).
    #[must_use]
    pub fn value_ref(&self) -> std::cell::Ref<'_, B::Tensor> {
        self.node.value.borrow()
    }

    /// The shape.
    #[must_use]
    pub fn shape(&self) -> Vec<usize> {
        B::shape(&self.node.value.borrow())
    }

    /// The number of elements.
    #[must_use]
    pub fn numel(&self) -> usize {
        self.shape().iter().product()
    }

    /// Whether gradients flow to this tensor.
    #[must_use]
    pub fn requires_grad(&self) -> bool {
        self.node.requires_grad
    }

    /// Whether this is a leaf (not made by a recorded operation).
    #[must_use]
    pub fn is_leaf(&self) -> bool {
        !self.node.is_op
    }

    /// The operation that made this tensor (`"leaf"` for leaves).
    #[must_use]
    pub fn op(&self) -> &'static str {
        self.node.op
    }

    /// The same value as a new leaf that no gradient flows through.
    #[must_use]
    pub fn detach(&self) -> Self {
        Self::constant(&self.node.backend, self.value())
    }

    /// Whether two handles are the same graph node.
    #[must_use]
    pub fn same_node(&self, other: &Var<B>) -> bool {
        Rc::ptr_eq(&self.node, &other.node)
    }

    /// The accumulated gradient of a leaf that requires grad.
    ///
    /// # Errors
    /// [`AutogradError::MissingGrad`] if the tensor does not require grad, is not a leaf,
    /// or no backward pass has reached it since the gradient was last cleared.
    pub fn grad(&self) -> Result<B::Tensor> {
        let what = || format!("tensor {:?} from {}", self.shape(), self.node.op);
        if !self.node.requires_grad {
            return Err(AutogradError::MissingGrad {
                what: what(),
                reason: "it does not require grad",
            });
        }
        if self.node.is_op {
            return Err(AutogradError::MissingGrad {
                what: what(),
                reason: "gradients are kept for leaves only",
            });
        }
        self.node.grad.borrow().clone().ok_or_else(|| AutogradError::MissingGrad {
            what: what(),
            reason: "no backward pass has reached it since its gradient was cleared",
        })
    }

    /// The accumulated gradient, if any.
    #[must_use]
    pub fn grad_opt(&self) -> Option<B::Tensor> {
        self.node.grad.borrow().clone()
    }

    /// Clears the accumulated gradient.
    pub fn zero_grad(&self) {
        self.node.grad.borrow_mut().take();
    }

    /// Replaces a leaf's gradient (gradient clipping, tests).
    ///
    /// # Errors
    /// [`AutogradError::ShapeMismatch`] if the shape differs; `InvalidArgument` for a
    /// non-leaf or a tensor that does not require grad.
    pub fn set_grad(&self, grad: B::Tensor) -> Result<()> {
        self.check_leaf("set_grad", &grad)?;
        if !self.node.requires_grad {
            return Err(invalid("set_grad", "the tensor does not require grad"));
        }
        *self.node.grad.borrow_mut() = Some(grad);
        Ok(())
    }

    /// Replaces a leaf's value in place (optimizer steps, loading weights). Graphs already
    /// recorded keep the old value they saved.
    ///
    /// # Errors
    /// [`AutogradError::ShapeMismatch`] if the shape differs; `InvalidArgument` for a
    /// non-leaf.
    pub fn set_value(&self, value: B::Tensor) -> Result<()> {
        self.check_leaf("set_value", &value)?;
        *self.node.value.borrow_mut() = value;
        self.node.version.set(self.node.version.get() + 1);
        Ok(())
    }

    /// How many times [`set_value`](Self::set_value) has replaced this leaf's value: a
    /// cache of something computed from the value is valid while this is unchanged.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.node.version.get()
    }

    fn check_leaf(&self, op: &'static str, t: &B::Tensor) -> Result<()> {
        if self.node.is_op {
            return Err(invalid(
                op,
                format!("{} made by {} is not a leaf", "tensor", self.node.op),
            ));
        }
        let (have, want) = (B::shape(t), self.shape());
        if have != want {
            return Err(crate::error::shape_mismatch(op, &have, &want));
        }
        Ok(())
    }

    /// Backpropagates from a one-element output (a loss), seeding its gradient with 1.
    ///
    /// # Errors
    /// [`AutogradError::NotScalar`] for a larger output, [`AutogradError::NoGradFn`] if no
    /// gradient flows to it, [`AutogradError::GraphFreed`] if the graph was consumed by an
    /// earlier backward, or the backend's error in a backward rule.
    pub fn backward(&self) -> Result<()> {
        let shape = self.shape();
        if shape.iter().product::<usize>() != 1 {
            return Err(AutogradError::NotScalar { shape });
        }
        let seed = ndarray::ArrayD::from_elem(shape.as_slice(), 1.0);
        let grad = self.node.backend.public(&seed)?;
        self.backward_with(grad)
    }

    /// Backpropagates `grad` (the gradient of some scalar with respect to this tensor).
    ///
    /// # Errors
    /// As [`backward`](Self::backward), and a shape mismatch for `grad`.
    pub fn backward_with(&self, grad: B::Tensor) -> Result<()> {
        if !self.node.requires_grad {
            return Err(AutogradError::NoGradFn);
        }
        let (have, want) = (B::shape(&grad), self.shape());
        if have != want {
            return Err(crate::error::shape_mismatch("backward", &have, &want));
        }
        let order = self.topological_order()?;
        let backend = self.node.backend.clone();
        let mut pending: HashMap<u64, B::Tensor> = HashMap::new();
        pending.insert(self.node.id, grad);
        for var in order.iter().rev() {
            let Some(g) = pending.remove(&var.node.id) else { continue };
            if !var.node.is_op {
                let mut slot = var.node.grad.borrow_mut();
                *slot = Some(match slot.take() {
                    Some(acc) => backend.add(&acc, &g)?,
                    None => g,
                });
                continue;
            }
            let grad_fn = var
                .node
                .grad_fn
                .borrow_mut()
                .take()
                .ok_or(AutogradError::GraphFreed { op: var.node.op })?;
            let parent_grads = (grad_fn.backward)(&backend, &g)?;
            if parent_grads.len() != grad_fn.parents.len() {
                return Err(invalid(
                    "backward",
                    format!(
                        "{} returned {} gradients for {} parents",
                        var.node.op,
                        parent_grads.len(),
                        grad_fn.parents.len()
                    ),
                ));
            }
            for (parent, pg) in grad_fn.parents.iter().zip(parent_grads) {
                let Some(pg) = pg else { continue };
                if !parent.node.requires_grad {
                    continue;
                }
                let (have, want) = (B::shape(&pg), parent.shape());
                if have != want {
                    return Err(crate::error::shape_mismatch(var.node.op, &have, &want));
                }
                let merged = match pending.remove(&parent.node.id) {
                    Some(acc) => backend.add(&acc, &pg)?,
                    None => pg,
                };
                pending.insert(parent.node.id, merged);
            }
        }
        Ok(())
    }

    /// The nodes gradients flow through, parents before children. Fails before anything is
    /// consumed if part of the graph was already freed.
    fn topological_order(&self) -> Result<Vec<Var<B>>> {
        let mut order = Vec::new();
        let mut seen = std::collections::HashSet::new();
        // Iterative depth-first search: (node, parents already pushed?).
        let mut stack = vec![(self.clone(), false)];
        while let Some((var, expanded)) = stack.pop() {
            if expanded {
                order.push(var);
                continue;
            }
            if !seen.insert(var.node.id) {
                continue;
            }
            stack.push((var.clone(), true));
            if var.node.is_op {
                let grad_fn = var.node.grad_fn.borrow();
                let Some(grad_fn) = grad_fn.as_ref() else {
                    return Err(AutogradError::GraphFreed { op: var.node.op });
                };
                for p in &grad_fn.parents {
                    if p.node.requires_grad && !seen.contains(&p.node.id) {
                        stack.push((p.clone(), false));
                    }
                }
            }
        }
        Ok(order)
    }
}
