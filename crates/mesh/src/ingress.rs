//! Inbound: every connection to the pod is terminated here. For a port with TLS (the default)
//! the peer must complete mutual TLS with a certificate from the current mesh CA, within
//! [`HANDSHAKE_TIMEOUT`], and carry one of the entry's allowed SANs if it has a list (a
//! certificate with a reserved identity, a workload owner's, only where the list names it:
//! [`crate::credentials::admits`]); only then are bytes forwarded, in plaintext, to the workload. A port opted out with `#false` is
//! forwarded as is.
//!
//! Where to: a redirected connection goes to the address it was sent to (its original
//! destination, one of the pod's own addresses), never to loopback ([`forward_target`],
//! [`is_this_pod`]). So a service the workload bound to loopback only is not reachable through
//! the mesh, nor are the egress listeners (loopback only, `chiaro_pod::annotations`), and
//! the proxy relays nothing to another host. A listener per port (no redirection) forwards to
//! its configured target, which must not be an egress listener ([`check_fixed_target`]).
//!
//! Connections still in their handshake are admitted through a [`Gate`] (`crate::admission`);
//! every accept failure pauses the loop (`crate::accept`).

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::MeshError;
use crate::admission::{Caps, Gate, Pass};
use crate::credentials::{SharedTls, admits, dns_names};
use crate::events::{Event, Events};
use crate::metrics::{Refusal, Side};
use crate::pipe::{Workload, pipe, read_ahead};
use crate::workers::Workers;
use chiaro_accept::{AcceptBackoff, accept};
use chiaro_pod::IngressRule;

/// How long a peer has, from `accept`, to complete the TLS handshake (or, on a plaintext port,
/// for the workload to take the connection).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// (`SO_ORIGINAL_DST`): forwarded there, if it is one of the pod's own addresses.
    Original,
}

/// Why a redirected connection is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotForwarded {
    /// The connection has no original destination (it was not redirected).
    NoOriginalDestination,
    /// Addressed to a loopback address: a neighbour's packet for `127.0.0.1` that the redirect
    /// rule took in. Forwarding it would reach what the workload bound to loopback only, and
    /// the egress listeners.
    Loopback(SocketAddr),
    /// Addressed to no one host (unspecified, multicast, broadcast): connecting to `0.0.0.0`
    /// or `::` reaches loopback.
    NotUnicast(SocketAddr),
    /// Addressed to a host other than this pod: forwarding would relay the peer's bytes there,
    /// in plaintext and as this pod.
    NotThisPod(SocketAddr),
    /// Addressed to the proxy's own port: forwarding would connect the proxy to itself.
    OwnPort(u16),
}

impl std::fmt::Display for NotForwarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoOriginalDestination => write!(f, "no original destination"),
            Self::Loopback(to) => write!(f, "addressed to {to}, a loopback address"),
            Self::NotUnicast(to) => write!(f, "addressed to {to}, not one host"),
            Self::NotThisPod(to) => write!(f, "addressed to {to}, not an address of this pod"),
            Self::OwnPort(port) => write!(f, "port {port} is the proxy's own"),
        }
    }
}

/// Where a connection redirected from `original` is forwarded: the same address (an IPv4
/// address mapped into IPv6 taken as the IPv4 address), if it is unicast and not loopback.
/// Whether it is an address of this pod is [`is_this_pod`]'s question.
///
/// # Errors
/// [`NotForwarded::Loopback`] or [`NotForwarded::NotUnicast`].
pub fn forward_target(original: SocketAddr) -> Result<SocketAddr, NotForwarded> {
    let address = SocketAddr::new(original.ip().to_canonical(), original.port());
    let ip = address.ip();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_loopback() {
        Err(NotForwarded::Loopback(original))
    } else if ip.is_unspecified() || ip.is_multicast() || broadcast {
        Err(NotForwarded::NotUnicast(original))
    } else {
        Ok(address)
    }
}

/// Whether `address` is an address of this network namespace (the pod): the route to it is
/// local, so the kernel picks the address itself as the source (a route to another host picks
/// one of the pod's addresses instead). Asked of a UDP socket's `connect`, which sends nothing.
/// Any error answers no (fail closed).
pub fn is_this_pod(address: SocketAddr) -> bool {
    let any = match address {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    UdpSocket::bind(any)
        .and_then(|socket| {
            socket.connect(address)?;
            socket.local_addr()
        })
        .is_ok_and(|source| source.ip() == address.ip())
}

/// Refuses a listener-per-port `target` that is one of the egress listeners: a peer would
/// reach a third pod through it, as this pod.
///
/// # Errors
/// [`MeshError::Config`] naming the `--ingress-port` entry.
pub fn check_fixed_target(
    entry: &str,
    target: SocketAddr,
    egress: &[SocketAddr],
) -> Result<(), MeshError> {
    let same = |local: &SocketAddr| {
        local.port() == target.port()
            && (local.ip() == target.ip().to_canonical() || target.ip().is_unspecified())
    };
    if egress.iter().any(same) {
        return Err(MeshError::Config {
            annotation: "--ingress-port".to_owned(),
            entry: entry.to_owned(),
            reason: format!("{target} is an egress listener"),
        });
    }
    Ok(())
}

/// The inbound side.
#[derive(Debug)]
pub struct Ingress {
    rules: Vec<IngressRule>,
    tls: Arc<SharedTls>,
    idle: Duration,
    events: Events,
    workers: Workers,
    handshakes: Arc<Gate>,
    handshake_timeout: Duration,
}

impl Ingress {
    /// Inbound rules over the shared credentials. Ports without an entry require mutual TLS
    /// from any mesh certificate. Connections run on `workers`. Handshakes: the default
    /// [`Caps::handshakes`] and [`HANDSHAKE_TIMEOUT`] (see [`Self::with_handshakes`]).
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
            handshakes: Gate::new(Caps::handshakes(None)),
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }

    /// At most `caps` connections in their handshake at once (over every listener of this
    /// ingress), each for at most `timeout`.
    #[must_use]
    pub fn with_handshakes(mut self, caps: Caps, timeout: Duration) -> Self {
        self.handshakes = Gate::new(caps);
        self.handshake_timeout = timeout;
        self
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

    fn refuse(&self, peer: SocketAddr, kind: Refusal, reason: String) {
        self.events.record(Event::Refused {
            side: Side::Ingress,
            peer: peer.to_string(),
            kind,
            reason,
        });
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, destination: Destination) {
        let mut backoff = AcceptBackoff::default();
        loop {
            let (stream, peer) = accept(&listener, &mut backoff, |error, pause| {
                self.events.accept_failed("ingress", &error, pause);
            })
            .await;
            let pass = match self.handshakes.admit(peer.ip()) {
                Ok(pass) => pass,
                Err(full) => {
                    drop(stream);
                    self.refuse(
                        peer,
                        Refusal::Capacity,
                        format!("before the handshake: {full}"),
                    );
                    continue;
                }
            };
            let ingress = Arc::clone(&self);
            let moved = self.workers.spawn(stream, move |stream| async move {
                ingress.handle(stream, peer, destination, pass).await;
            });
            if let Err(error) = moved {
                self.refuse(
                    peer,
                    Refusal::Worker,
                    format!("handing the connection to a worker: {error}"),
                );
            }
        }
    }

    /// Where `stream` goes: the workload port (which selects the entry) and the address.
    fn target(
        stream: &TcpStream,
        destination: Destination,
    ) -> Result<(u16, SocketAddr), NotForwarded> {
        let original = match destination {
            Destination::Fixed { port, target } => return Ok((port, target)),
            Destination::Original => {
                original_destination(stream).ok_or(NotForwarded::NoOriginalDestination)?
            }
        };
        if stream
            .local_addr()
            .is_ok_and(|own| own.port() == original.port())
        {
            return Err(NotForwarded::OwnPort(original.port()));
        }
        let target = forward_target(original)?;
        if !is_this_pod(target) {
            return Err(NotForwarded::NotThisPod(original));
        }
        Ok((original.port(), target))
    }

    async fn handle(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        destination: Destination,
        mut pass: Pass,
    ) {
        let _open = self.events.open();
        let _ = stream.set_nodelay(true);
        let (port, workload) = match Self::target(&stream, destination) {
            Ok(target) => target,
            Err(refusal) => {
                self.refuse(peer, Refusal::NotForwarded, refusal.to_string());
                return;
            }
        };
        let rule = self.rule(port);
        let deadline = self.handshake_timeout;
        if !rule.tls {
            let connect = tokio::time::timeout(deadline, TcpStream::connect(workload));
            let upstream = tokio::select! {
                connected = connect => connected.ok().and_then(Result::ok),
                () = pass.evicted() => None,
            };
            drop(pass);
            if let Some(upstream) = upstream {
                let _ = upstream.set_nodelay(true);
                self.events.record(Event::Accepted {
                    side: Side::Ingress,
                    rule: rule.name.clone(),
                    peer: peer.to_string(),
                    identity: None,
                });
                let totals = self.events.totals(Side::Ingress);
                let _ = pipe(stream, upstream, self.idle, totals, Workload::Second).await;
            }
            return;
        }
        let acceptor = TlsAcceptor::from(Arc::clone(&self.tls.current().server));
        let started = tokio::time::Instant::now();
        let handshake = tokio::time::timeout(deadline, acceptor.accept(read_ahead(stream)));
        let tls = tokio::select! {
            done = handshake => match done {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    self.events.handshake(Side::Ingress, started.elapsed());
                    self.refuse(peer, Refusal::Handshake, format!("{}: TLS: {error}", rule.name));
                    return;
                }
                Err(_) => {
                    self.refuse(peer, Refusal::HandshakeTimeout, format!("{}: no TLS handshake within {deadline:?}", rule.name));
                    return;
                }
            },
            () = pass.evicted() => {
                self.refuse(peer, Refusal::Capacity, format!("{}: handshake ended to make room for another source", rule.name));
                return;
            }
        };
        self.events.handshake(Side::Ingress, started.elapsed());
        drop(pass);
        let certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .cloned();
        let Some(certificate) = certificate else {
            return;
        };
        if !admits(&certificate, &rule.allowed) {
            let reason = if rule.allowed.is_empty() {
                "carries a reserved identity, which only an allow-list that names it admits"
                    .to_owned()
            } else {
                format!("has none of the allowed names {:?}", rule.allowed)
            };
            self.refuse(
                peer,
                Refusal::NotAllowed,
                format!("{}: the peer's certificate {reason}", rule.name),
            );
            return;
        }
        let Ok(upstream) = TcpStream::connect(workload).await else {
            self.refuse(
                peer,
                Refusal::WorkloadUnreachable,
                format!("{}: the workload does not listen on {workload}", rule.name),
            );
            return;
        };
        let _ = upstream.set_nodelay(true);
        self.events.record(Event::Accepted {
            side: Side::Ingress,
            rule: rule.name.clone(),
            peer: peer.to_string(),
            identity: Some(dns_names(&certificate).join(",")),
        });
        let totals = self.events.totals(Side::Ingress);
        let _ = pipe(tls, upstream, self.idle, totals, Workload::Second).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(address: &str) -> SocketAddr {
        address.parse().unwrap()
    }

    #[test]
    fn only_unicast_addresses_other_than_loopback_are_forward_targets() {
        assert_eq!(forward_target(at("10.0.0.5:8080")), Ok(at("10.0.0.5:8080")));
        assert_eq!(
            forward_target(at("[fd00::5]:8080")),
            Ok(at("[fd00::5]:8080"))
        );
        // An IPv4 address mapped into IPv6 is the IPv4 address (a socket connecting to it
        // reaches the IPv4 address), so it is judged as that.
        assert_eq!(
            forward_target(at("[::ffff:10.0.0.5]:8080")),
            Ok(at("10.0.0.5:8080"))
        );
        for loopback in [
            "127.0.0.1:80",
            "127.1.2.3:80",
            "[::1]:80",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert_eq!(
                forward_target(at(loopback)),
                Err(NotForwarded::Loopback(at(loopback)))
            );
        }
        for nobody in [
            "0.0.0.0:80",
            "[::]:80",
            "[::ffff:0.0.0.0]:80",
            "224.0.0.1:80",
            "255.255.255.255:80",
            "[ff02::1]:80",
        ] {
            assert_eq!(
                forward_target(at(nobody)),
                Err(NotForwarded::NotUnicast(at(nobody)))
            );
        }
    }

    #[test]
    fn an_address_of_another_host_is_not_this_pod() {
        // Loopback's own address is local (the forwarding refuses it before asking).
        assert!(is_this_pod(at("127.0.0.1:80")));
        // An address of the /8 but not configured: the kernel would answer from 127.0.0.1.
        assert!(!is_this_pod(at("127.0.0.2:80")));
        // TEST-NET-1: routed elsewhere, or not at all.
        assert!(!is_this_pod(at("192.0.2.1:80")));
    }

    #[test]
    fn a_listener_per_port_may_not_forward_to_an_egress_listener() {
        let egress = [at("127.137.0.1:8080"), at("127.0.0.1:19090")];
        assert!(check_fixed_target("a", at("127.0.0.1:8080"), &egress).is_ok());
        assert!(check_fixed_target("a", at("127.0.0.1:9090"), &egress).is_ok());
        for deputy in [
            "127.137.0.1:8080",
            "0.0.0.0:19090",
            "[::ffff:127.0.0.1]:19090",
        ] {
            let error = check_fixed_target("x=1@y", at(deputy), &egress).unwrap_err();
            assert!(
                error.to_string().contains("is an egress listener"),
                "{deputy}: {error}"
            );
        }
    }
}
