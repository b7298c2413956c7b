//! cloak-prg rows: AES-128-CTR keystream throughput.

use cloak_prg::{Prg, Seed, aes_backend};

use crate::harness::{Better, Options, Reps, Row, time};
use crate::limits;

const BUFFER_BYTES: usize = 64 << 20;

fn row(name: String, parallel: bool, reps: Reps) -> Row {
    let mut prg = Prg::new(&Seed::from([7u8; 16]));
    let mut buf = vec![0u64; BUFFER_BYTES / 8];
    let t = time(reps, || {
        if parallel {
            prg.par_fill_u64(&mut buf);
        } else {
            prg.fill_u64(&mut buf);
        }
        std::hint::black_box(&buf);
    });
    let threads = if parallel { rayon::current_num_threads() } else { 1 };
    Row {
        name,
        value: BUFFER_BYTES as f64 / t.median.as_secs_f64() / 1e9,
        unit: "GB/s",
        limit: Some(limits::AES_CTR_GBPS * threads as f64),
        limit_label: "C AES-NI CTR, per core x threads",
        better: Better::Higher,
        estimate: None,
        note: format!("aes backend {}", aes_backend()),
    }
}

/// The PRG rows that `wanted` keeps.
pub fn rows(opts: &Options, wanted: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let quick = opts.quick;
    let reps = if quick { Reps { warmup: 1, timed: 3 } } else { Reps { warmup: 2, timed: 15 } };
    let threads = rayon::current_num_threads();
    [(false, "1 thread".to_string()), (true, format!("{threads} threads"))]
        .into_iter()
        .map(|(parallel, label)| (parallel, format!("PRG AES-128-CTR fill_u64 64 MiB, {label}")))
        .filter(|(_, name)| wanted(name))
        .map(|(parallel, name)| row(name, parallel, reps))
        .collect()
}
