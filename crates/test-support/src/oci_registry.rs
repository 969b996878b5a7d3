//! A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution) started on
//! loopback in a scratch directory, with images the tests push themselves, optionally behind
//! TLS or token authentication (a small token service in this process signs the JWTs the
//! registry checks against a test CA).
//!
//! Tests that start one are named `needs_registry_…`: when the `docker-registry` binary is
//! missing, [`OciRegistry::start`] fails, and `scripts/test` leaves them out unless `CI` is set
//! (see [`crate::prerequisite`]; it installs the binary when it can).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};

use crate::prerequisite::{Prerequisite, REGISTRY_BINARY};

/// How the registry lets clients in.
#[derive(Debug, Clone)]
pub enum Access {
    /// Anyone, plain HTTP.
    Open,
    /// Plain HTTP, bearer tokens from a token service that wants these basic credentials.
    Token {
        /// The user the token service accepts.
        username: String,
        /// Its password.
        password: String,
    },
    /// Anyone, HTTPS with a certificate for `localhost` from a test CA.
    Tls,
}

/// A running registry; stopped and its directory removed on drop.
#[derive(Debug)]
pub struct OciRegistry {
    child: Child,
    dir: PathBuf,
    owns_dir: bool,
    /// `127.0.0.1:port` (or `localhost:port` with TLS).
    pub host: String,
    /// The test CA (DER) with [`Access::Tls`].
    pub ca: Option<Vec<u8>>,
    /// Token requests answered, with [`Access::Token`].
    pub token_requests: Arc<AtomicUsize>,
    /// The token service's `host:port` (plain HTTP), with [`Access::Token`].
    pub token_service: Option<String>,
}

impl OciRegistry {
    /// Starts a registry with its own storage.
    ///
    /// # Panics
    /// When the binary is missing, the running test's name lacks `needs_registry`, or the
    /// registry does not come up.
    pub fn start(access: &Access) -> Self {
        Prerequisite::Registry.require();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chiaro-oci-registry-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        Self::launch(dir, true, access)
    }

    /// A second registry serving the same storage with other access rules (push through an
    /// open one, read through a protected one).
    pub fn sharing_storage(&self, access: &Access) -> Self {
        Self::launch(self.dir.clone(), false, access)
    }

    /// Starts the registry; on a port another process took meanwhile, again on another.
    fn launch(dir: PathBuf, owns_dir: bool, access: &Access) -> Self {
        for _ in 0..4 {
            if let Some(registry) = Self::launch_once(dir.clone(), owns_dir, access) {
                return registry;
            }
        }
        panic!("docker-registry exited before listening, four times");
    }

    fn launch_once(dir: PathBuf, owns_dir: bool, access: &Access) -> Option<Self> {
        let port = free_port();
        let token_requests = Arc::new(AtomicUsize::new(0));
        let mut ca = None;
        let mut token_service = None;
        let (host, extra) = match access {
            Access::Open => (format!("127.0.0.1:{port}"), String::new()),
            Access::Tls => {
                let (ca_der, cert_pem, key_pem) = tls_identity("localhost");
                let cert = dir.join(format!("tls-{port}.crt"));
                let key = dir.join(format!("tls-{port}.key"));
                std::fs::write(&cert, cert_pem).unwrap();
                std::fs::write(&key, key_pem).unwrap();
                ca = Some(ca_der);
                (
                    format!("localhost:{port}"),
                    format!(
                        "  tls:\n    certificate: {}\n    key: {}\n",
                        cert.display(),
                        key.display()
                    ),
                )
            }
            Access::Token { username, password } => {
                let service = TokenService::start(
                    username.clone(),
                    password.clone(),
                    Arc::clone(&token_requests),
                );
                let bundle = dir.join(format!("token-ca-{port}.pem"));
                std::fs::write(&bundle, &service.ca_pem).unwrap();
                token_service = Some(service.address.clone());
                (
                    format!("127.0.0.1:{port}"),
                    format!(
                        "auth:\n  token:\n    realm: http://{}/token\n    service: chiaro-test-registry\n    issuer: chiaro-test-tokens\n    rootcertbundle: {}\n",
                        service.address,
                        bundle.display()
                    ),
                )
            }
        };
        let http_tls = if matches!(access, Access::Tls) {
            extra.clone()
        } else {
            String::new()
        };
        let auth = if matches!(access, Access::Token { .. }) {
            extra
        } else {
            String::new()
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{http_tls}{auth}",
            dir.join("storage").display()
        );
        let config_path = dir.join(format!("config-{port}.yml"));
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join(format!("registry-{port}.log"))).unwrap();
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut registry = Self {
            child,
            dir,
            owns_dir: false,
            host,
            ca,
            token_requests,
            token_service,
        };
        if !registry.wait_until_listening(port) {
            return None;
        }
        registry.owns_dir = owns_dir;
        Some(registry)
    }

    /// Whether it listens (false: it exited first).
    fn wait_until_listening(&mut self, port: u16) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}: {}",
                std::fs::read_to_string(self.dir.join(format!("registry-{port}.log")))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Where the registry stores the blob `digest` (`sha256:…`), to alter it behind its back.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.join(format!(
            "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }

    /// Pushes an image with no layers and the configuration `config` (a JSON image config
    /// with `os`, `architecture` and `config`) as `repository:tag`; returns the manifest's
    /// digest (`sha256:…`). Only for [`Access::Open`] registries.
    pub fn push_image(&self, repository: &str, tag: &str, config: &serde_json::Value) -> String {
        let config = serde_json::to_vec(config).unwrap();
        let config_digest = self.push_blob(repository, &config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [],
        });
        self.push_manifest(
            repository,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
        )
    }

    /// Pushes an index listing `entries` (`(os, architecture, manifest digest)`) as
    /// `repository:tag`; returns its digest.
    pub fn push_index(
        &self,
        repository: &str,
        tag: &str,
        entries: &[(&str, &str, &str)],
    ) -> String {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(os, architecture, digest)| {
                let (_, size) = self.manifest_size(repository, digest);
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest,
                    "size": size,
                    "platform": {"os": os, "architecture": architecture},
                })
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        self.push_manifest(
            repository,
            tag,
            "application/vnd.oci.image.index.v1+json",
            &serde_json::to_vec(&index).unwrap(),
        )
    }

    /// Pushes `content` as a blob; returns its digest.
    pub fn push_blob(&self, repository: &str, content: &[u8]) -> String {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(content)));
        let (status, headers, body) = self.request(
            "POST",
            &format!("/v2/{repository}/blobs/uploads/"),
            &[],
            &[],
        );
        assert_eq!(
            status,
            202,
            "starting an upload: {}",
            String::from_utf8_lossy(&body)
        );
        let location = header(&headers, "location").expect("upload location");
        let path = location
            .strip_prefix(&format!("http://{}", self.host))
            .unwrap_or(&location)
            .to_owned();
        let separator = if path.contains('?') { '&' } else { '?' };
        let (status, _, body) = self.request(
            "PUT",
            &format!("{path}{separator}digest={digest}"),
            &[("content-type", "application/octet-stream")],
            content,
        );
        assert_eq!(
            status,
            201,
            "finishing an upload: {}",
            String::from_utf8_lossy(&body)
        );
        digest
    }

    /// Pushes a manifest document as `repository:reference`; returns its digest.
    pub fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let (status, _, answer) = self.request(
            "PUT",
            &format!("/v2/{repository}/manifests/{reference}"),
            &[("content-type", media_type)],
            body,
        );
        assert_eq!(
            status,
            201,
            "pushing a manifest: {}",
            String::from_utf8_lossy(&answer)
        );
        format!("sha256:{}", hex::encode(Sha256::digest(body)))
    }

    fn manifest_size(&self, repository: &str, digest: &str) -> (u16, usize) {
        let (status, _, body) = self.request(
            "GET",
            &format!("/v2/{repository}/manifests/{digest}"),
            &[(
                "accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
            )],
            &[],
        );
        assert_eq!(status, 200, "manifest {digest} not pushed");
        (status, body.len())
    }

    /// One plain-HTTP request to this (open) registry.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut stream = TcpStream::connect(&self.host).unwrap();
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
            self.host,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        read_response(stream)
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.clone())
}

/// Reads a `connection: close` HTTP/1.1 response: status, headers, body.
fn read_response(stream: TcpStream) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut body = Vec::new();
    match header(&headers, "content-length").and_then(|length| length.parse::<usize>().ok()) {
        Some(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body).unwrap();
        }
        None => {
            reader.read_to_end(&mut body).unwrap();
        }
    }
    (status, headers, body)
}

/// A CA and a server certificate for `name`: (CA DER, server chain PEM, server key PEM).
fn tls_identity(name: &str) -> (Vec<u8>, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&key, &rcgen::Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    (ca.der().to_vec(), certificate.pem(), key.serialize_pem())
}

/// The token service: answers `GET /token?scope=…&service=…` with a JWT (ES256, `x5c`
/// chain to its CA) granting what the scope asks, if the basic credentials are right.
struct TokenService {
    address: String,
    ca_pem: String,
}

impl TokenService {
    fn start(username: String, password: String, requests: Arc<AtomicUsize>) -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let signing_key = rcgen::KeyPair::generate().unwrap();
        let signing_certificate = rcgen::CertificateParams::new(vec!["tokens".to_owned()])
            .unwrap()
            .signed_by(
                &signing_key,
                &rcgen::Issuer::from_params(&ca_params, &ca_key),
            )
            .unwrap();
        let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &signing_key.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        let x5c = STANDARD.encode(signing_certificate.der());
        let expected = format!(
            "Basic {}",
            STANDARD.encode(format!("{username}:{password}"))
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut authorization = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorization = Some(value.trim().to_owned());
                    }
                }
                requests.fetch_add(1, Ordering::SeqCst);
                let target = request_line.split(' ').nth(1).unwrap_or_default();
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
                let scope = query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("scope="))
                    .map(percent_decode)
                    .unwrap_or_default();
                let (status, body) = if authorization.as_deref() == Some(expected.as_str()) {
                    #[expect(
                        clippy::disallowed_methods,
                        reason = "the token service is a server: it reads the clock at its edge"
                    )]
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    let token = sign_token(&signer, &x5c, &scope, now);
                    ("200 OK", serde_json::json!({ "token": token }).to_string())
                } else {
                    (
                        "401 Unauthorized",
                        r#"{"details":"wrong credentials"}"#.to_owned(),
                    )
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            address,
            ca_pem: ca.pem(),
        }
    }
}

fn sign_token(signer: &ring::signature::EcdsaKeyPair, x5c: &str, scope: &str, now: u64) -> String {
    let access: Vec<serde_json::Value> = scope
        .split(' ')
        .filter_map(|scope| {
            let mut parts = scope.split(':');
            let kind = parts.next()?;
            let name = parts.next()?;
            let actions: Vec<&str> = parts.next()?.split(',').collect();
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": "chiaro-test-tokens",
        "sub": "tester",
        "aud": "chiaro-test-registry",
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", scope.len()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer
        .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
        .unwrap();
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[index + 1..index + 3], 16)
        {
            out.push(byte);
            index += 3;
        } else {
            out.push(if bytes[index] == b'+' {
                b' '
            } else {
                bytes[index]
            });
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
