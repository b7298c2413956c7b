//! Private training on real data: two parties each hold half of the training rows of a UCI
//! data set, a third party deals the correlated randomness, and together they train a
//! model on secret shares. Only the per-epoch loss and accuracy, and the test accuracy, are
//! revealed. The same model is trained in plain f64 from the same initial weights, on the
//! same batches, and both accuracies are printed side by side.
//!
//! Tasks (`--task`, default `all`):
//! - `digits-mlp`: UCI handwritten digits (8x8 pixels), MLP 64-64-10;
//! - `digits-cnn`: the same digits as 1x8x8 images, a small CNN
//!   (conv-relu-maxpool twice, then Linear);
//! - `cancer-mlp`: UCI breast cancer (30 standardised features), MLP 30-16-2.
//!
//! Options: `--epochs N` (default per task), `--plot PATH` (the loss curves as SVG; default
//! `private_training_loss.svg` in the working directory), `--parties 2|3` (computing
//! parties, default 2; rows are split evenly among them).
//!
//! What the demo simplifies: every party process reads the whole CSV and keeps only its own
//! block of training rows (party 0 also the test split); in a deployment each party loads
//! only its own file. The breast-cancer features are standardised with the training split's
//! statistics computed in the clear before the split among parties (a deployment would
//! compute them on shares, with `Var::mean` and `Var::sqrt`, or use public bounds). The
//! initial weights come from a public seed so that the plain run starts from the same
//! ones (`Init::from_os_entropy` keeps them secret).
//!
//! Run without launcher variables, the parties and the dealer run as threads of this
//! process over in-process channels. With `RANK`, `WORLD_SIZE`, `MASTER_ADDR` and
//! `MASTER_PORT` set (one more rank than parties: the dealer is the last), each process is
//! one party over TCP and prints what was revealed to it.

use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use cloak_autograd::{Backend, Plain, Secure, Var};
use cloak_comm::{Communicator, Launch, TcpComm};
use cloak_mpc::{DealerKind, Session, SessionConfig};
use cloak_nn::data::{Dataset, share_rows};
use cloak_nn::layers::Sequential;
use cloak_nn::loss::cross_entropy;
use cloak_nn::optim::{Sgd, SgdConfig};
use cloak_nn::train::{History, TrainConfig, evaluate, fit};
use cloak_nn::{Init, models};
use ndarray::Array2;

/// Seeds: the split, the initial weights. Public: they only fix the experiment.
const SPLIT_SEED: u64 = 7;
const INIT_SEED: u64 = 42;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    DigitsMlp,
    DigitsCnn,
    CancerMlp,
}

impl Task {
    const ALL: [Task; 3] = [Task::DigitsMlp, Task::DigitsCnn, Task::CancerMlp];

    fn name(self) -> &'static str {
        match self {
            Task::DigitsMlp => "digits-mlp",
            Task::DigitsCnn => "digits-cnn",
            Task::CancerMlp => "cancer-mlp",
        }
    }

    fn epochs(self) -> usize {
        match self {
            Task::DigitsMlp | Task::DigitsCnn => 8,
            Task::CancerMlp => 10,
        }
    }

    fn optimizer(self) -> SgdConfig {
        SgdConfig { lr: 0.05, momentum: 0.9, weight_decay: 0.0 }
    }

    /// Loads the data set: `(train, test)`, features scaled or standardised.
    fn data(self) -> Result<(Dataset, Dataset), Box<dyn Error>> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
        match self {
            Task::DigitsMlp | Task::DigitsCnn => {
                let mut all = Dataset::from_csv(&format!("{dir}/digits.csv"), 0)?;
                all.scale(1.0 / 16.0);
                Ok(all.split(0.25, SPLIT_SEED)?)
            }
            Task::CancerMlp => {
                let all = Dataset::from_csv(&format!("{dir}/breast_cancer.csv"), 1)?;
                let (mut train, mut test) = all.split(0.25, SPLIT_SEED)?;
                let (mean, std) = train.standardize();
                test.apply_standardization(&mean, &std);
                Ok((train, test))
            }
        }
    }

    fn model<B: Backend>(self, backend: &B) -> cloak_nn::Result<Sequential<B>> {
        let mut init = Init::new(backend, 0, INIT_SEED);
        match self {
            Task::DigitsMlp => models::mlp(&mut init, &[64, 64, 10]),
            Task::DigitsCnn => models::digits_cnn(&mut init),
            Task::CancerMlp => models::mlp(&mut init, &[30, 16, 2]),
        }
    }

    /// The model's input shape for `n` rows.
    fn input_shape(self, n: usize, d: usize) -> Vec<usize> {
        match self {
            Task::DigitsCnn => vec![n, 1, 8, 8],
            _ => vec![n, d],
        }
    }
}

struct Options {
    tasks: Vec<Task>,
    epochs: Option<usize>,
    plot: String,
    parties: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut opts = Options {
        tasks: Task::ALL.to_vec(),
        epochs: None,
        plot: "private_training_loss.svg".into(),
        parties: 2,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--task" => {
                let v = value()?;
                opts.tasks = if v == "all" {
                    Task::ALL.to_vec()
                } else {
                    vec![
                        *Task::ALL
                            .iter()
                            .find(|t| t.name() == v)
                            .ok_or(format!("unknown task {v}"))?,
                    ]
                };
            }
            "--epochs" => {
                opts.epochs = Some(value()?.parse().map_err(|_| "--epochs takes a number")?)
            }
            "--plot" => opts.plot = value()?,
            "--parties" => {
                opts.parties = value()?.parse().map_err(|_| "--parties takes 2 or 3")?;
                if !(2..=3).contains(&opts.parties) {
                    return Err("--parties takes 2 or 3".into());
                }
            }
            "-h" | "--help" => {
                return Err(
                    "usage: private_training [--task all|digits-mlp|digits-cnn|cancer-mlp] \
                            [--epochs N] [--plot PATH] [--parties 2|3]"
                        .into(),
                );
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(opts)
}

/// What one party (or the plain run) reports for one task.
#[derive(Clone, Debug)]
struct Outcome {
    history: History,
    test_accuracy: f64,
    seconds: f64,
}

fn train_config(task: Task, epochs: Option<usize>, progress: bool) -> TrainConfig {
    TrainConfig { progress, ..TrainConfig::new(epochs.unwrap_or(task.epochs()), 32) }
}

/// The plain f64 run: the same model from the same seed on the same rows in the same order.
fn run_plain(task: Task, epochs: Option<usize>) -> Result<Outcome, Box<dyn Error>> {
    let start = Instant::now();
    let (train, test) = task.data()?;
    let d = train.features.ncols();
    let x = Var::constant(
        &Plain,
        train
            .features
            .clone()
            .into_dyn()
            .into_shape_with_order(task.input_shape(train.len(), d))?,
    );
    let y = Var::constant(&Plain, train.one_hot()?);
    let xt = Var::constant(
        &Plain,
        test.features.clone().into_dyn().into_shape_with_order(task.input_shape(test.len(), d))?,
    );
    let yt = Var::constant(&Plain, test.one_hot()?);
    let model = task.model(&Plain)?;
    let mut opt = Sgd::new(cloak_nn::ModuleExt::parameters(&model), task.optimizer())?;
    let history = fit(&model, &mut opt, cross_entropy, &x, &y, &train_config(task, epochs, false))?;
    let test_accuracy = evaluate(&model, &xt, &yt, 256)?;
    Ok(Outcome { history, test_accuracy, seconds: start.elapsed().as_secs_f64() })
}

/// One party's program: it loads the data but keeps only its own block of training rows
/// (and party 0 the test split); everything it computes on is shared.
fn run_party(
    session: &Session,
    task: Task,
    epochs: Option<usize>,
) -> Result<Outcome, Box<dyn Error>> {
    let start = Instant::now();
    let backend = Secure::new(session);
    let (rank, parties) = (session.rank(), session.parties());
    let (train, test) = task.data()?;
    let d = train.features.ncols();
    let blocks = train.partition_rows(parties);
    let rows: Vec<usize> = blocks.iter().map(Dataset::len).collect();
    let mine = &blocks[rank];
    let x = share_rows(&backend, Some(&mine.features), &rows, d)?;
    let labels = mine.one_hot()?.into_dimensionality::<ndarray::Ix2>()?;
    let y = share_rows(&backend, Some(&labels), &rows, train.classes)?;
    let x = x.reshape(&task.input_shape(train.len(), d))?;
    // The test split is party 0's.
    let (xt_plain, yt_plain): (Option<Array2<f64>>, Option<ndarray::ArrayD<f64>>) =
        if rank == 0 { (Some(test.features.clone()), Some(test.one_hot()?)) } else { (None, None) };
    let xt = backend.input(0, xt_plain.map(|a| a.into_dyn()).as_ref(), &[test.len(), d])?;
    let yt = backend.input(0, yt_plain.as_ref(), &[test.len(), test.classes])?;
    let xt = Var::constant(&backend, xt).reshape(&task.input_shape(test.len(), d))?;
    let yt = Var::constant(&backend, yt);

    let model = task.model(&backend)?;
    let mut opt = Sgd::new(cloak_nn::ModuleExt::parameters(&model), task.optimizer())?;
    let history =
        fit(&model, &mut opt, cross_entropy, &x, &y, &train_config(task, epochs, rank == 0))?;
    let test_accuracy = evaluate(&model, &xt, &yt, 256)?;
    Ok(Outcome { history, test_accuracy, seconds: start.elapsed().as_secs_f64() })
}

fn config() -> SessionConfig {
    SessionConfig { dealer: DealerKind::TrustedThirdParty, ..SessionConfig::default() }
}

/// As one process of a TCP deployment.
fn run_launched(opts: &Options) -> Result<(), Box<dyn Error>> {
    let launch = Launch::from_env()?;
    let parties = launch.world_size - 1;
    if launch.rank == parties {
        let mut comm = TcpComm::from_env(&config().comm_config())?;
        cloak_mpc::run_dealer(&mut comm as &mut dyn Communicator, parties)?;
        return Ok(());
    }
    let session = Session::from_env(config())?;
    for &task in &opts.tasks {
        let out = run_party(&session, task, opts.epochs)?;
        println!(
            "party {}: {} test accuracy {:.2}% ({:.1} s)",
            session.rank(),
            task.name(),
            100.0 * out.test_accuracy,
            out.seconds
        );
    }
    session.close()?;
    Ok(())
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = if Launch::present() { run_launched(&opts) } else { run_local(&opts) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("private_training: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_local(opts: &Options) -> Result<(), Box<dyn Error>> {
    println!(
        "Private training: {} parties hold the training rows (split evenly), a third party deals; \
         only losses and accuracies are revealed.\n",
        opts.parties
    );
    let mut rows = Vec::new();
    let mut curves = Vec::new();
    for &task in &opts.tasks {
        println!("== {} ==", task.name());
        let outcomes = cloak_mpc::run_local(opts.parties, &config(), |session| {
            run_party(session, task, opts.epochs).map_err(|e| {
                cloak_mpc::MpcError::InvalidArgument {
                    op: "private_training",
                    reason: e.to_string(),
                }
            })
        });
        let mut private = None;
        for (rank, o) in outcomes.into_iter().enumerate() {
            match o {
                Ok(out) if rank == 0 => private = Some(out),
                Ok(_) => {}
                Err(e) => return Err(format!("party {rank}: {e}").into()),
            }
        }
        let private = private.ok_or("party 0 returned nothing")?;
        let plain = run_plain(task, opts.epochs)?;
        for (p, q) in private.history.epochs.iter().zip(&plain.history.epochs) {
            println!(
                "epoch {:>2}: loss private {:.4} plain {:.4} | train accuracy private {:.2}% plain {:.2}%",
                p.epoch,
                p.loss,
                q.loss,
                100.0 * p.accuracy,
                100.0 * q.accuracy
            );
        }
        rows.push((
            task,
            private.test_accuracy,
            plain.test_accuracy,
            private.seconds,
            plain.seconds,
        ));
        curves.push((format!("{} private", task.name()), private.history));
        curves.push((format!("{} plain", task.name()), plain.history));
        println!();
    }
    println!(
        "| task | test accuracy, private | test accuracy, plain f64 | difference | time private | time plain |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (task, acc, plain, ts, tp) in &rows {
        println!(
            "| {} | {:.2}% | {:.2}% | {:+.2} pp | {:.1} s | {:.2} s |",
            task.name(),
            100.0 * acc,
            100.0 * plain,
            100.0 * (acc - plain),
            ts,
            tp
        );
    }
    let series: Vec<(&str, &History)> = curves.iter().map(|(l, h)| (l.as_str(), h)).collect();
    History::plot_losses(&opts.plot, &series)?;
    println!("\nloss curves written to {}", opts.plot);
    Ok(())
}
