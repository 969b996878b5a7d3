//! Inbound: every connection to the pod is terminated here. For a port with TLS (the default)
//! the peer must complete mutual TLS with a certificate from the current mesh CA, and carry
//! one of the entry's allowed SANs if it has a list; only then are bytes forwarded, in
//! plaintext, to the workload on loopback. A port opted out with `#false` is forwarded as is.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::credentials::{SharedTls, dns_names, has_any_name};
use crate::events::{Event, Events};
use crate::pipe::{pipe, read_ahead};
use crate::workers::Workers;
use chiaro_k8s::mesh_annotations::IngressRule;

/// Where an accepted connection was meant to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A fixed workload port (a listener per port, no redirection), served at `target`
    /// (`127.0.0.1:port` in a pod).
    Fixed {
        /// The workload port, which selects the ingress entry.
        port: u16,
        /// Where the workload listens.
        target: SocketAddr,
    },
    /// The original destination of a connection redirected here by the pod's firewall rules
    /// (`SO_ORIGINAL_DST`).
    Original,
}

/// The inbound side.
#[derive(Debug)]
pub struct Ingress {
    rules: Vec<IngressRule>,
    tls: Arc<SharedTls>,
    idle: Duration,
    events: Events,
    workers: Workers,
}

impl Ingress {
    /// Inbound rules over the shared credentials. Ports without an entry require mutual TLS
    /// from any mesh certificate. Connections run on `workers`.
    pub fn new(
        rules: Vec<IngressRule>,
        tls: Arc<SharedTls>,
        idle: Duration,
        events: Events,
        workers: Workers,
    ) -> Self {
        Self {
            rules,
            tls,
            idle,
            events,
            workers,
        }
    }

    /// The rule for `port`.
    fn rule(&self, port: u16) -> IngressRule {
        self.rules
            .iter()
            .find(|rule| rule.port == port)
            .cloned()
            .unwrap_or(IngressRule {
                name: format!("port-{port}"),
                port,
                tls: true,
                allowed: Vec::new(),
            })
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, destination: Destination) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let ingress = Arc::clone(&self);
            let moved = self.workers.spawn(stream, move |stream| async move {
                ingress.handle(stream, peer, destination).await;
            });
            if let Err(error) = moved {
                self.events.record(Event::Refused {
                    side: "ingress",
                    peer: peer.to_string(),
                    reason: format!("handing the connection to a worker: {error}"),
                });
            }
        }
    }

    async fn handle(&self, stream: TcpStream, peer: SocketAddr, destination: Destination) {
        let _open = self.events.open();
        let _ = stream.set_nodelay(true);
        let target = match destination {
            Destination::Fixed { port, target } => Some((port, target)),
            Destination::Original => original_destination(&stream).map(|address| {
                (
                    address.port(),
                    SocketAddr::from((Ipv4Addr::LOCALHOST, address.port())),
                )
            }),
        };
        let Some((port, workload)) = target else {
            self.events.record(Event::Refused {
                side: "ingress",
                peer: peer.to_string(),
                reason: "no original destination".to_owned(),
            });
            return;
        };
        if destination == Destination::Original
            && stream.local_addr().is_ok_and(|own| own.port() == port)
        {
            // Addressed to the proxy's own port: forwarding would connect the proxy to itself.
            self.events.record(Event::Refused {
                side: "ingress",
                peer: peer.to_string(),
                reason: format!("port {port} is the proxy's own"),
            });
            return;
        }
        let rule = self.rule(port);
        if !rule.tls {
            if let Ok(upstream) = TcpStream::connect(workload).await {
                let _ = upstream.set_nodelay(true);
                self.events.record(Event::Accepted {
                    side: "ingress",
                    rule: rule.name.clone(),
                    peer: peer.to_string(),
                    identity: None,
                });
                let _ = pipe(stream, upstream, self.idle).await;
            }
            return;
        }
        let acceptor = TlsAcceptor::from(Arc::clone(&self.tls.current().server));
        let tls = match acceptor.accept(read_ahead(stream)).await {
            Ok(tls) => tls,
            Err(error) => {
                self.events.record(Event::Refused {
                    side: "ingress",
                    peer: peer.to_string(),
                    reason: format!("{}: TLS: {error}", rule.name),
                });
                return;
            }
        };
        let certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .cloned();
        let Some(certificate) = certificate else {
            return;
        };
        if !rule.allowed.is_empty() && !has_any_name(&certificate, &rule.allowed) {
            self.events.record(Event::Refused {
                side: "ingress",
                peer: peer.to_string(),
                reason: format!(
                    "{}: the peer's certificate has none of the allowed names {:?}",
                    rule.name, rule.allowed
                ),
            });
            return;
        }
        let Ok(upstream) = TcpStream::connect(workload).await else {
            self.events.record(Event::Refused {
                side: "ingress",
                peer: peer.to_string(),
                reason: format!("{}: the workload does not listen on {workload}", rule.name),
            });
            return;
        };
        let _ = upstream.set_nodelay(true);
        self.events.record(Event::Accepted {
            side: "ingress",
            rule: rule.name.clone(),
            peer: peer.to_string(),
            identity: Some(dns_names(&certificate).join(",")),
        });
        let _ = pipe(tls, upstream, self.idle).await;
    }
}

/// An IPv6-only listener on every address at `port`, beside the IPv4 one on the same port
/// (redirected IPv6 connections arrive at an IPv6 address).
///
/// # Errors
/// Creating, binding or listening failed.
pub fn ipv6_listener(port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(true)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// `SO_ORIGINAL_DST` of a connection the firewall redirected.
fn original_destination(stream: &TcpStream) -> Option<SocketAddr> {
    let socket = socket2::SockRef::from(stream);
    socket
        .original_dst_v4()
        .ok()
        .or_else(|| socket.original_dst_v6().ok())
        .and_then(|address| address.as_socket())
}
