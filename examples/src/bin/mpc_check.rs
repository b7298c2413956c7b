//! Conformance check of the MPC protocols over real TCP between separate processes: a fixed
//! battery of operations on deterministic inputs, each compared with plain `f64` (or exact
//! integer) arithmetic, one JSON line per operation.
//!
//! The protocol crates test themselves with threads over in-process channels and a test
//! session. This program checks the deployment path instead: processes that find each other
//! through launcher variables, `Session::setup` with fresh seeds from the operating system,
//! and (with `--dealer ttp`) a dealer that is a process of its own. Every computing party
//! prints, per operation,
//!
//! `{"party":0,"op":"mul","shape":[4,8],"max_abs_err":7.62939453125e-6,"tol":1.52587890625e-5,"ok":true}`
//!
//! (or `"skipped":"why"`), then a summary line, and exits non-zero if any operation is out
//! of tolerance. The dealer process prints one `{"dealer":...}` line.
//!
//! Inputs are public test vectors on the fixed-point grid (multiples of `2^-16`), so encoding
//! is exact, while products have bits below the last place, so truncation really rounds.
//! Numerators stay below `2^20`, so every product (below `2^40` units of `2^-32`) and every
//! sum of up to 18 of them is exact in `f64`, and so is each reference below (the large
//! products are checked in `i128`): what is measured is the protocols' own error. Each input
//! is still shared by one owner only, as in a real computation. Tolerances, with `u = 2^-16`
//! one unit in the last place of the 16-bit encoding:
//!
//! - `mul`, `square`, `matmul`, `matmul_public`, `conv2d`: `u`. The product (a sum of
//!   products for matmul and conv2d) is exact in `Z_2^64` and truncated once: local share
//!   division is off by less than one unit, dealer pairs by at most one.
//! - `trunc_large`: products of `|x| < 2^15` by `|y| < 2^14` (real values up to about
//!   `2^29`, `2^61` at double scale) with dealer truncation pairs, within `u` as well: pairs
//!   are never off by more than one unit below `2^(62 - 2f) = 2^30`. It needs dealer pairs,
//!   the default for 3 or more parties (`--truncation dealer` forces them for 2); with local
//!   share division (2 parties) such products would be wrong by `2^32` with probability
//!   about `|x| / 2^32` each, so it is skipped there.
//! - `relu`, `gt_public`, `lt`, `eq`, `a2b`, `a2b_b2a`, `max`, `argmax`: 0. Comparisons are
//!   exact on encoded values; ReLU and max select by multiplying with comparison bits, without
//!   truncating; conversions are exact; argmax is the 0/1 one-hot of the first maximum.
//!
//! Run without launcher variables it starts its own processes (`--parties N`, default 2);
//! with `RANK`/`WORLD_SIZE`/`MASTER_ADDR`/`MASTER_PORT` set it is one rank of a run (with
//! `--dealer ttp`, the last rank is the dealer). Options: `--parties N` (2..=8),
//! `--dealer tfp|ttp`, `--truncation auto|local|dealer`.

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloak_comm::runner::{ProcessRun, run_processes};
use cloak_comm::{CommConfig, Communicator, Launch, TcpComm};
use cloak_mpc::{AShare, DealerKind, FunctionConfig, Session, SessionConfig, Truncation};
use cloak_ring::testing::TestRng;
use cloak_ring::{Conv2dSpec, RingTensor};
use ndarray::{ArrayD, IxDyn};

/// Communication timeout: a dead or stalled peer ends every rank's run within this.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One unit in the last place of the 16-bit fixed-point encoding.
const ULP: f64 = 1.0 / 65536.0;

struct Options {
    parties: Option<usize>,
    dealer: DealerKind,
    truncation: Truncation,
}

const USAGE: &str =
    "usage: mpc_check [--parties N] [--dealer tfp|ttp] [--truncation auto|local|dealer]";

fn parse_options() -> Result<Options, String> {
    let mut opts = Options {
        parties: None,
        dealer: DealerKind::TrustedFirstParty,
        truncation: Truncation::Auto,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        match a.as_str() {
            "--parties" => {
                let v = value("--parties")?;
                let n: usize =
                    v.parse().map_err(|_| format!("--parties: `{v}` is not a number"))?;
                if !(2..=8).contains(&n) {
                    return Err(format!("--parties must be in 2..=8, got {n}"));
                }
                opts.parties = Some(n);
            }
            "--dealer" => {
                opts.dealer = match value("--dealer")?.as_str() {
                    "tfp" => DealerKind::TrustedFirstParty,
                    "ttp" => DealerKind::TrustedThirdParty,
                    other => return Err(format!("--dealer must be tfp or ttp, not `{other}`")),
                }
            }
            "--truncation" => {
                opts.truncation = match value("--truncation")?.as_str() {
                    "auto" => Truncation::Auto,
                    "local" => Truncation::LocalShares,
                    "dealer" => Truncation::DealerPairs,
                    other => {
                        return Err(format!(
                            "--truncation must be auto, local or dealer, not `{other}`"
                        ));
                    }
                }
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(opts)
}

// ---------------------------------------------------------------------------------------
// Test vectors

/// Fixed-point test vectors from `TestRng` (SplitMix64): a fully specified generator, so
/// every rank draws the same test vectors.
trait GridDraws {
    /// An integer uniform in `[-2^bits, 2^bits)`.
    fn int(&mut self, bits: u32) -> i64;

    /// `n` multiples of `2^-frac`, with numerators in `[-2^bits, 2^bits)`.
    fn grid(&mut self, shape: &[usize], bits: u32, frac: i32) -> ArrayD<f64>;
}

impl GridDraws for TestRng {
    fn int(&mut self, bits: u32) -> i64 {
        (self.next_u64() >> (63 - bits)) as i64 - (1i64 << bits)
    }

    fn grid(&mut self, shape: &[usize], bits: u32, frac: i32) -> ArrayD<f64> {
        let n = shape.iter().product();
        let v = (0..n).map(|_| self.int(bits) as f64 * 2f64.powi(-frac)).collect();
        ArrayD::from_shape_vec(IxDyn(shape), v).unwrap_or_else(|_| unreachable!("n matches"))
    }
}

fn arr(shape: &[usize], v: Vec<f64>) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap_or_else(|_| unreachable!("length matches"))
}

fn to_arrayd(a: ndarray::Array2<f64>) -> ArrayD<f64> {
    a.into_dyn()
}

fn matmul_ref(a: &ArrayD<f64>, b: &ArrayD<f64>) -> ArrayD<f64> {
    let a2 = a.view().into_dimensionality::<ndarray::Ix2>().unwrap_or_else(|_| unreachable!());
    let b2 = b.view().into_dimensionality::<ndarray::Ix2>().unwrap_or_else(|_| unreachable!());
    to_arrayd(a2.dot(&b2))
}

/// NCHW by OIHW, stride 1, zero padding `pad`, one group.
fn conv2d_ref(x: &ArrayD<f64>, w: &ArrayD<f64>, pad: usize) -> ArrayD<f64> {
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, kh, kw) = (w.shape()[0], w.shape()[2], w.shape()[3]);
    let (oh, ow) = (h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1);
    let mut out = ArrayD::zeros(IxDyn(&[n, o, oh, ow]));
    for b in 0..n {
        for oc in 0..o {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = 0.0;
                    for ic in 0..c {
                        for di in 0..kh {
                            for dj in 0..kw {
                                let (y, xx) = (
                                    (i + di) as isize - pad as isize,
                                    (j + dj) as isize - pad as isize,
                                );
                                if y < 0 || xx < 0 || y >= h as isize || xx >= wd as isize {
                                    continue;
                                }
                                acc += x[[b, ic, y as usize, xx as usize]] * w[[oc, ic, di, dj]];
                            }
                        }
                    }
                    out[[b, oc, i, j]] = acc;
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The battery

/// The outcome of one operation at this party.
enum Outcome {
    Checked { shape: Vec<usize>, err: f64, tol: f64 },
    Skipped(String),
}

/// Results in order, printed as JSON lines.
struct Battery {
    rank: usize,
    lines: String,
    failed: Vec<&'static str>,
    checked: usize,
    skipped: usize,
}

impl Battery {
    fn record(&mut self, op: &'static str, outcome: Outcome) {
        let rank = self.rank;
        match outcome {
            Outcome::Checked { shape, err, tol } => {
                let ok = err <= tol;
                let _ = writeln!(
                    self.lines,
                    "{{\"party\":{rank},\"op\":\"{op}\",\"shape\":{shape:?},\"max_abs_err\":{err:e},\
                     \"tol\":{tol:e},\"ok\":{ok}}}"
                );
                self.checked += 1;
                if !ok {
                    self.failed.push(op);
                }
            }
            Outcome::Skipped(why) => {
                let _ = writeln!(
                    self.lines,
                    "{{\"party\":{rank},\"op\":\"{op}\",\"skipped\":\"{why}\"}}"
                );
                self.skipped += 1;
            }
        }
    }

    /// Compares a revealed tensor with its reference.
    fn check(&mut self, op: &'static str, got: &ArrayD<f64>, want: &ArrayD<f64>, tol: f64) {
        let err = if got.shape() == want.shape() {
            got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max)
        } else {
            f64::INFINITY
        };
        self.record(op, Outcome::Checked { shape: got.shape().to_vec(), err, tol });
    }
}

/// `value` shared by `owner` (only the owner passes it).
fn share(s: &Session, owner: usize, value: &ArrayD<f64>) -> cloak_mpc::Result<AShare> {
    AShare::share(s, owner, (s.rank() == owner).then_some(value), value.shape())
}

/// Softmax along the last axis of a matrix, in f64.
fn softmax_ref(x: &ArrayD<f64>) -> ArrayD<f64> {
    let mut out = x.clone();
    for mut row in out.rows_mut() {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        row.mapv_inplace(|v| (v - max).exp());
        let sum: f64 = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    out
}

fn indicator(a: &ArrayD<f64>, b: &ArrayD<f64>, f: impl Fn(f64, f64) -> bool) -> ArrayD<f64> {
    ndarray::Zip::from(a).and(b).map_collect(|&x, &y| if f(x, y) { 1.0 } else { 0.0 })
}

fn run_battery(s: &Session, dealer_pairs: bool) -> Result<Battery, Box<dyn Error>> {
    let parties = s.parties();
    let last = parties - 1;
    let mut b = Battery {
        rank: s.rank(),
        lines: String::new(),
        failed: Vec::new(),
        checked: 0,
        skipped: 0,
    };
    let mut g = TestRng::new(0x636c_6f61_6b2d_6d70); // "cloak-mp"

    // Elementwise operands: multiples of 2^-16 in [-16, 16), some equal pairs and zeros.
    let x = g.grid(&[4, 8], 20, 16);
    let mut y = g.grid(&[4, 8], 20, 16);
    let mut x = x;
    for (i, (xv, yv)) in x.iter_mut().zip(y.iter_mut()).enumerate() {
        if i % 5 == 0 {
            *yv = *xv;
        }
        if i % 7 == 3 {
            *xv = 0.0;
        }
    }
    let xs = share(s, 0, &x)?;
    let ys = share(s, 1, &y)?;

    b.check("mul", &xs.mul(&ys)?.reveal()?, &(&x * &y), ULP);
    b.check("square", &xs.square()?.reveal()?, &(&x * &x), ULP);

    // Matrices in [-4, 4): 16-term dot products.
    let ma = g.grid(&[6, 16], 18, 16);
    let mb = g.grid(&[16, 5], 18, 16);
    let pb = g.grid(&[16, 5], 18, 16);
    let mas = share(s, 0, &ma)?;
    let mbs = share(s, last, &mb)?;
    b.check("matmul", &mas.matmul(&mbs)?.reveal()?, &matmul_ref(&ma, &mb), ULP);
    b.check("matmul_public", &mas.matmul_public(&pb)?.reveal()?, &matmul_ref(&ma, &pb), ULP);

    // An image in [-4, 4) and a kernel in [-1, 1): 18-term sums.
    let img = g.grid(&[1, 2, 6, 6], 18, 16);
    let ker = g.grid(&[3, 2, 3, 3], 16, 16);
    let spec = Conv2dSpec { padding: (1, 1), ..Conv2dSpec::default() };
    let conv = share(s, 1, &img)?.conv2d(&share(s, 0, &ker)?, &spec)?.reveal()?;
    b.check("conv2d", &conv, &conv2d_ref(&img, &ker, 1), ULP);

    if dealer_pairs {
        // |p| < 2^15 and |q| < 2^14 on the 2^-16 grid: products up to 2^29 in real value.
        let n = 64;
        let mut pk: Vec<i64> = (0..n).map(|_| g.int(31)).collect();
        let mut qk: Vec<i64> = (0..n).map(|_| g.int(30)).collect();
        (pk[0], qk[0]) = ((1 << 31) - 1, -((1 << 30) - 1));
        (pk[1], qk[1]) = (-(1 << 31), -(1 << 30));
        let to_real = |k: &[i64]| arr(&[n], k.iter().map(|&v| v as f64 * ULP).collect());
        let (p, q) = (to_real(&pk), to_real(&qk));
        let got = share(s, 0, &p)?.mul(&share(s, last, &q)?)?.reveal()?;
        // Exact reference: p q 2^32 = pk qk; the error in units of 2^-32, then scaled.
        let err = got
            .iter()
            .zip(pk.iter().zip(&qk))
            .map(|(g, (&a, &c))| {
                let got_units = (g / ULP) as i128; // exact: |g| < 2^30 on the 2^-16 grid
                ((got_units << 16) - i128::from(a) * i128::from(c)).unsigned_abs() as f64
                    * ULP
                    * ULP
            })
            .fold(0.0, f64::max);
        b.record("trunc_large", Outcome::Checked { shape: vec![n], err, tol: ULP });
    } else {
        b.record(
            "trunc_large",
            Outcome::Skipped(
                "local-share truncation (2 parties) is not for products near 2^29; use 3 \
                 parties or --truncation dealer"
                    .into(),
            ),
        );
    }

    b.check("relu", &xs.relu()?.reveal()?, &x.mapv(|v| v.max(0.0)), 0.0);
    let zero = ArrayD::zeros(IxDyn(x.shape()));
    b.check("gt_public", &xs.gt_public(&zero)?.reveal()?, &indicator(&x, &zero, |a, c| a > c), 0.0);
    b.check("lt", &xs.lt(&ys)?.reveal()?, &indicator(&x, &y, |a, c| a < c), 0.0);
    b.check("eq", &xs.eq(&ys)?.reveal()?, &indicator(&x, &y, |a, c| a == c), 0.0);

    // Non-linear functions (Cloak's methods), with their documented bounds: `t` in
    // [-4, 4), positive `p` in [0.25, 16.25).
    let t = g.grid(&[4, 8], 18, 16);
    let ts = share(s, last, &t)?;
    let p = x.mapv(|v| v.abs() + 0.25);
    let ps = share(s, 0, &p)?;
    // exp: 2e-4 relative and 8 units, at most e^4 = 54.6.
    b.check("exp", &ts.exp()?.reveal()?, &t.mapv(f64::exp), 54.6 * 2e-4 + 8.0 * ULP);
    b.check("sigmoid", &xs.sigmoid()?.reveal()?, &x.mapv(|v| 1.0 / (1.0 + (-v).exp())), 1.5e-4);
    // reciprocal: 8e-6 relative and 3 units, at most 4.
    b.check("reciprocal", &ps.reciprocal()?.reveal()?, &p.mapv(f64::recip), 4.0 * 8e-6 + 3.0 * ULP);
    b.check("log", &ps.log()?.reveal()?, &p.mapv(f64::ln), 6.0 * ULP);
    // sqrt: 2e-4 relative and 4 units, at most 4.1.
    b.check("sqrt", &ps.sqrt()?.reveal()?, &p.mapv(f64::sqrt), 4.1 * 2e-4 + 4.0 * ULP);
    b.check("softmax", &xs.softmax(1)?.reveal()?, &softmax_ref(&x), 1e-4);

    let bx = xs.to_binary()?;
    let words = bx.reveal()?;
    let want_words = RingTensor::<u64>::encode(&x, s.fixed_point())?;
    let a2b_err = if words == want_words { 0.0 } else { f64::INFINITY };
    b.record("a2b", Outcome::Checked { shape: x.shape().to_vec(), err: a2b_err, tol: 0.0 });
    b.check("a2b_b2a", &bx.to_arith()?.reveal()?, &x, 0.0);

    // Along an axis of odd length (7), so the tree carries an unpaired candidate.
    let mx = g.grid(&[3, 7], 20, 16);
    let mxs = share(s, last, &mx)?;
    let rows: Vec<Vec<f64>> = mx.outer_iter().map(|r| r.iter().copied().collect()).collect();
    let want_max =
        arr(&[3], rows.iter().map(|r| r.iter().copied().fold(f64::MIN, f64::max)).collect());
    let mut want_onehot = ArrayD::zeros(IxDyn(&[3, 7]));
    for (i, r) in rows.iter().enumerate() {
        let first = r.iter().position(|&v| v == want_max[[i]]).unwrap_or_default();
        want_onehot[[i, first]] = 1.0;
    }
    b.check("max", &mxs.max(1, false)?.reveal()?, &want_max, 0.0);
    b.check("argmax", &mxs.argmax(1)?.reveal()?, &want_onehot, 0.0);
    Ok(b)
}

// ---------------------------------------------------------------------------------------
// Ranks

fn comm_config(world: usize) -> CommConfig {
    let mut config = CommConfig::with_timeouts(TIMEOUT);
    if world > std::thread::available_parallelism().map_or(1, usize::from) {
        // More processes than cores: spinning would steal the core a peer needs.
        config.spin = Duration::ZERO;
    }
    config
}

/// One rank: a computing party, or the dealer at the last rank with `--dealer ttp`.
/// `Ok(false)` if an operation was out of tolerance.
fn rank_main(opts: &Options) -> Result<bool, Box<dyn Error>> {
    let launch = Launch::from_env()?;
    let world = launch.world_size;
    let mut comm = TcpComm::from_launch(&launch, &comm_config(world))?;
    let ttp = opts.dealer == DealerKind::TrustedThirdParty;
    let parties = world - usize::from(ttp);
    if parties < 2 || opts.parties.is_some_and(|p| p != parties) {
        return Err(
            format!("a world of {world} ranks does not give 2 or more parties as asked").into()
        );
    }
    if ttp && comm.rank() == parties {
        let stats = cloak_mpc::run_dealer(&mut comm, parties)?;
        println!(
            "{{\"dealer\":{parties},\"requests\":{},\"words\":{},\"ms\":{:.3},\"rounds\":{}}}",
            stats.requests,
            stats.words,
            stats.time.as_secs_f64() * 1e3,
            comm.stats().total().rounds
        );
        return Ok(true);
    }
    let config = SessionConfig {
        frac_bits: 16, // `ULP` above
        dealer: opts.dealer,
        truncation: opts.truncation.into(),
        timeout: TIMEOUT,
        functions: FunctionConfig::default(),
        ..SessionConfig::default()
    };
    let dealer_pairs = match opts.truncation {
        Truncation::Auto => parties > 2,
        Truncation::LocalShares => false,
        Truncation::DealerPairs => true,
    };
    let start = Instant::now();
    let session = Session::setup(Box::new(comm), config)?;
    let battery = run_battery(&session, dealer_pairs)?;
    session.close()?;
    let total = session.comm_stats().total();
    print!("{}", battery.lines);
    println!(
        "{{\"party\":{},\"summary\":true,\"checked\":{},\"skipped\":{},\"failed\":{:?},\"rounds\":{},\
         \"bytes_sent\":{},\"dealer_requests\":{},\"ms\":{:.3}}}",
        battery.rank,
        battery.checked,
        battery.skipped,
        battery.failed,
        total.rounds,
        total.bytes_sent,
        session.dealer_stats().requests,
        start.elapsed().as_secs_f64() * 1e3
    );
    if !battery.failed.is_empty() {
        eprintln!("mpc_check: out of tolerance: {}", battery.failed.join(", "));
    }
    Ok(battery.failed.is_empty())
}

/// Starts every rank as a process on this machine and shows their output.
fn launch_local(opts: &Options) -> Result<bool, Box<dyn Error>> {
    let parties = opts.parties.unwrap_or(2);
    let world = parties + usize::from(opts.dealer == DealerKind::TrustedThirdParty);
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if opts.parties.is_none() {
        args.extend(["--parties".into(), parties.to_string()]);
    }
    let run = ProcessRun {
        program: std::env::current_exe()?,
        args: args.into_iter().map(Into::into).collect(),
        env: Vec::new(),
        parties: world,
        deadline: TIMEOUT * 3,
    };
    let mut ok = true;
    for r in run_processes(&run)? {
        print!("{}", r.stdout);
        if !r.success() {
            ok = false;
            eprintln!("rank {} failed (timed out: {}):\n{}", r.rank, r.timed_out, r.stderr);
        }
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mpc_check: {e}");
            return ExitCode::from(2);
        }
    };
    let is_rank = Launch::present();
    let result = if is_rank { rank_main(&opts) } else { launch_local(&opts) };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mpc_check: {e}");
            ExitCode::FAILURE
        }
    }
}
