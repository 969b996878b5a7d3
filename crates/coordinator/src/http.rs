//! The plain-HTTP status port: `/healthz` (the process serves), `/readyz` (200 only when ready,
//! 503 otherwise, with the state in the body) and `/metrics` (Prometheus text). It carries no
//! secret and no control, so it needs no attestation. A minimal HTTP/1.1 responder: one
//! request per connection, request head at most 8 KiB, five seconds to send it, at most
//! [`MAX_CONNECTIONS`] at once (more are closed at once); a failed accept pauses the loop, as
//! on the attested listeners, and never ends it.

use std::sync::Arc;
use std::time::Duration;

use chiaro_api::admission::{self, AcceptBackoff, Cap, ListenerEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::app::report;
use crate::metrics::{Api, Metrics};
use crate::state::Coordinator;

/// Requests served at once: probes and scrapes need a few.
pub const MAX_CONNECTIONS: usize = 64;
const MAX_HEAD: usize = 8 * 1024;

/// Serves the status port; it does not return.
pub async fn serve(listener: TcpListener, coordinator: Arc<Coordinator>, metrics: Arc<Metrics>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = AcceptBackoff::default();
    loop {
        let (stream, address) = admission::accept(&listener, &mut backoff, |error, pause| {
            report(
                &metrics,
                Api::Status,
                "status port",
                ListenerEvent::AcceptFailed { error, pause },
            );
        })
        .await;
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            let cap = Cap::Connections;
            report(
                &metrics,
                Api::Status,
                "status port",
                ListenerEvent::OverCap { address, cap },
            );
            continue;
        };
        let coordinator = Arc::clone(&coordinator);
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                respond(stream, &coordinator, &metrics),
            )
            .await;
            drop(slot);
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
