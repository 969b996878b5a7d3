//! The methods the client sends, and which of them a failure may repeat.

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Read.
    Get,
    /// Read the headers only (a registry's "does this blob exist").
    Head,
    /// Create something new (a registry's upload session). Not idempotent: retried only when
    /// the connection failed, so before the request was sent.
    Post,
    /// Store at a URL (a registry's blob or manifest). Idempotent, so retried like a GET.
    Put,
}

impl Method {
    /// Whether sending it twice has the effect of sending it once (RFC 9110, 9.2.2).
    pub const fn is_idempotent(self) -> bool {
        !matches!(self, Self::Post)
    }

    /// Whether redirects are followed: only for reads (a write's redirect is returned).
    pub(crate) const fn follows_redirects(self) -> bool {
        matches!(self, Self::Get | Self::Head)
    }

    pub(crate) fn as_hyper(self) -> hyper::Method {
        match self {
            Self::Get => hyper::Method::GET,
            Self::Head => hyper::Method::HEAD,
            Self::Post => hyper::Method::POST,
            Self::Put => hyper::Method::PUT,
        }
    }
}
