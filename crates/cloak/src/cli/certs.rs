//! `cloak certs`: a deployment's TLS credentials. Each rank (the dealer included) gets a key
//! and a certificate naming its rank; by default a new deployment authority signs them all
//! (each party then needs the authority's certificate and its own key), or with `--pinned`
//! each is self-signed and every party lists all of them.

use std::path::PathBuf;

use clap::Args;
use cloak::comm::tls::Deployment;

use super::{CliError, CliResult, UNUSABLE};

#[derive(Debug, Args)]
pub(crate) struct CertsArgs {
    /// Directory to write into (created; existing files are never overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Ranks in all, the dealer included (2 computing parties and a dealer: 3).
    #[arg(long)]
    pub world: usize,
    /// Self-signed certificates, each pinned by every party, instead of an authority.
    #[arg(long)]
    pub pinned: bool,
}

pub(crate) fn run(args: &CertsArgs) -> CliResult<()> {
    if !(2..=9).contains(&args.world) {
        return Err(CliError::new(
            UNUSABLE,
            format!(
                "--world {}: a deployment has 2 to 9 ranks (8 parties and a dealer)",
                args.world
            ),
        ));
    }
    let deployment = Deployment::generate(args.world, args.pinned)?;
    let written = deployment.write_to(&args.out)?;
    println!("wrote {} files to {}:", written.len(), args.out.display());
    for rank in 0..args.world {
        println!(
            "  rank {rank}: rank-{rank}.pem, rank-{rank}.key (the key goes to rank {rank} only)"
        );
    }
    if args.pinned {
        println!("  every party also needs every rank-R.pem (pinned certificates)");
    } else {
        println!("  every party also needs ca.pem; keep ca.key offline (it signs new ranks)");
    }
    println!("run each party with --tls-dir DIR (or CLOAK_TLS_DIR=DIR) holding its own files");
    Ok(())
}
