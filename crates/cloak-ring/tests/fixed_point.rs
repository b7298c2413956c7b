//! Fixed-point encoding: rounding, exact decoding of negatives, typed errors.

use cloak_ring::{FixedPoint, RingError, RingTensor};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

fn fp(bits: u32) -> FixedPoint {
    FixedPoint::new::<u64>(bits).unwrap()
}

#[test]
fn encode_rounds_to_nearest() {
    let f = FixedPoint::default();
    assert_eq!(f.frac_bits(), 16);
    // 0.3 * 2^16 = 19660.8: truncation would give 19660.
    assert_eq!(f.encode::<u64>(0.3).unwrap(), 19661);
    assert_eq!(f.encode::<u64>(-0.3).unwrap(), (-19661i64) as u64);
    assert_eq!(f.encode::<u64>(1.0).unwrap(), 1 << 16);
    assert_eq!(f.encode::<u64>(-1.0).unwrap(), (-(1i64 << 16)) as u64);
}

/// CrypTen 0.4.1 decodes a negative value just above a negative integer one unit too low
/// (it floor-divides by 2^16 - 1). Pin the exact behaviour on such values.
#[test]
fn negative_values_just_above_an_integer_decode_exactly() {
    let f = FixedPoint::default();
    let ulp = 2f64.powi(-16);
    for n in 1..300 {
        for j in 1..4 {
            let v = -(n as f64) + j as f64 * ulp;
            let t = f.encode::<u64>(v).unwrap();
            assert_eq!(f.decode(t), v, "value {v}");
        }
    }
}

#[test]
fn decode_of_extremes() {
    let f = FixedPoint::default();
    assert_eq!(f.decode(u64::MAX), -2f64.powi(-16));
    assert_eq!(f.decode(1u64 << 63), -(2f64.powi(47)));
    assert_eq!(f.decode((1u64 << 63) - 1), 2f64.powi(47) - 2f64.powi(-16));
}

#[test]
fn not_finite_values_are_typed_errors() {
    let f = FixedPoint::default();
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(f.encode::<u64>(v), Err(RingError::NotFinite { .. })), "{v}");
    }
}

#[test]
fn out_of_range_values_are_typed_errors() {
    let f = FixedPoint::default();
    let max = f.max_value::<u64>();
    let min = f.min_value::<u64>();
    // 2^47 - 2^-16 needs 63 mantissa bits: the largest f64 below 2^47 is the bound instead.
    assert_eq!(max, 2f64.powi(47).next_down());
    assert!(f.encode::<u64>(max).is_ok());
    assert!(f.encode::<u64>(max.next_up()).is_err());
    let f32_ = FixedPoint::new::<u32>(16).unwrap();
    assert_eq!(f32_.max_value::<u32>(), 32768.0 - 2f64.powi(-16));
    assert!(f32_.encode::<u32>(f32_.max_value::<u32>()).is_ok());
    assert!(f.encode::<u64>(min).is_ok());
    assert!(matches!(f.encode::<u64>(2f64.powi(47)), Err(RingError::OutOfRange { .. })));
    assert!(matches!(f.encode::<u64>(-2f64.powi(47) - 1.0), Err(RingError::OutOfRange { .. })));
    assert!(matches!(f.encode::<u32>(40000.0), Err(RingError::OutOfRange { ring_bits: 32, .. })));
    assert!(f.encode::<u32>(32767.0).is_ok());
}

#[test]
fn precision_must_fit_the_ring() {
    assert!(FixedPoint::new::<u64>(62).is_ok());
    assert!(matches!(FixedPoint::new::<u64>(63), Err(RingError::InvalidPrecision { .. })));
    assert!(matches!(FixedPoint::new::<u32>(31), Err(RingError::InvalidPrecision { .. })));
}

#[test]
fn tensor_encoding_reports_the_bad_element() {
    let values = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, 2.0, f64::NAN, 4.0]).unwrap();
    let err = RingTensor::<u64>::encode(&values, FixedPoint::default()).unwrap_err();
    assert!(matches!(err, RingError::NotFinite { index: 2, .. }), "{err}");
}

proptest! {
    /// decode(encode(x)) is within half an ulp, 2^-(f+1), of x.
    #[test]
    fn round_trip_error_is_half_an_ulp(x in -1.0e6f64..1.0e6, bits in prop::sample::select(vec![8u32, 12, 16, 20, 24, 32])) {
        let f = fp(bits);
        let t = f.encode::<u64>(x).unwrap();
        let err = (f.decode(t) - x).abs();
        prop_assert!(err <= f.encode_error_bound(), "x {x} bits {bits} err {err}");
    }

    #[test]
    fn round_trip_u32(x in -30000.0f64..30000.0) {
        let f = FixedPoint::new::<u32>(16).unwrap();
        let t = f.encode::<u32>(x).unwrap();
        prop_assert!((f.decode(t) - x).abs() <= f.encode_error_bound());
    }

    /// Encoding is a homomorphism for addition (up to the rounding of each operand).
    #[test]
    fn encoded_sum_decodes_to_sum(x in -1.0e5f64..1.0e5, y in -1.0e5f64..1.0e5) {
        let f = FixedPoint::default();
        let s = f.encode::<u64>(x).unwrap().wrapping_add(f.encode::<u64>(y).unwrap());
        prop_assert!((f.decode(s) - (x + y)).abs() <= 2.0 * f.encode_error_bound());
    }

    #[test]
    fn tensor_round_trip(v in prop::collection::vec(-1000.0f64..1000.0, 0..50)) {
        let f = FixedPoint::default();
        let arr = ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.clone()).unwrap();
        let t = RingTensor::<u64>::encode(&arr, f).unwrap();
        let back = t.decode(f);
        for (a, b) in back.iter().zip(&v) {
            prop_assert!((a - b).abs() <= f.encode_error_bound());
        }
    }
}
