//! Subject alternative names a manifest may give a workload.

use std::net::IpAddr;

/// A SAN, classified: an IP address, a URI (`scheme://…`, e.g. a SPIFFE id) or a DNS name
/// (RFC 1123 labels; no wildcards, which would let one workload speak for others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A URI.
    Uri(String),
    /// A DNS name.
    Dns(String),
}

impl San {
    /// Classifies `text`; `None` when it is none of the three.
    pub fn parse(text: &str) -> Option<Self> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(Self::Ip(ip));
        }
        if let Some((scheme, rest)) = text.split_once("://") {
            let scheme_ok = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            let rest_ok = !rest.is_empty() && rest.chars().all(|c| c.is_ascii_graphic());
            return (scheme_ok && rest_ok).then(|| Self::Uri(text.to_owned()));
        }
        is_dns_name(text).then(|| Self::Dns(text.to_owned()))
    }
}

fn is_dns_name(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names_addresses_and_uris() {
        assert_eq!(
            San::parse("web.default.svc.cluster.local"),
            Some(San::Dns("web.default.svc.cluster.local".to_owned()))
        );
        assert!(matches!(San::parse("10.0.0.7"), Some(San::Ip(_))));
        assert!(matches!(San::parse("fd00::1"), Some(San::Ip(_))));
        assert_eq!(
            San::parse("spiffe://chiaro/web"),
            Some(San::Uri("spiffe://chiaro/web".to_owned()))
        );
    }

    #[test]
    fn refuses_wildcards_spaces_and_bad_labels() {
        for text in [
            "*",
            "*.svc",
            "not a name!",
            "",
            "a..b",
            "-web",
            "web-",
            &"a".repeat(64),
            "://x",
            "1http://x",
            "spiffe://",
        ] {
            assert_eq!(San::parse(text), None, "{text:?}");
        }
    }
}
