//! Each layer's forward pass against its definition written out in f64, on the plain
//! backend; the same layers on secret shares against the plain backend (forward and
//! parameter gradients) for 2 and 3 parties; and typed errors for bad inputs.
//!
//! Tolerances for the secure runs: one fixed-point unit is `2^-16 = 1.5e-5`. A Linear or
//! Conv layer on inputs below 2 accumulates products with one truncation (within a unit or
//! two) and its gradients two more products: `5e-4` absolute leaves a margin of about 10x
//! for the deeper graphs here (conv, BN, ReLU, pooling, linear: errors add per layer and
//! are scaled by weights below 1). BatchNorm divides by the batch's standard deviation
//! `s`: it magnifies the upstream error by `1/s`, and its variance, a mean of squares,
//! carries the truncations' bias of up to half a unit each, `u / (2 s^2)` relative. With
//! inputs in [-1, 1] the residual network's first BatchNorm sees `s = 0.06` (`1/s = 18`,
//! variance off by 1.6e-3) and its logits are off by 1.2e-2; with inputs in [-4, 4],
//! `s` is about 4 times larger and the error 16 times smaller, so the outputs and
//! gradients (values up to about 8) get `5e-3 + 5e-3 |ref|`.

mod common;

use cloak_autograd::{Backend, Var};
use cloak_mpc::Pool2dSpec;
use cloak_nn::layers::{
    AdaptiveAvgPool2d, AvgPool2d, BatchNorm, Conv2d, Dropout, Flatten, GlobalAvgPool2d, Hardtanh,
    Linear, LogSoftmax, MaxPool2d, ReLU, ReLU6, Residual, Sequential, Sigmoid, Softmax, Tanh,
};
use cloak_nn::{Init, Module, ModuleExt, NnError};
use cloak_ring::Conv2dSpec;
use common::{TestRng, close, plain, secure};
use ndarray::{ArrayD, Axis, Ix2, Ix4};

fn input<B: Backend>(b: &B, v: &ArrayD<f64>) -> Var<B> {
    let mine = b.rank() == 1 || b.parties() == 1;
    let owner = if b.parties() == 1 { 0 } else { 1 };
    Var::leaf(b, b.input(owner, mine.then_some(v), v.shape()).unwrap(), true)
}

#[test]
fn linear_is_x_wt_plus_b() {
    let x = TestRng::new(1).array(&[4, 3], -1.0, 1.0);
    let (y, w, bias) = plain(|b| {
        let layer = Linear::new(&mut Init::new(b, 0, 9), 3, 2, true)?;
        let y = layer.forward(&Var::constant(b, x.clone()))?.value();
        Ok((y, layer.weight.value(), layer.bias.as_ref().unwrap().value()))
    });
    let w2 = w.into_dimensionality::<Ix2>().unwrap();
    let want = x.into_dimensionality::<Ix2>().unwrap().dot(&w2.t()) + &bias;
    close("linear", &y, &want.into_dyn(), 1e-12, 0.0);
    // PyTorch's default bound 1/sqrt(fan_in).
    assert!(w2.iter().all(|v| v.abs() <= 1.0 / 3f64.sqrt()));
}

#[test]
fn conv2d_layer_matches_the_loop_definition() {
    let x = TestRng::new(2).array(&[1, 2, 5, 5], -1.0, 1.0);
    let spec = Conv2dSpec { stride: (2, 2), padding: (1, 1), ..Conv2dSpec::default() };
    let (y, w, bias) = plain(|b| {
        let layer = Conv2d::new(&mut Init::new(b, 0, 3), 2, 3, (3, 3), spec, true)?;
        let y = layer.forward(&Var::constant(b, x.clone()))?.value();
        Ok((y, layer.weight.value(), layer.bias.as_ref().unwrap().value()))
    });
    let x4 = x.into_dimensionality::<Ix4>().unwrap();
    let w4 = w.into_dimensionality::<Ix4>().unwrap();
    let y4 = y.into_dimensionality::<Ix4>().unwrap();
    assert_eq!(y4.shape(), &[1, 3, 3, 3]);
    for o in 0..3 {
        for i in 0..3 {
            for j in 0..3 {
                let mut s = bias[o];
                for c in 0..2 {
                    for di in 0..3 {
                        for dj in 0..3 {
                            let (r, q) = ((2 * i + di) as isize - 1, (2 * j + dj) as isize - 1);
                            if (0..5).contains(&r) && (0..5).contains(&q) {
                                s += x4[[0, c, r as usize, q as usize]] * w4[[o, c, di, dj]];
                            }
                        }
                    }
                }
                assert!((y4[[0, o, i, j]] - s).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn batchnorm_normalises_with_batch_then_running_statistics() {
    let x = TestRng::new(3).array(&[6, 2, 2, 2], -2.0, 3.0);
    let (train, eval, rm, rv) = plain(|b| {
        let bn = BatchNorm::new(&mut Init::new(b, 0, 0), 2)?;
        let xv = Var::constant(b, x.clone());
        let train = bn.forward(&xv)?.value();
        bn.eval();
        let eval = bn.forward(&xv)?.value();
        Ok((train, eval, bn.running_mean.value(), bn.running_var.value()))
    });
    for c in 0..2 {
        let ch = x.index_axis(Axis(1), c).to_owned();
        let n = ch.len() as f64;
        let mean = ch.sum() / n;
        let var = ch.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let got = train.index_axis(Axis(1), c);
        for (g, v) in got.iter().zip(ch.iter()) {
            assert!((g - (v - mean) / (var + 1e-5).sqrt()).abs() < 1e-9);
        }
        let want_rm = 0.1 * mean;
        let want_rv = 0.9 + 0.1 * var * n / (n - 1.0);
        assert!((rm[[c]] - want_rm).abs() < 1e-12 && (rv[[c]] - want_rv).abs() < 1e-12);
        for (g, v) in eval.index_axis(Axis(1), c).iter().zip(ch.iter()) {
            assert!((g - (v - want_rm) / (want_rv + 1e-5).sqrt()).abs() < 1e-9);
        }
    }
}

#[test]
fn activation_and_pooling_layers_match_their_definitions() {
    let x = TestRng::new(4).array(&[1, 2, 4, 4], -8.0, 8.0);
    let xs = x.clone();
    let outs = plain(move |b| {
        let v = Var::constant(b, xs.clone());
        let flat = v.reshape(&[2, 16])?;
        Ok(vec![
            ReLU.forward(&v)?.value(),
            ReLU6.forward(&v)?.value(),
            Hardtanh::new(-2.0, 3.0)?.forward(&v)?.value(),
            Sigmoid.forward(&v)?.value(),
            Tanh.forward(&v)?.value(),
            Softmax { axis: 1 }.forward(&flat)?.value(),
            LogSoftmax { axis: 1 }.forward(&flat)?.value(),
            MaxPool2d::square(2).forward(&v)?.value(),
            AvgPool2d::square(2).forward(&v)?.value(),
            AdaptiveAvgPool2d { output: (2, 2) }.forward(&v)?.value(),
            GlobalAvgPool2d.forward(&v)?.value(),
            Module::<cloak_autograd::Plain>::forward(&Flatten::default(), &v)?.value(),
        ])
    });
    let m = |f: fn(f64) -> f64| x.mapv(f);
    close("relu", &outs[0], &m(|v| v.max(0.0)), 0.0, 0.0);
    close("relu6", &outs[1], &m(|v| v.clamp(0.0, 6.0)), 0.0, 0.0);
    close("hardtanh", &outs[2], &m(|v| v.clamp(-2.0, 3.0)), 0.0, 0.0);
    close("sigmoid", &outs[3], &m(|v| 1.0 / (1.0 + (-v).exp())), 1e-15, 0.0);
    close("tanh", &outs[4], &m(f64::tanh), 1e-15, 0.0);
    let rows = x.clone().into_shape_with_order((2, 16)).unwrap();
    for r in 0..2 {
        let row = rows.row(r);
        let z: f64 = row.iter().map(|v| v.exp()).sum();
        for k in 0..16 {
            assert!((outs[5][[r, k]] - row[k].exp() / z).abs() < 1e-12);
            assert!((outs[6][[r, k]] - (row[k] - z.ln())).abs() < 1e-12);
        }
    }
    let x4 = x.clone().into_dimensionality::<Ix4>().unwrap();
    for c in 0..2 {
        for i in 0..2 {
            for j in 0..2 {
                let win: Vec<f64> = (0..2)
                    .flat_map(|a| (0..2).map(move |bb| (a, bb)))
                    .map(|(a, bb)| x4[[0, c, 2 * i + a, 2 * j + bb]])
                    .collect();
                let max = win.iter().copied().fold(f64::MIN, f64::max);
                let avg = win.iter().sum::<f64>() / 4.0;
                assert_eq!(outs[7][[0, c, i, j]], max);
                assert!((outs[8][[0, c, i, j]] - avg).abs() < 1e-12);
                assert!(
                    (outs[9][[0, c, i, j]] - avg).abs() < 1e-12,
                    "adaptive 4->2 is 2x2 windows"
                );
            }
        }
        let mean = x4.index_axis(Axis(1), c).sum() / 16.0;
        assert!((outs[10][[0, c, 0, 0]] - mean).abs() < 1e-12);
    }
    assert_eq!(outs[11].shape(), &[1, 32]);
}

#[test]
fn dropout_drops_about_p_scales_the_rest_and_is_the_identity_in_eval() {
    let x = ArrayD::from_elem(vec![100, 100], 1.0);
    let (train, eval) = plain(|b| {
        let d = Dropout::new(0.3, 5)?;
        let v = Var::constant(b, x.clone());
        let train = Module::<cloak_autograd::Plain>::forward(&d, &v)?.value();
        Module::<cloak_autograd::Plain>::set_training(&d, false);
        Ok((train, Module::<cloak_autograd::Plain>::forward(&d, &v)?.value()))
    });
    let dropped = train.iter().filter(|&&v| v == 0.0).count() as f64 / 1e4;
    // Binomial(10^4, 0.3): standard deviation 0.0046; 5 of them is 0.023.
    assert!((dropped - 0.3).abs() < 0.023, "dropped {dropped}");
    assert!(train.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-12));
    assert_eq!(eval, x);
    assert!(Dropout::new(1.0, 0).is_err());
}

/// A small residual CNN exercising conv, BN, ReLU, pooling, a residual add and linear.
fn small_net<B: Backend>(b: &B) -> cloak_nn::Result<Sequential<B>> {
    let mut init = Init::new(b, 0, 11);
    let pad1 = Conv2dSpec { padding: (1, 1), ..Conv2dSpec::default() };
    let block = Residual::identity(
        Sequential::new()
            .push(Conv2d::new(&mut init, 4, 4, (3, 3), pad1, false)?)
            .push(BatchNorm::new(&mut init, 4)?),
    );
    Ok(Sequential::new()
        .push(Conv2d::new(&mut init, 2, 4, (3, 3), pad1, true)?)
        .push(ReLU)
        .push(block)
        .push(ReLU)
        .push(MaxPool2d { spec: Pool2dSpec { kernel: (2, 2), stride: (2, 2), padding: (0, 0) } })
        .push(Flatten::default())
        .push(Linear::new(&mut init, 16, 3, true)?))
}

/// Output and every parameter gradient for `<seed, net(x)>`.
fn net_grads<B: Backend>(
    b: &B,
    x: &ArrayD<f64>,
    seed: &ArrayD<f64>,
) -> cloak_nn::Result<Vec<ArrayD<f64>>> {
    let net = small_net(b)?;
    let y = net.forward(&input(b, x))?;
    y.backward_with(b.public(seed)?)?;
    let mut out = vec![b.reveal(&y.value())?];
    for p in net.parameters() {
        out.push(b.reveal(&p.grad()?)?);
    }
    Ok(out)
}

#[test]
fn residual_cnn_forward_and_gradients_match_plain_for_2_and_3_parties() {
    let mut rng = TestRng::new(6);
    let x = rng.array(&[2, 2, 4, 4], -4.0, 4.0);
    let seed = rng.array(&[2, 3], -1.0, 1.0);
    let want = plain(|b| net_grads(b, &x, &seed));
    for parties in [2, 3] {
        let got = secure(parties, |b| net_grads(b, &x, &seed));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            close(&format!("{parties} parties, tensor {i}"), g, w, 5e-3, 5e-3);
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    plain(|b| {
        let mut init = Init::new(b, 0, 1);
        let lin = Linear::new(&mut init, 3, 2, true)?;
        let wrong = Var::constant(b, ArrayD::zeros(vec![4, 5]));
        assert!(matches!(lin.forward(&wrong), Err(NnError::Autograd(_))));
        let bn = BatchNorm::new(&mut init, 3)?;
        assert!(matches!(bn.forward(&wrong), Err(NnError::InvalidArgument { .. })));
        let one = Var::constant(b, ArrayD::zeros(vec![1, 3]));
        assert!(bn.forward(&one).is_err(), "training BN on one value per channel");
        assert!(
            Conv2d::new(
                &mut init,
                3,
                4,
                (3, 3),
                Conv2dSpec { groups: 2, ..Conv2dSpec::default() },
                true
            )
            .is_err()
        );
        assert!(Hardtanh::new(2.0, 1.0).is_err());
        Ok(())
    });
}

#[test]
fn batchnorm_eval_follows_statistics_loaded_after_a_cached_forward() {
    let x = TestRng::new(9).array(&[3, 2], -1.0, 1.0);
    let (first, second) = plain(|b| {
        let bn = BatchNorm::new(&mut Init::new(b, 0, 0), 2)?;
        bn.eval();
        let xv = Var::constant(b, x.clone());
        let first = cloak_autograd::no_grad(|| bn.forward(&xv))?.value();
        let mut state = cloak_nn::StateDict::new();
        for (name, v, _) in bn.named_tensors() {
            state.insert(name, v.value());
        }
        state.insert("running_var".into(), ndarray::array![4.0, 0.25].into_dyn());
        bn.load_state(0, Some(&state))?;
        Ok((first, cloak_autograd::no_grad(|| bn.forward(&xv))?.value()))
    });
    for r in 0..3 {
        for (c, var) in [4.0, 0.25].into_iter().enumerate() {
            assert!((first[[r, c]] - x[[r, c]] / (1.0f64 + 1e-5).sqrt()).abs() < 1e-9);
            assert!((second[[r, c]] - x[[r, c]] / (var + 1e-5f64).sqrt()).abs() < 1e-9);
        }
    }
}

/// The layers the residual network does not use: Conv1d, BatchNorm on `[N, C, L]`,
/// Dropout (the same public mask on both backends: same seed), average pooling, sigmoid,
/// tanh, hardtanh, softmax.
fn other_layers<B: Backend>(
    b: &B,
    x: &ArrayD<f64>,
    seed: &ArrayD<f64>,
) -> cloak_nn::Result<Vec<ArrayD<f64>>> {
    let mut init = Init::new(b, 0, 21);
    let conv = cloak_nn::layers::Conv1d::new(&mut init, 2, 3, 3, 1, 1, 1, 1, true)?;
    let bn = BatchNorm::new(&mut init, 3)?;
    let lin = Linear::new(&mut init, 12, 4, true)?;
    let h = conv.forward(&input(b, x))?;
    let h = Sigmoid.forward(&bn.forward(&h)?)?;
    let h = Module::<B>::forward(&Dropout::new(0.5, 3)?, &h)?;
    let h = Tanh.forward(&h.reshape(&[2, 3, 2, 4])?)?;
    let h = AvgPool2d::square(2).forward(&h)?.flatten_from(1)?;
    let h = Hardtanh::new(-0.5, 0.5)?.forward(&lin.forward(&h.reshape(&[1, 12])?)?)?;
    let y = Softmax { axis: 1 }.forward(&h)?;
    y.backward_with(b.public(seed)?)?;
    let mut out = vec![b.reveal(&y.value())?];
    for p in [&conv.weight, &bn.weight, &bn.bias, &lin.weight] {
        out.push(b.reveal(&p.grad()?)?);
    }
    Ok(out)
}

#[test]
fn remaining_layers_match_plain_for_2_and_3_parties() {
    let mut rng = TestRng::new(14);
    let x = rng.array(&[2, 2, 8], -3.0, 3.0);
    let seed = rng.array(&[1, 4], -1.0, 1.0);
    let want = plain(|b| other_layers(b, &x, &seed));
    for (i, w) in want.iter().enumerate() {
        assert!(w.iter().any(|v| v.abs() > 1e-3), "tensor {i} is not trivially zero: {w}");
    }
    for parties in [2, 3] {
        let got = secure(parties, |b| other_layers(b, &x, &seed));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            // Values below 2, BatchNorm over 16 values per channel of spread about 1, and
            // the sigmoid/tanh series (3e-5): the bound of the residual test.
            close(&format!("{parties} parties, tensor {i}"), g, w, 5e-3, 5e-3);
        }
    }
}
