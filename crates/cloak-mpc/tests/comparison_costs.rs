//! What each comparison strategy costs, pinned: rounds and bytes of `ltz` on 4096 elements
//! for 2, 3 and 4 parties (the sign bits only; B2A adds one round either way).

use cloak_mpc::primitives::{BitPlaneCarry, ComparisonProtocol, DealerBits};
use cloak_mpc::{AShare, ComparisonStrategy, MpcError, SessionConfig, run_local};
use ndarray::{ArrayD, IxDyn};

const N: usize = 4096;

/// (rounds, bytes party 0 sent) of the sign bits of `N` elements, and whether they are right.
fn cost(parties: usize, strategy: impl ComparisonProtocol) -> (u64, u64, bool) {
    let config =
        SessionConfig { comparison: ComparisonStrategy::new(strategy), ..Default::default() };
    let x = ArrayD::from_shape_fn(IxDyn(&[N]), |i| i[0] as f64 - 2047.5);
    let out = run_local(parties, &config, |s| {
        let a = AShare::share(s, 0, (s.rank() == 0).then_some(&x), &[N])?;
        s.reset_stats();
        let packed = s.scoped("sign", || s.context()?.ltz_packed(a.share_tensor()))?;
        let stats = s.comm_stats().total();
        // Check the bits: open them (XOR) and compare with the plain signs.
        let words = cloak_mpc::BShare::from_share(
            s,
            cloak_mpc::RingTensor::from_vec(&[packed.len()], packed)?,
        )
        .reveal()?;
        let right =
            (0..N).all(|k| ((words.as_slice()[k / 64] >> (k % 64)) & 1 == 1) == (x[k] < 0.0));
        Ok::<_, MpcError>((stats.rounds, stats.bytes_sent, right))
    });
    out.into_iter().next().unwrap().unwrap()
}

#[test]
fn dealer_bits_take_seven_rounds_for_any_number_of_parties_and_fewer_bytes() {
    for parties in [2, 3, 4] {
        let (carry_rounds, carry_bytes, carry_right) = cost(parties, BitPlaneCarry);
        let (bits_rounds, bits_bytes, bits_right) = cost(parties, DealerBits);
        assert!(carry_right && bits_right, "{parties} parties: wrong sign bits");
        assert_eq!(bits_rounds, 7, "{parties} parties");
        // The built-in circuit: 7 rounds for two, one more per carry-save layer (3 -> 2
        // values takes one layer, 4 -> 3 -> 2 two).
        assert_eq!(carry_rounds, 5 + parties as u64, "{parties} parties");
        // Per peer and element: 8 bytes of opening and about 30 of tree, against about 45
        // (two parties) and more with carry-save layers.
        let peers = (parties - 1) as u64;
        let per_element = |b: u64| b as f64 / (peers * N as u64) as f64;
        eprintln!(
            "{parties} parties: bit-plane carry {carry_rounds} rounds, {:.1} B/element/peer; \
             dealer bits {bits_rounds} rounds, {:.1} B/element/peer",
            per_element(carry_bytes),
            per_element(bits_bytes)
        );
        assert!(
            per_element(bits_bytes) < 40.0 && per_element(bits_bytes) < per_element(carry_bytes),
            "{parties} parties: {} against {} bytes per element and peer",
            per_element(bits_bytes),
            per_element(carry_bytes)
        );
    }
}
