//! Agreement on a party's own checks before it shares anything.
//!
//! Sharing an input sends no message (the other parties' shares come from pairwise
//! pseudo-random streams), so a check only the owner can make (the shape or finiteness of
//! its data) would otherwise fail at the owner alone: the owner stops while the others go
//! on with random masks until a later exchange times out. Each party instead shares a 0/1
//! flag saying whether its checks passed, and the flags are opened together (one round):
//! every party then knows who refused, and all return an error together.

use cloak_autograd::Backend;
use ndarray::ArrayD;

use crate::error::Result;

/// Every party passes whether its own checks passed; returns each party's answer, in rank
/// order, at every party.
pub(crate) fn agree_all<B: Backend>(b: &B, mine_ok: bool) -> Result<Vec<bool>> {
    let parties = b.parties();
    let flag = ArrayD::from_elem(vec![1], if mine_ok { 1.0 } else { 0.0 });
    let mut flags = Vec::with_capacity(parties);
    for p in 0..parties {
        flags.push(b.input(p, (p == b.rank()).then_some(&flag), &[1])?);
    }
    let refs: Vec<&B::Tensor> = flags.iter().collect();
    let opened = b.reveal(&b.concat(&refs, 0)?)?;
    Ok(opened.iter().map(|&v| v > 0.5).collect())
}

/// Whether a value can be encoded: finite (the backend checks the range).
pub(crate) fn all_finite(v: &ArrayD<f64>) -> bool {
    v.iter().all(|x| x.is_finite())
}
