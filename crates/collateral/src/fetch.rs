//! One HTTPS GET at a time over rustls (the workspace's ring provider) and hyper's HTTP/1.1
//! client, with retries and exponential backoff for what may be transient.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The largest response accepted (AMD's CRLs and chains are a few KiB).
const MAX_BODY: usize = 1 << 20;

/// A fetch that failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not `https://host[:port]/path`.
    #[error("not an https URL: {0}")]
    Url(String),
    /// Connecting, TLS or HTTP failed (after every retry).
    #[error("fetching {url}: {detail}")]
    Transport {
        /// The URL.
        url: String,
        /// What failed last.
        detail: String,
    },
    /// The server answered with a non-success status (after every retry, for 5xx and 429).
    #[error("fetching {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than any collateral.
    #[error("fetching {url}: response over {MAX_BODY} bytes")]
    TooLarge {
        /// The URL.
        url: String,
    },
    /// The TLS configuration could not be built.
    #[error("TLS roots: {0}")]
    Roots(String),
}

/// An HTTPS client with a retry policy.
#[derive(Clone)]
pub struct Fetcher {
    tls: TlsConnector,
    attempts: u32,
    first_backoff: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("attempts", &self.attempts)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A client trusting the system's root certificates.
    ///
    /// # Errors
    /// [`FetchError::Roots`] when no system root can be loaded.
    pub fn with_system_roots() -> Result<Self, FetchError> {
        let mut roots = RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        for certificate in loaded.certs {
            let _ = roots.add(certificate);
        }
        if roots.is_empty() {
            return Err(FetchError::Roots(
                "no system root certificates found".to_owned(),
            ));
        }
        Self::with_roots(roots)
    }

    /// A client trusting exactly `roots` (e.g. a private PCCS's CA, or a test CA).
    ///
    /// # Errors
    /// [`FetchError::Roots`] if the TLS configuration cannot be built.
    pub fn with_roots(roots: RootCertStore) -> Result<Self, FetchError> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Roots(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            attempts: 4,
            first_backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(20),
        })
    }

    /// A client trusting `certificate` (DER) only.
    ///
    /// # Errors
    /// [`FetchError::Roots`] if it is not a usable CA certificate.
    pub fn with_root_certificate(certificate: &[u8]) -> Result<Self, FetchError> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(certificate.to_vec()))
            .map_err(|e| FetchError::Roots(e.to_string()))?;
        Self::with_roots(roots)
    }

    /// Sets the number of attempts and the first backoff (doubled after each failure).
    #[must_use]
    pub fn with_retries(mut self, attempts: u32, first_backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.first_backoff = first_backoff;
        self
    }

    /// GETs `url`, retrying connection failures, 5xx and 429 with backoff.
    ///
    /// # Errors
    /// [`FetchError`] after the last attempt, or at once for 4xx.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.get_with_headers(url)
            .await
            .map(|response| response.body)
    }

    /// As [`Fetcher::get`], keeping the response headers (Intel PCS sends issuer chains there).
    ///
    /// # Errors
    /// As [`Fetcher::get`].
    pub async fn get_with_headers(&self, url: &str) -> Result<Response, FetchError> {
        let (host, port, path) = parse(url)?;
        let mut backoff = self.first_backoff;
        let mut attempt = 1;
        loop {
            let result = tokio::time::timeout(self.timeout, self.once(url, &host, port, &path))
                .await
                .unwrap_or_else(|_| {
                    Err(FetchError::Transport {
                        url: url.to_owned(),
                        detail: "timed out".to_owned(),
                    })
                });
            let retryable = match &result {
                Ok(_)
                | Err(FetchError::Url(_) | FetchError::Roots(_) | FetchError::TooLarge { .. }) => {
                    false
                }
                Err(FetchError::Status { status, .. }) => *status >= 500 || *status == 429,
                Err(FetchError::Transport { .. }) => true,
            };
            if !retryable || attempt >= self.attempts {
                return result;
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }

    async fn once(
        &self,
        url: &str,
        host: &str,
        port: u16,
        path: &str,
    ) -> Result<Response, FetchError> {
        let transport = |detail: String| FetchError::Transport {
            url: url.to_owned(),
            detail,
        };
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| transport(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(host.to_owned()).map_err(|e| transport(e.to_string()))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tls))
                .await
                .map_err(|e| transport(e.to_string()))?;
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, host)
            .header(hyper::header::USER_AGENT, "chiaro-collateral")
            .body(Empty::<Bytes>::new())
            .map_err(|e| transport(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status,
            });
        }
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|value| (name.as_str().to_owned(), value.to_owned()))
            })
            .collect();
        let limited = http_body_util::Limited::new(response.into_body(), MAX_BODY);
        let body = limited.collect().await.map_err(|_| FetchError::TooLarge {
            url: url.to_owned(),
        })?;
        Ok(Response {
            headers,
            body: body.to_bytes().to_vec(),
        })
    }
}

/// A successful response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Splits `https://host[:port]/path?query`.
fn parse(url: &str) -> Result<(String, u16, String), FetchError> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| FetchError::Url(url.to_owned()))?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse().map_err(|_| FetchError::Url(url.to_owned()))?,
        ),
        None => (authority, 443),
    };
    if host.is_empty() {
        return Err(FetchError::Url(url.to_owned()));
    }
    Ok((host.to_owned(), port, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_and_path() {
        assert_eq!(
            parse("https://kdsintf.amd.com/vcek/v1/Milan/cert_chain").unwrap(),
            (
                "kdsintf.amd.com".to_owned(),
                443,
                "/vcek/v1/Milan/cert_chain".to_owned()
            )
        );
        assert_eq!(
            parse("https://localhost:8443/x?a=1").unwrap(),
            ("localhost".to_owned(), 8443, "/x?a=1".to_owned())
        );
        assert!(parse("http://kdsintf.amd.com/").is_err());
        assert!(parse("https://:1/").is_err());
        assert!(parse("https://host:port/").is_err());
    }
}
