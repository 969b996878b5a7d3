//! The status port: `GET /ready` answers 200 once the proxy has its credentials, its rules and
//! its listeners, 503 before; `GET /healthz` answers 200 while the process serves; `GET
//! /app-health/…` runs the workload probe registered at that path ([`crate::app_probes`]) and
//! answers 200 or 503 with its outcome. No workload data crosses it, so it is excluded from
//! redirection (the kubelet probes it from outside).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::app_probes::AppProbes;

/// Whether the proxy is ready.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the proxy ready.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether it is.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Serves the status port until the task is dropped.
pub async fn serve(listener: TcpListener, readiness: Readiness, probes: Arc<AppProbes>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let readiness = readiness.clone();
        let probes = Arc::clone(&probes);
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let read = stream.read(&mut request).await.unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..read]);
            let path = line.split(' ').nth(1).unwrap_or("/");
            const OK: &str = "200 OK";
            const UNAVAILABLE: &str = "503 Service Unavailable";
            let (status, body) = match (path, probes.get(path)) {
                ("/healthz", _) => (OK, "serving".to_owned()),
                ("/ready", _) if readiness.is_ready() => (OK, "ready".to_owned()),
                ("/ready", _) => (UNAVAILABLE, "not ready".to_owned()),
                (_, Some(probe)) => match probe.run().await {
                    Ok(passed) => (OK, passed),
                    Err(failed) => (UNAVAILABLE, failed),
                },
                _ => ("404 Not Found", "try /ready or /healthz".to_owned()),
            };
            let body = body + "\n";
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
