//! The one error type of the client.

use std::time::Duration;

/// A GET that failed before any response could be returned.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http(s)://host[:port][/path]`.
    #[error("{url:?}: not an http(s) URL")]
    Url {
        /// The URL as given.
        url: String,
    },
    /// Plain HTTP to a host not listed as reachable without TLS.
    #[error("{url}: plain HTTP refused for {host}")]
    PlainHttpRefused {
        /// The URL.
        url: String,
        /// The host (`host[:port]`) that would have to be listed.
        host: String,
    },
    /// The host is not a name or address TLS can check a certificate against.
    #[error("{url}: {host:?} is not a TLS server name")]
    ServerName {
        /// The URL.
        url: String,
        /// The host.
        host: String,
        /// Why.
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },
    /// The TCP connection failed.
    #[error("{url}: connecting")]
    Connect {
        /// The URL.
        url: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed (an untrusted or invalid certificate among others).
    #[error("{url}: TLS")]
    Tls {
        /// The URL.
        url: String,
        /// The failure (its inner error is rustls').
        #[source]
        source: std::io::Error,
    },
    /// The request could not be built (a header value that is not valid in HTTP).
    #[error("{url}: building the request")]
    Request {
        /// The URL.
        url: String,
        /// The failure.
        #[source]
        source: hyper::http::Error,
    },
    /// HTTP/1.1 failed: the handshake, sending the request, or reading the response.
    #[error("{url}: HTTP")]
    Protocol {
        /// The URL.
        url: String,
        /// The failure.
        #[source]
        source: hyper::Error,
    },
    /// An attempt took longer than the policy's timeout.
    #[error("{url}: timed out after {timeout:?}")]
    TimedOut {
        /// The URL.
        url: String,
        /// The policy's timeout.
        timeout: Duration,
    },
    /// The body is larger than the caller's limit.
    #[error("{url}: response body over {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// A redirect without a `Location` header.
    #[error("{url}: redirect without a Location")]
    RedirectWithoutLocation {
        /// The URL that redirected.
        url: String,
    },
    /// A redirect to a location relative to the path (not supported).
    #[error("{url}: relative redirect {location:?} not supported")]
    RelativeRedirect {
        /// The URL that redirected.
        url: String,
        /// The location.
        location: String,
    },
    /// More redirects than the client follows.
    #[error("{url}: more than {limit} redirects")]
    TooManyRedirects {
        /// The URL first asked for.
        url: String,
        /// How many are followed.
        limit: usize,
    },
    /// The TLS configuration could not be built.
    #[error("TLS client configuration")]
    Config(#[source] rustls::Error),
}

impl HttpError {
    /// Whether another attempt may succeed: the connection, TLS, HTTP or the clock failed.
    /// A refused or malformed URL, an oversized body and redirect errors are final.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::Tls { .. } | Self::Protocol { .. } | Self::TimedOut { .. }
        )
    }
}
