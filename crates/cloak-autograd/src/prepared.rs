//! A right operand prepared once for many products (model weights at inference).
//!
//! A backend may do work once per fixed operand that every later product reuses: the
//! secure backend opens the weight's persistent mask once, so each product opens only its
//! input's mask (see `cloak_mpc::FixedOperand`). The prepared form is the backend's own, held
//! type-erased so that the trait stays usable by backends that gain nothing from it (their
//! `prepare_rhs` returns `None` and the plain product runs).

use std::any::Any;
use std::fmt;
use std::rc::Rc;

/// A backend's prepared right operand; cheap to clone.
#[derive(Clone)]
pub struct PreparedRhs(Rc<dyn Any>);

impl PreparedRhs {
    /// Wraps a backend's prepared operand.
    #[must_use]
    pub fn new<T: Any>(value: T) -> Self {
        Self(Rc::new(value))
    }

    /// The backend's prepared operand, if it is of type `T`.
    #[must_use]
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl fmt::Debug for PreparedRhs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreparedRhs(..)")
    }
}
