//! The gRPC services: translate requests to [`Coordinator`] operations and errors to statuses.

use std::sync::Arc;

use chiaro_api::transport::PeerInfo;
use chiaro_api::v1::mesh_api_server::MeshApi;
use chiaro_api::v1::user_api_server::UserApi;
use chiaro_api::v1::{
    GetManifestsRequest, GetManifestsResponse, NewMeshCertRequest, NewMeshCertResponse,
    RecoverRequest, RecoverResponse, SeedShare, SetManifestRequest, SetManifestResponse,
};
use chiaro_atls::{Clock, EvidenceBundle, Validator};
use chiaro_attest::{Claims, UnixTime, Verified};
use tonic::{Request, Response, Status};

use crate::metrics::{Metrics, Operation};
use crate::state::{Coordinator, CoreError, OwnerSignature};

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
        let text = String::from_utf8(request.manifest)
            .map_err(|_| Status::invalid_argument("the manifest is not UTF-8"))?;
        let owner = (!request.owner_public_key.is_empty()).then_some(OwnerSignature {
            public_key: request.owner_public_key,
            signature: request.owner_signature,
        });
        let installed = self
            .coordinator
            .set_manifest(&text, owner.as_ref(), (self.clock)());
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
        let (history, root_ca, mesh_ca) = self.coordinator.history().map_err(status)?;
        Ok(Response::new(GetManifestsResponse {
            manifests: history
                .entries
                .iter()
                .map(|(_, manifest)| manifest.canonical_json())
                .collect(),
            transitions: history
                .entries
                .iter()
                .map(|(transition, _)| transition.to_bytes().to_vec())
                .collect(),
            root_ca,
            mesh_ca,
        }))
    }

    async fn recover(
        &self,
        request: Request<RecoverRequest>,
    ) -> Result<Response<RecoverResponse>, Status> {
        let recovered = self.coordinator.recover(&request.into_inner().seed);
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
        let credentials = self
            .coordinator
            .new_mesh_cert(&claims, &key, (self.clock)());
        self.metrics
            .count(Operation::NewMeshCert, credentials.is_ok());
        let credentials = credentials.map_err(status)?;
        Ok(Response::new(NewMeshCertResponse {
            certificate: credentials.certificate,
            mesh_ca: credentials.mesh_ca,
            root_ca: credentials.root_ca,
            workload_secret: credentials
                .workload_secret
                .map(|secret| secret.as_bytes().to_vec())
                .unwrap_or_default(),
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
    ) -> Result<Verified<Claims>, chiaro_attest::Error> {
        let refused = || {
            chiaro_attest::Error::Rejected(chiaro_attest::Rejection::PlatformNotAccepted {
                platform: "any",
            })
        };
        // Without a manifest (uninitialized, in recovery) nothing can be judged yet: that is
        // "cannot verify", so the workload retries, not "rejected".
        let manifest = self.coordinator.manifest().ok_or_else(|| {
            chiaro_attest::Error::Unavailable(chiaro_attest::Unavailable::CollateralMissing {
                what: format!(
                    "a manifest (the Coordinator is {})",
                    self.coordinator.state_name()
                ),
            })
        })?;
        let validator = chiaro_api::validation::reference_validator(manifest.reference_values())
            .map_err(|_| refused())?;
        validator.validate(evidence, now)
    }
}

/// The status a refused operation answers with. Internal failures say little to the caller.
fn status(error: CoreError) -> Status {
    match &error {
        CoreError::NotReady(_) => Status::unavailable(error.to_string()),
        CoreError::NotInRecovery | CoreError::SeedShareOwnersChanged => {
            Status::failed_precondition(error.to_string())
        }
        CoreError::InvalidManifest(source) => {
            Status::invalid_argument(format!("invalid manifest: {source}"))
        }
        CoreError::Unauthorised(_) | CoreError::UnknownPolicy | CoreError::WrongSeed => {
            Status::permission_denied(error.to_string())
        }
        CoreError::History(_) | CoreError::Seed(_) | CoreError::Ca(_) => {
            crate::app::log(&format!("internal error: {error:?}"));
            Status::internal("internal error")
        }
    }
}
