//! Little-endian `u64` helpers.
//!
//! Messages are bytes; the ring layer owns the encoding of tensors. These helpers cover the
//! common case of a flat `u64` vector so that small protocols and tests need no codec of
//! their own.

/// Encodes `values` as little-endian bytes.
pub fn u64s_to_bytes(values: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 8);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes little-endian bytes into `u64`s, or `None` when the length is not a multiple of 8.
pub fn u64s_from_bytes(bytes: &[u8]) -> Option<Vec<u64>> {
    let chunks = bytes.chunks_exact(8);
    if !chunks.remainder().is_empty() {
        return None;
    }
    Some(
        chunks
            .map(|c| {
                let mut word = [0u8; 8];
                word.copy_from_slice(c);
                u64::from_le_bytes(word)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(values in proptest::collection::vec(any::<u64>(), 0..64)) {
            let bytes = u64s_to_bytes(&values);
            prop_assert_eq!(bytes.len(), values.len() * 8);
            prop_assert_eq!(u64s_from_bytes(&bytes), Some(values));
        }
    }

    #[test]
    fn little_endian_and_length_checked() {
        assert_eq!(u64s_to_bytes(&[0x0102]), [2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(u64s_from_bytes(&[1, 2, 3]), None);
    }
}
