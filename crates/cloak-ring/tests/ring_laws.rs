//! Ring arithmetic against u128/i128 reference arithmetic.

use cloak_ring::RingElement;
use proptest::prelude::*;

const M64: u128 = 1 << 64;
const M32: u128 = 1 << 32;

proptest! {
    #[test]
    fn u64_wrapping_ops_match_u128(a: u64, b: u64) {
        let (wa, wb) = (a as u128, b as u128);
        prop_assert_eq!(a.wrapping_add(b) as u128, (wa + wb) % M64);
        prop_assert_eq!(a.wrapping_sub(b) as u128, (wa + M64 - wb) % M64);
        prop_assert_eq!(a.wrapping_mul(b) as u128, (wa * wb) % M64);
        prop_assert_eq!(a.wrapping_neg() as u128, (M64 - wa) % M64);
    }

    #[test]
    fn u32_wrapping_ops_match_u128(a: u32, b: u32) {
        let (wa, wb) = (a as u128, b as u128);
        prop_assert_eq!(a.wrapping_add(b) as u128, (wa + wb) % M32);
        prop_assert_eq!(a.wrapping_mul(b) as u128, (wa * wb) % M32);
        prop_assert_eq!(<u32 as RingElement>::from_i128_wrapping(-(wa as i128)) as u128, (M32 - wa) % M32);
    }

    #[test]
    fn signed_reading_and_arithmetic_shift_floor_divide(a: u64, k in 0u32..64) {
        let s = <u64 as RingElement>::to_signed_i128(a);
        prop_assert!((-(1i128 << 63)..(1i128 << 63)).contains(&s));
        prop_assert_eq!(<u64 as RingElement>::from_i128_wrapping(s), a);
        let expected = s.div_euclid(1i128 << k);
        prop_assert_eq!(RingElement::arithmetic_shr(a, k).to_signed_i128(), expected);
    }

    #[test]
    fn u32_arithmetic_shift_floor_divides(a: u32, k in 0u32..32) {
        let s = <u32 as RingElement>::to_signed_i128(a);
        prop_assert_eq!(RingElement::arithmetic_shr(a, k).to_signed_i128(), s.div_euclid(1i128 << k));
    }

    #[test]
    fn le_bytes_round_trip(a: u64, b: u32) {
        let mut buf = [0u8; 8];
        a.write_le(&mut buf);
        prop_assert_eq!(buf, a.to_le_bytes());
        prop_assert_eq!(<u64 as RingElement>::read_le(&buf), a);
        let mut buf = [0u8; 4];
        b.write_le(&mut buf);
        prop_assert_eq!(<u32 as RingElement>::read_le(&buf), b);
    }

    #[test]
    fn distributivity_and_associativity(a: u64, b: u64, c: u64) {
        prop_assert_eq!(a.wrapping_mul(b.wrapping_add(c)), a.wrapping_mul(b).wrapping_add(a.wrapping_mul(c)));
        prop_assert_eq!(a.wrapping_mul(b).wrapping_mul(c), a.wrapping_mul(b.wrapping_mul(c)));
    }
}
