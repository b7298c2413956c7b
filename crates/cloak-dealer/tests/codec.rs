//! The request codec (`encode_request` / `decode_request`): every request variant round-trips,
//! the encoding is canonical (whatever decodes re-encodes to the same bytes), and malformed
//! input (truncated, trailing bytes, unknown tags, absurd dimension counts, truncation bits
//! past `u32`, arbitrary or mutated bytes) is rejected with `DealerError::Malformed`, never a
//! panic. Also: `Request::layout` on any decoded request returns a layout or a typed error
//! without panicking (except for the known `cloak-ring` overflow pinned in `ops.rs`).

use cloak_dealer::{BilinearOp, DealerError, Request, decode_request, encode_request};
use cloak_ring::Conv2dSpec;
use proptest::prelude::*;

/// A dimension: mostly small, sometimes anything (the codec does not judge shapes).
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0usize..6, 1 => any::<usize>()]
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(dim(), 0..5)
}

fn pair() -> impl Strategy<Value = (usize, usize)> {
    (dim(), dim())
}

fn conv_spec() -> impl Strategy<Value = Conv2dSpec> {
    (pair(), pair(), pair(), dim()).prop_map(|(stride, padding, dilation, groups)| Conv2dSpec {
        stride,
        padding,
        dilation,
        groups,
    })
}

fn bilinear_op() -> impl Strategy<Value = BilinearOp> {
    prop_oneof![
        (shape(), shape()).prop_map(|(lhs, rhs)| BilinearOp::Mul { lhs, rhs }),
        (shape(), shape()).prop_map(|(lhs, rhs)| BilinearOp::Matmul { lhs, rhs }),
        (shape(), shape(), conv_spec()).prop_map(|(input, weight, spec)| BilinearOp::Conv1d {
            input,
            weight,
            spec
        }),
        (shape(), shape(), conv_spec()).prop_map(|(input, weight, spec)| BilinearOp::Conv2d {
            input,
            weight,
            spec
        }),
        (shape(), shape(), shape(), conv_spec()).prop_map(
            |(grad_out, weight, input_shape, spec)| BilinearOp::Conv2dInputGrad {
                grad_out,
                weight,
                input_shape,
                spec
            }
        ),
        (shape(), shape(), shape(), conv_spec()).prop_map(
            |(input, grad_out, weight_shape, spec)| BilinearOp::Conv2dWeightGrad {
                input,
                grad_out,
                weight_shape,
                spec
            }
        ),
        (shape(), shape(), conv_spec(), pair()).prop_map(
            |(input, weight, spec, output_padding)| BilinearOp::ConvTranspose2d {
                input,
                weight,
                spec,
                output_padding
            }
        ),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        2 => bilinear_op().prop_map(Request::Triple),
        1 => shape().prop_map(|shape| Request::Square { shape }),
        1 => dim().prop_map(|words| Request::BinaryTriple { words }),
        1 => (shape(), any::<u32>()).prop_map(|(shape, bits)| Request::TruncPair { shape, bits }),
        1 => dim().prop_map(|count| Request::RandomBits { count }),
        1 => (dim(), any::<bool>()).prop_map(|(count, inject)| Request::DigitTables { count, inject }),
        1 => (shape(), any::<u64>()).prop_map(|(shape, divisor)| Request::DivPair { shape, divisor }),
        1 => (bilinear_op(), any::<u64>()).prop_map(|(op, mask)| Request::TripleFixedRhs { op, mask }),
        1 => (dim(), any::<u32>()).prop_map(|(count, bits)| Request::TruncDigitTables { count, bits }),
        1 => (dim(), any::<u32>(), proptest::collection::vec(any::<u32>(), 0..20))
            .prop_map(|(words, vars, subsets)| Request::MaskProducts { words, vars, subsets }),
    ]
}

fn is_malformed(r: &Result<Request, DealerError>) -> bool {
    matches!(r, Err(DealerError::Malformed { .. }))
}

/// One request of every variant and every bilinear op.
fn every_variant() -> Vec<Request> {
    let spec = Conv2dSpec { stride: (1, 2), padding: (3, 4), dilation: (5, 6), groups: 7 };
    let ops = vec![
        BilinearOp::Mul { lhs: vec![2, 3], rhs: vec![3] },
        BilinearOp::Matmul { lhs: vec![2, 4, 5], rhs: vec![2, 5, 3] },
        BilinearOp::Conv1d { input: vec![1, 2, 8], weight: vec![3, 2, 3], spec },
        BilinearOp::Conv2d { input: vec![1, 2, 5, 5], weight: vec![3, 2, 3, 3], spec },
        BilinearOp::Conv2dInputGrad {
            grad_out: vec![1, 3, 5, 5],
            weight: vec![3, 2, 3, 3],
            input_shape: vec![1, 2, 5, 5],
            spec,
        },
        BilinearOp::Conv2dWeightGrad {
            input: vec![1, 2, 5, 5],
            grad_out: vec![1, 3, 5, 5],
            weight_shape: vec![3, 2, 3, 3],
            spec,
        },
        BilinearOp::ConvTranspose2d {
            input: vec![1, 2, 3, 3],
            weight: vec![2, 3, 3, 3],
            spec,
            output_padding: (1, 0),
        },
    ];
    let mut requests: Vec<Request> = ops.into_iter().map(Request::Triple).collect();
    requests.extend([
        Request::Square { shape: vec![] },
        Request::Square { shape: vec![usize::MAX; 16] },
        Request::BinaryTriple { words: 5 },
        Request::TruncPair { shape: vec![4, 3], bits: 16 },
        Request::TruncPair { shape: vec![1], bits: u32::MAX },
        Request::RandomBits { count: 130 },
        Request::EdaBits { count: 7 },
        Request::DigitTables { count: 130, inject: false },
        Request::DigitTables { count: usize::MAX, inject: true },
        Request::MaskProducts { words: 3, vars: 7, subsets: vec![0b11, 0x7f] },
        Request::TruncDigitTables { count: 130, bits: 16 },
        Request::TruncDigitTables { count: usize::MAX, bits: u32::MAX },
        Request::MaskProducts { words: usize::MAX, vars: u32::MAX, subsets: Vec::new() },
        Request::DivPair { shape: vec![4, 3], divisor: 3 },
        Request::TripleFixedRhs {
            op: BilinearOp::Matmul { lhs: vec![2, 4, 5], rhs: vec![5, 3] },
            mask: 0,
        },
        Request::TripleFixedRhs {
            op: BilinearOp::Conv2d { input: vec![1, 2, 5, 5], weight: vec![3, 2, 3, 3], spec },
            mask: u64::MAX,
        },
    ]);
    requests
}

#[test]
fn every_variant_round_trips() {
    for request in every_variant() {
        let bytes = encode_request(&request);
        let back = decode_request(&bytes).unwrap_or_else(|e| panic!("{request:?}: {e}"));
        assert_eq!(back, request);
    }
}

/// The layout on the wire: a tag byte, then little-endian `u64`s (shapes as a length and
/// the dimensions).
#[test]
fn wire_format_is_little_endian_u64s() {
    let le = |vals: &[u64]| vals.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let mut want = vec![4u8];
    want.extend(le(&[130]));
    assert_eq!(encode_request(&Request::RandomBits { count: 130 }), want);
    let mut want = vec![1u8];
    want.extend(le(&[2, 2, 3]));
    assert_eq!(encode_request(&Request::Square { shape: vec![2, 3] }), want);
    let mut want = vec![0u8, 0u8];
    want.extend(le(&[2, 2, 3, 1, 3]));
    let mul = Request::Triple(BilinearOp::Mul { lhs: vec![2, 3], rhs: vec![3] });
    assert_eq!(encode_request(&mul), want);
    // A fixed-right-operand triple: tag 6, the op, then the mask number.
    let mut want = vec![6u8, 0u8];
    want.extend(le(&[2, 2, 3, 1, 3, 9]));
    let fixed =
        Request::TripleFixedRhs { op: BilinearOp::Mul { lhs: vec![2, 3], rhs: vec![3] }, mask: 9 };
    assert_eq!(encode_request(&fixed), want);
}

#[test]
fn every_truncation_and_extension_is_malformed() {
    for request in every_variant() {
        let bytes = encode_request(&request);
        for cut in 0..bytes.len() {
            let r = decode_request(&bytes[..cut]);
            assert!(is_malformed(&r), "{request:?} cut at {cut}: {r:?}");
        }
        for extra in [&[0u8][..], &[1, 2, 3], &[0; 8]] {
            let mut longer = bytes.clone();
            longer.extend_from_slice(extra);
            let r = decode_request(&longer);
            assert!(is_malformed(&r), "{request:?} + {extra:?}: {r:?}");
        }
    }
}

#[test]
fn unknown_tags_are_malformed() {
    for tag in 7..=u8::MAX {
        // Followed by plausible fields, so that only the tag is wrong.
        let mut bytes = vec![tag];
        bytes.extend([0u8; 32]);
        assert!(is_malformed(&decode_request(&bytes)), "request tag {tag}");
    }
    for tag in 7..=u8::MAX {
        let mut bytes = vec![0u8, tag];
        bytes.extend([0u8; 32]);
        assert!(is_malformed(&decode_request(&bytes)), "bilinear op tag {tag}");
    }
}

#[test]
fn absurd_dimension_counts_are_malformed_without_allocating() {
    for ndim in [17u64, 1000, u64::from(u32::MAX), u64::MAX] {
        // A square of `ndim` dimensions followed by 1000 dimensions' worth of bytes: the
        // length is rejected, not trusted.
        let mut bytes = vec![1u8];
        bytes.extend(ndim.to_le_bytes());
        bytes.extend(std::iter::repeat_n(1u8, 8 * 1000));
        let r = decode_request(&bytes);
        assert!(is_malformed(&r), "{ndim} dims: {r:?}");
        // The same inside a bilinear op's second operand.
        let mut bytes = vec![0u8, 1, 1];
        bytes.extend(3u64.to_le_bytes());
        bytes.extend(ndim.to_le_bytes());
        assert!(is_malformed(&decode_request(&bytes)), "{ndim} dims in rhs");
    }
}

#[test]
fn an_injection_flag_other_than_0_or_1_is_malformed() {
    let mut bytes = vec![9u8];
    bytes.extend(5u64.to_le_bytes());
    bytes.push(2);
    assert!(is_malformed(&decode_request(&bytes)));
    bytes.pop();
    bytes.push(1);
    assert_eq!(decode_request(&bytes).ok(), Some(Request::DigitTables { count: 5, inject: true }));
}

#[test]
fn mask_products_past_their_bounds_are_malformed() {
    let header = |subsets: u64| {
        let mut bytes = vec![10u8];
        bytes.extend(1u64.to_le_bytes());
        bytes.extend(7u64.to_le_bytes());
        bytes.extend(subsets.to_le_bytes());
        bytes
    };
    // A hostile subset count is refused before anything is allocated for it.
    assert!(is_malformed(&decode_request(&header(u64::MAX))));
    assert!(is_malformed(&decode_request(&header(4097))));
    // A subset past u32, a variable count past u32, and too few subsets on the wire.
    let mut bytes = header(1);
    bytes.extend((u64::from(u32::MAX) + 1).to_le_bytes());
    assert!(is_malformed(&decode_request(&bytes)));
    let mut bytes = vec![10u8];
    bytes.extend(1u64.to_le_bytes());
    bytes.extend((u64::from(u32::MAX) + 1).to_le_bytes());
    bytes.extend(0u64.to_le_bytes());
    assert!(is_malformed(&decode_request(&bytes)));
    assert!(is_malformed(&decode_request(&header(2))));
    let mut bytes = header(1);
    bytes.extend(3u64.to_le_bytes());
    let want = Request::MaskProducts { words: 1, vars: 7, subsets: vec![3] };
    assert_eq!(decode_request(&bytes).ok(), Some(want));
}

#[test]
fn truncation_bits_past_u32_are_malformed() {
    let mut bytes = vec![3u8];
    bytes.extend(1u64.to_le_bytes());
    bytes.extend(4u64.to_le_bytes());
    bytes.extend((u64::from(u32::MAX) + 1).to_le_bytes());
    assert!(is_malformed(&decode_request(&bytes)));
    let mut bytes = vec![11u8];
    bytes.extend(4u64.to_le_bytes());
    bytes.extend((u64::from(u32::MAX) + 1).to_le_bytes());
    assert!(is_malformed(&decode_request(&bytes)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip(request in request()) {
        let bytes = encode_request(&request);
        prop_assert_eq!(decode_request(&bytes).ok(), Some(request));
    }

    #[test]
    fn truncated_or_extended_is_malformed(
        request in request(),
        cut in any::<prop::sample::Index>(),
        extra in proptest::collection::vec(any::<u8>(), 1..12),
    ) {
        let bytes = encode_request(&request);
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(is_malformed(&decode_request(short)));
        let mut long = bytes.clone();
        long.extend(extra);
        prop_assert!(is_malformed(&decode_request(&long)));
    }

    /// Arbitrary bytes: either malformed or a request that re-encodes to exactly these bytes.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_bytes(&bytes)?;
    }

    /// Valid encodings with one byte changed, inserted or removed: the interesting inputs
    /// that random bytes rarely reach.
    #[test]
    fn mutated_encodings_never_panic(
        request in request(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        how in 0u8..3,
    ) {
        let mut bytes = encode_request(&request);
        let i = at.index(bytes.len());
        match how {
            0 => bytes[i] = byte,
            1 => bytes.insert(i, byte),
            _ => { bytes.remove(i); }
        }
        check_bytes(&bytes)?;
    }
}

/// Decoding never panics; what decodes is canonical; its layout, if any, is typed.
fn check_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    match decode_request(bytes) {
        Ok(request) => {
            prop_assert_eq!(encode_request(&request), bytes.to_vec(), "not canonical");
        }
        // A mutated tag can spell a custom kind this decoder does not know: typed too.
        Err(e) => prop_assert!(
            matches!(e, DealerError::Malformed { .. } | DealerError::UnknownCorrelation { .. }),
            "{e:?}"
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever a party 0 could send, the dealer's first step on it (the layout) is a
    /// layout whose element counts fit, or a typed ring error.
    #[test]
    fn layout_of_any_request_is_typed(request in request()) {
        match request.layout() {
            Ok(layout) => {
                for c in layout.free.iter().chain(&layout.dependent) {
                    let numel = c.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                    prop_assert!(numel.is_some(), "{:?}: {:?}", request, c);
                }
            }
            Err(e) => prop_assert!(matches!(e, DealerError::Ring(_)), "{:?}: {:?}", request, e),
        }
    }
}
