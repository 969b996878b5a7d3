//! `chiaro-initializer`: parse flags, set up the log, run, map the outcome to an exit code (1:
//! it failed; 64: a command line or `RUST_LOG` it cannot take).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chiaro_guest_issuer::{EvidenceSource, flags};
use chiaro_initializer::app::{self, Config};
use chiaro_log::{LogFlags, usage};
use chiaro_pod::layout::{MOUNT, START_GATE_NAME};
use chiaro_pod::{CredentialsDir, env, with_causes};
use clap::Parser;

/// The Chiaro initializer.
#[derive(Debug, Parser)]
#[command(version)]
struct Flags {
    /// The Coordinator's mesh API (`chiaro generate` sets it in the pod's environment).
    #[arg(
        long,
        env = env::COORDINATOR,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:7777"
    )]
    coordinator: String,
    /// What the pod pins about its deployment (the Coordinator's reference values, pinned to
    /// its policy hash, and the workload-owner keys), from a file.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "deployment_anchor_json"
    )]
    deployment_anchor: Option<PathBuf>,
    /// The same as JSON text (`chiaro generate` sets it in the pod's environment, where the
    /// policy pins it).
    #[arg(
        long,
        env = env::DEPLOYMENT_ANCHOR,
        value_name = "JSON",
        conflicts_with = "deployment_anchor"
    )]
    deployment_anchor_json: Option<String>,
    /// Where to write `tls/`, `secrets/` and, last, `bin/chiaro-start`.
    #[arg(long, default_value = MOUNT)]
    out: PathBuf,
    /// The `chiaro-start` binary to install for the workload containers (default: the one beside
    /// this binary, as in the initializer's image).
    #[arg(long, value_name = "FILE")]
    start_binary: Option<PathBuf>,
    /// Seconds to keep retrying while the Coordinator is not ready.
    #[arg(long, default_value_t = 300)]
    patience_secs: u64,
    /// INSECURE: attest with the simulated TEE in this file instead of configfs-tsm.
    #[arg(long = flags::INSECURE_SIMULATED_TEE, value_name = "FILE")]
    insecure_simulated_tee: Option<PathBuf>,
    /// With --insecure-simulated-tee: the launch measurement to report (96 hex).
    #[arg(long = flags::INSECURE_SIMULATED_MEASUREMENT, value_name = "HEX", requires = "insecure_simulated_tee")]
    insecure_simulated_measurement: Option<chiaro_attest::Measurement>,
    /// With --insecure-simulated-tee: the HOST_DATA (this pod's policy hash) to report (64 hex).
    #[arg(long = flags::INSECURE_SIMULATED_HOST_DATA, value_name = "HEX", requires = "insecure_simulated_tee")]
    insecure_simulated_host_data: Option<chiaro_attest::HostData>,
    #[command(flatten)]
    log: LogFlags,
}

fn config(flags: Flags) -> anyhow::Result<Config> {
    let (text, origin) = match (&flags.deployment_anchor, flags.deployment_anchor_json) {
        (Some(path), _) => (
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
            path.display().to_string(),
        ),
        (None, Some(json)) => (json, env::DEPLOYMENT_ANCHOR.to_owned()),
        (None, None) => anyhow::bail!("no deployment anchor"),
    };
    let anchor = chiaro_manifest::DeploymentAnchor::parse(&text)
        .with_context(|| format!("deployment anchor {origin}"))?;
    let coordinator = resolve(&flags.coordinator)?;
    let start_binary = match flags.start_binary {
        Some(path) => path,
        None => std::env::current_exe()
            .context("locating this binary")?
            .with_file_name(START_GATE_NAME),
    };
    anyhow::ensure!(
        start_binary.is_file(),
        "the start gate {} is missing (--start-binary)",
        start_binary.display()
    );
    let evidence = EvidenceSource::from_flags(
        flags.insecure_simulated_tee,
        flags.insecure_simulated_measurement,
        flags.insecure_simulated_host_data,
    );
    Ok(Config {
        coordinator,
        anchor,
        out: CredentialsDir::new(flags.out),
        start_binary,
        evidence,
        patience: Duration::from_secs(flags.patience_secs),
    })
}

/// `host:port` to an address (the first the resolver gives).
fn resolve(coordinator: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs as _;
    coordinator
        .to_socket_addrs()
        .with_context(|| format!("resolving the Coordinator {coordinator:?}"))?
        .next()
        .with_context(|| format!("the Coordinator {coordinator:?} has no address"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let flags = match usage::parse::<Flags>() {
        Ok(flags) => flags,
        Err(code) => return code,
    };
    if let Err(code) = flags.log.init("chiaro-initializer") {
        return code;
    }
    let result = match config(flags) {
        Ok(config) => app::run(config).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{}", with_causes(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
