//! rustls configuration: TLS 1.3 only, the ring provider, and certificate verifiers that check
//! the handshake signature (possession of the key) but leave trust to the evidence exchange.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use crate::error::AtlsError;
use crate::identity::TlsIdentity;

/// The server name clients send; it carries no meaning (the peer is identified by evidence).
pub(crate) const SERVER_NAME: &str = "chiaro-atls.invalid";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn server_config(
    identity: &TlsIdentity,
    client_certificate_required: bool,
) -> Result<rustls::ServerConfig, AtlsError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| AtlsError::Config {
            detail: e.to_string(),
        })?;
    let builder = if client_certificate_required {
        builder.with_client_cert_verifier(Arc::new(SessionBoundVerifier::new()))
    } else {
        builder.with_no_client_auth()
    };
    builder
        .with_single_cert(vec![identity.certificate()], identity.key())
        .map_err(|e| AtlsError::Config {
            detail: e.to_string(),
        })
}

pub(crate) fn client_config(
    identity: Option<&TlsIdentity>,
) -> Result<rustls::ClientConfig, AtlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| AtlsError::Config { detail: e.to_string() })?
        // rustls names every custom verifier "dangerous"; this one is safe because nothing is
        // trusted until the peer's evidence, bound to this handshake, has verified.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SessionBoundVerifier::new()));
    match identity {
        Some(identity) => builder
            .with_client_auth_cert(vec![identity.certificate()], identity.key())
            .map_err(|e| AtlsError::Config {
                detail: e.to_string(),
            }),
        None => Ok(builder.with_no_client_auth()),
    }
}

pub(crate) fn server_name() -> Result<ServerName<'static>, AtlsError> {
    ServerName::try_from(SERVER_NAME).map_err(|e| AtlsError::Config {
        detail: e.to_string(),
    })
}

/// Accepts any well-formed certificate whose key signs the TLS 1.3 handshake. The certificate
/// itself is not trusted: the peer's evidence must carry a hash of this session's exporter and
/// this certificate's public key (`crate::binding`), so only evidence that vouches for this
/// very key is accepted.
#[derive(Debug)]
struct SessionBoundVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl SessionBoundVerifier {
    fn new() -> Self {
        Self {
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for SessionBoundVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for SessionBoundVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }
}
