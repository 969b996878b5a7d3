//! gRPC over attested TLS: a stream of attested server connections for tonic, and a client
//! channel that attests the server on every (re)connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use chiaro_atls::{AttestedStream, ClientConfig, ServerConfig};
use chiaro_attest::{Claims, Verified};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint};

/// One attested server connection, as tonic serves it.
#[derive(Debug)]
pub struct AttestedConnection(AttestedStream<tokio_rustls::server::TlsStream<TcpStream>>);

/// What a handler knows about the caller (a request extension).
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The caller's verified claims, when it attested.
    pub claims: Option<Verified<Claims>>,
    /// The public key (uncompressed EC point) of the caller's TLS certificate, when it sent one.
    pub tls_public_key: Option<Vec<u8>>,
    /// The caller's address.
    pub address: Option<SocketAddr>,
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
/// handshake runs in its own task, so a slow or hostile peer delays no one else; refused peers
/// are reported to `on_refused` and dropped.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    on_refused: impl Fn(Option<SocketAddr>, chiaro_atls::AtlsError) + Send + Sync + 'static,
) -> ReceiverStream<Result<AttestedConnection, io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let on_refused = Arc::new(on_refused);
    tokio::spawn(async move {
        loop {
            let (tcp, address) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    if sender.send(Err(error)).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            // Small request/response exchanges: do not wait for delayed ACKs.
            let _ = tcp.set_nodelay(true);
            let sender = sender.clone();
            let config = Arc::clone(&config);
            let on_refused = Arc::clone(&on_refused);
            tokio::spawn(async move {
                match chiaro_atls::accept(tcp, &config).await {
                    Ok(stream) => {
                        let _ = sender.send(Ok(AttestedConnection(stream))).await;
                    }
                    Err(error) => on_refused(Some(address), error),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}

/// A gRPC channel to `address` whose every connection attests the server with `config`.
///
/// # Errors
/// The connection error, with the attestation failure as its source.
pub async fn channel(
    address: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let connector = tower::service_fn(move |_uri| {
        let config = Arc::clone(&config);
        async move {
            let tcp = TcpStream::connect(address)
                .await
                .map_err(chiaro_atls::AtlsError::Io)?;
            tcp.set_nodelay(true).map_err(chiaro_atls::AtlsError::Io)?;
            let stream = chiaro_atls::connect(tcp, &config).await?;
            Ok::<_, chiaro_atls::AtlsError>(TokioIo::new(stream))
        }
    });
    // The URI is only a label: the connector above decides where to connect.
    Endpoint::from_static("http://chiaro-coordinator.invalid")
        .connect_with_connector(connector)
        .await
}
