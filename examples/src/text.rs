//! The text side of the private text-classification example: the tokenizer and vocabulary
//! of `examples/data/text/train.py` (same rules, so that the ids fed to the private model
//! are those torch was trained and tested on), the committed data files, and inference of
//! the ONNX sentiment model in plain `f64` and on shares.

use std::collections::HashMap;
use std::path::Path;

use cloak_autograd::{Backend, Plain, Secure, Var};
use cloak_mpc::Session;
use cloak_nn::{Module, ModuleExt};
use cloak_onnx::{InputKind, OnnxModel};
use ndarray::{ArrayD, IxDyn};

/// Padding after the sentence (id 0), the classification token in front (id 1), and the
/// id of every word outside the vocabulary (id 2): the first three lines of `vocab.txt`.
pub const SPECIALS: [&str; 3] = ["<pad>", "<cls>", "<unk>"];

/// Errors of this module: one line each, naming the file and line where there is one.
pub type Result<T> = std::result::Result<T, String>;

/// Lowercases `text` and splits it into words: runs of ASCII letters, digits and
/// apostrophes; `!` and `?` are tokens of their own; every other character separates.
/// These are `tokenize` in `train.py`, character for character.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '\'' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c == '!' || c == '?' {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The model's vocabulary: a token's id is its line number in `vocab.txt`.
#[derive(Debug)]
pub struct Vocab {
    tokens: Vec<String>,
    index: HashMap<String, usize>,
}

/// A sentence as ids, and how many of its words were unknown or cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// `<cls>`, the words' ids, then `<pad>` up to the sequence length.
    pub ids: Vec<usize>,
    /// Words outside the vocabulary (each became `<unk>`).
    pub unknown: usize,
    /// Words past the sequence length (dropped, as in training).
    pub dropped: usize,
}

impl Vocab {
    /// Reads `vocab.txt`: one token a line, the three special tokens first, no duplicates.
    ///
    /// # Errors
    /// An unreadable file, or one that breaks those rules.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the vocabulary {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// [`Vocab::load`] on the file's text.
    ///
    /// # Errors
    /// As [`Vocab::load`].
    pub fn parse(text: &str) -> Result<Self> {
        let tokens: Vec<String> = text.lines().map(str::to_owned).collect();
        if tokens.len() < SPECIALS.len() || tokens[..SPECIALS.len()] != SPECIALS {
            return Err(format!("the first lines must be {SPECIALS:?}"));
        }
        let mut index = HashMap::with_capacity(tokens.len());
        for (id, t) in tokens.iter().enumerate() {
            if t.is_empty() || t.contains(char::is_whitespace) {
                return Err(format!("line {}: a token is one word, got `{t}`", id + 1));
            }
            if index.insert(t.clone(), id).is_some() {
                return Err(format!("line {}: `{t}` appears twice", id + 1));
            }
        }
        Ok(Self { tokens, index })
    }

    /// The number of tokens (the model's embedding rows must match it).
    #[allow(clippy::len_without_is_empty)] // never empty: it holds the specials
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// `text` as `seq_len` ids: `<cls>`, the first `seq_len - 1` words (`<unk>` where
    /// unknown), `<pad>` after.
    pub fn encode(&self, text: &str, seq_len: usize) -> Encoded {
        let words = tokenize(text);
        let room = seq_len.saturating_sub(1);
        let mut ids = Vec::with_capacity(seq_len);
        ids.push(1);
        let mut unknown = 0;
        for w in words.iter().take(room) {
            ids.push(self.index.get(w).copied().unwrap_or_else(|| {
                unknown += 1;
                2
            }));
        }
        ids.resize(seq_len, 0);
        Encoded { ids, unknown, dropped: words.len().saturating_sub(room) }
    }
}

/// One row of `sentences.tsv`.
#[derive(Clone, Debug)]
pub struct Sentence {
    /// The source's id (tweets_GroundTruth.txt's first column).
    pub id: String,
    /// 1 positive, 0 negative (human raters' mean); `None` for sentences given without one.
    pub label: Option<usize>,
    /// The text.
    pub text: String,
}

/// The sentences of `sentences.tsv` (`id, rating, label, split, text`) in the given split.
///
/// # Errors
/// An unreadable file or a malformed line.
pub fn read_split(path: &Path, split: &str) -> Result<Vec<Sentence>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the sentences {}: {e}", path.display()))?;
    let mut lines = text.lines().enumerate();
    if lines.next().map(|(_, l)| l) != Some("id\trating\tlabel\tsplit\ttext") {
        return Err(format!("{}: the header must be `id rating label split text`", path.display()));
    }
    let mut out = Vec::new();
    for (n, line) in lines {
        let bad = |what: &str| format!("{} line {}: {what}", path.display(), n + 1);
        let cols: Vec<&str> = line.splitn(5, '\t').collect();
        let [id, _rating, label, s, text] = cols[..] else {
            return Err(bad("expected 5 tab-separated columns"));
        };
        let label = match label {
            "0" => 0,
            "1" => 1,
            _ => return Err(bad("the label must be 0 or 1")),
        };
        if s == split {
            out.push(Sentence { id: id.into(), label: Some(label), text: text.into() });
        }
    }
    Ok(out)
}

/// Sentences of a plain text file, one a line (blank lines skipped), without labels.
///
/// # Errors
/// An unreadable file, or one without a sentence.
pub fn read_lines(path: &Path) -> Result<Vec<Sentence>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the sentences {}: {e}", path.display()))?;
    let out: Vec<Sentence> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| Sentence { id: format!("line {}", n + 1), label: None, text: l.into() })
        .collect();
    if out.is_empty() {
        return Err(format!("{}: no sentence in it", path.display()));
    }
    Ok(out)
}

/// torch's view of one test sentence (a row of `torch_test.tsv`).
#[derive(Clone, Debug)]
pub struct TorchRow {
    /// The sentence's id in `sentences.tsv`.
    pub id: String,
    /// Its label.
    pub label: usize,
    /// torch's logits (negative, positive), float32.
    pub logits: [f64; 2],
    /// The ids torch saw.
    pub ids: Vec<usize>,
}

/// The rows of `torch_test.tsv` (`id, label, logit_negative, logit_positive, ids`).
///
/// # Errors
/// An unreadable file or a malformed line.
pub fn read_torch(path: &Path) -> Result<Vec<TorchRow>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read torch's logits {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let bad = || format!("{} line {}: malformed", path.display(), n + 1);
        let cols: Vec<&str> = line.split('\t').collect();
        let [id, label, l0, l1, ids] = cols[..] else { return Err(bad()) };
        let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
        let ids = ids.split(' ').map(|s| s.parse().map_err(|_| bad())).collect::<Result<_>>()?;
        out.push(TorchRow {
            id: id.into(),
            label: label.parse().map_err(|_| bad())?,
            logits: [num(l0)?, num(l1)?],
            ids,
        });
    }
    Ok(out)
}

/// The model's sequence length (its input's second, fixed axis) after checking that it
/// takes token ids into `vocab`'s rows.
///
/// # Errors
/// A model whose input is not `[batch, seq_len]` token ids, or whose embedding table has
/// not `vocab.len()` rows.
pub fn check_model(model: &OnnxModel, vocab: &Vocab) -> Result<usize> {
    match model.input_kind() {
        InputKind::TokenIds { vocab: rows } if rows == vocab.len() => {}
        InputKind::TokenIds { vocab: rows } => {
            return Err(format!(
                "the model's embedding has {rows} rows but the vocabulary {} tokens",
                vocab.len()
            ));
        }
        InputKind::Float => return Err("the model takes real inputs, not token ids".into()),
    }
    match model.input_dims() {
        [_, Some(len)] if *len > 0 => Ok(*len),
        dims => Err(format!("the model's input must be [batch, seq_len], got {dims:?}")),
    }
}

/// The ids of a batch as the model's `[n, seq_len]` input.
///
/// # Errors
/// An empty batch or sequences of different lengths.
pub fn ids_array(batch: &[Vec<usize>]) -> Result<ArrayD<f64>> {
    let len = batch.first().map_or(0, Vec::len);
    if batch.is_empty() || len == 0 || batch.iter().any(|s| s.len() != len) {
        return Err("a batch needs sequences of one positive length".into());
    }
    let flat = batch.iter().flatten().map(|&i| i as f64).collect();
    ArrayD::from_shape_vec(IxDyn(&[batch.len(), len]), flat).map_err(|e| e.to_string())
}

/// The model's logits `[n, 2]` on `ids` in plain `f64` (the model owner's weights).
///
/// # Errors
/// Anything the importer or the layers reject.
pub fn plain_logits(model: &OnnxModel, ids: &ArrayD<f64>) -> Result<ArrayD<f64>> {
    let run = || -> std::result::Result<ArrayD<f64>, Box<dyn std::error::Error>> {
        let net = model.build(&Plain, ids.shape())?;
        net.load_state(0, model.weights())?;
        let x = Var::constant(&Plain, model.encode_input(ids)?);
        Ok(cloak_autograd::no_grad(|| net.forward(&x))?.value())
    };
    run().map_err(|e| format!("plain inference: {e}"))
}

/// Who holds what in a private run.
pub const MODEL_OWNER: usize = 0;
/// The party whose sentences are classified, and the only one to learn the logits.
pub const DATA_OWNER: usize = 1;

/// One party's share of a private run of `model` on a batch of `shape` (`[n, seq_len]`,
/// public): the model owner passes the model with its weights, the others the public part
/// ([`OnnxModel::from_public_bytes`]); the data owner passes its `ids`, shared one-hot
/// (its private lookup). Returns the logits at the data owner, `None` elsewhere.
///
/// # Errors
/// Missing weights at the model owner, missing ids at the data owner, and any protocol or
/// communication error.
pub fn private_logits(
    session: &Session,
    model: &OnnxModel,
    ids: Option<&ArrayD<f64>>,
    shape: &[usize],
) -> Result<Option<ArrayD<f64>>> {
    let rank = session.rank();
    let run = || -> std::result::Result<_, Box<dyn std::error::Error>> {
        let b = Secure::new(session);
        let net = model.build(&b, shape)?;
        net.load_state(MODEL_OWNER, if rank == MODEL_OWNER { model.weights() } else { None })?;
        let encoded = match ids {
            Some(ids) if rank == DATA_OWNER => Some(model.encode_input(ids)?),
            None if rank == DATA_OWNER => return Err("the data owner has no sentences".into()),
            _ => None,
        };
        let x = b.input(DATA_OWNER, encoded.as_ref(), &model.encoded_input_shape(shape))?;
        let y = cloak_autograd::no_grad(|| net.forward(&Var::constant(&b, x)))?;
        Ok(b.reveal_to(&y.value(), DATA_OWNER)?)
    };
    run().map_err(|e| format!("private inference (party {rank}): {e}"))
}

/// The predicted class (1 positive) and its probability, from a row of two logits.
pub fn predict(logits: [f64; 2]) -> (usize, f64) {
    let class = usize::from(logits[1] > logits[0]);
    let p = 1.0 / (1.0 + (logits[1 - class] - logits[class]).exp());
    (class, p)
}

/// LayerNorms of the example's model: the embeddings' and two in each of its two blocks.
pub const LAYER_NORMS: usize = 5;

/// The tolerance of private logits against plain `f64` ones of largest magnitude `scale`:
/// `(4.9e-4 LAYER_NORMS + 1e-4) (1 + scale)`, about `2.6e-3 (1 + scale)`. Each LayerNorm's
/// inverse square root (a degree-3 series, off by up to `4.9e-4` relative, documented in
/// cloak-mpc) scales a normalised row; that scale error survives the residuals until the
/// next normalisation, and reaches the logits through the pooler and classifier in
/// proportion to their size, so each LayerNorm may contribute once. Softmax, erf, tanh and
/// the truncations of products (`2^-16` each, summed over 32 to 64 terms) add about
/// `1e-4`; the one-hot lookup is exact up to one truncation per embedding entry. Measured
/// on the 686 test sentences: at most `5.9e-3` on logits up to 2.72 (`1.6e-3 (1 + scale)`),
/// median `4.3e-4`. (cloak-onnx's transformer fixtures, with random weights, stay within
/// `1.2e-3 (1 + scale)`; trained weights push some LayerNorm rows further.)
pub fn tolerance(scale: f64) -> f64 {
    (4.9e-4 * LAYER_NORMS as f64 + 1e-4) * (1.0 + scale)
}
