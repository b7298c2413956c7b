//! The facade: private inference of the digits CNN through `run_local` + `infer` against
//! the same model in plain `f64`, the roles, the refusals, and one error type for `?`.

use cloak::prelude::*;
use ndarray::ArrayD;

fn models() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models")
}

fn model() -> OnnxModel {
    cloak::from_onnx(models().join("digits_cnn.onnx")).expect("the example model loads")
}

fn images() -> ArrayD<f64> {
    cloak::npy::read(models().join("digits_sample.npy")).expect("the sample digits load")
}

/// How far the private logits may be from plain `f64` ones, with 16 fractional bits.
///
/// One unit of the encoding is u = 2^-16 = 1.5e-5. Encoding the input and each weight
/// rounds by at most u/2, and each of the four product layers (Conv, Conv, Gemm, Gemm)
/// truncates its outputs once, off by at most one unit (local shares for two parties, dealer
/// pairs for three); ReLU and max pooling are exact comparisons and pass errors through
/// unamplified. An error entering a layer grows by at most the layer's largest row l1 norm
/// of weights, which for this model are 17.6, 13.6, 10.1 and 7.5 (first to last). So the
/// truncation of the first convolution reaches the logits multiplied by at most
/// 13.6 x 10.1 x 7.5 ~ 1030, the second's by ~76, and so on: about 1100 u ~ 0.017 in the
/// worst case where every rounding points the same way, and the encoding errors add at most
/// as much again. 0.05 covers that worst case; typical errors are around 1e-3 (rounding
/// errors of random sign mostly cancel). SecureML's local truncation (two parties) can
/// also fail outright with probability about |x| / 2^32 per element, about 1e-4 for this
/// whole run, which no tolerance can cover.
const TOL: f64 = 0.05;

fn plain_logits(model: &OnnxModel, x: &ArrayD<f64>) -> ArrayD<f64> {
    let net = model.build(&Plain, x.shape()).expect("builds on the plain backend");
    net.load_state(0, model.weights()).expect("weights load");
    let y = net.forward(&Var::constant(&Plain, x.clone())).expect("runs");
    Plain.reveal(&y.value()).expect("plain values")
}

fn max_abs_diff(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn private_inference_matches_plain_on_two_and_three_parties() {
    let (model, x) = (model(), images());
    let plain = plain_logits(&model, &x);
    let labels: Vec<usize> = (0..8).collect();
    assert_eq!(
        cloak::predicted_classes(&plain).unwrap(),
        labels,
        "the plain model classifies the samples"
    );
    let cases = [
        (2, DealerKind::TrustedFirstParty, Roles::default()),
        (
            3,
            DealerKind::TrustedThirdParty,
            Roles { model_owner: 2, data_owner: 0, reveal_to: None },
        ),
    ];
    for (parties, dealer, roles) in cases {
        let config = SessionConfig { dealer, ..SessionConfig::default() };
        let outputs = cloak::run_local(parties, &config, |s| {
            cloak::infer(s, &model, roles, Some(&x), x.shape())
        })
        .unwrap_or_else(|e| panic!("{parties} parties, {dealer:?}: {e}"));
        assert_eq!(outputs.len(), parties);
        for (rank, out) in outputs.iter().enumerate() {
            assert_eq!(out.is_some(), roles.learns_output(rank), "party {rank} of {parties}");
            if let Some(out) = out {
                let d = max_abs_diff(out, &plain);
                assert!(d <= TOL, "{parties} parties: logits differ by {d} > {TOL}");
                assert_eq!(cloak::predicted_classes(out).unwrap(), labels);
            }
        }
    }
}

#[test]
fn a_nan_is_refused_by_the_data_owner_and_every_party_stops() {
    let model = model();
    let mut x = images();
    x[[3, 0, 2, 5]] = f64::NAN;
    let err = cloak::run_local(2, &SessionConfig::default(), |s| {
        cloak::infer(s, &model, Roles::default(), Some(&x), x.shape())
    })
    .expect_err("a NaN input is refused");
    // The data owner's own error is the one reported, not party 0's "refused" that follows.
    match &err {
        Error::Party { rank: 1, source } => {
            assert!(matches!(**source, Error::Input { .. }), "{source:?}");
            assert_eq!(source.to_string(), "input: element [3, 0, 2, 5] is NaN");
        }
        other => panic!("expected party 1's input error, got {other:?}"),
    }
    assert!(!err.is_consequence());
    // At party 0 the same run ends with a refusal, a consequence.
    let at0 = cloak::run_local(2, &SessionConfig::default(), |s| {
        match cloak::infer(s, &model, Roles::default(), Some(&x), x.shape()) {
            Err(e) if s.rank() == 0 => Ok(Some(e.to_string())),
            _ => Ok(None),
        }
    })
    .expect("both parties return")[0]
        .clone();
    assert_eq!(at0.as_deref(), Some("party 1 refused its input"));
}

#[test]
fn bad_shapes_roles_and_a_model_owner_without_weights_are_errors() {
    let model = model();
    let x = images();
    let config = SessionConfig::default();
    // A shape the model does not take: every party knows it, every party refuses.
    let wrong = ArrayD::zeros(vec![8, 64]);
    let e = cloak::run_local(2, &config, |s| {
        cloak::infer(s, &model, Roles::default(), Some(&wrong), wrong.shape())
    })
    .expect_err("wrong shape");
    assert!(e.to_string().contains("does not fit the model's input"), "{e}");
    // A role beyond the parties.
    let roles = Roles { data_owner: 2, ..Roles::default() };
    let e = cloak::run_local(2, &config, |s| cloak::infer(s, &model, roles, Some(&x), x.shape()))
        .expect_err("role");
    assert!(e.to_string().contains("the data owner is party 2, but there are 2 parties"), "{e}");
    // The model owner holds only the public part: no weights to share.
    let public = OnnxModel::from_public_bytes(&model.public_bytes()).expect("public part");
    let e = cloak::run_local(2, &config, |s| {
        cloak::infer(s, &public, Roles::default(), Some(&x), x.shape())
    })
    .expect_err("no weights");
    assert!(e.to_string().contains("owns the state but passed none"), "{e}");
    // One party is no secret sharing.
    assert!(matches!(cloak::run_local(1, &config, |_| Ok(())), Err(Error::InvalidArgument { .. })));
}

/// Each function uses `?` on a different layer's error inside a `cloak::Result`.
mod composed {
    use super::*;
    use cloak::comm::Launch;

    pub fn io() -> cloak::Result<()> {
        std::fs::read("/no/such/file")?;
        Ok(())
    }

    pub fn onnx() -> cloak::Result<()> {
        OnnxModel::load("/no/such/model.onnx")?;
        Ok(())
    }

    pub fn comm() -> cloak::Result<()> {
        Launch::from_lookup(|_| None)?;
        Ok(())
    }

    pub fn mpc() -> cloak::Result<()> {
        // One party alone is no computing party of a session.
        let comm = cloak::comm::LocalComm::create(1, &Default::default()).remove(0);
        Session::setup(Box::new(comm), SessionConfig::default())?;
        Ok(())
    }

    pub fn autograd() -> cloak::Result<()> {
        Plain.add(&ArrayD::zeros(vec![2]), &ArrayD::zeros(vec![3]))?;
        Ok(())
    }

    pub fn nn() -> cloak::Result<()> {
        let net = super::model().build(&Plain, &[1, 1, 8, 8])?;
        net.load_state(0, None)?;
        Ok(())
    }

    pub fn npy() -> cloak::Result<()> {
        cloak::npy::read("/no/such/input.npy")?;
        Ok(())
    }
}

#[test]
fn every_layers_error_converts_with_the_question_mark() {
    assert!(matches!(composed::io(), Err(Error::Io(_))));
    assert!(matches!(composed::onnx(), Err(Error::Onnx(OnnxError::Io { .. }))));
    assert!(matches!(composed::comm(), Err(Error::Comm(_))));
    assert!(matches!(composed::mpc(), Err(Error::Mpc(_))));
    assert!(matches!(composed::autograd(), Err(Error::Autograd(_))));
    assert!(matches!(composed::nn(), Err(Error::Nn(_))));
    assert!(matches!(composed::npy(), Err(Error::Npy(_))));
    // None of these is a consequence of another party's failure.
    for e in [composed::io(), composed::onnx(), composed::comm(), composed::mpc()] {
        assert!(!e.unwrap_err().is_consequence());
    }
    let gone = Error::from(MpcError::Comm(CommError::Disconnected { peer: 1 }));
    assert!(gone.is_consequence() && gone.comm().is_some());
    let told = CommError::Aborted { origin: 1, via: 2, reason: "input has NaN".into() };
    assert!(Error::from(MpcError::Comm(told)).is_consequence());
}

#[test]
fn private_inference_runs_with_its_shares_on_a_device() {
    use cloak::mpc::ComputeDevice;
    use cloak::ring::device::SimulatedDevice;
    let (model, x) = (model(), images());
    let plain = plain_logits(&model, &x);
    for parties in [2, 3] {
        let device = SimulatedDevice::new();
        let config = SessionConfig {
            device: ComputeDevice::on(device.handle()),
            ..SessionConfig::default()
        };
        let outputs = cloak::run_local(parties, &config, |s| {
            s.reset_stats(); // the set-up's seeds were never on the device
            let out = cloak::infer(s, &model, Roles::default(), Some(&x), x.shape())?;
            Ok((out, s.comm_stats().total().bytes_sent))
        })
        .unwrap_or_else(|e| panic!("{parties} parties on {}: {e}", config.device.label()));
        let sent: u64 = outputs.iter().map(|(_, sent)| sent).sum();
        let out = outputs.iter().find_map(|(o, _)| o.as_ref()).expect("a party learns it");
        let d = max_abs_diff(out, &plain);
        assert!(d <= TOL, "{parties} parties on the device: logits differ by {d} > {TOL}");
        assert_eq!(cloak::predicted_classes(out).unwrap(), (0..8).collect::<Vec<_>>());
        // A share crosses to the host only as the bytes it sends to the other parties (once,
        // however many peers get them), except the output's: the party that learns it adds
        // its own share on the host. With two parties the bounds meet.
        let own_output_share = 8 * out.len() as u64;
        let down = device.transfers().download_bytes;
        let peers = parties as u64 - 1;
        assert!(down <= sent + own_output_share, "{parties} parties: {down} down, {sent} sent");
        assert!(down >= sent / peers + own_output_share, "{parties}: {down} down, {sent} sent");
    }
}
