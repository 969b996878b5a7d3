//! The log set-up: `tracing` events to stderr, levels from `RUST_LOG`, text or JSON lines.

use std::str::FromStr as _;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The flag that selects the line format.
pub const FORMAT_FLAG: &str = "log-format";
/// The environment variable that selects it when the flag is not given.
pub const FORMAT_ENV: &str = "CHIARO_LOG_FORMAT";
/// The environment variable with the levels: `LEVEL`, or `TARGET=LEVEL` pairs and an optional
/// default `LEVEL`, comma-separated (`tracing_subscriber::filter::Targets`; no regular
/// expressions, no span filters).
pub const LEVELS_ENV: &str = "RUST_LOG";
/// The levels without `RUST_LOG`.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `TIMESTAMP LEVEL TARGET: MESSAGE FIELD=VALUE...`, for people.
    #[default]
    Text,
    /// One JSON object per line, the event's fields at the top level beside `timestamp`,
    /// `level` and `target`, for log collectors.
    Json,
}

/// The log flag every binary flattens into its own.
#[derive(Debug, Clone, clap::Args)]
pub struct LogFlags {
    /// How log lines (stderr) are written: text for people, json (one object per line) for log
    /// collectors. Levels come from RUST_LOG (LEVEL or TARGET=LEVEL,...; default info).
    #[arg(long = FORMAT_FLAG, env = FORMAT_ENV, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// The log set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `RUST_LOG` is not `LEVEL` or `TARGET=LEVEL,...`.
    #[error(
        "{LEVELS_ENV}={value:?} is not LEVEL or TARGET=LEVEL,... (levels: off, error, warn, info, debug, trace)"
    )]
    Levels {
        /// What it holds.
        value: String,
        /// Why it does not parse.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// `RUST_LOG` is not Unicode.
    #[error("{LEVELS_ENV} is not valid Unicode")]
    LevelsNotUnicode,
    /// A subscriber was installed before.
    #[error("the log was set up twice")]
    Twice(#[source] tracing_subscriber::util::TryInitError),
}

impl LogFlags {
    /// As [`Self::try_init`]; a failure is written to stderr as `PROGRAM: ERROR: CAUSE...`
    /// and is a usage error.
    ///
    /// # Errors
    /// The exit code the binary returns at once ([`crate::usage::EX_USAGE`]).
    pub fn init(&self, program: &str) -> Result<(), std::process::ExitCode> {
        self.try_init().map_err(|error| {
            let mut line = format!("{program}: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                line.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            #[expect(
                clippy::print_stderr,
                reason = "there is no log to write to: setting it up failed"
            )]
            {
                eprintln!("{line}");
            }
            std::process::ExitCode::from(crate::usage::EX_USAGE)
        })
    }

    /// Installs the process's subscriber with these flags and `RUST_LOG`.
    ///
    /// # Errors
    /// [`LogError::Levels`] for a `RUST_LOG` that does not parse (a usage error).
    pub fn try_init(&self) -> Result<(), LogError> {
        let levels = match std::env::var(LEVELS_ENV) {
            Ok(value) => levels(&value)?,
            Err(std::env::VarError::NotPresent) => Targets::new().with_default(DEFAULT_LEVEL),
            Err(std::env::VarError::NotUnicode(_)) => return Err(LogError::LevelsNotUnicode),
        };
        init(self.log_format, levels)
    }
}

/// The filter `RUST_LOG`'s `value` means; empty means the default.
///
/// # Errors
/// [`LogError::Levels`]: not `LEVEL` or `TARGET=LEVEL,...`.
pub fn levels(value: &str) -> Result<Targets, LogError> {
    if value.trim().is_empty() {
        return Ok(Targets::new().with_default(DEFAULT_LEVEL));
    }
    Targets::from_str(value).map_err(|source| LogError::Levels {
        value: value.to_owned(),
        source,
    })
}

fn init(format: LogFormat, levels: Targets) -> Result<(), LogError> {
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(levels);
    match format {
        LogFormat::Text => registry.with(lines).try_init(),
        LogFormat::Json => registry
            .with(
                lines
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false),
            )
            .try_init(),
    }
    .map_err(LogError::Twice)
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn rust_log_sets_the_default_level_and_per_target_levels() {
        let targets = levels("warn,chiaro::audit=info").unwrap();
        assert!(targets.would_enable("chiaro::audit", &Level::INFO));
        assert!(!targets.would_enable("chiaro_mesh", &Level::INFO));
        assert!(targets.would_enable("chiaro_mesh", &Level::WARN));
        let default = levels("").unwrap();
        assert!(default.would_enable("anything", &Level::INFO));
        assert!(!default.would_enable("anything", &Level::DEBUG));
    }

    #[test]
    fn a_rust_log_that_does_not_parse_is_named() {
        let error = levels("chiaro=loud").unwrap_err();
        assert!(
            error.to_string().contains("RUST_LOG=\"chiaro=loud\""),
            "{error}"
        );
    }
}
