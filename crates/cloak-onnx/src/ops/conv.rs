//! Convolutions (1-d and 2-d) and transposed convolutions, with every ONNX padding form:
//! explicit symmetric pads go to the kernel; `SAME_*` and asymmetric pads are applied as an
//! explicit zero pad (local on shares), transposed convolutions crop instead.

use cloak_autograd::{Backend, Var};
use cloak_ring::Conv2dSpec;

use super::Ctx;
use super::arith::{Bin, bin_vals};
use crate::error::Result;
use crate::value::Val;

/// Stride, dilation and per-axis `(begin, end)` padding of a convolution over `spatial`
/// axes, from the node's attributes.
struct Geometry {
    strides: Vec<usize>,
    dilations: Vec<usize>,
    pads: Vec<(usize, usize)>,
    group: usize,
}

fn positive(
    c_node: &crate::attr::NodeRef<'_>,
    name: &str,
    v: Option<Vec<i64>>,
    n: usize,
) -> Result<Vec<usize>> {
    match v {
        None => Ok(vec![1; n]),
        Some(v) if v.len() == n && v.iter().all(|&x| x >= 1) => {
            Ok(v.iter().map(|&x| x as usize).collect())
        }
        Some(v) => Err(c_node.attr_error(name, format!("{v:?} for {n} spatial axes"))),
    }
}

fn geometry<B: Backend>(
    c: &Ctx<'_, B>,
    input: &[usize],
    kernel: &[usize],
    transposed: bool,
) -> Result<Geometry> {
    let n = kernel.len();
    let node = c.node;
    let strides = positive(&node, "strides", node.ints("strides")?, n)?;
    let dilations = positive(&node, "dilations", node.ints("dilations")?, n)?;
    let group = usize::try_from(node.int_or("group", 1)?)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| node.attr_error("group", "must be at least 1"))?;
    if let Some(ks) = node.ints("kernel_shape")?
        && ks.iter().map(|&k| k as usize).collect::<Vec<_>>() != kernel
    {
        return Err(node
            .attr_error("kernel_shape", format!("{ks:?} but the weight's kernel is {kernel:?}")));
    }
    let auto = node.string_or("auto_pad", "NOTSET")?;
    let pads = match auto.as_str() {
        "NOTSET" => match node.ints("pads")? {
            None => vec![(0, 0); n],
            Some(p) if p.len() == 2 * n && p.iter().all(|&x| x >= 0) => {
                (0..n).map(|i| (p[i] as usize, p[i + n] as usize)).collect()
            }
            Some(p) => return Err(node.attr_error("pads", format!("{p:?} for {n} spatial axes"))),
        },
        "VALID" => vec![(0, 0); n],
        "SAME_UPPER" | "SAME_LOWER" if !transposed => (0..n)
            .map(|i| {
                let out = input[i].div_ceil(strides[i]);
                let span = (kernel[i] - 1) * dilations[i] + 1;
                let total = ((out - 1) * strides[i] + span).saturating_sub(input[i]);
                let small = total / 2;
                if auto == "SAME_UPPER" { (small, total - small) } else { (total - small, small) }
            })
            .collect(),
        "SAME_UPPER" | "SAME_LOWER" => (0..n)
            .map(|i| {
                // Output = input * stride; the padding that achieves it.
                let span = (kernel[i] - 1) * dilations[i] + 1;
                let total =
                    (strides[i] * (input[i] - 1) + span).saturating_sub(input[i] * strides[i]);
                let small = total / 2;
                if auto == "SAME_UPPER" { (small, total - small) } else { (total - small, small) }
            })
            .collect(),
        other => return Err(node.attr_error("auto_pad", format!("`{other}`"))),
    };
    Ok(Geometry { strides, dilations, pads, group })
}

fn spec2(g: &Geometry, padding: (usize, usize)) -> Conv2dSpec {
    let two = |v: &[usize]| if v.len() == 1 { (1, v[0]) } else { (v[0], v[1]) };
    Conv2dSpec { stride: two(&g.strides), padding, dilation: two(&g.dilations), groups: g.group }
}

/// Adds a per-channel bias `[O]` to an `[N, O, ...]` output.
fn add_bias<B: Backend>(
    c: &Ctx<'_, B>,
    y: Val<B>,
    bias: Option<&Val<B>>,
    rank: usize,
) -> Result<Val<B>> {
    let Some(b) = bias else { return Ok(y) };
    let o = b.shape().iter().product::<usize>();
    let mut shape = vec![1; rank];
    shape[1] = o;
    let b = crate::ops::shape::reshape_val(c, b, &shape)?;
    bin_vals(c, Bin::Add, &y, &b)
}

pub(super) fn conv<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let (sx, sw) = (c.shape(0)?, c.shape(1)?);
    if !(sx.len() == 3 || sx.len() == 4) || sw.len() != sx.len() {
        return Err(
            c.err(format!("Conv of {sx:?} by {sw:?}: 1-d and 2-d convolutions are supported"))
        );
    }
    let spatial = sx.len() - 2;
    let g = geometry(c, &sx[2..], &sw[2..], false)?;
    if sx[1] != sw[1] * g.group || sw[0] % g.group != 0 {
        return Err(c.err(format!(
            "Conv of {sx:?} by {sw:?} with {} groups: channels do not fit",
            g.group
        )));
    }
    let mut x = c.var(0)?;
    let w = c.var(1)?;
    let symmetric = g.pads.iter().all(|&(a, b)| a == b);
    let padding = if symmetric {
        if spatial == 1 { (0, g.pads[0].0) } else { (g.pads[0].0, g.pads[1].0) }
    } else {
        let mut pads = vec![(0, 0); 2];
        pads.extend(g.pads.iter().copied());
        x = x.pad(&pads, 0.0)?;
        (0, 0)
    };
    let spec = spec2(&g, padding);
    // 1-d convolutions run as 2-d ones over a height of one.
    let (x4, w4) = if spatial == 1 {
        let xs = x.shape();
        (x.reshape(&[xs[0], xs[1], 1, xs[2]])?, w.reshape(&[sw[0], sw[1], 1, sw[2]])?)
    } else {
        (x, w)
    };
    let prepared = c.prepared(1, false, &w4)?;
    let unflat = |y: Var<B>| -> Result<Var<B>> {
        if spatial == 1 {
            let ys = y.shape();
            Ok(y.reshape(&[ys[0], ys[1], ys[3]])?)
        } else {
            Ok(y)
        }
    };
    if c.fuse_relu && !cloak_autograd::is_grad_enabled() {
        // Inference: the convolution, its bias and the ReLU after it in one backend call,
        // which rescales the product and compares it in one step.
        let b = c.backend;
        let bias = match c.opt(2) {
            Some(v) => {
                let o = v.shape().iter().product::<usize>();
                let t = match v {
                    Val::Private(var) => var.value(),
                    Val::Public(a, _) => b.public(a)?,
                };
                Some(b.reshape(&t, &[1, o, 1, 1])?)
            }
            None => None,
        };
        let t = b.conv2d_relu(&x4.value(), &w4.value(), prepared.as_ref(), bias.as_ref(), &spec)?;
        return Ok(Val::Private(unflat(Var::constant(b, t))?));
    }
    let y = match prepared {
        Some(p) => x4.conv2d_prepared(&w4, &p, &spec)?,
        None => x4.conv2d(&w4, &spec)?,
    };
    let y = add_bias(c, Val::Private(unflat(y)?), c.opt(2), sx.len())?;
    if !c.fuse_relu {
        return Ok(y);
    }
    // The ReLU this node applies for the step after it, recorded for a backward.
    match y {
        Val::Private(v) => Ok(Val::Private(v.relu()?)),
        Val::Public(a, d) => Ok(Val::Public(a.mapv(|v| v.max(0.0)), d)),
    }
}

pub(super) fn conv_transpose<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let (sx, sw) = (c.shape(0)?, c.shape(1)?);
    if !(sx.len() == 3 || sx.len() == 4) || sw.len() != sx.len() {
        return Err(c.err(format!("ConvTranspose of {sx:?} by {sw:?}: 1-d and 2-d are supported")));
    }
    let n = sx.len() - 2;
    let mut g = geometry(c, &sx[2..], &sw[2..], true)?;
    if sx[1] != sw[0] || sw[0] % g.group != 0 {
        return Err(c.err(format!(
            "ConvTranspose of {sx:?} by {sw:?} with {} groups: channels do not fit",
            g.group
        )));
    }
    let mut out_pad = match c.node.ints("output_padding")? {
        None => vec![0; n],
        Some(p) if p.len() == n && p.iter().all(|&v| v >= 0) => {
            p.iter().map(|&v| v as usize).collect()
        }
        Some(p) => return Err(c.node.attr_error("output_padding", format!("{p:?}"))),
    };
    let full: Vec<usize> = (0..n)
        .map(|i| g.strides[i] * (sx[2 + i] - 1) + (sw[2 + i] - 1) * g.dilations[i] + 1)
        .collect();
    if let Some(os) = c.node.ints("output_shape")? {
        let os: Vec<usize> = os.iter().rev().take(n).rev().map(|&v| v.max(0) as usize).collect();
        let upper = c.node.string_or("auto_pad", "NOTSET")? == "SAME_UPPER";
        for i in 0..n {
            let total = (full[i] + out_pad[i]).checked_sub(os[i]).ok_or_else(|| {
                c.node.attr_error(
                    "output_shape",
                    format!("{os:?} larger than the full output {full:?}"),
                )
            })?;
            let small = total / 2;
            g.pads[i] = if upper { (small, total - small) } else { (total - small, small) };
        }
        out_pad = vec![0; n];
    }
    let x4 = if n == 1 { c.var(0)?.reshape(&[sx[0], sx[1], 1, sx[2]])? } else { c.var(0)? };
    let w4 = if n == 1 { c.var(1)?.reshape(&[sw[0], sw[1], 1, sw[2]])? } else { c.var(1)? };
    let two = |v: &[usize]| if v.len() == 1 { (0, v[0]) } else { (v[0], v[1]) };
    let symmetric = g.pads.iter().all(|&(a, b)| a == b);
    let y = if symmetric {
        let begins: Vec<usize> = g.pads.iter().map(|p| p.0).collect();
        let spec = spec2(&g, two(&begins));
        x4.conv_transpose2d(&w4, &spec, two(&out_pad))?
    } else {
        let spec = spec2(&g, (0, 0));
        let mut y = x4.conv_transpose2d(&w4, &spec, two(&out_pad))?;
        for i in 0..n {
            let ax = 4 - n + i;
            let len = y.shape()[ax];
            let (b, e) = g.pads[i];
            if b + e >= len {
                return Err(c.err("pads crop the whole output"));
            }
            y = y.slice(ax, b, len - e)?;
        }
        y
    };
    let y = if n == 1 {
        let s = y.shape();
        y.reshape(&[s[0], s[1], s[3]])?
    } else {
        y
    };
    add_bias(c, Val::Private(y), c.opt(2), sx.len())
}
