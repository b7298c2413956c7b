//! The transformer layers: on the plain backend against their definitions written out in
//! f64 (and the composed block's gradients against finite differences); on secret shares
//! against the plain backend, forward and the gradients of the input and of every
//! parameter, for 2 and 3 parties; masks; long rows; typed errors.
//!
//! Tolerances for the secure runs, from the fixed-point unit `u = 2^-16 = 1.5e-5` and the
//! approximations' documented bounds (the largest errors measured over repeated runs are in
//! brackets; each test prints its own with `--nocapture`):
//! - the embedding lookup: one truncation per product, `1e-4` absolute (1.3e-5);
//! - positions and pooling: each gradient element sums up to 6 paths truncated once or
//!   twice, at most 12 units: `2e-4` absolute (4.4e-5);
//! - LayerNorm: its inverse square root is within `4.9e-4` relative (degree-3 series), and
//!   outputs and gradients are linear in the normalised values: `1e-3 + 1e-3 |ref|`
//!   (8.1e-4 on weight gradients of size 4.2, 2.5e-4 on outputs);
//! - GELU: see the two tests;
//! - attention: each softmax weight is within a few units, then multiplied by values below
//!   2, projected, and summed over 5 keys and 10 tokens for the weight gradients: `1e-3`
//!   absolute (3.9e-4 on gradients of size 4);
//! - encoder blocks: two layer norms (each `5e-4` relative) around the attention and
//!   feed-forward errors, the second norm dividing by the spread of its input:
//!   `5e-3 + 1e-3 |ref|` (2.7e-3 on gradients of size 3.6, 1.3e-3 on outputs of size 3).
//!
//! ReLU's derivative jumps at 0: the ReLU block's inputs are checked to stay away from it
//! by far more than the secure error, so that both backends take the same branch.

mod common;

use cloak_autograd::{Backend, Var};
use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_nn::layers::{
    AttentionMask, AttnMask, Embedding, EncoderLayerConfig, FeedForwardActivation, GELU,
    GeluApproximate, LayerNorm, MASKED_SCORE, MultiheadAttention, PositionalEmbedding,
    SinusoidalEncoding, TokenPool, Tokens, TransformerEncoder, TransformerEncoderLayer, one_hot,
};
use cloak_nn::{Init, Module, ModuleExt, NnError, StateDict};
use common::{TestRng, close, plain, secure};
use ndarray::{Array2, ArrayD, Axis, IxDyn, s};

type Named = Vec<(String, ArrayD<f64>)>;

// ----- helpers ---------------------------------------------------------------------------

/// A private input of party 1 (party 0 for the plain backend) that gradients flow to.
fn input<B: Backend>(b: &B, v: &ArrayD<f64>) -> Var<B> {
    let owner = if b.parties() == 1 { 0 } else { 1 };
    let mine = b.rank() == owner;
    Var::leaf(b, b.input(owner, mine.then_some(v), v.shape()).unwrap(), true)
}

/// Replaces every parameter of `m` with seeded values (party 0 owns them): norm weights in
/// `[0.5, 1.5]`, everything else in `[-r, r]`; so that no parameter is a trivial 0 or 1.
fn randomize<B: Backend>(b: &B, m: &dyn Module<B>, seed: u64, r: f64) -> cloak_nn::Result<()> {
    let mut rng = TestRng::new(seed);
    let mut state = StateDict::new();
    for (name, v, _) in m.named_tensors() {
        let is_norm_weight = name.ends_with("weight") && name.contains("norm");
        let (lo, hi) = if is_norm_weight { (0.5, 1.5) } else { (-r, r) };
        state.insert(name, rng.array(&v.shape(), lo, hi));
    }
    m.load_state(0, (b.rank() == 0).then_some(&state))
}

/// Backpropagates `<seed, y>` and returns `y`, the input's gradient and every parameter's
/// gradient, named.
fn forward_and_grads<B: Backend>(
    b: &B,
    m: &dyn Module<B>,
    x: &Var<B>,
    y: &Var<B>,
    seed: u64,
) -> cloak_nn::Result<Named> {
    let r = TestRng::new(seed).array(&y.shape(), -1.0, 1.0);
    y.backward_with(b.public(&r)?)?;
    let mut out = vec![("output".to_string(), b.reveal(&y.value())?)];
    if x.requires_grad() {
        out.push(("input.grad".to_string(), b.reveal(&x.grad()?)?));
    }
    for (name, p) in m.named_parameters() {
        out.push((format!("{name}.grad"), b.reveal(&p.grad()?)?));
    }
    Ok(out)
}

/// The largest `|got - want| - rel |want|` over all tensors, after checking each against
/// `abs + rel |want|`; the plain tensors must not be trivially zero.
fn compare(what: &str, got: &Named, want: &Named, abs: f64, rel: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: tensor count");
    let mut worst = f64::MIN;
    for ((gn, g), (wn, w)) in got.iter().zip(want) {
        assert_eq!(gn, wn);
        assert!(w.iter().any(|v| v.abs() > 1e-3), "{what} {wn} is trivially zero: {w}");
        let (mut here, mut err, mut size) = (f64::MIN, 0.0f64, 0.0f64);
        for (a, b) in g.iter().zip(w) {
            here = here.max((a - b).abs() - rel * b.abs());
            err = err.max((a - b).abs());
            size = size.max(b.abs());
        }
        println!("  {what} {gn}: error {err:.2e}, largest value {size:.2}");
        worst = worst.max(here);
        close(&format!("{what} {gn}"), g, w, abs, rel);
    }
    worst
}

/// Runs a case on the plain backend and on 2 and 3 parties and compares.
macro_rules! against_plain {
    ($case:ident, $abs:expr, $rel:expr) => {{
        let want = plain(|b| $case(b));
        for parties in [2, 3] {
            let got = secure(parties, |b| $case(b));
            let what = format!("{} ({parties} parties)", stringify!($case));
            let worst = compare(&what, &got, &want, $abs, $rel);
            println!("{what}: largest error beyond the relative part {worst:.2e}");
        }
        want
    }};
}

// ----- f64 references --------------------------------------------------------------------

/// The error function by its Maclaurin series (enough terms for `|x| <= 5`; the
/// cancellation costs at most 1e-9 there).
fn erf_ref(x: f64) -> f64 {
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x * x / n as f64;
        let t = term / (2 * n + 1) as f64;
        sum += t;
        if t.abs() < 1e-17 {
            break;
        }
    }
    sum * std::f64::consts::FRAC_2_SQRT_PI
}

fn gelu_ref(x: f64, tanh: bool) -> f64 {
    if tanh {
        let k = (2.0 / std::f64::consts::PI).sqrt();
        0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
    } else {
        0.5 * x * (1.0 + erf_ref(x / 2f64.sqrt()))
    }
}

/// `x W^T + b` over the last axis of `x`.
fn linear_ref(x: &ArrayD<f64>, w: &ArrayD<f64>, b: Option<&ArrayD<f64>>) -> ArrayD<f64> {
    let (o, i) = (w.shape()[0], w.shape()[1]);
    let rows = x.len() / i;
    let x2 = x.to_shape((rows, i)).unwrap();
    let w2 = w.to_shape((o, i)).unwrap();
    let mut y = x2.dot(&w2.t());
    if let Some(b) = b {
        y += &b.to_shape(o).unwrap();
    }
    let mut shape = x.shape().to_vec();
    *shape.last_mut().unwrap() = o;
    y.into_shape_with_order(IxDyn(&shape)).unwrap()
}

/// Layer norm over the last axis with the biased variance.
fn layer_norm_ref(x: &ArrayD<f64>, w: &ArrayD<f64>, b: &ArrayD<f64>, eps: f64) -> ArrayD<f64> {
    let d = *x.shape().last().unwrap();
    let mut y = x.clone();
    for mut row in y.lanes_mut(Axis(x.ndim() - 1)) {
        let mean = row.sum() / d as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
        for (k, v) in row.iter_mut().enumerate() {
            *v = (*v - mean) / (var + eps).sqrt() * w[[k]] + b[[k]];
        }
    }
    y
}

/// Multi-head self-attention of `x` `[N, L, E]`, with `mask(n, i, j)` added to the score of
/// query `i` and key `j` of sequence `n` (`-inf` masks); returns the output and the weights
/// `[N, H, L, L]`.
fn attention_ref(
    x: &ArrayD<f64>,
    p: &StateDict,
    prefix: &str,
    heads: usize,
    mask: &dyn Fn(usize, usize, usize) -> f64,
) -> (ArrayD<f64>, ArrayD<f64>) {
    let get = |n: &str| &p[&format!("{prefix}{n}")];
    let (n, l, e) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let dh = e / heads;
    let qkv = linear_ref(x, get("in_proj_weight"), Some(get("in_proj_bias")));
    let mut ctx = ArrayD::zeros(IxDyn(&[n, l, e]));
    let mut weights = ArrayD::zeros(IxDyn(&[n, heads, l, l]));
    for b in 0..n {
        for h in 0..heads {
            let q = |i: usize, c: usize| qkv[[b, i, h * dh + c]];
            let k = |j: usize, c: usize| qkv[[b, j, e + h * dh + c]];
            let v = |j: usize, c: usize| qkv[[b, j, 2 * e + h * dh + c]];
            for i in 0..l {
                let scores: Vec<f64> = (0..l)
                    .map(|j| {
                        let dot = (0..dh).map(|c| q(i, c) * k(j, c)).sum::<f64>();
                        dot / (dh as f64).sqrt() + mask(b, i, j)
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                for j in 0..l {
                    let wgt = (scores[j] - max).exp() / z;
                    weights[[b, h, i, j]] = wgt;
                    for c in 0..dh {
                        ctx[[b, i, h * dh + c]] += wgt * v(j, c);
                    }
                }
            }
        }
    }
    let out = linear_ref(&ctx, get("out_proj.weight"), Some(get("out_proj.bias")));
    (out, weights)
}

/// The encoder block written out, with ReLU or exact GELU.
fn encoder_ref(
    x: &ArrayD<f64>,
    p: &StateDict,
    heads: usize,
    norm_first: bool,
    gelu: bool,
    mask: &dyn Fn(usize, usize, usize) -> f64,
) -> ArrayD<f64> {
    let ln = |x: &ArrayD<f64>, k: &str| {
        layer_norm_ref(x, &p[&format!("{k}.weight")], &p[&format!("{k}.bias")], 1e-5)
    };
    let sa = |x: &ArrayD<f64>| attention_ref(x, p, "self_attn.", heads, mask).0;
    let ff = |x: &ArrayD<f64>| {
        let h = linear_ref(x, &p["linear1.weight"], Some(&p["linear1.bias"]));
        let h = if gelu { h.mapv(|v| gelu_ref(v, false)) } else { h.mapv(|v| v.max(0.0)) };
        linear_ref(&h, &p["linear2.weight"], Some(&p["linear2.bias"]))
    };
    if norm_first {
        let x = x + &sa(&ln(x, "norm1"));
        &x + &ff(&ln(&x, "norm2"))
    } else {
        let x = ln(&(x + &sa(x)), "norm1");
        ln(&(&x + &ff(&x)), "norm2")
    }
}

/// Sequence 1 pads its last two tokens of 5.
fn padding() -> ArrayD<bool> {
    ArrayD::from_shape_fn(IxDyn(&[2, 5]), |ix| ix[0] == 1 && ix[1] >= 3)
}

fn small_config(norm_first: bool, activation: FeedForwardActivation) -> EncoderLayerConfig {
    EncoderLayerConfig {
        dim_feedforward: 16,
        dropout: 0.0,
        activation,
        norm_first,
        ..EncoderLayerConfig::new(8, 2)
    }
}

// ----- plain backend against the definitions ---------------------------------------------

#[test]
fn parameter_names_are_pytorchs() {
    let names = plain(|b| {
        let mut init = Init::new(b, 0, 1);
        let cfg = EncoderLayerConfig::new(8, 2);
        let enc = TransformerEncoder::new(&mut init, &cfg, 2, true, 0)?;
        let emb = Embedding::new(&mut init, 11, 8)?;
        Ok((enc.named_tensors(), emb.named_parameters()))
    });
    let layer: Vec<&str> = vec![
        "self_attn.in_proj_weight",
        "self_attn.in_proj_bias",
        "self_attn.out_proj.weight",
        "self_attn.out_proj.bias",
        "linear1.weight",
        "linear1.bias",
        "linear2.weight",
        "linear2.bias",
        "norm1.weight",
        "norm1.bias",
        "norm2.weight",
        "norm2.bias",
    ];
    let mut want: Vec<String> = Vec::new();
    for i in 0..2 {
        want.extend(layer.iter().map(|n| format!("layers.{i}.{n}")));
    }
    want.extend(["norm.weight".to_string(), "norm.bias".to_string()]);
    let got: Vec<String> = names.0.iter().map(|(n, _, _)| n.clone()).collect();
    assert_eq!(got, want);
    let shapes: Vec<Vec<usize>> = names.0.iter().take(12).map(|(_, v, _)| v.shape()).collect();
    let want_shapes: Vec<Vec<usize>> = vec![
        vec![24, 8],
        vec![24],
        vec![8, 8],
        vec![8],
        vec![2048, 8],
        vec![2048],
        vec![8, 2048],
        vec![8],
        vec![8],
        vec![8],
        vec![8],
        vec![8],
    ];
    assert_eq!(shapes, want_shapes);
    assert_eq!(names.1[0].0, "weight");
    assert_eq!(names.1[0].1.shape(), vec![11, 8]);
}

#[test]
fn initialisation_follows_pytorch() {
    let (in_w, in_b, emb) = plain(|b| {
        let mut init = Init::new(b, 0, 5);
        let mha = MultiheadAttention::new(&mut init, 64, 4, true)?;
        let emb = Embedding::new(&mut init, 100, 64)?;
        Ok((mha.in_proj_weight.value(), mha.in_proj_bias.unwrap().value(), emb.weight.value()))
    });
    // Xavier uniform on [192, 64]: bound sqrt(6 / 256).
    let bound = (6.0f64 / 256.0).sqrt();
    assert!(in_w.iter().all(|v| v.abs() <= bound));
    assert!(in_w.iter().any(|v| v.abs() > 0.9 * bound));
    assert!(in_b.iter().all(|&v| v == 0.0));
    // N(0, 1) over 6400 values: the mean within 4 standard errors (0.05), the variance
    // within 0.1 of 1.
    let n = emb.len() as f64;
    let mean = emb.sum() / n;
    let var = emb.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.1, "mean {mean}, variance {var}");
}

#[test]
fn layer_norm_matches_its_definition() {
    let x = TestRng::new(1).array(&[2, 5, 8], -2.0, 2.0);
    let (y, w, bias, y2) = plain(|b| {
        let mut init = Init::new(b, 0, 0);
        let ln = LayerNorm::new(&mut init, &[8])?;
        randomize(b, &ln, 3, 0.5)?;
        let y = ln.forward(&Var::constant(b, x.clone()))?.value();
        // Two normalised axes: the same as one over their product.
        let ln2 = LayerNorm::with_options(&mut init, &[5, 8], 1e-5, false, false)?;
        let y2 = ln2.forward(&Var::constant(b, x.clone()))?.value();
        Ok((y, ln.weight.unwrap().value(), ln.bias.unwrap().value(), y2))
    });
    close("layer norm", &y, &layer_norm_ref(&x, &w, &bias, 1e-5), 1e-12, 0.0);
    let flat = x.to_shape((2, 40)).unwrap().to_owned().into_dyn();
    let ones = ArrayD::ones(IxDyn(&[40]));
    let zeros = ArrayD::zeros(IxDyn(&[40]));
    let want2 = layer_norm_ref(&flat, &ones, &zeros, 1e-5);
    close(
        "layer norm over 2 axes",
        &y2.to_shape((2, 40)).unwrap().to_owned().into_dyn(),
        &want2,
        1e-12,
        0.0,
    );
}

#[test]
fn gelu_matches_both_definitions() {
    let x = TestRng::new(2).array(&[64], -5.0, 5.0);
    let (exact, tanh) = plain(|b| {
        let v = Var::constant(b, x.clone());
        Ok((
            GELU::new(GeluApproximate::None).forward(&v)?.value(),
            GELU::new(GeluApproximate::Tanh).forward(&v)?.value(),
        ))
    });
    close("gelu", &exact, &x.mapv(|v| gelu_ref(v, false)), 1e-9, 0.0);
    close("gelu tanh", &tanh, &x.mapv(|v| gelu_ref(v, true)), 1e-12, 0.0);
    // The two forms differ by at most 5e-4 (PyTorch's documentation of the approximation).
    close("gelu forms", &tanh, &exact, 5e-4, 0.0);
}

#[test]
fn embedding_looks_up_rows_for_public_and_private_ids() {
    let ids = [3usize, 0, 6, 3, 1, 2];
    let (public, private, onehot, w) = plain(|b| {
        let emb = Embedding::new(&mut Init::new(b, 0, 4), 7, 4)?;
        let public = emb.embed(Tokens::Public(&ids), &[2, 3])?.value();
        let private = emb.embed(Tokens::Private { owner: 0, ids: Some(&ids) }, &[2, 3])?.value();
        let hot = Var::constant(b, one_hot(&ids, &[2, 3], 7)?);
        Ok((public, private, emb.forward(&hot)?.value(), emb.weight.value()))
    });
    assert_eq!(public.shape(), &[2, 3, 4]);
    for (k, &id) in ids.iter().enumerate() {
        let got = public.slice(s![k / 3, k % 3, ..]);
        assert_eq!(got, w.slice(s![id, ..]));
    }
    assert_eq!(private, public);
    close("one-hot product", &onehot, &public, 1e-15, 0.0);
}

#[test]
fn positions_add_a_learned_row_or_the_sinusoids() {
    let x = TestRng::new(3).array(&[2, 5, 6], -1.0, 1.0);
    let (learned, table, sinus) = plain(|b| {
        let pos = PositionalEmbedding::new(&mut Init::new(b, 0, 8), 7, 6)?;
        let v = Var::constant(b, x.clone());
        let sinus = SinusoidalEncoding::new(6)?.forward(&v)?.value();
        Ok((pos.forward(&v)?.value(), pos.weight.value(), sinus))
    });
    for n in 0..2 {
        for p in 0..5 {
            for j in 0..6 {
                assert_eq!(learned[[n, p, j]], x[[n, p, j]] + table[[p, j]]);
                let angle = p as f64 / 10000f64.powf((j / 2 * 2) as f64 / 6.0);
                let pe = if j % 2 == 0 { angle.sin() } else { angle.cos() };
                assert!((sinus[[n, p, j]] - x[[n, p, j]] - pe).abs() < 1e-15);
            }
        }
    }
}

#[test]
fn token_pooling_takes_the_masked_mean_or_the_first_token() {
    let x = TestRng::new(4).array(&[2, 5, 3], -1.0, 1.0);
    let pad = padding();
    let (mean, masked, first) = plain(|b| {
        let v = Var::constant(b, x.clone());
        Ok((
            TokenPool::mean().forward(&v)?.value(),
            TokenPool::mean().forward_masked(&v, Some(&pad))?.value(),
            TokenPool::first().forward_masked(&v, Some(&pad))?.value(),
        ))
    });
    for n in 0..2 {
        let kept = if n == 1 { 3 } else { 5 };
        for c in 0..3 {
            let all = (0..5).map(|t| x[[n, t, c]]).sum::<f64>() / 5.0;
            let some = (0..kept).map(|t| x[[n, t, c]]).sum::<f64>() / kept as f64;
            assert!((mean[[n, c]] - all).abs() < 1e-15);
            assert!((masked[[n, c]] - some).abs() < 1e-15);
            assert_eq!(first[[n, c]], x[[n, 0, c]]);
        }
    }
}

#[test]
fn attention_with_masks_matches_its_definition() {
    let x = TestRng::new(5).array(&[2, 5, 8], -1.0, 1.0);
    let pad = padding();
    // Causal and key padding; and an additive mask with -inf and a finite bias.
    let causal = AttentionMask::causal(5).with_key_padding(pad.clone());
    let bias = ArrayD::from_shape_fn(IxDyn(&[5, 5]), |ix| match (ix[0], ix[1]) {
        (_, 4) => f64::NEG_INFINITY,
        (i, j) => 0.1 * (i as f64 - j as f64),
    });
    let additive = AttentionMask::none().with_attn(AttnMask::Additive(bias.clone()));
    let (outs, state) = plain(|b| {
        let mha = MultiheadAttention::new(&mut Init::new(b, 0, 6), 8, 2, true)?;
        randomize(b, &mha, 7, 0.5)?;
        let v = Var::constant(b, x.clone());
        let mut outs = Vec::new();
        for m in [&AttentionMask::none(), &causal, &additive] {
            let (o, w) = mha.attention(&v, &v, &v, m)?;
            outs.push((o.value(), w.value()));
        }
        let state: StateDict =
            mha.named_tensors().into_iter().map(|(n, v, _)| (n, v.value())).collect();
        Ok((outs, state))
    });
    let inf = f64::NEG_INFINITY;
    let none = |_: usize, _: usize, _: usize| 0.0;
    let causal_pad =
        |n: usize, i: usize, j: usize| if j > i || (n == 1 && j >= 3) { inf } else { 0.0 };
    let biased = |_: usize, i: usize, j: usize| bias[[i, j]];
    let (want, want_w) = attention_ref(&x, &state, "", 2, &none);
    close("attention", &outs[0].0, &want, 1e-12, 0.0);
    close("attention weights", &outs[0].1, &want_w, 1e-12, 0.0);
    let (want, want_w) = attention_ref(&x, &state, "", 2, &causal_pad);
    close("causal padded attention", &outs[1].0, &want, 1e-12, 0.0);
    close("causal padded weights", &outs[1].1, &want_w, 1e-12, 0.0);
    let (want, want_w) = attention_ref(&x, &state, "", 2, &biased);
    close("attention with an additive mask", &outs[2].0, &want, 1e-12, 0.0);
    close("additive mask weights", &outs[2].1, &want_w, 1e-12, 0.0);
    let w = &outs[2].1;
    for n in 0..2 {
        for h in 0..2 {
            for i in 0..5 {
                assert!(w[[n, h, i, 4]] < 1e-100, "a masked key has no weight");
                let row: f64 = (0..5).map(|j| w[[n, h, i, j]]).sum();
                assert!((row - 1.0).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn unbatched_inputs_match_a_batch_of_one() {
    let x = TestRng::new(15).array(&[5, 8], -1.0, 1.0);
    let pad = ArrayD::from_shape_fn(IxDyn(&[5]), |ix| ix[0] >= 3);
    let (single, batch) = plain(|b| {
        let cfg = small_config(false, FeedForwardActivation::Relu);
        let layer = TransformerEncoderLayer::new(&mut Init::new(b, 0, 16), &cfg, 0)?;
        let one = Var::constant(b, x.clone());
        let single = layer.forward_masked(&one, &AttentionMask::key_padding(pad.clone()))?;
        let batched = Var::constant(b, x.clone().insert_axis(Axis(0)));
        let mask = AttentionMask::key_padding(pad.clone().insert_axis(Axis(0)));
        Ok((single.value(), layer.forward_masked(&batched, &mask)?.value()))
    });
    assert_eq!(single.shape(), &[5, 8]);
    assert_eq!(single.insert_axis(Axis(0)), batch);
}

#[test]
fn encoder_blocks_match_their_definition() {
    let x = TestRng::new(8).array(&[2, 5, 8], -1.5, 1.5);
    let pad = padding();
    let masked =
        |n: usize, _i: usize, j: usize| if n == 1 && j >= 3 { f64::NEG_INFINITY } else { 0.0 };
    for norm_first in [false, true] {
        for gelu in [false, true] {
            let act = if gelu {
                FeedForwardActivation::Gelu(GeluApproximate::None)
            } else {
                FeedForwardActivation::Relu
            };
            let (y, state) = plain(|b| {
                let layer = TransformerEncoderLayer::new(
                    &mut Init::new(b, 0, 9),
                    &small_config(norm_first, act),
                    0,
                )?;
                randomize(b, &layer, 10, 0.5)?;
                layer.eval();
                let y = layer
                    .forward_masked(
                        &Var::constant(b, x.clone()),
                        &AttentionMask::key_padding(pad.clone()),
                    )?
                    .value();
                let state: StateDict =
                    layer.named_tensors().into_iter().map(|(n, v, _)| (n, v.value())).collect();
                Ok((y, state))
            });
            let want = encoder_ref(&x, &state, 2, norm_first, gelu, &masked);
            close(&format!("encoder norm_first={norm_first} gelu={gelu}"), &y, &want, 1e-9, 0.0);
        }
    }
}

/// Central differences of `<r, block(x)>` against the plain backward, for the input and
/// two parameters of a pre-norm GELU block with a padding mask (smooth everywhere, so the
/// differences converge).
#[test]
fn encoder_block_gradients_match_finite_differences() {
    let x = TestRng::new(11).array(&[2, 5, 8], -1.5, 1.5);
    let r = TestRng::new(12).array(&[2, 5, 8], -1.0, 1.0);
    let mask = AttentionMask::key_padding(padding());
    let cfg = small_config(true, FeedForwardActivation::Gelu(GeluApproximate::Tanh));
    plain(|b| {
        let layer = TransformerEncoderLayer::new(&mut Init::new(b, 0, 13), &cfg, 0)?;
        randomize(b, &layer, 14, 0.5)?;
        let loss = |xv: &ArrayD<f64>| -> cloak_nn::Result<f64> {
            let y = layer.forward_masked(&Var::constant(b, xv.clone()), &mask)?.value();
            Ok((&y * &r).sum())
        };
        let xv = Var::leaf(b, x.clone(), true);
        layer.forward_masked(&xv, &mask)?.backward_with(r.clone())?;
        let gx = xv.grad()?;
        let h = 1e-5;
        for k in [0usize, 13, 41, 77] {
            let (mut up, mut down) = (x.clone(), x.clone());
            up.as_slice_mut().unwrap()[k] += h;
            down.as_slice_mut().unwrap()[k] -= h;
            let fd = (loss(&up)? - loss(&down)?) / (2.0 * h);
            let g = gx.as_slice().unwrap()[k];
            assert!((fd - g).abs() < 1e-6 * (1.0 + g.abs()), "input {k}: fd {fd}, grad {g}");
        }
        for p in [&layer.self_attn.in_proj_weight, &layer.norm2.weight.as_ref().unwrap().clone()] {
            let g = p.grad()?;
            let base = p.value();
            for k in [1usize, 5] {
                let bump = |d: f64| -> cloak_nn::Result<f64> {
                    let mut v = base.clone();
                    v.as_slice_mut().unwrap()[k] += d;
                    p.set_value(v)?;
                    loss(&x)
                };
                let fd = (bump(h)? - bump(-h)?) / (2.0 * h);
                p.set_value(base.clone())?;
                let gk = g.as_slice().unwrap()[k];
                assert!((fd - gk).abs() < 1e-6 * (1.0 + gk.abs()), "param {k}: fd {fd}, grad {gk}");
            }
        }
        Ok(())
    });
}

// ----- secret shares against the plain backend -------------------------------------------

fn case_layer_norm<B: Backend>(b: &B) -> cloak_nn::Result<Named> {
    let ln = LayerNorm::new(&mut Init::new(b, 0, 20), &[8])?;
    randomize(b, &ln, 21, 0.5)?;
    let x = input(b, &TestRng::new(22).array(&[2, 5, 8], -2.0, 2.0));
    let y = ln.forward(&x)?;
    forward_and_grads(b, &ln, &x, &y, 23)
}

#[test]
fn layer_norm_matches_plain_for_2_and_3_parties() {
    against_plain!(case_layer_norm, 1e-3, 1e-3);
}

fn gelu_case<B: Backend>(b: &B, approx: GeluApproximate) -> cloak_nn::Result<Named> {
    let x = input(b, &TestRng::new(24).array(&[2, 5, 8], -4.0, 4.0));
    let y = GELU::new(approx).forward(&x)?;
    forward_and_grads(b, &GELU::new(approx), &x, &y, 25)
}

fn case_gelu_erf<B: Backend>(b: &B) -> cloak_nn::Result<Named> {
    gelu_case(b, GeluApproximate::None)
}

fn case_gelu_tanh<B: Backend>(b: &B) -> cloak_nn::Result<Named> {
    gelu_case(b, GeluApproximate::Tanh)
}

/// The exact form: `erf` within `3e-5`, its derivative through `exp` within about `1e-4`
/// relative; measured 3.3e-5 and 6.6e-5.
#[test]
fn gelu_matches_plain_for_2_and_3_parties() {
    against_plain!(case_gelu_erf, 2e-4, 0.0);
}

/// The tanh form: `tanh` is within `dt = 1.6e-4` near its saturation bound (twice the
/// sigmoid's error there), and GELU's derivative multiplies `1 - tanh^2` by
/// `x sqrt(2/pi) (1 + 3 0.044715 x^2) / 2`, about 5 at `|x| = 4`: gradients within
/// `(0.5 + 2 * 5) dt = 1.7e-3`; measured up to 6.1e-4.
#[test]
fn gelu_tanh_matches_plain_for_2_and_3_parties() {
    against_plain!(case_gelu_tanh, 2e-3, 0.0);
}

/// The owner's private ids, the public path, and the one-hot layer input, with the weight
/// gradient of each.
fn case_embedding<B: Backend>(b: &B) -> cloak_nn::Result<Named> {
    let ids = [3usize, 0, 6, 3, 1, 2, 6, 6, 5, 4];
    let owner = if b.parties() == 1 { 0 } else { 1 };
    let mine = (b.rank() == owner).then_some(&ids[..]);
    let mut out = Vec::new();
    for public in [false, true] {
        let emb = Embedding::new(&mut Init::new(b, 0, 26), 7, 4)?;
        let tokens =
            if public { Tokens::Public(&ids) } else { Tokens::Private { owner, ids: mine } };
        let y = emb.embed(tokens, &[2, 5])?;
        let x = Var::constant(b, b.zeros(&[1]));
        let named = forward_and_grads(b, &emb, &x, &y, 27)?;
        out.extend(named.into_iter().map(|(n, v)| (format!("public={public} {n}"), v)));
    }
    Ok(out)
}

#[test]
fn embedding_matches_plain_for_2_and_3_parties() {
    let want = against_plain!(case_embedding, 1e-4, 0.0);
    // The private lookup and the public one agree on the plain backend.
    assert_eq!(want[0].1, want[2].1);
    assert_eq!(want[1].1, want[3].1);
}

fn case_positions_and_pooling<B: Backend>(b: &B) -> cloak_nn::Result<Named> {
    let pos = PositionalEmbedding::new(&mut Init::new(b, 0, 28), 6, 8)?;
    randomize(b, &pos, 29, 1.0)?;
    let x = input(b, &TestRng::new(30).array(&[2, 5, 8], -1.0, 1.0));
    let h = SinusoidalEncoding::new(8)?.forward(&pos.forward(&x)?)?;
    let pad = padding();
    let pooled = Var::concat(
        &[
            &TokenPool::mean().forward_masked(&h, Some(&pad))?,
            &TokenPool::mean().forward(&h)?,
            &TokenPool::first().forward(&h)?,
        ],
        1,
    )?;
    forward_and_grads(b, &pos, &x, &pooled, 31)
}

#[test]
fn positions_and_pooling_match_plain_for_2_and_3_parties() {
    against_plain!(case_positions_and_pooling, 2e-4, 0.0);
}

/// Self-attention under a causal mask with padding, and attention of a query over a
/// different memory under an additive mask, with every gradient.
fn case_attention<B: Backend>(b: &B) -> cloak_nn::Result<Named> {
    let mha = MultiheadAttention::new(&mut Init::new(b, 0, 32), 8, 2, true)?;
    randomize(b, &mha, 33, 0.5)?;
    let mut rng = TestRng::new(34);
    let x = input(b, &rng.array(&[2, 5, 8], -1.5, 1.5));
    let memory = input(b, &rng.array(&[2, 4, 8], -1.5, 1.5));
    let causal = AttentionMask::causal(5).with_key_padding(padding());
    let bias = rng.array(&[2 * 2, 5, 4], -1.0, 1.0);
    let mut additive = bias.clone();
    additive.slice_mut(s![.., .., 0]).fill(f64::NEG_INFINITY);
    let cross = AttentionMask::none().with_attn(AttnMask::Additive(additive));
    let (y1, w1) = mha.attention(&x, &x, &x, &causal)?;
    let (y2, w2) = mha.attention(&x, &memory, &memory, &cross)?;
    let flat = |v: &Var<B>| v.reshape(&[v.numel()]);
    let all = Var::concat(&[&flat(&y1)?, &flat(&w1)?, &flat(&y2)?, &flat(&w2)?], 0)?;
    let mut out = forward_and_grads(b, &mha, &x, &all, 35)?;
    out.push(("memory.grad".into(), b.reveal(&memory.grad()?)?));
    Ok(out)
}

#[test]
fn attention_with_masks_matches_plain_for_2_and_3_parties() {
    let want = against_plain!(case_attention, 1e-3, 0.0);
    // The weights of masked keys are `exp(-256)` of the others' in f64, 0 for all purposes
    // (and within a few units on shares, by the comparison above).
    let all = &want[0].1;
    let (y, w) = (2 * 5 * 8, 2 * 2 * 5 * 5);
    let w1 = all.slice(s![y..y + w]).to_shape((2, 2, 5, 5)).unwrap().to_owned();
    assert!(w1[[0, 0, 1, 2]] < 1e-100, "causal");
    assert!(w1[[1, 1, 4, 3]] < 1e-100, "padding");
}

fn case_encoder<B: Backend>(
    b: &B,
    norm_first: bool,
    act: FeedForwardActivation,
) -> cloak_nn::Result<Named> {
    let layer =
        TransformerEncoderLayer::new(&mut Init::new(b, 0, 36), &small_config(norm_first, act), 0)?;
    randomize(b, &layer, 37, 0.5)?;
    layer.eval();
    let x = input(b, &TestRng::new(52).array(&[2, 5, 8], -1.5, 1.5));
    let y = layer.forward_masked(&x, &AttentionMask::key_padding(padding()))?;
    forward_and_grads(b, &layer, &x, &y, 39)
}

fn case_post_norm_relu<B: Backend>(b: &B) -> cloak_nn::Result<Named> {
    case_encoder(b, false, FeedForwardActivation::Relu)
}

fn case_pre_norm_gelu<B: Backend>(b: &B) -> cloak_nn::Result<Named> {
    case_encoder(b, true, FeedForwardActivation::Gelu(GeluApproximate::None))
}

#[test]
fn post_norm_relu_block_matches_plain_for_2_and_3_parties() {
    // The feed-forward pre-activations stay away from ReLU's kink by 5x their worst secure
    // error (8 weights of at most 0.5 times the norm's error of 1e-3: 4e-3).
    let nearest = plain(|b| {
        let layer = TransformerEncoderLayer::new(
            &mut Init::new(b, 0, 36),
            &small_config(false, FeedForwardActivation::Relu),
            0,
        )?;
        randomize(b, &layer, 37, 0.5)?;
        let x = Var::constant(b, TestRng::new(52).array(&[2, 5, 8], -1.5, 1.5));
        let mask = AttentionMask::key_padding(padding());
        let h = layer.norm1.forward(&x.add(&layer.self_attn.forward_masked(&x, &mask)?)?)?;
        let pre = layer.linear1.forward(&h)?.value();
        Ok(pre.iter().fold(f64::MAX, |m, v| m.min(v.abs())))
    });
    assert!(nearest > 2e-2, "a pre-activation at {nearest} is too near 0");
    against_plain!(case_post_norm_relu, 5e-3, 1e-3);
}

#[test]
fn pre_norm_gelu_block_matches_plain_for_2_and_3_parties() {
    against_plain!(case_pre_norm_gelu, 5e-3, 1e-3);
}

/// Training mode with dropout: the masks are public and drawn alike on both backends, so
/// the private block still matches the plain one, and dropout changes the output.
fn case_dropout<B: Backend>(b: &B) -> cloak_nn::Result<Named> {
    let cfg = EncoderLayerConfig {
        dropout: 0.25,
        ..small_config(true, FeedForwardActivation::Gelu(GeluApproximate::Tanh))
    };
    let layer = TransformerEncoderLayer::new(&mut Init::new(b, 0, 42), &cfg, 7)?;
    randomize(b, &layer, 43, 0.5)?;
    let x = input(b, &TestRng::new(44).array(&[2, 5, 8], -1.5, 1.5));
    let y = layer.forward_masked(&x, &AttentionMask::key_padding(padding()))?;
    let mut out = forward_and_grads(b, &layer, &x, &y, 45)?;
    layer.eval();
    let z = cloak_autograd::no_grad(|| {
        layer.forward_masked(&x, &AttentionMask::key_padding(padding()))
    })?;
    out.push(("eval output".into(), b.reveal(&z.value())?));
    Ok(out)
}

#[test]
fn dropout_in_training_matches_plain_for_2_and_3_parties() {
    let want = against_plain!(case_dropout, 5e-3, 1e-3);
    let (train, eval) = (&want[0].1, &want.last().unwrap().1);
    assert!((train - eval).iter().any(|v| v.abs() > 1e-2), "dropout changed nothing");
}

// ----- long rows -------------------------------------------------------------------------

/// Softmax rows of `keys` logits in `[-6, 6]` (attention scores of that size are typical),
/// a quarter of each row masked as the attention layer masks, on 2 parties against f64.
/// Returns the largest error of a weight.
fn long_row_error(keys: usize) -> f64 {
    let rows = 4;
    let logits = TestRng::new(keys as u64).array(&[rows, keys], -6.0, 6.0);
    let masked = |i: usize, j: usize| (j + i).is_multiple_of(4);
    let additive = ArrayD::from_shape_fn(IxDyn(&[rows, keys]), |ix| {
        if masked(ix[0], ix[1]) { MASKED_SCORE } else { 0.0 }
    });
    let got = secure(2, |b| {
        let x = Var::constant(b, b.input(1, (b.rank() == 1).then_some(&logits), &[rows, keys])?);
        Ok(b.reveal(&x.add_public(&additive)?.softmax(1)?.value())?)
    });
    let mut worst = 0.0f64;
    for i in 0..rows {
        let kept: Vec<usize> = (0..keys).filter(|&j| !masked(i, j)).collect();
        let max = kept.iter().map(|&j| logits[[i, j]]).fold(f64::MIN, f64::max);
        let z: f64 = kept.iter().map(|&j| (logits[[i, j]] - max).exp()).sum();
        for j in 0..keys {
            let want = if masked(i, j) { 0.0 } else { (logits[[i, j]] - max).exp() / z };
            worst = worst.max((got[[i, j]] - want).abs());
        }
    }
    worst
}

/// The bound is 12 units of `2^-16` (1.8e-4), as `cloak-mpc`'s `tests/softmax_rows.rs` argues: each weight is `e * (1/sum)` with `e` within a
/// few units relative (the clamped `exp`), the reciprocal within `1.2e-5` relative and a
/// truncation, and the weights are at most 1. Measured: up to 2.5e-5 for 128 keys and
/// 2.7e-5 for 512 keys; the row length does not add to the error, since `1/sum` is
/// relative and the clamped keys' `exp(-32)` are nothing summed (`cloak-mpc`'s
/// `tests/softmax_rows.rs` has larger logits).
#[test]
fn softmax_over_long_masked_rows_is_within_a_few_units() {
    for keys in [128, 512] {
        let err = long_row_error(keys);
        println!("softmax over {keys} keys, a quarter masked: largest error {err:.2e}");
        assert!(err < 12.0 * (-16f64).exp2(), "{keys} keys: error {err}");
    }
}

/// With CrypTen's limit `exp` (`(1 + z/256)^256`) the masked score `-256` puts the base
/// near 0, so masked keys still get no weight (within a few units), even when their logit
/// beats every kept one, and the rows still sum to 1. (The kept weights carry the limit's
/// own error, several percent at differences of -10: not checked here.)
#[test]
fn masked_keys_get_no_weight_with_crypten_exp() {
    let (rows, keys) = (4, 32);
    let logits = TestRng::new(46).array(&[rows, keys], -6.0, 6.0);
    let masked = |j: usize| j.is_multiple_of(3);
    let additive =
        ArrayD::from_shape_fn(
            IxDyn(&[rows, keys]),
            |ix| if masked(ix[1]) { MASKED_SCORE } else { 0.0 },
        );
    let config = SessionConfig {
        functions: cloak_mpc::FunctionConfig::crypten(),
        ..SessionConfig::default()
    };
    let outcomes = run_local_typed(2, &config, |session| {
        let b = cloak_autograd::Secure::new(session);
        let x = Var::constant(&b, b.input(1, (b.rank() == 1).then_some(&logits), &[rows, keys])?);
        Ok::<_, NnError>(b.reveal(&x.add_public(&additive)?.softmax(1)?.value())?)
    });
    let got = outcomes.into_iter().next().unwrap().unwrap();
    let unit = (-16f64).exp2();
    for i in 0..rows {
        let sum: f64 = (0..keys).map(|j| got[[i, j]]).sum();
        assert!((sum - 1.0).abs() < 1e-3, "row {i} sums to {sum}");
        for j in (0..keys).filter(|&j| masked(j)) {
            assert!(got[[i, j]].abs() < 4.0 * unit, "masked [{i}, {j}]: {}", got[[i, j]]);
        }
    }
}

/// A whole attention layer over 128 tokens with padding, 2 parties against plain.
#[test]
fn attention_over_128_tokens_matches_plain() {
    fn case<B: Backend>(b: &B) -> cloak_nn::Result<ArrayD<f64>> {
        let mha = MultiheadAttention::new(&mut Init::new(b, 0, 40), 8, 2, true)?;
        let x = input(b, &TestRng::new(41).array(&[1, 128, 8], -1.5, 1.5));
        let pad = ArrayD::from_shape_fn(IxDyn(&[1, 128]), |ix| ix[1] >= 100);
        let y = mha.forward_masked(&x, &AttentionMask::key_padding(pad))?;
        Ok(b.reveal(&y.value())?)
    }
    let want = plain(case);
    let got = secure(2, case);
    let err = (&got - &want).iter().fold(0.0f64, |m, v| m.max(v.abs()));
    println!("attention over 128 tokens: largest error {err:.2e}");
    close("attention over 128 tokens", &got, &want, 1e-3, 0.0);
}

// ----- errors ----------------------------------------------------------------------------

#[test]
fn bad_inputs_are_typed_errors() {
    plain(|b| {
        let mut init = Init::new(b, 0, 1);
        let wrong = Var::constant(b, ArrayD::zeros(IxDyn(&[2, 5, 6])));
        let ln = LayerNorm::new(&mut init, &[8])?;
        assert!(matches!(ln.forward(&wrong), Err(NnError::InvalidArgument { .. })));
        assert!(LayerNorm::new(&mut init, &[]).is_err());
        assert!(LayerNorm::with_options(&mut init, &[8], 0.0, true, true).is_err());
        assert!(MultiheadAttention::new(&mut init, 8, 3, true).is_err(), "3 does not divide 8");
        let mha = MultiheadAttention::new(&mut init, 8, 2, true)?;
        assert!(mha.forward(&wrong).is_err());
        let x = Var::constant(b, ArrayD::zeros(IxDyn(&[2, 5, 8])));
        // A mask of the wrong shape, and one that leaves a query nothing to attend to.
        let short = AttentionMask::key_padding(ArrayD::from_elem(IxDyn(&[2, 4]), false));
        assert!(mha.forward_masked(&x, &short).is_err());
        let mut all = ArrayD::from_elem(IxDyn(&[2, 5]), false);
        all.slice_mut(s![1, ..]).fill(true);
        assert!(mha.forward_masked(&x, &AttentionMask::key_padding(all.clone())).is_err());
        let nan = AttentionMask::none()
            .with_attn(AttnMask::Additive(ArrayD::from_elem(IxDyn(&[5, 5]), f64::NAN)));
        assert!(mha.forward_masked(&x, &nan).is_err());
        assert!(TokenPool::mean().forward_masked(&x, Some(&all)).is_err(), "all padding");
        let emb = Embedding::new(&mut init, 7, 4)?;
        assert!(emb.embed(Tokens::Public(&[1, 7]), &[2]).is_err(), "id out of range");
        assert!(emb.embed(Tokens::Public(&[1, 2, 3]), &[2]).is_err(), "count");
        let pos = PositionalEmbedding::new(&mut init, 4, 8)?;
        assert!(pos.forward(&x).is_err(), "5 tokens for 4 positions");
        let cfg = EncoderLayerConfig { dropout: 1.0, ..EncoderLayerConfig::new(8, 2) };
        assert!(TransformerEncoderLayer::new(&mut init, &cfg, 0).is_err());
        Ok(())
    });
}

/// A private id out of range is refused at the owner, and every party returns an error
/// (none waits for a share that never comes).
#[test]
fn a_bad_private_id_fails_at_every_party() {
    for parties in [2, 3] {
        let outcomes = run_local_typed(parties, &SessionConfig::default(), |session| {
            let b = cloak_autograd::Secure::new(session);
            let emb = Embedding::new(&mut Init::new(&b, 0, 1), 7, 4)?;
            let ids = [1usize, 9];
            let mine = (b.rank() == 1).then_some(&ids[..]);
            emb.embed(Tokens::Private { owner: 1, ids: mine }, &[2]).map(|_| ())
        });
        assert_eq!(outcomes.len(), parties);
        for (rank, o) in outcomes.into_iter().enumerate() {
            let err = o.expect_err("every party fails");
            assert!(err.to_string().contains("Embedding"), "party {rank}: {err}");
        }
    }
}

#[test]
fn a_causal_mask_lets_each_query_see_only_the_past() {
    let m = AttentionMask::causal(3);
    let Some(AttnMask::Bool(b)) = &m.attn else { panic!("a boolean mask") };
    let want = Array2::from_shape_vec(
        (3, 3),
        vec![false, true, true, false, false, true, false, false, false],
    )
    .unwrap()
    .into_dyn();
    assert_eq!(b, &want);
}
