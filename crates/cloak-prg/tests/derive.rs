//! Labelled seed derivation: the documented construction, distinctness, symmetry.

use std::collections::HashSet;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use cloak_prg::{Prg, Seed, SeedDeriver};
use proptest::prelude::*;
use rand_core::RngCore;

fn master() -> Seed {
    Seed::from_bytes(*b"master seed 0001")
}

/// The construction as written in the module docs, spelled out independently: length-prepended
/// AES CBC-MAC under `K = AES_master("cloak-prg/kdf/v1")`.
fn spec(master: &Seed, kind: u8, label: &[u8], fields: &[u64]) -> [u8; 16] {
    let mut k = Array::from(*b"cloak-prg/kdf/v1");
    Aes128Enc::new(&Array::from(*master.expose_bytes())).encrypt_block(&mut k);
    let cipher = Aes128Enc::new(&k);
    let mut msg = vec![kind];
    msg.extend((label.len() as u64).to_le_bytes());
    msg.extend(label);
    for f in fields {
        msg.extend(f.to_le_bytes());
    }
    let mut padded = (msg.len() as u64).to_le_bytes().to_vec();
    padded.extend([0u8; 8]);
    padded.extend(&msg);
    padded.resize(padded.len().div_ceil(16) * 16, 0);
    let mut state = [0u8; 16];
    for block in padded.chunks_exact(16) {
        let mut b = Array::from(std::array::from_fn::<u8, 16, _>(|i| state[i] ^ block[i]));
        cipher.encrypt_block(&mut b);
        state = b.into();
    }
    state
}

#[test]
fn derivation_follows_the_documented_construction() {
    let m = master();
    let long = "a label longer than one block, to chain several CBC blocks";
    assert_eq!(m.derive("tensor").expose_bytes(), &spec(&m, 1, b"tensor", &[]));
    assert_eq!(m.derive(long).expose_bytes(), &spec(&m, 1, long.as_bytes(), &[]));
    assert_eq!(m.derive("").expose_bytes(), &spec(&m, 1, b"", &[]));
    assert_eq!(m.derive_indexed("step", 42).expose_bytes(), &spec(&m, 2, b"step", &[42]));
    assert_eq!(m.derive_pair("pair", 3, 1).expose_bytes(), &spec(&m, 3, b"pair", &[1, 3]));
    // Exactly one block of message (16 bytes): no padding block.
    assert_eq!(m.derive("1234567").expose_bytes(), &spec(&m, 1, b"1234567", &[]));
}

#[test]
fn deriver_and_seed_methods_agree() {
    let m = master();
    let d = SeedDeriver::new(&m);
    assert_eq!(d.derive(b"x"), m.derive("x"));
    assert_eq!(d.derive_indexed("x", 5), m.derive_indexed("x", 5));
    assert_eq!(d.derive_pair("x", 0, 1), m.derive_pair("x", 0, 1));
}

#[test]
fn distinct_inputs_give_distinct_seeds() {
    let d = SeedDeriver::new(&master());
    let mut seen = HashSet::new();
    let mut add = |s: Seed| assert!(seen.insert(s.expose_bytes().to_vec()), "repeated seed");
    // Labels of every length, including ones that are prefixes of each other.
    for len in 0..40 {
        add(d.derive(vec![b'a'; len]));
    }
    add(d.derive("\0"));
    add(d.derive("triple"));
    add(d.derive("triplf"));
    for index in 0..1000 {
        add(d.derive_indexed("triple", index));
    }
    add(d.derive_indexed("triple", u64::MAX));
    for a in 0..8 {
        for b in a..8 {
            add(d.derive_pair("triple", a, b));
        }
    }
    add(d.derive_pair("other", 0, 1));
    // The master seed itself never comes back out.
    add(master());
}

#[test]
fn pair_seeds_are_the_same_at_both_ends() {
    let d = SeedDeriver::new(&master());
    for a in 0..6 {
        for b in 0..6 {
            assert_eq!(d.derive_pair("p", a, b), d.derive_pair("p", b, a));
        }
    }
}

#[test]
fn different_masters_derive_different_seeds() {
    let other = Seed::from_bytes(*b"master seed 0002");
    assert_ne!(master().derive("x"), other.derive("x"));
}

#[test]
fn derived_seeds_are_not_blocks_of_the_master_stream() {
    let mut stream = vec![0u8; 1 << 16];
    Prg::new(&master()).fill_bytes(&mut stream);
    let blocks: HashSet<&[u8]> = stream.chunks_exact(16).collect();
    let d = SeedDeriver::new(&master());
    for i in 0..256 {
        assert!(!blocks.contains(&d.derive_indexed("i", i).expose_bytes()[..]));
    }
}

#[test]
fn derived_streams_differ() {
    let m = master();
    let mut a = Prg::new(&m.derive("a"));
    let mut b = Prg::new(&m.derive("b"));
    let mut base = Prg::new(&m);
    let (x, y, z) = (a.next_u64(), b.next_u64(), base.next_u64());
    assert!(x != y && x != z && y != z);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn label_index_pair_never_collide(
        label in proptest::collection::vec(any::<u8>(), 0..40),
        other in proptest::collection::vec(any::<u8>(), 0..40),
        index in any::<u64>(),
        a in 0usize..64,
        b in 0usize..64,
    ) {
        let d = SeedDeriver::new(&master());
        let plain = d.derive(&label);
        prop_assert_ne!(&plain, &d.derive_indexed(&label, index));
        prop_assert_ne!(&plain, &d.derive_pair(&label, a, b));
        prop_assert_ne!(&d.derive_indexed(&label, index), &d.derive_pair(&label, a, b));
        prop_assert_eq!(label == other, plain == d.derive(&other));
        prop_assert_eq!(d.derive_pair(&label, a, b), d.derive_pair(&label, b, a));
    }
}
