//! `chiaro port-forward TARGET LOCAL:REMOTE` (`docs/port-forward.md`): attest the Coordinator,
//! check the deployment it serves as `verify` does, derive the target's identity from what the
//! user typed and the verified manifest, get a short-lived owner client certificate, then carry
//! each local connection in TLS from here to the target's mesh proxy through an untrusted
//! forwarder.

mod identity;
mod kubectl;
mod owner_cert;
mod tunnel;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use chiaro_api::transport::ChannelSession;
use chiaro_api::v1::user_api_client::UserApiClient;
use chiaro_forwarder::ForwardRequest;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::cli::PortForwardArgs;
use crate::commands::coordinator_client::{Target, runtime};
use crate::commands::deployment::{OwnerSigner, failure_outcome, ready_deployment};
use crate::commands::deployment_record::DeploymentRecord;
use crate::exit::Outcome;
use crate::input;
use crate::output::Printer;
use crate::reports::{ForwardedConnection, PortForwardReport};
use identity::{IdentityError, Ports, Resource, server_identity};
use owner_cert::{Binding, OwnerCertRefused};
use tunnel::{LegError, Tunnel, client_config};

/// A new owner certificate is requested when the current one has less than this left.
const RENEW_BEFORE_SECS: u64 = 60;
/// How long asking the Coordinator for an owner certificate may take (the host can stall it;
/// the connection that waits then fails instead of every later one hanging).
const ISSUE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Why the deployment is not one to forward into (exit 3).
#[derive(Debug, thiserror::Error)]
enum NotOurs {
    #[error(
        "no --deployment record ({0}): port-forward reaches only a deployment this machine \
         pinned (by `chiaro set`, or `chiaro verify -m manifest.json`): an owner key may have \
         signed several, and the host chooses which Coordinator answers"
    )]
    NoRecord(String),
    #[error("the current manifest does not list this workload-owner key ({0})")]
    NotAnOwner(String),
}

pub(crate) fn run(args: &PortForwardArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let resource = Resource::parse(&args.target)?;
    let ports = Ports::parse(&args.ports)?;
    let request = match &args.to {
        Some(to) => routing(to)?,
        None => cluster_routing(args, &resource, ports.remote)?,
    };
    let signer = OwnerSigner::read(&args.workload_owner_key)?;
    let record_path = &args.coordinator.deployment;
    let record = DeploymentRecord::read(record_path)?;
    if record.is_none() {
        return Ok(refused_or_failed(
            printer,
            &[],
            &NotOurs::NoRecord(record_path.display().to_string()).into(),
        ));
    }
    let target = Target::from_args(&args.coordinator)?;
    let mut notes = target.warnings();
    let (forwarder, kubectl_leg) = match &args.forwarder {
        Some(forwarder) => (forwarder.clone(), None),
        None => {
            let leg = kubectl::forward_to_forwarder(&args.kubectl, &args.chiaro_namespace)?;
            (leg.address.clone(), Some(leg))
        }
    };
    let runtime = runtime()?;
    let session = runtime.block_on(async {
        let (mut client, binding) = target.connect_bound().await?;
        let ready = ready_deployment(&mut client, record.as_ref(), record_path, &mut notes).await?;
        let (verified, fetched) = (ready.history, ready.cas);
        let latest = verified
            .latest_manifest()
            .context("the Coordinator has no manifest")?;
        if !latest
            .workload_owner_key_digests()
            .contains(&signer.digest())
        {
            return Err(NotOurs::NotAnOwner(signer.digest().to_string()).into());
        }
        let server_name = server_identity(
            &resource,
            &args.namespace,
            args.server_name.as_deref(),
            latest,
        )?;
        DeploymentRecord::of(&verified).write(record_path)?;
        let credentials = Credentials {
            client,
            binding,
            signer,
            deployment: *verified.deployment(),
            latest: verified.latest_hash(),
            mesh_ca: fetched.mesh_ca,
            lifetime: args.certificate_lifetime,
            current: None,
        };
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.address, ports.local))
            .await
            .with_context(|| format!("listening on {}:{}", args.address, ports.local))?;
        let tunnel = Tunnel {
            forwarder: forwarder.clone(),
            request: request.clone(),
            server_name: ServerName::try_from(server_name.clone())
                .with_context(|| format!("{server_name} is not a DNS name"))?,
        };
        Ok::<_, anyhow::Error>((
            listener,
            tunnel,
            Mutex::new(credentials),
            server_name,
            verified,
        ))
    });
    let (listener, tunnel, credentials, server_name, verified) = match session {
        Ok(session) => session,
        Err(error) => return Ok(refused_or_failed(printer, &notes, &error)),
    };
    let not_after = match runtime.block_on(async { credentials.lock().await.config().await }) {
        Ok((_, not_after)) => not_after,
        Err(error) => return Ok(refused_or_failed(printer, &notes, &error)),
    };
    let report = PortForwardReport {
        listening: listener.local_addr()?,
        target: args.target.clone(),
        namespace: args.namespace.clone(),
        server_name,
        forwarder,
        routing: request.to_string(),
        deployment: *verified.deployment(),
        latest_transition: verified.latest_hash(),
        owner_certificate_not_after: not_after,
        notes,
    };
    printer.result(&serde_json::to_value(&report)?, &text(&report));
    // Dropped (killed) when the forward ends.
    let _kubectl = kubectl_leg;
    runtime.block_on(serve(
        listener,
        Arc::new(tunnel),
        Arc::new(credentials),
        printer,
    ));
    Ok(Outcome::Verified)
}

/// `--to HOST:PORT` as the forwarder's request.
fn routing(to: &str) -> anyhow::Result<ForwardRequest> {
    let (host, port) = to
        .rsplit_once(':')
        .with_context(|| format!("--to {to:?}: not HOST:PORT"))?;
    let port = port
        .parse()
        .with_context(|| format!("--to {to:?}: {port:?} is not a port"))?;
    ForwardRequest::new(host, port).with_context(|| format!("--to {to:?}"))
}

/// Where the forwarder connects in a cluster: the pod's IP (`kubectl get pod`), or the
/// Service's cluster DNS name, with the remote port. Routing only: whatever answers must
/// prove the identity the user named.
fn cluster_routing(
    args: &PortForwardArgs,
    resource: &Resource,
    remote: u16,
) -> anyhow::Result<ForwardRequest> {
    let host = match resource {
        Resource::Pod(pod) => kubectl::pod_ip(&args.kubectl, pod, &args.namespace)?.to_string(),
        Resource::Service(service) => format!("{service}.{}.svc.cluster.local", args.namespace),
    };
    ForwardRequest::new(&host, remote).with_context(|| format!("routing to {host}"))
}

/// Prints `error` and its exit: a deployment, Coordinator or certificate refused is 3.
fn refused_or_failed(printer: Printer, notes: &[String], error: &anyhow::Error) -> Outcome {
    for note in notes {
        printer.line(&format!("note: {note}"));
    }
    printer.input_error(error);
    let refused = error.chain().any(|cause| {
        cause.downcast_ref::<NotOurs>().is_some()
            || cause.downcast_ref::<OwnerCertRefused>().is_some()
    });
    if error
        .chain()
        .any(|cause| cause.downcast_ref::<IdentityError>().is_some())
    {
        Outcome::Usage
    } else if refused {
        Outcome::Rejected
    } else {
        failure_outcome(error)
    }
}

fn text(report: &PortForwardReport) -> String {
    let mut lines: Vec<String> = report
        .notes
        .iter()
        .map(|note| format!("note: {note}"))
        .collect();
    lines.push(format!(
        "Forwarding from {} -> {} ({}), through the forwarder {} to {}",
        report.listening, report.target, report.server_name, report.forwarder, report.routing
    ));
    lines.push(format!(
        "The server must prove {} under the deployment's mesh CA; this side presents an owner \
         certificate (renewed before it ends). Ctrl-C stops.",
        report.server_name
    ));
    lines.join("\n")
}

/// Accepts local connections until Ctrl-C; each is carried on its own task and reported
/// when it ends.
async fn serve(
    listener: tokio::net::TcpListener,
    tunnel: Arc<Tunnel>,
    credentials: Arc<Mutex<Credentials>>,
    printer: Printer,
) {
    let count = AtomicU64::new(0);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = tokio::signal::ctrl_c() => return,
        };
        let Ok((local, _)) = accepted else { continue };
        let connection = count.fetch_add(1, Ordering::Relaxed) + 1;
        let (tunnel, credentials) = (Arc::clone(&tunnel), Arc::clone(&credentials));
        tokio::spawn(async move {
            let config = credentials.lock().await.config().await;
            let outcome = match config {
                Ok((config, _)) => tunnel
                    .carry(local, config)
                    .await
                    .map_err(anyhow::Error::from),
                Err(error) => Err(error.context("renewing the owner certificate")),
            };
            report(printer, connection, outcome);
        });
    }
}

fn report(printer: Printer, connection: u64, outcome: anyhow::Result<(u64, u64)>) {
    let event = match outcome {
        Ok((up, down)) => ForwardedConnection::Closed {
            connection,
            bytes_up: up,
            bytes_down: down,
        },
        Err(error) => {
            let message = format!("{error:#}");
            match error.downcast_ref::<LegError>() {
                Some(LegError::Refused(_)) => ForwardedConnection::Refused {
                    connection,
                    error: message,
                },
                _ => ForwardedConnection::Failed {
                    connection,
                    error: message,
                },
            }
        }
    };
    let text = match &event {
        ForwardedConnection::Closed {
            bytes_up,
            bytes_down,
            ..
        } => format!("connection {connection}: closed ({bytes_up} bytes up, {bytes_down} down)"),
        ForwardedConnection::Refused { error, .. } => {
            format!("connection {connection}: REFUSED, {error}")
        }
        ForwardedConnection::Failed { error, .. } => {
            format!("connection {connection}: failed, {error}")
        }
    };
    match serde_json::to_value(&event) {
        Ok(json) => printer.note(&json, &text),
        Err(_) => printer.note(&serde_json::Value::Null, &text),
    }
}

/// The owner's attested connection to the Coordinator and the current owner certificate.
struct Credentials {
    client: UserApiClient<Channel>,
    binding: ChannelSession,
    signer: OwnerSigner,
    deployment: chiaro_manifest::DeploymentId,
    latest: chiaro_manifest::TransitionHash,
    mesh_ca: Vec<u8>,
    lifetime: u64,
    current: Option<(Arc<ClientConfig>, u64)>,
}

impl Credentials {
    /// The TLS client with a certificate that has more than [`RENEW_BEFORE_SECS`] left, and
    /// when that certificate ends.
    async fn config(&mut self) -> anyhow::Result<(Arc<ClientConfig>, u64)> {
        let now = input::verification_time(None)?.as_secs();
        if let Some((config, not_after)) = &self.current
            && now.saturating_add(RENEW_BEFORE_SECS) < *not_after
        {
            return Ok((Arc::clone(config), *not_after));
        }
        let binding = Binding {
            deployment: self.deployment,
            latest: self.latest,
            mesh_ca: &self.mesh_ca,
        };
        let request = owner_cert::request(
            &mut self.client,
            &self.binding,
            &self.signer,
            &binding,
            now.saturating_add(self.lifetime),
        );
        let identity = tokio::time::timeout(ISSUE_TIMEOUT, request)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the Coordinator issued no owner certificate within {ISSUE_TIMEOUT:?}"
                )
            })??;
        let not_after = identity.not_after;
        let config = client_config(&self.mesh_ca, identity)?;
        self.current = Some((Arc::clone(&config), not_after));
        Ok((config, not_after))
    }
}
