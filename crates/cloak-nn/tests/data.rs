//! Data sets and ownership: CSV parsing and its errors, seeded splits and standardisation,
//! joint tensors from row- and column-split data at 2 and 3 parties, and the training loop
//! on a tiny problem (private against plain, and its loss plot).

mod common;

use cloak_autograd::{Backend, Plain, Var};
use cloak_nn::data::{Dataset, permutation, share_columns, share_rows};
use cloak_nn::loss::cross_entropy;
use cloak_nn::optim::{Sgd, SgdConfig};
use cloak_nn::train::{History, TrainConfig, evaluate, fit};
use cloak_nn::{Init, ModuleExt, NnError, models};
use common::{TestRng, close, secure};
use ndarray::{Array2, s};

#[test]
fn csv_parses_and_reports_bad_lines() {
    let d = Dataset::parse_csv("h\n1,2,0\n3,4.5,2\n\n", 1).unwrap();
    assert_eq!(d.features, ndarray::array![[1.0, 2.0], [3.0, 4.5]]);
    assert_eq!((d.labels.clone(), d.classes), (vec![0, 2], 3));
    for (text, needle) in [
        ("1,2,0\n1,2\n", "line 2"),
        ("1,x,0\n", "not a number"),
        ("1,2,-1\n", "class index"),
        ("1,NaN,0\n", "not finite"),
        ("", "no data"),
        ("1,2,1000000000000\n", "largest class index"),
    ] {
        let err = Dataset::parse_csv(text, 0).unwrap_err();
        assert!(err.contains(needle), "{text:?}: {err}");
    }
    assert!(matches!(Dataset::from_csv("/nonexistent/cloak.csv", 0), Err(NnError::Io { .. })));
    // A one-hot of an absurd width is refused before anything is allocated.
    assert!(cloak_nn::loss::one_hot(&[0], 1 << 40).is_err());
}

#[test]
fn splits_are_seeded_permutations_and_standardisation_uses_train_statistics() {
    let p = permutation(50, 3);
    let mut sorted = p.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    assert_eq!(p, permutation(50, 3));
    assert_ne!(p, permutation(50, 4));
    let features = Array2::from_shape_fn((40, 2), |(i, j)| (i * (j + 1)) as f64);
    let d = Dataset { features, labels: (0..40).map(|i| i % 3).collect(), classes: 3 };
    let (mut train, mut test) = d.split(0.25, 9).unwrap();
    assert_eq!((train.len(), test.len()), (30, 10));
    let (mean, std) = train.standardize();
    test.apply_standardization(&mean, &std);
    for c in train.features.columns() {
        assert!(c.mean().unwrap().abs() < 1e-12);
        assert!((c.mapv(|v| v * v).mean().unwrap() - 1.0).abs() < 1e-12);
    }
    assert!(d.split(0.0, 1).is_err() && d.split(1.0, 1).is_err());
    let parts = d.partition_rows(3);
    assert_eq!(parts.iter().map(Dataset::len).collect::<Vec<_>>(), vec![13, 13, 14]);
}

/// Each party holds a block; the joint tensor is revealed for the check.
fn joint<B: Backend>(
    b: &B,
    full: &Array2<f64>,
    by_rows: bool,
) -> cloak_nn::Result<ndarray::ArrayD<f64>> {
    let parties = b.parties();
    let n = if by_rows { full.nrows() } else { full.ncols() };
    let sizes: Vec<usize> = (0..parties).map(|p| (p + 1) * n / parties - p * n / parties).collect();
    let start: usize = sizes[..b.rank()].iter().sum();
    let end = start + sizes[b.rank()];
    let mine =
        if by_rows { full.slice(s![start..end, ..]) } else { full.slice(s![.., start..end]) };
    let var = if by_rows {
        share_rows(b, Some(&mine.to_owned()), &sizes, full.ncols())?
    } else {
        share_columns(b, Some(&mine.to_owned()), &sizes, full.nrows())?
    };
    Ok(b.reveal(&var.value())?)
}

#[test]
fn row_and_column_splits_give_the_joint_table() {
    let full = TestRng::new(8).array(&[7, 5], -3.0, 3.0).into_dimensionality().unwrap();
    for parties in [2, 3] {
        for by_rows in [true, false] {
            let got = secure(parties, |b| joint(b, &full, by_rows));
            close(
                &format!("{parties} parties, rows {by_rows}"),
                &got,
                &full.clone().into_dyn(),
                1e-4,
                0.0,
            );
        }
    }
    // A block of the wrong shape is refused.
    let err = secure(2, |b| {
        let wrong = Array2::zeros((2, 5));
        Ok(share_rows(b, Some(&wrong), &[3, 4], 5).is_err())
    });
    assert!(err);
}

/// Two epochs of an MLP on a separable toy problem.
fn tiny_fit<B: Backend>(b: &B) -> cloak_nn::Result<(Vec<(f64, f64)>, f64)> {
    let mut rng = TestRng::new(12);
    let x = rng.array(&[48, 2], -1.0, 1.0);
    let labels: Vec<usize> = x.rows().into_iter().map(|r| usize::from(r[0] + r[1] > 0.0)).collect();
    let y = cloak_nn::loss::one_hot(&labels, 2)?;
    let owner = if b.parties() == 1 { 0 } else { 1 };
    let mine = b.rank() == owner;
    let xv = Var::constant(b, b.input(owner, mine.then_some(&x), x.shape())?);
    let yv = Var::constant(b, b.input(owner, mine.then_some(&y), y.shape())?);
    let model = models::mlp(&mut Init::new(b, 0, 2), &[2, 8, 2])?;
    let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.5))?;
    let config = TrainConfig::new(3, 16);
    let h = fit(&model, &mut opt, cross_entropy, &xv, &yv, &config)?;
    let acc = evaluate(&model, &xv, &yv, 20)?;
    Ok((h.epochs.iter().map(|e| (e.loss, e.accuracy)).collect(), acc))
}

#[test]
fn fit_and_evaluate_match_plain_and_the_loss_plot_is_written() {
    let (want, want_acc) = tiny_fit(&Plain).unwrap();
    assert!(want[2].0 < want[0].0, "the reference learns: {want:?}");
    for parties in [2, 3] {
        let (got, acc) = secure(parties, tiny_fit);
        for ((gl, ga), (wl, wa)) in got.iter().zip(&want) {
            // Loss: a mean of log-softmax terms, within 1e-3 (see training.rs); accuracy:
            // the same rows counted, unless a logit pair is within the error of a tie.
            assert!((gl - wl).abs() < 1e-3, "loss {gl} vs {wl}");
            assert!((ga - wa).abs() <= 1.0 / 48.0 + 1e-12, "accuracy {ga} vs {wa}");
        }
        assert!((acc - want_acc).abs() <= 1.0 / 48.0 + 1e-12);
    }
    let path = std::env::temp_dir().join(format!("cloak-loss-{}.svg", std::process::id()));
    let path = path.to_str().unwrap();
    let h = History {
        epochs: want
            .iter()
            .enumerate()
            .map(|(i, &(loss, accuracy))| cloak_nn::train::EpochStats {
                epoch: i + 1,
                loss,
                accuracy,
                seconds: 0.0,
            })
            .collect(),
    };
    History::plot_losses(path, &[("plain", &h)]).unwrap();
    let svg = std::fs::read_to_string(path).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("training loss") && svg.contains("polyline"));
    std::fs::remove_file(path).unwrap();
    assert!(matches!(
        History::plot_losses("/nonexistent-dir/x.svg", &[("plain", &h)]),
        Err(NnError::Plot { .. })
    ));
}

#[test]
fn a_refused_block_or_state_is_an_error_at_every_party() {
    for parties in [2, 3] {
        let (shared, loaded, y) = secure(parties, |b| {
            // Party 1's block has a NaN: every party must refuse, none may go on.
            let mut block = Array2::zeros((2, 3));
            if b.rank() == 1 {
                block[[0, 0]] = f64::NAN;
            }
            let rows = vec![2; parties];
            let shared = share_rows(b, Some(&block), &rows, 3).is_err();
            // Party 0 loads a state of the wrong shape.
            let model = models::mlp(&mut Init::new(b, 0, 1), &[3, 2])?;
            let mut state = cloak_nn::StateDict::new();
            state.insert("0.weight".into(), ndarray::ArrayD::zeros(vec![2, 2]));
            state.insert("0.bias".into(), ndarray::ArrayD::zeros(vec![2]));
            let loaded = model.load_state(0, (b.rank() == 0).then_some(&state)).is_err();
            // The session is still in step: a product afterwards is right.
            let three = ndarray::ArrayD::from_elem(vec![2], 3.0);
            let x = b.input(0, (b.rank() == 0).then_some(&three), &[2])?;
            let y = b.reveal(&b.mul(&x, &x)?)?;
            Ok((shared, loaded, (y[0] * 1000.0).round() / 1000.0))
        });
        assert!(shared && loaded, "{parties} parties: every party refuses");
        assert_eq!(y, 9.0, "streams in step");
    }
}

#[test]
fn drop_last_skips_a_batch_batchnorm_cannot_train_on() {
    use cloak_nn::layers::{BatchNorm, Linear, Sequential};
    let b = Plain;
    let x = Var::constant(&b, TestRng::new(3).array(&[17, 2], -1.0, 1.0));
    let y = Var::constant(&b, cloak_nn::loss::one_hot(&[0; 17], 2).unwrap());
    let mut init = Init::new(&b, 0, 1);
    let model = Sequential::new()
        .push(Linear::new(&mut init, 2, 2, true).unwrap())
        .push(BatchNorm::new(&mut init, 2).unwrap());
    let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.1)).unwrap();
    // 17 rows in batches of 8: the last batch has one row.
    let keep = TrainConfig::new(1, 8);
    assert!(fit(&model, &mut opt, cross_entropy, &x, &y, &keep).is_err());
    let drop = TrainConfig { drop_last: true, accuracy: false, ..keep };
    let h = fit(&model, &mut opt, cross_entropy, &x, &y, &drop).unwrap();
    assert!(h.epochs[0].loss.is_finite() && h.epochs[0].accuracy.is_nan());
    let none = TrainConfig { batch_size: 20, ..drop };
    assert!(fit(&model, &mut opt, cross_entropy, &x, &y, &none).is_err(), "no full batch");
}
