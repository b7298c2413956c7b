//! cloak-nn rows, matching the peer baseline's network rows: two parties as threads of this
//! process over loopback TCP, one thread each (a one-thread rayon pool per party),
//! trusted-first-party dealer, 16 fractional bits, as CrypTen was run. Party 0 owns the
//! model, party 1 the data (CrypTen's MODEL_SRC = 0, DATA_SRC = 1).
//!
//! Each model is built twice from one seed: on the plain f64 backend (the reference) and on
//! the secure one. Time per repetition is the slower party's (a barrier before each): one
//! forward pass for inference (eval mode, no graph recorded), or forward, loss, backward and
//! the SGD update for the training step. Rounds and bytes are party 0's over every label of
//! the warm-up run, bytes sent plus received, and for inference those of a steady pass
//! beside them (the third: the first folds BatchNorm's statistics, the second fixes the
//! weights, whose later products open only their inputs' masks); the timed passes come
//! after it, and the steady pass's logits are checked as the first's.
//! Sessions, weights and inputs are set up outside the timing.

use std::error::Error;
use std::time::{Duration, Instant};

use cloak_autograd::{Backend, Plain, Secure, Var, no_grad};
use cloak_mpc::Session;
use cloak_nn::layers::Sequential;
use cloak_nn::loss::{cross_entropy, one_hot};
use cloak_nn::optim::{Optimizer, Sgd, SgdConfig};
use cloak_nn::{Init, Module, ModuleExt, StateDict, models};
use ndarray::ArrayD;

use crate::crypten::{self, Baseline};
use crate::harness::{Options, Row, crypten_row, measured_rows, mib};
use crate::mpc::{Input, inputs, median, uniform};
use crate::parties::two_parties_tcp_secured;

type BoxError = Box<dyn Error + Send + Sync>;

/// The party that owns the weights.
const MODEL_SRC: usize = 0;
/// The party that owns the inputs (and labels).
const DATA_SRC: usize = 1;
/// The public seed the weights are drawn from (at the model owner, and for the reference).
const SEED: u64 = 2024;
/// The training step's learning rate (the baseline's).
const LR: f64 = 0.1;
const CLASSES: usize = 10;
/// BatchNorm calibration of ResNet-18, as the baseline: train-mode forwards of random
/// 32x3x32x32 batches.
const CALIBRATION_BATCHES: u64 = 4;
const CALIBRATION_IMAGES: usize = 32;
/// CrypTen's error of the training step's loss (`loss_abs_err` in the raw results).
const CRYPTEN_LOSS_ERR: f64 = 0.010_875;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Model {
    LeNet,
    ResNet18,
    /// The CIFAR layout (3x3 stem, no max pooling): no CrypTen row to compare with.
    ResNet18Cifar,
    Mlp,
}

struct Case {
    name: &'static str,
    net: Model,
    /// The input batch (standard normal).
    x_shape: Vec<usize>,
    /// One SGD step instead of inference.
    train: bool,
    /// CrypTen's row, where the baseline ran this case.
    baseline: Option<Baseline>,
    reps: usize,
    /// Links under mutual TLS (a row beside the plain one, for the cost of encryption).
    tls: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "LeNet inference b=1",
            net: Model::LeNet,
            x_shape: vec![1, 1, 28, 28],
            train: false,
            baseline: Some(crypten::LENET_B1),
            reps: 10,
            tls: false,
        },
        Case {
            name: "LeNet inference b=64",
            net: Model::LeNet,
            x_shape: vec![64, 1, 28, 28],
            train: false,
            baseline: Some(crypten::LENET_B64),
            reps: 5,
            tls: false,
        },
        Case {
            name: "ResNet-18 inference 1x3x32x32",
            net: Model::ResNet18,
            x_shape: vec![1, 3, 32, 32],
            train: false,
            baseline: Some(crypten::RESNET18_32),
            reps: 5,
            tls: false,
        },
        Case {
            name: "ResNet-18 CIFAR layout inference 1x3x32x32",
            net: Model::ResNet18Cifar,
            x_shape: vec![1, 3, 32, 32],
            train: false,
            baseline: None,
            reps: 3,
            tls: false,
        },
        Case {
            name: "MLP 784-128-10 train step b=64",
            net: Model::Mlp,
            x_shape: vec![64, 784],
            train: true,
            baseline: Some(crypten::MLP_TRAIN_B64),
            reps: 10,
            tls: false,
        },
        Case {
            name: "ResNet-18 inference 1x3x32x32, TLS",
            net: Model::ResNet18,
            x_shape: vec![1, 3, 32, 32],
            train: false,
            baseline: Some(crypten::RESNET18_32),
            reps: 5,
            tls: true,
        },
        Case {
            name: "MLP 784-128-10 train step b=64, TLS",
            net: Model::Mlp,
            x_shape: vec![64, 784],
            train: true,
            baseline: Some(crypten::MLP_TRAIN_B64),
            reps: 10,
            tls: true,
        },
    ]
}

/// The case's model with weights drawn from [`SEED`] at the model owner.
fn build<B: Backend>(net: Model, backend: &B) -> cloak_nn::Result<Sequential<B>> {
    let mut init = Init::new(backend, MODEL_SRC, SEED);
    match net {
        Model::LeNet => models::lenet(&mut init),
        Model::ResNet18 => models::resnet18(&mut init, CLASSES, models::ResNetStem::ImageNet),
        Model::ResNet18Cifar => models::resnet18(&mut init, CLASSES, models::ResNetStem::Cifar),
        Model::Mlp => models::mlp(&mut init, &[784, 128, CLASSES]),
    }
}

/// One-hot labels of the training batch (deterministic bench data).
fn labels(batch: usize) -> Result<ArrayD<f64>, BoxError> {
    let classes = uniform(&[batch], 3, 0.0, CLASSES as f64);
    let labels: Vec<usize> = classes.iter().map(|&c| (c as usize).min(CLASSES - 1)).collect();
    Ok(one_hot(&labels, CLASSES)?)
}

/// As the baseline did for ResNet-18 (PyTorch's default BatchNorm is the identity, which
/// CrypTen's ONNX import cannot take): BatchNorm weights uniform in [0.5, 1.5), biases
/// normal times 0.1, running statistics calibrated by train-mode forwards of random
/// batches; then evaluation mode.
fn calibrate_batchnorm(model: &Sequential<Plain>) -> Result<(), BoxError> {
    let tensors = model.named_tensors();
    let layers: Vec<&str> =
        tensors.iter().filter_map(|(n, _, _)| n.strip_suffix(".running_mean")).collect();
    for (i, layer) in layers.iter().enumerate() {
        let seed = 1000 + 2 * i as u64;
        for (name, var, _) in &tensors {
            match name.strip_prefix(layer).and_then(|s| s.strip_prefix('.')) {
                Some("weight") => var.set_value(uniform(&var.shape(), seed, 0.5, 1.5))?,
                Some("bias") => {
                    var.set_value(inputs(&var.shape(), seed + 1, Input::Normal) * 0.1)?;
                }
                _ => {}
            }
        }
    }
    model.train();
    for i in 0..CALIBRATION_BATCHES {
        let x = inputs(&[CALIBRATION_IMAGES, 3, 32, 32], 100 + i, Input::Normal);
        no_grad(|| model.forward(&Var::constant(&Plain, x)))?;
    }
    model.eval();
    Ok(())
}

/// The plain f64 run of a case.
struct Reference {
    /// Logits (inference), or the parameters after one step (training).
    want: Vec<ArrayD<f64>>,
    /// The training step's loss.
    loss: Option<f64>,
    /// The weights the secure model loads (ResNet-18's calibrated ones), if not its seed's.
    state: Option<StateDict>,
}

fn reference(case: &Case, x: &ArrayD<f64>, y: &ArrayD<f64>) -> Result<Reference, BoxError> {
    let model = build(case.net, &Plain)?;
    let mut state = None;
    if matches!(case.net, Model::ResNet18 | Model::ResNet18Cifar) {
        calibrate_batchnorm(&model)?;
        state = Some(model.named_tensors().into_iter().map(|(n, v, _)| (n, v.value())).collect());
    }
    let xv = Var::constant(&Plain, x.clone());
    if case.train {
        let yv = Var::constant(&Plain, y.clone());
        let mut opt = Sgd::new(model.parameters(), SgdConfig::new(LR))?;
        let loss = cross_entropy(&model.forward(&xv)?, &yv)?;
        opt.zero_grad();
        loss.backward()?;
        opt.step()?;
        let want = model.parameters().iter().map(Var::value).collect();
        Ok(Reference { want, loss: loss.value().iter().next().copied(), state })
    } else {
        model.eval();
        let out = no_grad(|| model.forward(&xv))?;
        Ok(Reference { want: vec![out.value()], loss: None, state })
    }
}

/// What one party measured.
struct PartyRun {
    times: Vec<Duration>,
    dealer: Vec<Duration>,
    rounds: u64,
    bytes: u64,
    /// Rounds of a second run: inference with BatchNorm's folded statistics cached.
    steady_rounds: u64,
    /// Bytes of a steady pass (inference: the third, with the weights fixed).
    steady_bytes: u64,
    /// Revealed logits, or parameters after the warm-up step.
    result: Vec<ArrayD<f64>>,
    loss: Option<f64>,
}

/// Runs `run` once with the counters reset (barrier first); returns its value and party's
/// rounds and bytes summed over every label.
fn counted<R>(
    s: &Session,
    run: impl FnOnce() -> cloak_nn::Result<R>,
) -> Result<(R, u64, u64), BoxError> {
    s.barrier()?;
    s.reset_stats();
    let r = run()?;
    let total = s.comm_stats().total();
    Ok((r, total.rounds, total.bytes_sent + total.bytes_received))
}

/// `reps` timed runs, a barrier before each; wall times and dealer times.
fn timed(
    s: &Session,
    reps: usize,
    mut run: impl FnMut() -> cloak_nn::Result<()>,
) -> Result<(Vec<Duration>, Vec<Duration>), BoxError> {
    let (mut times, mut dealer) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        s.barrier()?;
        let d0 = s.dealer_stats().time;
        let t = Instant::now();
        run()?;
        times.push(t.elapsed());
        dealer.push(s.dealer_stats().time - d0);
    }
    s.barrier()?;
    Ok((times, dealer))
}

fn party(
    case: &Case,
    s: &Session,
    reps: usize,
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    state: Option<&StateDict>,
) -> Result<PartyRun, BoxError> {
    let b = Secure::new(s);
    let rank = s.rank();
    let model = build(case.net, &b)?;
    if let Some(state) = state {
        model.load_state(MODEL_SRC, (rank == MODEL_SRC).then_some(state))?;
    }
    let share = |v: &ArrayD<f64>| b.input(DATA_SRC, (rank == DATA_SRC).then_some(v), v.shape());
    let xv = Var::constant(&b, share(x)?);
    if case.train {
        let yv = Var::constant(&b, share(y)?);
        let params = model.parameters();
        let mut opt = Sgd::new(params.clone(), SgdConfig::new(LR))?;
        let mut step = || -> cloak_nn::Result<Var<Secure>> {
            let loss = cross_entropy(&model.forward(&xv)?, &yv)?;
            opt.zero_grad();
            loss.backward()?;
            opt.step()?;
            Ok(loss)
        };
        let (loss, rounds, bytes) = counted(s, &mut step)?;
        let result = params.iter().map(|p| b.reveal(&p.value())).collect::<Result<_, _>>()?;
        let loss = b.reveal(&loss.value())?.iter().next().copied();
        let (times, dealer) = timed(s, reps, || step().map(drop))?;
        Ok(PartyRun {
            times,
            dealer,
            rounds,
            bytes,
            steady_rounds: rounds,
            steady_bytes: bytes,
            result,
            loss,
        })
    } else {
        model.eval();
        let forward = || no_grad(|| model.forward(&xv));
        let (out, rounds, bytes) = counted(s, forward)?;
        let first = b.reveal(&out.value())?;
        // The first pass folded BatchNorm's statistics; the second fixes each weight (opens
        // its persistent mask); the third and later passes are steady.
        counted(s, forward)?;
        let (steady, steady_rounds, steady_bytes) = counted(s, forward)?;
        // The steady pass's logits are checked too (the error reported is the larger).
        let result = vec![first, b.reveal(&steady.value())?];
        let (times, dealer) = timed(s, reps, || forward().map(drop))?;
        Ok(PartyRun {
            times,
            dealer,
            rounds,
            bytes,
            steady_rounds,
            steady_bytes,
            result,
            loss: None,
        })
    }
}

fn run_case(
    case: &Case,
    reps: usize,
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    state: Option<&StateDict>,
) -> Result<Vec<PartyRun>, String> {
    two_parties_tcp_secured(Duration::from_secs(300), case.tls, |s| {
        party(case, s, reps, x, y, state).map_err(|e| e.to_string())
    })
    .map_err(|e| format!("{}: {e}", case.name))
}

fn max_abs_diff<'a>(
    got: impl IntoIterator<Item = &'a ArrayD<f64>>,
    want: impl IntoIterator<Item = &'a ArrayD<f64>>,
) -> f64 {
    got.into_iter()
        .zip(want)
        .flat_map(|(g, w)| g.iter().zip(w.iter()).map(|(a, b)| (a - b).abs()))
        .fold(0.0f64, f64::max)
}

fn measure(case: &Case, reps: usize) -> Result<Row, String> {
    let x = inputs(&case.x_shape, 1, Input::Normal);
    let y = if case.train { labels(case.x_shape[0]) } else { Ok(ArrayD::zeros(vec![0])) }
        .map_err(|e| format!("{}: {e}", case.name))?;
    let reference = reference(case, &x, &y).map_err(|e| format!("{} (plain): {e}", case.name))?;
    let runs = run_case(case, reps, &x, &y, reference.state.as_ref())?;
    let per_rep: Vec<Duration> =
        (0..reps).map(|i| runs.iter().map(|r| r.times[i]).max().unwrap_or_default()).collect();
    let t = median(per_rep).as_secs_f64();
    let p0 = &runs[0];
    let dealer = median(p0.dealer.clone()).as_secs_f64();
    // Inference results hold the first pass's logits and a steady pass's: each is compared.
    let err = p0
        .result
        .chunks(reference.want.len().max(1))
        .map(|got| max_abs_diff(got, &reference.want))
        .fold(0.0f64, f64::max);
    let loss_note = match (p0.loss, reference.loss) {
        (Some(g), Some(w)) => {
            format!(", loss abs err {:.3e} (CrypTen {CRYPTEN_LOSS_ERR:.3e})", (g - w).abs())
        }
        _ => String::new(),
    };
    let p0_mib = mib(p0.bytes);
    let rounds = format!(
        "rounds {}{}",
        p0.rounds,
        if (p0.steady_rounds, p0.steady_bytes) == (p0.rounds, p0.bytes) {
            String::new()
        } else {
            format!(
                " first pass, {} steady (BatchNorm folded, weights fixed; {:.2} MiB steady)",
                p0.steady_rounds,
                mib(p0.steady_bytes)
            )
        }
    );
    let note = match case.baseline {
        Some(b) => format!(
            "{rounds} (CrypTen {}), P0 bytes {p0_mib:.2} MiB (CrypTen {:.2}, {:.2}x fewer), \
             max abs err {err:.3e} (CrypTen {:.3e}){loss_note}, dealer {dealer:.4} s at P0",
            b.rounds,
            b.bytes_mib,
            b.bytes_mib / p0_mib.max(1e-12),
            b.max_abs_err,
        ),
        None => format!(
            "{rounds}, P0 bytes {p0_mib:.2} MiB, max abs err {err:.3e}{loss_note}, dealer \
             {dealer:.4} s at P0 (no CrypTen row)"
        ),
    };
    Ok(crypten_row(format!("nn {}", case.name), t, case.baseline.map(|b| b.median_s), note))
}

pub fn rows(opts: &Options, wanted: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let quick = opts.quick;
    let name = |c: &Case| format!("nn {}", c.name);
    let mut rows =
        measured_rows(cases(), name, wanted, |c| measure(c, if quick { 2 } else { c.reps }));
    rows.extend(crate::bert::rows(opts, wanted));
    rows
}
