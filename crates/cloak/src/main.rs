//! The `cloak` command line: `inspect`, `infer`, `party`, `dealer` and `deploy` (see
//! `cloak --help`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
