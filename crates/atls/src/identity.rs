//! The ephemeral TLS identity: a fresh key and a self-signed certificate. Trust in it comes
//! from the evidence bound to the session, not from any CA.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::binding::KeyInfo;
use crate::error::AtlsError;

/// A key pair and self-signed certificate for one process (or one connection).
#[derive(Debug)]
pub struct TlsIdentity {
    certificate: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    /// The certificate's public key, which this side's evidence vouches for.
    key_info: KeyInfo,
}

impl TlsIdentity {
    /// Generates a fresh ECDSA P-256 key and a self-signed certificate for it.
    ///
    /// # Errors
    /// [`AtlsError::Config`] if key generation fails.
    pub fn generate() -> Result<Self, AtlsError> {
        let key = rcgen::KeyPair::generate().map_err(|e| AtlsError::Config {
            detail: e.to_string(),
        })?;
        Self::from_pkcs8(&key.serialize_der())
    }

    /// A self-signed certificate for an existing ECDSA key (PKCS#8 DER), e.g. the key a
    /// workload's mesh certificate will be issued for.
    ///
    /// # Errors
    /// [`AtlsError::Config`] if the key is unusable.
    pub fn from_pkcs8(key: &[u8]) -> Result<Self, AtlsError> {
        let pair = rcgen::KeyPair::try_from(key).map_err(|e| AtlsError::Config {
            detail: e.to_string(),
        })?;
        let params = rcgen::CertificateParams::new(vec!["chiaro-atls.invalid".to_owned()])
            .map_err(|e| AtlsError::Config {
                detail: e.to_string(),
            })?;
        let certificate = params.self_signed(&pair).map_err(|e| AtlsError::Config {
            detail: e.to_string(),
        })?;
        let certificate = certificate.der().clone();
        let key_info = KeyInfo::of(&certificate).map_err(|e| AtlsError::Config {
            detail: e.to_string(),
        })?;
        Ok(Self {
            certificate,
            key: PrivatePkcs8KeyDer::from(key.to_vec()),
            key_info,
        })
    }

    pub(crate) fn certificate(&self) -> CertificateDer<'static> {
        self.certificate.clone()
    }

    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }

    pub(crate) fn key_info(&self) -> &KeyInfo {
        &self.key_info
    }
}
