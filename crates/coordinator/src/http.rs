//! The plain-HTTP status port: `/healthz` (the process serves), `/readyz` (200 only when ready,
//! 503 otherwise, with the state in the body) and `/metrics` (Prometheus text). It carries no
//! secret and no control, so it needs no attestation. A minimal HTTP/1.1 responder: one
//! request per connection, request head at most 8 KiB, five seconds to send it.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;
use crate::state::Coordinator;

const MAX_HEAD: usize = 8 * 1024;

/// Serves the status port until the listener fails.
///
/// # Errors
/// The accept error.
pub async fn serve(
    listener: TcpListener,
    coordinator: Arc<Coordinator>,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let coordinator = Arc::clone(&coordinator);
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                respond(stream, &coordinator, &metrics),
            )
            .await;
        });
    }
}

async fn respond(
    mut stream: TcpStream,
    coordinator: &Coordinator,
    metrics: &Metrics,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 || head.len() + read > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(buffer.get(..read).unwrap_or_default());
    }
    let request_line = head.split(|byte| *byte == b'\r').next().unwrap_or_default();
    let mut parts = request_line.split(|byte| *byte == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let state = coordinator.state_name();
    let (status, content_type, body) = match (method, path) {
        (b"GET", b"/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        (b"GET", b"/readyz") if state == "ready" => ("200 OK", "text/plain", format!("{state}\n")),
        (b"GET", b"/readyz") => (
            "503 Service Unavailable",
            "text/plain",
            format!("{state}\n"),
        ),
        (b"GET", b"/metrics") => ("200 OK", "text/plain; version=0.0.4", metrics.render(state)),
        (b"GET", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_owned(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
