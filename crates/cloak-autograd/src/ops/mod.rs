//! The differentiable operations on [`Var`](crate::Var), grouped by kind. Each records its
//! backward rule with [`Var::from_op`](crate::Var::from_op).

mod activation;
mod arith;
mod linalg;
mod pool;
mod shape;
