//! The Coordinator's state machine: *uninitialized* → *ready*, and *recovery* after a restart
//! on persisted state without the seed. Each operation of the user and mesh APIs is a method
//! here; the gRPC layer only translates.

use std::sync::{Mutex, MutexGuard};

use chiaro_attest::{Claims, UnixTime, Verified};
use chiaro_manifest::{KeyDigest, Manifest, ManifestHash, TransitionHash, update_message};
use sha2::{Digest, Sha256};

use crate::ca::{CaError, MeshCa, RootCa};
use crate::history::{History, HistoryError};
use crate::seed::{Seed, SeedError};
use crate::store::DirStore;

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
    /// An update without a signature from a listed workload-owner key.
    #[error("manifest update not authorised: {0}")]
    Unauthorised(&'static str),
    /// An update that changes the seed-share owners, which would orphan existing shares.
    #[error("the seed-share owner keys cannot change after the first manifest")]
    SeedShareOwnersChanged,
    /// The evidence's policy hash is not in the manifest.
    #[error("no manifest entry for this workload's policy hash")]
    UnknownPolicy,
    /// The seed offered for recovery does not fit the persisted state.
    #[error("the seed does not match the persisted state")]
    WrongSeed,
    /// Persisted state failed.
    #[error("state")]
    History(#[from] HistoryError),
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
    /// The new latest transition.
    pub transition: TransitionHash,
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
}

/// A workload owner's authorisation of an update.
#[derive(Debug, Clone)]
pub struct OwnerSignature {
    /// The owner's public key (SubjectPublicKeyInfo DER, ECDSA P-256).
    pub public_key: Vec<u8>,
    /// ECDSA P-256/SHA-256 (DER) over [`update_message`].
    pub signature: Vec<u8>,
}

enum Phase {
    Uninitialized,
    Recovery(Box<History>),
    Ready(Box<Ready>),
}

struct Ready {
    seed: Seed,
    history: History,
    root: RootCa,
    mesh: MeshCa,
}

/// The Coordinator.
pub struct Coordinator {
    store: DirStore,
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
    pub fn open(store: DirStore) -> Result<Self, CoreError> {
        let phase = match History::load(&store)? {
            None => Phase::Uninitialized,
            Some(history) => Phase::Recovery(Box::new(history)),
        };
        Ok(Self {
            store,
            phase: Mutex::new(phase),
        })
    }

    /// `uninitialized`, `recovery` or `ready`.
    pub fn state_name(&self) -> &'static str {
        match &*self.lock() {
            Phase::Uninitialized => "uninitialized",
            Phase::Recovery(_) => "recovery",
            Phase::Ready(_) => "ready",
        }
    }

    /// The current manifest, when ready.
    pub fn manifest(&self) -> Option<Manifest> {
        match &*self.lock() {
            Phase::Ready(ready) => ready.history.latest().map(|(_, manifest)| manifest.clone()),
            Phase::Uninitialized | Phase::Recovery(_) => None,
        }
    }

    /// Installs a manifest. The first creates the seed and returns seed shares; later ones need
    /// `owner` to be a listed workload-owner key that signed the update.
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
        let mut phase = self.lock();
        match &mut *phase {
            Phase::Recovery(_) => Err(CoreError::NotReady("in recovery")),
            Phase::Uninitialized => {
                let seed = Seed::generate()?;
                let root = RootCa::create(&seed, now)?;
                let ready = self.install(seed, root, TransitionHash::ZERO, &manifest, now)?;
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
                let installed = installed(&ready, seed_shares);
                *phase = Phase::Ready(Box::new(ready));
                Ok(installed)
            }
            Phase::Ready(ready) => {
                let (_, current) = ready
                    .history
                    .latest()
                    .ok_or(CoreError::NotReady("without history"))?;
                let previous = ready.history.latest_hash();
                authorise(current, owner, &previous, &manifest.hash())?;
                if manifest.seed_share_owner_keys() != current.seed_share_owner_keys() {
                    return Err(CoreError::SeedShareOwnersChanged);
                }
                let root = RootCa::restore(&ready.seed, &ready.history.root_ca)?;
                let next = self.install(ready.seed.clone(), root, previous, &manifest, now)?;
                let installed = installed(&next, Vec::new());
                **ready = next;
                Ok(installed)
            }
        }
    }

    /// The history and the CA certificates, when ready.
    ///
    /// # Errors
    /// [`CoreError::NotReady`] before the first manifest or in recovery.
    pub fn history(&self) -> Result<(History, Vec<u8>, Vec<u8>), CoreError> {
        match &*self.lock() {
            Phase::Ready(ready) => Ok((
                ready.history.clone(),
                ready.root.certificate().to_vec(),
                ready.mesh.certificate().to_vec(),
            )),
            Phase::Uninitialized => Err(CoreError::NotReady("uninitialized")),
            Phase::Recovery(_) => Err(CoreError::NotReady("in recovery")),
        }
    }

    /// Leaves recovery with `seed`, after checking it against the persisted state: the root CA
    /// must be the seed's, and the latest transition signed with the seed's history key.
    ///
    /// # Errors
    /// [`CoreError::WrongSeed`] for a seed that does not fit; [`CoreError::NotInRecovery`].
    pub fn recover(&self, seed: &[u8]) -> Result<(), CoreError> {
        let seed = Seed::from_bytes(seed).map_err(|_| CoreError::WrongSeed)?;
        let mut phase = self.lock();
        let Phase::Recovery(history) = &*phase else {
            return Err(CoreError::NotInRecovery);
        };
        history
            .verify_signature(&seed)
            .map_err(|_| CoreError::WrongSeed)?;
        let root = RootCa::restore(&seed, &history.root_ca).map_err(|_| CoreError::WrongSeed)?;
        let mesh = MeshCa::restore(&seed, &history.latest_hash(), &history.mesh_ca)
            .map_err(|_| CoreError::WrongSeed)?;
        let history = (**history).clone();
        *phase = Phase::Ready(Box::new(Ready {
            seed,
            history,
            root,
            mesh,
        }));
        Ok(())
    }

    /// Mesh credentials for a workload whose evidence verified (`claims`) and whose TLS key is
    /// `public_key` (uncompressed EC point), per the manifest entry of its policy hash.
    ///
    /// # Errors
    /// [`CoreError::UnknownPolicy`] when its policy hash is not in the manifest;
    /// [`CoreError::NotReady`] otherwise unready.
    pub fn new_mesh_cert(
        &self,
        claims: &Verified<Claims>,
        public_key: &[u8],
        now: UnixTime,
    ) -> Result<MeshCredentials, CoreError> {
        let phase = self.lock();
        let Phase::Ready(ready) = &*phase else {
            return Err(CoreError::NotReady("not ready"));
        };
        let (_, manifest) = ready
            .history
            .latest()
            .ok_or(CoreError::NotReady("without history"))?;
        let (_, entry) = manifest.entry_for(claims).ok_or(CoreError::UnknownPolicy)?;
        let certificate = ready.mesh.issue(public_key, entry, now)?;
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
        })
    }

    fn install(
        &self,
        seed: Seed,
        root: RootCa,
        previous: TransitionHash,
        manifest: &Manifest,
        now: UnixTime,
    ) -> Result<Ready, CoreError> {
        let mut mesh = None;
        let transition = History::append(
            &self.store,
            &seed,
            previous,
            manifest,
            root.certificate(),
            |hash| {
                let created = MeshCa::create(&seed, hash, &root, now)
                    .map_err(|e| HistoryError::Signing(e.to_string()))?;
                let der = created.certificate().to_vec();
                mesh = Some(created);
                Ok(der)
            },
        )?;
        let history = History::load(&self.store)?.ok_or(CoreError::NotReady("without history"))?;
        if history.latest_hash() != transition.hash() {
            return Err(CoreError::NotReady("after a concurrent write"));
        }
        let mesh = mesh.ok_or(CoreError::NotReady("without a mesh CA"))?;
        Ok(Ready {
            seed,
            history,
            root,
            mesh,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        // A poisoned lock means a panic while holding it; the state it guards is replaced only
        // after every step succeeded, so it is still consistent.
        self.phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn installed(ready: &Ready, seed_shares: Vec<EncryptedShare>) -> Installed {
    Installed {
        seed_shares,
        root_ca: ready.root.certificate().to_vec(),
        mesh_ca: ready.mesh.certificate().to_vec(),
        transition: ready.history.latest_hash(),
    }
}

/// An update must be signed by a key whose digest the current manifest lists.
fn authorise(
    current: &Manifest,
    owner: Option<&OwnerSignature>,
    previous: &TransitionHash,
    manifest: &ManifestHash,
) -> Result<(), CoreError> {
    if current.workload_owner_key_digests().is_empty() {
        return Err(CoreError::Unauthorised(
            "the current manifest lists no workload owner: the deployment is immutable",
        ));
    }
    let owner = owner.ok_or(CoreError::Unauthorised("no workload-owner signature"))?;
    let digest = KeyDigest::new(Sha256::digest(&owner.public_key).into());
    if !current.workload_owner_key_digests().contains(&digest) {
        return Err(CoreError::Unauthorised(
            "the key is not a workload-owner key of the current manifest",
        ));
    }
    let point = spki_point(&owner.public_key)
        .ok_or(CoreError::Unauthorised("the owner key is not ECDSA P-256"))?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(&update_message(previous, manifest), &owner.signature)
        .map_err(|_| CoreError::Unauthorised("the signature does not verify"))
}

fn spki_point(spki: &[u8]) -> Option<&[u8]> {
    use der::Decode;
    let info = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(spki).ok()?;
    // id-ecPublicKey with prime256v1.
    let is_p256 = info.algorithm.oid.to_string() == "1.2.840.10045.2.1"
        && info
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())
            .map(|oid| oid.to_string())
            == Some("1.2.840.10045.3.1.7".to_owned());
    is_p256.then(|| info.subject_public_key.raw_bytes())
}
