//! Private text classification: a model owner and a data owner learn the sentiment of the
//! data owner's sentences under the model owner's transformer, and neither sees the
//! other's input.
//!
//! Party 0 (the model owner) holds `sentiment.onnx`, a two-layer BERT-style encoder trained
//! in PyTorch on the tweet-like sentences of `examples/data/text/` (see its README); party
//! 1 (the data owner) holds sentences. The data owner tokenizes them with the model's
//! public vocabulary (`vocab.txt`, the rules of `train.py`), and shares the ids one-hot:
//! the embedding lookup is a product of that secret one-hot matrix with the secret table,
//! so neither the words nor the weights are revealed. With `--parties 3`, party 2 is a
//! helper with no input. Before the session, party 0 announces the model's structure (no
//! weights) and party 1 the batch shape `[sentences, 32]`: the number of sentences is
//! public, their lengths are not (the model attends to the padding instead of masking it).
//! The logits are revealed to party 1 only.
//!
//! Run without launcher variables, the program reads both sides' files to check the result
//! (as a tester would; the parties never do), starts the parties as separate processes
//! talking TCP over loopback, and prints each sentence with the private prediction and
//! probability beside the plain `f64` one and torch's, then the accuracy against the human
//! labels and the largest logit error. Run with `RANK`, `WORLD_SIZE`, `MASTER_ADDR`,
//! `MASTER_PORT` set, it is one party of a deployment.
//!
//! Options:
//! - `--parties N`: 2 or 3 computing parties (default 2);
//! - `--count N`: classify the first N sentences of the test split (default 12; 0: all 686);
//! - `--sentences FILE`: classify FILE's lines instead (no labels nor torch logits then);
//! - `--data DIR`: where `sentiment.onnx`, `vocab.txt`, `sentences.tsv` and
//!   `torch_test.tsv` are (default: the repository's `examples/data/text`).

#[path = "../text.rs"]
mod text;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloak_comm::runner::{ProcessRun, run_processes};
use cloak_comm::{CommConfig, Communicator, Launch, Op, OpKind, TcpComm};
use cloak_mpc::{Session, SessionConfig};
use cloak_onnx::OnnxModel;
use ndarray::ArrayD;
use text::{DATA_OWNER, MODEL_OWNER, Sentence, Vocab};

/// Communication timeout: a dead or stalled peer ends every party's run within this.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The most sentences a party accepts in a peer's announcement.
const MAX_SENTENCES: u64 = 100_000;
/// The largest model structure a party accepts from the model owner (weights never travel).
const MAX_MODEL_BYTES: usize = 64 << 20;

const USAGE: &str =
    "usage: private_text [--parties 2|3] [--count N] [--sentences FILE] [--data DIR]";

struct Options {
    parties: Option<usize>,
    count: usize,
    sentences: Option<PathBuf>,
    data: PathBuf,
}

fn parse_options() -> Result<Options, String> {
    let mut opts = Options {
        parties: None,
        count: 12,
        sentences: None,
        data: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join("text"),
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        let a = a.to_string_lossy().into_owned();
        let mut value = |name: &str| -> Result<String, String> {
            args.next()
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or(format!("{name} needs a value\n{USAGE}"))
        };
        let number = |name: &str, v: String| -> Result<usize, String> {
            v.parse().map_err(|_| format!("{name}: `{v}` is not a number"))
        };
        match a.as_str() {
            "--parties" => opts.parties = Some(number("--parties", value("--parties")?)?),
            "--count" => opts.count = number("--count", value("--count")?)?,
            "--sentences" => opts.sentences = Some(value("--sentences")?.into()),
            "--data" => opts.data = value("--data")?.into(),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if let Some(p) = opts.parties
        && !(2..=3).contains(&p)
    {
        return Err(format!("--parties must be 2 or 3, got {p}"));
    }
    Ok(opts)
}

// ---------------------------------------------------------------------------------------
// Each side's files

/// The model owner's model, checked against the public vocabulary.
fn load_model(opts: &Options) -> Result<(OnnxModel, Vocab, usize), String> {
    let path = opts.data.join("sentiment.onnx");
    let model = OnnxModel::load(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let vocab = Vocab::load(&opts.data.join("vocab.txt"))?;
    let seq_len = text::check_model(&model, &vocab)?;
    Ok((model, vocab, seq_len))
}

/// The data owner's sentences: the test split's first `--count`, or `--sentences`' lines.
fn load_sentences(opts: &Options) -> Result<Vec<Sentence>, String> {
    let mut s = match &opts.sentences {
        Some(path) => text::read_lines(path)?,
        None => text::read_split(&opts.data.join("sentences.tsv"), "test")?,
    };
    if opts.sentences.is_none() && opts.count > 0 {
        s.truncate(opts.count);
    }
    if s.len() as u64 > MAX_SENTENCES {
        return Err(format!("{} sentences, over the {MAX_SENTENCES} accepted", s.len()));
    }
    Ok(s)
}

/// The data owner's ids `[n, seq_len]` and how many words were unknown or dropped.
fn encode(
    vocab: &Vocab,
    sentences: &[Sentence],
    seq_len: usize,
) -> Result<(ArrayD<f64>, usize, usize), String> {
    let enc: Vec<text::Encoded> =
        sentences.iter().map(|s| vocab.encode(&s.text, seq_len)).collect();
    let unknown = enc.iter().map(|e| e.unknown).sum();
    let dropped = enc.iter().map(|e| e.dropped).sum();
    let ids: Vec<Vec<usize>> = enc.into_iter().map(|e| e.ids).collect();
    Ok((text::ids_array(&ids)?, unknown, dropped))
}

// ---------------------------------------------------------------------------------------
// One party

fn comm_config(world: usize) -> CommConfig {
    let mut config = CommConfig::with_timeouts(TIMEOUT);
    if world > std::thread::available_parallelism().map_or(1, usize::from) {
        config.spin = Duration::ZERO;
    }
    config
}

/// What is public before the session: the model's structure (from party 0, no weights)
/// and the number of sentences (from party 1). One round, each owner to every other party.
/// The sequence length is the model's, so every party knows the batch shape after it.
fn announce(
    comm: &mut TcpComm,
    model: Option<&OnnxModel>,
    sentences: Option<usize>,
) -> Result<(Option<OnnxModel>, usize), Box<dyn Error>> {
    let (rank, world) = (comm.rank(), comm.world_size());
    let mine = match (model, sentences) {
        (Some(m), _) => m.public_bytes(),
        (_, Some(n)) => cloak_comm::u64s_to_bytes(&[n as u64]),
        _ => Vec::new(),
    };
    let sends: Vec<(usize, &[u8])> = if rank <= DATA_OWNER {
        (0..world).filter(|&p| p != rank).map(|p| (p, &mine[..])).collect()
    } else {
        Vec::new()
    };
    let from: Vec<usize> = [MODEL_OWNER, DATA_OWNER].into_iter().filter(|&p| p != rank).collect();
    comm.set_label("announce");
    let got = comm.step(Op::new(OpKind::PointToPoint), &sends, &from)?;
    let (mut structure, mut count) = (None, sentences);
    for (&p, bytes) in from.iter().zip(got) {
        if p == MODEL_OWNER {
            if bytes.len() > MAX_MODEL_BYTES {
                return Err(format!("party 0 announced a model of {} bytes", bytes.len()).into());
            }
            structure = Some(OnnxModel::from_public_bytes(&bytes)?);
        } else {
            match cloak_comm::u64s_from_bytes(&bytes).as_deref() {
                Some(&[n]) if (1..=MAX_SENTENCES).contains(&n) => count = Some(n as usize),
                _ => return Err("party 1 announced an unusable number of sentences".into()),
            }
        }
    }
    Ok((structure, count.ok_or("no sentence count")?))
}

fn party(opts: &Options) -> Result<(), Box<dyn Error>> {
    let launch = Launch::from_env()?;
    let world = launch.world_size;
    let mut comm = TcpComm::from_launch(&launch, &comm_config(world))?;
    let rank = comm.rank();
    if !(2..=3).contains(&world) || opts.parties.is_some_and(|p| p != world) {
        return Err(format!("this example runs 2 or 3 parties, the launcher says {world}").into());
    }
    let start = Instant::now();
    // Each owner reads its own files; a failure tells the peers at once instead of leaving
    // them to wait for a timeout.
    let own = match rank {
        MODEL_OWNER => load_model(opts).map(|(m, _, _)| (Some(m), None)),
        DATA_OWNER => Vocab::load(&opts.data.join("vocab.txt"))
            .and_then(|v| Ok((None, Some((v, load_sentences(opts)?))))),
        _ => Ok((None, None)),
    };
    let (model, data) = match own {
        Ok(v) => v,
        Err(e) => {
            comm.abort(&format!("party {rank} could not read its input"));
            return Err(e.into());
        }
    };
    let (structure, n) = announce(&mut comm, model.as_ref(), data.as_ref().map(|d| d.1.len()))?;
    let mine = model.as_ref().or(structure.as_ref()).ok_or("no model")?;
    let seq_len = match mine.input_dims() {
        [_, Some(len)] => *len,
        dims => {
            return Err(format!("the model's input must be [batch, seq_len], got {dims:?}").into());
        }
    };
    let shape = [n, seq_len];
    let (ids, unknown, dropped) = match &data {
        Some((vocab, sentences)) => {
            text::check_model(mine, vocab)?;
            let (ids, u, d) = encode(vocab, sentences, seq_len)?;
            (Some(ids), u, d)
        }
        None => (None, 0, 0),
    };

    let config = SessionConfig { timeout: TIMEOUT, ..SessionConfig::default() };
    let session = Session::setup(Box::new(comm), config)?;
    let logits = text::private_logits(&session, mine, ids.as_ref(), &shape)?;
    session.close()?;
    let elapsed = start.elapsed();

    let role = match rank {
        MODEL_OWNER => "model owner: holds the weights",
        DATA_OWNER => "data owner: holds the sentences",
        _ => "helper: no input",
    };
    let mut out = format!("party {rank} of {world} ({role})\n");
    out += &format!("  public batch shape : {shape:?} token ids\n");
    if let Some(y) = &logits {
        out += &format!("  words unknown to the vocabulary: {unknown}, cut off: {dropped}\n");
        for (i, row) in y.rows().into_iter().enumerate() {
            out += &format!("  private logits {i}: {:e} {:e}\n", row[0], row[1]);
        }
    } else {
        out += "  revealed to me     : nothing\n";
    }
    out += &format!("  wall time          : {:.3} s\n", elapsed.as_secs_f64());
    out += &format!("  communication      :\n{}\n", session.comm_stats());
    print!("{out}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The launcher: starts the parties, then checks and prints

/// Party 1's revealed logits, from its report.
fn parse_logits(stdout: &str, n: usize) -> Result<Vec<[f64; 2]>, String> {
    let rows: Vec<[f64; 2]> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("private logits "))
        .map(|rest| {
            let nums: Vec<f64> =
                rest.split_once(':')?.1.split_whitespace().filter_map(|t| t.parse().ok()).collect();
            match nums[..] {
                [a, b] => Some([a, b]),
                _ => None,
            }
        })
        .collect::<Option<_>>()
        .ok_or("party 1 printed a malformed logits line")?;
    if rows.len() != n {
        return Err(format!("party 1 printed {} logits rows for {n} sentences", rows.len()));
    }
    Ok(rows)
}

fn class_name(c: usize) -> &'static str {
    if c == 1 { "pos" } else { "neg" }
}

fn shown(p: (usize, f64)) -> String {
    format!("{} {:.3}", class_name(p.0), p.1)
}

fn clip(s: &str, width: usize) -> String {
    let mut out: String = s.chars().take(width).collect();
    if s.chars().count() > width {
        out.pop();
        out.push('~');
    }
    out
}

fn launch_local(opts: &Options) -> Result<bool, Box<dyn Error>> {
    let (model, vocab, seq_len) = load_model(opts)?;
    let sentences = load_sentences(opts)?;
    let (ids, unknown, dropped) = encode(&vocab, &sentences, seq_len)?;
    let parties = opts.parties.unwrap_or(2);
    // torch's logits exist for the test split; match them by id and check that the ids
    // tokenized here are those torch saw.
    let torch: Vec<Option<text::TorchRow>> = if opts.sentences.is_none() {
        let rows = text::read_torch(&opts.data.join("torch_test.tsv"))?;
        sentences.iter().map(|s| rows.iter().find(|r| r.id == s.id).cloned()).collect()
    } else {
        vec![None; sentences.len()]
    };
    for (i, t) in torch.iter().enumerate() {
        if let Some(t) = t
            && ((0..seq_len).map(|j| ids[[i, j]] as usize).ne(t.ids.iter().copied())
                || Some(t.label) != sentences[i].label)
        {
            return Err(format!(
                "sentence {}: the ids or the label differ from torch's",
                sentences[i].id
            )
            .into());
        }
    }
    println!(
        "Private text classification: {parties} parties as separate processes over loopback TCP.\n\
         Party 0 holds a 2-layer transformer ({} tokens, sequence length {seq_len}); party 1 \
         holds {} sentences ({unknown} words unknown to the vocabulary, {dropped} cut off).\n",
        vocab.len(),
        sentences.len(),
    );
    let plain = text::plain_logits(&model, &ids)?;

    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if opts.parties.is_none() {
        args.extend(["--parties".into(), parties.to_string().into()]);
    }
    let run = ProcessRun {
        program: std::env::current_exe()?,
        args,
        env: Vec::new(),
        parties,
        deadline: TIMEOUT * 10,
    };
    let start = Instant::now();
    let reports = run_processes(&run)?;
    let wall = start.elapsed();
    let mut ok = true;
    for r in &reports {
        let summary: String = r
            .stdout
            .lines()
            .filter(|l| !l.contains("private logits"))
            .map(|l| format!("{l}\n"))
            .collect();
        print!("{summary}");
        if !r.success() {
            ok = false;
            eprintln!("rank {} failed (timed out: {}):\n{}", r.rank, r.timed_out, r.stderr);
        }
    }
    println!("all processes done in {:.3} s (wall, including start-up)\n", wall.as_secs_f64());
    if !ok {
        return Ok(false);
    }
    let private = parse_logits(&reports[DATA_OWNER].stdout, sentences.len())?;

    println!(
        "{:>3}  {:<5} {:<9}  {:<9}  {:<9}  {:>8}  sentence",
        "#", "label", "torch", "f64", "private", "|err|"
    );
    let scale = plain.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tol = text::tolerance(scale);
    let (mut err, mut torch_err) = (0.0f64, 0.0f64);
    let mut correct = [0usize; 3]; // torch, f64, private
    let (mut labelled, mut agree, mut near_tie, mut disagree) = (0, 0, 0, 0);
    for (i, s) in sentences.iter().enumerate() {
        let f = [plain[[i, 0]], plain[[i, 1]]];
        let p = private[i];
        let e = (p[0] - f[0]).abs().max((p[1] - f[1]).abs());
        err = err.max(e);
        let (fp, pp) = (text::predict(f), text::predict(p));
        if fp.0 == pp.0 {
            agree += 1;
        } else if (f[1] - f[0]).abs() <= 2.0 * tol {
            near_tie += 1;
        } else {
            disagree += 1;
        }
        let torch_shown = match &torch[i] {
            Some(t) => {
                torch_err =
                    torch_err.max((t.logits[0] - f[0]).abs().max((t.logits[1] - f[1]).abs()));
                let tp = text::predict(t.logits);
                if Some(tp.0) == s.label {
                    correct[0] += 1;
                }
                shown(tp)
            }
            None => "-".into(),
        };
        if let Some(label) = s.label {
            labelled += 1;
            correct[1] += usize::from(fp.0 == label);
            correct[2] += usize::from(pp.0 == label);
        }
        println!(
            "{i:>3}  {:<5} {torch_shown:<9}  {:<9}  {:<9}  {e:>8.1e}  {}",
            s.label.map_or("-", class_name),
            shown(fp),
            shown(pp),
            clip(&s.text, 60)
        );
    }
    println!();
    if labelled > 0 {
        let pct = |c: usize| 100.0 * c as f64 / labelled as f64;
        println!(
            "accuracy against the human labels ({labelled} sentences): torch {:.1}%, f64 {:.1}%, private {:.1}%",
            pct(correct[0]),
            pct(correct[1]),
            pct(correct[2])
        );
    }
    println!(
        "private predictions: {agree} of {} agree with f64 ({near_tie} differ where the logits are within 2 x tolerance of a tie, {disagree} otherwise)",
        sentences.len()
    );
    println!("max logit error: {err:.3e} (tolerance {tol:.3e}; largest logit {scale:.2})");
    if torch.iter().any(Option::is_some) {
        println!("f64 against torch (float32): max logit difference {torch_err:.3e}");
    }
    Ok(err <= tol && disagree == 0)
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("private_text: {e}");
            return ExitCode::from(2);
        }
    };
    // Any launcher variable makes this process one party; none starts the demonstration.
    let is_party = Launch::present();
    let result = if is_party { party(&opts).map(|()| true) } else { launch_local(&opts) };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("private_text: {e}");
            ExitCode::from(if is_party { 1 } else { 2 })
        }
    }
}
