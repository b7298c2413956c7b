//! Token embeddings, PyTorch's `nn.Embedding`: row `id` of a `[V, d]` weight per token.
//!
//! Who knows the token ids decides how the lookup runs:
//!
//! - Public ids (the plain backend, or ids every party may see, such as positions): the
//!   rows are selected from the shared weight, locally ([`Var::index_select`]); the
//!   backward scatter-adds into the selected rows, also locally.
//! - Ids private to one party (the data owner, [`Tokens::Private`]): the owner writes the
//!   one-hot rows `[.., V]` in the clear and shares them as its private input (no message:
//!   the other parties' shares come from pairwise pseudo-random streams), and the lookup is
//!   the product `one_hot @ weight`, one Beaver round. That round opens the masked one-hot
//!   and the masked weight: each party sends `8 (n V + V d)` bytes to each other party for
//!   `n` tokens, and a fixed-point truncation follows (the looked-up rows are off by a unit
//!   of the encoding at most, `1.5e-5`; local for two parties, one more round opening the
//!   `n d` results for more). The backward for the weight is `one_hot^T @ grad`, one more
//!   Beaver round of `8 (n V + n d)` bytes. Measured for two parties, 10 tokens, `V = 7`,
//!   `d = 4`: 2 rounds (the owner's check and the product) and 800 bytes forward, 1 round
//!   and 880 bytes backward. With BERT's `V = 30522`, 128 tokens and `d = 768` that is
//!   about 31 MB for the one-hot and 188 MB for the weight per forward pass; the weight's
//!   part could be opened once for many batches
//!   ([`Backend::prepare_rhs`](cloak_autograd::Backend::prepare_rhs)), the one-hot's
//!   cannot.
//!
//! Before sharing, the owner checks its ids (count and range) and every party learns the
//! verdict (one round), so a bad id is an error at every party rather than a hang.

use cloak_autograd::{Backend, Var};
use ndarray::{ArrayD, IxDyn};

use super::fixed_weights::FixedWeights;
use crate::agree::agree_all;
use crate::error::{Result, invalid};
use crate::init::Init;
use crate::module::{Module, TensorKind, join};

/// Who knows the token ids of a lookup.
#[derive(Clone, Copy, Debug)]
pub enum Tokens<'a> {
    /// Every party knows the ids (and passes the same).
    Public(&'a [usize]),
    /// Party `owner` knows the ids and passes them; the others pass `None`.
    Private {
        /// The data owner's rank.
        owner: usize,
        /// The ids at the owner, `None` elsewhere.
        ids: Option<&'a [usize]>,
    },
}

/// `ids` (row-major, `shape` of them) as one-hot rows: an array of `shape + [vocab]`.
///
/// # Errors
/// A count other than the product of `shape`, or an id not below `vocab`.
pub fn one_hot(ids: &[usize], shape: &[usize], vocab: usize) -> Result<ArrayD<f64>> {
    check_ids(ids, shape, vocab)?;
    let mut full = shape.to_vec();
    full.push(vocab);
    let mut out = ArrayD::zeros(IxDyn(&full));
    if let Some(flat) = out.as_slice_mut() {
        for (row, &id) in ids.iter().enumerate() {
            flat[row * vocab + id] = 1.0;
        }
    }
    Ok(out)
}

fn check_ids(ids: &[usize], shape: &[usize], vocab: usize) -> Result<()> {
    let n: usize = shape.iter().product();
    if ids.len() != n {
        return Err(invalid("Embedding", format!("{} ids for shape {shape:?}", ids.len())));
    }
    if let Some(pos) = ids.iter().position(|&i| i >= vocab) {
        // The position, not the id: a private id must not appear in an error message.
        return Err(invalid("Embedding", format!("id at position {pos} not below {vocab}")));
    }
    Ok(())
}

/// A lookup table `[num_embeddings, embedding_dim]`.
///
/// As a [`Module`], `forward` takes one-hot rows `[.., num_embeddings]` (or any weights
/// over the vocabulary) and returns their product with the table; [`embed`](Self::embed)
/// takes ids. From the second pass at the same table on, the product is by the table fixed
/// once, as [`Linear`](super::Linear)'s is.
#[derive(Debug)]
pub struct Embedding<B: Backend> {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Var<B>,
    fixed: FixedWeights<B>,
}

impl<B: Backend> Embedding<B> {
    /// A table drawn from `N(0, 1)`, PyTorch's default.
    ///
    /// # Errors
    /// A zero size; the backend's errors.
    pub fn new(init: &mut Init<B>, num_embeddings: usize, embedding_dim: usize) -> Result<Self> {
        if num_embeddings == 0 || embedding_dim == 0 {
            return Err(invalid(
                "Embedding",
                format!("{num_embeddings} embeddings of dimension {embedding_dim}"),
            ));
        }
        let weight = init.normal_param(&[num_embeddings, embedding_dim], 1.0)?;
        Ok(Self { weight, fixed: FixedWeights::default() })
    }

    /// The vocabulary size.
    #[must_use]
    pub fn num_embeddings(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The embedding dimension.
    #[must_use]
    pub fn embedding_dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// The rows of `tokens` (`shape` of them, row-major), as a tensor of
    /// `shape + [embedding_dim]`. See the module documentation for what each kind of ids
    /// costs. The plain backend selects rows for private ids too (it has one party).
    ///
    /// # Errors
    /// Ids that do not fit `shape` or the vocabulary (at every party, for private ids); a
    /// non-owner passing ids; the backend's errors.
    pub fn embed(&self, tokens: Tokens<'_>, shape: &[usize]) -> Result<Var<B>> {
        let (vocab, dim) = (self.num_embeddings(), self.embedding_dim());
        let mut out_shape = shape.to_vec();
        out_shape.push(dim);
        let b = self.weight.backend();
        match tokens {
            Tokens::Public(ids) => {
                check_ids(ids, shape, vocab)?;
                Ok(self.weight.index_select(0, ids)?.reshape(&out_shape)?)
            }
            Tokens::Private { ids, .. } if b.parties() == 1 => {
                let ids = ids.ok_or_else(|| invalid("Embedding", "the owner passed no ids"))?;
                self.embed(Tokens::Public(ids), shape)
            }
            Tokens::Private { owner, ids } => {
                if owner >= b.parties() {
                    return Err(invalid("Embedding", format!("owner {owner} is not a party")));
                }
                let mine = b.rank() == owner;
                let onehot = match (mine, ids) {
                    (true, Some(ids)) => one_hot(ids, shape, vocab).map(Some),
                    (true, None) => Err(invalid("Embedding", "the owner passed no ids")),
                    (false, Some(_)) => Err(invalid(
                        "Embedding",
                        format!("party {} does not own the ids", b.rank()),
                    )),
                    (false, None) => Ok(None),
                };
                let verdict = agree_all(&b, onehot.is_ok())?;
                let onehot = onehot?;
                if let Some(p) = verdict.iter().position(|ok| !ok) {
                    return Err(invalid("Embedding", format!("party {p} refused the lookup")));
                }
                let mut hot_shape = shape.to_vec();
                hot_shape.push(vocab);
                let x = Var::constant(&b, b.input(owner, onehot.as_ref(), &hot_shape)?);
                self.forward(&x)
            }
        }
    }
}

impl<B: Backend> Module<B> for Embedding<B> {
    /// `x @ weight` for one-hot rows `x` of shape `[.., num_embeddings]`.
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let shape = x.shape();
        if shape.len() < 2 {
            // Matmul needs rows: a single one-hot row becomes a batch of one.
            let row = x.reshape(&[1, shape.iter().product()])?;
            let row = self.fixed.matmul(0, &row, &self.weight, &self.weight)?;
            return Ok(row.reshape(&[self.embedding_dim()])?);
        }
        self.fixed.matmul(0, x, &self.weight, &self.weight)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        f(&join(prefix, "weight"), &self.weight, TensorKind::Parameter);
    }
}
