//! Losses, optimizers, a few training steps private against plain (2 and 3 parties), the
//! state functions (share from an owner, reveal to one party) and per-party checkpoints.
//!
//! Tolerances: one fixed-point unit is `2^-16 = 1.5e-5`. A loss is a mean of per-element
//! terms, each within a few units plus its functions' relative error (log_softmax and the
//! logistic terms about 3e-4 relative); `1e-3` absolute covers that with a margin. After
//! `k` SGD steps at learning rate `lr`, a parameter's error is at most `k lr` times the
//! gradient error (below 1e-3 here) plus a unit per step: `2e-3` for 3 steps at 0.1 and 0.5.
//! Adam normalises by `sqrt(v)`, which magnifies the gradient error where gradients are
//! small: a gradient that is exactly zero in f64 (a dead ReLU) arrives as a unit of noise,
//! which Adam's floors (see its docs) turn into at most a tenth of a step, so 3 steps of
//! `lr = 0.01` add `3e-3`: Adam's parameters get `5e-3`.

mod common;

use cloak_autograd::{Backend, Var};
use cloak_nn::checkpoint::{load_shares, save_shares};
use cloak_nn::layers::{Linear, ReLU, Sequential};
use cloak_nn::loss::{bce_loss, bce_with_logits_loss, cross_entropy, l1_loss, mse_loss, one_hot};
use cloak_nn::optim::{
    Adam, AdamConfig, Optimizer, Sgd, SgdConfig, clip_grad_norm, clip_grad_value,
};
use cloak_nn::{Init, Module, ModuleExt, NnError, StateDict, models};
use common::{TestRng, close, plain, secure};
use ndarray::ArrayD;

fn owned<B: Backend>(b: &B, owner: usize, v: &ArrayD<f64>) -> Var<B> {
    let owner = if b.parties() == 1 { 0 } else { owner };
    let mine = b.rank() == owner;
    Var::constant(b, b.input(owner, mine.then_some(v), v.shape()).unwrap())
}

/// Each loss and its gradient with respect to the prediction.
fn losses<B: Backend>(
    b: &B,
    logits: &ArrayD<f64>,
    target: &ArrayD<f64>,
    prob_target: &ArrayD<f64>,
) -> cloak_nn::Result<Vec<ArrayD<f64>>> {
    let mut out = Vec::new();
    let t = owned(b, 1, target);
    let bt = owned(b, 1, prob_target);
    for k in 0..5 {
        let x = Var::leaf(b, owned(b, 0, logits).value(), true);
        let loss = match k {
            0 => mse_loss(&x, &t)?,
            1 => l1_loss(&x, &t)?,
            2 => cross_entropy(&x, &t)?,
            3 => bce_loss(&x.sigmoid()?, &bt)?,
            _ => bce_with_logits_loss(&x, &bt)?,
        };
        loss.backward()?;
        out.push(b.reveal(&loss.value())?);
        out.push(b.reveal(&x.grad()?)?);
    }
    Ok(out)
}

#[test]
fn losses_and_their_gradients_match_plain() {
    let mut rng = TestRng::new(21);
    let logits = rng.array(&[6, 4], -3.0, 3.0);
    let target = one_hot(&[0, 3, 1, 2, 2, 0], 4).unwrap();
    let prob_target = rng.array(&[6, 4], 0.0, 1.0).mapv(f64::round);
    let want = plain(|b| losses(b, &logits, &target, &prob_target));
    // Spot-check the plain values against their formulas.
    let n = 24.0;
    let mse: f64 = logits.iter().zip(&target).map(|(x, t)| (x - t).powi(2)).sum::<f64>() / n;
    assert!((want[0][[0]] - mse).abs() < 1e-12);
    let bce: f64 = logits
        .iter()
        .zip(&prob_target)
        .map(|(x, t)| x.max(0.0) - x * t + (1.0 + (-x.abs()).exp()).ln())
        .sum::<f64>()
        / n;
    assert!((want[8][[0]] - bce).abs() < 1e-12);
    for parties in [2, 3] {
        let got = secure(parties, |b| losses(b, &logits, &target, &prob_target));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            close(&format!("{parties} parties, loss/grad {i}"), g, w, 1e-3, 1e-3);
        }
    }
}

/// Three steps of an MLP on a fixed batch; returns the losses and final parameters.
fn train_steps<B: Backend>(b: &B, adam: bool) -> cloak_nn::Result<Vec<ArrayD<f64>>> {
    let mut rng = TestRng::new(33);
    let x = owned(b, 1, &rng.array(&[8, 5], -1.0, 1.0));
    let y = owned(b, 1, &one_hot(&[0, 1, 2, 0, 1, 2, 0, 1], 3)?);
    let model = models::mlp(&mut Init::new(b, 0, 5), &[5, 6, 3])?;
    let params = model.parameters();
    let mut out = Vec::new();
    let mut sgd =
        Sgd::new(params.clone(), SgdConfig { lr: 0.5, momentum: 0.9, weight_decay: 0.01 })?;
    // eps = 1e-3: with PyTorch's 1e-8, a gradient of 1e-7 in f64 (a nearly dead unit) is a
    // full step of the learning rate in its sign, and the same gradient in fixed point, a
    // unit of noise, is a step of either sign: the comparison would test the noise.
    let mut adam_opt =
        Adam::new(params.clone(), AdamConfig { eps: 1e-3, ..AdamConfig::new(0.01) })?;
    for _ in 0..3 {
        let loss = cross_entropy(&model.forward(&x)?, &y)?;
        model.zero_grad();
        loss.backward()?;
        if adam {
            adam_opt.step()?;
        } else {
            sgd.step()?;
        }
        out.push(b.reveal(&loss.value())?);
    }
    for p in params {
        out.push(b.reveal(&p.value())?);
    }
    Ok(out)
}

#[test]
fn sgd_and_adam_steps_match_plain_for_2_and_3_parties() {
    for adam in [false, true] {
        let want = plain(|b| train_steps(b, adam));
        // The loss goes down in the reference.
        assert!(want[2][[0]] < want[0][[0]], "reference loss {:?}", &want[..3]);
        for parties in [2, 3] {
            let got = secure(parties, |b| train_steps(b, adam));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let tol = if adam { 5e-3 } else { 2e-3 };
                close(&format!("adam={adam} {parties} parties, value {i}"), g, w, tol, 0.0);
            }
        }
    }
}

fn clipped<B: Backend>(b: &B, by_norm: bool) -> cloak_nn::Result<Vec<ArrayD<f64>>> {
    let p = Var::leaf(b, owned(b, 0, &ArrayD::zeros(vec![2, 2])).value(), true);
    let q = Var::leaf(b, owned(b, 0, &ArrayD::zeros(vec![3])).value(), true);
    let g1 = ndarray::array![[3.0, -4.0], [0.5, 0.0]].into_dyn();
    let g2 = ndarray::array![1.0, -2.0, 0.25].into_dyn();
    p.set_grad(owned(b, 1, &g1).value())?;
    q.set_grad(owned(b, 1, &g2).value())?;
    let params = [p.clone(), q.clone()];
    let mut out = Vec::new();
    if by_norm {
        let norm = clip_grad_norm(&params, 2.0)?.expect("gradients present");
        out.push(b.reveal(&norm)?);
    } else {
        clip_grad_value(&params, 1.0)?;
    }
    out.push(b.reveal(&p.grad()?)?);
    out.push(b.reveal(&q.grad()?)?);
    Ok(out)
}

#[test]
fn gradient_clipping_matches_its_definition() {
    let norm = (9.0f64 + 16.0 + 0.25 + 1.0 + 4.0 + 0.0625).sqrt();
    let want = plain(|b| clipped(b, true));
    assert!((want[0][[0]] - norm).abs() < 1e-5);
    assert!((want[1][[0, 0]] - 3.0 * 2.0 / norm).abs() < 1e-5);
    let got = secure(2, |b| clipped(b, true));
    for (g, w) in got.iter().zip(&want) {
        // The norm and the coefficient go through sqrt and reciprocal: 3e-4 relative each.
        close("clip_grad_norm", g, w, 1e-3, 2e-3);
    }
    let by_value = secure(3, |b| clipped(b, false));
    close(
        "clip_grad_value",
        &by_value[0],
        &ndarray::array![[1.0, -1.0], [0.5, 0.0]].into_dyn(),
        1e-4,
        0.0,
    );
    close("clip_grad_value", &by_value[1], &ndarray::array![1.0, -1.0, 0.25].into_dyn(), 1e-4, 0.0);
}

fn state_round_trip<B: Backend>(
    b: &B,
    owner: usize,
    dir: &str,
) -> cloak_nn::Result<(Option<StateDict>, Vec<ArrayD<f64>>)> {
    let model = models::mlp(&mut Init::new(b, 0, 1), &[3, 4, 2])?;
    // The owner's weights replace the initial ones.
    let state: StateDict = model
        .named_parameters()
        .into_iter()
        .map(|(name, v)| {
            let shape = v.shape();
            let n: usize = shape.iter().product();
            (
                name,
                ArrayD::from_shape_vec(shape, (0..n).map(|i| i as f64 * 0.25 - 1.0).collect())
                    .unwrap(),
            )
        })
        .collect();
    let mine = b.rank() == owner;
    model.load_state(owner, mine.then_some(&state))?;
    let revealed = model.reveal_state_to(1)?;
    // Save this party's shares, load them into a model built from another seed.
    let path = format!("{dir}/party{}.shares", b.rank());
    save_shares(&model, &path)?;
    let other = models::mlp(&mut Init::new(b, 0, 99), &[3, 4, 2])?;
    load_shares(&other, &path)?;
    let values =
        other.parameters().iter().map(|p| b.reveal(&p.value())).collect::<Result<Vec<_>, _>>()?;
    // A file for another architecture is refused, and the model is unchanged.
    let wrong = models::mlp(&mut Init::new(b, 0, 1), &[3, 5, 2])?;
    assert!(matches!(load_shares(&wrong, &path), Err(NnError::State { .. })));
    std::fs::write(&path, b"CLOAKSH1 truncated").unwrap();
    assert!(matches!(load_shares(&other, &path), Err(NnError::Format { .. })));
    Ok((revealed, values))
}

#[test]
fn weights_are_shared_from_their_owner_revealed_to_one_party_and_checkpointed() {
    let dir = std::env::temp_dir().join(format!("cloak-nn-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.to_str().unwrap().to_string();
    let outcomes = cloak_mpc::run_local_typed(3, &cloak_mpc::SessionConfig::default(), |session| {
        state_round_trip(&cloak_autograd::Secure::new(session), 2, &dir)
    });
    let results: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
    assert!(results[0].0.is_none() && results[2].0.is_none(), "only party 1 learns the weights");
    let state = results[1].0.as_ref().unwrap();
    assert_eq!(state["0.bias"], ndarray::array![-1.0, -0.75, -0.5, -0.25].into_dyn());
    for (_, values) in &results {
        assert_eq!(values[3], state["2.bias"], "reloaded shares give the same weights");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_state_refuses_a_state_that_does_not_fit() {
    plain(|b| {
        let model: Sequential<_> =
            Sequential::new().push(Linear::new(&mut Init::new(b, 0, 0), 2, 2, true)?).push(ReLU);
        let mut state: StateDict = StateDict::new();
        state.insert("0.weight".into(), ArrayD::zeros(vec![2, 2]));
        assert!(
            matches!(model.load_state(0, Some(&state)), Err(NnError::State { .. })),
            "bias missing"
        );
        state.insert("0.bias".into(), ArrayD::zeros(vec![3]));
        assert!(
            matches!(model.load_state(0, Some(&state)), Err(NnError::State { .. })),
            "bias shape"
        );
        state.insert("0.bias".into(), ArrayD::zeros(vec![2]));
        state.insert("1.weight".into(), ArrayD::zeros(vec![1]));
        assert!(
            matches!(model.load_state(0, Some(&state)), Err(NnError::State { .. })),
            "extra name"
        );
        state.remove("1.weight");
        model.load_state(0, Some(&state))?;
        assert_eq!(model.parameters()[1].value(), ArrayD::<f64>::zeros(vec![2]));
        Ok(())
    });
}
