//! The client side: a channel that attests the server on every (re)connection.

use std::net::SocketAddr;
use std::sync::Arc;

use chiaro_atls::ClientConfig;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

use super::SessionBinding;

/// A gRPC channel to `address` whose every connection attests the server with `config`.
///
/// # Errors
/// The connection error, with the attestation failure as its source.
pub async fn channel(
    address: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<Channel, tonic::transport::Error> {
    Ok(bound_channel(address, config).await?.0)
}

/// The session binding of a channel's current connection (it changes when the channel
/// reconnects; a proof made for an earlier connection is then refused, never misused).
#[derive(Debug, Clone, Default)]
pub struct ChannelSession(Arc<std::sync::Mutex<Option<SessionBinding>>>);

impl ChannelSession {
    /// The binding of the latest connection.
    pub fn current(&self) -> Option<SessionBinding> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, binding: Option<SessionBinding>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = binding;
    }
}

/// [`channel`], and the session binding of its connection.
///
/// # Errors
/// The connection error, with the attestation failure as its source.
pub async fn bound_channel(
    address: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<(Channel, ChannelSession), tonic::transport::Error> {
    let session = ChannelSession::default();
    let connection_session = session.clone();
    let connector = tower::service_fn(move |_uri| {
        let config = Arc::clone(&config);
        let session = connection_session.clone();
        async move {
            let tcp = TcpStream::connect(address)
                .await
                .map_err(chiaro_atls::AtlsError::Io)?;
            tcp.set_nodelay(true).map_err(chiaro_atls::AtlsError::Io)?;
            let stream = chiaro_atls::connect(tcp, &config).await?;
            session.set(SessionBinding::export(&**stream.get_ref().get_ref().1));
            Ok::<_, chiaro_atls::AtlsError>(TokioIo::new(stream))
        }
    });
    // The URI is only a label: the connector above decides where to connect.
    let channel = Endpoint::from_static("http://chiaro-coordinator.invalid")
        .connect_with_connector(connector)
        .await?;
    Ok((channel, session))
}
