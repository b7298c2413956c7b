//! Every differentiable operation, forward and backward, on secret shares (2 and 3
//! parties) against the same graph on the plain f64 backend; and the plain backend's
//! gradients against central finite differences.
//!
//! Tolerances: with 16 fractional bits one unit is `u = 2^-16 = 1.5e-5`. A product costs at
//! most one unit of truncation (2-party local truncation: one unit except with probability
//! about `|v| 2^-32`; dealer pairs: within two units), so linear and bilinear graphs on
//! inputs of size <= 2 with a few accumulations stay within `1e-4` absolute. Selections
//! (index_select, pad, max and its one-hot) move or compare shares exactly and their
//! backward rules add one product at most, so they share that bound; transposed
//! convolutions are one product of sums like conv2d (`3e-4`). Functions add their
//! documented approximation error (relative 4e-4 for exp, 3e-5 absolute for sigmoid/tanh
//! series and erf, 3e-4 relative for reciprocal/log/sqrt), and their backward rules
//! multiply such values by the seed gradient (entries <= 1): `3e-3 |ref| + 3e-4` covers
//! those with a 2-3x margin (erf's derivative squares an `exp`, doubling its relative
//! error to 4e-4, still within). The finite-difference check uses `h = 1e-6` on smooth points:
//! the central difference is accurate to `h^2 |f'''|` plus rounding `eps/h ~ 1e-10`, so
//! `1e-6` relative is a safe bound.

use cloak_autograd::{Backend, Plain, Result, Secure, Var};
use cloak_mpc::{Pool2dSpec, SessionConfig, run_local};
use cloak_ring::Conv2dSpec;
use cloak_ring::testing::TestRng;
use ndarray::ArrayD;

#[derive(Clone, Copy, Debug)]
enum Case {
    AddBroadcast,
    SubMul,
    Square,
    Matmul,
    MatmulBatched,
    Conv2d,
    Conv1d,
    Relu,
    Hardtanh,
    Abs,
    Sigmoid,
    Tanh,
    Exp,
    Log,
    Reciprocal,
    Sqrt,
    InvSqrt,
    Div,
    Softmax,
    LogSoftmax,
    MaxPool,
    AvgPool,
    AdaptiveAvg,
    GlobalAvg,
    Shapes,
    Reductions,
    PublicOperands,
    Erf,
    Max,
    MaxKeepdim,
    IndexSelect,
    Pad,
    ConvTranspose2d,
    ConvTranspose2dDilated,
}

impl Case {
    const ALL: [Case; 34] = [
        Case::AddBroadcast,
        Case::SubMul,
        Case::Square,
        Case::Matmul,
        Case::MatmulBatched,
        Case::Conv2d,
        Case::Conv1d,
        Case::Relu,
        Case::Hardtanh,
        Case::Abs,
        Case::Sigmoid,
        Case::Tanh,
        Case::Exp,
        Case::Log,
        Case::Reciprocal,
        Case::Sqrt,
        Case::InvSqrt,
        Case::Div,
        Case::Softmax,
        Case::LogSoftmax,
        Case::MaxPool,
        Case::AvgPool,
        Case::AdaptiveAvg,
        Case::GlobalAvg,
        Case::Shapes,
        Case::Reductions,
        Case::PublicOperands,
        Case::Erf,
        Case::Max,
        Case::MaxKeepdim,
        Case::IndexSelect,
        Case::Pad,
        Case::ConvTranspose2d,
        Case::ConvTranspose2dDilated,
    ];

    /// Input shapes and ranges.
    fn inputs(self, rng: &mut TestRng) -> Vec<ArrayD<f64>> {
        let g = |rng: &mut TestRng, s: &[usize]| rng.array(s, -2.0, 2.0);
        let pos = |rng: &mut TestRng, s: &[usize]| rng.array(s, 0.5, 4.0);
        match self {
            Case::AddBroadcast => vec![g(rng, &[3, 4]), g(rng, &[4])],
            Case::SubMul => vec![g(rng, &[3, 4]), g(rng, &[3, 1])],
            Case::Matmul => vec![g(rng, &[3, 5]), g(rng, &[5, 2])],
            Case::MatmulBatched => vec![g(rng, &[2, 3, 4]), g(rng, &[4, 2])],
            Case::Conv2d => vec![g(rng, &[2, 4, 6, 5]), g(rng, &[6, 2, 3, 2])],
            Case::Conv1d => vec![g(rng, &[2, 3, 9]), g(rng, &[4, 3, 3])],
            Case::MaxPool | Case::AvgPool => vec![g(rng, &[2, 2, 6, 6])],
            Case::AdaptiveAvg | Case::GlobalAvg => vec![g(rng, &[2, 3, 5, 5])],
            Case::Log | Case::Reciprocal | Case::Sqrt | Case::InvSqrt => vec![pos(rng, &[3, 4])],
            Case::Div => vec![g(rng, &[3, 4]), pos(rng, &[3, 4])],
            Case::Softmax | Case::LogSoftmax => vec![rng.array(&[4, 5], -4.0, 4.0)],
            Case::MaxKeepdim => vec![g(rng, &[3, 5, 2])],
            // [C_in, C_out/groups, kh, kw]: 4 input channels in 2 groups, 6 output channels.
            Case::ConvTranspose2d => vec![g(rng, &[2, 4, 3, 4]), g(rng, &[4, 3, 3, 2])],
            Case::ConvTranspose2dDilated => vec![g(rng, &[1, 2, 4, 3]), g(rng, &[2, 2, 2, 3])],
            _ => vec![g(rng, &[3, 4])],
        }
    }

    fn build<B: Backend>(self, x: &[Var<B>]) -> Result<Var<B>> {
        let a = &x[0];
        match self {
            Case::AddBroadcast => a.add(&x[1]),
            Case::SubMul => a.sub(&x[1])?.mul(&x[1]),
            Case::Square => a.square(),
            Case::Matmul | Case::MatmulBatched => a.matmul(&x[1]),
            Case::Conv2d => {
                let spec =
                    Conv2dSpec { stride: (2, 1), padding: (1, 1), dilation: (1, 2), groups: 2 };
                a.conv2d(&x[1], &spec)
            }
            Case::Conv1d => {
                let spec = Conv2dSpec { stride: (1, 2), padding: (0, 1), ..Conv2dSpec::default() };
                a.conv1d(&x[1], &spec)
            }
            Case::Relu => a.relu(),
            Case::Hardtanh => a.hardtanh(-1.0, 1.5),
            Case::Abs => a.abs(),
            Case::Sigmoid => a.sigmoid(),
            Case::Tanh => a.tanh(),
            Case::Exp => a.exp(),
            Case::Log => a.log(),
            Case::Reciprocal => a.reciprocal(),
            Case::Sqrt => a.sqrt(),
            Case::InvSqrt => a.inv_sqrt(),
            Case::Div => a.div(&x[1]),
            Case::Softmax => a.softmax(1),
            Case::LogSoftmax => a.log_softmax(1),
            Case::MaxPool => {
                a.max_pool2d(&Pool2dSpec { kernel: (3, 3), stride: (2, 2), padding: (1, 1) })
            }
            Case::AvgPool => {
                a.avg_pool2d(&Pool2dSpec { kernel: (3, 3), stride: (2, 2), padding: (1, 1) })
            }
            Case::AdaptiveAvg => a.adaptive_avg_pool2d((2, 3)),
            Case::GlobalAvg => a.global_avg_pool2d(),
            Case::Shapes => {
                let p = a.permute(&[1, 0])?.reshape(&[2, 6])?.pad2d((1, 0))?;
                let s = p.slice(1, 1, 5)?;
                let other = a.t()?.slice(1, 0, 2)?.flatten_from(0)?.reshape(&[4, 2])?;
                Var::concat(&[&s, &other], 1)
            }
            Case::Reductions => {
                let m = a.mean(0, true)?;
                a.sub(&m)?.sum(1, false)?.add(&a.mean_all()?.broadcast_to(&[3])?)
            }
            Case::Erf => a.erf(),
            Case::Max => a.max(1, false),
            Case::MaxKeepdim => a.max(0, true),
            // Index 2 twice (its gradients add up), index 1 never (zero gradient).
            Case::IndexSelect => a.index_select(1, &[2, 0, 2, 3])?.index_select(0, &[1, 1, 0]),
            Case::Pad => a.pad(&[(1, 0), (2, 3)], -0.5),
            Case::ConvTranspose2d => {
                // Stride 2, padding 1, dilation 2, output padding 1, two groups.
                let spec =
                    Conv2dSpec { stride: (2, 2), padding: (1, 1), dilation: (2, 1), groups: 2 };
                a.conv_transpose2d(&x[1], &spec, (1, 1))
            }
            Case::ConvTranspose2dDilated => {
                // Output padding 1 at stride 1 (allowed by dilation 2): the backward's
                // convolution has a row more than the input, cropped (and padded for the
                // weight gradient).
                let spec =
                    Conv2dSpec { stride: (1, 2), padding: (0, 1), dilation: (2, 1), groups: 1 };
                a.conv_transpose2d(&x[1], &spec, (1, 0))
            }
            Case::PublicOperands => {
                // What dropout (a public mask) and fixed biases do.
                let mask = ndarray::array![0.0, 2.0, 2.0, 0.0].into_dyn();
                let shift = ndarray::array![[0.5], [-1.0], [0.25]].into_dyn();
                a.mul_public(&mask)?.add_public(&shift)?.div_scalar(4.0)?.neg()
            }
        }
    }

    /// `(abs, rel)` tolerance of the secure result against the plain one.
    fn tolerance(self) -> (f64, f64) {
        match self {
            Case::AddBroadcast
            | Case::Shapes
            | Case::Reductions
            | Case::Relu
            | Case::Hardtanh
            | Case::Abs
            | Case::MaxPool
            | Case::AvgPool
            | Case::AdaptiveAvg
            | Case::GlobalAvg
            | Case::SubMul
            | Case::PublicOperands
            | Case::Max
            | Case::MaxKeepdim
            | Case::IndexSelect
            | Case::Pad
            | Case::Square => (1e-4, 0.0),
            Case::Matmul
            | Case::MatmulBatched
            | Case::Conv1d
            | Case::Conv2d
            | Case::ConvTranspose2d
            | Case::ConvTranspose2dDilated => (3e-4, 0.0),
            _ => (3e-4, 3e-3),
        }
    }
}

/// Output and input gradients for a seed gradient `seed`.
fn run_graph<B: Backend>(
    backend: &B,
    case: Case,
    inputs: &[ArrayD<f64>],
    seed: &ArrayD<f64>,
) -> Result<(ArrayD<f64>, Vec<ArrayD<f64>>)> {
    let owner = 0;
    let vars = inputs
        .iter()
        .map(|v| {
            let mine = backend.rank() == owner;
            let t = backend.input(owner, mine.then_some(v), v.shape())?;
            Ok(Var::leaf(backend, t, true))
        })
        .collect::<Result<Vec<_>>>()?;
    let out = case.build(&vars)?;
    out.backward_with(backend.public(seed)?)?;
    let y = backend.reveal(&out.value())?;
    let grads = vars.iter().map(|v| backend.reveal(&v.grad()?)).collect::<Result<Vec<_>>>()?;
    Ok((y, grads))
}

fn output_shape(case: Case, inputs: &[ArrayD<f64>]) -> Vec<usize> {
    let vars: Vec<Var<Plain>> = inputs.iter().map(|v| Var::constant(&Plain, v.clone())).collect();
    case.build(&vars).unwrap().shape()
}

fn close(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>, (abs, rel): (f64, f64)) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let bound = abs + rel * w.abs();
        assert!((g - w).abs() <= bound, "{what}[{i}]: got {g}, want {w} (bound {bound})");
    }
}

fn parity(parties: usize, config: &SessionConfig) {
    for (k, case) in Case::ALL.into_iter().enumerate() {
        let mut rng = TestRng::new(1000 + k as u64);
        let inputs = case.inputs(&mut rng);
        let seed = rng.array(&output_shape(case, &inputs), -1.0, 1.0);
        let (want_y, want_g) = run_graph(&Plain, case, &inputs, &seed).unwrap();
        let outcomes = run_local(parties, config, |session| {
            run_graph(&Secure::new(session), case, &inputs, &seed).map_err(|e| {
                cloak_mpc::MpcError::InvalidArgument { op: "test", reason: e.to_string() }
            })
        });
        for o in outcomes {
            let (y, grads) = o.unwrap();
            let tol = case.tolerance();
            close(&format!("{case:?} ({parties} parties) output"), &y, &want_y, tol);
            for (i, (g, w)) in grads.iter().zip(&want_g).enumerate() {
                close(&format!("{case:?} ({parties} parties) grad {i}"), g, w, tol);
            }
        }
    }
}

#[test]
fn secure_matches_plain_two_parties() {
    parity(2, &SessionConfig::default());
}

#[test]
fn secure_matches_plain_three_parties() {
    parity(3, &SessionConfig::default());
}

/// The plain backend's gradients against central differences of `<seed, f(x)>`.
#[test]
fn plain_gradients_match_finite_differences() {
    let h = 1e-6;
    for (k, case) in Case::ALL.into_iter().enumerate() {
        // Kinks (relu, abs, hardtanh, max) are avoided by the inputs' spacing: a step of
        // 1e-6 does not cross one at these random points.
        let mut rng = TestRng::new(5000 + k as u64);
        let inputs = case.inputs(&mut rng);
        let seed = rng.array(&output_shape(case, &inputs), -1.0, 1.0);
        let (_, grads) = run_graph(&Plain, case, &inputs, &seed).unwrap();
        let objective = |xs: &[ArrayD<f64>]| -> f64 {
            let vars: Vec<Var<Plain>> =
                xs.iter().map(|v| Var::constant(&Plain, v.clone())).collect();
            let y = case.build(&vars).unwrap().value();
            y.iter().zip(&seed).map(|(a, b)| a * b).sum()
        };
        for (i, g) in grads.iter().enumerate() {
            for j in 0..inputs[i].len() {
                let mut plus = inputs.clone();
                let mut minus = inputs.clone();
                plus[i].as_slice_mut().unwrap()[j] += h;
                minus[i].as_slice_mut().unwrap()[j] -= h;
                let numeric = (objective(&plus) - objective(&minus)) / (2.0 * h);
                let analytic = g.as_slice().unwrap()[j];
                assert!(
                    (numeric - analytic).abs() <= 1e-6 * (1.0 + analytic.abs()),
                    "{case:?} input {i}[{j}]: analytic {analytic}, numeric {numeric}"
                );
            }
        }
    }
}
