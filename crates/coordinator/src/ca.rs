//! The Coordinator's certificate authorities.
//!
//! - The **root CA** key is derived from the seed, so it survives restarts and recovery; its
//!   certificate is kept in the (public) persisted state and re-attached to the derived key.
//! - A **mesh CA** exists per installed manifest: its key is derived from the seed and the
//!   transition hash, its certificate is signed by the root CA. A manifest update rotates it.
//! - **Mesh certificates** are issued by the current mesh CA for a workload's public key, with
//!   the SANs its manifest entry names. They carry no role: every mesh certificate is a
//!   workload's, since an entry with the role `coordinator` gets none (`state.rs`).
//! - **Owner client certificates** are issued by the current mesh CA to a workload owner's
//!   session key for at most an hour, with the one reserved identity
//!   [`chiaro_names::reserved::WORKLOAD_OWNER`] (which no manifest entry may have), the owner's
//!   key digest as the subject, and client authentication only: they cannot serve
//!   (`docs/port-forward.md`).

use chiaro_attest::UnixTime;
use chiaro_manifest::{KeyDigest, PolicyEntry, San, TransitionHash};
use chiaro_names::reserved::WORKLOAD_OWNER;
use der::Decode;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SignatureAlgorithm,
};

use crate::seed::{Seed, SeedError};

/// Root and mesh CA certificates live ten years; mesh certificates one.
const CA_LIFETIME_SECS: u64 = 10 * 365 * 86_400;
const LEAF_LIFETIME_SECS: u64 = 365 * 86_400;
/// Certificates start an hour early to absorb clock skew.
const BACKDATE_SECS: u64 = 3600;
/// Owner client certificates start five minutes early: their whole life is shorter than an
/// hour.
const OWNER_BACKDATE_SECS: u64 = 300;

/// A CA operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Deriving a key from the seed failed.
    #[error("deriving a CA key")]
    Seed(#[from] SeedError),
    /// Building or signing a certificate failed.
    #[error("building or signing a certificate")]
    Certificate(#[from] rcgen::Error),
    /// A stored certificate does not decode.
    #[error("stored CA certificate does not decode")]
    Malformed(#[source] der::Error),
    /// A stored CA certificate is not for the key this seed derives: wrong seed or forged state.
    #[error("stored {0} certificate does not belong to the key this seed derives")]
    KeyMismatch(&'static str),
    /// A workload key that is not an uncompressed P-256 or P-384 point.
    #[error("workload public key is not an uncompressed P-256 or P-384 point ({0} bytes)")]
    UnsupportedKey(usize),
    /// A validity bound outside what certificates can express.
    #[error("certificate time {0} is out of range")]
    Time(u64),
    /// A SAN that is not a DNS name, IP address or URI.
    #[error("SAN {san:?} is not a DNS name, IP address or URI")]
    InvalidSan {
        /// The SAN as the manifest spells it.
        san: String,
    },
}

/// The root CA.
#[derive(Debug)]
pub struct RootCa {
    params: CertificateParams,
    key: KeyPair,
    certificate: Vec<u8>,
}

/// The mesh CA of one manifest transition.
#[derive(Debug)]
pub struct MeshCa {
    params: CertificateParams,
    key: KeyPair,
    certificate: Vec<u8>,
}

impl RootCa {
    /// A new root CA certificate for the seed's root key, valid from an hour before `now`.
    ///
    /// # Errors
    /// [`CaError`] if derivation or signing fails.
    pub fn create(seed: &Seed, now: UnixTime) -> Result<Self, CaError> {
        let key = KeyPair::try_from(seed.root_ca_key()?.as_slice())?;
        let params = ca_params("Chiaro root CA", now)?;
        let certificate = params.self_signed(&key)?.der().to_vec();
        Ok(Self {
            params,
            key,
            certificate,
        })
    }

    /// Re-attaches a stored root certificate to the seed's root key.
    ///
    /// # Errors
    /// [`CaError::KeyMismatch`] when the certificate is for another key.
    pub fn restore(seed: &Seed, certificate: &[u8]) -> Result<Self, CaError> {
        let key = KeyPair::try_from(seed.root_ca_key()?.as_slice())?;
        check_key(certificate, &key, "root CA")?;
        let params = ca_params("Chiaro root CA", UnixTime::from_secs(0))?;
        Ok(Self {
            params,
            key,
            certificate: certificate.to_vec(),
        })
    }

    /// The certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }
}

impl MeshCa {
    /// A new mesh CA for the manifest installed by `transition`, signed by `root`.
    ///
    /// # Errors
    /// [`CaError`] if derivation or signing fails.
    pub fn create(
        seed: &Seed,
        transition: &TransitionHash,
        root: &RootCa,
        now: UnixTime,
    ) -> Result<Self, CaError> {
        let key = KeyPair::try_from(seed.mesh_ca_key(transition)?.as_slice())?;
        let params = ca_params("Chiaro mesh CA", now)?;
        let mut signed = params.clone();
        signed.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let issuer = Issuer::from_params(&root.params, &root.key);
        let certificate = signed.signed_by(&key, &issuer)?.der().to_vec();
        Ok(Self {
            params,
            key,
            certificate,
        })
    }

    /// Re-attaches a stored mesh CA certificate to the key of `transition`.
    ///
    /// # Errors
    /// [`CaError::KeyMismatch`] when the certificate is for another key.
    pub fn restore(
        seed: &Seed,
        transition: &TransitionHash,
        certificate: &[u8],
    ) -> Result<Self, CaError> {
        let key = KeyPair::try_from(seed.mesh_ca_key(transition)?.as_slice())?;
        check_key(certificate, &key, "mesh CA")?;
        let params = ca_params("Chiaro mesh CA", UnixTime::from_secs(0))?;
        Ok(Self {
            params,
            key,
            certificate: certificate.to_vec(),
        })
    }

    /// The certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// A mesh certificate for `public_key` (an uncompressed EC point) with `entry`'s SANs,
    /// valid for a year from an hour before `now`. Whether `entry` may have one at all is the
    /// caller's decision ([`crate::state::Coordinator::new_mesh_cert`]).
    ///
    /// # Errors
    /// [`CaError`] for an unsupported key, a malformed SAN, or a signing failure.
    pub fn issue(
        &self,
        public_key: &[u8],
        entry: &PolicyEntry,
        now: UnixTime,
    ) -> Result<Vec<u8>, CaError> {
        let subject_key = WorkloadKey::new(public_key)?;
        let mut params = CertificateParams::default();
        params.subject_alt_names = entry
            .sans
            .iter()
            .map(|san| san_type(san))
            .collect::<Result<_, _>>()?;
        let mut name = DistinguishedName::new();
        if let Some(first) = entry.sans.first() {
            name.push(DnType::CommonName, first.as_str());
        }
        params.distinguished_name = name;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        set_validity(&mut params, now, LEAF_LIFETIME_SECS)?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        Ok(params.signed_by(&subject_key, &issuer)?.der().to_vec())
    }

    /// A workload owner's client certificate for `public_key` (an uncompressed P-256 point),
    /// valid from five minutes before `now` until `not_after`. Whether the owner may have one,
    /// and for how long, is the caller's decision
    /// ([`crate::state::Coordinator::new_owner_client_cert`]).
    ///
    /// # Errors
    /// [`CaError`] for an unsupported key, a time out of range, or a signing failure.
    pub fn issue_owner_client(
        &self,
        public_key: &[u8; 65],
        owner: &KeyDigest,
        now: UnixTime,
        not_after: u64,
    ) -> Result<Vec<u8>, CaError> {
        let subject_key = WorkloadKey::new(public_key)?;
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![SanType::DnsName(WORKLOAD_OWNER.try_into().map_err(
            |_| CaError::InvalidSan {
                san: WORKLOAD_OWNER.to_owned(),
            },
        )?)];
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, owner.to_string());
        name.push(DnType::OrganizationName, "Chiaro workload owner");
        params.distinguished_name = name;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = certificate_time(now.as_secs().saturating_sub(OWNER_BACKDATE_SECS))?;
        params.not_after = certificate_time(not_after)?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        Ok(params.signed_by(&subject_key, &issuer)?.der().to_vec())
    }
}

fn ca_params(common_name: &str, now: UnixTime) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "Chiaro");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, now, CA_LIFETIME_SECS)?;
    Ok(params)
}

fn set_validity(
    params: &mut CertificateParams,
    now: UnixTime,
    lifetime: u64,
) -> Result<(), CaError> {
    params.not_before = certificate_time(now.as_secs().saturating_sub(BACKDATE_SECS))?;
    params.not_after = certificate_time(now.as_secs().saturating_add(lifetime))?;
    Ok(())
}

fn certificate_time(secs: u64) -> Result<time::OffsetDateTime, CaError> {
    i64::try_from(secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .ok_or(CaError::Time(secs))
}

/// The serial number of `certificate` (DER), big-endian.
///
/// # Errors
/// [`CaError::Malformed`]: it does not decode.
pub fn serial(certificate: &[u8]) -> Result<Vec<u8>, CaError> {
    let cert = x509_cert::Certificate::from_der(certificate).map_err(CaError::Malformed)?;
    Ok(cert.tbs_certificate().serial_number().as_bytes().to_vec())
}

fn check_key(certificate: &[u8], key: &KeyPair, what: &'static str) -> Result<(), CaError> {
    let cert = x509_cert::Certificate::from_der(certificate).map_err(CaError::Malformed)?;
    let stored = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    if stored != key.public_key_raw() {
        return Err(CaError::KeyMismatch(what));
    }
    Ok(())
}

fn san_type(text: &str) -> Result<SanType, CaError> {
    let invalid = || CaError::InvalidSan {
        san: text.to_owned(),
    };
    match San::parse(text).ok_or_else(invalid)? {
        San::Ip(ip) => Ok(SanType::IpAddress(ip)),
        San::Uri(uri) => Ok(SanType::URI(uri.try_into().map_err(|_| invalid())?)),
        San::Dns(name) => Ok(SanType::DnsName(name.try_into().map_err(|_| invalid())?)),
    }
}

/// A workload's public key as an uncompressed EC point.
struct WorkloadKey<'a> {
    point: &'a [u8],
    algorithm: &'static SignatureAlgorithm,
}

impl<'a> WorkloadKey<'a> {
    fn new(point: &'a [u8]) -> Result<Self, CaError> {
        let algorithm = match (point.len(), point.first()) {
            (65, Some(0x04)) => &rcgen::PKCS_ECDSA_P256_SHA256,
            (97, Some(0x04)) => &rcgen::PKCS_ECDSA_P384_SHA384,
            (len, _) => return Err(CaError::UnsupportedKey(len)),
        };
        Ok(Self { point, algorithm })
    }
}

impl PublicKeyData for WorkloadKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.point
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}
