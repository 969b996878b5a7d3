//! The proxy over real TLS on loopback: client → egress proxy → ingress proxy → server, and
//! every way in that must be refused (no certificate, another CA, a SAN not allowed, a server
//! with the wrong identity), the plaintext opt-out, and credential rotation that keeps
//! established connections, and the handshake's deadline and gate against idle floods.
//! (Network namespaces and redirection are tested separately.)

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test")]

mod common;
#[path = "common/egress.rs"]
mod egress_helper;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::{Ca, scratch};
use egress_helper::egress_to;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chiaro_mesh::admission::Caps;
use chiaro_mesh::credentials::SharedTls;
use chiaro_mesh::events::Events;
use chiaro_mesh::ingress::{Destination, HANDSHAKE_TIMEOUT, Ingress};
use chiaro_mesh::workers::Workers;
use chiaro_pod::IngressRule;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// An echo server counting its connections.
async fn echo_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                loop {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => {
                            let _ = stream.shutdown().await;
                            return;
                        }
                        Ok(n) => {
                            if stream.write_all(&buffer[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (address, connections)
}

/// The server pod: credentials for `names`, an ingress in front of an echo server.
struct ServerPod {
    ingress: SocketAddr,
    connections: Arc<AtomicUsize>,
    tls: Arc<SharedTls>,
    events: Events,
    dir: PathBuf,
}

async fn server_pod(ca: &Ca, names: &[&str], rule: impl Fn(u16) -> IngressRule) -> ServerPod {
    server_pod_with(ca, names, rule, Caps::handshakes(None), HANDSHAKE_TIMEOUT).await
}

/// As [`server_pod`], with `caps` and `timeout` for the handshakes.
async fn server_pod_with(
    ca: &Ca,
    names: &[&str],
    rule: impl Fn(u16) -> IngressRule,
    caps: Caps,
    timeout: Duration,
) -> ServerPod {
    let dir = scratch("server");
    ca.credentials(&dir, names);
    let (echo, connections) = echo_server().await;
    let tls = Arc::new(SharedTls::load(&dir).unwrap());
    let events = Events::quiet();
    let ingress = Arc::new(
        Ingress::new(
            vec![rule(echo.port())],
            Arc::clone(&tls),
            Duration::from_secs(60),
            events.clone(),
            Workers::current(),
        )
        .with_handshakes(caps, timeout),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ingress.serve(
        listener,
        Destination::Fixed {
            port: echo.port(),
            target: echo,
        },
    ));
    ServerPod {
        ingress: address,
        connections,
        tls,
        events,
        dir,
    }
}

fn mtls(port: u16) -> IngressRule {
    IngressRule {
        name: "api".to_owned(),
        port,
        tls: true,
        allowed: Vec::new(),
    }
}

/// The client pod: credentials for `names`, an egress listener to `remote` requiring `san`.
async fn client_pod(
    ca: &Ca,
    names: &[&str],
    remote: SocketAddr,
    san: &str,
) -> (SocketAddr, Arc<SharedTls>) {
    let dir = scratch("client");
    ca.credentials(&dir, names);
    egress_to(&dir, remote, san).await
}

/// Waits until the server pod's proxy has recorded a refusal: the client may see the
/// connection end before the proxy records why, and once it has, the connection's handler is
/// done (nothing it refused can still reach the server).
async fn refusal_recorded(server: &ServerPod) {
    let recorded = server.events.until(|events| events.refused() > 0);
    tokio::time::timeout(Duration::from_secs(30), recorded)
        .await
        .expect("the proxy records the refusal");
}

/// Sends `message`, half-closes, and returns everything read back.
async fn exchange(address: SocketAddr, message: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(message).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    answer
}

/// A direct TLS client with the given client credentials directory (or none).
async fn direct(
    address: SocketAddr,
    roots_pem: &str,
    client: Option<&Path>,
) -> std::io::Result<Vec<u8>> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(roots_pem.as_bytes()) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        Some(dir) => {
            let files = chiaro_pod::CredentialsDir::new(dir);
            let chain = CertificateDer::pem_file_iter(files.certificate())
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(files.key()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(address).await?;
    let mut tls = connector
        .connect(ServerName::try_from("api").unwrap(), tcp)
        .await?;
    tls.write_all(b"sneak").await?;
    tls.shutdown().await?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await?;
    Ok(answer)
}

#[tokio::test]
async fn a_request_crosses_egress_and_ingress_proxies() {
    let ca = Ca::new();
    let server = server_pod(&ca, &["api", "api.shop"], mtls).await;
    let (egress, _) = client_pod(&ca, &["web"], server.ingress, "api").await;
    let answer = exchange(egress, b"hello through the mesh").await;
    assert_eq!(answer, b"hello through the mesh");
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    assert_eq!(server.events.accepted(), 1);
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(exchange(egress, &big).await, big, "a megabyte, in order");
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let ca = Ca::new();
    let server = server_pod(&ca, &["api"], mtls).await;
    let result = direct(server.ingress, &ca.pem, None).await;
    assert!(
        result.is_err() || result.as_ref().unwrap().is_empty(),
        "{result:?}"
    );
    refusal_recorded(&server).await;
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        0,
        "nothing reached the server"
    );
    assert_eq!(server.events.refused(), 1);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let ca = Ca::new();
    let server = server_pod(&ca, &["api"], mtls).await;
    let other = Ca::new();
    let intruder = scratch("intruder");
    other.credentials(&intruder, &["web"]);
    let result = direct(server.ingress, &ca.pem, Some(&intruder)).await;
    assert!(
        result.is_err() || result.as_ref().unwrap().is_empty(),
        "{result:?}"
    );
    refusal_recorded(&server).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    assert_eq!(server.events.refused(), 1);
}

#[tokio::test]
async fn a_san_not_on_the_allow_list_is_refused() {
    let ca = Ca::new();
    let server = server_pod(&ca, &["api"], |port| IngressRule {
        allowed: vec!["admin.shop".to_owned()],
        ..mtls(port)
    })
    .await;
    let (egress, _) = client_pod(&ca, &["web.shop"], server.ingress, "api").await;
    assert!(exchange(egress, b"let me in").await.is_empty());
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    assert_eq!(server.events.refused(), 1);

    let (admin, _) = client_pod(&ca, &["admin.shop"], server.ingress, "api").await;
    assert_eq!(exchange(admin, b"admin here").await, b"admin here");
}

/// Writes a workload owner's client certificate as the Coordinator issues it: the reserved
/// identity (and `extra_names`, which the Coordinator never adds), client authentication only.
fn owner_credentials(ca: &Ca, dir: &Path, extra_names: &[&str]) {
    let mut names = vec![chiaro_names::reserved::WORKLOAD_OWNER];
    names.extend_from_slice(extra_names);
    ca.credentials_for(dir, &names, &[rcgen::ExtendedKeyUsagePurpose::ClientAuth]);
}

/// A client holding a workload owner's certificate (plus `extra_names`) connects straight to
/// `server` (as `chiaro port-forward` does); what it read back.
async fn as_owner(ca: &Ca, server: &ServerPod, extra_names: &[&str]) -> std::io::Result<Vec<u8>> {
    let owner = scratch("owner");
    owner_credentials(ca, &owner, extra_names);
    direct(server.ingress, &ca.pem, Some(&owner)).await
}

#[tokio::test]
async fn attack_owner_certificate_on_a_port_without_an_allow_list_is_refused() {
    // "Any mesh certificate" means any workload's: an owner's certificate is no workload.
    let ca = Ca::new();
    let server = server_pod(&ca, &["api"], mtls).await;
    let result = as_owner(&ca, &server, &[]).await;
    assert!(
        result.is_err() || result.as_ref().unwrap().is_empty(),
        "{result:?}"
    );
    refusal_recorded(&server).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn attack_owner_certificate_with_a_workload_name_is_refused_where_only_that_name_is_allowed()
{
    // The Coordinator never issues such a certificate; the proxy does not rely on that.
    let ca = Ca::new();
    let server = server_pod(&ca, &["api"], |port| IngressRule {
        allowed: vec!["admin.shop".to_owned()],
        ..mtls(port)
    })
    .await;
    let result = as_owner(&ca, &server, &["admin.shop"]).await;
    assert!(
        result.is_err() || result.as_ref().unwrap().is_empty(),
        "{result:?}"
    );
    refusal_recorded(&server).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_owner_certificate_is_admitted_where_the_allow_list_names_it() {
    let ca = Ca::new();
    let server = server_pod(&ca, &["api"], |port| IngressRule {
        allowed: vec![chiaro_names::reserved::WORKLOAD_OWNER.to_owned()],
        ..mtls(port)
    })
    .await;
    assert_eq!(as_owner(&ca, &server, &[]).await.unwrap(), b"sneak");
    // A workload is not the owner.
    let (egress, _) = client_pod(&ca, &["web"], server.ingress, "api").await;
    assert!(exchange(egress, b"as the owner").await.is_empty());
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn attack_owner_certificate_as_a_server_is_refused_at_egress() {
    // Whoever holds an owner's certificate cannot pose as a server to a workload, even under
    // the reserved name (which no egress entry may require: `check_san`): it is for client
    // authentication only.
    let ca = Ca::new();
    let dir = scratch("owner-server");
    owner_credentials(&ca, &dir, &[]);
    let (echo, connections) = echo_server().await;
    let tls = Arc::new(SharedTls::load(&dir).unwrap());
    let ingress = Arc::new(Ingress::new(
        vec![IngressRule {
            allowed: vec!["web".to_owned()],
            ..mtls(echo.port())
        }],
        tls,
        Duration::from_secs(60),
        Events::quiet(),
        Workers::current(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ingress.serve(
        listener,
        Destination::Fixed {
            port: echo.port(),
            target: echo,
        },
    ));
    let (egress, _) = client_pod(
        &ca,
        &["web"],
        address,
        chiaro_names::reserved::WORKLOAD_OWNER,
    )
    .await;
    assert!(exchange(egress, b"secret for a workload").await.is_empty());
    assert_eq!(connections.load(Ordering::SeqCst), 0);
    let rule = chiaro_pod::EgressRule {
        name: "owner".to_owned(),
        local: "127.0.0.1:9000".parse().unwrap(),
        remote: address.to_string(),
        san: chiaro_names::reserved::WORKLOAD_OWNER.to_owned(),
    };
    let refused = chiaro_mesh::egress::check_san(&rule)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("reserved identity"), "{refused}");
}

#[tokio::test]
async fn egress_refuses_a_server_with_another_identity() {
    let ca = Ca::new();
    let server = server_pod(&ca, &["api"], mtls).await;
    let (egress, _) = client_pod(&ca, &["web"], server.ingress, "db").await;
    assert!(exchange(egress, b"secret for db").await.is_empty());
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_plaintext_opt_out_port_forwards_plain_tcp() {
    let ca = Ca::new();
    let server = server_pod(&ca, &["api"], |port| IngressRule {
        tls: false,
        ..mtls(port)
    })
    .await;
    assert_eq!(exchange(server.ingress, b"plain").await, b"plain");
}

#[tokio::test]
async fn rotated_credentials_apply_to_new_connections_and_keep_established_ones() {
    let ca = Ca::new();
    let server = server_pod(&ca, &["api"], mtls).await;
    let (egress, client_tls) = client_pod(&ca, &["web"], server.ingress, "api").await;

    let mut established = TcpStream::connect(egress).await.unwrap();
    established.write_all(b"before").await.unwrap();
    let mut buffer = [0u8; 6];
    established.read_exact(&mut buffer).await.unwrap();
    assert_eq!(&buffer, b"before");
    let old_client = scratch("old-client");
    ca.credentials(&old_client, &["web"]);

    // A manifest update rotates the mesh CA; the initializer-written files change.
    let rotated = Ca::new();
    rotated.credentials(&server.dir, &["api"]);
    assert!(server.tls.reload().unwrap(), "the server notices new files");
    assert!(!server.tls.reload().unwrap(), "and only once");

    established.write_all(b"after!").await.unwrap();
    established.read_exact(&mut buffer).await.unwrap();
    assert_eq!(
        &buffer, b"after!",
        "the established connection survives the rotation"
    );

    let stale = direct(server.ingress, &rotated.pem, Some(&old_client)).await;
    assert!(
        stale.is_err() || stale.as_ref().unwrap().is_empty(),
        "old CA: {stale:?}"
    );

    let client_dir = scratch("client-rotated");
    rotated.credentials(&client_dir, &["web"]);
    let (new_egress, _) = egress_to(&client_dir, server.ingress, "api").await;
    assert_eq!(exchange(new_egress, b"new ca").await, b"new ca");
    drop(client_tls);
}

/// Waits until the other end closes `stream` (a guard of 30 s against hanging).
async fn closed_by_the_proxy(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest));
    matches!(read.await, Ok(Ok(0)))
}

#[tokio::test]
async fn attack_idle_connection_at_the_ingress_is_closed_at_the_handshake_deadline() {
    let ca = Ca::new();
    let deadline = Duration::from_millis(300);
    let server = server_pod_with(&ca, &["api"], mtls, Caps::handshakes(None), deadline).await;
    let mut idle = TcpStream::connect(server.ingress).await.unwrap();
    assert!(
        closed_by_the_proxy(&mut idle).await,
        "a connection that never starts its handshake is closed"
    );
    refusal_recorded(&server).await;
    assert_eq!(server.events.refused(), 1);
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn attack_handshake_flood_does_not_keep_a_peer_from_another_source_out() {
    let ca = Ca::new();
    let caps = Caps {
        total: 4,
        per_source: 4,
    };
    let server = server_pod_with(&ca, &["api"], mtls, caps, Duration::from_secs(600)).await;
    // Idle connections from 127.0.0.2 fill every handshake place (they would hold them for
    // ten minutes)...
    let mut flood = Vec::new();
    for _ in 0..4 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        flood.push(socket.connect(server.ingress).await.unwrap());
    }
    // ...and a fifth from there is closed at once: its source holds as many as any.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut fifth = socket.connect(server.ingress).await.unwrap();
    assert!(closed_by_the_proxy(&mut fifth).await);
    // A mesh peer from 127.0.0.1 (holding none) gets through, and the flood's oldest
    // connection is closed to make room.
    let (egress, _) = client_pod(&ca, &["web"], server.ingress, "api").await;
    assert_eq!(
        exchange(egress, b"through the flood").await,
        b"through the flood"
    );
    assert!(closed_by_the_proxy(&mut flood[0]).await);
}

#[test]
fn missing_or_broken_credentials_are_named() {
    let dir = scratch("broken");
    let error = SharedTls::load(&dir).unwrap_err().to_string();
    assert!(error.contains("tls/cert.pem"), "{error}");
    Ca::new().credentials(&dir, &["api"]);
    std::fs::write(dir.join("tls/mesh-ca.pem"), "not a certificate").unwrap();
    let error = SharedTls::load(&dir).unwrap_err().to_string();
    assert!(error.contains("mesh-ca.pem"), "{error}");
}

#[test]
fn the_log_names_the_peer_by_the_dns_names_of_its_certificate() {
    let ca = Ca::new();
    let dir = scratch("names");
    ca.credentials(&dir, &["web.shop", "web.shop.svc.cluster.local"]);
    let certificate = CertificateDer::from_pem_file(dir.join("tls/cert.pem")).unwrap();
    assert_eq!(
        chiaro_mesh::credentials::dns_names(&certificate),
        ["web.shop", "web.shop.svc.cluster.local"]
    );
    assert!(
        chiaro_mesh::credentials::dns_names(&CertificateDer::from(vec![0x30, 0x03])).is_empty(),
        "not a certificate: no names"
    );
}
