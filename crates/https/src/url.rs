//! `http(s)://authority/path?query`, as the fetchers use it.

use std::fmt;

use crate::HttpError;

/// A parsed `http(s)://authority/path?query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    tls: bool,
    /// `host` or `host:port` as written.
    authority: String,
    host: String,
    port: u16,
    path: String,
}

impl Url {
    /// Parses `text`.
    ///
    /// # Errors
    /// [`HttpError::Url`] when it is not `http(s)://host[:port][/path][?query]`.
    pub fn parse(text: &str) -> Result<Self, HttpError> {
        let error = || HttpError::Url {
            url: text.to_owned(),
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

    /// `https`.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `host` or `host:port`, as written.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The host, without brackets for IPv6.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path and query, starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Resolves a `Location` header against this URL.
    ///
    /// # Errors
    /// [`HttpError::RelativeRedirect`] for a location relative to the path, or
    /// [`HttpError::Url`] for one that does not parse.
    pub(crate) fn join(&self, location: &str) -> Result<Self, HttpError> {
        if location.starts_with("http://") || location.starts_with("https://") {
            Self::parse(location)
        } else if location.starts_with('/') {
            let scheme = if self.tls { "https" } else { "http" };
            Self::parse(&format!("{scheme}://{}{location}", self.authority))
        } else {
            Err(HttpError::RelativeRedirect {
                url: self.to_string(),
                location: location.to_owned(),
            })
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
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
    fn urls_split_into_host_port_and_path() {
        // Moved from chiaro-collateral's fetcher.
        let kds = Url::parse("https://kdsintf.amd.com/vcek/v1/Milan/cert_chain").unwrap();
        assert_eq!(
            (kds.host(), kds.port(), kds.path()),
            ("kdsintf.amd.com", 443, "/vcek/v1/Milan/cert_chain")
        );
        let local = Url::parse("https://localhost:8443/x?a=1").unwrap();
        assert_eq!(
            (local.host(), local.port(), local.path()),
            ("localhost", 8443, "/x?a=1")
        );
        assert!(Url::parse("https://:1/").is_err());
        assert!(Url::parse("https://host:port/").is_err());
    }
}
