//! The deployment's identity and its owner-signed history (`docs/coordinator-state.md`).
//!
//! A deployment is identified by [`DeploymentId`], a public value derived from its seed. Every
//! transition, the first included, carries an [`OwnerSignature`] by a workload-owner key over
//! [`update_message`]: the deployment id, the previous transition and the new manifest's hash.
//! So a signature names the one deployment (and the one place in its history) it authorises:
//! it cannot be replayed into another deployment, nor into a state derived from another seed.
//!
//! Two checks, both pure:
//! - [`verify_history`] (the Coordinator on load and recovery, the CLI's `verify`): the chain,
//!   each manifest's hash, each signature, and that each signer is an owner the manifest before
//!   it lists (the first: that the first manifest itself lists).
//! - [`verify_endorsement`] (the initializer, which gets transitions and signatures, not
//!   manifests): the chain and each signature, and that some signer is one of the owner keys the
//!   pod pins: the deployment is one its owner created or took part in.

use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use crate::error::ManifestError;
use crate::hashes::{DeploymentId, KeyDigest, ManifestHash, TransitionHash};
use crate::manifest::Manifest;
use crate::transition::Transition;

/// The domain prefix of the message a workload owner signs to install a manifest.
pub const SET_MANIFEST_CONTEXT: &[u8] = b"chiaro-set-manifest-v2";
/// The domain prefix of the message a seed-share owner signs to recover a Coordinator.
const RECOVER_CONTEXT: &[u8] = b"chiaro-recover-v1";
/// The domain prefix of the message a workload owner signs for a client certificate.
const OWNER_CLIENT_CERT_CONTEXT: &[u8] = b"chiaro-owner-client-cert-v1";
/// The HKDF-SHA256 salt every derivation from the seed uses.
pub const SEED_SALT: &[u8] = b"chiaro-seed-v1";
/// The HKDF label of the deployment id.
const DEPLOYMENT_ID_LABEL: &[u8] = b"deployment-id";
/// The DER prefix of an ECDSA P-256 SubjectPublicKeyInfo with an uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The longest history any check walks.
const MAX_STEPS: usize = 100_000;

impl DeploymentId {
    /// The id of the deployment whose seed is `seed`: `HKDF-Expand(HKDF-Extract(SEED_SALT,
    /// seed), "deployment-id", 32)`. Public: it reveals nothing of the seed, and a seed checks
    /// against it.
    pub fn from_seed(seed: &[u8]) -> Self {
        let mut id = [0u8; 32];
        // INVARIANT: 32 bytes is far below HKDF-SHA256's limit of 255 × 32; expand cannot fail.
        let _ = Hkdf::<Sha256>::new(Some(SEED_SALT), seed).expand(DEPLOYMENT_ID_LABEL, &mut id);
        Self::new(id)
    }
}

/// The message a workload owner signs (ECDSA P-256/SHA-256) to install the manifest with hash
/// `manifest` after the transition `previous` ([`TransitionHash::ZERO`] for the first) in the
/// deployment `deployment`.
pub fn update_message(
    deployment: &DeploymentId,
    previous: &TransitionHash,
    manifest: &ManifestHash,
) -> Vec<u8> {
    let mut message = SET_MANIFEST_CONTEXT.to_vec();
    message.extend_from_slice(deployment.as_bytes());
    message.extend_from_slice(previous.as_bytes());
    message.extend_from_slice(manifest.as_bytes());
    message
}

/// The message a seed-share owner signs (RSA-PSS/SHA-256) to give the seed with SHA-256
/// `seed_digest` to the Coordinator of `deployment` over the session whose binding is
/// `session`: the proof cannot be used on another connection or for another seed.
pub fn recovery_message(
    deployment: &DeploymentId,
    session: &[u8; 32],
    seed_digest: &[u8; 32],
) -> Vec<u8> {
    let mut message = RECOVER_CONTEXT.to_vec();
    message.extend_from_slice(deployment.as_bytes());
    message.extend_from_slice(session);
    message.extend_from_slice(seed_digest);
    message
}

/// The message a workload owner signs (ECDSA P-256/SHA-256) for a client certificate
/// (`docs/port-forward.md`): in the deployment `deployment`, whose latest transition is
/// `latest`, over the session whose binding is `session`, for the uncompressed P-256 point
/// `public_key` (65 bytes), valid until `not_after` (Unix seconds). The signature authorises
/// nothing after the manifest changes, on another connection, or for another key.
pub fn owner_client_cert_message(
    deployment: &DeploymentId,
    latest: &TransitionHash,
    session: &[u8; 32],
    public_key: &[u8; 65],
    not_after: u64,
) -> Vec<u8> {
    let mut message = OWNER_CLIENT_CERT_CONTEXT.to_vec();
    message.extend_from_slice(deployment.as_bytes());
    message.extend_from_slice(latest.as_bytes());
    message.extend_from_slice(session);
    message.extend_from_slice(public_key);
    message.extend_from_slice(&not_after.to_be_bytes());
    message
}

/// A workload owner's signature of one transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerSignature {
    public_key: Vec<u8>,
    signature: Vec<u8>,
}

impl OwnerSignature {
    /// Wraps a SubjectPublicKeyInfo DER (ECDSA P-256) and an ECDSA P-256/SHA-256 signature
    /// (DER); nothing is checked until [`OwnerSignature::verifies`].
    pub fn new(public_key: Vec<u8>, signature: Vec<u8>) -> Self {
        Self {
            public_key,
            signature,
        }
    }

    /// The signer's SubjectPublicKeyInfo DER.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The signature (DER).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// SHA-256 of the signer's key: what manifests list.
    pub fn signer(&self) -> KeyDigest {
        KeyDigest::new(Sha256::digest(&self.public_key).into())
    }

    /// Whether this is a valid signature of `message` by a P-256 key.
    pub fn verifies(&self, message: &[u8]) -> bool {
        let Some(point) = p256_point(&self.public_key) else {
            return false;
        };
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
            .verify(message, &self.signature)
            .is_ok()
    }

    /// Bytes on disk: the key's length (2 bytes, big-endian), the key, the signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = u16::try_from(self.public_key.len()).unwrap_or(u16::MAX);
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.public_key);
        bytes.extend_from_slice(&self.signature);
        bytes
    }

    /// Decodes [`OwnerSignature::to_bytes`]; `None` when the lengths do not fit.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (len, rest) = bytes.split_first_chunk::<2>()?;
        let (public_key, signature) =
            rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))?;
        (!public_key.is_empty() && !signature.is_empty())
            .then(|| Self::new(public_key.to_vec(), signature.to_vec()))
    }
}

/// The point of a P-256 SubjectPublicKeyInfo; `None` for any other key or encoding.
fn p256_point(spki: &[u8]) -> Option<&[u8]> {
    let point = spki.strip_prefix(P256_SPKI_PREFIX.as_slice())?;
    (point.len() == 65 && point.first() == Some(&0x04)).then_some(point)
}

/// One step of a history as the Coordinator holds and serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedStep {
    /// The transition.
    pub transition: Transition,
    /// The owner's signature of it.
    pub owner: OwnerSignature,
}

/// A history whose every step [`verify_history`] checked. Only that function makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHistory {
    deployment: DeploymentId,
    steps: Vec<(SignedStep, Manifest)>,
}

impl VerifiedHistory {
    /// The deployment it belongs to.
    pub fn deployment(&self) -> &DeploymentId {
        &self.deployment
    }

    /// The steps, oldest first, each with its manifest.
    pub fn steps(&self) -> &[(SignedStep, Manifest)] {
        &self.steps
    }

    /// The latest transition hash.
    pub fn latest_hash(&self) -> TransitionHash {
        self.steps
            .last()
            .map_or(TransitionHash::ZERO, |(step, _)| step.transition.hash())
    }

    /// The latest manifest.
    pub fn latest_manifest(&self) -> Option<&Manifest> {
        self.steps.last().map(|(_, manifest)| manifest)
    }

    /// Whether one of `owners` signed one of the steps.
    pub fn is_endorsed_by(&self, owners: &[KeyDigest]) -> bool {
        self.steps
            .iter()
            .any(|(step, _)| owners.contains(&step.owner.signer()))
    }

    /// The position of `transition` in the history, if it is there.
    pub fn position(&self, transition: &TransitionHash) -> Option<usize> {
        self.steps
            .iter()
            .position(|(step, _)| step.transition.hash() == *transition)
    }
}

/// Checks a whole history of `deployment` (oldest first): it is a chain from zero, each
/// manifest has its transition's hash, each step is signed over [`update_message`] by a key the
/// manifest before it lists as a workload owner (the first step: by a key the first manifest
/// lists).
///
/// # Errors
/// [`ManifestError`] naming the first step that fails.
pub fn verify_history(
    deployment: DeploymentId,
    steps: Vec<(SignedStep, Manifest)>,
) -> Result<VerifiedHistory, ManifestError> {
    if steps.is_empty() {
        return Err(ManifestError::EmptyHistory);
    }
    check_chain(steps.iter().map(|(step, _)| &step.transition), steps.len())?;
    let mut authorising: Option<&Manifest> = None;
    for (index, (step, manifest)) in steps.iter().enumerate() {
        if manifest.hash() != step.transition.manifest {
            return Err(ManifestError::HistoryManifestMismatch { step: index });
        }
        check_signature(&deployment, index, step)?;
        let owners = authorising.unwrap_or(manifest).workload_owner_key_digests();
        if !owners.contains(&step.owner.signer()) {
            return Err(ManifestError::HistorySignerNotOwner {
                step: index,
                signer: step.owner.signer().to_string(),
            });
        }
        authorising = Some(manifest);
    }
    Ok(VerifiedHistory { deployment, steps })
}

/// What [`verify_endorsement`] found: the step a pinned owner signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endorsement {
    /// The first step signed by a pinned owner.
    pub step: usize,
    /// Its signer.
    pub signer: KeyDigest,
}

/// Checks transitions and signatures of `deployment` (oldest first) without the manifests: a
/// chain from zero, every signature valid over its step, and some step signed by one of
/// `owners`. That step's hash commits to everything before it, and the Coordinator (attested)
/// admits each later step only under the previous manifest's owners.
///
/// # Errors
/// [`ManifestError`] naming the first step that fails, or
/// [`ManifestError::HistoryNotEndorsed`].
pub fn verify_endorsement(
    deployment: &DeploymentId,
    steps: &[SignedStep],
    owners: &[KeyDigest],
) -> Result<Endorsement, ManifestError> {
    if steps.is_empty() {
        return Err(ManifestError::EmptyHistory);
    }
    check_chain(steps.iter().map(|step| &step.transition), steps.len())?;
    let mut endorsement = None;
    for (index, step) in steps.iter().enumerate() {
        check_signature(deployment, index, step)?;
        let signer = step.owner.signer();
        if endorsement.is_none() && owners.contains(&signer) {
            endorsement = Some(Endorsement {
                step: index,
                signer,
            });
        }
    }
    endorsement.ok_or(ManifestError::HistoryNotEndorsed)
}

fn check_chain<'a>(
    transitions: impl IntoIterator<Item = &'a Transition>,
    len: usize,
) -> Result<(), ManifestError> {
    if len > MAX_STEPS {
        return Err(ManifestError::HistoryTooLong { steps: len });
    }
    match Transition::chain_break(transitions) {
        Some(step) => Err(ManifestError::HistoryNotAChain { step }),
        None => Ok(()),
    }
}

fn check_signature(
    deployment: &DeploymentId,
    index: usize,
    step: &SignedStep,
) -> Result<(), ManifestError> {
    let message = update_message(
        deployment,
        &step.transition.previous,
        &step.transition.manifest,
    );
    if step.owner.verifies(&message) {
        Ok(())
    } else {
        Err(ManifestError::HistorySignatureInvalid { step: index })
    }
}
