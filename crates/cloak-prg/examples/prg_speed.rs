//! Throwaway throughput check for the PRG; the official figures come from the workspace's
//! `benches/` crate.
//!
//! `cargo run --release -p cloak-prg --example prg_speed`

use std::hint::black_box;
use std::time::Instant;

use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use cloak_prg::{AesCtr, PairwiseSeeds, Prg, Seed, aes_backend};
use rand_core::RngCore;

const BYTES: usize = 64 << 20;
const REPS: usize = 10;

/// Best-of-`REPS` throughput in GB/s (10^9 bytes per second) of `f` producing `BYTES` bytes.
fn best_gbps(mut f: impl FnMut()) -> f64 {
    f(); // warm up: page faults, thread pool
    let mut best = f64::INFINITY;
    for _ in 0..REPS {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    BYTES as f64 / best / 1e9
}

fn report(what: &str, gbps: f64) {
    println!("{what:<44} {gbps:6.2} GB/s");
}

fn main() {
    println!("aes backend: {}, rayon threads: {}", aes_backend(), rayon::current_num_threads());
    let seed = Seed::from_bytes([7; 16]);
    let mut prg = Prg::new(&seed);
    let mut words = vec![0u64; BYTES / 8];

    // Context: what the memory and the bare `aes` crate allow on this machine.
    report("ref: vector fill of 64 MiB", best_gbps(|| black_box(&mut words).fill(black_box(1))));
    let cipher = aes::Aes128Enc::new(&Array::from([3u8; 16]));
    let mut l1 = [[0u8; 16]; 64];
    report(
        "ref: aes encrypt_blocks, 1 KiB in L1",
        best_gbps(|| {
            for _ in 0..BYTES / 1024 {
                cipher.encrypt_blocks(Array::cast_slice_from_core_mut(black_box(&mut l1)));
            }
        }),
    );

    report("fill_u64 64 MiB, 1 thread", best_gbps(|| prg.fill_u64(black_box(&mut words))));
    let mut words32 = vec![0u32; BYTES / 4];
    report("fill_u32 64 MiB, 1 thread", best_gbps(|| prg.fill_u32(black_box(&mut words32))));
    let mut bytes = vec![0u8; BYTES];
    report("fill_bytes 64 MiB, 1 thread", best_gbps(|| prg.fill_bytes(black_box(&mut bytes))));
    let mut ctr = AesCtr::new(&[1; 16], &[0; 16]);
    report(
        "AesCtr::apply_keystream 64 MiB, 1 thread",
        best_gbps(|| ctr.apply_keystream(black_box(&mut bytes))),
    );
    let mut small = [0u64; 64];
    report(
        "fill_u64 in 512 B calls, 1 thread",
        best_gbps(|| {
            for _ in 0..BYTES / 512 {
                prg.fill_u64(black_box(&mut small));
            }
        }),
    );
    report(
        "next_u64 loop, 1 thread",
        best_gbps(|| {
            let mut acc = 0u64;
            for _ in 0..BYTES / 8 {
                acc ^= prg.next_u64();
            }
            black_box(acc);
        }),
    );
    report(
        "par_fill_u64 64 MiB, all threads",
        best_gbps(|| prg.par_fill_u64(black_box(&mut words))),
    );
    let mut przs = PairwiseSeeds::from_master(&seed, 1, 3).expect("valid layout");
    report(
        "zero_share_u64 64 MiB, 3 parties, all threads",
        best_gbps(|| przs.zero_share_u64(black_box(&mut words))),
    );
}
