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
use cloak_comm::NetProfile;
use cloak_dealer::PreprocessHandle;
use cloak_mpc::{Session, SessionConfig};
use cloak_nn::{Module, ModuleExt};
use cloak_onnx::OnnxModel;
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

use crate::crypten::{self, Baseline};
use crate::harness::{Options, Row, crypten_row, measured_rows};
use crate::mpc::median;
use crate::parties::{Setup, two_parties_tcp};

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
    /// The sessions' strategies.
    config: fn() -> SessionConfig,
    /// Timed passes run on material prepared ahead of time (an offline phase, timed and
    /// counted apart): the row's time is the online phase.
    prepared: bool,
}

/// A plain-loopback case with the default strategies.
fn case(name: &'static str, file: &'static str, baseline: Option<Baseline>, reps: usize) -> Case {
    Case {
        name,
        file,
        baseline,
        reps,
        audio_s: None,
        tls: false,
        config: SessionConfig::default,
        prepared: false,
    }
}

fn dealer_bits() -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(cloak_mpc::primitives::DealerBits),
        ..SessionConfig::default()
    }
}

fn dealer_digits() -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(cloak_mpc::primitives::DealerDigits),
        ..SessionConfig::default()
    }
}

fn bit_plane_carry() -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(cloak_mpc::primitives::BitPlaneCarry),
        ..SessionConfig::default()
    }
}

/// FSS comparisons with 48-bit keys (activations below 2^31), exact dealer-pair truncation.
fn fss_48() -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(
            cloak_mpc::primitives::FunctionSecretSharing::with_input_bits(48)
                .expect("48 is a valid width"),
        ),
        ..SessionConfig::default()
    }
}

/// The comparison-strategy rows of a model: the bit-plane circuit, dealer bits, dealer
/// digits (the default) and FSS, each
/// with its dealer's material prepared ahead of time (the online phase timed), for the
/// network profiles.
fn strategy_cases(
    name: [&'static str; 4],
    file: &'static str,
    audio_s: Option<f64>,
    reps: usize,
) -> [Case; 4] {
    let with = |name, config: fn() -> SessionConfig| Case {
        name,
        file,
        baseline: None,
        reps,
        audio_s,
        tls: false,
        config,
        prepared: true,
    };
    [
        with(name[0], bit_plane_carry),
        with(name[1], dealer_bits),
        with(name[2], dealer_digits),
        with(name[3], fss_48),
    ]
}

fn cases() -> Vec<Case> {
    let wav = |name, tls| Case {
        audio_s: Some(1.0),
        tls,
        ..case(name, "wav2letter", crypten::ONNX_WAV2LETTER, 3)
    };
    let mut out = vec![
        case("ResNet-18 1x3x224x224", "resnet18", crypten::ONNX_RESNET18, 2),
        case("ResNet-50 1x3x224x224", "resnet50", crypten::ONNX_RESNET50, 1),
        case("MobileNetV2 1x3x224x224", "mobilenet_v2", crypten::ONNX_MOBILENET_V2, 2),
        wav("Wav2Letter 1 s audio (1x13x100 MFCC)", false),
        Case {
            tls: true,
            ..case("ResNet-18 1x3x224x224, TLS", "resnet18", crypten::ONNX_RESNET18, 2)
        },
        wav("Wav2Letter 1 s audio (1x13x100 MFCC), TLS", true),
    ];
    out.extend(strategy_cases(
        [
            "ResNet-18 1x3x224x224, bit-plane carry, prepared",
            "ResNet-18 1x3x224x224, dealer bits, prepared",
            "ResNet-18 1x3x224x224, dealer digits, prepared",
            "ResNet-18 1x3x224x224, fss 48-bit, prepared",
        ],
        "resnet18",
        None,
        2,
    ));
    out.extend(strategy_cases(
        [
            "Wav2Letter 1 s audio, bit-plane carry, prepared",
            "Wav2Letter 1 s audio, dealer bits, prepared",
            "Wav2Letter 1 s audio, dealer digits, prepared",
            "Wav2Letter 1 s audio, fss 48-bit, prepared",
        ],
        "wav2letter",
        Some(1.0),
        3,
    ));
    out
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
    /// Prepared cases: seconds of each offline phase and the bytes this party sent in it.
    offline: Vec<(f64, u64)>,
    out: ArrayD<f64>,
}

fn party(
    s: &Session,
    handle: &PreprocessHandle,
    model: &OnnxModel,
    x: &ArrayD<f64>,
    reps: usize,
    prepared: bool,
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
    if prepared {
        handle.record();
    }
    let (steady, _) = counted()?;
    handle.stop();
    let (mut times, mut offline, mut online) = (Vec::new(), Vec::new(), None);
    for _ in 0..reps {
        if prepared {
            // The offline phase: the dealer's material for one pass, made and delivered.
            s.barrier()?;
            let sent = |s: &Session| s.comm_stats().total().bytes_sent;
            let (t, before) = (Instant::now(), sent(s));
            s.context()?.prepare_dealer()?;
            offline.push((t.elapsed().as_secs_f64(), sent(s) - before));
        }
        s.barrier()?;
        s.reset_stats();
        let t = Instant::now();
        forward()?;
        times.push(t.elapsed());
        if prepared && online.is_none() {
            let t = s.comm_stats().total();
            online = Some((t.rounds, t.bytes_sent + t.bytes_received));
            if std::env::var_os("CLOAK_BENCH_LABELS").is_some() && s.rank() == 0 {
                eprintln!("{}", s.comm_stats());
            }
        }
    }
    s.barrier()?;
    // A prepared case reports the online pass's rounds and bytes as its steady ones.
    let steady = online.unwrap_or(steady);
    if prepared && handle.stats().misses > 0 {
        return Err(format!("{} requests missed the prepared plan", handle.stats().misses).into());
    }
    Ok(PartyRun { times, first, steady, offline, out })
}

fn measure(case: &Case, reps: usize, net: Option<NetProfile>) -> Result<Row, String> {
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
    let setup = Setup { tls: case.tls, net, config: (case.config)() };
    let runs = two_parties_tcp(Duration::from_secs(1800), &setup, |s, handle| {
        party(s, handle, &model, &x, reps, case.prepared).map_err(|e| e.to_string())
    })
    .map_err(|e| format!("onnx {}: {e}", case.name))?;
    let per_rep: Vec<Duration> =
        (0..reps).map(|i| runs.iter().map(|r| r.times[i]).max().unwrap_or_default()).collect();
    let t = median(per_rep).as_secs_f64();
    let p0 = &runs[0];
    let error = p0.out.iter().zip(want.iter()).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    let mib_of = crate::harness::mib;
    let (mib, first_mib) = (mib_of(p0.steady.1), mib_of(p0.first.1));
    let realtime = case.audio_s.map_or(String::new(), |a| format!(", {:.2}x real time", a / t));
    let first = format!("; first pass {first_mib:.1} MiB, {} rounds", p0.first.0);
    let offline = if case.prepared {
        let secs: Vec<f64> =
            (0..reps).map(|i| runs.iter().map(|r| r.offline[i].0).fold(0.0, f64::max)).collect();
        let sent: u64 = runs.iter().map(|r| r.offline.first().map_or(0, |o| o.1)).sum();
        format!(
            "; online phase timed, offline {:.2} s and {:.1} MiB sent per pass",
            median(secs.iter().map(|s| Duration::from_secs_f64(*s)).collect()).as_secs_f64(),
            mib_of(sent)
        )
    } else {
        String::new()
    };
    let first = format!("{first}{offline}");
    let estimate = net.map(|p| p.estimate(p0.steady.0, p0.steady.1 / 2).as_secs_f64());
    let net_note = net.map_or(String::new(), |p| format!(", links shaped to {p}"));
    let first = format!("{first}{net_note}");
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
    // CrypTen's time was measured on loopback: no ratio beside a shaped time.
    let baseline = case.baseline.filter(|_| net.is_none()).map(|b| b.median_s);
    let mut row = crypten_row(format!("onnx {}", case.name), t, baseline, note);
    row.estimate = estimate;
    Ok(row)
}

pub fn rows(opts: &Options, wanted: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let (quick, net) = (opts.quick, opts.net);
    let name = |c: &Case| format!("onnx {}", c.name);
    measured_rows(cases(), name, wanted, |c| measure(c, if quick { 1 } else { c.reps }, net))
}
