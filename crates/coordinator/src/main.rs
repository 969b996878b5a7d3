//! `chiaro-coordinator`: parse flags, set up the log, run, map the outcome to an exit code (1: it
//! failed; 64: a command line or `RUST_LOG` it cannot take).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chiaro_api::endpoints;
use chiaro_coordinator::app::{self, Config, LimitFlags, Listeners};
use chiaro_guest_issuer::{EvidenceSource, flags};
use chiaro_log::{LogFlags, usage};
use clap::Parser;

/// The Chiaro Coordinator.
#[derive(Debug, Parser)]
#[command(version)]
struct Flags {
    /// The state directory (persisted history and CA certificates; no secrets).
    #[arg(long, default_value = endpoints::STATE_DIR)]
    state_dir: PathBuf,
    /// Address of the user API (server-attested TLS); port 0: one the system chooses.
    #[arg(long, default_value_t = on_every_address(endpoints::USER_API_PORT))]
    user_api: SocketAddr,
    /// Address of the mesh API (mutually attested TLS); port 0: one the system chooses.
    #[arg(long, default_value_t = on_every_address(endpoints::MESH_API_PORT))]
    mesh_api: SocketAddr,
    /// Address of the plain-HTTP status port (/healthz, /readyz, /metrics); port 0: one the
    /// system chooses.
    #[arg(long, default_value_t = on_every_address(endpoints::STATUS_PORT))]
    status: SocketAddr,
    /// Once serving, write the addresses the three listeners are bound to (the ports chosen
    /// for port 0) to FILE, atomically, as JSON: {"user_api": ADDR, "mesh_api": ADDR,
    /// "status": ADDR}. A stale FILE is removed at start; its directory must exist.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// INSECURE: attest with the simulated TEE in this file instead of configfs-tsm.
    #[arg(long = flags::INSECURE_SIMULATED_TEE, value_name = "FILE")]
    insecure_simulated_tee: Option<PathBuf>,
    /// With --insecure-simulated-tee: the launch measurement to report (96 hex).
    #[arg(long = flags::INSECURE_SIMULATED_MEASUREMENT, value_name = "HEX", requires = "insecure_simulated_tee")]
    insecure_simulated_measurement: Option<chiaro_attest::Measurement>,
    /// With --insecure-simulated-tee: the HOST_DATA (policy hash) to report (64 hex).
    #[arg(long = flags::INSECURE_SIMULATED_HOST_DATA, value_name = "HEX", requires = "insecure_simulated_tee")]
    insecure_simulated_host_data: Option<chiaro_attest::HostData>,
    #[command(flatten)]
    limits: LimitFlags,
    #[command(flatten)]
    log: LogFlags,
}

/// `0.0.0.0:port`.
fn on_every_address(port: u16) -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], port))
}

#[tokio::main]
async fn main() -> ExitCode {
    let flags = match usage::parse::<Flags>() {
        Ok(flags) => flags,
        Err(code) => return code,
    };
    if let Err(code) = flags.log.init("chiaro-coordinator") {
        return code;
    }
    let evidence = EvidenceSource::from_flags(
        flags.insecure_simulated_tee,
        flags.insecure_simulated_measurement,
        flags.insecure_simulated_host_data,
    );
    let config = Config {
        state_dir: flags.state_dir,
        evidence,
        limits: flags.limits.limits(),
        ready_file: flags.ready_file,
    };
    let result = match Listeners::bind(flags.user_api, flags.mesh_api, flags.status).await {
        Ok(listeners) => app::run(config, listeners).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
