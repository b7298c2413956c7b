//! The operations an ONNX importer needs beyond the layers' (erf, max along an axis,
//! index_select, constant pad, transposed convolution), checked against definitions and
//! known values, on the plain backend and on shares for 2 and 3 parties; and their typed
//! errors. (Their gradients against finite differences and secure-vs-plain on random
//! graphs are in `grad_parity.rs`.)
//!
//! Tolerances: one fixed-point unit is `u = 2^-16 = 1.5e-5`. Inputs here are on the
//! 2^-16 grid where exactness matters, so encoding is exact and only the protocol's own
//! error remains: selections and paddings move shares (exact); max's comparisons are exact
//! and its backward is one product by the one-hot (one truncation: a unit, two with dealer
//! pairs); a transposed convolution is one product, truncated once. `1e-4` (6 units)
//! bounds all of them. erf's secure series is documented at `3e-6` (fit) plus `2.5e-5`
//! (coefficient rounding), `1.6e-8` outside `[-4, 4]`; its derivative at `4e-4` relative
//! (an `exp` at `2e-4`, squared) times `2 / sqrt(pi)`: `1e-4` and `6e-4` leave a 2x margin.
//! The plain erf is within a few ulps of the true value (under `2e-15` relative, so `4e-15`
//! absolute on values of at most 1).

use cloak_autograd::{AutogradError, Backend, Plain, Result, Secure, Var};
use cloak_mpc::{MpcError, SessionConfig, run_local_typed};
use cloak_ring::Conv2dSpec;
use cloak_ring::testing::TestRng;
use ndarray::{ArrayD, IxDyn, array};

/// Seeded test inputs uniform in `[lo, hi)`, rounded to the 2^-16 grid so that fixed-point
/// encoding is exact.
fn grid(rng: &mut TestRng, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
    rng.array(shape, lo, hi).mapv(|v| (v * 65536.0).round() / 65536.0)
}

fn close(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>, tol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w} (tolerance {tol})");
    }
}

/// `f(backend)` revealed at every party of 2- and 3-party sessions, with the party count.
fn secure_runs<R: Send>(f: impl Fn(&Secure) -> Result<R> + Sync) -> Vec<(usize, R)> {
    let mut out = Vec::new();
    for parties in [2, 3] {
        for o in run_local_typed(parties, &SessionConfig::default(), |s| f(&Secure::new(s))) {
            out.push((parties, o.expect("party failed")));
        }
    }
    out
}

/// A leaf of `value`, shared by party 0, that requires grad.
fn leaf<B: Backend>(b: &B, value: &ArrayD<f64>) -> Result<Var<B>> {
    let t = b.input(0, (b.rank() == 0).then_some(value), value.shape())?;
    Ok(Var::leaf(b, t, true))
}

// ----- erf ---------------------------------------------------------------------------------

/// CPython's `math.erf` (the C library's, within an ulp or so) at these points.
const ERF_TABLE: [(f64, f64); 15] = [
    (0.001, 0.0011283787909692365),
    (0.1, 0.1124629160182849),
    (0.3, 0.3286267594591274),
    (0.5, 0.5204998778130465),
    (1.0, 0.8427007929497149),
    (1.5, 0.9661051464753108),
    (2.0, 0.9953222650189527),
    (2.5, 0.999593047982555),
    (3.0, 0.9999779095030014),
    (3.5, 0.9999992569016276),
    (4.5, 0.9999999998033839),
    (5.5, 0.9999999999999927),
    (5.99, 1.0),
    (6.0, 1.0),
    (8.0, 1.0),
];

fn erf_table() -> (ArrayD<f64>, ArrayD<f64>) {
    // Both signs: erf is odd; and 0.
    let mut xs = vec![0.0];
    let mut ys = vec![0.0];
    for (x, y) in ERF_TABLE {
        xs.extend([x, -x]);
        ys.extend([y, -y]);
    }
    let n = xs.len();
    (
        ArrayD::from_shape_vec(IxDyn(&[n]), xs).unwrap(),
        ArrayD::from_shape_vec(IxDyn(&[n]), ys).unwrap(),
    )
}

#[test]
fn erf_matches_known_values() {
    let (x, want) = erf_table();
    let got = Var::constant(&Plain, x.clone()).erf().unwrap().value();
    close("plain erf", &got, &want, 4e-15);
    for (parties, got) in secure_runs(|b| {
        let v = Var::constant(b, b.public(&x)?);
        b.reveal(&v.erf()?.value())
    }) {
        close(&format!("secure erf ({parties} parties)"), &got, &want, 1e-4);
    }
}

/// erf's gradient is `2 / sqrt(pi) exp(-x^2)`: 1.128 at 0, about 0 far out. On shares the
/// backward clamps `x^2` before its `exp`, so inputs far outside `exp`'s domain (|x| = 9,
/// 30, 100) still get about 0, not the garbage an unclamped series would give.
#[test]
fn erf_gradient_is_right_near_zero_and_vanishes_far_out() {
    let x =
        array![-100.0, -12.0, -6.0, -4.5, -1.25, 0.0, 0.5, 0.75, 2.0, 4.5, 9.0, 30.0].into_dyn();
    let seed = x.mapv(|_| 1.0);
    let want = x.mapv(|v: f64| std::f64::consts::FRAC_2_SQRT_PI * (-v * v).exp());
    fn run<B: Backend>(b: &B, x: &ArrayD<f64>, seed: &ArrayD<f64>) -> Result<ArrayD<f64>> {
        let v = leaf(b, x)?;
        v.erf()?.backward_with(b.public(seed)?)?;
        b.reveal(&v.grad()?)
    }
    close("plain erf grad", &run(&Plain, &x, &seed).unwrap(), &want, 1e-15);
    for (parties, got) in secure_runs(|b| run(b, &x, &seed)) {
        let what = format!("secure erf grad ({parties} parties)");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let bound = 1e-4 + 6e-4 * w;
            assert!((g - w).abs() <= bound, "{what}[{i}] at x = {}: got {g}, want {w}", x[i]);
        }
    }
}

// ----- max, index_select, pad ----------------------------------------------------------------

#[test]
fn max_routes_the_gradient_to_the_first_maximum() {
    // Ties in both rows: the first occurrence wins, as in PyTorch's max(dim).
    let x =
        array![[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 0.0, 2.0], [-4.0, -3.5, -3.5, -5.0]].into_dyn();
    let seed = array![[0.5], [-2.0], [1.25]].into_dyn();
    let want_y = array![[3.0], [2.0], [-3.5]].into_dyn();
    let want_g =
        array![[0.0, 0.5, 0.0, 0.0], [-2.0, 0.0, 0.0, 0.0], [0.0, 1.25, 0.0, 0.0]].into_dyn();
    fn run<B: Backend>(b: &B, x: &ArrayD<f64>, seed: &ArrayD<f64>) -> Result<[ArrayD<f64>; 3]> {
        let v = leaf(b, x)?;
        let y = v.max(1, true)?;
        y.backward_with(b.public(seed)?)?;
        let flat = Var::constant(b, v.value()).max(1, false)?;
        Ok([b.reveal(&y.value())?, b.reveal(&v.grad()?)?, b.reveal(&flat.value())?])
    }
    let [y, g, flat] = run(&Plain, &x, &seed).unwrap();
    assert_eq!((y, g), (want_y.clone(), want_g.clone()));
    assert_eq!(flat, array![3.0, 2.0, -3.5].into_dyn());
    for (parties, [y, g, flat]) in secure_runs(|b| run(b, &x, &seed)) {
        close(&format!("secure max ({parties} parties)"), &y, &want_y, 1e-4);
        close(&format!("secure max grad ({parties} parties)"), &g, &want_g, 1e-4);
        close(
            &format!("secure max, no keepdim ({parties})"),
            &flat,
            &array![3.0, 2.0, -3.5].into_dyn(),
            1e-4,
        );
    }
}

#[test]
fn index_select_sums_the_gradients_of_repeated_indices() {
    let x = array![[1.0, -2.0], [0.5, 4.0], [-3.0, 0.25]].into_dyn();
    let indices = [2, 0, 2, 2];
    let seed = array![[1.0, 2.0], [3.0, 4.0], [0.5, -1.0], [0.25, 0.75]].into_dyn();
    let want_y = array![[-3.0, 0.25], [1.0, -2.0], [-3.0, 0.25], [-3.0, 0.25]].into_dyn();
    // Row 1 is never selected; row 2 gets the sum of three seeds.
    let want_g = array![[3.0, 4.0], [0.0, 0.0], [1.75, 1.75]].into_dyn();
    fn run<B: Backend>(
        b: &B,
        x: &ArrayD<f64>,
        indices: &[usize],
        seed: &ArrayD<f64>,
    ) -> Result<[ArrayD<f64>; 3]> {
        let v = leaf(b, x)?;
        let y = v.index_select(0, indices)?;
        y.backward_with(b.public(seed)?)?;
        let none = v.index_select(1, &[])?;
        Ok([b.reveal(&y.value())?, b.reveal(&v.grad()?)?, b.reveal(&none.value())?])
    }
    let [y, g, none] = run(&Plain, &x, &indices, &seed).unwrap();
    assert_eq!((y, g), (want_y.clone(), want_g.clone()));
    assert_eq!(none.shape(), &[3, 0]);
    for (parties, [y, g, none]) in secure_runs(|b| run(b, &x, &indices, &seed)) {
        // Moves and sums of shares of grid values: exact.
        close(&format!("secure index_select ({parties} parties)"), &y, &want_y, 0.0);
        close(&format!("secure index_select grad ({parties} parties)"), &g, &want_g, 0.0);
        assert_eq!(none.shape(), &[3, 0]);
    }
}

#[test]
fn pad_fills_with_the_value_and_crops_the_gradient() {
    let x = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn();
    let pads = [(1, 0), (0, 2)];
    let want_y =
        array![[1.5, 1.5, 1.5, 1.5, 1.5], [1.0, 2.0, 3.0, 1.5, 1.5], [4.0, 5.0, 6.0, 1.5, 1.5]]
            .into_dyn();
    let seed = ArrayD::from_shape_fn(IxDyn(&[3, 5]), |i| (i[0] * 5 + i[1]) as f64);
    let want_g = array![[5.0, 6.0, 7.0], [10.0, 11.0, 12.0]].into_dyn();
    fn run<B: Backend>(
        b: &B,
        x: &ArrayD<f64>,
        pads: &[(usize, usize)],
        seed: &ArrayD<f64>,
    ) -> Result<[ArrayD<f64>; 2]> {
        let v = leaf(b, x)?;
        let y = v.pad(pads, 1.5)?;
        y.backward_with(b.public(seed)?)?;
        Ok([b.reveal(&y.value())?, b.reveal(&v.grad()?)?])
    }
    let [y, g] = run(&Plain, &x, &pads, &seed).unwrap();
    assert_eq!((y, g), (want_y.clone(), want_g.clone()));
    for (parties, [y, g]) in secure_runs(|b| run(b, &x, &pads, &seed)) {
        close(&format!("secure pad ({parties} parties)"), &y, &want_y, 0.0);
        close(&format!("secure pad grad ({parties} parties)"), &g, &want_g, 0.0);
    }
}

// ----- conv_transpose2d ----------------------------------------------------------------------

/// PyTorch's definition in gather form, independent of both backends' scatter loops:
/// `y[n, g*O/g + o, r, q] = sum over c in group g, a, b with r + p - a d = i s and
/// q + p - b d = j s (i, j inside x) of x[n, c, i, j] * w[c, o, a, b]`.
fn conv_transpose_definition(
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    sp: &Conv2dSpec,
    op: (usize, usize),
) -> ArrayD<f64> {
    let (xs, ws) = (x.shape(), w.shape());
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (og, kh, kw) = (ws[1], ws[2], ws[3]);
    let extent = |i: usize, k: usize, s: usize, p: usize, d: usize, e: usize| {
        (i - 1) * s + d * (k - 1) + e + 1 - 2 * p
    };
    let oh = extent(h, kh, sp.stride.0, sp.padding.0, sp.dilation.0, op.0);
    let ow = extent(wd, kw, sp.stride.1, sp.padding.1, sp.dilation.1, op.1);
    let cg = c / sp.groups;
    let mut y = ArrayD::zeros(IxDyn(&[n, og * sp.groups, oh, ow]));
    for b in 0..n {
        for oc in 0..og * sp.groups {
            let (g, o) = (oc / og, oc % og);
            for r in 0..oh {
                for q in 0..ow {
                    let mut acc = 0.0;
                    for c in g * cg..(g + 1) * cg {
                        for a in 0..kh {
                            for bb in 0..kw {
                                let i = (r + sp.padding.0) as isize - (a * sp.dilation.0) as isize;
                                let j = (q + sp.padding.1) as isize - (bb * sp.dilation.1) as isize;
                                let (s0, s1) = (sp.stride.0 as isize, sp.stride.1 as isize);
                                if i < 0 || j < 0 || i % s0 != 0 || j % s1 != 0 {
                                    continue;
                                }
                                let (i, j) = ((i / s0) as usize, (j / s1) as usize);
                                if i < h && j < wd {
                                    acc += x[[b, c, i, j]] * w[[c, o, a, bb]];
                                }
                            }
                        }
                    }
                    y[[b, oc, r, q]] = acc;
                }
            }
        }
    }
    y
}

/// `(x shape, w shape, spec, output_padding)`.
type ConvTransposeCase = (Vec<usize>, Vec<usize>, Conv2dSpec, (usize, usize));

fn conv_transpose_cases() -> Vec<ConvTransposeCase> {
    let spec = |stride, padding, dilation, groups| Conv2dSpec { stride, padding, dilation, groups };
    vec![
        // Stride 2, padding 1, output padding 1, groups 2, dilation 2 together.
        (vec![2, 4, 3, 3], vec![4, 2, 3, 3], spec((2, 2), (1, 1), (2, 2), 2), (1, 1)),
        // Non-square everything.
        (vec![1, 4, 3, 2], vec![4, 3, 3, 2], spec((2, 3), (1, 0), (1, 2), 2), (1, 0)),
        // Output padding at stride 1, allowed by dilation 2.
        (vec![1, 2, 4, 3], vec![2, 2, 2, 3], spec((1, 2), (0, 1), (2, 1), 1), (1, 0)),
        // The default spec: a "full" convolution.
        (vec![2, 3, 2, 3], vec![3, 2, 2, 2], Conv2dSpec::default(), (0, 0)),
        // Depthwise (groups = channels), stride 2.
        (vec![1, 4, 2, 3], vec![4, 1, 2, 2], spec((2, 2), (0, 0), (1, 1), 4), (1, 1)),
    ]
}

#[test]
fn conv_transpose2d_matches_the_definition() {
    for (k, (xs, ws, sp, op)) in conv_transpose_cases().into_iter().enumerate() {
        let mut rng = TestRng::new(700 + k as u64);
        let (x, w) = (grid(&mut rng, &xs, -2.0, 2.0), grid(&mut rng, &ws, -2.0, 2.0));
        let want = conv_transpose_definition(&x, &w, &sp, op);
        // The documented output size.
        let extent = |i: usize, kk: usize, s: usize, p: usize, d: usize, e: usize| {
            (i - 1) * s - 2 * p + d * (kk - 1) + e + 1
        };
        assert_eq!(
            want.shape(),
            &[
                xs[0],
                ws[1] * sp.groups,
                extent(xs[2], ws[2], sp.stride.0, sp.padding.0, sp.dilation.0, op.0),
                extent(xs[3], ws[3], sp.stride.1, sp.padding.1, sp.dilation.1, op.1)
            ]
        );
        let got = Var::constant(&Plain, x.clone())
            .conv_transpose2d(&Var::constant(&Plain, w.clone()), &sp, op)
            .unwrap()
            .value();
        close(&format!("case {k}: plain"), &got, &want, 1e-12);
        for (parties, got) in secure_runs(|b| {
            let (xv, wv) = (leaf(b, &x)?, leaf(b, &w)?);
            b.reveal(&xv.conv_transpose2d(&wv, &sp, op)?.value())
        }) {
            close(&format!("case {k}: secure ({parties} parties)"), &got, &want, 1e-4);
        }
    }
}

/// A hand-computable case: stride 2 with a 2x2 kernel of ones copies every input pixel
/// into its own 2x2 block.
#[test]
fn conv_transpose2d_by_hand() {
    let x = array![[[[1.0, 2.0], [3.0, 4.0]]]].into_dyn();
    let w = ArrayD::from_elem(IxDyn(&[1, 1, 2, 2]), 1.0);
    let sp = Conv2dSpec { stride: (2, 2), ..Conv2dSpec::default() };
    let y = Var::constant(&Plain, x).conv_transpose2d(&Var::constant(&Plain, w), &sp, (0, 0));
    let want = array![
        [1.0, 1.0, 2.0, 2.0],
        [1.0, 1.0, 2.0, 2.0],
        [3.0, 3.0, 4.0, 4.0],
        [3.0, 3.0, 4.0, 4.0]
    ];
    assert_eq!(y.unwrap().value(), want.into_shape_with_order([1, 1, 4, 4]).unwrap().into_dyn());
}

/// The transposed convolution is the adjoint of the convolution with the same weight:
/// `<conv_transpose2d(x, w), y> = <x, conv2d(y, w)>` (the backward rule's premise).
#[test]
fn conv_transpose2d_is_the_adjoint_of_conv2d() {
    for (k, (xs, ws, sp, op)) in conv_transpose_cases().into_iter().enumerate() {
        if op.0 >= sp.stride.0 || op.1 >= sp.stride.1 {
            // conv2d(y, w) has extra rows then; the crop is checked by finite differences.
            continue;
        }
        let mut rng = TestRng::new(800 + k as u64);
        let (x, w) = (grid(&mut rng, &xs, -1.0, 1.0), grid(&mut rng, &ws, -1.0, 1.0));
        let t = Plain.conv_transpose2d(&x, &w, &sp, op).unwrap();
        let y = grid(&mut rng, t.shape(), -1.0, 1.0);
        let c = Plain.conv2d(&y, &w, &sp).unwrap();
        let lhs: f64 = t.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&c).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()), "case {k}: {lhs} vs {rhs}");
    }
}

// ----- typed errors --------------------------------------------------------------------------

/// What a bad call must fail with, whichever the backend.
#[derive(Clone, Copy, Debug)]
enum Want {
    Invalid(&'static str),
    Shape(&'static str),
    NotFinite(&'static str),
    /// Checked by the backend: `InvalidArgument` of this op on the plain one, a
    /// protocol-layer (ring) error on the secure one.
    Backend(&'static str),
}

type BadCall<B> = fn(&Var<B>, &Var<B>) -> Result<Var<B>>;

fn bad_calls<B: Backend>() -> Vec<(&'static str, BadCall<B>, Want)> {
    vec![
        ("max axis", |x, _| x.max(2, false), Want::Invalid("max")),
        ("index_select axis", |x, _| x.index_select(2, &[0]), Want::Invalid("index_select")),
        ("index_select index", |x, _| x.index_select(1, &[0, 3]), Want::Invalid("index_select")),
        ("pad length", |x, _| x.pad(&[(1, 1)], 0.0), Want::Invalid("pad")),
        ("pad NaN", |x, _| x.pad(&[(1, 1), (0, 0)], f64::NAN), Want::NotFinite("pad")),
        ("pad infinity", |x, _| x.pad(&[(0, 0), (0, 1)], f64::INFINITY), Want::NotFinite("pad")),
        ("pad overflow", |x, _| x.pad(&[(usize::MAX, 0), (0, 0)], 0.0), Want::Backend("pad")),
        (
            "conv_transpose2d 2-d input",
            |x, w| x.conv_transpose2d(w, &Conv2dSpec::default(), (0, 0)),
            Want::Shape("conv_transpose2d"),
        ),
        (
            "conv_transpose2d weight channels",
            |_, w| {
                // 3 input channels against a weight for 4.
                let x = Var::constant(&w.backend(), w.backend().zeros(&[1, 3, 2, 2]));
                x.conv_transpose2d(w, &Conv2dSpec::default(), (0, 0))
            },
            Want::Shape("conv_transpose2d"),
        ),
        (
            "conv_transpose2d 3-d weight",
            |_, w| {
                let x = Var::constant(&w.backend(), w.backend().zeros(&[1, 4, 2, 2]));
                x.conv_transpose2d(&w.reshape(&[4, 2, 4])?, &Conv2dSpec::default(), (0, 0))
            },
            Want::Shape("conv_transpose2d"),
        ),
        (
            "conv_transpose2d groups",
            |_, w| {
                let x = Var::constant(&w.backend(), w.backend().zeros(&[1, 4, 2, 2]));
                let sp = Conv2dSpec { groups: 3, ..Conv2dSpec::default() };
                x.conv_transpose2d(w, &sp, (0, 0))
            },
            Want::Backend("conv_transpose2d"),
        ),
        (
            "conv_transpose2d output padding",
            |_, w| {
                let x = Var::constant(&w.backend(), w.backend().zeros(&[1, 4, 2, 2]));
                let sp = Conv2dSpec { stride: (2, 2), ..Conv2dSpec::default() };
                x.conv_transpose2d(w, &sp, (2, 0))
            },
            Want::Backend("conv_transpose2d"),
        ),
        (
            "conv_transpose2d padding",
            |_, w| {
                let x = Var::constant(&w.backend(), w.backend().zeros(&[1, 4, 1, 1]));
                let sp = Conv2dSpec { padding: (2, 0), ..Conv2dSpec::default() };
                x.conv_transpose2d(w, &sp, (0, 0))
            },
            Want::Backend("conv_transpose2d"),
        ),
    ]
}

/// Whether `e` is what `want` says for backend `name`.
fn matches_want(e: &AutogradError, want: Want, name: &str) -> bool {
    match want {
        Want::Invalid(op) => matches!(e, AutogradError::InvalidArgument { op: o, .. } if *o == op),
        Want::Shape(op) => matches!(e, AutogradError::ShapeMismatch { op: o, .. } if *o == op),
        Want::NotFinite(op) => matches!(e, AutogradError::NotFinite { op: o, .. } if *o == op),
        Want::Backend(op) if name == "plain" => {
            matches!(e, AutogradError::InvalidArgument { op: o, .. } if *o == op)
        }
        Want::Backend(_) => matches!(e, AutogradError::Mpc(MpcError::Ring(_))),
    }
}

/// Runs every bad call on `b` and describes the ones that failed wrongly.
fn check_bad_calls<B: Backend>(b: &B) -> Result<Vec<String>> {
    let x = Var::leaf(b, b.zeros(&[2, 3]), true);
    let w = Var::leaf(b, b.zeros(&[4, 2, 2, 2]), true);
    let mut wrong = Vec::new();
    for (what, call, want) in bad_calls::<B>() {
        match call(&x, &w) {
            Ok(v) => wrong.push(format!("{what}: accepted, shape {:?}", v.shape())),
            Err(e) if matches_want(&e, want, b.name()) => {}
            Err(e) => wrong.push(format!("{what}: {e:?}, wanted {want:?}")),
        }
    }
    // An empty axis has no maximum.
    match Var::constant(b, b.zeros(&[2, 0])).max(1, false) {
        Err(AutogradError::InvalidArgument { op: "max", .. }) => {}
        other => wrong.push(format!("max of an empty axis: {other:?}")),
    }
    Ok(wrong)
}

#[test]
fn bad_arguments_are_typed_errors() {
    let wrong = check_bad_calls(&Plain).unwrap();
    assert!(wrong.is_empty(), "plain: {wrong:#?}");
    for (parties, wrong) in secure_runs(check_bad_calls) {
        assert!(wrong.is_empty(), "secure ({parties} parties): {wrong:#?}");
    }
}
