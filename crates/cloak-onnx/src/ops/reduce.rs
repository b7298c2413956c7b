//! Reductions. Sums and means are local; a maximum over several axes moves them to the end
//! and reduces once (one comparison tree instead of one per axis); ArgMax is the one-hot of
//! the maximum dotted with the public positions (local after the comparisons).

use cloak_autograd::{Backend, Var};
use ndarray::{ArrayD, IxDyn};

use super::Ctx;
use crate::error::Result;
use crate::value::{Val, norm_axis};

fn reduce_axes<B: Backend>(c: &Ctx<'_, B>, rank: usize) -> Result<Vec<usize>> {
    let given = match c.public_ints(1, "axes")? {
        Some(a) => Some(a),
        None => c.node.ints("axes")?,
    };
    let mut axes: Vec<usize> = match given {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&v| norm_axis(v, rank).ok_or_else(|| c.err(format!("axis {v} for rank {rank}"))))
            .collect::<Result<_>>()?,
        _ if c.node.int_or("noop_with_empty_axes", 0)? != 0 => Vec::new(),
        _ => (0..rank).collect(),
    };
    axes.sort_unstable();
    axes.dedup();
    Ok(axes)
}

pub(super) fn reduce<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let s = c.shape(0)?;
    let axes = reduce_axes(c, s.len())?;
    let keep = c.node.int_or("keepdims", 1)? != 0;
    let mut kept_shape = s.clone();
    for &a in &axes {
        kept_shape[a] = 1;
    }
    let out_shape: Vec<usize> = if keep {
        kept_shape.clone()
    } else {
        (0..s.len()).filter(|i| !axes.contains(i)).map(|i| s[i]).collect()
    };
    if axes.is_empty() {
        return Ok(c.input(0)?.clone());
    }
    let x = c.var(0)?;
    let y = match c.node.op() {
        "ReduceSum" | "ReduceMean" => {
            let mut y = x;
            for &a in axes.iter().rev() {
                y = y.sum(a, true)?;
            }
            if c.node.op() == "ReduceMean" {
                let count: usize = axes.iter().map(|&a| s[a]).product();
                y = y.div_scalar(count as f64)?;
            }
            y
        }
        _ => {
            // Reduced axes last, merged, one maximum.
            let rest: Vec<usize> = (0..s.len()).filter(|i| !axes.contains(i)).collect();
            let perm: Vec<usize> = rest.iter().chain(axes.iter()).copied().collect();
            let outer: Vec<usize> = rest.iter().map(|&i| s[i]).collect();
            let inner: usize = axes.iter().map(|&a| s[a]).product();
            let mut flat = outer.clone();
            flat.push(inner);
            let m = x.permute(&perm)?.reshape(&flat)?.max(outer.len(), false)?;
            m.reshape(&kept_shape)?
        }
    };
    Ok(Val::Private(y.reshape(&out_shape)?))
}

pub(super) fn argmax<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let s = c.shape(0)?;
    let axis = c.node.int_or("axis", 0)?;
    let ax = norm_axis(axis, s.len())
        .ok_or_else(|| c.node.attr_error("axis", format!("{axis} for rank {}", s.len())))?;
    if c.node.int_or("select_last_index", 0)? != 0 {
        return Err(c.node.attr_error("select_last_index", "only the first maximum is supported"));
    }
    let keep = c.node.int_or("keepdims", 1)? != 0;
    let x: Var<B> = c.var(0)?;
    let b = c.backend;
    // The one-hot carries no gradient: ArgMax is not differentiable.
    let onehot = Var::constant(b, b.argmax_onehot(&x.value(), ax)?);
    let mut pos_shape = vec![1; s.len()];
    pos_shape[ax] = s[ax];
    let positions = ArrayD::from_shape_fn(IxDyn(&pos_shape), |i| i[ax] as f64);
    let positions =
        positions.broadcast(IxDyn(&s)).map(|v| v.to_owned()).ok_or_else(|| c.err("positions"))?;
    let idx = onehot.mul_public(&positions)?.sum(ax, keep)?;
    Ok(Val::Private(idx))
}
