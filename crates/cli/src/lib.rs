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
mod config;
mod exit;
mod input;
mod output;
pub mod reports;

pub use cli::Cli;
pub use exit::Outcome;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

/// Parses `args` (with `chiaro.toml`'s values as the flags' defaults, `config`), runs the
/// command and returns its exit code (the whole binary, testable in process).
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let command = match config::load(&args) {
        Ok(Some(config)) => config.apply(Cli::command()),
        Ok(None) => Cli::command(),
        Err(error) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {error:#}");
            return ExitCode::from(Outcome::Usage.code());
        }
    };
    let parsed = command
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
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
