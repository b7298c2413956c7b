//! Pooling. Windows that the pooling kernel supports directly (symmetric padding of at most
//! half the window, floor mode) go straight to it; every other ONNX form (asymmetric pads,
//! `ceil_mode`, `SAME_*`) becomes an explicit local pad first. Average pooling that must not
//! count padding (ONNX's default) multiplies by a public per-position factor.

use cloak_autograd::{Backend, Var};
use cloak_mpc::Pool2dSpec;
use ndarray::{ArrayD, IxDyn};

use super::Ctx;
use crate::error::Result;
use crate::value::Val;

/// What padded windows see in max pooling: far below any activation (`-2^24`), and small
/// enough that differences with it stay inside the fixed-point range.
const MAX_PAD_VALUE: f64 = -16_777_216.0;

pub(super) fn pool<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let node = c.node;
    let is_max = node.op() == "MaxPool";
    if is_max && node.proto.output.get(1).is_some_and(|o| !o.is_empty()) {
        return Err(node.attr_error("Indices", "the second output (indices) is not supported"));
    }
    let s = c.shape(0)?;
    if !(s.len() == 3 || s.len() == 4) {
        return Err(c.err(format!("pooling of {s:?}: 1-d and 2-d are supported")));
    }
    let n = s.len() - 2;
    let ks =
        node.ints("kernel_shape")?.ok_or_else(|| node.attr_error("kernel_shape", "missing"))?;
    if ks.len() != n || ks.iter().any(|&k| k < 1) {
        return Err(node.attr_error("kernel_shape", format!("{ks:?}")));
    }
    let k: Vec<usize> = ks.iter().map(|&v| v as usize).collect();
    let strides: Vec<usize> = match node.ints("strides")? {
        Some(v) if v.len() == n && v.iter().all(|&x| x >= 1) => {
            v.iter().map(|&x| x as usize).collect()
        }
        Some(v) => return Err(node.attr_error("strides", format!("{v:?}"))),
        None => vec![1; n],
    };
    if let Some(d) = node.ints("dilations")?
        && d.iter().any(|&x| x != 1)
    {
        return Err(
            node.attr_error("dilations", format!("{d:?}: dilated pooling is not supported"))
        );
    }
    let ceil = node.int_or("ceil_mode", 0)? != 0;
    let auto = node.string_or("auto_pad", "NOTSET")?;
    let input = &s[2..];
    let pads: Vec<(usize, usize)> = match auto.as_str() {
        "NOTSET" => match node.ints("pads")? {
            None => vec![(0, 0); n],
            Some(p) if p.len() == 2 * n && p.iter().all(|&x| x >= 0) => {
                (0..n).map(|i| (p[i] as usize, p[i + n] as usize)).collect()
            }
            Some(p) => return Err(node.attr_error("pads", format!("{p:?}"))),
        },
        "VALID" => vec![(0, 0); n],
        "SAME_UPPER" | "SAME_LOWER" => (0..n)
            .map(|i| {
                let out = input[i].div_ceil(strides[i]);
                let total = ((out - 1) * strides[i] + k[i]).saturating_sub(input[i]);
                let small = total / 2;
                if auto == "SAME_UPPER" { (small, total - small) } else { (total - small, small) }
            })
            .collect(),
        other => return Err(node.attr_error("auto_pad", format!("`{other}`"))),
    };
    // Output sizes, and the extra end padding ceil mode needs.
    let mut out = vec![0; n];
    let mut extra = vec![0; n];
    for i in 0..n {
        let padded = input[i] + pads[i].0 + pads[i].1;
        if padded < k[i] {
            return Err(c.err(format!("window {k:?} larger than the padded input {s:?}")));
        }
        let span = padded - k[i];
        let mut o = if ceil { span.div_ceil(strides[i]) + 1 } else { span / strides[i] + 1 };
        // The last window must start inside the input or its begin padding.
        if ceil && (o - 1) * strides[i] >= input[i] + pads[i].0 {
            o -= 1;
        }
        out[i] = o;
        extra[i] = ((o - 1) * strides[i] + k[i]).saturating_sub(padded);
    }
    let include_pad = !is_max && node.int_or("count_include_pad", 0)? != 0;
    let kernel_fits =
        (0..n).all(|i| pads[i].0 == pads[i].1 && extra[i] == 0 && pads[i].0 <= k[i] / 2);
    let two = |v: &[usize]| if v.len() == 1 { (1, v[0]) } else { (v[0], v[1]) };
    let mut x = c.var(0)?;
    if n == 1 {
        x = x.reshape(&[s[0], s[1], 1, s[2]])?;
    }
    let direct = kernel_fits && (is_max || include_pad || pads.iter().all(|&(a, _)| a == 0));
    let spec_padding = if direct {
        let p: Vec<usize> = pads.iter().map(|p| p.0).collect();
        if n == 1 { (0, p[0]) } else { (p[0], p[1]) }
    } else {
        let mut full = vec![(0, 0), (0, 0)];
        if n == 1 {
            full.push((0, 0));
        }
        full.extend((0..n).map(|i| (pads[i].0, pads[i].1 + extra[i])));
        x = x.pad(&full, if is_max { MAX_PAD_VALUE } else { 0.0 })?;
        (0, 0)
    };
    let spec = Pool2dSpec { kernel: two(&k), stride: two(&strides), padding: spec_padding };
    let mut y = if is_max { x.max_pool2d(&spec)? } else { x.avg_pool2d(&spec)? };
    if !is_max && !direct {
        // avg_pool2d divided by the window size; ONNX divides by the count of positions
        // inside the input (or inside input and pads with count_include_pad).
        let counts = |i: usize, o: usize| -> usize {
            let start = (o * strides[i]) as i64 - pads[i].0 as i64;
            let end = start + k[i] as i64;
            let (lo, hi) = if include_pad {
                (-(pads[i].0 as i64), (input[i] + pads[i].1) as i64)
            } else {
                (0, input[i] as i64)
            };
            (end.min(hi) - start.max(lo)).max(0) as usize
        };
        let window: usize = k.iter().product();
        let (oh, ow) = if n == 1 { (1, out[0]) } else { (out[0], out[1]) };
        let mut factor = ArrayD::zeros(IxDyn(&[1, 1, oh, ow]));
        for a in 0..oh {
            for b in 0..ow {
                let cnt = if n == 1 { counts(0, b) } else { counts(0, a) * counts(1, b) };
                factor[[0, 0, a, b]] = window as f64 / cnt.max(1) as f64;
            }
        }
        if factor.iter().any(|&f| f != 1.0) {
            let ys = y.shape();
            let f = factor
                .broadcast(IxDyn(&ys))
                .map(|v| v.to_owned())
                .ok_or_else(|| c.err("pool factor shape"))?;
            y = y.mul_public(&f)?;
        }
    }
    if n == 1 {
        let ys = y.shape();
        y = y.reshape(&[ys[0], ys[1], ys[3]])?;
    }
    Ok(Val::Private(y))
}

pub(super) fn global_pool<B: Backend>(c: &Ctx<'_, B>) -> Result<Val<B>> {
    let s = c.shape(0)?;
    if s.len() < 3 {
        return Err(c.err(format!("global pooling of {s:?}")));
    }
    let x: Var<B> = c.var(0)?;
    let spatial: usize = s[2..].iter().product();
    let mut out_shape = s[..2].to_vec();
    out_shape.extend(std::iter::repeat_n(1, s.len() - 2));
    let y = if c.node.op() == "GlobalAveragePool" {
        if s.len() == 4 {
            x.global_avg_pool2d()?
        } else {
            x.reshape(&[s[0], s[1], spatial])?.mean(2, true)?
        }
    } else {
        x.reshape(&[s[0], s[1], spatial])?.max(2, true)?
    };
    Ok(Val::Private(y.reshape(&out_shape)?))
}
