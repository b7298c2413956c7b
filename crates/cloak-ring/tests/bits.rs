//! Bit-packed boolean tensors against plain `bool` references.

use cloak_ring::{BitTensor, RingError, RingTensor};
use proptest::prelude::*;

proptest! {
    #[test]
    fn logic_ops_match_bools(v in prop::collection::vec(any::<(bool, bool)>(), 0..200)) {
        let shape = [v.len()];
        let a = BitTensor::from_bools(&shape, &v.iter().map(|p| p.0).collect::<Vec<_>>()).unwrap();
        let b = BitTensor::from_bools(&shape, &v.iter().map(|p| p.1).collect::<Vec<_>>()).unwrap();
        let (x, n, o, na) = (a.xor(&b).unwrap(), a.and(&b).unwrap(), a.or(&b).unwrap(), a.not());
        for (i, &(p, q)) in v.iter().enumerate() {
            prop_assert_eq!(x.get(i), Some(p ^ q));
            prop_assert_eq!(n.get(i), Some(p & q));
            prop_assert_eq!(o.get(i), Some(p | q));
            prop_assert_eq!(na.get(i), Some(!p));
        }
        // NOT keeps the bits past the end clear, so counts stay exact.
        prop_assert_eq!(na.count_ones(), v.iter().filter(|p| !p.0).count());
        prop_assert_eq!(a.get(v.len()), None);
    }

    #[test]
    fn shifts_match_bools(v in prop::collection::vec(any::<bool>(), 0..200), k in 0usize..220) {
        let a = BitTensor::from_bools(&[v.len()], &v).unwrap();
        let up = a.shift_up(k).to_bools();
        let down = a.shift_down(k).to_bools();
        for i in 0..v.len() {
            prop_assert_eq!(up[i], i >= k && v[i - k]);
            prop_assert_eq!(down[i], i + k < v.len() && v[i + k]);
        }
    }

    #[test]
    fn bit_planes_round_trip(v in prop::collection::vec(any::<u64>(), 0..100), bit in 0u32..64, fresh in prop::collection::vec(any::<bool>(), 100)) {
        let mut t = RingTensor::from_vec(&[v.len()], v.clone()).unwrap();
        let plane = BitTensor::from_bit_plane(&t, bit).unwrap();
        for (i, &x) in v.iter().enumerate() {
            prop_assert_eq!(plane.get(i), Some((x >> bit) & 1 == 1));
        }
        let new = BitTensor::from_bools(&[v.len()], &fresh[..v.len()]).unwrap();
        new.write_bit_plane(&mut t, bit).unwrap();
        for (i, (&x, &y)) in v.iter().zip(t.to_vec().iter()).enumerate() {
            prop_assert_eq!(y & !(1 << bit), x & !(1 << bit));
            prop_assert_eq!((y >> bit) & 1 == 1, fresh[i]);
        }
        prop_assert_eq!(plane.to_ring::<u64>().to_vec(), v.iter().map(|x| (x >> bit) & 1).collect::<Vec<_>>());
    }

    #[test]
    fn bytes_round_trip(v in prop::collection::vec(any::<bool>(), 0..300)) {
        let a = BitTensor::from_bools(&[v.len()], &v).unwrap();
        let bytes = a.to_le_bytes();
        prop_assert_eq!(bytes.len(), v.len().div_ceil(64) * 8);
        prop_assert_eq!(BitTensor::from_le_bytes(&[v.len()], &bytes).unwrap(), a);
    }
}

#[test]
fn malformed_inputs_are_typed_errors() {
    assert!(matches!(BitTensor::from_bools(&[3], &[true]), Err(RingError::InvalidShape { .. })));
    // Bit 5 set in a 3-element tensor: stray bits would corrupt counts and sums.
    assert!(matches!(
        BitTensor::from_words(&[3], vec![1 << 5]),
        Err(RingError::InvalidArgument { .. })
    ));
    assert!(matches!(BitTensor::from_words(&[65], vec![0]), Err(RingError::InvalidShape { .. })));
    assert!(matches!(BitTensor::from_le_bytes(&[3], &[0; 7]), Err(RingError::ByteLength { .. })));
    let a = BitTensor::zeros(&[3]);
    assert!(matches!(a.xor(&BitTensor::zeros(&[4])), Err(RingError::ShapeMismatch { .. })));
    let t = RingTensor::<u32>::zeros(&[3]);
    assert!(matches!(BitTensor::from_bit_plane(&t, 32), Err(RingError::InvalidArgument { .. })));
}

#[test]
fn hostile_shapes_are_typed_errors() {
    let big = [1usize << 40, 1 << 40];
    assert!(matches!(BitTensor::from_le_bytes(&big, &[]), Err(RingError::InvalidShape { .. })));
    assert!(matches!(BitTensor::from_words(&big, vec![]), Err(RingError::InvalidShape { .. })));
    assert!(matches!(BitTensor::from_bools(&big, &[]), Err(RingError::InvalidShape { .. })));
}
