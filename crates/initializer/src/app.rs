//! Configuration and the run: attest, request, write.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chiaro_api::v1::NewMeshCertRequest;
use chiaro_api::v1::mesh_api_client::MeshApiClient;
use chiaro_atls::{ClientConfig, Clock, TlsIdentity};
use chiaro_attest::UnixTime;
use chiaro_guest_issuer::EvidenceSource;
use chiaro_manifest::{DeploymentAnchor, verify_endorsement};
use chiaro_pod::CredentialsDir;

use crate::files::{self, Credentials};

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Coordinator's mesh API.
    pub coordinator: SocketAddr,
    /// What the Coordinator's evidence must satisfy and whose signed history it must hold.
    pub anchor: DeploymentAnchor,
    /// Where to write credentials.
    pub out: CredentialsDir,
    /// The `chiaro-start` binary, installed under `out` once the credentials are written.
    pub start_binary: PathBuf,
    /// This pod's evidence source.
    pub evidence: EvidenceSource,
    /// How long to keep retrying while the Coordinator is not ready.
    pub patience: Duration,
}

fn system_clock() -> Clock {
    Arc::new(|| {
        #[expect(
            clippy::disallowed_methods,
            reason = "the initializer reads the clock at its edge"
        )]
        let now = std::time::SystemTime::now();
        UnixTime::from_secs(
            now.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    })
}

/// Attests, obtains the mesh credentials and writes them.
///
/// # Errors
/// A refusal by the Coordinator or of the Coordinator, or running out of patience.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let key = rcgen::KeyPair::generate().context("generating the mesh key")?;
    let identity = TlsIdentity::from_pkcs8(&key.serialize_der())?;
    if config.evidence.is_insecure() {
        tracing::warn!("INSECURE simulated TEE: this pod's evidence proves nothing about hardware");
    }
    let issuer = config
        .evidence
        .issuer(system_clock())
        .context("setting up this process's evidence")?;
    let validator =
        chiaro_api::validation::reference_validator(config.anchor.coordinator.reference_values())
            .context("the Coordinator's reference values the pod pins")?;
    let tls = Arc::new(ClientConfig::with_identity(
        Arc::new(validator),
        issuer,
        &identity,
        system_clock(),
    )?);

    let mut delay = Duration::from_millis(200);
    // `None`: patience too long to represent, so it never runs out.
    let deadline = tokio::time::Instant::now().checked_add(config.patience);
    let response = loop {
        match attempt(config.coordinator, Arc::clone(&tls)).await {
            Ok(response) => break response,
            Err(Attempt::Refused(error)) => return Err(error),
            Err(Attempt::Retry(error)) => {
                let now = tokio::time::Instant::now();
                if deadline.is_some_and(|deadline| deadline.saturating_duration_since(now) < delay)
                {
                    return Err(error.context("the Coordinator did not become ready in time"));
                }
                tracing::warn!(
                    ?delay,
                    "retrying in {delay:?}: {}",
                    chiaro_pod::with_causes(error.as_ref())
                );
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2).min(Duration::from_secs(5));
            }
        }
    };
    check_deployment(&config.anchor, &response)?;
    let credentials = Credentials {
        certificate: response.certificate,
        key: key.serialize_der(),
        mesh_ca: response.mesh_ca,
        root_ca: response.root_ca,
        workload_secret: (!response.workload_secret.is_empty()).then_some(response.workload_secret),
    };
    if credentials.certificate.is_empty() {
        bail!("the Coordinator returned no certificate");
    }
    files::write(&config.out, &credentials)?;
    // Last: the workload's processes start only through this binary, so they cannot run before
    // the credentials are in place.
    let gate = files::install_start_gate(&config.out, &config.start_binary)?;
    tracing::info!(
        credentials = %config.out.root().display(),
        start_gate = %gate.display(),
        "credentials written, start gate installed"
    );
    Ok(())
}

/// The credentials must come from the deployment this pod's owners created: the Coordinator's
/// signed history (transitions and owner signatures for its deployment id) must have a step
/// signed by an owner key the pod pins. A genuine Coordinator holding a history the host wrote
/// from its own seed, or one it installed first, has none.
fn check_deployment(
    anchor: &DeploymentAnchor,
    response: &chiaro_api::v1::NewMeshCertResponse,
) -> anyhow::Result<()> {
    let history = chiaro_api::history::history_from_wire(response.history.as_ref())
        .context("the Coordinator's history does not decode")?;
    let endorsement = verify_endorsement(
        &history.deployment,
        &history.signed_steps(),
        &anchor.owner_key_digests,
    )
    .context("refusing the Coordinator's credentials: not this pod's deployment")?;
    tracing::info!(
        deployment = %history.deployment,
        steps = history.steps.len(),
        endorsed_step = endorsement.step,
        pinned_owner = %endorsement.signer,
        "the history is this pod's deployment's"
    );
    Ok(())
}

enum Attempt {
    /// Worth retrying: the Coordinator is unreachable or not ready.
    Retry(anyhow::Error),
    /// Final: the Coordinator refused this pod, or this pod refused the Coordinator.
    Refused(anyhow::Error),
}

async fn attempt(
    coordinator: SocketAddr,
    tls: Arc<ClientConfig>,
) -> Result<chiaro_api::v1::NewMeshCertResponse, Attempt> {
    let channel = chiaro_api::transport::channel(coordinator, tls)
        .await
        .map_err(|error| {
            let refused = refused_attestation(&error);
            let error = anyhow::Error::new(error)
                .context(format!("connecting to the Coordinator at {coordinator}"));
            if refused {
                Attempt::Refused(error)
            } else {
                Attempt::Retry(error)
            }
        })?;
    let mut client = MeshApiClient::new(channel);
    match client.new_mesh_cert(NewMeshCertRequest {}).await {
        Ok(response) => Ok(response.into_inner()),
        // The connection is made lazily, so attestation failures surface here too.
        Err(status) if refused_attestation(&status) => Err(Attempt::Refused(
            anyhow::Error::new(status).context("attested TLS with the Coordinator failed"),
        )),
        Err(status) if status.code() == tonic::Code::Unavailable => {
            Err(Attempt::Retry(anyhow::Error::new(status)))
        }
        Err(status) => Err(Attempt::Refused(
            anyhow::Error::new(status).context("the Coordinator refused this workload"),
        )),
    }
}

/// Whether an attested-TLS refusal that retrying cannot fix is among the error's causes.
fn refused_attestation(error: &(dyn std::error::Error + 'static)) -> bool {
    source_chain(error).any(|cause| {
        cause
            .downcast_ref::<chiaro_atls::AtlsError>()
            .is_some_and(is_refusal)
    })
}

/// A final refusal: the Coordinator's evidence is bad, or the Coordinator judged ours bad.
/// A Coordinator that cannot judge yet (no manifest) refuses retryably.
fn is_refusal(error: &chiaro_atls::AtlsError) -> bool {
    matches!(
        error,
        chiaro_atls::AtlsError::Evidence(_)
            | chiaro_atls::AtlsError::EvidenceNotBound
            | chiaro_atls::AtlsError::PeerNotAttested
            | chiaro_atls::AtlsError::RefusedByPeer { retryable: false }
    )
}

fn source_chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |error| error.source())
}
