//! The Coordinator process: configuration, the two attested gRPC listeners, and the state.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chiaro_api::admission::{Admission, LimitedIssuer, Limits, ListenerEvent};
use chiaro_api::v1::mesh_api_server::MeshApiServer;
use chiaro_api::v1::user_api_server::UserApiServer;
use chiaro_atls::{Clock, ServerConfig};
use chiaro_attest::UnixTime;
use chiaro_guest_issuer::EvidenceSource;
use tokio::net::TcpListener;

use crate::evidence_check::{self, EvidenceCheck};
use crate::metrics::{Api, Metrics};
use crate::service::{ManifestValidator, MeshService, UserService};
use crate::state::Coordinator;
use crate::store::DirStore;
use chiaro_api::ready::{self, BoundAddresses};

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The state directory.
    pub state_dir: PathBuf,
    /// The evidence source.
    pub evidence: EvidenceSource,
    /// The caps of each attested listener (each has its own).
    pub limits: Limits,
    /// Where to report the listeners' bound addresses once serving ([`chiaro_api::ready`]).
    pub ready_file: Option<PathBuf>,
}

/// The Coordinator's three listeners, bound by the caller: the binary binds its flags'
/// addresses (port 0: the system's choice, reported in its ready file), a test binds port 0
/// and reads the addresses back, so no test races for a port.
#[derive(Debug)]
pub struct Listeners {
    /// The user API (server-attested).
    pub user_api: TcpListener,
    /// The mesh API (mutually attested).
    pub mesh_api: TcpListener,
    /// The plain-HTTP status port (`/healthz`, `/readyz`, `/metrics`).
    pub status: TcpListener,
}

impl Listeners {
    /// Binds the three addresses.
    ///
    /// # Errors
    /// An address that cannot be bound.
    pub async fn bind(
        user_api: SocketAddr,
        mesh_api: SocketAddr,
        status: SocketAddr,
    ) -> anyhow::Result<Self> {
        let bind = |address: SocketAddr| async move {
            TcpListener::bind(address)
                .await
                .with_context(|| format!("binding {address}"))
        };
        Ok(Self {
            user_api: bind(user_api).await?,
            mesh_api: bind(mesh_api).await?,
            status: bind(status).await?,
        })
    }
}

/// How long an established connection may serve: its place is not held forever. A client that
/// keeps its channel reconnects (and attests) after the server's GOAWAY.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(10 * 60);
/// How long a connection past its age may finish its requests.
const MAX_CONNECTION_AGE_GRACE: Duration = Duration::from_secs(30);

/// The listener caps as flags (`chiaro-coordinator` flattens them into its own).
#[derive(Debug, Clone, clap::Args)]
pub struct LimitFlags {
    /// Connections an attested listener holds at once, unauthenticated or established.
    #[arg(
        long,
        default_value_t = Limits::DEFAULT.connections as u64,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    max_connections: u64,
    /// Of those, from one source address (IPv4, or IPv6 /64).
    #[arg(
        long,
        default_value_t = Limits::DEFAULT.connections_per_source as u64,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    max_connections_per_source: u64,
    /// Connections still in the TLS handshake or attestation exchange, at once.
    #[arg(
        long,
        default_value_t = Limits::DEFAULT.pre_auth as u64,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    max_pre_auth: u64,
    /// Of those, from one source address.
    #[arg(
        long,
        default_value_t = Limits::DEFAULT.pre_auth_per_source as u64,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    max_pre_auth_per_source: u64,
    /// Seconds a connection has to finish the TLS handshake and the attestation exchange.
    #[arg(
        long,
        default_value_t = Limits::DEFAULT.pre_auth_timeout.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pre_auth_timeout_secs: u64,
}

impl LimitFlags {
    /// The caps.
    pub fn limits(&self) -> Limits {
        let count = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
        Limits {
            connections: count(self.max_connections),
            connections_per_source: count(self.max_connections_per_source),
            pre_auth: count(self.max_pre_auth),
            pre_auth_per_source: count(self.max_pre_auth_per_source),
            pre_auth_timeout: Duration::from_secs(self.pre_auth_timeout_secs),
        }
    }
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

/// Runs the Coordinator on `listeners` until either gRPC server fails: opens the state, sets
/// up the evidence and the two attested TLS configurations, writes the ready file (when
/// configured: the listeners' bound addresses, [`BoundAddresses`]), then serves.
///
/// # Errors
/// A corrupt state, an unreadable simulated TEE, a ready file that cannot be written, or a
/// listener that fails.
pub async fn run(config: Config, listeners: Listeners) -> anyhow::Result<()> {
    if let Some(path) = &config.ready_file {
        ready::remove_stale(path)?;
    }
    let coordinator = open_state(config.state_dir.clone()).await?;
    if config.evidence.is_insecure() {
        tracing::warn!(
            "INSECURE simulated TEE: this Coordinator's evidence proves nothing about hardware"
        );
    }
    warn_if_few_descriptors(config.limits);
    let issuer = config
        .evidence
        .issuer(system_clock())
        .context("setting up this process's evidence")?;
    // Readiness is decided before anyone is told where to connect.
    let evidence = EvidenceCheck::new();
    evidence.check(&issuer).await;
    let tls = AttestedTls::new(
        Arc::clone(&issuer),
        &coordinator,
        config.limits,
        system_clock(),
    )?;
    let addresses =
        BoundAddresses::of(&listeners.user_api, &listeners.mesh_api, &listeners.status)?;
    log_addresses(&addresses);
    if let Some(path) = &config.ready_file {
        addresses.write(path)?;
        tracing::info!(path = %path.display(), "ready file written");
    }
    let readiness = Readiness {
        coordinator: Arc::clone(&coordinator),
        evidence: Arc::clone(&evidence),
    };
    tokio::select! {
        result = serve(coordinator, readiness, tls, listeners, config.limits) => result,
        () = evidence_check::watch(evidence, issuer) => Ok(()),
    }
}

/// Opens the store and loads the persisted state, off the runtime (it reads and re-hashes
/// every state file).
async fn open_state(state_dir: PathBuf) -> anyhow::Result<Arc<Coordinator>> {
    let shown = state_dir.display().to_string();
    let coordinator = tokio::task::spawn_blocking(move || -> anyhow::Result<Coordinator> {
        let store = DirStore::open(&state_dir).context("opening the state directory")?;
        Coordinator::open(store).context("loading the persisted state")
    })
    .await
    .context("loading the persisted state did not finish")??;
    tracing::info!(
        state = coordinator.state_name(),
        dir = shown,
        "state loaded"
    );
    Ok(Arc::new(coordinator))
}

/// The TLS configurations of the two attested listeners.
struct AttestedTls {
    user: Arc<ServerConfig>,
    mesh: Arc<ServerConfig>,
    clock: Clock,
}

impl AttestedTls {
    /// The user API attests only the Coordinator; the mesh API also judges the workload's
    /// evidence under the current manifest.
    fn new(
        issuer: Arc<dyn chiaro_atls::Issuer>,
        coordinator: &Arc<Coordinator>,
        limits: Limits,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        // Evidence production is bounded by each listener's pre-auth cap, even for exchanges
        // that ended (deadline, eviction) while their evidence was still being made.
        let limited = || -> Arc<dyn chiaro_atls::Issuer> {
            Arc::new(LimitedIssuer::new(Arc::clone(&issuer), limits.pre_auth))
        };
        // The exchange's own deadline is the listener's pre-auth deadline (the one that counts).
        let user = ServerConfig::new(Some(limited()), None, Arc::clone(&clock))?
            .with_timeout(limits.pre_auth_timeout);
        let judge = Arc::new(ManifestValidator::new(Arc::clone(coordinator)));
        let mesh = ServerConfig::new(Some(limited()), Some(judge), Arc::clone(&clock))?
            .with_timeout(limits.pre_auth_timeout);
        Ok(Self {
            user: Arc::new(user),
            mesh: Arc::new(mesh),
            clock,
        })
    }
}

fn log_addresses(addresses: &BoundAddresses) {
    tracing::info!(
        user_api = %addresses.user_api,
        mesh_api = %addresses.mesh_api,
        status = %addresses.status,
        "serving (status: /healthz, /readyz, /metrics)"
    );
}

/// What the status port answers from: the state and whether evidence can be produced.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The Coordinator.
    pub coordinator: Arc<Coordinator>,
    /// The last check of the evidence source.
    pub evidence: Arc<EvidenceCheck>,
}

/// Serves the user and mesh APIs, each behind its own admission, and the status port.
async fn serve(
    coordinator: Arc<Coordinator>,
    readiness: Readiness,
    tls: AttestedTls,
    listeners: Listeners,
    limits: Limits,
) -> anyhow::Result<()> {
    let (user_admission, mesh_admission) = (Admission::new(limits), Admission::new(limits));
    let metrics = Arc::new(Metrics::new(
        Arc::clone(&user_admission),
        Arc::clone(&mesh_admission),
    ));
    let events = |api: Api| {
        let metrics = Arc::clone(&metrics);
        move |event: ListenerEvent| report(&metrics, api, event)
    };
    let user_service = UserService::new(
        Arc::clone(&coordinator),
        Arc::clone(&tls.clock),
        Arc::clone(&metrics),
    );
    let user = server()
        .add_service(UserApiServer::new(user_service))
        .serve_with_incoming(chiaro_api::transport::incoming(
            listeners.user_api,
            tls.user,
            user_admission,
            events(Api::User),
        ));
    let mesh_service = MeshService::new(Arc::clone(&coordinator), tls.clock, Arc::clone(&metrics));
    let mesh = server()
        .add_service(MeshApiServer::new(mesh_service))
        .serve_with_incoming(chiaro_api::transport::incoming(
            listeners.mesh_api,
            tls.mesh,
            mesh_admission,
            events(Api::Mesh),
        ));
    let status = crate::http::serve(listeners.status, readiness, metrics);
    tokio::select! {
        result = user => result.context("user API")?,
        result = mesh => result.context("mesh API")?,
        () = status => {}
    }
    Ok(())
}

/// Logs a warning when the soft `RLIMIT_NOFILE` is below what the caps may use: both attested
/// listeners full, the status port full, and 64 for the process itself.
fn warn_if_few_descriptors(limits: Limits) {
    let budget = limits
        .connections
        .saturating_mul(2)
        .saturating_add(crate::http::MAX_CONNECTIONS + 64);
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .as_deref()
        .and_then(soft_descriptor_limit);
    if let Some(soft) = soft.filter(|soft| *soft < budget) {
        tracing::warn!(
            soft,
            budget,
            "fewer descriptors (soft RLIMIT_NOFILE) than the connection caps may use: running out of descriptors, not the caps, will bound connections"
        );
    }
}

/// The soft limit of open files in the text of `/proc/self/limits` (`None`: unlimited or
/// unreadable).
fn soft_descriptor_limit(limits: &str) -> Option<usize> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn server() -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .max_connection_age(MAX_CONNECTION_AGE)
        .max_connection_age_grace(MAX_CONNECTION_AGE_GRACE)
}

/// Counts a listener's event and logs it (a refused attestation in the audit log); refusals by
/// a cap and evictions are logged at their 1st, 2nd, 4th, 8th... occurrence only, so a flood
/// cannot flood the log.
pub(crate) fn report(metrics: &Metrics, api: Api, event: ListenerEvent) {
    let count = metrics.listener_event(api, &event);
    let listener = api.label();
    match event {
        ListenerEvent::NotAttested { address, error } => {
            crate::audit::AttestationRefused {
                listener,
                peer: address,
                reason: &chain(&error),
            }
            .log();
        }
        ListenerEvent::OverCap { address, cap } if count.is_power_of_two() => tracing::warn!(
            listener,
            peer = %address,
            cap = cap.label(),
            count,
            "connection closed at once: the cap is full"
        ),
        ListenerEvent::Evicted { address } if count.is_power_of_two() => tracing::warn!(
            listener,
            peer = %address,
            count,
            "unauthenticated exchange ended for a source holding fewer"
        ),
        ListenerEvent::AcceptFailed {
            error,
            pause: Some(pause),
        } => tracing::warn!(listener, %error, ?pause, "accept failed; pausing"),
        ListenerEvent::OverCap { .. }
        | ListenerEvent::Evicted { .. }
        | ListenerEvent::AcceptFailed { pause: None, .. } => {}
    }
}

/// The error and its causes, `: `-separated, for a log line or a refusal the caller should
/// understand.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_descriptor_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             96363                96363                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(soft_descriptor_limit(limits), Some(1024));
        assert_eq!(
            soft_descriptor_limit(
                "Max open files            unlimited            unlimited            files"
            ),
            None
        );
        assert_eq!(soft_descriptor_limit(""), None);
    }
}
