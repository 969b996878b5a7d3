//! The gRPC services: translate requests to [`Coordinator`] operations and errors to statuses.

use std::sync::Arc;

use chiaro_api::history::{history_to_wire, owner_from_wire};
use chiaro_api::transport::PeerInfo;
use chiaro_api::v1::mesh_api_server::MeshApi;
use chiaro_api::v1::user_api_server::UserApi;
use chiaro_api::v1::{
    CoordinatorState, GetManifestsRequest, GetManifestsResponse, NewMeshCertRequest,
    NewMeshCertResponse, NewOwnerClientCertRequest, NewOwnerClientCertResponse, RecoverRequest,
    RecoverResponse, SeedShare, SetManifestRequest, SetManifestResponse,
};
use chiaro_api::wire::manifest_text;
use chiaro_atls::{Basis, Clock, EvidenceBundle, Judgement, ValidationError, Validator};
use chiaro_attest::UnixTime;
use chiaro_manifest::KeyDigest;
use tonic::{Request, Response, Status};

use crate::audit;
use crate::metrics::{Metrics, Operation};
use crate::state::{Coordinator, CoreError, OwnerCertRequest, RecoveryProof, State};

/// The user API.
#[derive(Clone)]
pub struct UserService {
    coordinator: Arc<Coordinator>,
    clock: Clock,
    metrics: Arc<Metrics>,
}

/// The mesh API.
#[derive(Clone)]
pub struct MeshService {
    coordinator: Arc<Coordinator>,
    clock: Clock,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for UserService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserService")
            .field("coordinator", &self.coordinator)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for MeshService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshService")
            .field("coordinator", &self.coordinator)
            .finish_non_exhaustive()
    }
}

impl UserService {
    /// The user API of `coordinator`.
    pub fn new(coordinator: Arc<Coordinator>, clock: Clock, metrics: Arc<Metrics>) -> Self {
        Self {
            coordinator,
            clock,
            metrics,
        }
    }
}

impl MeshService {
    /// The mesh API of `coordinator`.
    pub fn new(coordinator: Arc<Coordinator>, clock: Clock, metrics: Arc<Metrics>) -> Self {
        Self {
            coordinator,
            clock,
            metrics,
        }
    }
}

#[tonic::async_trait]
impl UserApi for UserService {
    async fn set_manifest(
        &self,
        request: Request<SetManifestRequest>,
    ) -> Result<Response<SetManifestResponse>, Status> {
        let peer = peer_address(&request);
        let refused = |status: Status| {
            audit::ManifestRefused {
                reason: status.message(),
                peer,
            }
            .log();
            status
        };
        let request = request.into_inner();
        let text = manifest_text("manifest", &request.manifest)
            .map_err(|e| refused(Status::invalid_argument(e.to_string())))?
            .to_owned();
        let owner = request
            .owner
            .as_ref()
            .map(|owner| owner_from_wire("owner", Some(owner)))
            .transpose()
            .map_err(|e| refused(Status::invalid_argument(e.to_string())))?;
        let (coordinator, now) = (Arc::clone(&self.coordinator), (self.clock)());
        let installed =
            blocking(move || coordinator.set_manifest(&text, owner.as_ref(), now)).await?;
        self.metrics
            .count(Operation::SetManifest, installed.is_ok());
        let installed = installed.map_err(|error| refused(status(error)))?;
        audit::ManifestTransition {
            index: installed.index,
            manifest: installed.manifest,
            transition: installed.transition,
            owner: installed.owner,
            unchanged: installed.unchanged,
            peer,
        }
        .log();
        Ok(Response::new(SetManifestResponse {
            seed_shares: installed
                .seed_shares
                .into_iter()
                .map(|share| SeedShare {
                    owner_key_digest: share.owner_key_digest.to_vec(),
                    encrypted_seed: share.encrypted_seed,
                })
                .collect(),
            root_ca: installed.root_ca,
            mesh_ca: installed.mesh_ca,
            transition_hash: installed.transition.as_bytes().to_vec(),
            unchanged: installed.unchanged,
        }))
    }

    async fn get_manifests(
        &self,
        _request: Request<GetManifestsRequest>,
    ) -> Result<Response<GetManifestsResponse>, Status> {
        // In memory: no store access, nothing to move off the runtime.
        let snapshot = self.coordinator.snapshot();
        let state = match snapshot.state {
            State::Uninitialized => CoordinatorState::Uninitialized,
            State::Recovery => CoordinatorState::Recovery,
            State::Ready => CoordinatorState::Ready,
        };
        Ok(Response::new(GetManifestsResponse {
            state: state.into(),
            history: Some(history_to_wire(
                &snapshot.deployment,
                snapshot
                    .steps
                    .iter()
                    .map(|(step, manifest)| (step, Some(manifest))),
            )),
            root_ca: snapshot.root_ca,
            mesh_ca: snapshot.mesh_ca,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }

    async fn recover(
        &self,
        request: Request<RecoverRequest>,
    ) -> Result<Response<RecoverResponse>, Status> {
        let peer = peer_address(&request);
        let session = request
            .extensions()
            .get::<PeerInfo>()
            .and_then(|peer| peer.session)
            .ok_or_else(|| Status::unauthenticated("not an attested connection"))?;
        let request = request.into_inner();
        let owner = audit::key_digest(&request.owner_public_key);
        let proof = RecoveryProof {
            public_key: request.owner_public_key,
            signature: request.owner_signature,
            session: *session.as_bytes(),
        };
        let coordinator = Arc::clone(&self.coordinator);
        let recovered = blocking(move || coordinator.recover(&request.seed, &proof)).await?;
        self.metrics.count(Operation::Recover, recovered.is_ok());
        match recovered.map_err(status) {
            Ok(()) => audit::Recovery {
                owner,
                outcome: Ok(()),
                peer,
            }
            .log(),
            Err(status) => {
                audit::Recovery {
                    owner,
                    outcome: Err(status.message()),
                    peer,
                }
                .log();
                return Err(status);
            }
        }
        Ok(Response::new(RecoverResponse {}))
    }

    async fn new_owner_client_cert(
        &self,
        request: Request<NewOwnerClientCertRequest>,
    ) -> Result<Response<NewOwnerClientCertResponse>, Status> {
        let peer = peer_address(&request);
        let refused = |owner: Option<KeyDigest>, status: Status| {
            audit::OwnerCert {
                owner,
                outcome: Err(status.message()),
                peer,
            }
            .log();
            status
        };
        let session = request
            .extensions()
            .get::<PeerInfo>()
            .and_then(|peer| peer.session)
            .ok_or_else(|| refused(None, Status::unauthenticated("not an attested connection")))?;
        let request = request.into_inner();
        let public_key = <[u8; 65]>::try_from(request.public_key.as_slice())
            .ok()
            .filter(|point| point.first() == Some(&0x04))
            .ok_or_else(|| {
                refused(
                    None,
                    Status::invalid_argument(
                        "public_key: not an uncompressed P-256 point (65 bytes)",
                    ),
                )
            })?;
        let owner = owner_from_wire("owner", request.owner.as_ref())
            .map_err(|e| refused(None, Status::invalid_argument(e.to_string())))?;
        let signer = owner.signer();
        let request = OwnerCertRequest {
            public_key,
            not_after: request.not_after,
            owner,
            session: *session.as_bytes(),
        };
        let (coordinator, now) = (Arc::clone(&self.coordinator), (self.clock)());
        let issued = blocking(move || coordinator.new_owner_client_cert(&request, now)).await?;
        self.metrics
            .count(Operation::NewOwnerClientCert, issued.is_ok());
        let issued = issued.map_err(|error| refused(Some(signer), status(error)))?;
        audit::OwnerCert {
            owner: Some(signer),
            outcome: Ok((&issued.serial, issued.not_after)),
            peer,
        }
        .log();
        Ok(Response::new(NewOwnerClientCertResponse {
            certificate: issued.certificate,
            mesh_ca: issued.mesh_ca,
            transition_hash: issued.transition.as_bytes().to_vec(),
        }))
    }
}

#[tonic::async_trait]
impl MeshApi for MeshService {
    async fn new_mesh_cert(
        &self,
        request: Request<NewMeshCertRequest>,
    ) -> Result<Response<NewMeshCertResponse>, Status> {
        let peer = request
            .extensions()
            .get::<PeerInfo>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("not an attested connection"))?;
        let (address, judged_under) = (peer.address, peer.judged_under);
        let claims = peer
            .claims
            .ok_or_else(|| Status::unauthenticated("the workload did not attest"))?;
        let init_data = claims.init_data;
        let key = peer
            .tls_public_key
            .ok_or_else(|| Status::unauthenticated("the workload presented no TLS key"))?;
        let (coordinator, now) = (Arc::clone(&self.coordinator), (self.clock)());
        let credentials =
            blocking(move || coordinator.new_mesh_cert(&claims, judged_under, &key, now)).await?;
        self.metrics
            .count(Operation::NewMeshCert, credentials.is_ok());
        let credentials = credentials.map_err(|error| {
            let status = status(error);
            audit::MeshCertRefused {
                init_data: Some(&init_data),
                reason: status.message(),
                peer: address,
            }
            .log();
            status
        })?;
        audit::MeshCertIssued {
            policy_hash: credentials.policy_hash,
            sans: &credentials.sans,
            serial: &credentials.serial,
            transition: judged_under,
            peer: address,
        }
        .log();
        Ok(Response::new(NewMeshCertResponse {
            certificate: credentials.certificate,
            mesh_ca: credentials.mesh_ca,
            root_ca: credentials.root_ca,
            workload_secret: credentials
                .workload_secret
                .as_ref()
                .map(|secret| secret.as_bytes().to_vec())
                .unwrap_or_default(),
            history: Some(history_to_wire(
                &credentials.deployment,
                credentials.steps.iter().map(|step| (step, None)),
            )),
        }))
    }
}

/// Accepts workload evidence that satisfies the current manifest's reference values.
pub struct ManifestValidator {
    coordinator: Arc<Coordinator>,
}

impl ManifestValidator {
    /// A validator that follows `coordinator`'s current manifest.
    pub fn new(coordinator: Arc<Coordinator>) -> Self {
        Self { coordinator }
    }
}

impl std::fmt::Debug for ManifestValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestValidator").finish_non_exhaustive()
    }
}

impl Validator for ManifestValidator {
    fn validate(
        &self,
        evidence: &EvidenceBundle,
        now: UnixTime,
    ) -> Result<Judgement, ValidationError> {
        // Without a manifest (uninitialized, in recovery) nothing can be judged yet: this
        // Coordinator's state, not the workload's evidence, so the workload retries.
        // The validator and the transition that installed its manifest are read together: the
        // judgement names the transition, and issuance refuses to serve under any other.
        let judge = self
            .coordinator
            .judge()
            .ok_or_else(|| ValidationError::NotReady {
                reason: format!(
                    "no manifest (the Coordinator is {})",
                    self.coordinator.state_name()
                ),
            })?;
        // A root in our own manifest that does not load is the manifest's fault, not the
        // workload's: refused (only a new manifest fixes it), but named as ours.
        let validator = judge
            .references
            .as_ref()
            .as_ref()
            .map_err(|error| ValidationError::Unusable(Box::new(Arc::clone(error))))?;
        Ok(validator
            .validate(evidence, now)?
            .with_basis(Basis::new(*judge.transition.as_bytes())))
    }
}

/// The caller's address, as the attested listener saw it.
fn peer_address<T>(request: &Request<T>) -> Option<std::net::SocketAddr> {
    request
        .extensions()
        .get::<PeerInfo>()
        .and_then(|peer| peer.address)
}

/// Runs a Coordinator operation off the async runtime: operations write and fsync the store,
/// sign, and encrypt seed shares, which would stall the runtime's workers (and every
/// connection on them). The operation's own outcome is returned for the caller to count; a
/// task that did not finish (a panic) answers as an internal error.
async fn blocking<T: Send + 'static>(
    operation: impl FnOnce() -> Result<T, CoreError> + Send + 'static,
) -> Result<Result<T, CoreError>, Status> {
    tokio::task::spawn_blocking(operation)
        .await
        .map_err(|error| {
            tracing::error!(%error, "internal error: a Coordinator operation did not finish");
            Status::internal("internal error")
        })
}

/// The status a refused operation answers with. Internal failures say little to the caller.
fn status(error: CoreError) -> Status {
    match &error {
        CoreError::NotReady(_) | CoreError::ManifestChanged => {
            Status::unavailable(error.to_string())
        }
        // The host's doing, logged as such; the caller may retry as before.
        CoreError::StoreChanged => {
            tracing::error!(%error, "refused an operation");
            Status::unavailable(error.to_string())
        }
        CoreError::NotInRecovery | CoreError::SeedShareOwnersChanged => {
            Status::failed_precondition(error.to_string())
        }
        CoreError::InvalidManifest(source) => {
            Status::invalid_argument(format!("invalid manifest: {source}"))
        }
        CoreError::Unauthorised(_)
        | CoreError::RecoveryUnauthorised(_)
        | CoreError::OwnerCertUnauthorised(_)
        | CoreError::UnknownPolicy
        | CoreError::CoordinatorPolicy
        | CoreError::WrongSeed(_) => Status::permission_denied(crate::app::chain(&error)),
        CoreError::History(_) | CoreError::Seed(_) | CoreError::Ca(_) => {
            tracing::error!(error = ?error, "internal error");
            Status::internal("internal error")
        }
    }
}
