//! The client: redirects and retries around one attempt.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::{HttpError, Method, Response, RetryPolicy, Url};

/// Redirects followed unless [`Client::with_redirects`] says otherwise.
const DEFAULT_REDIRECTS: usize = 5;

/// An HTTP/1.1 client (see the crate documentation for what every request gets).
#[derive(Clone)]
pub struct Client {
    tls: TlsConnector,
    plain_http: BTreeSet<String>,
    policy: RetryPolicy,
    redirects: usize,
    user_agent: &'static str,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("plain_http", &self.plain_http)
            .field("policy", &self.policy)
            .field("redirects", &self.redirects)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client trusting exactly `roots`, sending `user_agent`, with the default policy, HTTPS
    /// only and up to five redirects.
    ///
    /// # Errors
    /// [`HttpError::Config`] if rustls refuses the configuration.
    pub fn new(roots: RootCertStore, user_agent: &'static str) -> Result<Self, HttpError> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(HttpError::Config)?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            plain_http: BTreeSet::new(),
            policy: RetryPolicy::default(),
            redirects: DEFAULT_REDIRECTS,
            user_agent,
        })
    }

    /// Allows plain HTTP to `hosts` (`host[:port]` as written in URLs), and to them only.
    #[must_use]
    pub fn with_plain_http(mut self, hosts: BTreeSet<String>) -> Self {
        self.plain_http = hosts;
        self
    }

    /// Sets the retry and timeout policy.
    #[must_use]
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = RetryPolicy {
            attempts: policy.attempts.max(1),
            ..policy
        };
        self
    }

    /// Sets how many redirects are followed (0: a 3xx is returned as it is).
    #[must_use]
    pub fn with_redirects(mut self, redirects: usize) -> Self {
        self.redirects = redirects;
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Whether plain HTTP to `host` is allowed.
    pub fn allows_plain_http(&self, host: &str) -> bool {
        self.plain_http.contains(host)
    }

    /// GETs `url` with `headers`, following redirects (dropping `Authorization` when the host
    /// changes) and retrying transient failures. The response is returned whatever its status
    /// (after the last attempt, for 5xx and 429).
    ///
    /// # Errors
    /// [`HttpError`]: at once when final, after the last attempt when transient.
    pub async fn get(
        &self,
        url: &str,
        headers: &[(&str, String)],
        limit: usize,
    ) -> Result<Response, HttpError> {
        self.send(Method::Get, url, headers, Vec::new(), limit)
            .await
    }

    /// Sends `method` to `url` with `headers` and `body`. Reads (GET, HEAD) follow redirects
    /// as [`Client::get`] does; writes return a redirect as it is. Idempotent methods are
    /// retried like a GET; a POST only when the connection failed (the request was not sent).
    ///
    /// # Errors
    /// [`HttpError`]: at once when final, after the last attempt when transient.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        limit: usize,
    ) -> Result<Response, HttpError> {
        let body = Bytes::from(body);
        let redirects = if method.follows_redirects() {
            self.redirects
        } else {
            0
        };
        let first = Url::parse(url)?;
        let mut current = first.clone();
        for _ in 0..=redirects {
            self.check_scheme(&current)?;
            let same_host = current.authority() == first.authority();
            let headers: Vec<(&str, String)> = headers
                .iter()
                .filter(|(name, _)| same_host || !name.eq_ignore_ascii_case("authorization"))
                .cloned()
                .collect();
            let request = Attempt {
                method,
                url: &current,
                headers: &headers,
                body: &body,
            };
            let response = self.with_retries(&request, limit).await?;
            if redirects == 0 || !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
                return Ok(response);
            }
            let location =
                response
                    .header("location")
                    .ok_or_else(|| HttpError::RedirectWithoutLocation {
                        url: current.to_string(),
                    })?;
            current = current.join(location)?;
        }
        Err(HttpError::TooManyRedirects {
            url: url.to_owned(),
            limit: redirects,
        })
    }

    fn check_scheme(&self, url: &Url) -> Result<(), HttpError> {
        if url.is_tls() || self.allows_plain_http(url.authority()) {
            Ok(())
        } else {
            Err(HttpError::PlainHttpRefused {
                url: url.to_string(),
                host: url.authority().to_owned(),
            })
        }
    }

    async fn with_retries(
        &self,
        request: &Attempt<'_>,
        limit: usize,
    ) -> Result<Response, HttpError> {
        let mut backoff = self.policy.first_backoff;
        let mut attempt = 1;
        loop {
            let result = self.bounded(request, limit).await;
            let transient = match &result {
                Ok(response) => response.is_transient() && request.method.is_idempotent(),
                Err(HttpError::Connect { .. }) => true,
                Err(error) => error.is_transient() && request.method.is_idempotent(),
            };
            if !transient || attempt >= self.policy.attempts {
                return result;
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            attempt = attempt.saturating_add(1);
        }
    }

    /// One attempt, bounded by the policy's timeout.
    async fn bounded(&self, request: &Attempt<'_>, limit: usize) -> Result<Response, HttpError> {
        let timeout = self.policy.timeout;
        tokio::time::timeout(timeout, self.once(request, limit))
            .await
            .unwrap_or_else(|_| {
                Err(HttpError::TimedOut {
                    url: request.url.to_string(),
                    timeout,
                })
            })
    }

    async fn once(&self, request: &Attempt<'_>, limit: usize) -> Result<Response, HttpError> {
        let url = request.url;
        let tcp = TcpStream::connect((url.host(), url.port()))
            .await
            .map_err(|source| HttpError::Connect {
                url: url.to_string(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let hyper_request = self.request(request)?;
        let response = if url.is_tls() {
            let stream = self.handshake(url, tcp).await?;
            send(TokioIo::new(stream), hyper_request).await
        } else {
            send(TokioIo::new(tcp), hyper_request).await
        }
        .map_err(|source| HttpError::Protocol {
            url: url.to_string(),
            source,
        })?;
        read(url, response, limit).await
    }

    fn request(&self, request: &Attempt<'_>) -> Result<hyper::Request<Full<Bytes>>, HttpError> {
        let url = request.url;
        let mut builder = hyper::Request::builder()
            .method(request.method.as_hyper())
            .uri(url.path())
            .header(hyper::header::HOST, url.authority())
            .header(hyper::header::USER_AGENT, self.user_agent);
        for (name, value) in request.headers {
            builder = builder.header(*name, value.as_str());
        }
        builder
            .body(Full::new(request.body.clone()))
            .map_err(|source| HttpError::Request {
                url: url.to_string(),
                source,
            })
    }

    async fn handshake(
        &self,
        url: &Url,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, HttpError> {
        let name = ServerName::try_from(url.host().to_owned()).map_err(|source| {
            HttpError::ServerName {
                url: url.to_string(),
                host: url.host().to_owned(),
                source,
            }
        })?;
        self.tls
            .connect(name, tcp)
            .await
            .map_err(|source| HttpError::Tls {
                url: url.to_string(),
                source,
            })
    }
}

/// The system's root certificates (those that load; none on a machine without any):
/// on macOS a PEM bundle, elsewhere `rustls-native-certs` (`roots.rs`).
pub fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for certificate in crate::roots::system_certificates() {
        let _ = roots.add(certificate);
    }
    roots
}

/// One request as an attempt sends it.
struct Attempt<'a> {
    method: Method,
    url: &'a Url,
    headers: &'a [(&'a str, String)],
    body: &'a Bytes,
}

async fn send<S>(
    io: TokioIo<S>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    sender.send_request(request).await
}

/// The status, the text headers and the body, at most `limit` bytes of it.
async fn read(
    url: &Url,
    response: hyper::Response<hyper::body::Incoming>,
    limit: usize,
) -> Result<Response, HttpError> {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    let body = http_body_util::Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|error| match error.downcast::<hyper::Error>() {
            Ok(source) => HttpError::Protocol {
                url: url.to_string(),
                source: *source,
            },
            // The only other error `Limited` yields is its length limit.
            Err(_) => HttpError::TooLarge {
                url: url.to_string(),
                limit,
            },
        })?
        .to_bytes()
        .to_vec();
    Ok(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_http_is_refused_unless_the_host_is_listed() {
        let client = Client::new(RootCertStore::empty(), "test").unwrap();
        let error = client
            .get("http://127.0.0.1:9/v2/", &[], 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, HttpError::PlainHttpRefused { host, .. } if host == "127.0.0.1:9"),
            "{error}"
        );
        assert!(!client.allows_plain_http("127.0.0.1:9"));
        let listed = client.with_plain_http(BTreeSet::from(["127.0.0.1:9".to_owned()]));
        assert!(listed.allows_plain_http("127.0.0.1:9"));
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_then_reported() {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        let client = Client::new(RootCertStore::empty(), "test")
            .unwrap()
            .with_plain_http(BTreeSet::from(["127.0.0.1:9".to_owned()]))
            .with_policy(RetryPolicy {
                attempts: 2,
                first_backoff: std::time::Duration::from_millis(1),
                timeout: std::time::Duration::from_secs(5),
            });
        let error = client
            .get("http://127.0.0.1:9/", &[], 1024)
            .await
            .unwrap_err();
        assert!(matches!(error, HttpError::Connect { .. }), "{error}");
        assert!(error.is_transient());
    }

    /// A loopback server answering every request with 503; returns its address and the
    /// count of requests it has read.
    fn always_unavailable() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&count);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let mut reader = std::io::BufReader::new(&stream);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = (&stream).write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        (address, count)
    }

    #[tokio::test]
    async fn a_failed_post_is_not_sent_again_but_a_put_is() {
        let (address, count) = always_unavailable();
        let client = Client::new(RootCertStore::empty(), "test")
            .unwrap()
            .with_plain_http(BTreeSet::from([address.clone()]))
            .with_policy(RetryPolicy {
                attempts: 3,
                first_backoff: std::time::Duration::from_millis(1),
                timeout: std::time::Duration::from_secs(5),
            });
        let url = format!("http://{address}/v2/x/blobs/uploads/");
        let response = client
            .send(Method::Post, &url, &[], b"body".to_vec(), 1024)
            .await
            .unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
        let response = client
            .send(Method::Put, &url, &[], b"body".to_vec(), 1024)
            .await
            .unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 4);
    }
}
