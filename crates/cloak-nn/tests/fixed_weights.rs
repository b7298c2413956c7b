//! Layers fix their weights for repeated passes (`Linear`, `Conv2d`, `Embedding`,
//! `MultiheadAttention`'s input projection): the first pass multiplies as usual, the second fixes each weight
//! (opens its persistent mask once, in place of the opening its product would have made),
//! and every later pass opens only the inputs' masks. Checked for 2 and 3 parties: every
//! pass against the plain backend, the bytes of each pass against the weights' sizes, a
//! weight changed between passes (its next pass uses the new value), and gradients through
//! fixed weights.
//!
//! Tolerance: one fixed-point unit is `2^-16 = 1.5e-5`; each layer here accumulates
//! products of values below 1 with one truncation, and the attention adds its softmax
//! (within 12 units, `cloak-mpc`'s `tests/softmax_rows.rs`) and two more products: `5e-4`
//! absolute leaves a margin of about 10x, as in `tests/layers.rs`. A fixed product rounds
//! as the plain one does (the same truncation of the same sum), so the same bound holds
//! on every pass.

mod common;

use cloak_autograd::{Backend, Secure, Var};
use cloak_nn::layers::{
    Conv2d, Embedding, Flatten, Linear, MultiheadAttention, ReLU, Sequential, one_hot,
};
use cloak_nn::{Init, Module, ModuleExt, StateDict};
use cloak_ring::Conv2dSpec;
use common::{TestRng, close, plain, secure};
use ndarray::ArrayD;

const TOL: f64 = 5e-4;

/// A convolution, a ReLU and a linear layer (weights 2x3x3x3 and 4x50), weights from party
/// 0's seed.
fn cnn<B: Backend>(b: &B) -> cloak_nn::Result<Sequential<B>> {
    let init = &mut Init::new(b, 0, 21);
    let spec = Conv2dSpec::default();
    Ok(Sequential::new()
        .push(Conv2d::new(init, 3, 2, (3, 3), spec, true)?)
        .push(ReLU)
        .push(Flatten::default())
        .push(Linear::new(init, 50, 4, true)?))
}

/// Words of the weights whose products are fixed in [`cnn`].
const CNN_WEIGHT_WORDS: u64 = 2 * 3 * 3 * 3 + 4 * 50;

/// Self-attention over width 8 with 2 heads: `in_proj_weight` 24x8, `out_proj` 8x8.
fn attention<B: Backend>(b: &B) -> cloak_nn::Result<MultiheadAttention<B>> {
    MultiheadAttention::new(&mut Init::new(b, 0, 22), 8, 2, true)
}

const ATTENTION_WEIGHT_WORDS: u64 = 24 * 8 + 8 * 8;

/// An input owned by party 1 (party 0 alone on the plain backend).
fn input<B: Backend>(b: &B, v: &ArrayD<f64>) -> Var<B> {
    let owner = if b.parties() == 1 { 0 } else { 1 };
    let mine = b.rank() == owner;
    Var::constant(b, b.input(owner, mine.then_some(v), v.shape()).unwrap())
}

/// Outputs of `passes` passes of `model` on `x`, with the bytes party 0 sent in each.
fn passes<M: Module<Secure>>(
    b: &Secure,
    model: &M,
    x: &ArrayD<f64>,
    passes: usize,
) -> cloak_nn::Result<Vec<(ArrayD<f64>, u64)>> {
    let xv = input(b, x);
    let s = b.session();
    (0..passes)
        .map(|_| {
            s.reset_stats();
            let y = model.forward(&xv)?;
            let sent = s.comm_stats().total().bytes_sent;
            Ok((b.reveal(&y.value())?, sent))
        })
        .collect()
}

/// Checks the outputs against `want` and the bytes: the second pass as the first, the
/// third and later `8 (p - 1) words` fewer.
fn check(what: &str, parties: usize, got: &[(ArrayD<f64>, u64)], want: &ArrayD<f64>, words: u64) {
    for (i, (y, _)) in got.iter().enumerate() {
        close(&format!("{what}, {parties} parties, pass {}", i + 1), y, want, TOL, 0.0);
    }
    let bytes: Vec<u64> = got.iter().map(|(_, b)| *b).collect();
    println!("{what}, {parties} parties: bytes sent by party 0 per pass {bytes:?}");
    assert_eq!(bytes[1], bytes[0], "{what}: fixing costs the weights' usual opening");
    let saved = 8 * (parties as u64 - 1) * words;
    for (i, &b) in bytes.iter().enumerate().skip(2) {
        assert_eq!(b + saved, bytes[0], "{what}, pass {}: the weights are not opened again", i + 1);
    }
}

/// A table of 12 words of width 4: the lookup is the product of one-hot rows by it.
fn embedding<B: Backend>(b: &B) -> cloak_nn::Result<Embedding<B>> {
    Embedding::new(&mut Init::new(b, 0, 25), 12, 4)
}

const EMBEDDING_WORDS: u64 = 12 * 4;

#[test]
fn repeated_passes_fix_the_weights_once_and_stay_right() {
    let x = TestRng::new(5).array(&[2, 3, 7, 7], -1.0, 1.0);
    let tokens = TestRng::new(6).array(&[2, 5, 8], -1.0, 1.0);
    let want_cnn = plain(|b| Ok(cnn(b)?.forward(&Var::constant(b, x.clone()))?.value()));
    let want_att = plain(|b| Ok(attention(b)?.forward(&Var::constant(b, tokens.clone()))?.value()));
    let ids = one_hot(&[1, 5, 11, 0, 5, 7], &[2, 3], 12).expect("ids below 12");
    let want_emb = plain(|b| Ok(embedding(b)?.forward(&Var::constant(b, ids.clone()))?.value()));
    for parties in [2, 3] {
        let got = secure(parties, |b| passes(b, &cnn(b)?, &x, 4));
        check("conv, relu, linear", parties, &got, &want_cnn, CNN_WEIGHT_WORDS);
        let got = secure(parties, |b| passes(b, &attention(b)?, &tokens, 3));
        check("self-attention", parties, &got, &want_att, ATTENTION_WEIGHT_WORDS);
        let got = secure(parties, |b| passes(b, &embedding(b)?, &ids, 3));
        check("embedding", parties, &got, &want_emb, EMBEDDING_WORDS);
    }
}

/// A weight loaded anew between passes (as an optimiser step or a checkpoint does) is used
/// at its new value from the next pass on, by plain products: a layer fixes a weight at most
/// once, so the dealer keeps one persistent mask per weight however often it changes.
#[test]
fn a_changed_weight_is_used_at_its_new_value() {
    let x = TestRng::new(7).array(&[3, 6], -1.0, 1.0);
    let w1 = TestRng::new(8).array(&[4, 6], -1.0, 1.0);
    let w2 = TestRng::new(9).array(&[4, 6], -1.0, 1.0);
    let layer_with = |b: &Secure, w: Option<&ArrayD<f64>>| -> cloak_nn::Result<Linear<Secure>> {
        let layer = Linear::new(&mut Init::new(b, 0, 23), 6, 4, false)?;
        if let Some(w) = w {
            let mut state = StateDict::new();
            state.insert("weight".to_string(), w.clone());
            layer.load_state(0, (b.rank() == 0).then_some(&state))?;
        }
        Ok(layer)
    };
    let want = |w: &ArrayD<f64>| {
        let x2 = x.view().into_dimensionality::<ndarray::Ix2>().unwrap();
        let w2 = w.view().into_dimensionality::<ndarray::Ix2>().unwrap();
        x2.dot(&w2.t()).into_dyn()
    };
    for parties in [2, 3] {
        let got = secure(parties, |b| {
            let layer = layer_with(b, Some(&w1))?;
            let mut out = passes(b, &layer, &x, 3)?;
            let mut state = StateDict::new();
            state.insert("weight".to_string(), w2.clone());
            layer.load_state(0, (b.rank() == 0).then_some(&state))?;
            out.extend(passes(b, &layer, &x, 3)?);
            Ok(out)
        });
        check("linear, first weight", parties, &got[..3], &want(&w1), 24);
        for (i, (y, bytes)) in got[3..].iter().enumerate() {
            close(&format!("linear, loaded weight, pass {}", i + 1), y, &want(&w2), TOL, 0.0);
            assert_eq!(*bytes, got[0].1, "linear, loaded weight: plain products again");
        }
    }
}

/// Gradients through a weight fixed by earlier passes: the input's and the parameters'
/// gradients of `sum(linear(x))` on the third pass, against the plain backend.
#[test]
fn gradients_flow_through_fixed_weights() {
    let x = TestRng::new(10).array(&[3, 6], -1.0, 1.0);
    fn run<B: Backend>(b: &B, x: &ArrayD<f64>) -> cloak_nn::Result<Vec<ArrayD<f64>>> {
        let layer = Linear::new(&mut Init::new(b, 0, 24), 6, 4, true)?;
        let owner = if b.parties() == 1 { 0 } else { 1 };
        let mine = b.rank() == owner;
        let xv = Var::leaf(b, b.input(owner, mine.then_some(x), x.shape())?, true);
        for _ in 0..2 {
            layer.forward(&xv)?;
        }
        layer.forward(&xv)?.sum_all()?.backward()?;
        let reveal = |v: &Var<B>| -> cloak_nn::Result<ArrayD<f64>> { Ok(b.reveal(&v.grad()?)?) };
        let bias = layer.bias.as_ref().expect("a bias");
        Ok(vec![reveal(&xv)?, reveal(&layer.weight)?, reveal(bias)?])
    }
    let want = plain(|b| run(b, &x));
    for parties in [2, 3] {
        let got = secure(parties, |b| run(b, &x));
        for (name, (g, w)) in ["input", "weight", "bias"].iter().zip(got.iter().zip(&want)) {
            assert!(w.iter().any(|v| v.abs() > 1e-3), "{name}: trivially zero");
            close(&format!("{name} gradient, {parties} parties"), g, w, TOL, 0.0);
        }
    }
}
