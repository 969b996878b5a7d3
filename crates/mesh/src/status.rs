//! The status port: `GET /ready` answers 200 once the proxy has its credentials, its rules and
//! its listeners, 503 before; `GET /healthz` answers 200 while the process serves; `GET
//! /app-health/…` runs the workload probe registered at that path ([`crate::app_probes`])
//! against the address the request was sent to, and answers 200 or 503 with its outcome. No
//! workload data crosses it, so it is excluded from redirection (the kubelet probes it from
//! outside).
//!
//! Anyone who reaches the pod can open connections here, in plaintext, so what they hold is
//! bounded: a connection is admitted through a [`Gate`] (at most [`Caps::status`] at once, a
//! newcomer from a source holding fewer evicts the largest holder's oldest), has
//! [`HEAD_TIMEOUT`] to send a request head of at most [`MAX_HEAD`] bytes and [`WRITE_TIMEOUT`]
//! to take the answer; a failed accept pauses the loop (`crate::accept`). One request per
//! connection.
//!
//! The ready file (`--ready-file`) is the same fact for the workload: [`write_ready_file`] at
//! the moment `/ready` turns 200, [`remove_ready_file`] when the proxy starts.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chiaro_atomic_file::Mode;
use chiaro_pod::ProbeTable;
use chiaro_pod::layout::READY_PATH;
use tokio::net::{TcpListener, TcpStream};

/// Where the status port serves the proxy's counters ([`crate::metrics`], Prometheus text).
pub const METRICS_PATH: &str = "/metrics";

use crate::admission::{Caps, Gate, Pass};
use crate::events::{Event, Events};
use crate::metrics::{Refusal, Side};
use crate::{MeshError, app_probes};
use chiaro_accept::http1::{self, Response, Status};
use chiaro_accept::{AcceptBackoff, accept};

/// How long a client has, from `accept`, to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client has to take the answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request head read (a probe's is a few hundred bytes).
pub const MAX_HEAD: usize = http1::MAX_HEAD;

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

/// The status port's state, shared by its listeners (IPv4 and IPv6).
#[derive(Debug)]
pub struct StatusPort {
    readiness: Readiness,
    probes: Arc<ProbeTable>,
    events: Events,
    gate: Arc<Gate>,
    head_timeout: Duration,
}

impl StatusPort {
    /// Answers with `readiness` and runs `probes`, admitting connections under `caps`.
    pub fn new(
        readiness: Readiness,
        probes: Arc<ProbeTable>,
        caps: Caps,
        events: Events,
    ) -> Arc<Self> {
        Self::with_head_timeout(readiness, probes, caps, events, HEAD_TIMEOUT)
    }

    /// As [`Self::new`], with another deadline for the request head (tests).
    pub fn with_head_timeout(
        readiness: Readiness,
        probes: Arc<ProbeTable>,
        caps: Caps,
        events: Events,
        head_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            readiness,
            probes,
            events,
            gate: Gate::new(caps),
            head_timeout,
        })
    }

    /// Serves `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let mut backoff = AcceptBackoff::default();
        loop {
            let (stream, peer) = accept(&listener, &mut backoff, |error, pause| {
                self.events.accept_failed("status", &error, pause);
            })
            .await;
            let pass = match self.gate.admit(peer.ip()) {
                Ok(pass) => pass,
                Err(full) => {
                    drop(stream);
                    self.events.record(Event::Refused {
                        side: Side::Status,
                        peer: peer.to_string(),
                        kind: Refusal::Capacity,
                        reason: full.to_string(),
                    });
                    continue;
                }
            };
            tokio::spawn(Arc::clone(&self).handle(stream, pass));
        }
    }

    /// One request, unless the connection is evicted first.
    async fn handle(self: Arc<Self>, mut stream: TcpStream, mut pass: Pass) {
        let peer = stream.peer_addr();
        tokio::select! {
            () = self.respond(&mut stream) => {}
            () = pass.evicted() => {
                self.events.record(Event::Refused {
                    side: Side::Status,
                    kind: Refusal::Capacity,
                    peer: peer.map_or_else(|_| "?".to_owned(), |peer| peer.to_string()),
                    reason: "ended to make room for another source".to_owned(),
                });
            }
        }
    }

    async fn respond(&self, stream: &mut TcpStream) {
        let Ok(Ok(Some(request))) =
            tokio::time::timeout(self.head_timeout, http1::read_request(stream)).await
        else {
            return;
        };
        let host = stream.local_addr().map(|own| own.ip().to_canonical());
        let (status, body) = self.answer(&request.path, host).await;
        let response = Response::text(status, body + "\n");
        let _ = tokio::time::timeout(WRITE_TIMEOUT, http1::write_response(stream, &response)).await;
    }

    /// The status line and body for `path`; a workload probe runs against `host`, the
    /// address the request was sent to (as the kubelet's own probe would reach the pod).
    async fn answer(&self, path: &str, host: std::io::Result<IpAddr>) -> (Status, String) {
        const OK: Status = Status::Ok;
        const UNAVAILABLE: Status = Status::ServiceUnavailable;
        match (path, self.probes.get(path)) {
            ("/healthz", _) => (OK, "serving".to_owned()),
            (METRICS_PATH, _) => (OK, self.events.metrics().render()),
            (READY_PATH, _) if self.readiness.is_ready() => (OK, "ready".to_owned()),
            (READY_PATH, _) => (UNAVAILABLE, "not ready".to_owned()),
            (_, Some(probe)) => match host {
                Ok(host) => match app_probes::run(probe, host).await {
                    Ok(passed) => (OK, passed.to_string()),
                    Err(failed) => (UNAVAILABLE, chiaro_pod::with_causes(&failed)),
                },
                Err(error) => (UNAVAILABLE, format!("no address to probe: {error}")),
            },
            _ => (
                Status::NotFound,
                format!("try {READY_PATH}, /healthz or {METRICS_PATH}"),
            ),
        }
    }
}

/// Removes a ready file left by an earlier run of the proxy, before anything else: from then
/// on the file exists only if this process wrote it. A missing file is no error.
///
/// # Errors
/// [`MeshError::ReadyFile`]: the file is there and cannot be removed.
pub fn remove_ready_file(path: &Path) -> Result<(), MeshError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(ready_file_error(path, error))
        }
        _ => Ok(()),
    }
}

/// Writes `content` to the ready file `path` atomically (`chiaro-atomic-file`: a temporary file
/// in the same directory, flushed, then renamed over `path`), so a reader sees no file or the
/// whole of it. The proxy is the file's only writer, so temporaries left by a crash of an
/// earlier run are swept first.
///
/// # Errors
/// [`MeshError::ReadyFile`]: the temporary file could not be written or renamed.
pub fn write_ready_file(path: &Path, content: &str) -> Result<(), MeshError> {
    chiaro_atomic_file::remove_temporaries(path)
        .and_then(|()| chiaro_atomic_file::write(path, content.as_bytes(), Mode::PUBLIC))
        .map_err(|error| ready_file_error(path, error))
}

fn ready_file_error(path: &Path, source: std::io::Error) -> MeshError {
    MeshError::ReadyFile {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn port(caps: Caps, head_timeout: Duration) -> (SocketAddr, Arc<StatusPort>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let status = StatusPort::with_head_timeout(
            Readiness::default(),
            Arc::new(ProbeTable::default()),
            caps,
            Events::quiet(),
            head_timeout,
        );
        tokio::spawn(Arc::clone(&status).serve(listener));
        (address, status)
    }

    async fn answer(stream: &mut TcpStream, request: &[u8]) -> String {
        stream.write_all(request).await.unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer).await;
        answer
    }

    #[tokio::test]
    async fn a_client_that_sends_no_request_is_closed_at_the_deadline() {
        let (address, _) = port(Caps::status(None), Duration::from_millis(200)).await;
        let mut idle = TcpStream::connect(address).await.unwrap();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(30), idle.read_to_end(&mut rest));
        assert_eq!(
            closed.await.unwrap().unwrap(),
            0,
            "closed without an answer"
        );
        let mut ready = TcpStream::connect(address).await.unwrap();
        let answer = answer(&mut ready, b"GET /healthz HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn a_full_gate_lets_a_new_source_in_by_evicting_the_flood() {
        let (address, _) = port(
            Caps {
                total: 4,
                per_source: 4,
            },
            Duration::from_secs(600),
        )
        .await;
        // Four idle connections from 127.0.0.2 fill the gate...
        let mut flood = Vec::new();
        for _ in 0..4 {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            flood.push(socket.connect(address).await.unwrap());
        }
        // ...then a request from 127.0.0.1 (holding none) still gets its answer, and the
        // flood's oldest connection is closed for it.
        let mut kubelet = TcpStream::connect(address).await.unwrap();
        let answer = answer(&mut kubelet, b"GET /ready HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 503"), "not ready: {answer}");
        let mut rest = Vec::new();
        assert_eq!(flood[0].read_to_end(&mut rest).await.unwrap(), 0);
    }

    #[test]
    fn the_ready_file_is_written_whole_and_a_stale_one_removed() {
        let dir = std::env::temp_dir().join(format!("chiaro-mesh-ready-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mesh-ready");
        remove_ready_file(&path).unwrap();
        std::fs::write(&path, "stale").unwrap();
        std::fs::write(dir.join(".mesh-ready.tmp"), "crashed half-way").unwrap();
        remove_ready_file(&path).unwrap();
        assert!(!path.exists());
        write_ready_file(&path, "42 ready\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "42 ready\n");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mesh-ready"], "no temporary left");
        let error = write_ready_file(&dir.join("missing/mesh-ready"), "x").unwrap_err();
        assert!(error.to_string().contains("missing/mesh-ready"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_head_longer_than_the_limit_gets_no_answer() {
        let (address, _) = port(Caps::status(None), HEAD_TIMEOUT).await;
        let mut stream = TcpStream::connect(address).await.unwrap();
        let mut request = b"GET /healthz HTTP/1.1\r\nx: ".to_vec();
        request.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        let answer = answer(&mut stream, &request).await;
        assert_eq!(answer, "");
    }
}
