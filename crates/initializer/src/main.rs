//! `chiaro-initializer`: parse flags, run, map the outcome to an exit code.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chiaro_attest_guest::EvidenceSource;
use chiaro_initializer::app::{self, Config};
use clap::Parser;

/// The Chiaro initializer.
#[derive(Debug, Parser)]
#[command(version)]
struct Flags {
    /// The Coordinator's mesh API.
    #[arg(long, default_value = "127.0.0.1:7777")]
    coordinator: SocketAddr,
    /// Reference values the Coordinator's evidence must satisfy (a manifest's
    /// `reference_values` object).
    #[arg(long, value_name = "FILE")]
    coordinator_reference: PathBuf,
    /// Where to write `tls/` and `secrets/`.
    #[arg(long, default_value = "/chiaro")]
    out: PathBuf,
    /// Seconds to keep retrying while the Coordinator is not ready.
    #[arg(long, default_value_t = 300)]
    patience_secs: u64,
    /// INSECURE: attest with the simulated TEE in this file instead of configfs-tsm.
    #[arg(long, value_name = "FILE")]
    insecure_simulated_tee: Option<PathBuf>,
    /// With --insecure-simulated-tee: the launch measurement to report (96 hex).
    #[arg(long, value_name = "HEX", requires = "insecure_simulated_tee")]
    insecure_simulated_measurement: Option<chiaro_attest::Measurement>,
    /// With --insecure-simulated-tee: the HOST_DATA (this pod's policy hash) to report (64 hex).
    #[arg(long, value_name = "HEX", requires = "insecure_simulated_tee")]
    insecure_simulated_host_data: Option<chiaro_attest::HostData>,
}

fn config(flags: Flags) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(&flags.coordinator_reference)
        .with_context(|| format!("reading {}", flags.coordinator_reference.display()))?;
    let coordinator_reference = chiaro_manifest::ReferenceValueSets::parse(&text)
        .with_context(|| format!("reference values {}", flags.coordinator_reference.display()))?;
    let evidence = EvidenceSource::from_flags(
        flags.insecure_simulated_tee,
        flags.insecure_simulated_measurement,
        flags.insecure_simulated_host_data,
    );
    Ok(Config {
        coordinator: flags.coordinator,
        coordinator_reference,
        out: flags.out,
        evidence,
        patience: Duration::from_secs(flags.patience_secs),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match config(Flags::parse()) {
        Ok(config) => app::run(config).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            app::log(&format!("error: {error:#}"));
            ExitCode::FAILURE
        }
    }
}
