//! The forwarder's loop: per connection, read the [`ForwardRequest`] line, connect where it
//! says, copy bytes both ways until either side closes.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::request::{ForwardRequest, MAX_LINE, RequestError};

/// How long a client has to send its request line, and the forwarder to connect on.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The most connections forwarded at once.
pub const MAX_CONNECTIONS: usize = 64;

/// Why one connection was not forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The request line is refused.
    #[error("bad request: {0}")]
    Request(#[from] RequestError),
    /// The client sent no full line in time, or closed first.
    #[error("no request line within {SETUP_TIMEOUT:?}")]
    NoRequest,
    /// The request line is not UTF-8.
    #[error("the request line is not UTF-8")]
    NotText,
    /// Reading the request failed.
    #[error("reading the request: {0}")]
    Read(#[source] std::io::Error),
    /// Connecting on failed.
    #[error("connecting to {target}: {source}")]
    Connect {
        /// Where.
        target: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Connecting on took too long.
    #[error("connecting to {0}: timed out after {SETUP_TIMEOUT:?}")]
    ConnectTimeout(String),
}

/// Accepts connections on `listener` and forwards each, reporting one line per connection to
/// `report` (where it went and how many bytes, or why it was refused). Runs until the task is
/// dropped.
pub async fn serve(listener: TcpListener, report: fn(&str)) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .map_err(std::io::Error::other)?;
        let (client, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                report(&format!("accept failed: {error}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            let line = match forward(client).await {
                Ok((target, up, down)) => {
                    format!("{peer} -> {target}: {up} bytes up, {down} bytes down")
                }
                Err(error) => format!("{peer}: not forwarded: {error}"),
            };
            report(&line);
            drop(permit);
        });
    }
}

/// Forwards one connection: the request's target and the bytes copied each way.
pub async fn forward(mut client: TcpStream) -> Result<(ForwardRequest, u64, u64), ForwardError> {
    let request = tokio::time::timeout(SETUP_TIMEOUT, read_request(&mut client))
        .await
        .map_err(|_| ForwardError::NoRequest)??;
    let target = request.to_string();
    let mut upstream = tokio::time::timeout(SETUP_TIMEOUT, TcpStream::connect(request.host_port()))
        .await
        .map_err(|_| ForwardError::ConnectTimeout(target.clone()))?
        .map_err(|source| ForwardError::Connect {
            target: target.clone(),
            source,
        })?;
    let (up, down) = tokio::io::copy_bidirectional(&mut client, &mut upstream)
        .await
        .unwrap_or((0, 0));
    let _ = upstream.shutdown().await;
    Ok((request, up, down))
}

/// Reads the request line byte by byte: nothing after its newline is consumed (that is the
/// client's TLS session, copied on as it is).
async fn read_request(client: &mut TcpStream) -> Result<ForwardRequest, ForwardError> {
    let mut line = Vec::with_capacity(64);
    loop {
        let byte = match client.read_u8().await {
            Ok(byte) => byte,
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(ForwardError::NoRequest);
            }
            Err(error) => return Err(ForwardError::Read(error)),
        };
        if byte == b'\n' {
            break;
        }
        if line.len() + 1 >= MAX_LINE {
            return Err(RequestError::TooLong.into());
        }
        line.push(byte);
    }
    let line = std::str::from_utf8(&line).map_err(|_| ForwardError::NotText)?;
    Ok(ForwardRequest::parse(line)?)
}
