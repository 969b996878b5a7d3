//! The persisted manifest history and the Coordinator's public state.
//!
//! Files (see `docs/coordinator-state.md`):
//!
//! | key | content |
//! |---|---|
//! | `manifests/<hash>.json` | a manifest's canonical JSON; the name is its SHA-256 |
//! | `transitions/<hash>` | 64 bytes: manifest hash ‖ previous transition hash; the name is its SHA-256 |
//! | `signatures/<transition hash>` | the workload owner's signature of that transition |
//! | `deployment-id` | the 32-byte deployment id the signatures name (derived from the seed) |
//! | `mesh-ca/<transition hash>.der` | the mesh CA certificate of that manifest |
//! | `root-ca.der` | the root CA certificate |
//! | `latest` | the latest transition hash (32 bytes) ‖ its ECDSA P-384 signature (DER) by the seed-derived history key |
//!
//! Nothing here is secret. Loading re-hashes every content-addressed file, walks the chain and
//! checks every owner signature against the deployment id and the manifest before it
//! ([`chiaro_manifest::verify_history`]); any mismatch refuses the whole state. The signature
//! on `latest` and the deployment id need the seed, so they are checked when the seed is known
//! ([`History::verify_seed`]): on recovery, before anything is served.

use chiaro_manifest::{
    DeploymentId, Manifest, ManifestHash, OwnerSignature, SignedStep, Transition, TransitionHash,
    VerifiedHistory,
};
use p384::ecdsa::signature::{Signer, Verifier};
use p384::ecdsa::{DerSignature, SigningKey};
use p384::pkcs8::DecodePrivateKey;
use sha2::{Digest, Sha256};

use crate::ca::CaError;
use crate::seed::{Seed, SeedError};
use crate::store::{Store, StoreError};

/// The state cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A file could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file is missing that the rest of the state refers to.
    #[error("state file {key} is missing")]
    Missing {
        /// The key.
        key: String,
    },
    /// A file's content does not match its name or its format.
    #[error("state file {key} is corrupt: {detail}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// The signature on `latest` does not verify with this seed's history key: wrong seed, or
    /// state written by someone else.
    #[error("the latest transition is not signed by this deployment's history key")]
    SignatureInvalid,
    /// The seed belongs to another deployment than the one the owners signed for.
    #[error(
        "the seed is not this deployment's: its deployment id is not the one the owners signed"
    )]
    OtherDeployment,
    /// The owner-signed history does not verify.
    #[error("the owner-signed history is refused")]
    Unsigned(#[source] chiaro_manifest::ManifestError),
    /// Deriving from the seed failed.
    #[error("deriving from the seed")]
    Seed(#[source] SeedError),
    /// The seed's history key does not decode (never for a key this crate derives).
    #[error("the seed's history key does not decode")]
    KeyEncoding(#[source] p384::pkcs8::Error),
    /// Signing failed.
    #[error("signing the latest transition")]
    Signing(#[source] p384::ecdsa::Error),
    /// A CA certificate of the state could not be made or is not this seed's.
    #[error("CA certificate")]
    Ca(#[source] CaError),
}

/// A loaded, hash-checked history whose owner signatures verified.
#[derive(Debug, Clone)]
pub struct History {
    /// The steps, oldest first, each with its manifest, and the deployment id.
    pub verified: VerifiedHistory,
    /// The root CA certificate (DER).
    pub root_ca: Vec<u8>,
    /// The current mesh CA certificate (DER).
    pub mesh_ca: Vec<u8>,
    latest_signature: Vec<u8>,
}

const LATEST: &str = "latest";
const ROOT_CA: &str = "root-ca.der";
const DEPLOYMENT_ID: &str = "deployment-id";

fn manifest_key(hash: &ManifestHash) -> String {
    format!("manifests/{hash}.json")
}

fn transition_key(hash: &TransitionHash) -> String {
    format!("transitions/{hash}")
}

fn signature_key(hash: &TransitionHash) -> String {
    format!("signatures/{hash}")
}

fn mesh_ca_key(hash: &TransitionHash) -> String {
    format!("mesh-ca/{hash}.der")
}

impl History {
    /// The latest manifest.
    pub fn latest_manifest(&self) -> Option<&Manifest> {
        self.verified.latest_manifest()
    }

    /// The latest transition hash.
    pub fn latest_hash(&self) -> TransitionHash {
        self.verified.latest_hash()
    }

    /// The deployment id the owners signed for.
    pub fn deployment(&self) -> DeploymentId {
        *self.verified.deployment()
    }

    /// Loads the history, checking every hash and the chain; `None` for an empty store.
    ///
    /// # Errors
    /// [`HistoryError`] naming the first file that is missing or corrupt.
    pub fn load(store: &dyn Store) -> Result<Option<Self>, HistoryError> {
        let Some(latest) = store.get(LATEST)? else {
            return Ok(None);
        };
        let corrupt = |key: &str, detail: &str| HistoryError::Corrupt {
            key: key.to_owned(),
            detail: detail.to_owned(),
        };
        let (head, signature) = latest
            .split_at_checked(32)
            .ok_or_else(|| corrupt(LATEST, "shorter than a transition hash"))?;
        let head = TransitionHash::new(head.try_into().map_err(|_| corrupt(LATEST, "bad hash"))?);
        if signature.is_empty() {
            return Err(corrupt(LATEST, "no signature"));
        }

        let deployment = required(store, DEPLOYMENT_ID)?;
        let deployment = DeploymentId::new(
            deployment
                .as_slice()
                .try_into()
                .map_err(|_| corrupt(DEPLOYMENT_ID, "not 32 bytes"))?,
        );
        let mut entries = Vec::new();
        let mut cursor = head;
        while cursor != TransitionHash::ZERO {
            let key = transition_key(&cursor);
            let bytes = required(store, &key)?;
            let transition =
                Transition::from_bytes(&bytes).ok_or_else(|| corrupt(&key, "not 64 bytes"))?;
            if transition.hash() != cursor {
                return Err(corrupt(&key, "content does not match its name"));
            }
            let manifest_key = manifest_key(&transition.manifest);
            let manifest_bytes = required(store, &manifest_key)?;
            if Sha256::digest(&manifest_bytes).as_slice() != transition.manifest.as_bytes() {
                return Err(corrupt(&manifest_key, "content does not match its name"));
            }
            let text = std::str::from_utf8(&manifest_bytes)
                .map_err(|_| corrupt(&manifest_key, "not UTF-8"))?;
            let manifest =
                Manifest::parse(text).map_err(|e| corrupt(&manifest_key, &e.to_string()))?;
            if entries.len() > 100_000 {
                return Err(corrupt(&key, "history too long (a cycle?)"));
            }
            let signature_key = signature_key(&cursor);
            let owner = OwnerSignature::from_bytes(&required(store, &signature_key)?)
                .ok_or_else(|| corrupt(&signature_key, "not an owner signature"))?;
            entries.push((SignedStep { transition, owner }, manifest));
            cursor = transition.previous;
        }
        entries.reverse();
        let hashes: Vec<TransitionHash> = entries
            .iter()
            .map(|(step, _)| step.transition.hash())
            .collect();
        let verified = chiaro_manifest::verify_history(deployment, entries).map_err(|e| match e
            .history_step()
            .and_then(|step| hashes.get(step))
        {
            Some(hash) => HistoryError::Corrupt {
                key: signature_key(hash),
                detail: e.to_string(),
            },
            None => HistoryError::Unsigned(e),
        })?;

        let root_ca = required(store, ROOT_CA)?;
        check_signed_by(ROOT_CA, &root_ca, &root_ca)?;
        let mesh_key = mesh_ca_key(&head);
        let mesh_ca = required(store, &mesh_key)?;
        check_signed_by(&mesh_key, &mesh_ca, &root_ca)?;
        Ok(Some(Self {
            verified,
            root_ca,
            mesh_ca,
            latest_signature: signature.to_vec(),
        }))
    }

    /// Checks the seed against the state: its deployment id must be the one the owners signed
    /// for, and its history key must have signed `latest`.
    ///
    /// # Errors
    /// [`HistoryError::OtherDeployment`] or [`HistoryError::SignatureInvalid`] for another seed
    /// or forged state.
    pub fn verify_seed(&self, seed: &Seed) -> Result<(), HistoryError> {
        if seed.deployment_id() != self.deployment() {
            return Err(HistoryError::OtherDeployment);
        }
        let key = history_key(seed)?;
        let signature = DerSignature::from_bytes(&self.latest_signature)
            .map_err(|_| HistoryError::SignatureInvalid)?;
        key.verifying_key()
            .verify(self.latest_hash().as_bytes(), &signature)
            .map_err(|_| HistoryError::SignatureInvalid)
    }

    /// Appends `manifest` after `previous` (none for the first), signed by `owner`, and returns
    /// the new transition. Content-addressed files, the signature and the CA certificates are
    /// written first and `latest` last, so a crash leaves either the previous state or the new
    /// one. The caller has checked `owner`'s signature.
    ///
    /// # Errors
    /// [`HistoryError`] if writing or signing fails.
    pub fn append(
        store: &dyn Store,
        seed: &Seed,
        previous: TransitionHash,
        manifest: &Manifest,
        owner: &OwnerSignature,
        root_ca: &[u8],
        mesh_ca_for: impl FnOnce(&TransitionHash) -> Result<Vec<u8>, HistoryError>,
    ) -> Result<Transition, HistoryError> {
        let transition = Transition {
            manifest: manifest.hash(),
            previous,
        };
        let hash = transition.hash();
        store.put(DEPLOYMENT_ID, seed.deployment_id().as_bytes())?;
        store.put(
            &manifest_key(&transition.manifest),
            &manifest.canonical_json(),
        )?;
        store.put(&transition_key(&hash), &transition.to_bytes())?;
        store.put(&signature_key(&hash), &owner.to_bytes())?;
        store.put(ROOT_CA, root_ca)?;
        store.put(&mesh_ca_key(&hash), &mesh_ca_for(&hash)?)?;
        let key = history_key(seed)?;
        let signature: DerSignature = key
            .try_sign(hash.as_bytes())
            .map_err(HistoryError::Signing)?;
        let mut latest = hash.as_bytes().to_vec();
        latest.extend_from_slice(signature.as_bytes());
        store.put(LATEST, &latest)?;
        Ok(transition)
    }
}

fn history_key(seed: &Seed) -> Result<SigningKey, HistoryError> {
    let der = seed.history_signing_key().map_err(HistoryError::Seed)?;
    SigningKey::from_pkcs8_der(&der).map_err(HistoryError::KeyEncoding)
}

fn required(store: &dyn Store, key: &str) -> Result<Vec<u8>, HistoryError> {
    store.get(key)?.ok_or_else(|| HistoryError::Missing {
        key: key.to_owned(),
    })
}

/// Checks that the certificate at `key` decodes and is signed (ECDSA P-384/SHA-384) by the
/// key of `issuer`: the root CA by itself, a mesh CA by the root. Any changed byte of either
/// certificate fails this.
fn check_signed_by(key: &str, der: &[u8], issuer: &[u8]) -> Result<(), HistoryError> {
    use der::{Decode, Encode};
    let corrupt = |detail: String| HistoryError::Corrupt {
        key: key.to_owned(),
        detail,
    };
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| corrupt(e.to_string()))?;
    let issuer =
        x509_cert::Certificate::from_der(issuer).map_err(|e| corrupt(format!("issuer: {e}")))?;
    let issuer_key = p384::ecdsa::VerifyingKey::from_sec1_bytes(
        issuer
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes(),
    )
    .map_err(|_| corrupt("issuer key is not P-384".to_owned()))?;
    let signature = cert
        .signature()
        .as_bytes()
        .and_then(|bytes| DerSignature::from_bytes(bytes).ok())
        .ok_or_else(|| corrupt("malformed signature".to_owned()))?;
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|e| corrupt(e.to_string()))?;
    issuer_key
        .verify(&tbs, &signature)
        .map_err(|_| corrupt("signature does not verify".to_owned()))
}
