//! The protocol conformance suite: every shared-tensor protocol against the same
//! computation in plain `f64`, for a session made by the implementation under test.
//!
//! A new dealer, comparison strategy or truncation strategy runs the suite by describing
//! how a party's session is made ([`Factory`]): [`Configured`] for a [`SessionConfig`](crate::SessionConfig)
//! (built-in dealers, any strategies), [`WithDealer`] for any `impl Dealer`. Then either
//! call [`run_all`], or put one `#[test]` per check in a test file with the macro:
//!
//! ```
//! use cloak_mpc::conformance::Configured;
//! use cloak_mpc::{SessionConfig, Truncation};
//!
//! cloak_mpc::protocol_conformance_tests!(
//!     dealer_pairs,
//!     Configured::new(SessionConfig { truncation: Truncation::DealerPairs.into(), ..Default::default() })
//! );
//! # fn main() {}
//! ```
//!
//! Every check runs with 2 and 3 parties (those the strategies accept) as threads over
//! in-process channels, and returns a [`Failure`] naming the check, the number of parties
//! and the worst element instead of panicking. Tolerances are stated at each check and
//! follow from the fixed-point precision `u = 2^-f`: encoding rounds to within `u / 2`, a
//! truncation after a product is off by at most one unit (the strategies' contract), and
//! comparisons are exact on encoded values more than one unit apart.

mod checks;
mod factory;

pub use checks::{CHECKS, Check};
pub use factory::{Configured, Factory, WithDealer};

use std::fmt;

/// Why a check failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The check.
    pub check: &'static str,
    /// The number of computing parties.
    pub parties: usize,
    /// What went wrong: the worst element against its plain value, or the error.
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} with {} parties: {}", self.check, self.parties, self.reason)
    }
}

impl std::error::Error for Failure {}

/// Runs every check of [`CHECKS`] against `factory`; the failures, empty when it conforms.
#[must_use]
pub fn run_all(factory: &dyn Factory) -> Vec<Failure> {
    CHECKS.iter().filter_map(|c| run(factory, c).err()).collect()
}

/// Runs one check with 2 and 3 parties (those the factory supports).
///
/// # Errors
/// The first failure.
pub fn run(factory: &dyn Factory, check: &Check) -> Result<(), Failure> {
    for parties in [2, 3] {
        if factory.supports(parties) {
            factory::run_check(factory, check, parties)?;
        }
    }
    Ok(())
}

/// One `#[test]` per protocol check for a factory: `protocol_conformance_tests!(name, expr)`
/// makes a module `name` whose tests each build the factory with `expr` and run one check
/// with 2 and 3 parties.
#[macro_export]
macro_rules! protocol_conformance_tests {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run(check: &str) {
                let factory = $factory;
                let check = $crate::conformance::CHECKS
                    .iter()
                    .find(|c| c.name == check)
                    .unwrap_or_else(|| panic!("no protocol check named {check}"));
                if let Err(failure) = $crate::conformance::run(&factory, check) {
                    panic!("{failure}");
                }
            }

            $crate::protocol_conformance_tests!(@tests run;
                share_reveal, linear, mul, matmul, conv2d, square, fixed_operand,
                truncate_many, divide, compare, relu_abs, truncate_relu, max_argmax, max_pool, a2b_b2a,
                functions);
        }
    };
    (@tests $run:ident; $($check:ident),*) => {
        $(
            #[test]
            fn $check() {
                $run(stringify!($check));
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// The macro's list of tests names every check, and nothing else.
    #[test]
    fn the_macro_runs_every_check() {
        let source = include_str!("mod.rs");
        let start = source.find("@tests run;").unwrap_or(0);
        let end = source[start..].find(");").map_or(source.len(), |e| start + e);
        let mut in_macro: Vec<&str> = source[start..end]
            .trim_start_matches("@tests run;")
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        let mut checks: Vec<&str> = super::CHECKS.iter().map(|c| c.name).collect();
        in_macro.sort_unstable();
        checks.sort_unstable();
        assert_eq!(in_macro, checks);
    }
}
