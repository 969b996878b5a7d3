//! Attested TLS over real TCP on loopback, with the insecure simulated TEE as the evidence
//! source: every refusal the protocol promises, as a typed error.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chiaro_atls::{
    AtlsError, Basis, ClientConfig, Clock, EvidenceBundle, IssueError, Issuer, Judgement,
    ReferenceValidator, ServerConfig, ValidationError, Validator,
};
use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::{SnpReferenceValues, SnpRejection, SnpTrustAnchors};
use chiaro_attest::{Error, HostData, Platform, Rejection, ReportData, UnixTime};
use rcgen::PublicKeyData;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use sha2::{Digest, Sha512};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const POLICY: HostData = HostData::new([0xAA; 32]);

fn now() -> UnixTime {
    "2026-11-26T00:00:00Z".parse().unwrap()
}

fn clock() -> Clock {
    Arc::new(now)
}

fn tee() -> &'static InsecureSimulatedTee {
    static TEE: OnceLock<InsecureSimulatedTee> = OnceLock::new();
    TEE.get_or_init(|| InsecureSimulatedTee::generate(now()).unwrap())
}

/// Signs simulated evidence for a guest launched with `host_data`, recording what it issued.
struct SimulatedIssuer {
    host_data: HostData,
    issued: Mutex<Vec<EvidenceBundle>>,
}

impl SimulatedIssuer {
    fn new(host_data: HostData) -> Arc<Self> {
        Arc::new(Self {
            host_data,
            issued: Mutex::new(Vec::new()),
        })
    }
}

fn simulated_evidence(host_data: HostData, report_data: &ReportData) -> EvidenceBundle {
    let launch = SimulatedLaunch {
        host_data,
        ..SimulatedLaunch::default()
    };
    let report = tee().report(&launch, report_data).unwrap();
    let collateral = tee().collateral();
    let mut certificates = vec![collateral.vek.unwrap()];
    certificates.extend(collateral.intermediates);
    EvidenceBundle::Snp {
        report,
        certificates,
    }
}

impl Issuer for SimulatedIssuer {
    fn issue(&self, report_data: &ReportData) -> Result<EvidenceBundle, IssueError> {
        let evidence = simulated_evidence(self.host_data, report_data);
        self.issued.lock().unwrap().push(evidence.clone());
        Ok(evidence)
    }
}

/// Always sends the same evidence, whatever the session.
struct FixedIssuer(EvidenceBundle);

impl Issuer for FixedIssuer {
    fn issue(&self, _report_data: &ReportData) -> Result<EvidenceBundle, IssueError> {
        Ok(self.0.clone())
    }
}

fn validator() -> Arc<dyn Validator> {
    let values = SnpReferenceValues {
        host_data: Some(POLICY),
        ..SnpReferenceValues::default()
    };
    Arc::new(
        ReferenceValidator::new(SnpTrustAnchors::amd().unwrap(), Vec::new(), Vec::new())
            .with_insecure_simulated(tee().trust_anchors().unwrap(), values),
    )
}

/// Runs one server `accept` on loopback and one client `connect`; returns both results after
/// the client wrote "ping" and the server answered "pong" (when both succeeded).
async fn exchange(
    server: ServerConfig,
    client: ClientConfig,
) -> (
    Result<Option<Platform>, AtlsError>,
    Result<Platform, AtlsError>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut stream = chiaro_atls::accept(tcp, &server).await?;
        let peer = stream.peer().map(|claims| claims.platform);
        let mut ping = [0u8; 4];
        stream.read_exact(&mut ping).await.unwrap();
        assert_eq!(&ping, b"ping");
        stream.write_all(b"pong").await.unwrap();
        stream.flush().await.unwrap();
        Ok(peer)
    });
    let tcp = TcpStream::connect(address).await.unwrap();
    let client_result = match chiaro_atls::connect(tcp, &client).await {
        Ok(mut stream) => {
            stream.write_all(b"ping").await.unwrap();
            let mut pong = [0u8; 4];
            stream.read_exact(&mut pong).await.unwrap();
            assert_eq!(&pong, b"pong");
            Ok(stream.peer().unwrap().platform)
        }
        Err(error) => Err(error),
    };
    (server_task.await.unwrap(), client_result)
}

fn server(
    issuer: Option<Arc<dyn Issuer>>,
    client_validator: Option<Arc<dyn Validator>>,
) -> ServerConfig {
    // Generate the simulated TEE (seconds on a loaded machine) before a deadline runs: done
    // lazily inside `accept`, it could exceed the 10 s limit and fail an unrelated assertion.
    tee();
    ServerConfig::new(issuer, client_validator, clock())
        .unwrap()
        .with_timeout(Duration::from_secs(10))
}

fn client(issuer: Option<Arc<dyn Issuer>>) -> ClientConfig {
    ClientConfig::new(validator(), issuer, clock())
        .unwrap()
        .with_timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn a_server_attested_connection_carries_application_data() {
    let (server_result, client_result) = exchange(
        server(Some(SimulatedIssuer::new(POLICY)), None),
        client(None),
    )
    .await;
    assert_eq!(
        server_result.unwrap(),
        None,
        "the server did not ask the client to attest"
    );
    assert_eq!(client_result.unwrap(), Platform::InsecureSimulated);
}

#[tokio::test]
async fn mutual_attestation_gives_both_sides_the_peer_claims() {
    let (server_result, client_result) = exchange(
        server(Some(SimulatedIssuer::new(POLICY)), Some(validator())),
        client(Some(SimulatedIssuer::new(POLICY))),
    )
    .await;
    assert_eq!(server_result.unwrap(), Some(Platform::InsecureSimulated));
    assert_eq!(client_result.unwrap(), Platform::InsecureSimulated);
}

#[tokio::test]
async fn evidence_replayed_from_another_session_is_refused() {
    let recorder = SimulatedIssuer::new(POLICY);
    let (_, first) = exchange(server(Some(recorder.clone()), None), client(None)).await;
    first.unwrap();
    let recorded = recorder.issued.lock().unwrap()[0].clone();
    let (_, replayed) = exchange(
        server(Some(Arc::new(FixedIssuer(recorded))), None),
        client(None),
    )
    .await;
    assert!(
        matches!(replayed, Err(AtlsError::EvidenceNotBound)),
        "{replayed:?}"
    );
}

#[tokio::test]
async fn evidence_for_another_key_is_refused() {
    let other = simulated_evidence(POLICY, &ReportData::new([0x55; 64]));
    let (_, result) = exchange(
        server(Some(Arc::new(FixedIssuer(other))), None),
        client(None),
    )
    .await;
    assert!(
        matches!(result, Err(AtlsError::EvidenceNotBound)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_wrong_policy_hash_is_refused() {
    let wrong = HostData::new([0xBB; 32]);
    let (_, result) = exchange(
        server(Some(SimulatedIssuer::new(wrong)), None),
        client(None),
    )
    .await;
    match result {
        Err(AtlsError::Evidence(Error::Rejected(Rejection::Snp(
            SnpRejection::HostDataMismatch { actual, expected },
        )))) => {
            assert_eq!((actual, expected), (wrong, POLICY));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_server_without_evidence_is_refused() {
    let (_, result) = exchange(server(None, None), client(None)).await;
    assert!(
        matches!(result, Err(AtlsError::PeerNotAttested)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_client_without_evidence_is_refused_by_a_mutual_server() {
    // The client has no certificate to present, so the TLS handshake itself refuses it, before
    // any evidence is exchanged.
    let (server_result, client_result) = exchange(
        server(Some(SimulatedIssuer::new(POLICY)), Some(validator())),
        client(None),
    )
    .await;
    assert!(
        matches!(server_result, Err(AtlsError::Handshake(_))),
        "{server_result:?}"
    );
    assert!(
        matches!(
            client_result,
            Err(AtlsError::RefusedByPeer { retryable: false })
        ),
        "{client_result:?}"
    );
}

#[tokio::test]
async fn a_client_with_a_wrong_policy_is_refused_by_a_mutual_server() {
    let (server_result, client_result) = exchange(
        server(Some(SimulatedIssuer::new(POLICY)), Some(validator())),
        client(Some(SimulatedIssuer::new(HostData::new([1; 32])))),
    )
    .await;
    assert!(
        matches!(server_result, Err(AtlsError::Evidence(_))),
        "{server_result:?}"
    );
    assert!(
        matches!(
            client_result,
            Err(AtlsError::RefusedByPeer { retryable: false })
        ),
        "{client_result:?}"
    );
}

/// A plain TLS 1.3 server with a self-signed certificate that answers like an HTTP server.
async fn plain_tls_server() -> std::net::SocketAddr {
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["plain.invalid".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut stream = acceptor.accept(tcp).await.unwrap();
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await;
        let _ = stream.flush().await;
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink).await;
    });
    address
}

#[tokio::test]
async fn a_plain_tls_server_is_refused() {
    let address = plain_tls_server().await;
    let tcp = TcpStream::connect(address).await.unwrap();
    let result = chiaro_atls::connect(tcp, &client(None)).await;
    assert!(
        matches!(result, Err(AtlsError::Protocol { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_peer_that_does_not_speak_tls_fails_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let _ = tcp.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
    });
    let tcp = TcpStream::connect(address).await.unwrap();
    let result = chiaro_atls::connect(tcp, &client(None)).await;
    assert!(matches!(result, Err(AtlsError::Handshake(_))), "{result:?}");
}

// Paused time: the deadline passes once nothing else can happen, not after a wall-clock wait.
#[tokio::test(start_paused = true)]
async fn a_silent_peer_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move { listener.accept().await.unwrap() });
    let tcp = TcpStream::connect(address).await.unwrap();
    let config = ClientConfig::new(validator(), None, clock())
        .unwrap()
        .with_timeout(Duration::from_millis(300));
    let result = chiaro_atls::connect(tcp, &config).await;
    assert!(
        matches!(result, Err(AtlsError::Timeout { .. })),
        "{result:?}"
    );
    drop(holder);
}

#[tokio::test]
async fn evidence_of_a_platform_without_reference_values_is_refused() {
    let strict: Arc<dyn Validator> = Arc::new(ReferenceValidator::new(
        SnpTrustAnchors::amd().unwrap(),
        Vec::new(),
        Vec::new(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server_config = server(Some(SimulatedIssuer::new(POLICY)), None);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ = chiaro_atls::accept(tcp, &server_config).await;
    });
    let tcp = TcpStream::connect(address).await.unwrap();
    let config = ClientConfig::new(strict, None, clock()).unwrap();
    let result = chiaro_atls::connect(tcp, &config).await;
    assert!(
        matches!(
            result,
            Err(AtlsError::Evidence(Error::Rejected(
                Rejection::PlatformNotAccepted { platform: "SNP" }
            )))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_validator_basis_is_exposed_on_the_accepted_stream() {
    /// Accepts what the reference validator accepts, judged against a fixed basis.
    struct BasedValidator(Basis);

    impl Validator for BasedValidator {
        fn validate(
            &self,
            evidence: &EvidenceBundle,
            now: UnixTime,
        ) -> Result<Judgement, ValidationError> {
            validator()
                .validate(evidence, now)
                .map(|judgement| judgement.with_basis(self.0))
        }
    }

    let basis = Basis::new([0x42; 32]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server_config = server(
        Some(SimulatedIssuer::new(POLICY)),
        Some(Arc::new(BasedValidator(basis))),
    );
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let stream = chiaro_atls::accept(tcp, &server_config).await.unwrap();
        (
            stream.peer().map(|claims| claims.platform),
            stream.peer_basis(),
        )
    });
    let tcp = TcpStream::connect(address).await.unwrap();
    let client_stream = chiaro_atls::connect(tcp, &client(Some(SimulatedIssuer::new(POLICY))))
        .await
        .unwrap();
    assert_eq!(
        server_task.await.unwrap(),
        (Some(Platform::InsecureSimulated), Some(basis))
    );
    assert_eq!(
        client_stream.peer_basis(),
        None,
        "the reference validator judges against nothing that changes"
    );
}

// Peers that speak the attestation protocol themselves, from its documented wire form
// (docs/atls.md), choosing the report data their evidence carries.

/// The report data `docs/atls.md` specifies: SHA-512 over the domain label, the role, the
/// exporter value for the role and the sender's certificate SubjectPublicKeyInfo.
fn documented_report_data(role: &[u8], exporter: &[u8; 64], spki: &[u8]) -> ReportData {
    let digest = Sha512::new()
        .chain_update(b"chiaro-atls-v1 report data\0")
        .chain_update(role)
        .chain_update([0u8])
        .chain_update(exporter)
        .chain_update(spki)
        .finalize();
    ReportData::new(digest.into())
}

/// This session's exporter value for `role` (`docs/atls.md`, "Bindings").
fn exporter<Data>(connection: &rustls::ConnectionCommon<Data>, role: &[u8]) -> [u8; 64] {
    connection
        .export_keying_material([0u8; 64], b"EXPORTER-chiaro-atls-v1", Some(role))
        .unwrap()
}

async fn write_frame<S: AsyncWrite + Unpin>(stream: &mut S, frame: &serde_json::Value) {
    let body = serde_json::to_vec(frame).unwrap();
    let mut bytes = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    bytes.extend_from_slice(&body);
    stream.write_all(&bytes).await.unwrap();
    stream.flush().await.unwrap();
}

/// The `frame` tag of the next frame.
async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; usize::try_from(u32::from_be_bytes(len)).unwrap()];
    stream.read_exact(&mut body).await.unwrap();
    let frame: serde_json::Value = serde_json::from_slice(&body).unwrap();
    frame["frame"].as_str().unwrap().to_owned()
}

fn evidence_frame(report_data: &ReportData) -> serde_json::Value {
    serde_json::json!({ "frame": "evidence", "evidence": simulated_evidence(POLICY, report_data) })
}

fn self_signed(key: &rcgen::KeyPair) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let certificate = rcgen::CertificateParams::new(vec!["rogue.invalid".to_owned()])
        .unwrap()
        .self_signed(key)
        .unwrap();
    (
        certificate.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// A rogue client's view of the server: whatever it is, go on.
#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client that authenticates the TLS handshake with `tls_key` and then sends simulated (TEE)
/// evidence carrying `report_data(client exporter value)` to a mutual server. Returns the
/// server's result and the verdict frame the client read.
async fn rogue_client(
    tls_key: &rcgen::KeyPair,
    report_data: impl FnOnce(&[u8; 64]) -> ReportData,
) -> (Result<Option<Platform>, AtlsError>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server_config = server(Some(SimulatedIssuer::new(POLICY)), Some(validator()));
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let stream = chiaro_atls::accept(tcp, &server_config).await?;
        Ok(stream.peer().map(|claims| claims.platform))
    });
    let (certificate, key) = self_signed(tls_key);
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyServer))
    .with_client_auth_cert(vec![certificate], key)
    .unwrap();
    let tcp = TcpStream::connect(address).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("chiaro-atls.invalid").unwrap(), tcp)
        .await
        .unwrap();
    let exporter = exporter(tls.get_ref().1, b"client");
    assert_eq!(
        read_frame(&mut tls).await,
        "evidence",
        "the server attests first"
    );
    write_frame(&mut tls, &evidence_frame(&report_data(&exporter))).await;
    let verdict = read_frame(&mut tls).await;
    (server_task.await.unwrap(), verdict)
}

#[tokio::test]
async fn client_evidence_with_the_documented_report_data_is_accepted() {
    // The control for the attacks below: the rogue client speaks the protocol correctly, and
    // the construction docs/atls.md gives is the one the server checks.
    let key = rcgen::KeyPair::generate().unwrap();
    let spki = key.subject_public_key_info();
    let (server_result, verdict) = rogue_client(&key, |exporter| {
        documented_report_data(b"client", exporter, &spki)
    })
    .await;
    assert_eq!(server_result.unwrap(), Some(Platform::InsecureSimulated));
    assert_eq!(verdict, "accepted");
}

#[tokio::test]
async fn attack_client_evidence_bound_to_another_key_is_refused() {
    // The client signs the handshake with one key, but its evidence carries this session's
    // exporter and vouches for another key (e.g. the TEE's, while a key outside the TEE
    // authenticated the handshake, to be certified as the workload's).
    let tls_key = rcgen::KeyPair::generate().unwrap();
    let other_spki = rcgen::KeyPair::generate()
        .unwrap()
        .subject_public_key_info();
    let (server_result, verdict) = rogue_client(&tls_key, |exporter| {
        documented_report_data(b"client", exporter, &other_spki)
    })
    .await;
    assert!(
        matches!(server_result, Err(AtlsError::EvidenceNotBound)),
        "{server_result:?}"
    );
    assert_eq!(verdict, "refused");
}

#[tokio::test]
async fn attack_client_evidence_bound_to_the_exporter_alone_is_refused() {
    // What the protocol accepted before the explicit key binding: report data = the bare
    // exporter value. The exporter is fixed before the client's certificate is sent, so such
    // evidence vouches for no key at all and would have passed with any certificate.
    let tls_key = rcgen::KeyPair::generate().unwrap();
    let (server_result, verdict) =
        rogue_client(&tls_key, |exporter| ReportData::new(*exporter)).await;
    assert!(
        matches!(server_result, Err(AtlsError::EvidenceNotBound)),
        "{server_result:?}"
    );
    assert_eq!(verdict, "refused");
}

#[tokio::test]
async fn attack_server_evidence_bound_to_another_key_is_refused() {
    // The same rule for the server: evidence with this session's exporter, made for a key other
    // than the one the server's certificate carries.
    let tls_key = rcgen::KeyPair::generate().unwrap();
    let other_spki = rcgen::KeyPair::generate()
        .unwrap()
        .subject_public_key_info();
    let (certificate, key) = self_signed(&tls_key);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certificate], key)
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let rogue = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = tokio_rustls::TlsAcceptor::from(Arc::new(config))
            .accept(tcp)
            .await
            .unwrap();
        let exporter = exporter(tls.get_ref().1, b"server");
        let report_data = documented_report_data(b"server", &exporter, &other_spki);
        write_frame(&mut tls, &evidence_frame(&report_data)).await;
        read_frame(&mut tls).await
    });
    let tcp = TcpStream::connect(address).await.unwrap();
    let result = chiaro_atls::connect(tcp, &client(None)).await;
    assert!(
        matches!(result, Err(AtlsError::EvidenceNotBound)),
        "{result:?}"
    );
    assert_eq!(rogue.await.unwrap(), "refused");
}
