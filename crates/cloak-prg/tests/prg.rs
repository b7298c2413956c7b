//! The generator's stream: its definition, every way of reading it, parallel fills, seeking.

use cloak_prg::{AesCtr, PAR_MIN_BYTES, Prg, Seed};
use proptest::prelude::*;
use rand_core::{RngCore, SeedableRng};

fn seed(byte: u8) -> Seed {
    Seed::from_bytes([byte; 16])
}

/// The reference stream: AES-128-CTR with the seed as key, counter block from 0.
fn reference(seed: &Seed, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    AesCtr::new(seed.expose_bytes(), &[0; 16]).keystream(&mut out);
    out
}

fn le_u64s(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
}

fn le_u32s(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()
}

/// A pool with several threads, so the parallel path runs even on a one-core machine.
fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("thread pool")
}

#[test]
fn stream_is_aes_ctr_of_the_seed_from_counter_zero() {
    let s = seed(7);
    let mut prg = Prg::new(&s);
    let mut got = vec![0u8; 5000];
    prg.fill_bytes(&mut got);
    assert_eq!(got, reference(&s, 5000));
}

#[test]
fn words_are_little_endian_reads_of_the_stream() {
    let s = seed(8);
    let bytes = reference(&s, 64);
    let mut prg = Prg::new(&s);
    assert_eq!(prg.next_u64(), le_u64s(&bytes[..8])[0]);
    assert_eq!(prg.next_u32(), le_u32s(&bytes[8..12])[0]);
    assert_eq!(prg.next_u32(), le_u32s(&bytes[12..16])[0]);
    let mut words = [0u64; 6];
    prg.fill_u64(&mut words);
    assert_eq!(words.to_vec(), le_u64s(&bytes[16..64]));
}

#[test]
fn same_seed_same_stream_different_seed_different_stream() {
    let read = |s: &Seed| {
        let mut out = [0u64; 64];
        Prg::new(s).fill_u64(&mut out);
        out
    };
    assert_eq!(read(&seed(1)), read(&seed(1)));
    assert_ne!(read(&seed(1)), read(&seed(2)));
    let mut one_bit = [1u8; 16];
    one_bit[15] ^= 1;
    assert_ne!(read(&seed(1)), read(&Seed::from_bytes(one_bit)));
}

#[test]
fn seedable_rng_matches_new() {
    let mut a = Prg::from_seed([4; 16]);
    let mut b = Prg::new(&seed(4));
    assert_eq!(a.next_u64(), b.next_u64());
}

/// Every fill length from 0 to 100, after prefixes that leave the stream at every offset
/// inside a block (so the aligned fast path and the buffered path both run).
#[test]
fn fills_of_every_length_continue_the_stream() {
    let s = seed(9);
    for prefix in 0..17 {
        let mut prg = Prg::new(&s);
        let mut skip = vec![0u8; prefix];
        prg.fill_bytes(&mut skip);
        let mut got = Vec::new();
        for len in 0..=100 {
            let mut w64 = vec![0u64; len];
            prg.fill_u64(&mut w64);
            got.extend(w64.iter().flat_map(|w| w.to_le_bytes()));
            let mut w32 = vec![0u32; len];
            prg.fill_u32(&mut w32);
            got.extend(w32.iter().flat_map(|w| w.to_le_bytes()));
            let mut b = vec![0u8; len];
            prg.fill_bytes(&mut b);
            got.extend(b);
        }
        assert_eq!(got, reference(&s, prefix + got.len())[prefix..], "prefix {prefix}");
        assert_eq!(prg.byte_position(), (prefix + got.len()) as u128);
    }
}

#[test]
fn parallel_fill_equals_sequential_fill() {
    let s = seed(10);
    let words = PAR_MIN_BYTES / 8 * 3 + 13; // several pieces and a ragged last one
    for prefix in [0usize, 3, 8] {
        let mut seq = Prg::new(&s);
        let mut par = Prg::new(&s);
        let mut skip = vec![0u8; prefix];
        seq.fill_bytes(&mut skip);
        par.fill_bytes(&mut skip);

        let mut want = vec![0u64; words];
        seq.fill_u64(&mut want);
        let mut got = vec![0u64; words];
        pool().install(|| par.par_fill_u64(&mut got));
        assert!(got == want, "u64 fill differs at prefix {prefix}");

        let mut want32 = vec![0u32; words];
        seq.fill_u32(&mut want32);
        let mut got32 = vec![0u32; words];
        pool().install(|| par.par_fill_u32(&mut got32));
        assert!(got32 == want32, "u32 fill differs at prefix {prefix}");

        let mut want8 = vec![0u8; PAR_MIN_BYTES + 5];
        seq.fill_bytes(&mut want8);
        let mut got8 = vec![0u8; PAR_MIN_BYTES + 5];
        pool().install(|| par.par_fill_bytes(&mut got8));
        assert!(got8 == want8, "byte fill differs at prefix {prefix}");

        // Both generators are left at the same place in the stream.
        assert_eq!(par.byte_position(), seq.byte_position());
        assert_eq!(par.next_u64(), seq.next_u64());
    }
}

#[test]
fn small_parallel_fill_is_the_sequential_fill() {
    let mut a = Prg::new(&seed(11));
    let mut b = Prg::new(&seed(11));
    let (mut x, mut y) = ([0u64; 100], [0u64; 100]);
    a.par_fill_u64(&mut x);
    b.fill_u64(&mut y);
    assert_eq!(x, y);
}

#[test]
fn seek_moves_to_a_block() {
    let s = seed(12);
    let stream = reference(&s, 4096);
    let mut prg = Prg::new(&s);
    let mut skip = [0u8; 21];
    prg.fill_bytes(&mut skip);
    for block in [100u64, 0, 7, 255, 64] {
        prg.seek(block);
        assert_eq!(prg.byte_position(), u128::from(block) * 16);
        let at = block as usize * 16;
        assert_eq!(prg.next_u64(), le_u64s(&stream[at..at + 8])[0], "block {block}");
    }
}

#[test]
fn seeds_and_generators_do_not_print_secrets() {
    let s = Seed::from_bytes([0xab; 16]);
    assert_eq!(format!("{s:?}"), "Seed(<redacted>)");
    let text = format!("{:?}", Prg::new(&s));
    assert!(text.contains("redacted") && !text.contains("171"), "{text}");
}

#[test]
fn os_entropy_gives_fresh_seeds() {
    // Two equal 128-bit draws would happen with probability 2^-128.
    let a = Seed::from_os_entropy().expect("OS entropy");
    let b = Seed::from_os_entropy().expect("OS entropy");
    assert_ne!(a, b);
    let mut p = Prg::from_os_entropy().expect("OS entropy");
    let mut q = Prg::from_os_entropy().expect("OS entropy");
    assert_ne!(p.next_u64(), q.next_u64());
}

#[test]
fn random_seed_from_a_crypto_rng() {
    let mut rng = Prg::new(&seed(13));
    let a = Seed::random(&mut rng);
    let b = Seed::random(&mut rng);
    assert_ne!(a, b);
    assert_eq!(a.expose_bytes()[..], reference(&seed(13), 16)[..]);
}

#[derive(Debug, Clone)]
enum Read {
    U32,
    U64,
    Bytes(usize),
    Words32(usize),
    Words64(usize),
    ParWords64(usize),
}

fn read_strategy() -> impl Strategy<Value = Read> {
    prop_oneof![
        Just(Read::U32),
        Just(Read::U64),
        (0usize..2100).prop_map(Read::Bytes),
        (0usize..600).prop_map(Read::Words32),
        (0usize..300).prop_map(Read::Words64),
        (0usize..300).prop_map(Read::ParWords64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any mix of reads is one deterministic stream.
    #[test]
    fn any_mix_of_reads_is_one_stream(
        key in any::<[u8; 16]>(),
        reads in proptest::collection::vec(read_strategy(), 0..24),
    ) {
        let s = Seed::from_bytes(key);
        let mut prg = Prg::new(&s);
        let mut got = Vec::new();
        for read in reads {
            match read {
                Read::U32 => got.extend(prg.next_u32().to_le_bytes()),
                Read::U64 => got.extend(prg.next_u64().to_le_bytes()),
                Read::Bytes(n) => {
                    let mut b = vec![0u8; n];
                    prg.fill_bytes(&mut b);
                    got.extend(b);
                }
                Read::Words32(n) => {
                    let mut w = vec![0u32; n];
                    prg.fill_u32(&mut w);
                    got.extend(w.iter().flat_map(|x| x.to_le_bytes()));
                }
                Read::Words64(n) => {
                    let mut w = vec![0u64; n];
                    prg.fill_u64(&mut w);
                    got.extend(w.iter().flat_map(|x| x.to_le_bytes()));
                }
                Read::ParWords64(n) => {
                    let mut w = vec![0u64; n];
                    prg.par_fill_u64(&mut w);
                    got.extend(w.iter().flat_map(|x| x.to_le_bytes()));
                }
            }
        }
        prop_assert_eq!(&got, &reference(&s, got.len()));
        prop_assert_eq!(prg.byte_position(), got.len() as u128);
    }
}
