//! The secret seed and everything derived from it.
//!
//! `PRK = HKDF-Extract(salt = "chiaro-seed-v1", IKM = seed)`; each secret is
//! `HKDF-Expand(PRK, info = <label>, L)` with its own label:
//!
//! | label | use |
//! |---|---|
//! | `root-ca-key` | the root CA's P-384 key (stable for the deployment's life) |
//! | `history-signing-key` | the P-384 key that signs the latest manifest transition |
//! | `mesh-ca-key:<transition hash hex>` | the mesh CA's P-384 key for one manifest |
//! | `workload-secret:<id>` | a workload secret (32 bytes) |
//! | `deployment-id` | the public deployment id ([`chiaro_manifest::DeploymentId::from_seed`]) |
//!
//! A P-384 key comes from 48 expanded bytes, retried with a counter suffix while they are not a
//! valid scalar (zero or not below the group order), so it is deterministic.

use std::fmt;

use chiaro_manifest::{DeploymentId, SEED_SALT, SeedShareOwnerKey, TransitionHash};
use hkdf::Hkdf;
use p384::pkcs8::EncodePrivateKey;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Bytes in a seed.
pub const SEED_LEN: usize = 32;

/// The deployment's secret seed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed([u8; SEED_LEN]);

/// A workload secret (32 bytes), shared by every workload with the same secret id.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct WorkloadSecret([u8; 32]);

/// Deriving or sharing a secret failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// The operating system's random number generator failed.
    #[error("no randomness available")]
    Randomness(#[source] getrandom::Error),
    /// A seed of the wrong length.
    #[error("a seed is {SEED_LEN} bytes, got {0}")]
    Length(usize),
    /// A workload secret id must not be empty.
    #[error("empty workload secret id")]
    EmptySecretId,
    /// Encrypting a seed share failed.
    #[error("encrypting a seed share")]
    ShareEncryption(#[source] rsa::Error),
    /// Decrypting a seed share failed (wrong key or corrupted share).
    #[error("the seed share does not decrypt with this key")]
    ShareDecryption,
    /// Key derivation failed (never for the fixed lengths used here).
    #[error("key derivation failed")]
    Derivation,
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}

impl fmt::Debug for WorkloadSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkloadSecret(<redacted>)")
    }
}

impl WorkloadSecret {
    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Seed {
    /// A fresh random seed.
    ///
    /// # Errors
    /// [`SeedError::Randomness`] if the OS cannot provide randomness.
    pub fn generate() -> Result<Self, SeedError> {
        let mut bytes = [0u8; SEED_LEN];
        getrandom::fill(&mut bytes).map_err(SeedError::Randomness)?;
        Ok(Self(bytes))
    }

    /// A seed from its bytes (a decrypted seed share).
    ///
    /// # Errors
    /// [`SeedError::Length`] for any length but [`SEED_LEN`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SeedError> {
        <[u8; SEED_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| SeedError::Length(bytes.len()))
    }

    /// The deployment's public id: every owner signature names it, so a seed checks against
    /// the signed history.
    pub fn deployment_id(&self) -> DeploymentId {
        DeploymentId::from_seed(&self.0)
    }

    /// The root CA key (PKCS#8 DER).
    ///
    /// # Errors
    /// [`SeedError::Derivation`] (not expected).
    pub fn root_ca_key(&self) -> Result<Zeroizing<Vec<u8>>, SeedError> {
        self.p384_key(b"root-ca-key")
    }

    /// The key that signs the latest transition (PKCS#8 DER).
    ///
    /// # Errors
    /// [`SeedError::Derivation`] (not expected).
    pub fn history_signing_key(&self) -> Result<Zeroizing<Vec<u8>>, SeedError> {
        self.p384_key(b"history-signing-key")
    }

    /// The mesh CA key of the manifest installed by `transition` (PKCS#8 DER).
    ///
    /// # Errors
    /// [`SeedError::Derivation`] (not expected).
    pub fn mesh_ca_key(
        &self,
        transition: &TransitionHash,
    ) -> Result<Zeroizing<Vec<u8>>, SeedError> {
        self.p384_key(format!("mesh-ca-key:{transition}").as_bytes())
    }

    /// The workload secret for `id`.
    ///
    /// # Errors
    /// [`SeedError::EmptySecretId`] for an empty id.
    pub fn workload_secret(&self, id: &str) -> Result<WorkloadSecret, SeedError> {
        if id.is_empty() {
            return Err(SeedError::EmptySecretId);
        }
        let mut secret = [0u8; 32];
        self.expand(format!("workload-secret:{id}").as_bytes(), &mut secret)?;
        Ok(WorkloadSecret(secret))
    }

    /// The seed encrypted with RSA-OAEP-SHA256 to `owner`.
    ///
    /// # Errors
    /// [`SeedError::ShareEncryption`] if encryption fails.
    pub fn share_for(&self, owner: &SeedShareOwnerKey) -> Result<Vec<u8>, SeedError> {
        owner
            .key()
            .oaep_encrypt::<Sha256>(&self.0)
            .map_err(SeedError::ShareEncryption)
    }

    /// Recovers a seed from a share with the owner's private key.
    ///
    /// # Errors
    /// [`SeedError::ShareDecryption`] for a wrong key or a corrupted share.
    pub fn from_share(share: &[u8], owner: &rsa::PrivateKey) -> Result<Self, SeedError> {
        let bytes = Zeroizing::new(
            owner
                .oaep_decrypt::<Sha256>(share)
                .map_err(|_| SeedError::ShareDecryption)?,
        );
        Self::from_bytes(&bytes)
    }

    fn expand(&self, info: &[u8], out: &mut [u8]) -> Result<(), SeedError> {
        Hkdf::<Sha256>::new(Some(SEED_SALT), &self.0)
            .expand(info, out)
            .map_err(|_| SeedError::Derivation)
    }

    fn p384_key(&self, label: &[u8]) -> Result<Zeroizing<Vec<u8>>, SeedError> {
        for counter in 0u8..=u8::MAX {
            let mut info = label.to_vec();
            if counter > 0 {
                info.extend_from_slice(&[b'#', counter]);
            }
            let mut candidate = Zeroizing::new([0u8; 48]);
            self.expand(&info, candidate.as_mut_slice())?;
            if let Ok(secret) = p384::SecretKey::from_slice(candidate.as_slice()) {
                let der = secret.to_pkcs8_der().map_err(|_| SeedError::Derivation)?;
                return Ok(Zeroizing::new(der.as_bytes().to_vec()));
            }
        }
        Err(SeedError::Derivation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(byte: u8) -> Seed {
        Seed([byte; SEED_LEN])
    }

    #[test]
    fn derivations_are_deterministic_and_separated_by_label() {
        let a = seed(1);
        assert_eq!(*a.root_ca_key().unwrap(), *seed(1).root_ca_key().unwrap());
        assert_ne!(*a.root_ca_key().unwrap(), *a.history_signing_key().unwrap());
        let one = TransitionHash::new([1; 32]);
        let two = TransitionHash::new([2; 32]);
        assert_ne!(*a.mesh_ca_key(&one).unwrap(), *a.mesh_ca_key(&two).unwrap());
        assert_ne!(*a.root_ca_key().unwrap(), *seed(2).root_ca_key().unwrap());
    }

    #[test]
    fn workload_secrets_depend_on_id_and_seed() {
        let a = seed(1);
        assert_eq!(
            a.workload_secret("web").unwrap(),
            seed(1).workload_secret("web").unwrap()
        );
        assert_ne!(
            a.workload_secret("web").unwrap(),
            a.workload_secret("db").unwrap()
        );
        assert_ne!(
            a.workload_secret("web").unwrap(),
            seed(2).workload_secret("web").unwrap()
        );
        assert_eq!(a.workload_secret("").unwrap_err(), SeedError::EmptySecretId);
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", seed(7)), "Seed(<redacted>)");
        assert_eq!(
            format!("{:?}", seed(7).workload_secret("x").unwrap()),
            "WorkloadSecret(<redacted>)"
        );
    }

    #[test]
    fn a_seed_has_exactly_32_bytes() {
        assert_eq!(
            Seed::from_bytes(&[0; 31]).unwrap_err(),
            SeedError::Length(31)
        );
        assert!(Seed::from_bytes(&[0; 32]).is_ok());
    }
}
