//! Shape operators: they move elements without arithmetic, so on shares they are local and
//! free, and on public values they fold with integer semantics.

use cloak_autograd::{Backend, Var};
use ndarray::{ArrayD, Axis, IxDyn};

use super::Ctx;
use crate::error::Result;
use crate::tensor::DType;
use crate::value::{Val, broadcast_public, broadcast_shape, norm_axis};

fn ints(a: &ArrayD<f64>) -> Vec<i64> {
    a.iter().map(|&v| v as i64).collect()
}

fn int_val<B: Backend>(v: Vec<i64>) -> Val<B> {
    let n = v.len();
    let data = v.into_iter().map(|x| x as f64).collect();
    Val::Public(ArrayD::from_shape_vec(IxDyn(&[n]), data).unwrap_or_default(), DType::Int)
}

/// Checked reshape of a value (element counts must agree).
pub(crate) fn reshape_val<B: Backend>(
    c: &Ctx<'_, B>,
    x: &Val<B>,
    shape: &[usize],
) -> Result<Val<B>> {
    let have: usize = x.shape().iter().product();
    if have != shape.iter().product::<usize>() {
        return Err(c.err(format!("cannot reshape {:?} into {shape:?}", x.shape())));
    }
    Ok(match x {
        Val::Public(a, d) => Val::Public(
            a.as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(shape))
                .map_err(|e| c.err(e.to_string()))?,
            *d,
        ),
        Val::Private(v) => Val::Private(v.reshape(shape)?),
    })
}

pub(super) fn dropout<B: Backend>(c: &Ctx<'_, B>) -> Result<Vec<Val<B>>> {
    if let Some(t) = c.opt(2) {
        let training = match t {
            Val::Public(a, _) => a.iter().any(|&v| v != 0.0),
            Val::Private(_) => true,
        };
        if training {
            return Err(c.node.attr_error("training_mode", "Dropout in training mode"));
        }
    }
    let x = c.input(0)?.clone();
    let mut outs = vec![x.clone()];
    if c.node.proto.output.len() > 1 {
        outs.push(Val::Public(ArrayD::ones(IxDyn(&x.shape())), DType::Bool));
    }
    Ok(outs)
}

pub(super) fn constant<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let n = c.node;
    if let Some(t) = n.tensor("value")? {
        return Ok(Val::Public(t.data, t.dtype));
    }
    if n.has("value_float") {
        return Ok(Val::Public(
            ArrayD::from_elem(IxDyn(&[]), n.float_or("value_float", 0.0)?),
            DType::Float,
        ));
    }
    if let Some(v) = n.floats("value_floats")? {
        let len = v.len();
        let data = v.into_iter().map(f64::from).collect();
        return Ok(Val::float(
            ArrayD::from_shape_vec(IxDyn(&[len]), data).map_err(|e| c.err(e.to_string()))?,
        ));
    }
    if let Some(v) = n.int("value_int")? {
        return Ok(Val::Public(ArrayD::from_elem(IxDyn(&[]), v as f64), DType::Int));
    }
    if let Some(v) = n.ints("value_ints")? {
        return Ok(int_val(v));
    }
    Err(n.attr_error("value", "a Constant needs value, value_float(s) or value_int(s)"))
}

pub(super) fn shape_of<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let s: Vec<i64> = c.shape(0)?.iter().map(|&d| d as i64).collect();
    let r = s.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clamp(c.node.int_or("start", 0)?);
    let end = clamp(c.node.int_or("end", r)?);
    Ok(int_val(s.get(start..end.max(start)).unwrap_or(&[]).to_vec()))
}

pub(super) fn size_of<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let n: usize = c.shape(0)?.iter().product();
    Ok(Val::Public(ArrayD::from_elem(IxDyn(&[]), n as f64), DType::Int))
}

pub(super) fn cast<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let to = if c.node.op() == "CastLike" {
        match c.input(1)? {
            Val::Public(_, d) => *d,
            Val::Private(_) => DType::Float,
        }
    } else {
        let code = c.node.int("to")?.ok_or_else(|| c.node.attr_error("to", "missing"))?;
        DType::from_onnx(code as i32).ok_or_else(|| {
            c.node.attr_error(
                "to",
                format!("unsupported type {}", crate::tensor::type_name(code as i32)),
            )
        })?
    };
    match (c.input(0)?, to) {
        (Val::Public(a, _), DType::Float) => Ok(Val::Public(a.clone(), DType::Float)),
        (Val::Public(a, _), DType::Int) => Ok(Val::Public(a.mapv(f64::trunc), DType::Int)),
        (Val::Public(a, _), DType::Bool) => {
            Ok(Val::Public(a.mapv(|v| f64::from(u8::from(v != 0.0))), DType::Bool))
        }
        (v @ Val::Private(_), DType::Float) => Ok(v.clone()),
        (Val::Private(_), _) => Err(c
            .node
            .attr_error("to", "casting private values to integers or booleans is not supported")),
    }
}

pub(super) fn reshape<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let x = c.input(0)?;
    let in_shape = x.shape();
    let target = ints(c.public(1, "the target shape")?);
    let allowzero = c.node.int_or("allowzero", 0)? != 0;
    let total: usize = in_shape.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(*in_shape.get(i).ok_or_else(|| {
                c.err(format!("shape {target:?}: 0 at axis {i} beyond the input's rank"))
            })?),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(c.err(format!("invalid target shape {target:?}"))),
        }
    }
    if let Some(i) = infer {
        let known: usize =
            out.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, &d)| d).product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(c.err(format!("cannot reshape {in_shape:?} into {target:?}")));
        }
        out[i] = total / known;
    }
    reshape_val(c, x, &out)
}

pub(super) fn flatten<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let s = c.shape(0)?;
    let axis = c.node.int_or("axis", 1)?;
    let r = s.len() as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&a) {
        return Err(c.node.attr_error("axis", format!("{axis} for rank {r}")));
    }
    let a = a as usize;
    let outer: usize = s[..a].iter().product();
    let inner: usize = s[a..].iter().product();
    reshape_val(c, c.input(0)?, &[outer, inner])
}

pub(super) fn transpose<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let r = c.shape(0)?.len();
    let perm: Vec<usize> = match c.node.ints("perm")? {
        Some(p) => {
            let p: Option<Vec<usize>> = p.iter().map(|&a| norm_axis(a, r)).collect();
            let p = p.ok_or_else(|| c.node.attr_error("perm", "axis out of range"))?;
            let mut seen = p.clone();
            seen.sort_unstable();
            if seen != (0..r).collect::<Vec<_>>() {
                return Err(c
                    .node
                    .attr_error("perm", format!("{p:?} is not a permutation of {r} axes")));
            }
            p
        }
        None => (0..r).rev().collect(),
    };
    Ok(match c.input(0)? {
        Val::Public(a, d) => {
            Val::Public(a.clone().permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned(), *d)
        }
        Val::Private(v) => Val::Private(v.permute(&perm)?),
    })
}

/// Axes from the second input (opset 13+) or the `axes` attribute (older).
fn axes_arg<B: Backend>(c: &Ctx<'_, B>) -> Result<Option<Vec<i64>>> {
    if let Some(a) = c.public_ints(1, "axes")? {
        return Ok(Some(a));
    }
    c.node.ints("axes")
}

pub(super) fn squeeze<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let s = c.shape(0)?;
    let axes: Vec<usize> = match axes_arg(c)? {
        Some(a) => {
            let a: Option<Vec<usize>> = a.iter().map(|&x| norm_axis(x, s.len())).collect();
            a.ok_or_else(|| c.err("squeeze axis out of range"))?
        }
        None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
    };
    if axes.iter().any(|&a| s[a] != 1) {
        return Err(c.err(format!("cannot squeeze axes {axes:?} of {s:?}")));
    }
    let out: Vec<usize> = (0..s.len()).filter(|i| !axes.contains(i)).map(|i| s[i]).collect();
    reshape_val(c, c.input(0)?, &out)
}

pub(super) fn unsqueeze<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let s = c.shape(0)?;
    let axes = axes_arg(c)?.ok_or_else(|| c.err("Unsqueeze needs axes"))?;
    let r = s.len() + axes.len();
    let mut norm: Vec<usize> = Vec::new();
    for &a in &axes {
        let n = norm_axis(a, r).ok_or_else(|| c.err(format!("axis {a} out of range")))?;
        if norm.contains(&n) {
            return Err(c.err(format!("axis {a} repeated")));
        }
        norm.push(n);
    }
    let mut out = Vec::with_capacity(r);
    let mut it = s.iter();
    for i in 0..r {
        if norm.contains(&i) {
            out.push(1);
        } else {
            out.push(*it.next().ok_or_else(|| c.err("bad axes"))?);
        }
    }
    reshape_val(c, c.input(0)?, &out)
}

pub(super) fn concat<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let parts: Vec<&Val<B>> = c.inputs.iter().flatten().collect();
    let first = parts.first().ok_or_else(|| c.err("Concat of nothing"))?.shape();
    let axis = c.node.int("axis")?.ok_or_else(|| c.node.attr_error("axis", "missing"))?;
    let ax = norm_axis(axis, first.len())
        .ok_or_else(|| c.node.attr_error("axis", format!("{axis} for rank {}", first.len())))?;
    for p in &parts {
        let s = p.shape();
        let fits = s.len() == first.len() && (0..s.len()).all(|i| i == ax || s[i] == first[i]);
        if !fits {
            return Err(c.err(format!("cannot concatenate {first:?} and {s:?} along axis {ax}")));
        }
    }
    // Empty parts (shape arithmetic often concatenates nothing) are skipped.
    let parts: Vec<&Val<B>> = parts.into_iter().filter(|p| p.shape()[ax] > 0).collect();
    if parts.is_empty() {
        let mut s = first;
        s[ax] = 0;
        return Ok(Val::Public(ArrayD::zeros(IxDyn(&s)), DType::Int));
    }
    if parts.iter().all(|p| p.is_public()) {
        let views: Vec<_> = parts
            .iter()
            .map(|p| match p {
                Val::Public(a, _) => a.view(),
                Val::Private(_) => unreachable!(),
            })
            .collect();
        let dtype = match parts[0] {
            Val::Public(_, d) => *d,
            Val::Private(_) => DType::Float,
        };
        let a = ndarray::concatenate(Axis(ax), &views).map_err(|e| c.err(e.to_string()))?;
        return Ok(Val::Public(a, dtype));
    }
    let vars: Vec<Var<B>> = parts.iter().map(|p| p.to_var(c.backend)).collect::<Result<_>>()?;
    let refs: Vec<&Var<B>> = vars.iter().collect();
    Ok(Val::Private(Var::concat(&refs, ax)?))
}

/// Elements `indices` of `x` along `axis`.
pub(crate) fn select<B: Backend>(x: &Val<B>, axis: usize, indices: &[usize]) -> Result<Val<B>> {
    let n = x.shape()[axis];
    if indices.len() == n && indices.iter().enumerate().all(|(i, &j)| i == j) {
        return Ok(x.clone());
    }
    Ok(match x {
        Val::Public(a, d) => Val::Public(a.select(Axis(axis), indices), *d),
        Val::Private(v) => {
            let contiguous = !indices.is_empty() && indices.windows(2).all(|w| w[1] == w[0] + 1);
            if contiguous {
                Val::Private(v.slice(axis, indices[0], indices[indices.len() - 1] + 1)?)
            } else {
                Val::Private(v.index_select(axis, indices)?)
            }
        }
    })
}

pub(super) fn split<B: Backend>(c: &Ctx<'_, B>) -> Result<Vec<Val<B>>> {
    let x = c.input(0)?;
    let s = x.shape();
    let axis = c.node.int_or("axis", 0)?;
    let ax = norm_axis(axis, s.len())
        .ok_or_else(|| c.node.attr_error("axis", format!("{axis} for rank {}", s.len())))?;
    let outputs = c.node.proto.output.len();
    let sizes: Vec<usize> = if let Some(sp) = c.public_ints(1, "split sizes")? {
        sp.iter()
            .map(|&v| usize::try_from(v).map_err(|_| c.err(format!("split size {v}"))))
            .collect::<Result<_>>()?
    } else if let Some(sp) = c.node.ints("split")? {
        sp.iter()
            .map(|&v| usize::try_from(v).map_err(|_| c.node.attr_error("split", format!("{v}"))))
            .collect::<Result<_>>()?
    } else {
        let parts =
            usize::try_from(c.node.int_or("num_outputs", outputs as i64)?).unwrap_or(0).max(1);
        let chunk = s[ax].div_ceil(parts);
        (0..parts).map(|i| chunk.min(s[ax].saturating_sub(i * chunk))).collect()
    };
    if sizes.iter().sum::<usize>() != s[ax] || sizes.len() != outputs {
        return Err(c.err(format!(
            "split sizes {sizes:?} for axis of length {} into {outputs} outputs",
            s[ax]
        )));
    }
    let mut start = 0;
    let mut outs = Vec::new();
    for len in sizes {
        let idx: Vec<usize> = (start..start + len).collect();
        outs.push(if len == 0 {
            let mut sh = s.clone();
            sh[ax] = 0;
            Val::Public(ArrayD::zeros(IxDyn(&sh)), DType::Float)
        } else {
            select(x, ax, &idx)?
        });
        start += len;
    }
    Ok(outs)
}

pub(super) fn slice<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let x = c.input(0)?;
    let s = x.shape();
    let starts = c.public_ints(1, "starts")?.ok_or_else(|| c.err("Slice needs starts"))?;
    let ends = c.public_ints(2, "ends")?.ok_or_else(|| c.err("Slice needs ends"))?;
    let axes = c.public_ints(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = c.public_ints(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(c.err("starts, ends, axes and steps differ in length"));
    }
    let mut out = x.clone();
    for k in 0..starts.len() {
        let ax = norm_axis(axes[k], s.len())
            .ok_or_else(|| c.err(format!("axis {} out of range", axes[k])))?;
        let dim = s[ax] as i64;
        let step = steps[k];
        if step == 0 {
            return Err(c.err("a slice step of 0"));
        }
        let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (start, end) = (norm(starts[k]), norm(ends[k]));
        let idx: Vec<usize> = if step > 0 {
            let (a, b) = (start.clamp(0, dim), end.clamp(0, dim));
            (a..b).step_by(step as usize).map(|i| i as usize).collect()
        } else {
            let (a, b) = (start.clamp(-1, dim - 1), end.clamp(-1, dim - 1));
            let mut v = Vec::new();
            let mut i = a;
            while i > b {
                v.push(i as usize);
                i += step;
            }
            v
        };
        if idx.is_empty() {
            let mut sh = out.shape();
            sh[ax] = 0;
            out = Val::Public(ArrayD::zeros(IxDyn(&sh)), DType::Float);
            continue;
        }
        out = select(&out, ax, &idx)?;
    }
    Ok(out)
}

pub(super) fn gather<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let x = c.input(0)?;
    let s = x.shape();
    let axis = c.node.int_or("axis", 0)?;
    let ax = norm_axis(axis, s.len())
        .ok_or_else(|| c.node.attr_error("axis", format!("{axis} for rank {}", s.len())))?;
    let idx = c.public(1, "the indices (private indices come with the transformer work)")?;
    let dim = s[ax] as i64;
    let flat: Vec<usize> =
        idx.iter()
            .map(|&v| {
                let i = v as i64;
                let j = if i < 0 { i + dim } else { i };
                usize::try_from(j).ok().filter(|&j| (j as i64) < dim).ok_or_else(|| {
                    c.err(format!("index {i} out of range for axis of length {dim}"))
                })
            })
            .collect::<Result<_>>()?;
    let picked = select(x, ax, &flat)?;
    let mut out: Vec<usize> = s[..ax].to_vec();
    out.extend_from_slice(idx.shape());
    out.extend_from_slice(&s[ax + 1..]);
    reshape_val(c, &picked, &out)
}

pub(super) fn gather_nd<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    if c.node.int_or("batch_dims", 0)? != 0 {
        return Err(c.node.attr_error("batch_dims", "only batch_dims = 0 is supported"));
    }
    let x = c.input(0)?;
    let s = x.shape();
    let idx = c.public(1, "the indices")?;
    let is = idx.shape().to_vec();
    let k = *is.last().ok_or_else(|| c.err("GatherND indices of rank 0"))?;
    if k == 0 || k > s.len() {
        return Err(
            c.err(format!("GatherND index tuples of length {k} for data of rank {}", s.len()))
        );
    }
    // Linear positions over the first k axes, then one selection along the merged axis.
    let rows = idx.len() / k;
    let flat_idx: Vec<f64> = idx.iter().copied().collect();
    let mut picks = Vec::with_capacity(rows);
    for r in 0..rows {
        let mut lin = 0usize;
        for a in 0..k {
            let d = s[a] as i64;
            let i = flat_idx[r * k + a] as i64;
            let i = if i < 0 { i + d } else { i };
            if !(0..d).contains(&i) {
                return Err(c.err(format!("index {i} out of range for axis {a} of length {d}")));
            }
            lin = lin * s[a] + i as usize;
        }
        picks.push(lin);
    }
    let lead: usize = s[..k].iter().product();
    let mut merged = vec![lead];
    merged.extend_from_slice(&s[k..]);
    let picked = select(&reshape_val(c, x, &merged)?, 0, &picks)?;
    let mut out: Vec<usize> = is[..is.len() - 1].to_vec();
    out.extend_from_slice(&s[k..]);
    reshape_val(c, &picked, &out)
}

pub(super) fn expand<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let x = c.input(0)?;
    let want: Vec<usize> =
        ints(c.public(1, "the shape")?).iter().map(|&v| v.max(0) as usize).collect();
    let out = broadcast_shape(&x.shape(), &want)
        .ok_or_else(|| c.err(format!("cannot expand {:?} to {want:?}", x.shape())))?;
    Ok(match x {
        Val::Public(a, d) => Val::Public(broadcast_public(a, &out)?, *d),
        Val::Private(v) => Val::Private(crate::value::broadcast_var(v, &out)?),
    })
}

pub(super) fn pad<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let mode = c.node.string_or("mode", "constant")?;
    if mode != "constant" {
        return Err(c
            .node
            .attr_error("mode", format!("`{mode}`: only constant padding is supported")));
    }
    let x = c.input(0)?;
    let s = x.shape();
    let r = s.len();
    let raw = match c.public_ints(1, "pads")? {
        Some(p) => p,
        None => c.node.ints("pads")?.ok_or_else(|| c.err("Pad needs pads"))?,
    };
    let value = match c.opt(2) {
        Some(_) => c.public(2, "the constant value")?.iter().next().copied().unwrap_or(0.0),
        None => c.node.float_or("value", 0.0)?,
    };
    let axes: Vec<usize> = match c.public_ints(3, "axes")? {
        Some(a) => a
            .iter()
            .map(|&v| norm_axis(v, r).ok_or_else(|| c.err(format!("axis {v}"))))
            .collect::<Result<_>>()?,
        None => (0..r).collect(),
    };
    if raw.len() != 2 * axes.len() {
        return Err(c.err(format!("{} pads for {} axes", raw.len(), axes.len())));
    }
    let mut pads = vec![(0usize, 0usize); r];
    let mut crops = vec![(0usize, 0usize); r];
    for (k, &ax) in axes.iter().enumerate() {
        let (b, e) = (raw[k], raw[k + axes.len()]);
        let split = |v: i64| if v >= 0 { (v as usize, 0) } else { (0, v.unsigned_abs() as usize) };
        let ((pb, cb), (pe, ce)) = (split(b), split(e));
        if cb + ce > s[ax] {
            return Err(c.err(format!("negative pads crop more than axis {ax} holds")));
        }
        pads[ax] = (pb, pe);
        crops[ax] = (cb, ce);
    }
    // Negative pads crop first.
    let mut v = x.clone();
    for (ax, &(cb, ce)) in crops.iter().enumerate() {
        if cb + ce > 0 {
            let idx: Vec<usize> = (cb..s[ax] - ce).collect();
            v = select(&v, ax, &idx)?;
        }
    }
    if pads.iter().all(|&(a, b)| a == 0 && b == 0) {
        return Ok(v);
    }
    let var = v.to_var(c.backend)?;
    Ok(Val::Private(var.pad(&pads, value)?))
}

/// The nearest source index for output index `o` of an axis resized from `n_in` to
/// `n_out` with scale `scale`, by the ONNX coordinate transformation and rounding modes.
fn nearest_source(
    o: usize,
    n_in: usize,
    n_out: usize,
    scale: f64,
    transform: &str,
    rounding: &str,
) -> Option<usize> {
    let (o, n_in_f, n_out_f) = (o as f64, n_in as f64, n_out as f64);
    let x = match transform {
        "half_pixel" => (o + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => {
            if n_out > 1 {
                (o + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        "align_corners" => {
            if n_out > 1 {
                o * (n_in_f - 1.0) / (n_out_f - 1.0)
            } else {
                0.0
            }
        }
        "asymmetric" => o / scale,
        "half_pixel_symmetric" => {
            let adj = n_out_f / (scale * n_in_f);
            let center = n_in_f / 2.0;
            center * (1.0 - adj) + (o + 0.5) / scale - 0.5
        }
        _ => return None,
    };
    let i = match rounding {
        "round_prefer_floor" => {
            if (x - x.floor() - 0.5).abs() < 1e-9 {
                x.floor()
            } else {
                x.round()
            }
        }
        "round_prefer_ceil" => {
            if (x - x.floor() - 0.5).abs() < 1e-9 {
                x.ceil()
            } else {
                x.round()
            }
        }
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        _ => return None,
    };
    Some(i.clamp(0.0, n_in_f - 1.0) as usize)
}

pub(super) fn resize<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let x = c.input(0)?;
    let s = x.shape();
    let r = s.len();
    let mode = c.node.string_or("mode", "nearest")?;
    if mode != "nearest" {
        return Err(c.node.attr_error("mode", format!("`{mode}`: only nearest is supported")));
    }
    let upsample = c.node.op() == "Upsample";
    let transform = if upsample {
        "asymmetric".to_string()
    } else {
        c.node.string_or("coordinate_transformation_mode", "half_pixel")?
    };
    let rounding = if upsample {
        "floor".to_string()
    } else {
        c.node.string_or("nearest_mode", "round_prefer_floor")?
    };
    if c.node.int_or("antialias", 0)? != 0 {
        return Err(c.node.attr_error("antialias", "antialiasing is not supported"));
    }
    let axes: Vec<usize> = match c.node.ints("axes")? {
        Some(a) => a
            .iter()
            .map(|&v| norm_axis(v, r).ok_or_else(|| c.node.attr_error("axes", format!("{v}"))))
            .collect::<Result<_>>()?,
        None => (0..r).collect(),
    };
    let scales_in = if upsample { 1 } else { 2 };
    let scales: Option<Vec<f64>> = match c.opt(scales_in) {
        Some(_) => {
            let v: Vec<f64> = c.public(scales_in, "scales")?.iter().copied().collect();
            (!v.is_empty()).then_some(v)
        }
        None => c.node.floats("scales")?.map(|v| v.into_iter().map(f64::from).collect()),
    };
    let sizes = if upsample { None } else { c.public_ints(3, "sizes")?.filter(|v| !v.is_empty()) };
    let policy = c.node.string_or("keep_aspect_ratio_policy", "stretch")?;
    if sizes.is_some() && policy != "stretch" {
        return Err(c.node.attr_error(
            "keep_aspect_ratio_policy",
            format!("`{policy}`: only stretch is supported"),
        ));
    }
    let mut out = x.clone();
    for (k, &ax) in axes.iter().enumerate() {
        let n_in = s[ax];
        let (n_out, scale) = match (&sizes, &scales) {
            (Some(sz), _) => {
                let n =
                    usize::try_from(*sz.get(k).ok_or_else(|| c.err("sizes shorter than axes"))?)
                        .map_err(|_| c.err("negative size"))?;
                (n, n as f64 / n_in as f64)
            }
            (None, Some(sc)) => {
                let f = *sc.get(k).ok_or_else(|| c.err("scales shorter than axes"))?;
                if !(f > 0.0 && f.is_finite()) {
                    return Err(c.err(format!("scale {f}")));
                }
                ((n_in as f64 * f).floor() as usize, f)
            }
            (None, None) => return Err(c.err("Resize needs scales or sizes")),
        };
        if n_out == 0 || n_out > (1 << 24) {
            return Err(c.err(format!("output size {n_out} along axis {ax}")));
        }
        let idx: Vec<usize> = (0..n_out)
            .map(|o| nearest_source(o, n_in, n_out, scale, &transform, &rounding))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                c.node.attr_error(
                    "coordinate_transformation_mode",
                    format!("`{transform}` / nearest_mode `{rounding}` not supported"),
                )
            })?;
        out = select(&out, ax, &idx)?;
    }
    Ok(out)
}

pub(super) fn constant_of_shape<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let shape: Vec<usize> =
        ints(c.public(0, "the shape")?).iter().map(|&v| v.max(0) as usize).collect();
    let (value, dtype) = match c.node.tensor("value")? {
        Some(t) => (t.data.iter().next().copied().unwrap_or(0.0), t.dtype),
        None => (0.0, DType::Float),
    };
    crate::tensor::checked_dims(
        "ConstantOfShape",
        &shape.iter().map(|&v| v as i64).collect::<Vec<_>>(),
    )?;
    Ok(Val::Public(ArrayD::from_elem(IxDyn(&shape), value), dtype))
}

pub(super) fn range<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let get = |i: usize, what: &str| -> Result<(f64, DType)> {
        match c.input(i)? {
            Val::Public(a, d) => Ok((a.iter().next().copied().unwrap_or(0.0), *d)),
            Val::Private(_) => Err(c.err(format!("{what} must be public"))),
        }
    };
    let ((start, dtype), (limit, _), (delta, _)) =
        (get(0, "start")?, get(1, "limit")?, get(2, "delta")?);
    if delta == 0.0 {
        return Err(c.err("Range with delta 0"));
    }
    let n = ((limit - start) / delta).ceil().max(0.0);
    if n > crate::tensor::MAX_TENSOR_ELEMENTS as f64 {
        return Err(c.err(format!("Range of {n} elements")));
    }
    let v: Vec<f64> = (0..n as usize).map(|i| start + i as f64 * delta).collect();
    Ok(Val::Public(
        ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).map_err(|e| c.err(e.to_string()))?,
        dtype,
    ))
}
