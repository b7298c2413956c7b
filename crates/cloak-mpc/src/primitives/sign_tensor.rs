//! The comparison strategy's packed sign bits as a tensor, for protocols that combine them
//! with device shares (the selections of `argmax`).

use cloak_ring::RingTensor;

use super::context::Context;
use crate::error::{Result, invalid};

/// Whether [`Context::ltz_packed_tensor`] is running: a strategy that calls back into it
/// from its own `ltz_packed_tensor` would recurse until the stack overflows.
#[derive(Default)]
struct InPackedTensor(bool);

impl Context {
    /// XOR shares of `[x < 0]` packed 64 per word, as a flat word tensor (`[ceil(n / 64)]`)
    /// where `x` lives, by the comparison strategy
    /// ([`ComparisonProtocol::ltz_packed_tensor`](super::ComparisonProtocol::ltz_packed_tensor)).
    ///
    /// # Errors
    /// A communication or dealer error, or a strategy that breaks the contract.
    pub fn ltz_packed_tensor(&mut self, x: &RingTensor<u64>) -> Result<RingTensor<u64>> {
        let strategy = self.comparison().clone();
        if std::mem::replace(&mut self.extension::<InPackedTensor>().0, true) {
            return Err(invalid(
                "comparison",
                format!(
                    "the {} strategy called its own packed sign from inside it",
                    strategy.name()
                ),
            ));
        }
        let out = strategy.ltz_packed_tensor(self, x);
        self.extension::<InPackedTensor>().0 = false;
        let out = out?;
        if out.shape() != [x.len().div_ceil(64)] {
            return Err(invalid(
                "comparison",
                format!(
                    "the {} strategy broke its contract: sign words of shape {:?} for {} elements",
                    strategy.name(),
                    out.shape(),
                    x.len()
                ),
            ));
        }
        Ok(out)
    }
}
