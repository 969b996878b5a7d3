//! The `chiaro` command line.
//!
//! Exit codes: 0 verified, 3 evidence rejected, 4 could not verify (collateral missing or
//! expired), 64 usage error or unreadable input.
//!
//! # What this crate does not do
//! It holds no verification logic (that is `chiaro-attest`) and fetches no collateral: every
//! input comes from files named on the command line.

mod cli;
mod commands;
mod exit;
mod input;
mod output;
pub mod reports;

pub use cli::Cli;
pub use exit::Outcome;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// Parses `args`, runs the command and returns its exit code (the whole binary, testable in
/// process).
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() {
                Outcome::Usage.code()
            } else {
                Outcome::Verified.code()
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let outcome = commands::run(&cli);
    ExitCode::from(outcome.code())
}
