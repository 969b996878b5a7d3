//! The KDS client against a real HTTPS server on loopback that serves AMD's files from
//! `../shared/testdata` at KDS paths, with a test CA this test generates. AMD's real KDS is not
//! reachable from here; what is not covered is its rate limiting and exact response headers.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chiaro_attest::UnixTime;
use chiaro_attest::snp::{self, Product, SnpReferenceValues, SnpTrustAnchors};
use chiaro_collateral::{Cache, FetchError, Fetcher, Kds, KdsError};
use chiaro_test_support::snp_cases::SNP_CASES;
use chiaro_test_support::testdata_or_skip;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback KDS: answers `failures` requests with 503, then serves `routes`.
struct FakeKds {
    address: SocketAddr,
    ca: Vec<u8>,
    requests: Arc<AtomicUsize>,
}

async fn fake_kds(routes: Vec<(String, Vec<u8>)>, failures: usize) -> FakeKds {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(
            &server_key,
            &rcgen::Issuer::from_params(&ca_params, &ca_key),
        )
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![server.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
            server_key.serialize_der(),
        )),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let routes = Arc::clone(&routes);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let Ok(read) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    head.extend_from_slice(&buffer[..read]);
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                let seen = counter.fetch_add(1, Ordering::SeqCst);
                let (status, body): (&str, Vec<u8>) = if seen < failures {
                    ("503 Service Unavailable", b"busy".to_vec())
                } else if let Some((_, body)) = routes.iter().find(|(route, _)| *route == path) {
                    ("200 OK", body.clone())
                } else {
                    ("404 Not Found", format!("no route {path}").into_bytes())
                };
                let mut response = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                response.extend_from_slice(&body);
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    FakeKds {
        address,
        ca: ca.der().to_vec(),
        requests,
    }
}

fn kds(fake: &FakeKds, cache: Option<Cache>) -> Kds {
    let fetcher = Fetcher::with_root_certificate(&fake.ca)
        .unwrap()
        .with_retries(3, Duration::from_millis(10));
    Kds::new(
        format!("https://localhost:{}", fake.address.port()),
        fetcher,
        cache,
    )
}

fn now() -> UnixTime {
    "2026-11-26T00:00:00Z".parse().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("chiaro-kds-{name}-{}", std::process::id()))
}

/// Routes for the virtee Milan report (row 1) and the Oak Turin report (row 8).
fn routes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let read = |relative: &str| chiaro_test_support::vectors::read(dir, relative);
    vec![
        (
            "/vcek/v1/Milan/d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115".to_owned(),
            read("sev-snp/virtee-sev/vcek_milan.der"),
        ),
        ("/vcek/v1/Milan/cert_chain".to_owned(), read("sev-snp/virtee-sev/cert_chain_milan")),
        (
            "/vcek/v1/Turin/3b42092f69c656d3?blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=71&fmcSPL=0".to_owned(),
            read("sev-snp/project-oak/turin_oc.derived-vcek.der"),
        ),
        ("/vcek/v1/Turin/cert_chain".to_owned(), read("sev-snp/virtee-sev/cert_chain_turin")),
    ]
}

#[tokio::test]
async fn fetched_collateral_verifies_milan_and_turin_reports() {
    let dir = testdata_or_skip!("KDS fetching");
    let fake = fake_kds(routes(&dir), 0).await;
    let client = kds(&fake, None);
    for (row, product) in [(1, Product::Milan), (8, Product::Turin)] {
        let case = SNP_CASES.iter().find(|case| case.row == row).unwrap();
        let report = snp::Report::parse(&case.report_bytes(&dir)).unwrap();
        let collateral = client.collateral(product, &report, now()).await.unwrap();
        snp::verify_report(
            &report,
            &collateral,
            &SnpTrustAnchors::amd().unwrap(),
            &SnpReferenceValues::default(),
            now(),
        )
        .unwrap_or_else(|e| panic!("row {row}: {e:?}"));
    }
}

#[tokio::test]
async fn the_cache_serves_repeats_from_disk_across_clients() {
    let dir = testdata_or_skip!("KDS cache");
    let fake = fake_kds(routes(&dir), 0).await;
    let cache_dir = scratch("cache");
    let _ = std::fs::remove_dir_all(&cache_dir);
    let case = SNP_CASES[0];
    let report = snp::Report::parse(&case.report_bytes(&dir)).unwrap();
    kds(&fake, Some(Cache::new(&cache_dir)))
        .collateral(Product::Milan, &report, now())
        .await
        .unwrap();
    assert_eq!(fake.requests.load(Ordering::SeqCst), 2);
    kds(&fake, Some(Cache::new(&cache_dir)))
        .collateral(Product::Milan, &report, now())
        .await
        .unwrap();
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        2,
        "the second client used the on-disk cache"
    );
    std::fs::remove_dir_all(&cache_dir).unwrap();
}

#[tokio::test]
async fn expired_cache_entries_are_fetched_again() {
    let crl_route = ("/vcek/v1/Milan/crl".to_owned(), b"crl bytes".to_vec());
    let fake = fake_kds(vec![crl_route], 0).await;
    let cache_dir = scratch("expiry");
    let _ = std::fs::remove_dir_all(&cache_dir);
    let client = kds(&fake, Some(Cache::new(&cache_dir)));
    client.crl(Product::Milan, false, now()).await.unwrap();
    client
        .crl(
            Product::Milan,
            false,
            UnixTime::from_secs(now().as_secs() + 3600),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        1,
        "fresh within 12 hours"
    );
    client
        .crl(
            Product::Milan,
            false,
            UnixTime::from_secs(now().as_secs() + 13 * 3600),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        2,
        "refetched after 12 hours"
    );
    std::fs::remove_dir_all(&cache_dir).unwrap();
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let dir = testdata_or_skip!("KDS retries");
    let fake = fake_kds(routes(&dir), 2).await;
    let chain = kds(&fake, None)
        .cert_chain(Product::Milan, false, now())
        .await
        .unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(fake.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_given_up_on() {
    let dir = testdata_or_skip!("KDS give up");
    let fake = fake_kds(routes(&dir), 100).await;
    let error = kds(&fake, None)
        .cert_chain(Product::Milan, false, now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            KdsError::Fetch(FetchError::Status { status: 503, .. })
        ),
        "{error:?}"
    );
    assert_eq!(fake.requests.load(Ordering::SeqCst), 3, "three attempts");
}

#[tokio::test]
async fn a_missing_document_is_not_retried() {
    let dir = testdata_or_skip!("KDS 404");
    let fake = fake_kds(routes(&dir), 0).await;
    let error = kds(&fake, None)
        .cert_chain(Product::Genoa, false, now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            KdsError::Fetch(FetchError::Status { status: 404, .. })
        ),
        "{error:?}"
    );
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_server_outside_the_trusted_roots_is_refused() {
    let dir = testdata_or_skip!("KDS TLS roots");
    let fake = fake_kds(routes(&dir), 0).await;
    let other = fake_kds(Vec::new(), 0).await;
    let fetcher = Fetcher::with_root_certificate(&other.ca)
        .unwrap()
        .with_retries(1, Duration::from_millis(1));
    let client = Kds::new(
        format!("https://localhost:{}", fake.address.port()),
        fetcher,
        None,
    );
    let error = client
        .cert_chain(Product::Milan, false, now())
        .await
        .unwrap_err();
    assert!(
        matches!(error, KdsError::Fetch(FetchError::Transport { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_masked_chip_id_has_no_vcek_url() {
    let dir = testdata_or_skip!("KDS masked chip id");
    let case = SNP_CASES.iter().find(|case| case.row == 4).unwrap();
    let report = snp::Report::parse(&case.report_bytes(&dir)).unwrap();
    let fake = fake_kds(Vec::new(), 0).await;
    assert!(matches!(
        kds(&fake, None).vcek_url(Product::Milan, &report),
        Err(KdsError::MaskedChipId)
    ));
}
