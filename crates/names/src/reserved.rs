//! Identities the Coordinator gives to no workload: the DNS subtree [`RESERVED_DOMAIN`].
//!
//! A workload owner's short-lived client certificate (`docs/port-forward.md`) carries
//! [`WORKLOAD_OWNER`]. `Manifest::parse` refuses every workload SAN in the subtree, so no mesh
//! certificate ever carries one, and the mesh proxy admits a certificate that does only at an
//! ingress entry whose allow-list names it: an owner's certificate cannot pass as a workload's,
//! and a workload's cannot pass as an owner's. `.invalid` is reserved (RFC 2606): no real
//! service has such a name.
//!
//! A DNS name, not a URI: the mesh proxy's allow-lists are matched by certificate name
//! validation (`webpki`), which knows DNS names and IP addresses only.

/// The reserved subtree.
pub const RESERVED_DOMAIN: &str = "chiaro.invalid";

/// The identity of a workload owner's client certificate.
pub const WORKLOAD_OWNER: &str = "workload-owner.chiaro.invalid";

/// Whether `name` is [`RESERVED_DOMAIN`] or a name under it, compared as certificate name
/// matching compares DNS names (without regard to case or a trailing dot).
pub fn is_reserved(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let Some(prefix_len) = name.len().checked_sub(RESERVED_DOMAIN.len()) else {
        return false;
    };
    let (prefix, suffix) = name.split_at_checked(prefix_len).unwrap_or((name, ""));
    suffix.eq_ignore_ascii_case(RESERVED_DOMAIN) && (prefix.is_empty() || prefix.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subtree_is_reserved_in_any_case_and_with_a_trailing_dot() {
        for name in [
            WORKLOAD_OWNER,
            "chiaro.invalid",
            "Workload-Owner.CHIARO.invalid.",
            "a.b.chiaro.invalid",
        ] {
            assert!(is_reserved(name), "{name}");
        }
    }

    #[test]
    fn names_outside_the_subtree_are_not() {
        for name in [
            "web.default.svc.cluster.local",
            "notchiaro.invalid",
            "chiaro.invalid.example",
            "invalid",
            "",
            "spiffe://chiaro.invalid/web",
        ] {
            assert!(!is_reserved(name), "{name}");
        }
    }
}
