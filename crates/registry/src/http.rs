//! HTTP/1.1 GETs over rustls (the workspace's ring provider) or, for hosts the user listed as
//! insecure, plain TCP; redirects followed, bodies bounded, transient failures retried.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::RegistryError;

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;
/// Attempts for connection failures, 5xx and 429.
const ATTEMPTS: u32 = 3;

/// A parsed `http(s)://authority/path?query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) tls: bool,
    /// `host` or `host:port` as written.
    pub(crate) authority: String,
    host: String,
    port: u16,
    path: String,
}

impl Url {
    pub(crate) fn parse(text: &str) -> Result<Self, RegistryError> {
        let error = || RegistryError::Transport {
            url: text.to_owned(),
            detail: "not an http(s) URL".to_owned(),
        };
        let (tls, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(error());
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                (host, port.parse().map_err(|_| error())?)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(error());
        }
        Ok(Self {
            tls,
            authority: authority.to_owned(),
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// Resolves a `Location` header against this URL.
    fn join(&self, location: &str) -> Result<Self, RegistryError> {
        if location.starts_with("http://") || location.starts_with("https://") {
            Self::parse(location)
        } else if location.starts_with('/') {
            let scheme = if self.tls { "https" } else { "http" };
            Self::parse(&format!("{scheme}://{}{location}", self.authority))
        } else {
            Err(RegistryError::Transport {
                url: self.to_string(),
                detail: format!("relative redirect {location:?} not supported"),
            })
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
}

/// A response, whatever its status.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The start of the body, for error messages.
    pub(crate) fn body_excerpt(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            .trim()
            .to_owned()
    }
}

/// The transport.
#[derive(Clone)]
pub(crate) struct Http {
    tls: TlsConnector,
    insecure: BTreeSet<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub(crate) fn new(
        roots: RootCertStore,
        insecure: BTreeSet<String>,
    ) -> Result<Self, RegistryError> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Roots(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            insecure,
            timeout: Duration::from_secs(30),
        })
    }

    /// The scheme for a registry's API: plain HTTP only for hosts listed as insecure.
    pub(crate) fn base_url(&self, host: &str) -> String {
        if self.insecure.contains(host) {
            format!("http://{host}")
        } else {
            format!("https://{host}")
        }
    }

    /// GETs `url` with `headers`, following redirects (dropping `Authorization`
    /// when the host changes) and retrying transient failures. Bodies over `limit` bytes fail.
    pub(crate) async fn get(
        &self,
        url: &str,
        headers: &[(&str, String)],
        limit: usize,
    ) -> Result<Response, RegistryError> {
        let first = Url::parse(url)?;
        let mut current = first.clone();
        for _ in 0..=MAX_REDIRECTS {
            if !current.tls && !self.insecure.contains(&current.authority) {
                return Err(RegistryError::PlainHttpRefused {
                    url: current.to_string(),
                    host: current.authority.clone(),
                });
            }
            let same_host = current.authority == first.authority;
            let headers: Vec<(&str, String)> = headers
                .iter()
                .filter(|(name, _)| same_host || !name.eq_ignore_ascii_case("authorization"))
                .cloned()
                .collect();
            let response = self.with_retries(&current, &headers, limit).await?;
            if matches!(response.status, 301 | 302 | 303 | 307 | 308) {
                let location =
                    response
                        .header("location")
                        .ok_or_else(|| RegistryError::Transport {
                            url: current.to_string(),
                            detail: "redirect without a Location".to_owned(),
                        })?;
                current = current.join(location)?;
                continue;
            }
            return Ok(response);
        }
        Err(RegistryError::Transport {
            url: url.to_owned(),
            detail: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    async fn with_retries(
        &self,
        url: &Url,
        headers: &[(&str, String)],
        limit: usize,
    ) -> Result<Response, RegistryError> {
        let mut backoff = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let result = tokio::time::timeout(self.timeout, self.once(url, headers, limit))
                .await
                .unwrap_or_else(|_| {
                    Err(RegistryError::Transport {
                        url: url.to_string(),
                        detail: "timed out".to_owned(),
                    })
                });
            let transient = match &result {
                Ok(response) => response.status >= 500 || response.status == 429,
                Err(RegistryError::Transport { .. }) => true,
                Err(_) => false,
            };
            if !transient || attempt >= ATTEMPTS {
                return result;
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
            attempt += 1;
        }
    }

    async fn once(
        &self,
        url: &Url,
        headers: &[(&str, String)],
        limit: usize,
    ) -> Result<Response, RegistryError> {
        let transport = |detail: String| RegistryError::Transport {
            url: url.to_string(),
            detail,
        };
        let tcp = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| transport(format!("connecting: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut builder = hyper::Request::builder()
            .method("GET")
            .uri(url.path.as_str())
            .header(hyper::header::HOST, url.authority.as_str())
            .header(hyper::header::USER_AGENT, "chiaro-registry");
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        let request = builder
            .body(Empty::<Bytes>::new())
            .map_err(|e| transport(e.to_string()))?;
        let response = if url.tls {
            let name =
                ServerName::try_from(url.host.clone()).map_err(|e| transport(e.to_string()))?;
            let stream = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| transport(format!("TLS: {e}")))?;
            send(TokioIo::new(stream), request).await
        } else {
            send(TokioIo::new(tcp), request).await
        }
        .map_err(transport)?;
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
            .map_err(|e| transport(format!("reading the body (limit {limit} bytes): {e}")))?
            .to_bytes()
            .to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

async fn send<S>(
    io: TokioIo<S>,
    request: hyper::Request<Empty<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

/// Percent-encodes a query parameter value.
pub(crate) fn query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b':' | b'/') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_redirects_resolve() {
        let url = Url::parse("https://registry.example.com:8443/v2/a/manifests/b?x=1").unwrap();
        assert!(url.tls);
        assert_eq!(url.authority, "registry.example.com:8443");
        assert_eq!(url.port, 8443);
        assert_eq!(url.path, "/v2/a/manifests/b?x=1");
        let plain = Url::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!((plain.port, plain.path.as_str()), (5000, "/"));
        let v6 = Url::parse("http://[::1]:5000/v2/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 5000));
        assert_eq!(
            url.join("/blobs/x").unwrap().to_string(),
            "https://registry.example.com:8443/blobs/x"
        );
        assert_eq!(
            url.join("https://cdn.example.net/y").unwrap().authority,
            "cdn.example.net"
        );
        for bad in ["ftp://x/", "https://", "https://h:port/", "x"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            query_value("repository:library/nginx:pull,push x"),
            "repository:library/nginx:pull%2Cpush%20x"
        );
    }

    #[tokio::test]
    async fn plain_http_is_refused_unless_the_host_is_listed() {
        let http = Http::new(RootCertStore::empty(), BTreeSet::new()).unwrap();
        let error = http
            .get("http://127.0.0.1:9/v2/", &[], 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, RegistryError::PlainHttpRefused { host, .. } if host == "127.0.0.1:9"),
            "{error}"
        );
        assert_eq!(http.base_url("127.0.0.1:9"), "https://127.0.0.1:9");
        let listed = Http::new(
            RootCertStore::empty(),
            BTreeSet::from(["127.0.0.1:9".to_owned()]),
        )
        .unwrap();
        assert_eq!(listed.base_url("127.0.0.1:9"), "http://127.0.0.1:9");
    }
}
