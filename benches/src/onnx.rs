//! cloak-onnx rows: private inference of exported torchvision and torchaudio models, two
//! parties as threads of this process over loopback TCP, one thread each, trusted-first-party
//! dealer, 16 fractional bits; party 0 owns the model (its weights are secret-shared), party 1
//! the input; the output is revealed for the error only. CrypTen 0.4.1 ran `from_onnx` on the
//! same files the same way (`benches/models/crypten_onnx.py`).
//!
//! Times and the main rounds and bytes are of steady passes: the first pass runs as any
//! product does, the second prepares the owner's weights (each weight's persistent mask is
//! opened once, `cloak_mpc::FixedOperand`), and from then on a product opens only its input's
//! mask. The first pass's bytes are reported beside them.
//!
//! The models are not committed (tens of MiB): `benches/models/make_models.py` writes them to
//! `benches/models/out/`; a missing file skips its row with a message. Time is the slower
//! party's per forward pass (a barrier before each; bytes are party 0's sent plus received, as
//! CrypTen counts them). The
//! error is the max abs difference to torch's float32 output saved beside the model.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloak_autograd::{Backend, Secure, Var, no_grad};
use cloak_mpc::Session;
use cloak_nn::{Module, ModuleExt};
use cloak_onnx::OnnxModel;
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

use crate::crypten::{self, Baseline};
use crate::harness::{Options, Row, crypten_row, measured_rows};
use crate::mpc::median;
use crate::parties::two_parties_tcp_secured;

type BoxError = Box<dyn Error + Send + Sync>;

const MODEL_SRC: usize = 0;
const DATA_SRC: usize = 1;

struct Case {
    name: &'static str,
    file: &'static str,
    baseline: Option<Baseline>,
    reps: usize,
    /// Seconds of audio the input holds (Wav2Letter), for the real-time factor.
    audio_s: Option<f64>,
    /// Links under mutual TLS (a row beside the plain one, for the cost of encryption).
    tls: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "ResNet-18 1x3x224x224",
            file: "resnet18",
            baseline: crypten::ONNX_RESNET18,
            reps: 2,
            audio_s: None,
            tls: false,
        },
        Case {
            name: "ResNet-50 1x3x224x224",
            file: "resnet50",
            baseline: crypten::ONNX_RESNET50,
            reps: 1,
            audio_s: None,
            tls: false,
        },
        Case {
            name: "MobileNetV2 1x3x224x224",
            file: "mobilenet_v2",
            baseline: crypten::ONNX_MOBILENET_V2,
            reps: 2,
            audio_s: None,
            tls: false,
        },
        Case {
            name: "Wav2Letter 1 s audio (1x13x100 MFCC)",
            file: "wav2letter",
            baseline: crypten::ONNX_WAV2LETTER,
            reps: 3,
            audio_s: Some(1.0),
            tls: false,
        },
        Case {
            name: "ResNet-18 1x3x224x224, TLS",
            file: "resnet18",
            baseline: crypten::ONNX_RESNET18,
            reps: 2,
            audio_s: None,
            tls: true,
        },
        Case {
            name: "Wav2Letter 1 s audio (1x13x100 MFCC), TLS",
            file: "wav2letter",
            baseline: crypten::ONNX_WAV2LETTER,
            reps: 3,
            audio_s: Some(1.0),
            tls: true,
        },
    ]
}

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/out")
}

fn read_npy(path: &Path) -> Result<ArrayD<f64>, BoxError> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Ok(a) = ArrayD::<f32>::read_npy(&bytes[..]) {
        return Ok(a.mapv(f64::from));
    }
    Ok(ArrayD::<f64>::read_npy(&bytes[..]).map_err(|e| format!("{}: {e}", path.display()))?)
}

struct PartyRun {
    times: Vec<Duration>,
    /// Rounds and bytes of the first pass (weights not yet prepared).
    first: (u64, u64),
    /// Rounds and bytes of a steady pass (after the second pass prepared the weights).
    steady: (u64, u64),
    out: ArrayD<f64>,
}

fn party(
    s: &Session,
    model: &OnnxModel,
    x: &ArrayD<f64>,
    reps: usize,
) -> Result<PartyRun, BoxError> {
    let b = Secure::new(s);
    let rank = s.rank();
    let shape = x.shape().to_vec();
    let net = model.build(&b, &shape)?;
    net.load_state(MODEL_SRC, if rank == MODEL_SRC { model.weights() } else { None })?;
    let xv = Var::constant(&b, b.input(DATA_SRC, (rank == DATA_SRC).then_some(x), &shape)?);
    let forward = || no_grad(|| net.forward(&xv));
    let counted = || -> Result<((u64, u64), Var<Secure>), BoxError> {
        s.barrier()?;
        s.reset_stats();
        let y = forward()?;
        let t = s.comm_stats().total();
        Ok(((t.rounds, t.bytes_sent + t.bytes_received), y))
    };
    // The first pass shares nothing more than a plain run; the second prepares each
    // weight (opens its persistent mask once); later passes reuse them.
    let (first, y) = counted()?;
    let out = b.reveal(&y.value())?;
    forward()?;
    let (steady, _) = counted()?;
    let mut times = Vec::new();
    for _ in 0..reps {
        s.barrier()?;
        let t = Instant::now();
        forward()?;
        times.push(t.elapsed());
    }
    s.barrier()?;
    Ok(PartyRun { times, first, steady, out })
}

fn measure(case: &Case, reps: usize) -> Result<Row, String> {
    let dir = models_dir();
    let file = dir.join(format!("{}.onnx", case.file));
    if !file.exists() {
        return Err(format!(
            "onnx {}: {} is missing; create it with `python benches/models/make_models.py` (torch, torchvision, torchaudio)",
            case.name,
            file.display()
        ));
    }
    let err = |e: BoxError| format!("onnx {}: {e}", case.name);
    let model = OnnxModel::load(&file).map_err(|e| err(e.into()))?;
    let x = read_npy(&dir.join(format!("{}.input.npy", case.file))).map_err(err)?;
    let want = read_npy(&dir.join(format!("{}.output.npy", case.file))).map_err(err)?;
    let runs = two_parties_tcp_secured(Duration::from_secs(900), case.tls, |s| {
        party(s, &model, &x, reps).map_err(|e| e.to_string())
    })
    .map_err(|e| format!("onnx {}: {e}", case.name))?;
    let per_rep: Vec<Duration> =
        (0..reps).map(|i| runs.iter().map(|r| r.times[i]).max().unwrap_or_default()).collect();
    let t = median(per_rep).as_secs_f64();
    let p0 = &runs[0];
    let error = p0.out.iter().zip(want.iter()).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    let mib_of = |bytes: u64| bytes as f64 / (1u64 << 20) as f64;
    let (mib, first_mib) = (mib_of(p0.steady.1), mib_of(p0.first.1));
    let realtime = case.audio_s.map_or(String::new(), |a| format!(", {:.2}x real time", a / t));
    let first = format!("; first pass {first_mib:.1} MiB, {} rounds", p0.first.0);
    let note = match case.baseline {
        Some(b) => format!(
            "rounds {} (CrypTen {}), P0 bytes {mib:.1} MiB (CrypTen {:.1}, {:.2}x fewer{first}), \
             max abs err {error:.3e} (CrypTen {:.3e}){realtime}",
            p0.steady.0,
            b.rounds,
            b.bytes_mib,
            b.bytes_mib / mib.max(1e-12),
            b.max_abs_err
        ),
        None => format!(
            "rounds {}, P0 bytes {mib:.1} MiB{first}, max abs err {error:.3e}{realtime} (no \
             CrypTen row)",
            p0.steady.0
        ),
    };
    Ok(crypten_row(format!("onnx {}", case.name), t, case.baseline.map(|b| b.median_s), note))
}

pub fn rows(opts: &Options, wanted: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let quick = opts.quick;
    let name = |c: &Case| format!("onnx {}", c.name);
    measured_rows(cases(), name, wanted, |c| measure(c, if quick { 1 } else { c.reps }))
}
