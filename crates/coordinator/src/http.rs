//! The plain-HTTP status port: `/healthz` (the process serves), `/readyz` (200 only when ready,
//! 503 otherwise, with the state in the body) and `/metrics` (Prometheus text). It carries no
//! secret and no control, so it needs no attestation. The minimal HTTP/1.1 responder of
//! `chiaro_accept::http1`: one request per connection, request head at most 8 KiB, five seconds to send it, at most
//! [`MAX_CONNECTIONS`] at once (more are closed at once); a failed accept pauses the loop, as
//! on the attested listeners, and never ends it.

use std::sync::Arc;
use std::time::Duration;

use chiaro_accept::http1::{self, Method, Response, Status};
use chiaro_api::admission::{self, AcceptBackoff, Cap, ListenerEvent};
use chiaro_api::endpoints;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::app::{Readiness, report};
use crate::metrics::{Api, Metrics};

/// Requests served at once: probes and scrapes need a few.
pub const MAX_CONNECTIONS: usize = 64;

/// Serves the status port; it does not return.
pub async fn serve(listener: TcpListener, readiness: Readiness, metrics: Arc<Metrics>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = AcceptBackoff::default();
    loop {
        let (stream, address) = admission::accept(&listener, &mut backoff, |error, pause| {
            report(
                &metrics,
                Api::Status,
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
                ListenerEvent::OverCap { address, cap },
            );
            continue;
        };
        let readiness = readiness.clone();
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                respond(stream, &readiness, &metrics),
            )
            .await;
            drop(slot);
        });
    }
}

async fn respond(
    mut stream: TcpStream,
    readiness: &Readiness,
    metrics: &Metrics,
) -> std::io::Result<()> {
    let Some(request) = http1::read_request(&mut stream).await? else {
        return Ok(());
    };
    let state = readiness.coordinator.state_name();
    let response = match (request.method, request.path.as_str()) {
        (Method::Get, endpoints::HEALTHZ_PATH) => Response::text(Status::Ok, "ok\n"),
        (Method::Get, endpoints::READYZ_PATH) => {
            match readiness.evidence.outcome().unready_reason() {
                Some(reason) => Response::text(
                    Status::ServiceUnavailable,
                    format!("cannot produce evidence: {reason}\n"),
                ),
                None if state == "ready" => Response::text(Status::Ok, format!("{state}\n")),
                None => Response::text(Status::ServiceUnavailable, format!("{state}\n")),
            }
        }
        (Method::Get, endpoints::METRICS_PATH) => Response {
            status: Status::Ok,
            content_type: "text/plain; version=0.0.4",
            body: metrics.render(state),
        },
        (Method::Get, _) => Response::text(Status::NotFound, "not found\n"),
        (Method::Other, _) => Response::text(Status::MethodNotAllowed, "only GET\n"),
    };
    http1::write_response(&mut stream, &response).await
}
