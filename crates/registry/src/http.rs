//! The registry's use of the one HTTP client (`chiaro-https`): HTTPS on rustls (the workspace's
//! ring provider) or, for hosts the user listed as insecure, plain HTTP; redirects followed,
//! bodies bounded, transient failures retried by its policy.

use std::collections::BTreeSet;

use chiaro_https::{Client, HttpError};

pub(crate) use chiaro_https::Method;
use rustls::RootCertStore;

use crate::RegistryError;

pub(crate) use chiaro_https::Response;

/// The transport.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: Client,
}

impl Http {
    pub(crate) fn new(
        roots: RootCertStore,
        insecure: BTreeSet<String>,
    ) -> Result<Self, RegistryError> {
        let client = Client::new(roots, "chiaro-registry")
            .map_err(RegistryError::Roots)?
            .with_plain_http(insecure);
        Ok(Self { client })
    }

    /// The scheme for a registry's API: plain HTTP only for hosts listed as insecure.
    pub(crate) fn base_url(&self, host: &str) -> String {
        if self.client.allows_plain_http(host) {
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
        self.send(Method::Get, url, headers, Vec::new(), limit)
            .await
    }

    /// Sends `method` with `body` (the client's redirects and retries, `chiaro_https::Method`).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        limit: usize,
    ) -> Result<Response, RegistryError> {
        self.client
            .send(method, url, headers, body, limit)
            .await
            .map_err(|error| match error {
                HttpError::PlainHttpRefused { url, host } => {
                    RegistryError::PlainHttpRefused { url, host }
                }
                error if error.is_transient() => RegistryError::Unreachable {
                    host: host_of(url).to_owned(),
                    source: error,
                },
                error => RegistryError::Transport(error),
            })
    }
}

/// The `host[:port]` of an `http(s)://` URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest)
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
