//! Private inference in one call: [`infer`] runs an imported model on secret shares of the
//! model owner's weights and the data owner's input, and reveals the output only to whom
//! the [`Roles`] say.

use cloak_autograd::{Backend, Secure, Var};
use cloak_mpc::Session;
use cloak_nn::ModuleExt;
use cloak_onnx::{OnnxModel, StepInfo};
use ndarray::{ArrayD, Dimension};

use crate::error::{Error, Result};

/// Who holds what, and who learns the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    /// The party that holds the model's weights.
    pub model_owner: usize,
    /// The party that holds the input.
    pub data_owner: usize,
    /// The party the output is revealed to (`None`: every party).
    pub reveal_to: Option<usize>,
}

impl Default for Roles {
    /// Party 0 owns the model, party 1 the data, and only party 1 learns the output: the
    /// usual client-server split, where the server learns nothing.
    fn default() -> Self {
        Self { model_owner: 0, data_owner: 1, reveal_to: Some(1) }
    }
}

impl Roles {
    /// Checks every role names one of `parties` computing parties.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the role out of range.
    pub fn check(&self, parties: usize) -> Result<()> {
        let roles =
            [("model owner", Some(self.model_owner)), ("data owner", Some(self.data_owner))];
        for (what, rank) in roles.into_iter().chain([("reveal-to party", self.reveal_to)]) {
            if let Some(r) = rank
                && r >= parties
            {
                return Err(Error::invalid(
                    "roles",
                    format!("the {what} is party {r}, but there are {parties} parties"),
                ));
            }
        }
        Ok(())
    }

    /// Whether `rank` learns the output.
    #[must_use]
    pub fn learns_output(&self, rank: usize) -> bool {
        self.reveal_to.is_none_or(|r| r == rank)
    }
}

/// What [`infer_observed`] has just finished, for progress bars and per-stage statistics.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Stage<'a> {
    /// The graph is built (every party's dry run: shapes, folded constants).
    Built {
        /// How many nodes will run.
        steps: usize,
    },
    /// The model owner's weights are secret-shared.
    Weights,
    /// The data owner's input is checked (by the owner, agreed by all) and secret-shared.
    Input,
    /// One node of the graph ran.
    Node(StepInfo<'a>),
    /// The output is revealed.
    Revealed,
}

/// Runs `model` privately on this party's `session` and returns the output where it is
/// revealed (`None` elsewhere). Every computing party calls it with the same arguments
/// except its private ones: `model` holds the weights at the model owner only (the others
/// may pass a model rebuilt from [`OnnxModel::public_bytes`]), `input` is read at the data
/// owner only, and every party passes the public `input_shape`.
///
/// # Errors
/// An input that does not fit the model or holds a NaN, an infinity or a value outside the
/// fixed-point range ([`Error::Input`] at the data owner, [`Error::Refused`] at the others,
/// together), unsupported nodes, a model owner without weights, and any protocol or
/// communication error.
pub fn infer(
    session: &Session,
    model: &OnnxModel,
    roles: Roles,
    input: Option<&ArrayD<f64>>,
    input_shape: &[usize],
) -> Result<Option<ArrayD<f64>>> {
    infer_observed(session, model, roles, input, input_shape, &mut |_| {})
}

/// [`infer`], calling `observe` after each stage and each node (for a progress bar, or
/// per-layer time and communication from [`Session::comm_stats`]).
///
/// # Errors
/// As [`infer`].
pub fn infer_observed(
    session: &Session,
    model: &OnnxModel,
    roles: Roles,
    input: Option<&ArrayD<f64>>,
    input_shape: &[usize],
    observe: &mut dyn FnMut(Stage<'_>),
) -> Result<Option<ArrayD<f64>>> {
    let rank = session.rank();
    roles.check(session.parties())?;
    model.check_input_shape(input_shape)?;
    let backend = Secure::new(session);
    let net = model.build(&backend, input_shape)?;
    observe(Stage::Built { steps: net.steps().len() });

    let weights = if rank == roles.model_owner { model.weights() } else { None };
    net.load_state(roles.model_owner, weights)?;
    observe(Stage::Weights);

    let x = share_input(session, &backend, model, roles.data_owner, input, input_shape)?;
    observe(Stage::Input);

    // Inference records no graph: no operand is kept for a backward pass.
    let y = cloak_autograd::no_grad(|| {
        net.forward_observed(&Var::constant(&backend, x), &mut |s| observe(Stage::Node(s)))
    })?;
    let out = match roles.reveal_to {
        Some(p) => backend.reveal_to(&y.value(), p)?,
        None => Some(backend.reveal(&y.value())?),
    };
    observe(Stage::Revealed);
    Ok(out)
}

/// Shares the data owner's input after the owner's checks, which every party learns the
/// verdict of (one round): sharing itself sends no message, so an owner that stopped alone
/// would leave the others computing on random masks until a later exchange timed out. Token
/// ids are checked and encoded one-hot by the owner ([`OnnxModel::encode_input`]) within
/// the same verdict, and shared at the model's encoded shape.
fn share_input(
    session: &Session,
    backend: &Secure,
    model: &OnnxModel,
    owner: usize,
    input: Option<&ArrayD<f64>>,
    shape: &[usize],
) -> Result<cloak_mpc::AShare> {
    let mine = session.rank() == owner;
    let encoded = if mine {
        check_input(input, shape, session.config().frac_bits).and_then(|()| match input {
            Some(x) => Ok(Some(model.encode_input(x)?)),
            None => Ok(None),
        })
    } else {
        Ok(None)
    };
    let flag = ArrayD::from_elem(vec![1], if encoded.is_ok() { 1.0 } else { 0.0 });
    let verdict = backend.input(owner, mine.then_some(&flag), &[1])?;
    let verdict = backend.reveal(&verdict)?;
    let encoded = encoded?;
    if verdict.iter().next().is_none_or(|&v| v < 0.5) {
        return Err(Error::Refused { party: owner, what: "input".into() });
    }
    Ok(backend.input(owner, encoded.as_ref(), &model.encoded_input_shape(shape))?)
}

/// The data owner's checks: present, of the agreed shape, and every element encodable.
/// Errors name an element by its index, never by its value.
pub(crate) fn check_input(
    input: Option<&ArrayD<f64>>,
    shape: &[usize],
    frac_bits: u32,
) -> Result<()> {
    let bad = |reason: String| Err(Error::Input { reason });
    let Some(x) = input else {
        return bad("the data owner passed no input".into());
    };
    if x.shape() != shape {
        return bad(format!("shape {:?}, but the parties agreed on {shape:?}", x.shape()));
    }
    // Encoding multiplies by 2^f into a signed 64-bit ring, and products need twice the
    // fractional bits: keep inputs where a product of two still fits.
    let limit = (62.0 - 2.0 * f64::from(frac_bits)).exp2();
    for (index, &v) in x.indexed_iter() {
        let what = if v.is_nan() {
            "NaN"
        } else if v.is_infinite() {
            "infinite"
        } else if v.abs() >= limit {
            "outside the fixed-point range"
        } else {
            continue;
        };
        return bad(format!("element {:?} is {what}", index.slice()));
    }
    Ok(())
}
