//! Strategies and primitives that break their contract get typed errors at every party,
//! never a panic or a stack overflow.

use cloak_mpc::primitives::{ComparisonProtocol, ComparisonStrategy, Context, TruncationProtocol};
use cloak_mpc::{AShare, MpcError, Result, SessionConfig, TruncationStrategy, run_local};
use cloak_ring::RingTensor;
use ndarray::{ArrayD, IxDyn};

/// Calls the session's comparison from inside itself.
struct Recursive;

impl ComparisonProtocol for Recursive {
    fn name(&self) -> &'static str {
        "recursive"
    }
    fn ltz_packed(&self, ctx: &mut Context, x: &RingTensor<u64>) -> Result<Vec<u64>> {
        ctx.ltz_packed(x)
    }
}

/// Returns no sign bits at all.
struct Short;

impl ComparisonProtocol for Short {
    fn name(&self) -> &'static str {
        "short"
    }
    fn ltz_packed(&self, _: &mut Context, _: &RingTensor<u64>) -> Result<Vec<u64>> {
        Ok(Vec::new())
    }
}

/// Loses the pieces it is given.
struct Lossy;

impl TruncationProtocol for Lossy {
    fn name(&self) -> &'static str {
        "lossy"
    }
    fn truncate_many(
        &self,
        _: &mut Context,
        _: Vec<(RingTensor<u64>, u32)>,
    ) -> Result<Vec<RingTensor<u64>>> {
        Ok(Vec::new())
    }
}

fn input() -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(&[70]), (0..70).map(|i| f64::from(i) - 35.0).collect()).unwrap()
}

/// Every party's error for `relu` and `mul` under `config`.
fn errors(parties: usize, config: &SessionConfig) -> Vec<String> {
    let x = input();
    run_local(parties, config, |s| {
        let a = AShare::share(s, 0, (s.rank() == 0).then_some(&x), &[70])?;
        a.relu()?.mul(&a)?.reveal()
    })
    .into_iter()
    .map(|o| match o {
        Err(cloak_mpc::PartyFailure::Error(e)) => e.to_string(),
        other => panic!("expected a typed error, got {other:?}"),
    })
    .collect()
}

#[test]
fn broken_comparisons_are_typed_errors() {
    for parties in [2, 3] {
        for (strategy, what) in [
            (ComparisonStrategy::new(Recursive), "endless recursion"),
            (ComparisonStrategy::new(Short), "0 words"),
        ] {
            let config = SessionConfig { comparison: strategy, ..SessionConfig::default() };
            for e in errors(parties, &config) {
                assert!(e.contains(what), "{parties} parties: {e}");
            }
        }
    }
}

#[test]
fn a_truncation_that_loses_pieces_is_a_typed_error() {
    for parties in [2, 3] {
        let config = SessionConfig {
            truncation: TruncationStrategy::new(Lossy),
            ..SessionConfig::default()
        };
        for e in errors(parties, &config) {
            assert!(e.contains("the lossy strategy broke its contract"), "{parties} parties: {e}");
        }
    }
}

#[test]
fn primitives_refuse_bad_arguments_before_sending() {
    for parties in [2, 3] {
        let out = run_local(parties, &SessionConfig::default(), |s| {
            let mut ctx = s.context()?;
            let x = RingTensor::<u64>::zeros(&[4]);
            // A product whose operands do not have the op's shapes.
            let op = cloak_dealer::BilinearOp::Mul { lhs: vec![4], rhs: vec![4] };
            let bad_beaver = ctx.beaver(&op, &x, &RingTensor::zeros(&[5])).is_err();
            // Opening to a rank that is not a party.
            let bad_owner = ctx.open_words_to("test", parties, vec![vec![1]], false).is_err();
            // Bits packed in the wrong number of words.
            let bad_bits = ctx.bits_to_arith(&[0, 0], 10).is_err();
            let bad_shift = ctx.truncate(x.clone(), 64).is_err();
            let bad_divisor = ctx.divide_with_pair(x.clone(), 1).is_err();
            let bad_adder = ctx.add_binary_words(vec![vec![1], vec![1, 2]]).is_err();
            // Nothing was sent: the session still works.
            let rank = ctx.rank() as u64;
            let opened = ctx.open_words("test", vec![vec![rank]], false)?;
            let sum = (0..parties as u64).sum::<u64>();
            Ok::<_, MpcError>(
                [bad_beaver, bad_owner, bad_bits, bad_shift, bad_divisor, bad_adder]
                    .iter()
                    .all(|b| *b)
                    && opened[0][0] == sum,
            )
        });
        for o in out {
            assert!(o.unwrap(), "{parties} parties");
        }
    }
}
