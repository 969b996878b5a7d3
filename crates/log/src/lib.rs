//! What a Chiaro binary's `main` shares at its edge, defined once (the Coordinator and the
//! initializer use it; the mesh proxy, the volume owner and the CLI not yet):
//!
//! - [`mod@format`]: the log set-up. `tracing` events to stderr with a level and a UTC
//!   timestamp; `RUST_LOG` sets the levels (`LEVEL` or
//!   `TARGET=LEVEL,...`, default `info`), and `--log-format text|json` (or
//!   `CHIARO_LOG_FORMAT`) the line format, JSON for log collectors (`docs/observability.md`).
//! - [`usage`]: a command line the binary cannot take exits 64 (`EX_USAGE`), not clap's 2;
//!   `--help` and `--version` exit 0.
//!
//! The start gate (`chiaro-start`, in every workload container) links neither: it is std only
//! and writes its few lines itself (`docs/observability.md`, "The start gate").

pub mod format;
pub mod usage;

pub use format::{LogError, LogFlags, LogFormat};
