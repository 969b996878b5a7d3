//! The server side: a stream of attested connections for tonic, each with what a handler knows
//! about its caller.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use chiaro_atls::{AttestedStream, ServerConfig};
use chiaro_attest::{Claims, Verified};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use super::SessionBinding;
use crate::admission::{AcceptBackoff, Admission, ConnectionSlot, ListenerEvent, Ticket};

/// One attested server connection, as tonic serves it; it holds its place among the listener's
/// connections until dropped.
#[derive(Debug)]
pub struct AttestedConnection(
    AttestedStream<tokio_rustls::server::TlsStream<TcpStream>>,
    #[expect(
        dead_code,
        reason = "held for its drop, which frees the connection's place"
    )]
    ConnectionSlot,
);

/// What a handler knows about the caller (a request extension).
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The caller's verified claims, when it attested.
    pub claims: Option<Verified<Claims>>,
    /// The public key (uncompressed EC point) of the caller's TLS certificate, when it sent one.
    pub tls_public_key: Option<Vec<u8>>,
    /// The caller's address.
    pub address: Option<SocketAddr>,
    /// This connection's session binding.
    pub session: Option<SessionBinding>,
    /// What the server's validator judged the caller's evidence against (the Coordinator: the
    /// transition hash of its manifest then).
    pub judged_under: Option<chiaro_manifest::TransitionHash>,
}

impl Connected for AttestedConnection {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        let (tcp, tls) = self.0.get_ref().get_ref();
        let tls_public_key = tls
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| {
                use der::Decode;
                x509_cert::Certificate::from_der(leaf).ok().map(|cert| {
                    cert.tbs_certificate()
                        .subject_public_key_info()
                        .subject_public_key
                        .raw_bytes()
                        .to_vec()
                })
            });
        PeerInfo {
            claims: self.0.peer().cloned(),
            tls_public_key,
            address: tcp.peer_addr().ok(),
            session: SessionBinding::export(&**tls),
            judged_under: self
                .0
                .peer_basis()
                .map(|basis| chiaro_manifest::TransitionHash::new(*basis.as_bytes())),
        }
    }
}

impl AsyncRead for AttestedConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for AttestedConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Accepts TCP connections on `listener` and yields those that pass attested TLS. Each
/// handshake runs in its own task, so a slow or hostile peer delays no one else.
///
/// Before a connection costs anything more than its descriptor, `admission` admits it: a
/// connection over a cap is closed at once; an admitted one has [`Limits::pre_auth_timeout`]
/// to finish the TLS handshake and the exchange, and keeps its place among the listener's
/// connections until it closes (see [`crate::admission`]). Failed accepts pause the loop
/// ([`crate::admission::AcceptBackoff`]) and never reach tonic. Everything refused or failed is
/// reported to `on_event`.
///
/// [`Limits::pre_auth_timeout`]: crate::admission::Limits::pre_auth_timeout
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    admission: Arc<Admission>,
    on_event: impl Fn(ListenerEvent) + Send + Sync + 'static,
) -> ReceiverStream<Result<AttestedConnection, io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let on_event = Arc::new(on_event);
    tokio::spawn(async move {
        let mut backoff = AcceptBackoff::default();
        loop {
            let (tcp, address) = tokio::select! {
                () = sender.closed() => return,
                accepted = crate::admission::accept(&listener, &mut backoff, |error, pause| {
                    on_event(ListenerEvent::AcceptFailed { error, pause });
                }) => accepted,
            };
            let ticket = match admission.admit(address.ip()) {
                Ok(ticket) => ticket,
                Err(cap) => {
                    drop(tcp);
                    on_event(ListenerEvent::OverCap { address, cap });
                    continue;
                }
            };
            // Small request/response exchanges: do not wait for delayed ACKs.
            let _ = tcp.set_nodelay(true);
            tokio::spawn(attest(
                tcp,
                address,
                ticket,
                Arc::clone(&config),
                admission.limits().pre_auth_timeout,
                sender.clone(),
                Arc::clone(&on_event),
            ));
        }
    });
    ReceiverStream::new(receiver)
}

/// The unauthenticated phase of one connection: the exchange, within `deadline`, unless it is
/// evicted first; an attested stream goes to tonic with the connection's place.
async fn attest<F: Fn(ListenerEvent)>(
    tcp: TcpStream,
    address: SocketAddr,
    ticket: Ticket,
    config: Arc<ServerConfig>,
    deadline: std::time::Duration,
    sender: tokio::sync::mpsc::Sender<Result<AttestedConnection, io::Error>>,
    on_event: Arc<F>,
) {
    let Ticket {
        connection,
        mut pre_auth,
    } = ticket;
    let outcome = tokio::select! {
        biased;
        () = pre_auth.evicted() => None,
        outcome = tokio::time::timeout(deadline, chiaro_atls::accept(tcp, &config)) => Some(outcome),
    };
    drop(pre_auth);
    // Each event is reported after the connection and its places are gone.
    let event = match outcome {
        Some(Ok(Ok(stream))) => {
            let _ = sender
                .send(Ok(AttestedConnection(stream, connection)))
                .await;
            return;
        }
        None => ListenerEvent::Evicted { address },
        Some(Ok(Err(error))) => ListenerEvent::NotAttested { address, error },
        Some(Err(_)) => ListenerEvent::NotAttested {
            address,
            error: chiaro_atls::AtlsError::Timeout {
                seconds: deadline.as_secs(),
            },
        },
    };
    drop(connection);
    on_event(event);
}
