//! Subject alternative names a manifest may give a workload.

use std::net::IpAddr;

/// A SAN, classified: an IP address, a URI (`scheme://…`, e.g. a SPIFFE id) or a DNS name
/// (RFC 1123 labels; no wildcards, which would let one workload speak for others).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// The identity this SAN names, in the form two SANs are compared in: two SANs with equal
    /// identities let their holders answer for each other. DNS names fold case and lose a
    /// trailing dot (certificate name matching ignores both); an IPv4-mapped IPv6 address is
    /// its IPv4 address; URIs fold case (some peers compare them so; folding errs towards
    /// calling two names the same, which refuses more, never less).
    pub fn identity(&self) -> Self {
        match self {
            Self::Ip(ip) => Self::Ip(ip.to_canonical()),
            Self::Uri(uri) => Self::Uri(uri.to_ascii_lowercase()),
            Self::Dns(name) => {
                Self::Dns(name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase())
            }
        }
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
    fn identities_ignore_what_name_matching_ignores() {
        let identity = |text: &str| San::parse(text).map(|san| san.identity());
        assert_eq!(identity("Web.Shop."), identity("web.shop"));
        assert_eq!(identity("::ffff:10.0.0.7"), identity("10.0.0.7"));
        assert_eq!(
            identity("SPIFFE://Chiaro/Web"),
            identity("spiffe://chiaro/web")
        );
        assert_ne!(identity("web.shop"), identity("web.shop.svc"));
        assert_ne!(identity("10.0.0.7"), identity("10.0.0.8"));
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
