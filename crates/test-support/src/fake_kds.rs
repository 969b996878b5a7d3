//! A fake AMD KDS: a real HTTPS server on loopback with a CA generated here, serving AMD's
//! files from `../shared/testdata` at KDS paths, optionally failing the first requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback KDS: answers `failures` requests with 503, then serves `routes`.
#[derive(Debug)]
pub struct FakeKds {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its CA certificate (DER), to trust.
    pub ca: Vec<u8>,
    /// How many requests it has answered.
    pub requests: Arc<AtomicUsize>,
}

/// One path the fake server answers, with extra response headers.
#[derive(Debug, Clone)]
pub struct Route {
    /// The request path with its query.
    pub path: String,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Starts a fake KDS on loopback (needs a tokio runtime).
pub async fn fake_kds(routes: Vec<(String, Vec<u8>)>, failures: usize) -> FakeKds {
    let routes = routes
        .into_iter()
        .map(|(path, body)| Route {
            path,
            headers: Vec::new(),
            body,
        })
        .collect();
    fake_https(routes, failures).await
}

/// Starts a fake HTTPS server (KDS, PCS) on loopback (needs a tokio runtime).
pub async fn fake_https(routes: Vec<Route>, failures: usize) -> FakeKds {
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
                let (status, headers, body): (&str, Vec<(String, String)>, Vec<u8>) =
                    if seen < failures {
                        ("503 Service Unavailable", Vec::new(), b"busy".to_vec())
                    } else if let Some(route) = routes.iter().find(|route| route.path == path) {
                        ("200 OK", route.headers.clone(), route.body.clone())
                    } else {
                        (
                            "404 Not Found",
                            Vec::new(),
                            format!("no route {path}").into_bytes(),
                        )
                    };
                let extra: String = headers
                    .iter()
                    .map(|(name, value)| format!("{name}: {value}\r\n"))
                    .collect();
                let mut response = format!(
                    "HTTP/1.1 {status}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
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

/// Routes for the virtee Milan report (row 1) and the Oak Turin report (row 8).
pub fn milan_and_turin_routes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let read = |relative: &str| crate::vectors::read(dir, relative);
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
