//! The Coordinator process: configuration, the two attested gRPC listeners, and the state.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chiaro_api::v1::mesh_api_server::MeshApiServer;
use chiaro_api::v1::user_api_server::UserApiServer;
use chiaro_atls::{Clock, ServerConfig};
use chiaro_attest::UnixTime;
use chiaro_attest_guest::EvidenceSource;
use tokio::net::TcpListener;

use crate::metrics::{Api, Metrics};
use crate::service::{ManifestValidator, MeshService, UserService};
use crate::state::Coordinator;
use crate::store::DirStore;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The state directory.
    pub state_dir: PathBuf,
    /// The user API address (server-attested).
    pub user_api: SocketAddr,
    /// The mesh API address (mutually attested).
    pub mesh_api: SocketAddr,
    /// The plain-HTTP status address (`/healthz`, `/readyz`, `/metrics`).
    pub status: SocketAddr,
    /// The evidence source.
    pub evidence: EvidenceSource,
}

/// Writes one log line to stderr.
pub fn log(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "chiaro-coordinator: {line}");
}

/// The system clock, read here and nowhere else in the Coordinator.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        #[expect(
            clippy::disallowed_methods,
            reason = "the Coordinator reads the clock at its edge"
        )]
        let now = std::time::SystemTime::now();
        UnixTime::from_secs(
            now.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    })
}

/// Runs the Coordinator until either listener fails.
///
/// # Errors
/// A corrupt state, an unreadable simulated TEE, or a listener that cannot bind.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = DirStore::open(&config.state_dir).context("opening the state directory")?;
    let coordinator = Arc::new(Coordinator::open(store).context("loading the persisted state")?);
    log(&format!(
        "state {} in {}",
        coordinator.state_name(),
        config.state_dir.display()
    ));
    if config.evidence.is_insecure() {
        log(
            "WARNING: INSECURE simulated TEE: this Coordinator's evidence proves nothing about hardware",
        );
    }
    let issuer = config
        .evidence
        .issuer(system_clock())
        .map_err(anyhow::Error::msg)?;
    let clock = system_clock();
    let user_tls = Arc::new(ServerConfig::new(
        Some(Arc::clone(&issuer)),
        None,
        Arc::clone(&clock),
    )?);
    let mesh_tls = Arc::new(ServerConfig::new(
        Some(issuer),
        Some(Arc::new(ManifestValidator::new(Arc::clone(&coordinator)))),
        Arc::clone(&clock),
    )?);
    let user_listener = TcpListener::bind(config.user_api)
        .await
        .with_context(|| format!("binding {}", config.user_api))?;
    let mesh_listener = TcpListener::bind(config.mesh_api)
        .await
        .with_context(|| format!("binding {}", config.mesh_api))?;
    log(&format!(
        "user API on {}, mesh API on {}",
        user_listener.local_addr()?,
        mesh_listener.local_addr()?
    ));
    let status_listener = TcpListener::bind(config.status)
        .await
        .with_context(|| format!("binding {}", config.status))?;
    log(&format!(
        "status (/healthz, /readyz, /metrics) on {}",
        status_listener.local_addr()?
    ));
    let metrics = Arc::new(Metrics::default());
    let refused = |api: Api, name: &'static str| {
        let metrics = Arc::clone(&metrics);
        move |address: Option<SocketAddr>, error: chiaro_atls::AtlsError| {
            metrics.attestation_refused(api);
            let address = address.map_or_else(|| "?".to_owned(), |a| a.to_string());
            log(&format!("{name}: refused {address}: {}", chain(&error)));
        }
    };
    let user_service = UserService::new(
        Arc::clone(&coordinator),
        Arc::clone(&clock),
        Arc::clone(&metrics),
    );
    let user = tonic::transport::Server::builder()
        .add_service(UserApiServer::new(user_service))
        .serve_with_incoming(chiaro_api::transport::incoming(
            user_listener,
            user_tls,
            refused(Api::User, "user API"),
        ));
    let mesh_service = MeshService::new(Arc::clone(&coordinator), clock, Arc::clone(&metrics));
    let mesh = tonic::transport::Server::builder()
        .add_service(MeshApiServer::new(mesh_service))
        .serve_with_incoming(chiaro_api::transport::incoming(
            mesh_listener,
            mesh_tls,
            refused(Api::Mesh, "mesh API"),
        ));
    let status = crate::http::serve(status_listener, coordinator, metrics);
    tokio::select! {
        result = user => result.context("user API")?,
        result = mesh => result.context("mesh API")?,
        result = status => result.context("status port")?,
    }
    Ok(())
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
