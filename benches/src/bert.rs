//! BERT-sized private inference, the transformer rows of the nn suite: two parties as
//! threads of this process over loopback TCP, one thread each, trusted-first-party dealer,
//! 16 fractional bits, as the other network rows (`nn.rs`). Party 0 owns the model, party 1
//! the input.
//!
//! The model is BERT's encoder as `cloak-nn` builds it: `TransformerEncoder` of post-norm
//! blocks (GELU in its exact erf form, feed-forward 4x the width, layer norms with BERT's
//! `eps = 1e-12`, the exact softmax), then the first token (`[CLS]`) and a linear classifier
//! to 2 logits. The 2Quad rows replace the softmax with MPCFormer's `(x + 5)^2 / sum`, as a
//! model distilled with it would run; their reference computes the same function. BERT's pooler (a dense layer and `tanh` on `[CLS]`) is left out. The input
//! is party 1's float token embeddings `[1, 128, hidden]` (standard normal, the scale of
//! BERT's embedding layer norm output): the lookup of token ids is the embedding table's
//! owner's row selection and not part of these figures.
//!
//! The weights are random, drawn with PyTorch's initialisations from the public seed
//! [`SEED`] at the model owner by `cloak_nn::Init` (Xavier-uniform for the attention's
//! input projection, Kaiming-uniform bounds for the linear layers, layer norms at 1 and 0):
//! this file is the deterministic generator of the BERT-tiny (2 layers, width 128, 2
//! heads) and BERT-base (12 layers, width 768, 12 heads) weights. The same seed builds the
//! reference on the plain `f64` backend, against which the logits' error is measured.
//!
//! Time per repetition is the slower party's (a barrier before each) for one steady forward
//! pass in evaluation mode: the first pass multiplies as usual, the second fixes every
//! weight (`cloak-nn`'s layers do so on a weight's second use at the same value), and the
//! timed passes after it open only their inputs' masks, as `cloak-onnx`'s rows do. Rounds
//! and bytes are party 0's over the last timed pass, bytes sent plus received, with the
//! first pass's bytes beside. Setup (sessions, sharing the weights and the input) is
//! outside the timing.

use std::error::Error;
use std::time::{Duration, Instant};

use cloak_autograd::{Backend, Plain, Secure, Var, no_grad};
use cloak_mpc::{Session, SessionConfig, Truncation};
use cloak_nn::layers::{
    AttentionSoftmax, EncoderLayerConfig, FeedForwardActivation, GeluApproximate, Linear,
    TokenPool, TransformerEncoder,
};
use cloak_nn::{Init, Module, ModuleExt};
use ndarray::ArrayD;

use crate::harness::{Better, Options, Row, measured_rows, mib};
use crate::mpc::{Input, inputs, median};
use crate::parties::two_parties_tcp_with;

type BoxError = Box<dyn Error + Send + Sync>;

/// The party that owns the weights.
const MODEL_SRC: usize = 0;
/// The party that owns the input.
const DATA_SRC: usize = 1;
/// The public seed of the weights.
const SEED: u64 = 2024;
/// BERT's layer norm `eps`.
const LAYER_NORM_EPS: f64 = 1e-12;
const CLASSES: usize = 2;
const TOKENS: usize = 128;

/// One model size and method.
struct Case {
    name: &'static str,
    layers: usize,
    hidden: usize,
    heads: usize,
    /// The attention's normalisation (the exact softmax, or MPCFormer's 2Quad for a model
    /// distilled with it: the reference then computes 2Quad too).
    softmax: AttentionSoftmax,
    /// The sessions' truncation (`Auto`: dealer pairs, exact up to one unit).
    truncation: Truncation,
    reps: usize,
}

/// BERT-tiny's and BERT-base's layers, width and heads.
const TINY: (usize, usize, usize) = (2, 128, 2);
const BASE: (usize, usize, usize) = (12, 768, 12);

fn case(
    name: &'static str,
    (layers, hidden, heads): (usize, usize, usize),
    softmax: AttentionSoftmax,
    truncation: Truncation,
) -> Case {
    let reps = if layers == BASE.0 { 1 } else { 5 };
    Case { name, layers, hidden, heads, softmax, truncation, reps }
}

fn cases() -> Vec<Case> {
    let (exact, quad) = (AttentionSoftmax::Exact, AttentionSoftmax::quad2());
    let (auto, local) = (Truncation::Auto, Truncation::LocalShares);
    vec![
        case("bert-tiny inference", TINY, exact, auto),
        case("bert-base inference", BASE, exact, auto),
        case("bert-tiny inference, local-share truncation", TINY, exact, local),
        case("bert-base inference, local-share truncation", BASE, exact, local),
        case("bert-tiny inference, 2Quad attention", TINY, quad, auto),
        case("bert-base inference, 2Quad attention", BASE, quad, auto),
    ]
}

/// The encoder, `[CLS]` and the classifier.
struct Bert<B: Backend> {
    encoder: TransformerEncoder<B>,
    classifier: Linear<B>,
}

impl<B: Backend> Bert<B> {
    /// The case's model with weights drawn from [`SEED`] at the model owner.
    fn new(case: &Case, backend: &B) -> cloak_nn::Result<Self> {
        let mut init = Init::new(backend, MODEL_SRC, SEED);
        let config = EncoderLayerConfig {
            dim_feedforward: 4 * case.hidden,
            dropout: 0.0,
            activation: FeedForwardActivation::Gelu(GeluApproximate::None),
            layer_norm_eps: LAYER_NORM_EPS,
            attention_softmax: case.softmax,
            ..EncoderLayerConfig::new(case.hidden, case.heads)
        };
        let encoder = TransformerEncoder::new(&mut init, &config, case.layers, false, 0)?;
        let classifier = Linear::new(&mut init, case.hidden, CLASSES, true)?;
        encoder.eval();
        Ok(Self { encoder, classifier })
    }

    /// Logits `[1, 2]` of token embeddings `[1, 128, hidden]`, no graph recorded.
    fn forward(&self, x: &Var<B>) -> cloak_nn::Result<Var<B>> {
        no_grad(|| {
            let h = self.encoder.forward(x)?;
            self.classifier.forward(&TokenPool::first().forward_masked(&h, None)?)
        })
    }
}

/// What one party measured.
struct PartyRun {
    times: Vec<Duration>,
    dealer: Vec<Duration>,
    /// Party 0's rounds and bytes (sent plus received) of the first pass.
    first: (u64, u64),
    /// The same of the last timed pass, with the weights fixed.
    steady: (u64, u64),
    /// The first pass's logits and the last timed pass's.
    logits: Vec<ArrayD<f64>>,
}

/// Rounds and bytes sent plus received since the last reset.
fn counts(s: &Session) -> (u64, u64) {
    let t = s.comm_stats().total();
    (t.rounds, t.bytes_sent + t.bytes_received)
}

fn party(case: &Case, s: &Session, reps: usize, x: &ArrayD<f64>) -> Result<PartyRun, BoxError> {
    let b = Secure::new(s);
    let rank = s.rank();
    let model = Bert::new(case, &b)?;
    let xv = Var::constant(&b, b.input(DATA_SRC, (rank == DATA_SRC).then_some(x), x.shape())?);
    s.barrier()?;
    s.reset_stats();
    let out = model.forward(&xv)?;
    let first = counts(s);
    let logits = b.reveal(&out.value())?;
    // The second pass fixes the weights (opens each one's persistent mask, in place of the
    // opening its product would make); the timed passes after it are steady.
    model.forward(&xv)?;
    let (mut times, mut dealer) = (Vec::new(), Vec::new());
    let mut steady = first;
    let mut last = out;
    for _ in 0..reps {
        s.barrier()?;
        s.reset_stats();
        let d0 = s.dealer_stats().time;
        let t = Instant::now();
        last = model.forward(&xv)?;
        times.push(t.elapsed());
        dealer.push(s.dealer_stats().time - d0);
        steady = counts(s);
    }
    // The timed passes' logits are checked too (the error reported is the larger).
    let steady_logits = b.reveal(&last.value())?;
    s.barrier()?;
    Ok(PartyRun { times, dealer, first, steady, logits: vec![logits, steady_logits] })
}

fn measure(case: &Case, reps: usize) -> Result<Row, String> {
    let x = inputs(&[1, TOKENS, case.hidden], 7, Input::Normal);
    let want = Bert::new(case, &Plain)
        .and_then(|m| m.forward(&Var::constant(&Plain, x.clone())))
        .map_err(|e| format!("{} (plain): {e}", case.name))?
        .value();
    let config = SessionConfig { truncation: case.truncation.into(), ..SessionConfig::default() };
    let runs = two_parties_tcp_with(&config, Duration::from_secs(600), false, |s| {
        party(case, s, reps, &x).map_err(|e| e.to_string())
    })
    .map_err(|e| format!("{}: {e}", case.name))?;
    let per_rep: Vec<Duration> =
        (0..reps).map(|i| runs.iter().map(|r| r.times[i]).max().unwrap_or_default()).collect();
    let t = median(per_rep).as_secs_f64();
    let p0 = &runs[0];
    let err = p0
        .logits
        .iter()
        .flat_map(|l| l.iter().zip(&want).map(|(g, w)| (g - w).abs()))
        .fold(0.0f64, f64::max);
    let size = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let dealer = median(p0.dealer.clone()).as_secs_f64();
    let note = format!(
        "{} layers, width {}, {} heads, {TOKENS} tokens; rounds {}, P0 bytes {:.1} MiB (first \
         pass {:.1}), max abs err of the logits {err:.2e} (logits up to {size:.2}), dealer \
         {dealer:.2} s at P0",
        case.layers,
        case.hidden,
        case.heads,
        p0.steady.0,
        mib(p0.steady.1),
        mib(p0.first.1),
    );
    Ok(Row {
        name: format!("nn {}", case.name),
        value: t,
        unit: "s",
        limit: None,
        limit_label: "-",
        better: Better::Lower,
        note,
        estimate: None,
    })
}

pub fn rows(opts: &Options, wanted: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let name = |c: &Case| format!("nn {}", c.name);
    measured_rows(cases(), name, wanted, |c| measure(c, if opts.quick { 1 } else { c.reps }))
}
