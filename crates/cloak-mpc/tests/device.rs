//! Shared tensors on a device. Every protocol runs there (the whole conformance suite, on a
//! simulated device that keeps its memory apart from the host's and counts every transfer),
//! and a private block of linear layers moves only what it must between host and device:
//! the bytes it sends, the values opened to it, the inputs it owns and the dealer's material
//! that party 0 (the trusted first party) computes. Every other party's dealer material and
//! every share of zero are made on the device from the parties' seeds.

mod common;

use cloak_comm::OpStats;
use cloak_mpc::conformance::Configured;
use cloak_mpc::{AShare, ComputeDevice, SessionConfig, Truncation};
use cloak_ring::Conv2dSpec;
use cloak_ring::device::SimulatedDevice;
use common::conv_ref::conv2d_ref;
use common::*;
use ndarray::{ArrayD, Ix2, IxDyn};

fn on_device(device: &SimulatedDevice, truncation: Truncation) -> SessionConfig {
    SessionConfig {
        device: ComputeDevice::on(device.handle()),
        truncation: truncation.into(),
        ..SessionConfig::default()
    }
}

cloak_mpc::protocol_conformance_tests!(
    simulated_device,
    Configured::new(on_device(&SimulatedDevice::new(), Truncation::Auto))
);

cloak_mpc::protocol_conformance_tests!(
    simulated_device_local_shares,
    Configured::new(on_device(&SimulatedDevice::new(), Truncation::LocalShares))
);

cloak_mpc::protocol_conformance_tests!(
    simulated_device_fss,
    Configured::new(SessionConfig {
        comparison: cloak_mpc::ComparisonStrategy::new(
            cloak_mpc::primitives::FunctionSecretSharing::default()
        ),
        ..on_device(&SimulatedDevice::new(), Truncation::Auto)
    })
);

// A third-party dealer: every party's free shares made on its device from its seed, party
// 0's corrections received over the network and uploaded.
cloak_mpc::protocol_conformance_tests!(
    simulated_device_third_party,
    Configured::new(SessionConfig {
        dealer: cloak_mpc::DealerKind::TrustedThirdParty,
        ..on_device(&SimulatedDevice::new(), Truncation::Auto)
    })
);

const PAD1: Conv2dSpec =
    Conv2dSpec { stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1 };

fn total(s: &cloak_mpc::Session) -> OpStats {
    s.comm_stats().total()
}

/// `conv(x, w) + x`, squared elementwise, flattened and multiplied by `m`: every kind of
/// product (convolution, elementwise, matmul) with its truncation, a residual sum and a
/// reshape.
fn linear_block_plain(x: &ArrayD<f64>, w: &ArrayD<f64>, m: &ArrayD<f64>) -> ArrayD<f64> {
    let y = conv2d_ref(x, w, &PAD1) + x;
    let z = (&y * &y).into_shape_with_order(IxDyn(&[1, y.len()])).unwrap();
    let z = z.into_dimensionality::<Ix2>().unwrap();
    z.dot(&m.clone().into_dimensionality::<Ix2>().unwrap()).into_dyn()
}

/// What one party reports of a run: the revealed value, where its result's share lived,
/// the bytes it sent before the reveal and in all, and the dealer words it obtained.
type PartyRun = (ArrayD<f64>, String, u64, u64, u64);

/// Runs `block` at every party of a session on a fresh simulated device, each party sharing
/// the inputs it owns (`inputs[i]` owned by `owners(parties)[i]`), and checks the revealed
/// value against `want` within `tol`, that the result stays on the device, and that the bytes
/// moved between host and device are exactly: down, every message a party sends (once,
/// however many peers get it); up, every value opened to it, the inputs it owns, and at
/// party 0 (the trusted first party) the dealer's material it computes. Every other party's
/// dealer material and every share of zero are made on the device.
fn assert_moves_only_its_wire_bytes(
    parties: usize,
    truncation: Truncation,
    inputs: &[&ArrayD<f64>],
    owners: &[usize],
    block: impl Fn(&[AShare]) -> Result<AShare, cloak_mpc::MpcError> + Sync,
    want: &ArrayD<f64>,
    tol: f64,
) {
    let device = SimulatedDevice::new();
    let results: Vec<PartyRun> = run(parties, &on_device(&device, truncation), |s| {
        let shared = inputs
            .iter()
            .zip(owners)
            .map(|(x, &owner)| share_from(s, owner, x))
            .collect::<Result<Vec<_>, _>>()?;
        let out = block(&shared)?;
        let placement = out.share_tensor().placement();
        let before_reveal = total(s);
        let words = s.dealer_stats().words;
        let revealed = out.reveal()?;
        Ok((revealed, placement, before_reveal.bytes_sent, total(s).bytes_sent, words))
    });
    let what = format!("{parties} parties, {truncation:?}");
    let peers = (parties - 1) as u64;
    let (mut downloads, mut uploads) = (0, 0);
    for (rank, (revealed, placement, opened_sent, all_sent, words)) in results.iter().enumerate() {
        assert_close(revealed, want, tol, &what);
        assert_eq!(placement, &device.handle::<u64>().label(), "{what}: the result left");
        downloads += all_sent / peers;
        let owned: usize =
            inputs.iter().zip(owners).filter(|(_, o)| **o == rank).map(|(x, _)| x.len()).sum();
        let dealer_words = if rank == 0 { *words } else { 0 };
        uploads += 8 * (owned as u64 + dealer_words) + opened_sent / peers;
    }
    let moved = device.transfers();
    assert_eq!(
        (moved.download_bytes, moved.upload_bytes),
        (downloads, uploads),
        "{what}: bytes down and up against the wire, the inputs and the dealer"
    );
}

#[test]
fn a_linear_block_moves_only_its_wire_bytes_inputs_and_the_dealers_corrections() {
    let x = rand_arr(&[1, 2, 6, 6], -1.0, 1.0, 1);
    let w = rand_arr(&[2, 2, 3, 3], -0.25, 0.25, 2);
    let m = rand_arr(&[72, 5], -0.1, 0.1, 3);
    let want = linear_block_plain(&x, &w, &m);
    let block = |v: &[AShare]| {
        let y = v[0].conv2d(&v[1], &PAD1)?.add(&v[0])?;
        y.mul(&y)?.reshape(&[1, 72])?.matmul(&v[2])
    };
    for (parties, truncation) in
        [(2, Truncation::Auto), (3, Truncation::Auto), (2, Truncation::LocalShares)]
    {
        // Error bound, in units u = 2^-16: y is within about 15u (18 products of inputs
        // each within u/2, one truncation), y^2 within 2 |y| 15u + u with |y| <= 5.5, and
        // the matmul sums 72 of those times |m| <= 0.1: about 1200u.
        let owners = [0, 1, parties - 1];
        assert_moves_only_its_wire_bytes(
            parties,
            truncation,
            &[&x, &w, &m],
            &owners,
            block,
            &want,
            0.02,
        );
    }
}

#[test]
fn a_residual_block_with_relu_moves_only_its_wire_bytes_inputs_and_the_dealers_corrections() {
    // 128 elements per activation: a multiple of 64, so that the opened sign bits' planes
    // are exactly the opened words (a partial last word would be padded on the device).
    let x = rand_arr(&[1, 2, 8, 8], -1.0, 1.0, 4);
    let w1 = rand_arr(&[2, 2, 3, 3], -0.25, 0.25, 5);
    let w2 = rand_arr(&[2, 2, 3, 3], -0.25, 0.25, 6);
    let relu = |a: ArrayD<f64>| a.mapv(|v| v.max(0.0));
    let want = relu(conv2d_ref(&relu(conv2d_ref(&x, &w1, &PAD1)), &w2, &PAD1) + &x);
    let block = |v: &[AShare]| {
        let h = v[0].conv2d(&v[1], &PAD1)?.relu()?;
        h.conv2d(&v[2], &PAD1)?.add(&v[0])?.relu()
    };
    for parties in [2, 3] {
        // Each convolution is within about 15 units (see above) plus, for the second,
        // 18 * 0.25 times the first's error; relu adds no error beyond a unit.
        let owners = [0, 1, parties - 1];
        let inputs = [&x, &w1, &w2];
        let auto = Truncation::Auto;
        assert_moves_only_its_wire_bytes(parties, auto, &inputs, &owners, block, &want, 2e-3);
    }
}

#[test]
fn public_values_and_dealer_material_land_on_the_device() {
    let device = SimulatedDevice::new();
    let x = rand_arr(&[4, 4], -1.0, 1.0, 7);
    let got =
        run(2, &on_device(&device, Truncation::Auto), |s| {
            let public = AShare::from_public(s, &x)?;
            let xs = share_from(s, 0, &x)?;
            let triple = s.context()?.fetch(&cloak_dealer::Request::Triple(
                cloak_dealer::BilinearOp::Mul { lhs: vec![4, 4], rhs: vec![4, 4] },
            ))?;
            let placements: Vec<String> = [public.share_tensor(), xs.share_tensor()]
                .into_iter()
                .chain(&triple.free)
                .chain(&triple.dependent)
                .map(cloak_ring::RingTensor::placement)
                .collect();
            Ok((public.mul(&xs)?.reveal()?, placements))
        });
    for (revealed, placements) in got {
        // One product of values within u/2 of x, truncated within a unit.
        assert_close(&revealed, &(&x * &x), 1e-4, "x * x");
        assert!(placements.iter().all(|p| p.starts_with("sim:")), "{placements:?}");
    }
}

#[test]
fn compute_device_names_its_memory() {
    let device = SimulatedDevice::new();
    let on = ComputeDevice::on(device.handle());
    assert_eq!(ComputeDevice::Host.label(), "cpu");
    assert_eq!(on.label(), device.handle::<u64>().label());
    assert_eq!(on, ComputeDevice::on(device.handle()));
    assert_ne!(on, ComputeDevice::on(SimulatedDevice::new().handle()));
    assert_ne!(on, ComputeDevice::Host);
    assert!(format!("{on:?}").contains("sim:"));
    // A tensor on another device is refused, not silently copied between devices.
    let elsewhere = cloak_ring::RingTensor::<u64>::zeros(&[3])
        .to_device(&SimulatedDevice::new().handle())
        .unwrap();
    assert!(matches!(
        on.place(elsewhere),
        Err(cloak_mpc::MpcError::Ring(cloak_ring::RingError::DeviceMismatch { .. }))
    ));
}

/// The carry out of the top position by the plain recurrence `c_j = g_j ^ (p_j & c_{j-1})`.
fn carry_plain(g: &[Vec<u64>], p: &[Vec<u64>]) -> Vec<u64> {
    let mut c = g[0].clone();
    for j in 1..g.len() {
        c = c.iter().zip(&g[j]).zip(&p[j - 1]).map(|((c, g), p)| g ^ (p & c)).collect();
    }
    c
}

#[test]
fn the_tensor_carry_tree_matches_the_word_one_in_values_rounds_and_bytes() {
    let words = 3;
    for positions in [1, 2, 3, 5, 8, 63] {
        let g: Vec<Vec<u64>> =
            (0..positions).map(|j| common::words(words, 10 + j as u64)).collect();
        let p: Vec<Vec<u64>> =
            (1..positions).map(|j| common::words(words, 100 + j as u64)).collect();
        let want = carry_plain(&g, &p);
        for parties in [2, 3] {
            let device = SimulatedDevice::new();
            let got = run(parties, &on_device(&device, Truncation::Auto), |s| {
                // Party 0 holds the values, the others zeros: an XOR sharing.
                let own = |v: &Vec<Vec<u64>>| -> Vec<Vec<u64>> {
                    if s.rank() == 0 { v.clone() } else { vec![vec![0; words]; v.len()] }
                };
                let (g_own, p_own) = (own(&g), own(&p));
                let mut ctx = s.context()?;
                ctx.comm().reset_stats();
                let by_words = ctx.carry_tree(g_own.clone(), p_own.clone())?;
                let word_cost = ctx.comm().stats().total();
                ctx.comm().reset_stats();
                let tensor = |v: Vec<Vec<u64>>, rows: usize| {
                    cloak_ring::RingTensor::from_vec(&[rows, words], v.concat())
                };
                let g_t = ctx.place(tensor(g_own, positions)?)?;
                let p_t = ctx.place(tensor(p_own, positions - 1)?)?;
                let by_tensors = ctx.carry_tree_tensors(g_t, p_t)?;
                let tensor_cost = ctx.comm().stats().total();
                let placement = by_tensors.placement();
                let opened = ctx.open_words(
                    "check",
                    vec![by_words, by_tensors.try_to_vec().map_err(cloak_mpc::MpcError::from)?],
                    true,
                )?;
                Ok((opened, word_cost, tensor_cost, placement))
            });
            for (opened, word_cost, tensor_cost, placement) in got {
                assert_eq!(opened[0], want, "{positions} positions, {parties} parties, words");
                assert_eq!(opened[1], want, "{positions} positions, {parties} parties, tensors");
                assert_eq!(
                    (word_cost.rounds, word_cost.bytes_sent),
                    (tensor_cost.rounds, tensor_cost.bytes_sent)
                );
                assert!(placement.starts_with("sim:"));
            }
        }
    }
}
