//! The `cloak` command line: `inspect`, `infer`, `party` and `dealer` (see `cloak --help`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
