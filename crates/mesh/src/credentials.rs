//! The mesh credentials the initializer wrote (`tls/cert.pem`, `tls/key.pem`,
//! `tls/mesh-ca.pem`: [`CredentialsDir`]), the TLS configurations built from them, and their reload when they
//! change (the mesh CA rotates with every manifest update).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chiaro_pod::CredentialsDir;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sha2::{Digest as _, Sha256};

use crate::{CredentialsFault, MeshError};

/// TLS configurations for one generation of credentials.
#[derive(Debug)]
pub struct TlsConfigs {
    /// Ingress: a mesh certificate from the mesh CA required of every client.
    pub server: Arc<ServerConfig>,
    /// Egress: the server must chain to the mesh CA; we present our mesh certificate.
    pub client: Arc<ClientConfig>,
    /// SHA-256 over the three files, to notice a change.
    fingerprint: [u8; 32],
}

/// The workspace's one provider (ring), with AES-128-GCM preferred: both ends of a mesh hop
/// are this proxy, so the first suite is the one used, and AES-128-GCM moves a third more bytes
/// per cycle than AES-256-GCM with AES-NI (it is also what Envoy and Istio negotiate). The other
/// two TLS 1.3 suites stay acceptable.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::ring::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![
        TLS13_AES_128_GCM_SHA256,
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(provider)
}

fn read(path: &Path) -> Result<Vec<u8>, MeshError> {
    std::fs::read(path).map_err(|error| bad(path, error))
}

/// `path` is missing or malformed.
fn bad(path: &Path, fault: impl Into<CredentialsFault>) -> MeshError {
    MeshError::Credentials {
        path: path.display().to_string(),
        source: fault.into(),
    }
}

/// Builds the configurations from the credentials in `dir` (the initializer's output).
///
/// # Errors
/// [`MeshError::Credentials`] naming the file that is missing or malformed.
pub fn load(dir: &Path) -> Result<TlsConfigs, MeshError> {
    let files = CredentialsDir::new(dir);
    let (cert_path, key_path, ca_path) = (files.certificate(), files.key(), files.mesh_ca());
    let (cert, key_pem, ca) = (read(&cert_path)?, read(&key_path)?, read(&ca_path)?);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&cert_path, e))?;
    if chain.is_empty() {
        return Err(bad(&cert_path, CredentialsFault::NoCertificate));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| bad(&key_path, e))?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&ca) {
        let certificate = certificate.map_err(|e| bad(&ca_path, e))?;
        roots.add(certificate).map_err(|e| bad(&ca_path, e))?;
    }
    if roots.is_empty() {
        return Err(bad(&ca_path, CredentialsFault::NoCaCertificate));
    }
    let roots = Arc::new(roots);
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), provider())
        .build()
        .map_err(|e| bad(&ca_path, e))?;
    let server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| bad(&cert_path, e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(|e| bad(&key_path, e))?;
    let client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| bad(&cert_path, e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| bad(&key_path, e))?;
    let mut hasher = Sha256::new();
    for part in [&cert, &key_pem, &ca] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    Ok(TlsConfigs {
        server: Arc::new(server),
        client: Arc::new(client),
        fingerprint: hasher.finalize().into(),
    })
}

/// The current configurations, swapped when the files change. Connections keep the
/// configuration they started with; new ones get the new one.
#[derive(Debug)]
pub struct SharedTls {
    dir: PathBuf,
    current: RwLock<Arc<TlsConfigs>>,
}

impl SharedTls {
    /// Loads the credentials in `dir`.
    ///
    /// # Errors
    /// As [`load`].
    pub fn load(dir: &Path) -> Result<Self, MeshError> {
        Ok(Self {
            dir: dir.to_owned(),
            current: RwLock::new(Arc::new(load(dir)?)),
        })
    }

    /// The configurations for a new connection.
    pub fn current(&self) -> Arc<TlsConfigs> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reloads if the files changed; `Ok(true)` when new configurations are in use. A failed
    /// reload (files half-written, a bad certificate) keeps the old ones.
    ///
    /// # Errors
    /// As [`load`]; the configurations in use stay.
    pub fn reload(&self) -> Result<bool, MeshError> {
        let fresh = load(&self.dir)?;
        if fresh.fingerprint == self.current().fingerprint {
            return Ok(false);
        }
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(fresh),
        }
        Ok(true)
    }
}

/// The DNS names an end-entity certificate carries, for the log. Checks use
/// [`has_any_name`], never this.
pub fn dns_names(certificate: &CertificateDer<'_>) -> Vec<String> {
    webpki::EndEntityCert::try_from(certificate)
        .map(|end_entity| end_entity.valid_dns_names().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether an ingress entry whose allow-list is `allowed` (empty: any mesh certificate) admits
/// the peer's end-entity `certificate`, which chained to the mesh CA. A certificate with a
/// reserved identity ([`chiaro_names::reserved`]: a workload owner's client certificate) is
/// admitted only by a list that names one of its reserved names, never as "any mesh
/// certificate" and never by a workload name it might also carry; every other certificate by
/// an empty list or one of its names.
pub fn admits(certificate: &CertificateDer<'_>, allowed: &[String]) -> bool {
    let reserved = dns_names(certificate)
        .iter()
        .any(|name| chiaro_names::reserved::is_reserved(name));
    if reserved {
        let named: Vec<String> = allowed
            .iter()
            .filter(|name| chiaro_names::reserved::is_reserved(name))
            .cloned()
            .collect();
        return has_any_name(certificate, &named);
    }
    allowed.is_empty() || has_any_name(certificate, allowed)
}

/// Whether the end-entity certificate `certificate` is valid for one of `names`.
pub fn has_any_name(certificate: &CertificateDer<'_>, names: &[String]) -> bool {
    let Ok(end_entity) = webpki::EndEntityCert::try_from(certificate) else {
        return false;
    };
    names.iter().any(|name| {
        ServerName::try_from(name.as_str())
            .is_ok_and(|name| end_entity.verify_is_valid_for_subject_name(&name).is_ok())
    })
}
