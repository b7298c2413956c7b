//! Private sum: N parties (default 2), each holding a private vector, learn the elementwise sum
//! and nothing else.
//!
//! Each party encodes its input in fixed point, splits it into N additive shares with the
//! cryptographic PRG, keeps one and sends one to each peer (one round). Every party adds the
//! shares it holds: the result is a sharing of the total, which is then revealed (one more
//! round). No party ever sees another's input: each share it receives is uniformly random.
//!
//! Run without launcher variables, the program starts N copies of itself as separate processes
//! talking TCP over loopback (as torchrun would) and prints what each party printed. Run with
//! `RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT` set (or SLURM / Open MPI variables), it
//! is one party of a deployment, on this machine or another.
//!
//! Options: `--parties N` (2..=16, default 2), `--len L` (default 5).

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloak_comm::runner::{ProcessRun, run_processes};
use cloak_comm::{CommConfig, Communicator, Launch, TcpComm};
use cloak_prg::Prg;
use cloak_ring::{FixedPoint, RingTensor};

struct Options {
    parties: usize,
    len: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut opts = Options { parties: 2, len: 5 };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> Result<usize, String> {
            let v = args.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: `{v}` is not a number"))
        };
        match a.as_str() {
            "--parties" => opts.parties = value("--parties")?,
            "--len" => opts.len = value("--len")?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !(2..=16).contains(&opts.parties) {
        return Err(format!("--parties must be in 2..=16, got {}", opts.parties));
    }
    Ok(opts)
}

/// This party's private input: amounts in [0, 1000) with cents, drawn from its own PRG.
fn private_input(prg: &mut Prg, len: usize) -> Vec<f64> {
    let mut raw = vec![0u64; len];
    prg.fill_u64(&mut raw);
    raw.iter().map(|r| (r % 100_000) as f64 / 100.0).collect()
}

fn party(opts: &Options) -> Result<(), Box<dyn Error>> {
    let config = CommConfig::with_timeouts(Duration::from_secs(30));
    let mut comm = TcpComm::from_env(&config)?;
    let (rank, world) = (comm.rank(), comm.world_size());
    let fp = FixedPoint::default();
    let mut prg = Prg::from_os_entropy()?;
    let start = Instant::now();

    let input = private_input(&mut prg, opts.len);
    let x = RingTensor::<u64>::encode_slice(&[opts.len], &input, fp)?;

    // Split x into `world` additive shares: world - 1 uniformly random ones and the rest.
    let mut shares: Vec<RingTensor<u64>> = Vec::with_capacity(world);
    let mut own = x.clone();
    for _ in 1..world {
        let mut r = vec![0u64; opts.len];
        prg.fill_u64(&mut r);
        let r = RingTensor::from_vec(&[opts.len], r)?;
        own = own.sub(&r)?;
        shares.push(r);
    }
    shares.insert(rank, own);
    let outgoing: Vec<Vec<u8>> = shares.iter().map(RingTensor::to_le_bytes).collect();
    let refs: Vec<&[u8]> = outgoing.iter().map(Vec::as_slice).collect();

    comm.set_label("share inputs");
    let received = comm.exchange_all(&refs)?;
    // Our share of the total: our own share of our input plus every peer's share for us.
    let mut sum_share = shares[rank].clone();
    for (peer, bytes) in received.iter().enumerate() {
        if peer != rank {
            sum_share = sum_share.add(&RingTensor::from_le_bytes(&[opts.len], bytes)?)?;
        }
    }

    comm.set_label("reveal sum");
    let all = comm.all_gather(&sum_share.to_le_bytes())?;
    let mut total = RingTensor::<u64>::zeros(&[opts.len]);
    for bytes in &all {
        total = total.add(&RingTensor::from_le_bytes(&[opts.len], bytes)?)?;
    }
    let total = total.decode(fp);
    let elapsed = start.elapsed();

    println!("party {rank} of {world}");
    // Each party prints its own input only (its own data, on its own terminal); the local
    // launcher shows all parties' output together for the demonstration.
    println!("  my private input : {input:?}");
    println!("  revealed sum     : {:?}", total.iter().collect::<Vec<_>>());
    println!("  wall time        : {:.3} ms", elapsed.as_secs_f64() * 1e3);
    println!("  communication    :\n{}", comm.stats());
    Ok(())
}

fn launch_local(opts: &Options) -> Result<bool, Box<dyn Error>> {
    println!(
        "Starting {} parties as separate processes over loopback TCP; each holds a private \
         vector of {} amounts.\n",
        opts.parties, opts.len
    );
    let run = ProcessRun {
        program: std::env::current_exe()?,
        args: std::env::args_os().skip(1).collect(),
        env: Vec::new(),
        parties: opts.parties,
        deadline: Duration::from_secs(60),
    };
    let reports = run_processes(&run)?;
    let mut ok = true;
    for r in &reports {
        print!("{}", r.stdout);
        if !r.success() {
            ok = false;
            eprintln!("party {} failed (timed out: {}):\n{}", r.rank, r.timed_out, r.stderr);
        }
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("shared_sum: {e}");
            return ExitCode::from(2);
        }
    };
    // Any launcher variable makes this process one party (a misconfiguration is then reported,
    // never papered over by a local simulation); none starts the local demonstration.
    let is_party = Launch::present();
    let result = if is_party { party(&opts).map(|()| true) } else { launch_local(&opts) };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("shared_sum: {e}");
            ExitCode::FAILURE
        }
    }
}
