//! Outbound: the workload connects in plaintext to a loopback listener; the proxy connects to
//! the remote with mutual TLS, requires the remote's certificate to chain to the mesh CA and to
//! carry the entry's SAN, then forwards. The handshake has [`HANDSHAKE_TIMEOUT`]; a failed
//! accept pauses the loop (`crate::accept`). Only the workload reaches these listeners
//! (loopback addresses, which the ingress never forwards to).

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

use crate::MeshError;
use crate::credentials::SharedTls;
use crate::events::{Event, Events};
use crate::ingress::HANDSHAKE_TIMEOUT;
use crate::metrics::{Refusal, Side};
use crate::pipe::{Workload, pipe, read_ahead};
use crate::workers::Workers;
use chiaro_accept::{AcceptBackoff, accept};
use chiaro_pod::EgressRule;

/// Refuses an egress entry whose SAN is a reserved identity (`chiaro_names::reserved`): that
/// names a workload owner's client certificate, never a server. (Such a certificate could not
/// serve anyway: it is for client authentication only, and the handshake requires server
/// authentication.)
///
/// # Errors
/// [`MeshError::Config`] naming the entry.
pub fn check_san(rule: &EgressRule) -> Result<(), MeshError> {
    if chiaro_names::reserved::is_reserved(&rule.san) {
        return Err(MeshError::Config {
            annotation: chiaro_pod::annotations::MESH_EGRESS_ANNOTATION.to_owned(),
            entry: rule.name.clone(),
            reason: format!(
                "SAN {:?} is a reserved identity (a workload owner's), never a server's",
                rule.san
            ),
        });
    }
    Ok(())
}

/// One outbound entry being served.
#[derive(Debug)]
pub struct Egress {
    rule: EgressRule,
    tls: Arc<SharedTls>,
    idle: Duration,
    events: Events,
    workers: Workers,
}

impl Egress {
    /// An outbound entry over the shared credentials; connections run on `workers`.
    pub fn new(
        rule: EgressRule,
        tls: Arc<SharedTls>,
        idle: Duration,
        events: Events,
        workers: Workers,
    ) -> Self {
        Self {
            rule,
            tls,
            idle,
            events,
            workers,
        }
    }

    /// Accepts the workload's connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let mut backoff = AcceptBackoff::default();
        loop {
            let (stream, peer) = accept(&listener, &mut backoff, |error, pause| {
                self.events.accept_failed("egress", &error, pause);
            })
            .await;
            let egress = Arc::clone(&self);
            let moved = self.workers.spawn(stream, move |stream| async move {
                egress.handle(stream).await;
            });
            if let Err(error) = moved {
                self.events.record(Event::Refused {
                    side: Side::Egress,
                    peer: peer.to_string(),
                    kind: Refusal::Worker,
                    reason: format!("handing the connection to a worker: {error}"),
                });
            }
        }
    }

    async fn handle(&self, stream: TcpStream) {
        let _open = self.events.open();
        let _ = stream.set_nodelay(true);
        let refuse = |kind: Refusal, reason: String| {
            self.events.record(Event::Refused {
                side: Side::Egress,
                peer: self.rule.remote.clone(),
                kind,
                reason: format!("{}: {reason}", self.rule.name),
            });
        };
        let Ok(name) = ServerName::try_from(self.rule.san.clone()) else {
            refuse(
                Refusal::BadName,
                format!("{:?} is not a DNS name or IP address", self.rule.san),
            );
            return;
        };
        let upstream = match TcpStream::connect(&self.rule.remote).await {
            Ok(upstream) => upstream,
            Err(error) => {
                refuse(Refusal::RemoteUnreachable, format!("connecting: {error}"));
                return;
            }
        };
        let _ = upstream.set_nodelay(true);
        let connector = TlsConnector::from(Arc::clone(&self.tls.current().client));
        let started = tokio::time::Instant::now();
        let handshake = connector.connect(name, read_ahead(upstream));
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                self.events.handshake(Side::Egress, started.elapsed());
                refuse(Refusal::Handshake, format!("TLS: {error}"));
                return;
            }
            Err(_) => {
                refuse(
                    Refusal::HandshakeTimeout,
                    format!("no TLS handshake within {HANDSHAKE_TIMEOUT:?}"),
                );
                return;
            }
        };
        self.events.handshake(Side::Egress, started.elapsed());
        self.events.record(Event::Accepted {
            side: Side::Egress,
            rule: self.rule.name.clone(),
            peer: self.rule.remote.clone(),
            identity: Some(self.rule.san.clone()),
        });
        let totals = self.events.totals(Side::Egress);
        let _ = pipe(stream, tls, self.idle, totals, Workload::First).await;
    }
}
