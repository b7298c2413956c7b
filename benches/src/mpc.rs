//! cloak-mpc rows, matching the peer baseline: two parties as threads of this process over
//! loopback TCP, one thread each (a one-thread rayon pool per party), trusted-first-party
//! dealer, 16 fractional bits, as CrypTen was run.
//!
//! Time per repetition is the slower party's (a barrier before each), and includes making
//! the correlated randomness, as CrypTen's does; the dealer's share of it is in the notes.
//! Rounds and bytes are party 0's, from the warm-up run, bytes sent plus received. Sessions
//! are set up securely (fresh seeds from the operating system), outside the timing.
//!
//! With `--net`, the links imitate that network, each case runs at most 5 repetitions (the
//! network dominates, and varies little), and each row shows the profile's estimate from
//! party 0's rounds and bytes: `rounds * RTT + bytes / bandwidth`, where the bytes are the
//! larger of what it sent and received (the two directions of a link move at once).

use std::time::{Duration, Instant};

use cloak_comm::runner::run_parties;
use cloak_comm::{CommConfig, NetProfile, TcpComm};
use cloak_mpc::{AShare, MpcError, Session, SessionConfig};
use cloak_ring::Conv2dSpec;
use ndarray::{ArrayD, IxDyn};

use crate::crypten::{self, Baseline};
use crate::harness::{Better, Options, Row};

/// An operation on two shared inputs.
type Op = fn(&AShare, &AShare) -> Result<AShare, MpcError>;

struct Case {
    name: &'static str,
    label: &'static str,
    x_shape: Vec<usize>,
    y_shape: Vec<usize>,
    /// Inputs for `x` (`y` is uniform in [-1, 1)).
    x_input: Input,
    op: Op,
    reference: fn(&ArrayD<f64>, &ArrayD<f64>) -> ArrayD<f64>,
    baseline: Baseline,
    reps: usize,
    /// The session's configuration (strategies).
    config: fn() -> SessionConfig,
    /// Each timed repetition runs on material its dealer prepared ahead of time (an
    /// offline phase, untimed): the time is the online phase's.
    prepared: bool,
}

/// How a case's inputs are drawn (as the baseline drew them).
#[derive(Clone, Copy)]
pub(crate) enum Input {
    /// Uniform in `[lo, hi)`.
    Uniform(f64, f64),
    /// Standard normal.
    Normal,
}

/// Deterministic inputs in `[lo, hi)` (bench data, not shares).
pub(crate) fn uniform(shape: &[usize], seed: u64, lo: f64, hi: f64) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).expect("length matches shape")
}

pub(crate) fn inputs(shape: &[usize], seed: u64, input: Input) -> ArrayD<f64> {
    match input {
        Input::Uniform(lo, hi) => uniform(shape, seed, lo, hi),
        Input::Normal => {
            // Box-Muller on pairs of uniforms.
            let u = uniform(shape, seed, f64::EPSILON, 1.0);
            let v = uniform(shape, seed ^ 0x5555, 0.0, 1.0);
            ndarray::Zip::from(&u).and(&v).map_collect(|&a, &b| {
                (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
            })
        }
    }
}

fn softmax_rows(x: &ArrayD<f64>) -> ArrayD<f64> {
    let mut out = x.clone();
    for mut row in out.rows_mut() {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        row.mapv_inplace(|v| (v - max).exp());
        let sum: f64 = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    out
}

fn conv_spec() -> Conv2dSpec {
    Conv2dSpec { padding: (1, 1), ..Conv2dSpec::default() }
}

fn f64_matmul(a: &ArrayD<f64>, b: &ArrayD<f64>) -> ArrayD<f64> {
    let a2 = a.view().into_dimensionality::<ndarray::Ix2>().expect("2-d");
    let b2 = b.view().into_dimensionality::<ndarray::Ix2>().expect("2-d");
    a2.dot(&b2).into_dyn()
}

fn f64_conv(x: &ArrayD<f64>, w: &ArrayD<f64>) -> ArrayD<f64> {
    let (c, h, wd) = (x.shape()[1], x.shape()[2], x.shape()[3]);
    let o = w.shape()[0];
    let mut out = ArrayD::<f64>::zeros(IxDyn(&[1, o, h, wd]));
    for oc in 0..o {
        for ic in 0..c {
            for ki in 0..3 {
                for kj in 0..3 {
                    let wv = w[[oc, ic, ki, kj]];
                    for i in 0..h {
                        let ii = i + ki;
                        if ii < 1 || ii > h {
                            continue;
                        }
                        for j in 0..wd {
                            let jj = j + kj;
                            if jj < 1 || jj > wd {
                                continue;
                            }
                            out[[0, oc, i, j]] += wv * x[[0, ic, ii - 1, jj - 1]];
                        }
                    }
                }
            }
        }
    }
    out
}

/// The bit-plane carry comparison circuit (the default before dealer bits), everything else
/// default.
fn bit_plane_carry() -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(cloak_mpc::primitives::BitPlaneCarry),
        ..SessionConfig::default()
    }
}

/// The dealer-bits comparison (edaBits: a carry tree over single bits), everything else
/// default.
fn dealer_bits() -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(cloak_mpc::primitives::DealerBits),
        ..SessionConfig::default()
    }
}

/// The function-secret-sharing comparison (two parties), everything else default.
fn fss() -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(
            cloak_mpc::primitives::FunctionSecretSharing::default(),
        ),
        ..SessionConfig::default()
    }
}

/// The FSS comparison with 48-bit inputs (values below 2^31 at 16 bits): keys a quarter
/// smaller.
fn fss_narrow() -> SessionConfig {
    SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(
            cloak_mpc::primitives::FunctionSecretSharing::with_input_bits(48)
                .expect("48 is a valid width"),
        ),
        ..SessionConfig::default()
    }
}

/// Local share truncation (two parties; wrong by 2^32 now and then on large products).
fn local_shares() -> SessionConfig {
    SessionConfig {
        truncation: cloak_mpc::Truncation::LocalShares.into(),
        ..SessionConfig::default()
    }
}

/// Dealer truncation pairs (one round; off by at most one unit).
fn dealer_pairs() -> SessionConfig {
    SessionConfig {
        truncation: cloak_mpc::Truncation::DealerPairs.into(),
        ..SessionConfig::default()
    }
}

/// Exact truncation by FSS (one round; exact to the bit).
fn fss_exact() -> SessionConfig {
    SessionConfig {
        truncation: cloak_mpc::primitives::FssTruncation::default().into(),
        ..SessionConfig::default()
    }
}

/// `mul` on 10^6 elements with the truncation of `config`.
fn mul_case(name: &'static str, reps: usize, config: fn() -> SessionConfig) -> Case {
    Case {
        name,
        label: "mul",
        x_shape: vec![1_000_000],
        x_input: Input::Uniform(-1.0, 1.0),
        y_shape: vec![1_000_000],
        op: |x, y| x.mul(y),
        reference: |x, y| x * y,
        baseline: crypten::MUL_1M,
        reps,
        config,
        prepared: false,
    }
}

/// `relu` and `lt` on 10^6 elements with the comparison strategy of `config`.
fn comparison_cases(
    names: [&'static str; 2],
    reps: usize,
    config: fn() -> SessionConfig,
    prepared: bool,
) -> [Case; 2] {
    let m = 1_000_000;
    [
        Case {
            name: names[0],
            label: "relu",
            x_shape: vec![m],
            x_input: Input::Uniform(-1.0, 1.0),
            y_shape: vec![1],
            op: |x, _| x.relu(),
            reference: |x, _| x.mapv(|v| v.max(0.0)),
            baseline: crypten::RELU_1M,
            reps,
            config,
            prepared,
        },
        Case {
            name: names[1],
            label: "lt",
            x_shape: vec![m],
            x_input: Input::Uniform(-1.0, 1.0),
            y_shape: vec![m],
            op: |x, y| x.lt(y),
            // Comparisons are exact on the encoded inputs: compare the values rounded to the
            // 2^-16 grid (a few of a million pairs differ by less than that).
            reference: |x, y| {
                let q = |v: f64| (v * 65536.0).round();
                ndarray::Zip::from(x).and(y).map_collect(|&a, &b| f64::from(u8::from(q(a) < q(b))))
            },
            baseline: crypten::LT_1M,
            reps,
            config,
            prepared,
        },
    ]
}

fn cases() -> Vec<Case> {
    // CrypTen's "1M" is 10^6 elements (its 30.52 MiB for mul is 32 * 10^6 bytes).
    let mut out = vec![
        mul_case("mul 1M", 20, SessionConfig::default),
        mul_case("mul 1M, local shares", 20, local_shares),
        mul_case("mul 1M, dealer pairs", 20, dealer_pairs),
        mul_case("mul 1M, fss exact", 3, fss_exact),
        Case {
            name: "matmul 256x256",
            label: "matmul",
            x_shape: vec![256, 256],
            x_input: Input::Uniform(-1.0, 1.0),
            y_shape: vec![256, 256],
            op: |x, y| x.matmul(y),
            reference: f64_matmul,
            baseline: crypten::MATMUL_256,
            reps: 30,
            config: SessionConfig::default,
            prepared: false,
        },
        Case {
            name: "matmul 1024x1024",
            label: "matmul",
            x_shape: vec![1024, 1024],
            x_input: Input::Uniform(-1.0, 1.0),
            y_shape: vec![1024, 1024],
            op: |x, y| x.matmul(y),
            reference: f64_matmul,
            baseline: crypten::MATMUL_1024,
            reps: 10,
            config: SessionConfig::default,
            prepared: false,
        },
        Case {
            name: "conv2d 1x64x56x56 k64x64x3x3 p1",
            label: "conv2d",
            x_shape: vec![1, 64, 56, 56],
            x_input: Input::Uniform(-1.0, 1.0),
            y_shape: vec![64, 64, 3, 3],
            op: |x, w| x.conv2d(w, &conv_spec()),
            reference: f64_conv,
            baseline: crypten::CONV2D,
            reps: 20,
            config: SessionConfig::default,
            prepared: false,
        },
    ];
    // The comparison rows, once per strategy: the default (dealer digits), dealer bits, the
    // circuit, FSS (key delivery dominates: few repeats).
    out.extend(comparison_cases(["relu 1M", "lt 1M"], 10, SessionConfig::default, false));
    out.extend(comparison_cases(
        ["relu 1M, dealer bits", "lt 1M, dealer bits"],
        10,
        dealer_bits,
        false,
    ));
    out.extend(comparison_cases(
        ["relu 1M, bit-plane carry", "lt 1M, bit-plane carry"],
        10,
        bit_plane_carry,
        false,
    ));
    out.extend(comparison_cases(["relu 1M, fss", "lt 1M, fss"], 3, fss, false));
    out.extend(comparison_cases(["relu 1M, fss, prepared", "lt 1M, fss, prepared"], 3, fss, true));
    out.extend(comparison_cases(
        ["relu 1M, fss 48-bit, prepared", "lt 1M, fss 48-bit, prepared"],
        3,
        fss_narrow,
        true,
    ));
    out.extend([
        Case {
            name: "sigmoid 100k",
            label: "sigmoid",
            x_shape: vec![100_000],
            x_input: Input::Uniform(-8.0, 8.0),
            y_shape: vec![1],
            op: |x, _| x.sigmoid(),
            reference: |x, _| x.mapv(|v| 1.0 / (1.0 + (-v).exp())),
            baseline: crypten::SIGMOID_100K,
            reps: 10,
            config: SessionConfig::default,
            prepared: false,
        },
        Case {
            name: "exp 100k",
            label: "exp",
            x_shape: vec![100_000],
            x_input: Input::Uniform(-4.0, 4.0),
            y_shape: vec![1],
            op: |x, _| x.exp(),
            reference: |x, _| x.mapv(f64::exp),
            baseline: crypten::EXP_100K,
            reps: 10,
            config: SessionConfig::default,
            prepared: false,
        },
        Case {
            name: "reciprocal 100k",
            label: "reciprocal",
            x_shape: vec![100_000],
            x_input: Input::Uniform(0.1, 10.0),
            y_shape: vec![1],
            op: |x, _| x.reciprocal(),
            reference: |x, _| x.mapv(f64::recip),
            baseline: crypten::RECIPROCAL_100K,
            reps: 10,
            config: SessionConfig::default,
            prepared: false,
        },
        Case {
            name: "sqrt 100k",
            label: "sqrt",
            x_shape: vec![100_000],
            x_input: Input::Uniform(0.1, 10.0),
            y_shape: vec![1],
            op: |x, _| x.sqrt(),
            reference: |x, _| x.mapv(f64::sqrt),
            baseline: crypten::SQRT_100K,
            reps: 10,
            config: SessionConfig::default,
            prepared: false,
        },
        Case {
            name: "log 100k",
            label: "log",
            x_shape: vec![100_000],
            x_input: Input::Uniform(0.1, 10.0),
            y_shape: vec![1],
            op: |x, _| x.log(),
            reference: |x, _| x.mapv(f64::ln),
            baseline: crypten::LOG_100K,
            reps: 10,
            config: SessionConfig::default,
            prepared: false,
        },
        Case {
            name: "softmax 1000x100 dim=-1",
            label: "softmax",
            x_shape: vec![1000, 100],
            x_input: Input::Normal,
            y_shape: vec![1],
            op: |x, _| x.softmax(1),
            reference: |x, _| softmax_rows(x),
            baseline: crypten::SOFTMAX_1000X100,
            reps: 10,
            config: SessionConfig::default,
            prepared: false,
        },
    ]);
    out
}

/// What one party measured.
struct PartyRun {
    times: Vec<Duration>,
    dealer: Vec<Duration>,
    rounds: u64,
    bytes_sent: u64,
    bytes_received: u64,
    /// Bytes sent for the dealer's material (offline traffic) in the warm-up run.
    offline_sent: u64,
    result: ArrayD<f64>,
}

fn run_case(
    case: &Case,
    reps: usize,
    net: Option<NetProfile>,
) -> Result<(Vec<PartyRun>, ArrayD<f64>), String> {
    let x = inputs(&case.x_shape, 1, case.x_input);
    let y = inputs(&case.y_shape, 2, Input::Uniform(-1.0, 1.0));
    let want = (case.reference)(&x, &y);
    let config = CommConfig::with_timeouts(Duration::from_secs(60)).with_network(net);
    let comms = TcpComm::create_local(2, &config).map_err(|e| e.to_string())?;
    let outcomes = run_parties(comms, |comm| -> Result<PartyRun, MpcError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map_err(|e| MpcError::InvalidArgument { op: "bench", reason: e.to_string() })?;
        pool.install(|| {
            // A secure set-up (fresh seeds), as a deployment would; it is not timed. The
            // trusted first party is wrapped for an offline phase (a pass-through unless the
            // case is prepared).
            let mut comm = comm;
            let tfp = cloak_dealer::TrustedFirstParty::setup(&mut comm, 2)?;
            let (dealer, handle) = cloak_dealer::Preprocessed::new(tfp);
            let s = Session::with_dealer(Box::new(comm), (case.config)(), Box::new(dealer))?;
            let xs = AShare::share(&s, 0, (s.rank() == 0).then_some(&x), x.shape())?;
            let ys = AShare::share(&s, 1, (s.rank() == 1).then_some(&y), y.shape())?;
            s.barrier()?;
            s.reset_stats();
            if case.prepared {
                handle.record();
            }
            let warm = (case.op)(&xs, &ys)?;
            handle.stop();
            let stats = s.comm_stats();
            let op_stats = stats.get(case.label).copied().unwrap_or_default();
            let offline_sent = stats.get(cloak_dealer::DEALER_LABEL).map_or(0, |o| o.bytes_sent);
            let result = warm.reveal()?;
            let (mut times, mut dealer) = (Vec::new(), Vec::new());
            for _ in 0..reps {
                if case.prepared {
                    s.barrier()?;
                    s.context()?.prepare_dealer()?;
                }
                s.barrier()?;
                let d0 = s.dealer_stats().time;
                let t = Instant::now();
                std::hint::black_box((case.op)(&xs, &ys)?);
                times.push(t.elapsed());
                dealer.push(s.dealer_stats().time - d0);
            }
            s.barrier()?;
            Ok(PartyRun {
                times,
                dealer,
                rounds: op_stats.rounds,
                bytes_sent: op_stats.bytes_sent,
                bytes_received: op_stats.bytes_received,
                offline_sent,
                result,
            })
        })
    });
    let runs: Vec<PartyRun> = outcomes
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", case.name))?;
    Ok((runs, want))
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

pub fn rows(opts: &Options, wanted: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let (quick, net) = (opts.quick, opts.net);
    let mut rows = Vec::new();
    for case in cases() {
        let name = format!("mpc {}", case.name);
        if !wanted(&name) {
            continue;
        }
        let reps = match (quick, net) {
            (true, _) => 3,
            (false, Some(_)) => case.reps.min(5),
            (false, None) => case.reps,
        };
        let (runs, want) = match run_case(&case, reps, net) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cloak-benches: {e}");
                continue;
            }
        };
        let per_rep: Vec<Duration> =
            (0..reps).map(|i| runs.iter().map(|r| r.times[i]).max().unwrap_or_default()).collect();
        let t = median(per_rep).as_secs_f64();
        let dealer = median(runs[0].dealer.clone()).as_secs_f64();
        // Online: each repetition's slower party, without the time it spent obtaining the
        // dealer's material (making it, for party 0 as the trusted first party, or waiting
        // for it), which a deployment does ahead of time.
        let online = median(
            (0..reps)
                .map(|i| {
                    runs.iter()
                        .map(|r| r.times[i].saturating_sub(r.dealer[i]))
                        .max()
                        .unwrap_or_default()
                })
                .collect(),
        )
        .as_secs_f64();
        let offline_mib = crate::harness::mib(runs.iter().map(|r| r.offline_sent).sum::<u64>());
        let err = runs[0]
            .result
            .iter()
            .zip(want.iter())
            .map(|(g, w)| (g - w).abs())
            .fold(0.0f64, f64::max);
        // Relative error where |reference| >= 0.1, the baseline's convention.
        let rel = runs[0]
            .result
            .iter()
            .zip(want.iter())
            .filter(|(_, w)| w.abs() >= 0.1)
            .map(|(g, w)| (g - w).abs() / w.abs())
            .fold(0.0f64, f64::max);
        let p0 = &runs[0];
        let mib = crate::harness::mib(p0.bytes_sent + p0.bytes_received);
        let estimate =
            net.map(|p| p.estimate(p0.rounds, p0.bytes_sent.max(p0.bytes_received)).as_secs_f64());
        let net_note = net.map_or(String::new(), |p| format!(", links shaped to {p}"));
        let b = case.baseline;
        let rel_note = match b.max_rel_err {
            Some(r) => format!(", max rel err {rel:.3e} (CrypTen {r:.3e})"),
            None => String::new(),
        };
        rows.push(Row {
            name,
            value: t,
            unit: "s",
            // CrypTen's time was measured on loopback: no ratio beside a shaped time.
            limit: net.is_none().then_some(b.median_s),
            limit_label: "CrypTen 0.4.1",
            better: Better::Lower,
            estimate,
            note: format!(
                "rounds {} (CrypTen {}), P0 bytes {mib:.2} MiB (CrypTen {:.2}, {:.2}x fewer), \
                 max abs err {err:.3e} (CrypTen {:.3e}){rel_note}, dealer {:.4} s at P0, online {online:.4} s, \
                 offline {offline_mib:.1} MiB{net_note}",
                runs[0].rounds,
                b.rounds,
                b.bytes_mib,
                b.bytes_mib / mib.max(1e-12),
                b.max_abs_err,
                dealer
            ),
        });
    }
    rows
}
