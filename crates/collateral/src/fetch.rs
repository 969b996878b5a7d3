//! The collateral fetchers' use of the one HTTP client (`chiaro-https`): HTTPS only, over rustls
//! (the workspace's ring provider), retries with exponential backoff for what may be transient.

use std::time::Duration;

use chiaro_https::{Client, HttpError, RetryPolicy};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

pub use chiaro_https::Response;

/// The largest response accepted (AMD's CRLs and chains are a few KiB).
const MAX_BODY: usize = 1 << 20;

/// A fetch that failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not `https://host[:port]/path`.
    #[error("not an https URL: {url}")]
    Url {
        /// The URL as given.
        url: String,
    },
    /// Connecting, TLS or HTTP failed (after every retry).
    #[error(transparent)]
    Transport(HttpError),
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
    /// The system has no root certificate that loads.
    #[error("TLS roots: no system root certificates found")]
    NoSystemRoots,
    /// A root certificate given is not a usable CA certificate.
    #[error("TLS roots: the root certificate")]
    RootCertificate(#[source] rustls::Error),
    /// The TLS configuration could not be built.
    #[error("TLS roots")]
    Roots(#[source] HttpError),
}

/// An HTTPS client with a retry policy.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: Client,
}

impl Fetcher {
    /// A client trusting the system's root certificates.
    ///
    /// # Errors
    /// [`FetchError::NoSystemRoots`] when no system root can be loaded.
    pub fn with_system_roots() -> Result<Self, FetchError> {
        let roots = chiaro_https::system_roots();
        if roots.is_empty() {
            return Err(FetchError::NoSystemRoots);
        }
        Self::with_roots(roots)
    }

    /// A client trusting exactly `roots` (e.g. a private PCCS's CA, or a test CA).
    ///
    /// # Errors
    /// [`FetchError::Roots`] if the TLS configuration cannot be built.
    pub fn with_roots(roots: RootCertStore) -> Result<Self, FetchError> {
        // KDS and PCS do not redirect: a 3xx is reported as the status it is.
        let client = Client::new(roots, "chiaro-collateral")
            .map_err(FetchError::Roots)?
            .with_redirects(0);
        Ok(Self { client })
    }

    /// A client trusting `certificate` (DER) only.
    ///
    /// # Errors
    /// [`FetchError::RootCertificate`] if it is not a usable CA certificate.
    pub fn with_root_certificate(certificate: &[u8]) -> Result<Self, FetchError> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(certificate.to_vec()))
            .map_err(FetchError::RootCertificate)?;
        Self::with_roots(roots)
    }

    /// Sets the number of attempts and the first backoff (doubled after each failure).
    #[must_use]
    pub fn with_retries(self, attempts: u32, first_backoff: Duration) -> Self {
        let policy = RetryPolicy {
            attempts,
            first_backoff,
            ..self.client.policy()
        };
        Self {
            client: self.client.with_policy(policy),
        }
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
        if !url.starts_with("https://") {
            return Err(FetchError::Url {
                url: url.to_owned(),
            });
        }
        let response = self
            .client
            .get(url, &[], MAX_BODY)
            .await
            .map_err(|error| match error {
                HttpError::Url { url } | HttpError::PlainHttpRefused { url, .. } => {
                    FetchError::Url { url }
                }
                HttpError::TooLarge { url, .. } => FetchError::TooLarge { url },
                error => FetchError::Transport(error),
            })?;
        if response.is_success() {
            Ok(response)
        } else {
            Err(FetchError::Status {
                url: url.to_owned(),
                status: response.status,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_https_urls_are_fetched() {
        let fetcher = Fetcher::with_roots(RootCertStore::empty()).unwrap();
        for url in [
            "http://kdsintf.amd.com/",
            "https://:1/",
            "https://host:port/",
        ] {
            let error = fetcher.get(url).await.unwrap_err();
            assert!(matches!(error, FetchError::Url { .. }), "{url}: {error}");
        }
    }
}
