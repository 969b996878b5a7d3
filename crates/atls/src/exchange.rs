//! The attestation exchange after the TLS 1.3 handshake, and the stream it yields.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chiaro_attest::{Claims, ReportData, UnixTime, Verified};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::AtlsError;
use crate::evidence::EvidenceBundle;
use crate::identity::TlsIdentity;
use crate::tls;
use crate::validator::{Issuer, Validator};

/// The exporter label (RFC 8446 §7.5); the context is the role of the side that attests.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-chiaro-atls-v1";
/// The largest frame accepted: a TDX quote with collateral is about 20 KiB.
const MAX_FRAME: usize = 1 << 20;
/// The default limit for the whole exchange.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The verification time source; binaries pass the system clock, tests a fixed time.
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// The accepting side.
pub struct ServerConfig {
    tls: TlsAcceptor,
    issuer: Option<Arc<dyn Issuer>>,
    client_validator: Option<Arc<dyn Validator>>,
    clock: Clock,
    timeout: Duration,
}

/// The connecting side.
pub struct ClientConfig {
    tls: TlsConnector,
    issuer: Option<Arc<dyn Issuer>>,
    server_validator: Arc<dyn Validator>,
    clock: Clock,
    timeout: Duration,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("attests_itself", &self.issuer.is_some())
            .field("requires_attested_client", &self.client_validator.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("attests_itself", &self.issuer.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// A server that attests itself with `issuer` (if any) and, when `client_validator` is
    /// given, requires every client to attest (mutual aTLS).
    ///
    /// # Errors
    /// [`AtlsError::Config`] if the TLS configuration cannot be built.
    pub fn new(
        issuer: Option<Arc<dyn Issuer>>,
        client_validator: Option<Arc<dyn Validator>>,
        clock: Clock,
    ) -> Result<Self, AtlsError> {
        let identity = TlsIdentity::generate()?;
        let tls = tls::server_config(&identity, client_validator.is_some())?;
        Ok(Self {
            tls: TlsAcceptor::from(Arc::new(tls)),
            issuer,
            client_validator,
            clock,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sets the limit for handshake and exchange together.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl ClientConfig {
    /// A client that requires the server's evidence to satisfy `server_validator`, and attests
    /// itself with `issuer` when given.
    ///
    /// # Errors
    /// [`AtlsError::Config`] if the TLS configuration cannot be built.
    pub fn new(
        server_validator: Arc<dyn Validator>,
        issuer: Option<Arc<dyn Issuer>>,
        clock: Clock,
    ) -> Result<Self, AtlsError> {
        let identity = issuer
            .as_ref()
            .map(|_| TlsIdentity::generate())
            .transpose()?;
        let tls = tls::client_config(identity.as_ref())?;
        Ok(Self {
            tls: TlsConnector::from(Arc::new(tls)),
            issuer,
            server_validator,
            clock,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// A client that attests itself with `issuer` over the TLS key of `identity` (whose key then
    /// is what the server sees, e.g. to certify it).
    ///
    /// # Errors
    /// [`AtlsError::Config`] if the TLS configuration cannot be built.
    pub fn with_identity(
        server_validator: Arc<dyn Validator>,
        issuer: Arc<dyn Issuer>,
        identity: &TlsIdentity,
        clock: Clock,
    ) -> Result<Self, AtlsError> {
        let tls = tls::client_config(Some(identity))?;
        Ok(Self {
            tls: TlsConnector::from(Arc::new(tls)),
            issuer: Some(issuer),
            server_validator,
            clock,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sets the limit for handshake and exchange together.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A TLS stream whose peer passed attestation (or, on a server without a client validator, a
/// client that was not asked to).
#[derive(Debug)]
pub struct AttestedStream<S> {
    stream: S,
    peer: Option<Verified<Claims>>,
}

impl<S> AttestedStream<S> {
    /// The peer's verified claims, when the peer attested.
    pub fn peer(&self) -> Option<&Verified<Claims>> {
        self.peer.as_ref()
    }

    /// The underlying TLS stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AttestedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AttestedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Accepts one connection: TLS 1.3 handshake, then the exchange.
///
/// # Errors
/// [`AtlsError`]; on a refusal the peer is told before the connection closes.
pub async fn accept<IO>(
    io: IO,
    config: &ServerConfig,
) -> Result<AttestedStream<tokio_rustls::server::TlsStream<IO>>, AtlsError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let seconds = config.timeout.as_secs();
    tokio::time::timeout(config.timeout, async {
        let mut stream = config.tls.accept(io).await.map_err(AtlsError::Handshake)?;
        let (server_binding, client_binding) = {
            let (_, connection) = stream.get_ref();
            let export = |out: &mut [u8], label: &[u8], context: Option<&[u8]>| {
                connection
                    .export_keying_material(out, label, context)
                    .map(|_| ())
            };
            (binding(b"server", export)?, binding(b"client", export)?)
        };
        send(
            &mut stream,
            &own_evidence(config.issuer.as_ref(), server_binding).await?,
        )
        .await?;
        let peer = match (&config.client_validator, receive(&mut stream).await?) {
            (Some(validator), Frame::Evidence { evidence }) => {
                match check(validator, evidence, client_binding, &config.clock).await {
                    Ok(claims) => Some(claims),
                    Err(error) => {
                        let retryable = matches!(
                            error,
                            AtlsError::Evidence(chiaro_attest::Error::Unavailable(_))
                        );
                        let _ = send(&mut stream, &Frame::Refused { retryable }).await;
                        return Err(error);
                    }
                }
            }
            (Some(_), Frame::NoEvidence) => {
                let _ = send(&mut stream, &Frame::Refused { retryable: false }).await;
                return Err(AtlsError::PeerNotAttested);
            }
            (None, Frame::Evidence { .. } | Frame::NoEvidence) => None,
            (_, Frame::Accepted | Frame::Refused { .. }) => {
                return Err(AtlsError::Protocol {
                    detail: "expected the client's evidence".to_owned(),
                });
            }
        };
        send(&mut stream, &Frame::Accepted).await?;
        Ok(AttestedStream { stream, peer })
    })
    .await
    .map_err(|_| AtlsError::Timeout { seconds })?
}

/// Connects over `io`: TLS 1.3 handshake, then the exchange.
///
/// # Errors
/// [`AtlsError`]; on a refusal the peer is told before the connection closes.
pub async fn connect<IO>(
    io: IO,
    config: &ClientConfig,
) -> Result<AttestedStream<tokio_rustls::client::TlsStream<IO>>, AtlsError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let seconds = config.timeout.as_secs();
    tokio::time::timeout(config.timeout, async {
        let mut stream = config
            .tls
            .connect(tls::server_name()?, io)
            .await
            .map_err(AtlsError::Handshake)?;
        let (server_binding, client_binding) = {
            let (_, connection) = stream.get_ref();
            let export = |out: &mut [u8], label: &[u8], context: Option<&[u8]>| {
                connection
                    .export_keying_material(out, label, context)
                    .map(|_| ())
            };
            (binding(b"server", export)?, binding(b"client", export)?)
        };
        let server = match receive(&mut stream).await? {
            Frame::Evidence { evidence } => evidence,
            Frame::NoEvidence => {
                let _ = send(&mut stream, &Frame::Refused { retryable: false }).await;
                return Err(AtlsError::PeerNotAttested);
            }
            Frame::Accepted | Frame::Refused { .. } => {
                return Err(AtlsError::Protocol {
                    detail: "expected the server's evidence".to_owned(),
                });
            }
        };
        let peer = match check(
            &config.server_validator,
            server,
            server_binding,
            &config.clock,
        )
        .await
        {
            Ok(claims) => claims,
            Err(error) => {
                let _ = send(&mut stream, &Frame::Refused { retryable: false }).await;
                return Err(error);
            }
        };
        send(
            &mut stream,
            &own_evidence(config.issuer.as_ref(), client_binding).await?,
        )
        .await?;
        match receive(&mut stream).await? {
            Frame::Accepted => Ok(AttestedStream {
                stream,
                peer: Some(peer),
            }),
            Frame::Refused { retryable } => Err(AtlsError::RefusedByPeer { retryable }),
            Frame::Evidence { .. } | Frame::NoEvidence => Err(AtlsError::Protocol {
                detail: "expected the server's verdict".to_owned(),
            }),
        }
    })
    .await
    .map_err(|_| AtlsError::Timeout { seconds })?
}

/// One message of the exchange.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
enum Frame {
    Evidence {
        evidence: EvidenceBundle,
    },
    NoEvidence,
    Accepted,
    Refused {
        #[serde(default)]
        retryable: bool,
    },
}

/// The 64-byte exporter value for `role` (b"server" or b"client"): the report data that side's
/// evidence must carry.
fn binding(
    role: &[u8],
    export: impl FnOnce(&mut [u8], &[u8], Option<&[u8]>) -> Result<(), rustls::Error>,
) -> Result<ReportData, AtlsError> {
    let mut binding = [0u8; 64];
    export(&mut binding, EXPORTER_LABEL, Some(role)).map_err(|e| AtlsError::Config {
        detail: e.to_string(),
    })?;
    Ok(ReportData::new(binding))
}

async fn own_evidence(
    issuer: Option<&Arc<dyn Issuer>>,
    binding: ReportData,
) -> Result<Frame, AtlsError> {
    let Some(issuer) = issuer else {
        return Ok(Frame::NoEvidence);
    };
    let issuer = Arc::clone(issuer);
    let evidence = tokio::task::spawn_blocking(move || issuer.issue(&binding))
        .await
        .map_err(|e| AtlsError::Issuer {
            detail: e.to_string(),
        })?
        .map_err(|detail| AtlsError::Issuer { detail })?;
    Ok(Frame::Evidence { evidence })
}

async fn check(
    validator: &Arc<dyn Validator>,
    evidence: EvidenceBundle,
    binding: ReportData,
    clock: &Clock,
) -> Result<Verified<Claims>, AtlsError> {
    let validator = Arc::clone(validator);
    let now = clock();
    let claims = tokio::task::spawn_blocking(move || validator.validate(&evidence, now))
        .await
        .map_err(|e| AtlsError::Protocol {
            detail: e.to_string(),
        })?
        .map_err(AtlsError::Evidence)?;
    if claims.report_data != binding {
        return Err(AtlsError::EvidenceNotBound);
    }
    Ok(claims)
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, frame: &Frame) -> Result<(), AtlsError> {
    let body = serde_json::to_vec(frame).map_err(|e| AtlsError::Protocol {
        detail: e.to_string(),
    })?;
    let len = u32::try_from(body.len()).map_err(|_| AtlsError::Protocol {
        detail: "frame too large".to_owned(),
    })?;
    // One write per frame: a separate length write would be its own TLS record and, with
    // Nagle's algorithm, wait for a delayed ACK.
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await.map_err(AtlsError::Io)?;
    stream.flush().await.map_err(AtlsError::Io)
}

async fn receive<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Frame, AtlsError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.map_err(|e| {
        let alert = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match (e.kind(), alert) {
            // The peer aborted the session with a TLS alert (e.g. `certificate_required` from a
            // server that requires attested clients): it refused us.
            (_, Some(rustls::Error::AlertReceived(_))) => {
                AtlsError::RefusedByPeer { retryable: false }
            }
            (io::ErrorKind::UnexpectedEof, _) => AtlsError::Protocol {
                detail: "connection closed before an attestation frame".to_owned(),
            },
            _ => AtlsError::Io(e),
        }
    })?;
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > MAX_FRAME {
        return Err(AtlsError::Protocol {
            detail: format!("frame of {len} bytes exceeds {MAX_FRAME}"),
        });
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.map_err(AtlsError::Io)?;
    serde_json::from_slice(&body).map_err(|e| AtlsError::Protocol {
        detail: format!("malformed frame: {e}"),
    })
}
