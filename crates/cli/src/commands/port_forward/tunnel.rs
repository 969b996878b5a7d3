//! One forwarded connection: a TCP leg to the untrusted forwarder, the request line telling it
//! where to connect, then TLS 1.3 from here to the target's mesh proxy (the mesh CA the
//! attested Coordinator served as the only root, the expected SAN as the server name, the
//! owner certificate as the client's), and the bytes copied both ways.

use std::sync::Arc;
use std::time::Duration;

use chiaro_forwarder::ForwardRequest;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::owner_cert::OwnerIdentity;

/// How long the forwarder leg and the TLS handshake may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a connection was not carried, or ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LegError {
    #[error("reaching the forwarder at {forwarder}: {source}")]
    Forwarder {
        forwarder: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no TLS session within {SETUP_TIMEOUT:?}")]
    Timeout,
    /// The server failed TLS: its certificate, or the records (tampering).
    #[error("{0}")]
    Refused(String),
    #[error("the connection failed: {0}")]
    Io(#[source] std::io::Error),
}

/// What every connection uses.
pub(crate) struct Tunnel {
    /// The forwarder's address.
    pub(crate) forwarder: String,
    /// Where it is asked to connect.
    pub(crate) request: ForwardRequest,
    /// The identity the server must prove.
    pub(crate) server_name: ServerName<'static>,
}

/// The TLS client: the mesh CA as its only root, the owner identity as its certificate.
pub(crate) fn client_config(
    mesh_ca: &[u8],
    identity: OwnerIdentity,
) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(mesh_ca.to_vec()))?;
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![identity.certificate], identity.key)?;
    Ok(Arc::new(config))
}

impl Tunnel {
    /// Carries `local` to the target: the bytes copied (up, down).
    pub(crate) async fn carry(
        &self,
        mut local: TcpStream,
        config: Arc<ClientConfig>,
    ) -> Result<(u64, u64), LegError> {
        let mut tls = tokio::time::timeout(SETUP_TIMEOUT, self.open(config))
            .await
            .map_err(|_| LegError::Timeout)??;
        let copied = tokio::io::copy_bidirectional(&mut local, &mut tls)
            .await
            .map_err(|error| classify(error, Phase::Session))?;
        let _ = tls.shutdown().await;
        Ok(copied)
    }

    async fn open(
        &self,
        config: Arc<ClientConfig>,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, LegError> {
        let forwarder_error = |source| LegError::Forwarder {
            forwarder: self.forwarder.clone(),
            source,
        };
        let mut leg = TcpStream::connect(&self.forwarder)
            .await
            .map_err(forwarder_error)?;
        leg.set_nodelay(true).map_err(forwarder_error)?;
        leg.write_all(self.request.to_line().as_bytes())
            .await
            .map_err(forwarder_error)?;
        TlsConnector::from(config)
            .connect(self.server_name.clone(), leg)
            .await
            .map_err(|error| classify(error, Phase::Handshake))
    }
}

/// Where a connection failed.
#[derive(Clone, Copy)]
enum Phase {
    Handshake,
    Session,
}

/// A TLS failure (the server's certificate, a record that fails its integrity check, an alert,
/// a session cut without `close_notify`) is a refusal; anything else is the connection's failure.
fn classify(error: std::io::Error, phase: Phase) -> LegError {
    match (
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        phase,
    ) {
        (Some(tls), _) => LegError::Refused(tls_reason(tls)),
        (None, Phase::Handshake) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            LegError::Refused(
                "the connection closed before the TLS session was complete (the forwarder \
                 could not connect, or the server is not a mesh proxy)"
                    .to_owned(),
            )
        }
        (None, Phase::Session) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            LegError::Refused(format!(
                "the server cut the TLS session without closing it (a mesh proxy does so when \
                 it refuses the client's certificate: does the target's ingress allow-list name \
                 {}?)",
                chiaro_names::reserved::WORKLOAD_OWNER
            ))
        }
        (None, _) => LegError::Io(error),
    }
}

fn tls_reason(error: &rustls::Error) -> String {
    use rustls::{CertificateError, Error};
    match error {
        Error::InvalidCertificate(CertificateError::NotValidForName)
        | Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => format!(
            "the server's certificate is not for the target's identity (another workload): \
             {error}"
        ),
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            format!("the server's certificate is not issued by the deployment's mesh CA: {error}")
        }
        Error::DecryptError => format!(
            "a TLS record failed its integrity check (the stream was tampered with): {error}"
        ),
        Error::AlertReceived(_) => format!("the server ended the TLS session: {error}"),
        other => other.to_string(),
    }
}
