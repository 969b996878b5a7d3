//! The Coordinator's state machine: *uninitialized* → *ready*, and *recovery* after a restart
//! on persisted state without the seed. Each operation of the user and mesh APIs is a method
//! here; the gRPC layer only translates.

use std::sync::{Arc, Mutex, MutexGuard};

use chiaro_api::validation::{ReferenceError, reference_validator};
use chiaro_atls::ReferenceValidator;
use chiaro_attest::{Claims, UnixTime, Verified};
use chiaro_manifest::{
    DeploymentId, KeyDigest, Manifest, ManifestHash, OwnerSignature, PolicyHash,
    ReferenceValueSets, Role, SignedStep, TransitionHash, owner_client_cert_message,
    recovery_message, update_message,
};
use sha2::{Digest, Sha256};

use crate::ca::{CaError, MeshCa, RootCa};
use crate::history::{History, HistoryError};
use crate::seed::{Seed, SeedError};
use crate::store::Store;

/// What a refused operation was refused for.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The operation needs a ready Coordinator.
    #[error("the Coordinator is {0}; the operation needs it ready")]
    NotReady(&'static str),
    /// `Recover` on a Coordinator that is not in recovery.
    #[error("the Coordinator is not in recovery")]
    NotInRecovery,
    /// The manifest does not parse or validate.
    #[error("invalid manifest")]
    InvalidManifest(#[source] chiaro_manifest::ManifestError),
    /// A manifest without a signature from a listed workload-owner key.
    #[error("manifest not authorised: {0}")]
    Unauthorised(&'static str),
    /// `Recover` without a valid proof of a listed seed-share owner key over this connection.
    #[error("recovery not authorised: {0}")]
    RecoveryUnauthorised(&'static str),
    /// The manifest changed after the connection's evidence was judged: the request would be
    /// served under a manifest the evidence was never checked against. Reconnect.
    #[error("the manifest changed since this connection was attested; reconnect")]
    ManifestChanged,
    /// An update that changes the seed-share owners, which would orphan existing shares.
    #[error("the seed-share owner keys cannot change after the first manifest")]
    SeedShareOwnersChanged,
    /// The evidence's policy hash is not in the manifest.
    #[error("no manifest entry for this workload's policy hash")]
    UnknownPolicy,
    /// The evidence's policy hash is an entry with the role `coordinator`: a Coordinator is
    /// recognised by its evidence under the reference a client pins, never by a mesh
    /// certificate, so that entry gets none (`docs/invariants.md`).
    #[error(
        "this policy hash is the Coordinator's own entry (role \"coordinator\"): it gets no mesh \
         certificate and no workload secret"
    )]
    CoordinatorPolicy,
    /// The state read back after a write is not what was written: the store changed under the
    /// Coordinator (the host swapped files). The store's fault, not the caller's.
    #[error("the state read back is not what was just written: the store changed under it")]
    StoreChanged,
    /// The seed offered for recovery does not fit the persisted state.
    #[error("the seed does not match the persisted state")]
    WrongSeed(#[source] HistoryError),
    /// Persisted state failed.
    #[error("state")]
    History(#[from] HistoryError),
    /// `NewOwnerClientCert` without a valid request from a current workload owner.
    #[error("owner client certificate not authorised: {0}")]
    OwnerCertUnauthorised(&'static str),
    /// Key derivation or share encryption failed.
    #[error("seed")]
    Seed(#[from] SeedError),
    /// A certificate operation failed.
    #[error("certificate authority")]
    Ca(#[from] CaError),
}

/// A seed share for one owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedShare {
    /// SHA-256 of the owner's SubjectPublicKeyInfo DER.
    pub owner_key_digest: [u8; 32],
    /// The seed encrypted to it.
    pub encrypted_seed: Vec<u8>,
}

/// The outcome of an accepted `SetManifest`.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Seed shares (first manifest only).
    pub seed_shares: Vec<EncryptedShare>,
    /// The root CA certificate.
    pub root_ca: Vec<u8>,
    /// The new mesh CA certificate.
    pub mesh_ca: Vec<u8>,
    /// The new latest transition (the current one when unchanged).
    pub transition: TransitionHash,
    /// The manifest was the latest one already: nothing was appended or rotated.
    pub unchanged: bool,
    /// Its place in the history: 1 for the first manifest.
    pub index: usize,
    /// The installed manifest's hash.
    pub manifest: ManifestHash,
    /// The workload-owner key that signed it.
    pub owner: KeyDigest,
}

/// What a workload receives.
#[derive(Debug)]
pub struct MeshCredentials {
    /// Its mesh certificate (DER).
    pub certificate: Vec<u8>,
    /// The mesh CA certificate.
    pub mesh_ca: Vec<u8>,
    /// The root CA certificate.
    pub root_ca: Vec<u8>,
    /// Its workload secret, if its entry names a secret id.
    pub workload_secret: Option<crate::seed::WorkloadSecret>,
    /// The deployment id and the signed history the credentials come from, for the
    /// initializer to check against the owners its pod pins.
    pub deployment: DeploymentId,
    /// The history's steps, oldest first.
    pub steps: Vec<SignedStep>,
    /// The workload's policy hash (its manifest entry).
    pub policy_hash: PolicyHash,
    /// The names its certificate carries (the entry's SANs).
    pub sans: Vec<String>,
    /// The certificate's serial number (big-endian bytes).
    pub serial: Vec<u8>,
}

/// The longest an owner client certificate may live.
pub const OWNER_CERT_MAX_LIFETIME_SECS: u64 = 3600;

/// A workload owner's request for a client certificate (`NewOwnerClientCert`).
#[derive(Debug, Clone)]
pub struct OwnerCertRequest {
    /// The key the certificate is for (an uncompressed P-256 point).
    pub public_key: [u8; 65],
    /// The end of its validity (Unix seconds).
    pub not_after: u64,
    /// A workload owner's signature over [`owner_client_cert_message`].
    pub owner: OwnerSignature,
    /// The session binding of the connection the request came over.
    pub session: [u8; 32],
}

/// What an owner receives.
#[derive(Debug, Clone)]
pub struct OwnerClientCert {
    /// The certificate (DER).
    pub certificate: Vec<u8>,
    /// Its serial number (big-endian bytes).
    pub serial: Vec<u8>,
    /// The end of its validity (Unix seconds).
    pub not_after: u64,
    /// The mesh CA certificate that issued it.
    pub mesh_ca: Vec<u8>,
    /// The latest transition it was issued under.
    pub transition: TransitionHash,
}

/// A seed-share owner's proof for `Recover`.
#[derive(Debug, Clone)]
pub struct RecoveryProof {
    /// The owner's public key (SubjectPublicKeyInfo DER, RSA).
    pub public_key: Vec<u8>,
    /// RSA-PSS/SHA-256 over [`recovery_message`].
    pub signature: Vec<u8>,
    /// The session binding of the connection the proof came over.
    pub session: [u8; 32],
}

/// Where the Coordinator is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No manifest yet; a seed is pending.
    Uninitialized,
    /// A persisted history, no seed yet.
    Recovery,
    /// Serving.
    Ready,
}

impl State {
    /// `uninitialized`, `recovery` or `ready`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uninitialized => "uninitialized",
            Self::Recovery => "recovery",
            Self::Ready => "ready",
        }
    }
}

/// What `GetManifests` shows in any state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The state.
    pub state: State,
    /// The deployment id: the pending one when uninitialized.
    pub deployment: DeploymentId,
    /// The history (empty when uninitialized; in recovery the persisted one, whose seed is
    /// not checked yet).
    pub steps: Vec<(SignedStep, Manifest)>,
    /// The root CA certificate (empty when uninitialized).
    pub root_ca: Vec<u8>,
    /// The current mesh CA certificate (empty when uninitialized).
    pub mesh_ca: Vec<u8>,
}

enum Phase {
    /// The seed the first manifest will install is drawn at start, so its deployment id can be
    /// signed by the owner of the first manifest.
    Uninitialized(Box<Seed>),
    Recovery(Box<History>),
    Ready(Box<Ready>),
}

impl Phase {
    fn state(&self) -> State {
        match self {
            Self::Uninitialized(_) => State::Uninitialized,
            Self::Recovery(_) => State::Recovery,
            Self::Ready(_) => State::Ready,
        }
    }
}

struct Ready {
    seed: Seed,
    history: History,
    root: RootCa,
    mesh: MeshCa,
    references: Arc<References>,
}

impl Ready {
    /// Ready with `history`, whose latest manifest's reference values become a validator here,
    /// once, rather than at every handshake judged under it.
    fn new(seed: Seed, history: History, root: RootCa, mesh: MeshCa) -> Self {
        let references = Arc::new(
            history
                .latest_manifest()
                .map(|manifest| reference_validator(manifest.reference_values()).map_err(Arc::new))
                // A ready Coordinator always has a manifest; without one, no set accepts anything.
                .unwrap_or_else(|| {
                    reference_validator(&ReferenceValueSets::default()).map_err(Arc::new)
                }),
        );
        Self {
            seed,
            history,
            root,
            mesh,
            references,
        }
    }
}

/// The current manifest's reference values as a validator, or why they cannot be one (a fault
/// of the manifest, so of its owners, never of the workload judged under it).
pub type References = Result<ReferenceValidator, Arc<ReferenceError>>;

/// What a workload's evidence is judged under now: the transition that installed the current
/// manifest, and that manifest's validator (built when it was installed).
#[derive(Debug, Clone)]
pub struct Judge {
    /// The transition that installed the manifest.
    pub transition: TransitionHash,
    /// Its reference values as a validator.
    pub references: Arc<References>,
}

/// The Coordinator.
pub struct Coordinator {
    store: Box<dyn Store>,
    phase: Mutex<Phase>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("state", &self.state_name())
            .finish_non_exhaustive()
    }
}

impl Coordinator {
    /// Opens the state in `store`: empty → *uninitialized*; a history → *recovery* (the seed
    /// is not persisted). A corrupt state refuses to start.
    ///
    /// # Errors
    /// [`CoreError::History`] naming the corrupt or missing file.
    pub fn open(store: impl Store + 'static) -> Result<Self, CoreError> {
        let phase = match History::load(&store)? {
            None => Phase::Uninitialized(Box::new(Seed::generate()?)),
            Some(history) => Phase::Recovery(Box::new(history)),
        };
        Ok(Self {
            store: Box::new(store),
            phase: Mutex::new(phase),
        })
    }

    /// `uninitialized`, `recovery` or `ready`.
    pub fn state_name(&self) -> &'static str {
        self.lock().state().name()
    }

    /// The current manifest and the transition that installed it, when ready: what a
    /// workload's evidence is judged under.
    pub fn current(&self) -> Option<(TransitionHash, Manifest)> {
        match &*self.lock() {
            Phase::Ready(ready) => ready
                .history
                .latest_manifest()
                .map(|manifest| (ready.history.latest_hash(), manifest.clone())),
            Phase::Uninitialized(_) | Phase::Recovery(_) => None,
        }
    }

    /// What a workload's evidence is judged under, when ready.
    pub fn judge(&self) -> Option<Judge> {
        match &*self.lock() {
            Phase::Ready(ready) => Some(Judge {
                transition: ready.history.latest_hash(),
                references: Arc::clone(&ready.references),
            }),
            Phase::Uninitialized(_) | Phase::Recovery(_) => None,
        }
    }

    /// The state, deployment id, history and CA certificates, in any state.
    pub fn snapshot(&self) -> Snapshot {
        let (history, state) = match &*self.lock() {
            Phase::Uninitialized(seed) => {
                return Snapshot {
                    state: State::Uninitialized,
                    deployment: seed.deployment_id(),
                    steps: Vec::new(),
                    root_ca: Vec::new(),
                    mesh_ca: Vec::new(),
                };
            }
            Phase::Recovery(history) => ((**history).clone(), State::Recovery),
            Phase::Ready(ready) => (ready.history.clone(), State::Ready),
        };
        Snapshot {
            state,
            deployment: history.deployment(),
            steps: history.verified.steps().to_vec(),
            root_ca: history.root_ca,
            mesh_ca: history.mesh_ca,
        }
    }

    /// Installs a manifest signed by `owner` over [`update_message`]. The first one creates the
    /// deployment: it must be signed for the pending deployment id by a key it lists itself, and
    /// it returns the seed shares. Later ones must be signed by a key the current one lists.
    ///
    /// # Errors
    /// [`CoreError`] for an invalid manifest, a missing or wrong authorisation, a changed set of
    /// seed-share owners, or a Coordinator in recovery.
    pub fn set_manifest(
        &self,
        text: &str,
        owner: Option<&OwnerSignature>,
        now: UnixTime,
    ) -> Result<Installed, CoreError> {
        let manifest = Manifest::parse(text).map_err(CoreError::InvalidManifest)?;
        let owner = owner.ok_or(CoreError::Unauthorised("no workload-owner signature"))?;
        let mut phase = self.lock();
        match &mut *phase {
            Phase::Recovery(_) => Err(CoreError::NotReady("in recovery")),
            Phase::Uninitialized(pending) => {
                let seed = (**pending).clone();
                authorise(
                    manifest.workload_owner_key_digests(),
                    owner,
                    &seed.deployment_id(),
                    &TransitionHash::ZERO,
                    &manifest.hash(),
                )?;
                let root = RootCa::create(&seed, now)?;
                let ready =
                    match self.install(seed, root, TransitionHash::ZERO, &manifest, owner, now) {
                        Ok(ready) => ready,
                        Err(error) => {
                            // Whatever was written names this seed's deployment id with the owner's
                            // signature: never install another first manifest on the same seed.
                            **pending = Seed::generate()?;
                            return Err(error);
                        }
                    };
                let seed_shares = manifest
                    .seed_share_owner_keys()
                    .iter()
                    .map(|owner| {
                        Ok(EncryptedShare {
                            owner_key_digest: Sha256::digest(owner.der()).into(),
                            encrypted_seed: ready.seed.share_for(owner)?,
                        })
                    })
                    .collect::<Result<Vec<_>, SeedError>>()?;
                let installed = installed(&ready, seed_shares, &manifest, owner);
                *phase = Phase::Ready(Box::new(ready));
                Ok(installed)
            }
            Phase::Ready(ready) => {
                let current = ready
                    .history
                    .latest_manifest()
                    .ok_or(CoreError::NotReady("without history"))?;
                if current.workload_owner_key_digests().is_empty() {
                    return Err(CoreError::Unauthorised(
                        "the current manifest lists no workload owner: the deployment is immutable",
                    ));
                }
                let previous = ready.history.latest_hash();
                authorise(
                    current.workload_owner_key_digests(),
                    owner,
                    &ready.history.deployment(),
                    &previous,
                    &manifest.hash(),
                )?;
                if manifest.hash() == current.hash() {
                    // Authorised like an update, but a no-op: no transition in the history, no
                    // new mesh CA (which would make every workload fetch new credentials).
                    return Ok(Installed {
                        unchanged: true,
                        ..installed(ready, Vec::new(), &manifest, owner)
                    });
                }
                if manifest.seed_share_owner_keys() != current.seed_share_owner_keys() {
                    return Err(CoreError::SeedShareOwnersChanged);
                }
                let root = RootCa::restore(&ready.seed, &ready.history.root_ca)?;
                let next =
                    self.install(ready.seed.clone(), root, previous, &manifest, owner, now)?;
                let installed = installed(&next, Vec::new(), &manifest, owner);
                **ready = next;
                Ok(installed)
            }
        }
    }

    /// Leaves recovery with `seed`, given by a seed-share owner the persisted latest manifest
    /// lists, whose `proof` signs this deployment, this connection and this seed. The seed must
    /// be the deployment's (its id is the one the owners signed for), its history key must have
    /// signed `latest`, and the root and latest mesh CA must be its keys'.
    ///
    /// # Errors
    /// [`CoreError::RecoveryUnauthorised`], [`CoreError::WrongSeed`] for a seed that does not
    /// fit; [`CoreError::NotInRecovery`].
    pub fn recover(&self, seed: &[u8], proof: &RecoveryProof) -> Result<(), CoreError> {
        let mut phase = self.lock();
        let Phase::Recovery(history) = &*phase else {
            return Err(CoreError::NotInRecovery);
        };
        authorise_recovery(history, seed, proof)?;
        let seed =
            Seed::from_bytes(seed).map_err(|e| CoreError::WrongSeed(HistoryError::Seed(e)))?;
        history.verify_seed(&seed).map_err(CoreError::WrongSeed)?;
        let wrong = |e: CaError| CoreError::WrongSeed(HistoryError::Ca(e));
        let root = RootCa::restore(&seed, &history.root_ca).map_err(wrong)?;
        let mesh =
            MeshCa::restore(&seed, &history.latest_hash(), &history.mesh_ca).map_err(wrong)?;
        let history = (**history).clone();
        *phase = Phase::Ready(Box::new(Ready::new(seed, history, root, mesh)));
        Ok(())
    }

    /// Mesh credentials for a workload whose evidence verified (`claims`) under the manifest
    /// that `judged_under` installed, and whose TLS key is `public_key` (uncompressed EC
    /// point), per the manifest entry of its policy hash.
    ///
    /// # Errors
    /// [`CoreError::ManifestChanged`] when the current manifest is not the one the evidence
    /// was judged under; [`CoreError::UnknownPolicy`] when its policy hash is not in the
    /// manifest; [`CoreError::CoordinatorPolicy`] when it is the Coordinator's own entry;
    /// [`CoreError::NotReady`] otherwise unready.
    pub fn new_mesh_cert(
        &self,
        claims: &Verified<Claims>,
        judged_under: Option<TransitionHash>,
        public_key: &[u8],
        now: UnixTime,
    ) -> Result<MeshCredentials, CoreError> {
        let phase = self.lock();
        let Phase::Ready(ready) = &*phase else {
            return Err(CoreError::NotReady("not ready"));
        };
        if judged_under != Some(ready.history.latest_hash()) {
            return Err(CoreError::ManifestChanged);
        }
        let manifest = ready
            .history
            .latest_manifest()
            .ok_or(CoreError::NotReady("without history"))?;
        let (policy_hash, entry) = manifest.entry_for(claims).ok_or(CoreError::UnknownPolicy)?;
        if entry.role == Role::Coordinator {
            return Err(CoreError::CoordinatorPolicy);
        }
        let certificate = ready.mesh.issue(public_key, entry, now)?;
        let serial = crate::ca::serial(&certificate)?;
        let workload_secret = entry
            .workload_secret_id
            .as_deref()
            .map(|id| ready.seed.workload_secret(id))
            .transpose()?;
        Ok(MeshCredentials {
            certificate,
            mesh_ca: ready.mesh.certificate().to_vec(),
            root_ca: ready.root.certificate().to_vec(),
            workload_secret,
            deployment: ready.history.deployment(),
            steps: ready
                .history
                .verified
                .steps()
                .iter()
                .map(|(step, _)| step.clone())
                .collect(),
            policy_hash,
            sans: entry.sans.clone(),
            serial,
        })
    }

    /// A client certificate with the workload-owner identity for a current owner's request,
    /// from the current mesh CA ([`authorise_owner_cert`] decides).
    ///
    /// # Errors
    /// [`CoreError::OwnerCertUnauthorised`] naming the failed check; [`CoreError::NotReady`].
    pub fn new_owner_client_cert(
        &self,
        request: &OwnerCertRequest,
        now: UnixTime,
    ) -> Result<OwnerClientCert, CoreError> {
        let phase = self.lock();
        let Phase::Ready(ready) = &*phase else {
            return Err(CoreError::NotReady("not ready"));
        };
        let manifest = ready
            .history
            .latest_manifest()
            .ok_or(CoreError::NotReady("without history"))?;
        let latest = ready.history.latest_hash();
        authorise_owner_cert(
            manifest.workload_owner_key_digests(),
            &ready.history.deployment(),
            &latest,
            request,
            now,
        )?;
        let certificate = ready.mesh.issue_owner_client(
            &request.public_key,
            &request.owner.signer(),
            now,
            request.not_after,
        )?;
        let serial = crate::ca::serial(&certificate)?;
        Ok(OwnerClientCert {
            certificate,
            serial,
            not_after: request.not_after,
            mesh_ca: ready.mesh.certificate().to_vec(),
            transition: latest,
        })
    }

    fn install(
        &self,
        seed: Seed,
        root: RootCa,
        previous: TransitionHash,
        manifest: &Manifest,
        owner: &OwnerSignature,
        now: UnixTime,
    ) -> Result<Ready, CoreError> {
        let mut mesh = None;
        let transition = History::append(
            self.store.as_ref(),
            &seed,
            previous,
            manifest,
            owner,
            root.certificate(),
            |hash| {
                let created = MeshCa::create(&seed, hash, &root, now).map_err(HistoryError::Ca)?;
                let der = created.certificate().to_vec();
                mesh = Some(created);
                Ok(der)
            },
        )?;
        let history =
            History::load(self.store.as_ref())?.ok_or(CoreError::NotReady("without history"))?;
        let mesh = mesh.ok_or(CoreError::NotReady("without a mesh CA"))?;
        // What was read back must be what was written: the host could swap files between the
        // write and the read (the load checks signatures, not that the CAs are this seed's).
        if history.latest_hash() != transition.hash()
            || history.root_ca != root.certificate()
            || history.mesh_ca != mesh.certificate()
        {
            return Err(CoreError::StoreChanged);
        }
        Ok(Ready::new(seed, history, root, mesh))
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        // A poisoned lock means a panic while holding it; the state it guards is replaced only
        // after every step succeeded, so it is still consistent.
        self.phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn installed(
    ready: &Ready,
    seed_shares: Vec<EncryptedShare>,
    manifest: &Manifest,
    owner: &OwnerSignature,
) -> Installed {
    Installed {
        seed_shares,
        root_ca: ready.root.certificate().to_vec(),
        mesh_ca: ready.mesh.certificate().to_vec(),
        transition: ready.history.latest_hash(),
        unchanged: false,
        index: ready.history.verified.steps().len(),
        manifest: manifest.hash(),
        owner: owner.signer(),
    }
}

/// A manifest must be signed over [`update_message`] for this deployment and this place in its
/// history by a key whose digest `owners` lists.
fn authorise(
    owners: &[KeyDigest],
    owner: &OwnerSignature,
    deployment: &DeploymentId,
    previous: &TransitionHash,
    manifest: &ManifestHash,
) -> Result<(), CoreError> {
    if owners.is_empty() {
        return Err(CoreError::Unauthorised(
            "the manifest lists no workload owner: nobody can sign it",
        ));
    }
    if !owners.contains(&owner.signer()) {
        return Err(CoreError::Unauthorised(
            "the key is not a listed workload-owner key",
        ));
    }
    if owner.verifies(&update_message(deployment, previous, manifest)) {
        Ok(())
    } else {
        Err(CoreError::Unauthorised(
            "the signature does not verify for this deployment, its latest transition and this manifest",
        ))
    }
}

/// An owner client certificate needs a request signed over [`owner_client_cert_message`] by a
/// key whose digest the current manifest lists (`owners`), for this deployment, its latest
/// transition `latest` (a signature made before the manifest changed, an owner removed
/// included, authorises nothing) and the request's connection, with a validity that ends after
/// `now` and at most [`OWNER_CERT_MAX_LIFETIME_SECS`] after it. Pure.
///
/// # Errors
/// [`CoreError::OwnerCertUnauthorised`] naming the failed check.
pub fn authorise_owner_cert(
    owners: &[KeyDigest],
    deployment: &DeploymentId,
    latest: &TransitionHash,
    request: &OwnerCertRequest,
    now: UnixTime,
) -> Result<(), CoreError> {
    if !owners.contains(&request.owner.signer()) {
        return Err(CoreError::OwnerCertUnauthorised(
            "the key is not a workload-owner key of the current manifest",
        ));
    }
    let message = owner_client_cert_message(
        deployment,
        latest,
        &request.session,
        &request.public_key,
        request.not_after,
    );
    if !request.owner.verifies(&message) {
        return Err(CoreError::OwnerCertUnauthorised(
            "the signature does not verify for this deployment, its latest transition, this \
             connection, this key and this lifetime",
        ));
    }
    if request.not_after <= now.as_secs() {
        return Err(CoreError::OwnerCertUnauthorised(
            "the requested validity has already ended",
        ));
    }
    if request.not_after > now.as_secs().saturating_add(OWNER_CERT_MAX_LIFETIME_SECS) {
        return Err(CoreError::OwnerCertUnauthorised(
            "the requested lifetime is longer than an hour",
        ));
    }
    Ok(())
}

/// `Recover` must come with a proof by a seed-share owner key the persisted latest manifest
/// lists, over this deployment, this connection and this seed.
fn authorise_recovery(
    history: &History,
    seed: &[u8],
    proof: &RecoveryProof,
) -> Result<(), CoreError> {
    use rsa::signature::Verifier;
    let manifest = history
        .latest_manifest()
        .ok_or(CoreError::RecoveryUnauthorised("no persisted manifest"))?;
    let owner = manifest
        .seed_share_owner_keys()
        .iter()
        .find(|key| key.der() == proof.public_key.as_slice())
        .ok_or(CoreError::RecoveryUnauthorised(
            "the key is not a seed-share owner key of the persisted manifest",
        ))?;
    let signature = rsa::pss::Signature::try_from(proof.signature.as_slice())
        .map_err(|_| CoreError::RecoveryUnauthorised("malformed signature"))?;
    let message = recovery_message(
        &history.deployment(),
        &proof.session,
        &Sha256::digest(seed).into(),
    );
    rsa::pss::VerifyingKey::<Sha256>::new(owner.key().clone())
        .verify(&message, &signature)
        .map_err(|_| {
            CoreError::RecoveryUnauthorised(
                "the proof does not verify for this deployment, this connection and this seed",
            )
        })
}
