//! The gRPC services: translate requests to [`Coordinator`] operations and errors to statuses.

use std::sync::Arc;

use chiaro_api::history::{history_to_wire, owner_from_wire};
use chiaro_api::transport::PeerInfo;
use chiaro_api::v1::mesh_api_server::MeshApi;
use chiaro_api::v1::user_api_server::UserApi;
use chiaro_api::v1::{
    CoordinatorState, GetManifestsRequest, GetManifestsResponse, NewMeshCertRequest,
    NewMeshCertResponse, RecoverRequest, RecoverResponse, SeedShare, SetManifestRequest,
    SetManifestResponse,
};
use chiaro_api::wire::manifest_text;
use chiaro_atls::{Basis, Clock, EvidenceBundle, Judgement, Validator};
use chiaro_attest::UnixTime;
use tonic::{Request, Response, Status};

use crate::metrics::{Metrics, Operation};
use crate::state::{Coordinator, CoreError, RecoveryProof, State};

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
        let request = request.into_inner();
        let text = manifest_text("manifest", &request.manifest)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let owner = request
            .owner
            .as_ref()
            .map(|owner| owner_from_wire("owner", Some(owner)))
            .transpose()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let installed = self
            .coordinator
            .set_manifest(text, owner.as_ref(), (self.clock)());
        self.metrics
            .count(Operation::SetManifest, installed.is_ok());
        let installed = installed.map_err(status)?;
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
        }))
    }

    async fn get_manifests(
        &self,
        _request: Request<GetManifestsRequest>,
    ) -> Result<Response<GetManifestsResponse>, Status> {
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
        }))
    }

    async fn recover(
        &self,
        request: Request<RecoverRequest>,
    ) -> Result<Response<RecoverResponse>, Status> {
        let session = request
            .extensions()
            .get::<PeerInfo>()
            .and_then(|peer| peer.session)
            .ok_or_else(|| Status::unauthenticated("not an attested connection"))?;
        let request = request.into_inner();
        let proof = RecoveryProof {
            public_key: request.owner_public_key,
            signature: request.owner_signature,
            session: *session.as_bytes(),
        };
        let recovered = self.coordinator.recover(&request.seed, &proof);
        self.metrics.count(Operation::Recover, recovered.is_ok());
        recovered.map_err(status)?;
        Ok(Response::new(RecoverResponse {}))
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
        let claims = peer
            .claims
            .ok_or_else(|| Status::unauthenticated("the workload did not attest"))?;
        let key = peer
            .tls_public_key
            .ok_or_else(|| Status::unauthenticated("the workload presented no TLS key"))?;
        let credentials =
            self.coordinator
                .new_mesh_cert(&claims, peer.judged_under, &key, (self.clock)());
        self.metrics
            .count(Operation::NewMeshCert, credentials.is_ok());
        let credentials = credentials.map_err(status)?;
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
    ) -> Result<Judgement, chiaro_attest::Error> {
        let refused = || {
            chiaro_attest::Error::Rejected(chiaro_attest::Rejection::PlatformNotAccepted {
                platform: "any",
            })
        };
        // Without a manifest (uninitialized, in recovery) nothing can be judged yet: that is
        // "cannot verify", so the workload retries, not "rejected".
        // The manifest and the transition that installed it are read together: the judgement
        // names the transition, and issuance refuses to serve under any other.
        let (judged_under, manifest) = self.coordinator.current().ok_or_else(|| {
            chiaro_attest::Error::Unavailable(chiaro_attest::Unavailable::CollateralMissing {
                what: format!(
                    "a manifest (the Coordinator is {})",
                    self.coordinator.state_name()
                ),
            })
        })?;
        let validator = chiaro_api::validation::reference_validator(manifest.reference_values())
            .map_err(|_| refused())?;
        Ok(validator
            .validate(evidence, now)?
            .with_basis(Basis::new(*judged_under.as_bytes())))
    }
}

/// The status a refused operation answers with. Internal failures say little to the caller.
fn status(error: CoreError) -> Status {
    match &error {
        CoreError::NotReady(_) | CoreError::ManifestChanged => {
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
        | CoreError::UnknownPolicy
        | CoreError::CoordinatorPolicy
        | CoreError::WrongSeed(_) => Status::permission_denied(crate::app::chain(&error)),
        CoreError::History(_) | CoreError::Seed(_) | CoreError::Ca(_) => {
            crate::app::log(&format!("internal error: {error:?}"));
            Status::internal("internal error")
        }
    }
}
