//! A command line the binary cannot take is a usage error: exit 64 (`EX_USAGE` of
//! `sysexits.h`), not clap's 2, so a launcher can tell it from a failure at run time (1).

use std::process::ExitCode;

/// The exit status of a usage error.
pub const EX_USAGE: u8 = 64;

/// The flags of `F` from the process's arguments; on `--help` or `--version`, the text on
/// stdout and `Err(0)`; on an error, the message on stderr and `Err(64)`.
///
/// # Errors
/// The exit code the binary returns at once.
pub fn parse<F: clap::Parser>() -> Result<F, ExitCode> {
    parse_from(std::env::args_os())
}

/// As [`parse`], from `args` (the first is the program's name).
///
/// # Errors
/// The exit code the binary returns at once.
pub fn parse_from<F: clap::Parser>(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<F, ExitCode> {
    F::try_parse_from(args).map_err(|error| {
        // Writes help and version to stdout, errors to stderr; nothing to do if that fails.
        let _ = error.print();
        if error.use_stderr() {
            ExitCode::from(EX_USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })
}
