//! The runs of the zero-sharing streams a device reads: the same words as the zero shares
//! drawn on the host, with the streams moved on alike.

use cloak_prg::{PairwiseSeeds, Prg, Seed};

/// The words of a stream run, read with a `Prg` of its key.
fn run_words(run: Option<cloak_prg::StreamRun>, n: usize) -> Vec<u64> {
    let Some(run) = run else { return vec![0; n] };
    let mut prg = Prg::new(&Seed::from_bytes(run.key));
    prg.seek(run.first_word / 2);
    let mut words = vec![0u64; n + 1];
    prg.fill_u64(&mut words);
    let skip = (run.first_word % 2) as usize;
    words[skip..skip + n].to_vec()
}

#[test]
fn zero_share_runs_describe_the_zero_shares_and_move_the_streams_alike() {
    let master = Seed::from_bytes(*b"przs runs master");
    for world in [2, 3, 4] {
        for rank in 0..world {
            let mut by_words = PairwiseSeeds::from_master(&master, rank, world).unwrap();
            let mut by_runs = PairwiseSeeds::from_master(&master, rank, world).unwrap();
            for n in [5, 64, 1, 300] {
                let mut want = vec![0u64; n];
                by_words.zero_share_u64(&mut want);
                let runs = by_runs.zero_share_runs(n).expect("word-aligned streams");
                let (plus, minus) = (run_words(runs.plus, n), run_words(runs.minus, n));
                let got: Vec<u64> =
                    plus.iter().zip(&minus).map(|(p, m)| p.wrapping_sub(*m)).collect();
                assert_eq!(got, want, "world {world}, rank {rank}, {n} words");
            }
            // Both moved on alike: the next shares agree too.
            let (mut a, mut b) = (vec![0u64; 7], vec![0u64; 7]);
            by_words.zero_share_u64(&mut a);
            by_runs.zero_share_u64(&mut b);
            assert_eq!(a, b);
            // After an odd number of u32 words the streams are mid-word: no runs, nothing moved.
            by_runs.zero_share_u32(&mut [0u32; 3]);
            assert!(by_runs.zero_share_runs(4).is_none());
            let runs = by_words.zero_share_runs(1).expect("word-aligned streams");
            assert!(!format!("{runs:?}").contains("key"), "a run's Debug shows no key");
        }
    }
}
