//! The attention normalisations of `AttentionSoftmax`: each against its own `f64`
//! definition on the plain backend and on secret shares (2 and 3 parties), the
//! approximations' stated distance from the exact softmax (in `f64`: they are different
//! functions), their rounds, masking, an attention layer and an encoder block with them
//! against the plain backend (forward and gradients), and typed errors.
//!
//! Tolerances on shares, from the unit `u = 2^-16` and the module documentation's error of
//! a weight, `(2 + 2 q_i / n) u` plus the input's rounding carried through `q` (largest
//! measured in brackets, printed with `--nocapture`):
//! - the exact softmax: 12 units, as `cloak-mpc`'s `tests/softmax_rows.rs` justifies (8.1
//!   seen once over repeated runs, 6 typical: the roundings follow the fresh masks);
//! - 2Quad on normal logits times 1 and 4: `q_i = (x_i + 5)^2` is at most 330 and
//!   `n >= 128`, so at most 8 units from the normalisation; the input's rounding moves
//!   `q_i` by `|x_i + 5| u`, a small fraction of a unit of weight: `10 u` (1.6);
//! - 2ReLU on the same rows: `q_i` below 15, so 3 units: `5 u` (1.0);
//! - gradients through the normalisation: products of weights within a few units with
//!   seeds in `[-1, 1]`, summed over 128 keys, and the reciprocal's derivative `-r^2`:
//!   `1e-3` absolute (3.1e-4, 2Quad's);
//! - the attention layer with 2Quad over 5 keys: a weight's `(2 + 2 q_i / n) u` is up to
//!   30 units there (`q_i` up to 64), and the derivative `2 (x_i + 5)` multiplies what
//!   flows back by up to 16; the outputs and gradients (of size up to 4) sum such terms
//!   over 5 keys and 10 tokens: `3e-3` absolute (1.3e-3, on the input projection's
//!   gradients);
//! - the encoder block with 2ReLU: as for the exact softmax in `tests/transformer.rs`,
//!   `5e-3 + 1e-3 |ref|` through the block's two layer norms (3.1e-3).

mod common;

use cloak_autograd::{Backend, Plain, Secure, Var};
use cloak_mpc::{SessionConfig, run_local_typed};
use cloak_nn::layers::{
    AttentionMask, AttentionSoftmax, EncoderLayerConfig, MultiheadAttention,
    TransformerEncoderLayer,
};
use cloak_nn::{Init, Module, ModuleExt, NnError, StateDict};
use common::{TestRng, close, plain, secure};
use ndarray::{ArrayD, Axis, IxDyn};

const UNIT: f64 = 1.0 / 65536.0;

type Named = Vec<(String, ArrayD<f64>)>;

// ----- data and f64 definitions ----------------------------------------------------------

/// A standard normal draw (Box-Muller on the workspace's test generator).
fn normal(rng: &mut TestRng) -> f64 {
    let u1 = rng.uniform(f64::EPSILON, 1.0);
    let u2 = rng.uniform(0.0, 1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `rows` rows of `keys` standard normal logits times `scale`, from a seed fixed by the
/// row length and scale (the rows of the module documentation's figures).
fn logits(rows: usize, keys: usize, scale: f64) -> ArrayD<f64> {
    let mut rng = TestRng::new(1000 * keys as u64 + scale as u64);
    ArrayD::from_shape_simple_fn(IxDyn(&[rows, keys]), || scale * normal(&mut rng))
}

/// The method's definition along the last axis: `f(x_j) / (sum_j f(x_j) + n eps)`, or
/// the softmax.
fn reference(method: AttentionSoftmax, x: &ArrayD<f64>) -> ArrayD<f64> {
    let mut out = x.clone();
    for mut row in out.lanes_mut(Axis(x.ndim() - 1)) {
        let n = row.len() as f64;
        let eps = match method {
            AttentionSoftmax::Exact => {
                let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                row.mapv_inplace(|v| (v - m).exp());
                0.0
            }
            AttentionSoftmax::Quad2 { c, eps } => {
                row.mapv_inplace(|v| (v + c).powi(2));
                eps
            }
            AttentionSoftmax::Relu { eps } => {
                row.mapv_inplace(|v| v.max(0.0));
                eps
            }
        };
        let s = row.sum() + n * eps;
        row.mapv_inplace(|v| v / s);
    }
    out
}

fn max_abs_diff(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// A private input of party 1 (party 0 on the plain backend).
fn input<B: Backend>(b: &B, v: &ArrayD<f64>, grad: bool) -> cloak_nn::Result<Var<B>> {
    let owner = if b.parties() == 1 { 0 } else { 1 };
    let t = b.input(owner, (b.rank() == owner).then_some(v), v.shape())?;
    Ok(Var::leaf(b, t, grad))
}

fn methods() -> [AttentionSoftmax; 3] {
    [AttentionSoftmax::Exact, AttentionSoftmax::quad2(), AttentionSoftmax::relu()]
}

// ----- the approximations against the exact softmax (f64) --------------------------------

/// The module documentation's table: the largest difference of a weight from the exact
/// softmax over 8 rows of normal logits times 1, 4 and 10, for 128 and 512 keys.
const STATED: [(usize, f64, f64, f64); 6] = [
    // (keys, scale, 2Quad, 2ReLU)
    (128, 1.0, 0.177, 0.120),
    (128, 4.0, 0.922, 0.927),
    (128, 10.0, 0.933, 0.946),
    (512, 1.0, 0.040, 0.028),
    (512, 4.0, 0.885, 0.886),
    (512, 10.0, 0.976, 0.981),
];

#[test]
fn approximations_differ_from_softmax_by_their_stated_amount() {
    for (keys, scale, quad, relu) in STATED {
        let x = logits(8, keys, scale);
        let exact = reference(AttentionSoftmax::Exact, &x);
        let q = max_abs_diff(&reference(AttentionSoftmax::quad2(), &x), &exact);
        let r = max_abs_diff(&reference(AttentionSoftmax::relu(), &x), &exact);
        println!("{keys} keys, normal x {scale}: 2Quad {q:.3}, 2ReLU {r:.3}");
        assert!((q - quad).abs() < 1e-3, "2Quad, {keys} keys, x{scale}: {q}, stated {quad}");
        assert!((r - relu).abs() < 1e-3, "2ReLU, {keys} keys, x{scale}: {r}, stated {relu}");
    }
}

// ----- each method against its definition ------------------------------------------------

#[test]
fn the_plain_backend_computes_each_definition() {
    for m in methods() {
        let x = logits(4, 128, 4.0);
        let got = plain(|b| Ok(b.reveal(&m.forward(&input(b, &x, false)?, 1)?.value())?));
        let err = max_abs_diff(&got, &reference(m, &x));
        assert!(err < 1e-12, "{m:?}: {err}");
    }
}

#[test]
fn each_method_matches_its_definition_on_shares_for_2_and_3_parties() {
    for (m, units) in [
        (AttentionSoftmax::Exact, 12.0),
        (AttentionSoftmax::quad2(), 10.0),
        (AttentionSoftmax::relu(), 5.0),
    ] {
        for parties in [2, 3] {
            for (rows, keys) in [(4, 128), (2, 512)] {
                for scale in [1.0, 4.0] {
                    let x = logits(rows, keys, scale);
                    let got = secure(parties, |b| {
                        Ok(b.reveal(&m.forward(&input(b, &x, false)?, 1)?.value())?)
                    });
                    let err = max_abs_diff(&got, &reference(m, &x));
                    println!(
                        "{m:?}, {parties} parties, {keys} keys, x{scale}: {:.2} units",
                        err / UNIT
                    );
                    assert!(err <= units * UNIT, "{m:?}, {parties} parties, {keys} keys: {err}");
                }
            }
        }
    }
}

/// A ReLU row whose scores are all negative gets weights 0 (the guard `eps` keeps the
/// reciprocal's input at `eps`), on shares as in `f64`.
#[test]
fn a_relu_row_of_negative_scores_gets_no_weight() {
    let x = ArrayD::from_shape_fn(IxDyn(&[2, 16]), |ix| {
        if ix[0] == 0 { -0.5 - ix[1] as f64 / 8.0 } else { ix[1] as f64 / 8.0 - 1.0 }
    });
    let m = AttentionSoftmax::relu();
    let want = reference(m, &x);
    assert!(want.index_axis(Axis(0), 0).iter().all(|&v| v == 0.0));
    for parties in [2, 3] {
        let got = secure(parties, |b| Ok(b.reveal(&m.forward(&input(b, &x, false)?, 1)?.value())?));
        close("negative ReLU row", &got, &want, 3.0 * UNIT, 0.0);
    }
}

/// Gradients of `<seed, weights>` through each normalisation, on the plain backend and on
/// shares. The logits stay at least 0.05 from 0 so that ReLU's derivative is the same on
/// both (the secure error is far below that).
fn case_gradient<B: Backend>(b: &B, m: AttentionSoftmax) -> cloak_nn::Result<Named> {
    let mut x = logits(3, 128, 1.0);
    x.mapv_inplace(|v| if v.abs() < 0.05 { v.signum() * 0.05 + v } else { v });
    let xv = input(b, &x, true)?;
    let w = m.forward(&xv, 1)?;
    let seed = TestRng::new(7).array(&w.shape(), -1.0, 1.0);
    w.backward_with(b.public(&seed)?)?;
    Ok(vec![("weights".into(), b.reveal(&w.value())?), ("grad".into(), b.reveal(&xv.grad()?)?)])
}

#[test]
fn gradients_through_each_method_match_plain_for_2_and_3_parties() {
    for m in methods() {
        let want = plain(|b| case_gradient(b, m));
        for parties in [2, 3] {
            let got = secure(parties, |b| case_gradient(b, m));
            for ((name, g), (_, w)) in got.iter().zip(&want) {
                assert!(w.iter().any(|v| v.abs() > 1e-3), "{m:?} {name} is trivially zero");
                let err = max_abs_diff(g, w);
                println!("{m:?} {name}, {parties} parties: error {err:.2e}");
                close(&format!("{m:?} {name} ({parties} parties)"), g, w, 1e-3, 0.0);
            }
        }
    }
}

// ----- costs -----------------------------------------------------------------------------

/// Rounds (and bytes, printed) of each method over 8 rows, two parties, default session
/// (dealer-pair truncation: a round per fixed-point product), as the module documentation
/// states them: the exact softmax's maximum costs 9 rounds by all pairs where 8 rows of 128
/// keys are few enough pairs (`cloak_mpc::MaxMethod::for_rows`), 4 rounds per halving of
/// the row by the tree for 512 keys (9 halvings), then 50 for the clamp, `exp`, the
/// reciprocal of the sum and the product; 2Quad a square (2), then 32 for the mean's reciprocal and the two products;
/// 2ReLU a ReLU (4) and the same 32. The approximations' rounds do not grow with the row.
#[test]
fn rounds_are_as_documented() {
    for (m, r128, r512) in [
        (AttentionSoftmax::Exact, 9 + 50, 9 * 4 + 50),
        (AttentionSoftmax::quad2(), 2 + 32, 2 + 32),
        (AttentionSoftmax::relu(), 4 + 32, 4 + 32),
    ] {
        for (keys, rounds) in [(128usize, r128), (512, r512)] {
            let x = logits(8, keys, 1.0);
            let outcomes = run_local_typed(2, &SessionConfig::default(), |s| {
                let b = Secure::new(s);
                let v = input(&b, &x, false)?;
                s.barrier()?;
                s.reset_stats();
                m.forward(&v, 1)?;
                let t = s.comm_stats().total();
                Ok::<_, NnError>((t.rounds, t.bytes_sent + t.bytes_received))
            });
            let (got, bytes) = outcomes.into_iter().next().unwrap().unwrap();
            let per = bytes as f64 / (8 * keys) as f64;
            println!("{m:?}, 8 x {keys}: {got} rounds, {per:.0} bytes per element at party 0");
            assert_eq!(got, rounds, "{m:?}, {keys} keys");
        }
    }
}

// ----- in attention and encoder layers ---------------------------------------------------

/// Replaces every parameter of `m` with seeded values in `[-r, r]` (norm weights in
/// `[0.5, 1.5]`), owned by party 0.
fn randomize<B: Backend>(b: &B, m: &dyn Module<B>, seed: u64, r: f64) -> cloak_nn::Result<()> {
    let mut rng = TestRng::new(seed);
    let mut state = StateDict::new();
    for (name, v, _) in m.named_tensors() {
        let norm = name.ends_with("weight") && name.contains("norm");
        let (lo, hi) = if norm { (0.5, 1.5) } else { (-r, r) };
        state.insert(name, rng.array(&v.shape(), lo, hi));
    }
    m.load_state(0, (b.rank() == 0).then_some(&state))
}

/// Self-attention over 2 sequences of 5 tokens, the second padded after 3, with 2Quad:
/// the output, the weights, and the gradients of the input and of every parameter.
fn case_attention<B: Backend>(b: &B) -> cloak_nn::Result<Named> {
    let mha = MultiheadAttention::new(&mut Init::new(b, 0, 52), 8, 2, true)?
        .with_softmax(AttentionSoftmax::quad2())?;
    randomize(b, &mha, 53, 0.5)?;
    let x = input(b, &TestRng::new(54).array(&[2, 5, 8], -1.5, 1.5), true)?;
    let pad = ArrayD::from_shape_fn(IxDyn(&[2, 5]), |ix| ix[0] == 1 && ix[1] >= 3);
    let (y, w) = mha.attention(&x, &x, &x, &AttentionMask::key_padding(pad))?;
    let flat = |v: &Var<B>| v.reshape(&[v.numel()]);
    let all = Var::concat(&[&flat(&y)?, &flat(&w)?], 0)?;
    let seed = TestRng::new(55).array(&all.shape(), -1.0, 1.0);
    all.backward_with(b.public(&seed)?)?;
    let mut out = vec![
        ("output".to_string(), b.reveal(&y.value())?),
        ("weights".to_string(), b.reveal(&w.value())?),
        ("input.grad".to_string(), b.reveal(&x.grad()?)?),
    ];
    for (name, p) in mha.named_parameters() {
        out.push((format!("{name}.grad"), b.reveal(&p.grad()?)?));
    }
    Ok(out)
}

#[test]
fn attention_with_2quad_and_padding_matches_plain_for_2_and_3_parties() {
    let want = plain(case_attention);
    // Padded keys get weight exactly 0 (not (x - 256 + 5)^2), and the kept ones sum to 1
    // up to the guard `n eps` (at most 5e-3 / 25 here).
    let w = &want[1].1;
    for q in 0..5 {
        for h in 0..2 {
            for k in 3..5 {
                assert_eq!(w[[1, h, q, k]], 0.0, "padded key {k}");
            }
            let sum: f64 = (0..5).map(|k| w[[1, h, q, k]]).sum();
            assert!((sum - 1.0).abs() < 1e-3, "row sums to {sum}");
        }
    }
    for parties in [2, 3] {
        let got = secure(parties, case_attention);
        for ((name, g), (_, w)) in got.iter().zip(&want) {
            assert!(w.iter().any(|v| v.abs() > 1e-3), "{name} is trivially zero");
            let size = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            println!(
                "attention {name}, {parties} parties: error {:.2e}, largest {size:.2}",
                max_abs_diff(g, w)
            );
            close(&format!("attention {name} ({parties} parties)"), g, w, 3e-3, 0.0);
        }
    }
}

/// A post-norm encoder block whose config selects 2ReLU: its attention uses it, and the
/// block's output matches plain for 2 and 3 parties (and differs from the same block with
/// the exact softmax, so the selection took effect).
fn case_block<B: Backend>(b: &B, softmax: AttentionSoftmax) -> cloak_nn::Result<ArrayD<f64>> {
    let cfg = EncoderLayerConfig {
        dim_feedforward: 16,
        dropout: 0.0,
        attention_softmax: softmax,
        ..EncoderLayerConfig::new(8, 2)
    };
    let layer = TransformerEncoderLayer::new(&mut Init::new(b, 0, 60), &cfg, 0)?;
    assert_eq!(layer.self_attn.softmax(), softmax);
    randomize(b, &layer, 61, 0.5)?;
    let x = input(b, &TestRng::new(62).array(&[2, 5, 8], -1.5, 1.5), false)?;
    Ok(b.reveal(&layer.forward(&x)?.value())?)
}

#[test]
fn an_encoder_block_uses_its_configs_softmax() {
    let relu = AttentionSoftmax::relu();
    let want = plain(|b| case_block(b, relu));
    let exact = plain(|b| case_block(b, AttentionSoftmax::Exact));
    assert!(max_abs_diff(&want, &exact) > 1e-2, "the selection made no difference");
    for parties in [2, 3] {
        let got = secure(parties, |b| case_block(b, relu));
        println!("2ReLU block, {parties} parties: error {:.2e}", max_abs_diff(&got, &want));
        close(&format!("2ReLU block ({parties} parties)"), &got, &want, 5e-3, 1e-3);
    }
}

// ----- errors ----------------------------------------------------------------------------

#[test]
fn bad_parameters_are_typed_errors() {
    let bad = [
        AttentionSoftmax::Quad2 { c: f64::NAN, eps: 1e-3 },
        AttentionSoftmax::Quad2 { c: 5.0, eps: AttentionSoftmax::MIN_EPS / 2.0 },
        AttentionSoftmax::Relu { eps: f64::INFINITY },
        AttentionSoftmax::Relu { eps: 0.0 },
    ];
    for m in bad {
        assert!(matches!(m.check(), Err(NnError::InvalidArgument { .. })), "{m:?}");
        let mha = MultiheadAttention::new(&mut Init::new(&Plain, 0, 1), 8, 2, true).unwrap();
        assert!(mha.with_softmax(m).is_err(), "{m:?}");
        let cfg = EncoderLayerConfig { attention_softmax: m, ..EncoderLayerConfig::new(8, 2) };
        assert!(TransformerEncoderLayer::new(&mut Init::new(&Plain, 0, 1), &cfg, 0).is_err());
    }
    for m in methods() {
        assert!(m.check().is_ok());
        let x = Var::constant(&Plain, ArrayD::zeros(IxDyn(&[2, 3])));
        assert!(matches!(m.forward(&x, 2), Err(NnError::InvalidArgument { .. })), "{m:?}");
        let empty = Var::constant(&Plain, ArrayD::zeros(IxDyn(&[2, 0])));
        assert!(matches!(m.forward(&empty, 1), Err(NnError::InvalidArgument { .. })), "{m:?}");
    }
}
