//! AES-128-CTR: NIST known answers, counter wrap-around, seeking, arbitrary splits.

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use cloak_prg::AesCtr;
use proptest::prelude::*;

fn hex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("test vectors are hex");
    }
    out
}

/// AES-128 of one block, straight from the `aes` crate: the reference for our counter logic.
fn aes_block(key: &[u8; 16], block: u128) -> [u8; 16] {
    let mut b = Array::from(block.to_be_bytes());
    Aes128Enc::new(&Array::from(*key)).encrypt_block(&mut b);
    b.into()
}

const NIST_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const NIST_CTR: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
const NIST_PLAIN: [&str; 4] = [
    "6bc1bee22e409f96e93d7e117393172a",
    "ae2d8a571e03ac9c9eb76fac45af8e51",
    "30c81c46a35ce411e5fbc1191a0a52ef",
    "f69f2445df4f9b17ad2b417be66c3710",
];
const NIST_CIPHER: [&str; 4] = [
    "874d6191b620e3261bef6864990db6ce",
    "9806f66b7970fdff8617187bb9fffdff",
    "5ae4df3edbd5d35e5b4f09020db03eab",
    "1e031dda2fbe03d1792170a0f3009cee",
];

fn nist_blocks(blocks: [&str; 4]) -> Vec<u8> {
    blocks.iter().flat_map(|b| hex::<16>(b)).collect()
}

#[test]
fn nist_sp800_38a_f51_ctr_aes128_encrypt() {
    let mut data = nist_blocks(NIST_PLAIN);
    AesCtr::new(&hex(NIST_KEY), &hex(NIST_CTR)).apply_keystream(&mut data);
    assert_eq!(data, nist_blocks(NIST_CIPHER));
}

#[test]
fn nist_sp800_38a_f52_ctr_aes128_decrypt() {
    let mut data = nist_blocks(NIST_CIPHER);
    AesCtr::new(&hex(NIST_KEY), &hex(NIST_CTR)).apply_keystream(&mut data);
    assert_eq!(data, nist_blocks(NIST_PLAIN));
}

#[test]
fn nist_vectors_block_by_block_and_keystream() {
    let mut ctr = AesCtr::new(&hex(NIST_KEY), &hex(NIST_CTR));
    for (p, c) in NIST_PLAIN.iter().zip(NIST_CIPHER) {
        let mut ks = [0u8; 16];
        ctr.keystream(&mut ks);
        let got: Vec<u8> = hex::<16>(p).iter().zip(ks).map(|(p, k)| p ^ k).collect();
        assert_eq!(got, hex::<16>(c));
    }
    assert_eq!(ctr.block_position(), 4);
}

#[test]
fn fips197_c1_block_through_ctr() {
    // FIPS-197 Appendix C.1: the first keystream block is AES_k(initial counter).
    let mut ks = [0u8; 16];
    AesCtr::new(&hex("000102030405060708090a0b0c0d0e0f"), &hex("00112233445566778899aabbccddeeff"))
        .keystream(&mut ks);
    assert_eq!(ks, hex::<16>("69c4e0d86a7b0430d8cdb78070b4c55a"));
}

#[test]
fn counter_wraps_modulo_2_pow_128() {
    let key = [9u8; 16];
    let mut ks = [0u8; 48];
    AesCtr::new(&key, &[0xff; 16]).keystream(&mut ks);
    assert_eq!(ks[..16], aes_block(&key, u128::MAX));
    assert_eq!(ks[16..32], aes_block(&key, 0));
    assert_eq!(ks[32..], aes_block(&key, 1));
}

#[test]
fn low_half_carries_into_high_half_inside_a_chunk() {
    // The low 64 bits wrap 10 blocks in, in the middle of a 64-block chunk.
    let key = [3u8; 16];
    let start = (5u128 << 64) | u128::from(u64::MAX - 9);
    let mut ks = vec![0u8; 100 * 16];
    AesCtr::new(&key, &start.to_be_bytes()).keystream(&mut ks);
    for (i, block) in ks.chunks_exact(16).enumerate() {
        assert_eq!(block, aes_block(&key, start + i as u128), "block {i}");
    }
}

#[test]
fn every_block_is_aes_of_its_counter() {
    // Long enough for whole chunks, a partial chunk and prefetching.
    let key = [0x5a; 16];
    let start = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128;
    let mut ks = vec![0u8; 300 * 16 + 5];
    AesCtr::new(&key, &start.to_be_bytes()).keystream(&mut ks);
    for (i, block) in ks.chunks(16).enumerate() {
        assert_eq!(block, &aes_block(&key, start + i as u128)[..block.len()], "block {i}");
    }
}

#[test]
fn seek_moves_to_a_block_index() {
    let (key, iv) = ([1u8; 16], [0xfe; 16]);
    let mut whole = vec![0u8; 200 * 16];
    AesCtr::new(&key, &iv).keystream(&mut whole);
    let mut ctr = AesCtr::new(&key, &iv);
    for block in [150u128, 3, 0, 199, 64] {
        ctr.seek(block);
        assert_eq!(ctr.block_position(), block);
        let mut got = [0u8; 16];
        ctr.keystream(&mut got);
        let at = block as usize * 16;
        assert_eq!(got, whole[at..at + 16], "block {block}");
    }
    // Seeking drops a partly used block.
    ctr.seek(0);
    let mut three = [0u8; 3];
    ctr.keystream(&mut three);
    ctr.seek(2);
    let mut got = [0u8; 16];
    ctr.keystream(&mut got);
    assert_eq!(got, whole[32..48]);
}

#[test]
fn debug_hides_the_key() {
    let text = format!("{:?}", AesCtr::new(&[0xab; 16], &[0; 16]));
    assert!(text.contains("redacted") && !text.contains("171"), "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any split of the input into calls gives the one-shot result, for both operations.
    #[test]
    fn split_calls_equal_one_call(
        key in any::<[u8; 16]>(),
        iv in any::<[u8; 16]>(),
        cuts in proptest::collection::vec(0usize..1500, 0..6),
    ) {
        let total: usize = cuts.iter().sum::<usize>() + 17;
        let data: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
        let mut once = data.clone();
        AesCtr::new(&key, &iv).apply_keystream(&mut once);

        let mut ctr = AesCtr::new(&key, &iv);
        let mut split = data.clone();
        let mut rest = &mut split[..];
        for &cut in &cuts {
            let (head, tail) = rest.split_at_mut(cut);
            ctr.apply_keystream(head);
            rest = tail;
        }
        ctr.apply_keystream(rest);
        prop_assert_eq!(&split, &once);

        let mut ctr = AesCtr::new(&key, &iv);
        let mut ks = vec![0u8; total];
        let mut rest = &mut ks[..];
        for &cut in &cuts {
            let (head, tail) = rest.split_at_mut(cut);
            ctr.keystream(head);
            rest = tail;
        }
        ctr.keystream(rest);
        let xored: Vec<u8> = data.iter().zip(&ks).map(|(d, k)| d ^ k).collect();
        prop_assert_eq!(xored, once);
    }
}
