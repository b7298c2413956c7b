//! Nodes that read the data owner's token ids, which flow through the graph as their one-hot
//! encoding (a last axis of the vocabulary's length; see `inputs.rs`).
//!
//! `Gather(table, ids)` along axis 0 is `one_hot @ table`: one matrix product (a Beaver
//! product when the table is the owner's weight, local when it is public), exact but for the
//! table's fixed-point encoding. `Shape` and `Size` see the ids' public shape.

use cloak_autograd::Backend;
use ndarray::{ArrayD, IxDyn};

use super::arith::matmul_vals;
use super::shape::reshape_val;
use super::{Ctx, run as run_op};
use crate::error::{OnnxError, Result, UnsupportedNode};
use crate::tensor::DType;
use crate::value::{Val, norm_axis};

/// Runs a node that reads the token ids named `ids`.
pub(crate) fn run<B: Backend>(c: &Ctx<'_, B>, ids: &str) -> Result<Vec<Val<B>>> {
    let position = c.node.proto.input.iter().position(|x| x == ids).unwrap_or(0);
    let onehot = c.input(position)?;
    let mut ids_shape = onehot.shape();
    let vocab = ids_shape.pop().unwrap_or(0);
    match c.node.op() {
        "Shape" | "Size" => {
            // What these see is the ids' shape, which is public.
            let stand_in = Val::Public(ArrayD::zeros(IxDyn(&ids_shape)), DType::Int);
            let inputs = vec![Some(stand_in)];
            run_op(&Ctx {
                node: c.node,
                backend: c.backend,
                inputs,
                prep: c.prep,
                fuse_relu: false,
            })
        }
        "Gather" if position == 1 && c.node.proto.input.first().is_some_and(|t| t != ids) => {
            Ok(vec![lookup(c, onehot, &ids_shape, vocab)?])
        }
        op => Err(OnnxError::Unsupported {
            nodes: vec![UnsupportedNode {
                name: c.node.name.to_string(),
                op_type: op.to_string(),
                reason: "reads the private token ids; Cloak reads them only through Gather (an \
                         embedding lookup) and Shape"
                    .into(),
            }],
        }),
    }
}

/// `table[ids]` along axis 0 as `one_hot @ table`.
fn lookup<B: Backend>(
    c: &Ctx<'_, B>,
    onehot: &Val<B>,
    ids_shape: &[usize],
    vocab: usize,
) -> Result<Val<B>> {
    let table = c.input(0)?;
    let ts = table.shape();
    let axis = c.node.int_or("axis", 0)?;
    if norm_axis(axis, ts.len()) != Some(0) {
        return Err(c.node.attr_error(
            "axis",
            format!("{axis}: private token ids are looked up along axis 0 only"),
        ));
    }
    if ts.first() != Some(&vocab) {
        return Err(c.err(format!(
            "token ids one-hot over {vocab} entries, but the table has shape {ts:?}"
        )));
    }
    let n: usize = ids_shape.iter().product();
    let rest: usize = ts[1..].iter().product();
    let rows = reshape_val(c, onehot, &[n, vocab])?;
    let table2 = reshape_val(c, table, &[vocab, rest])?;
    let picked = matmul_vals(c, &rows, &table2, Some((0, false)))?;
    let mut out = ids_shape.to_vec();
    out.extend_from_slice(&ts[1..]);
    reshape_val(c, &picked, &out)
}
