//! The `avarisk` binary: parse arguments, run, map the outcome to an exit code. All logic lives in the library.
use std::process::ExitCode;

fn main() -> ExitCode {
    avarisk::cli::main()
}
