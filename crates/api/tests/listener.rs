//! The attested listener under load before authentication, in process over loopback: what an
//! unauthenticated peer can make it spend (`chiaro_api::transport::incoming` with
//! `chiaro_api::admission`). The Coordinator binary under the same attacks:
//! `crates/coordinator/tests/attacks/flood.rs`.
//!
//! Peers come from distinct loopback addresses (127.0.0.2, ...), as distinct sources.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chiaro_api::admission::{Admission, Cap, Limits, ListenerEvent, Occupancy};
use chiaro_atls::{
    AtlsError, ClientConfig, Clock, EvidenceBundle, IssueError, Issuer, ReferenceValidator,
    ServerConfig,
};
use chiaro_attest::snp::SnpTrustAnchors;
use chiaro_attest::{ReportData, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// A guard against hanging, not a timing assertion: every wait below is for an event.
const PATIENCE: Duration = Duration::from_secs(60);

/// Counts the evidence the server produces.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Issuer for Counting {
    fn issue(&self, _: &ReportData) -> Result<EvidenceBundle, IssueError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(EvidenceBundle::Snp {
            report: Vec::new(),
            certificates: Vec::new(),
        })
    }
}

fn clock() -> Clock {
    Arc::new(|| UnixTime::from_secs(1_767_225_600))
}

struct Listener {
    address: SocketAddr,
    issued: Arc<Counting>,
    admission: Arc<Admission>,
    events: mpsc::UnboundedReceiver<ListenerEvent>,
    // Held: the accept loop ends when its consumer goes.
    _connections: tokio_stream::wrappers::ReceiverStream<
        Result<chiaro_api::transport::AttestedConnection, std::io::Error>,
    >,
}

impl Listener {
    /// A server-attested listener (as the user API) with `limits`, whose own exchange deadline
    /// is an hour, so only the listener's pre-auth deadline can end an exchange early.
    async fn start(limits: Limits) -> Self {
        let issued = Arc::new(Counting::default());
        let config = ServerConfig::new(Some(Arc::clone(&issued) as Arc<dyn Issuer>), None, clock())
            .unwrap()
            .with_timeout(Duration::from_secs(3600));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let admission = Admission::new(limits);
        let (sender, events) = mpsc::unbounded_channel();
        let connections = chiaro_api::transport::incoming(
            listener,
            Arc::new(config),
            Arc::clone(&admission),
            move |event| {
                let _ = sender.send(event);
            },
        );
        Self {
            address,
            issued,
            admission,
            events,
            _connections: connections,
        }
    }

    async fn event(&mut self) -> ListenerEvent {
        tokio::time::timeout(PATIENCE, self.events.recv())
            .await
            .expect("no listener event in time")
            .unwrap()
    }

    /// A TCP connection from 127.0.0.`from`.
    async fn connect(&self, from: u8) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, from)),
                0,
            ))
            .unwrap();
        socket.connect(self.address).await.unwrap()
    }
}

/// Reads until the server closes `stream` (EOF or reset); `true` if it did before `PATIENCE`.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn limits(pre_auth: usize, pre_auth_per_source: usize) -> Limits {
    Limits {
        pre_auth,
        pre_auth_per_source,
        ..Limits::DEFAULT
    }
}

/// The first flight of a TLS 1.3 client: a ClientHello.
fn client_hello() -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let mut connection =
        rustls::ClientConnection::new(Arc::new(config), "chiaro.invalid".try_into().unwrap())
            .unwrap();
    let mut hello = Vec::new();
    connection.write_tls(&mut hello).unwrap();
    hello
}

#[tokio::test]
async fn attack_handshake_stalled_after_client_hello_costs_no_evidence() {
    let mut listener = Listener::start(Limits::DEFAULT).await;
    let mut stalled = listener.connect(2).await;
    stalled.write_all(&client_hello()).await.unwrap();
    // The server's flight arrives: it has processed the ClientHello and waits for our Finished.
    let mut flight = [0u8; 1];
    stalled.read_exact(&mut flight).await.unwrap();
    assert_eq!(listener.issued.0.load(Ordering::SeqCst), 0);
    drop(stalled);
    match listener.event().await {
        ListenerEvent::NotAttested {
            error: AtlsError::Handshake(_),
            ..
        } => {}
        other => panic!("expected a failed handshake, got {other:?}"),
    }
    assert_eq!(
        listener.issued.0.load(Ordering::SeqCst),
        0,
        "no evidence for a peer that never finished the handshake"
    );
    // The control: a client that finishes the handshake gets (exactly one) evidence.
    let validator = Arc::new(ReferenceValidator::new(
        SnpTrustAnchors::amd().unwrap(),
        Vec::new(),
        Vec::new(),
    ));
    let config = ClientConfig::new(validator, None, clock()).unwrap();
    let tcp = listener.connect(3).await;
    assert!(chiaro_atls::connect(tcp, &config).await.is_err());
    assert_eq!(listener.issued.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn attack_silent_connection_is_cut_at_the_pre_auth_deadline() {
    let mut listener = Listener::start(Limits {
        pre_auth_timeout: Duration::from_millis(200),
        ..Limits::DEFAULT
    })
    .await;
    let mut silent = listener.connect(2).await;
    assert!(
        closed_by_server(&mut silent).await,
        "the listener held a silent peer past its pre-auth deadline"
    );
    match listener.event().await {
        ListenerEvent::NotAttested {
            error: AtlsError::Timeout { .. },
            ..
        } => {}
        other => panic!("expected the pre-auth deadline, got {other:?}"),
    }
    assert_eq!(listener.admission.occupancy(), Occupancy::default());
}

#[tokio::test]
async fn attack_one_source_cannot_take_every_pre_auth_slot() {
    let mut listener = Listener::start(limits(4, 2)).await;
    let _held = [listener.connect(2).await, listener.connect(2).await];
    let mut third = listener.connect(2).await;
    assert!(
        closed_by_server(&mut third).await,
        "a third exchange from one source was admitted"
    );
    match listener.event().await {
        ListenerEvent::OverCap {
            cap: Cap::SourcePreAuth,
            address,
        } => assert_eq!(address, third.local_addr().unwrap()),
        other => panic!("expected the per-source cap, got {other:?}"),
    }
    // Another source still gets in; its own third connection marks that all were seen.
    let _others = [listener.connect(3).await, listener.connect(3).await];
    let mut marker = listener.connect(3).await;
    assert!(closed_by_server(&mut marker).await);
    assert!(matches!(
        listener.event().await,
        ListenerEvent::OverCap {
            cap: Cap::SourcePreAuth,
            ..
        }
    ));
    assert_eq!(
        listener.admission.occupancy(),
        Occupancy {
            pre_auth: 4,
            established: 0
        }
    );
    assert_eq!(listener.issued.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn attack_flood_holding_every_slot_yields_to_a_new_source() {
    let mut listener = Listener::start(limits(4, 4)).await;
    let mut flood = Vec::new();
    for _ in 0..4 {
        flood.push(listener.connect(2).await);
    }
    let _newcomer = listener.connect(3).await;
    // The flood's oldest exchange is ended for the newcomer...
    let oldest = flood.first_mut().unwrap();
    assert!(closed_by_server(oldest).await, "the table stayed full");
    match listener.event().await {
        ListenerEvent::Evicted { address } => {
            assert_eq!(address, oldest.local_addr().unwrap());
        }
        other => panic!("expected an eviction, got {other:?}"),
    }
    // ...and the flood, holding more than anyone, cannot take it back by reconnecting.
    let mut again = listener.connect(2).await;
    assert!(closed_by_server(&mut again).await);
    assert!(matches!(
        listener.event().await,
        ListenerEvent::OverCap {
            cap: Cap::PreAuth,
            ..
        }
    ));
    assert_eq!(
        listener.admission.occupancy(),
        Occupancy {
            pre_auth: 4,
            established: 0
        }
    );
}
