//! The attestation exchange after the TLS 1.3 handshake, and the stream it yields.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chiaro_attest::{Claims, UnixTime, Verified};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::binding::{KeyInfo, Role, Session};
use crate::error::AtlsError;
use crate::evidence::EvidenceBundle;
use crate::identity::TlsIdentity;
use crate::tls;
use crate::validator::{Basis, Issuer, Judgement, Validator};
/// The largest frame accepted: a TDX quote with collateral is about 20 KiB.
const MAX_FRAME: usize = 1 << 20;
/// The default limit for the whole exchange.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The verification time source; binaries pass the system clock, tests a fixed time.
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// This side's evidence source and the key of the certificate it presents, which its evidence
/// vouches for.
struct Attester {
    issuer: Arc<dyn Issuer>,
    key: KeyInfo,
}

impl Attester {
    fn new(issuer: Arc<dyn Issuer>, identity: &TlsIdentity) -> Self {
        Self {
            issuer,
            key: identity.key_info().clone(),
        }
    }
}

/// The accepting side.
pub struct ServerConfig {
    tls: TlsAcceptor,
    attester: Option<Attester>,
    client_validator: Option<Arc<dyn Validator>>,
    clock: Clock,
    timeout: Duration,
}

/// The connecting side.
pub struct ClientConfig {
    tls: TlsConnector,
    attester: Option<Attester>,
    server_validator: Arc<dyn Validator>,
    clock: Clock,
    timeout: Duration,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("attests_itself", &self.attester.is_some())
            .field("requires_attested_client", &self.client_validator.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("attests_itself", &self.attester.is_some())
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
            attester: issuer.map(|issuer| Attester::new(issuer, &identity)),
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
            attester: issuer
                .zip(identity.as_ref())
                .map(|(issuer, identity)| Attester::new(issuer, identity)),
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
            attester: Some(Attester::new(issuer, identity)),
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
    peer: Option<Judgement>,
}

impl<S> AttestedStream<S> {
    /// The peer's verified claims, when the peer attested.
    pub fn peer(&self) -> Option<&Verified<Claims>> {
        self.peer.as_ref().map(Judgement::claims)
    }

    /// What this side's validator judged the peer's evidence against, when the peer attested
    /// and the validator said (see [`Basis`]).
    pub fn peer_basis(&self) -> Option<Basis> {
        self.peer.as_ref().and_then(Judgement::basis)
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
        let session = Session::of(stream.get_ref().1)?;
        send(
            &mut stream,
            &own_evidence(config.attester.as_ref(), &session, Role::Server).await?,
        )
        .await?;
        let peer = match (&config.client_validator, receive(&mut stream).await?) {
            (Some(validator), Frame::Evidence { evidence }) => {
                match check(validator, evidence, &session, Role::Client, &config.clock).await {
                    Ok(judgement) => Some(judgement),
                    Err(error) => {
                        let retryable = error.peer_may_retry();
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
        let session = Session::of(stream.get_ref().1)?;
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
            &session,
            Role::Server,
            &config.clock,
        )
        .await
        {
            Ok(judgement) => judgement,
            Err(error) => {
                let _ = send(&mut stream, &Frame::Refused { retryable: false }).await;
                return Err(error);
            }
        };
        send(
            &mut stream,
            &own_evidence(config.attester.as_ref(), &session, Role::Client).await?,
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

/// This side's evidence, attesting as `role` in `session`, or `no_evidence` without an issuer.
async fn own_evidence(
    attester: Option<&Attester>,
    session: &Session,
    role: Role,
) -> Result<Frame, AtlsError> {
    let Some(attester) = attester else {
        return Ok(Frame::NoEvidence);
    };
    let report_data = session.own(role, &attester.key);
    let issuer = Arc::clone(&attester.issuer);
    let evidence = tokio::task::spawn_blocking(move || issuer.issue(&report_data))
        .await
        .map_err(AtlsError::Task)?
        .map_err(AtlsError::Issuer)?;
    Ok(Frame::Evidence { evidence })
}

/// Judges the evidence of the peer, which attests as `role`: the validator's verdict, then the
/// binding to this session and to the key the peer authenticated the handshake with.
async fn check(
    validator: &Arc<dyn Validator>,
    evidence: EvidenceBundle,
    session: &Session,
    role: Role,
    clock: &Clock,
) -> Result<Judgement, AtlsError> {
    let expected = session.expected_from_peer(role)?;
    let validator = Arc::clone(validator);
    let now = clock();
    let judgement = tokio::task::spawn_blocking(move || validator.validate(&evidence, now))
        .await
        .map_err(AtlsError::Task)?
        .map_err(AtlsError::from)?;
    if judgement.claims().report_data != expected {
        return Err(AtlsError::EvidenceNotBound);
    }
    Ok(judgement)
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
    let mut frame = Vec::with_capacity(body.len().saturating_add(4));
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
