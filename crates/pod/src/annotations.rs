//! The mesh annotations of a pod and their syntax: `generate` checks them and copies them into
//! the mesh sidecar's environment ([`crate::env::MESH_INGRESS`], [`crate::env::MESH_EGRESS`]),
//! where the proxy parses them with these same functions. Pure parsing;
//! every error names the annotation, the entry and the field.
//!
//! Ingress (`chiaro.dev/mesh-ingress`): entries separated by `##`, each
//! `NAME#PORT[#TLS[#ALLOWED]]`:
//! - `NAME`: a label for logs and metrics (`[a-z0-9-]`, 1–63 characters);
//! - `PORT`: the workload's port the entry governs;
//! - `TLS`: `true` (the default: mutual TLS with a mesh certificate required) or `false` (this
//!   port is reachable in plaintext — an explicit opt-out);
//! - `ALLOWED`: `|`-separated SANs; the peer's certificate must carry one of them (default:
//!   any certificate from the mesh CA).
//!
//! Egress (`chiaro.dev/mesh-egress`): entries separated by `##`, each
//! `NAME#LOCAL#REMOTE[#SAN]`: the workload connects in plaintext to `LOCAL` (`ip:port`, a
//! loopback address), the proxy connects with mutual TLS to `REMOTE` (`host:port`) and requires
//! its certificate to carry `SAN` (default: the host of `REMOTE`).

use std::net::SocketAddr;

use crate::{AnnotationFault, PodError};

/// Annotation: the mesh proxy's inbound configuration; with it (or the egress one) the pod
/// gets the mesh proxy.
pub const MESH_INGRESS_ANNOTATION: &str = "chiaro.dev/mesh-ingress";
/// Annotation: the mesh proxy's outbound configuration.
pub const MESH_EGRESS_ANNOTATION: &str = "chiaro.dev/mesh-egress";

/// One ingress entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressRule {
    /// The entry's name.
    pub name: String,
    /// The workload port.
    pub port: u16,
    /// Whether mutual TLS is required (false: plaintext opt-out).
    pub tls: bool,
    /// SANs a peer must have one of; empty: any mesh certificate.
    pub allowed: Vec<String>,
}

/// One egress entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRule {
    /// The entry's name.
    pub name: String,
    /// Where the workload connects (plaintext, loopback).
    pub local: SocketAddr,
    /// Where the proxy connects (`host:port`).
    pub remote: String,
    /// The SAN the remote's certificate must carry.
    pub san: String,
}

fn error(annotation: &'static str, entry: &str, fault: AnnotationFault) -> PodError {
    PodError::Annotation {
        annotation,
        entry: entry.to_owned(),
        fault,
    }
}

fn name(annotation: &'static str, entry: &str, name: &str) -> Result<String, PodError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(name.to_owned())
    } else {
        Err(error(
            annotation,
            entry,
            AnnotationFault::Name {
                name: name.to_owned(),
            },
        ))
    }
}

fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.split("##").map(str::trim).filter(|e| !e.is_empty())
}

/// Parses the ingress annotation; names and ports must be unique.
///
/// # Errors
/// [`PodError::Annotation`] naming the entry and what is wrong.
pub fn parse_ingress(text: &str) -> Result<Vec<IngressRule>, PodError> {
    const ANNOTATION: &str = MESH_INGRESS_ANNOTATION;
    let mut rules: Vec<IngressRule> = Vec::new();
    for entry in entries(text) {
        let fields: Vec<&str> = entry.split('#').collect();
        let Some((&[name_field, port_field], optional)) = fields
            .split_first_chunk()
            .filter(|(_, optional)| optional.len() <= 2)
        else {
            return Err(error(
                ANNOTATION,
                entry,
                AnnotationFault::Shape {
                    expected: "NAME#PORT[#TLS[#ALLOWED]]",
                },
            ));
        };
        let name = name(ANNOTATION, entry, name_field)?;
        let port = port_field
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| {
                error(
                    ANNOTATION,
                    entry,
                    AnnotationFault::Port {
                        port: (*port_field).to_owned(),
                    },
                )
            })?;
        let tls = match optional.first().copied() {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(error(
                    ANNOTATION,
                    entry,
                    AnnotationFault::Tls {
                        value: other.to_owned(),
                    },
                ));
            }
        };
        let allowed: Vec<String> = optional
            .get(1)
            .map(|list| {
                list.split('|')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if !tls && !allowed.is_empty() {
            return Err(error(
                ANNOTATION,
                entry,
                AnnotationFault::AllowListWithoutTls,
            ));
        }
        if allowed.iter().any(|san| san == "*") {
            return Err(error(ANNOTATION, entry, AnnotationFault::Wildcard));
        }
        if let Some(clash) = rules.iter().find(|r| r.name == name || r.port == port) {
            return Err(error(
                ANNOTATION,
                entry,
                AnnotationFault::IngressClash {
                    with: clash.name.clone(),
                },
            ));
        }
        rules.push(IngressRule {
            name,
            port,
            tls,
            allowed,
        });
    }
    Ok(rules)
}

/// Parses the egress annotation; names and local addresses must be unique, local addresses
/// must be loopback.
///
/// # Errors
/// [`PodError::Annotation`] naming the entry and what is wrong.
pub fn parse_egress(text: &str) -> Result<Vec<EgressRule>, PodError> {
    const ANNOTATION: &str = MESH_EGRESS_ANNOTATION;
    let mut rules: Vec<EgressRule> = Vec::new();
    for entry in entries(text) {
        let fields: Vec<&str> = entry.split('#').collect();
        let Some((&[name_field, local_field, remote], optional)) = fields
            .split_first_chunk()
            .filter(|(_, optional)| optional.len() <= 1)
        else {
            return Err(error(
                ANNOTATION,
                entry,
                AnnotationFault::Shape {
                    expected: "NAME#LOCAL_IP:PORT#REMOTE_HOST:PORT[#SAN]",
                },
            ));
        };
        let name = name(ANNOTATION, entry, name_field)?;
        let local: SocketAddr = local_field.parse().map_err(|_| {
            error(
                ANNOTATION,
                entry,
                AnnotationFault::Local {
                    value: (*local_field).to_owned(),
                },
            )
        })?;
        if !local.ip().is_loopback() {
            return Err(error(
                ANNOTATION,
                entry,
                AnnotationFault::NotLoopback { local },
            ));
        }
        let (host, port) = remote.rsplit_once(':').ok_or_else(|| {
            error(
                ANNOTATION,
                entry,
                AnnotationFault::Remote {
                    remote: remote.to_owned(),
                },
            )
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port.parse::<u16>().ok().filter(|p| *p != 0).is_none() {
            return Err(error(
                ANNOTATION,
                entry,
                AnnotationFault::Remote {
                    remote: remote.to_owned(),
                },
            ));
        }
        let san = optional.first().map_or(host, |san| san.trim()).to_owned();
        if san.is_empty() || san == "*" {
            return Err(error(ANNOTATION, entry, AnnotationFault::San { san }));
        }
        if let Some(clash) = rules.iter().find(|r| r.name == name || r.local == local) {
            return Err(error(
                ANNOTATION,
                entry,
                AnnotationFault::EgressClash {
                    with: clash.name.clone(),
                },
            ));
        }
        rules.push(EgressRule {
            name,
            local,
            remote: remote.to_owned(),
            san,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(result: Result<impl std::fmt::Debug, PodError>) -> AnnotationFault {
        match result {
            Err(PodError::Annotation { fault, .. }) => fault,
            other => panic!("expected an annotation fault, got {other:?}"),
        }
    }

    #[test]
    fn each_refusal_is_a_typed_fault() {
        assert_eq!(
            fault(parse_ingress("web#0")),
            AnnotationFault::Port {
                port: "0".to_owned()
            }
        );
        assert_eq!(
            fault(parse_ingress("web#80#true#*")),
            AnnotationFault::Wildcard
        );
        assert_eq!(
            fault(parse_egress("db#10.0.0.1:5432#db:5432")),
            AnnotationFault::NotLoopback {
                local: "10.0.0.1:5432".parse().unwrap()
            }
        );
        assert_eq!(
            fault(parse_egress(
                "db#127.0.0.1:5432#db:5432##db#127.0.0.1:5432#x:1"
            )),
            AnnotationFault::EgressClash {
                with: "db".to_owned()
            }
        );
    }

    #[test]
    fn ingress_entries_with_defaults_opt_outs_and_allow_lists() {
        let rules =
            parse_ingress("web#8080##metrics#9090#false## admin#8443#true#ops.shop|audit.shop ")
                .unwrap();
        assert_eq!(
            rules,
            [
                IngressRule {
                    name: "web".to_owned(),
                    port: 8080,
                    tls: true,
                    allowed: vec![]
                },
                IngressRule {
                    name: "metrics".to_owned(),
                    port: 9090,
                    tls: false,
                    allowed: vec![]
                },
                IngressRule {
                    name: "admin".to_owned(),
                    port: 8443,
                    tls: true,
                    allowed: vec!["ops.shop".to_owned(), "audit.shop".to_owned()]
                },
            ]
        );
        assert_eq!(parse_ingress("").unwrap(), []);
    }

    #[test]
    fn bad_ingress_entries_name_the_entry() {
        for (bad, says) in [
            ("web", "expected NAME#PORT"),
            ("Web#80", "name \"Web\""),
            ("web#0", "port \"0\""),
            ("web#99999", "port"),
            ("web#80#maybe", "TLS \"maybe\""),
            ("web#80#false#a.b", "allow-list needs TLS"),
            ("web#80#true#*", "`*` is not an identity"),
            ("web#80##api#80", "already used"),
            ("web#80#true#a#b", "expected NAME#PORT"),
        ] {
            let error = parse_ingress(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
            assert!(error.starts_with("chiaro.dev/mesh-ingress"), "{error}");
        }
    }

    #[test]
    fn egress_entries_default_the_san_to_the_remote_host() {
        let rules = parse_egress(
            "emoji#127.137.0.1:8080#emoji-svc.emojivoto:8080##db#127.0.0.1:5432#10.0.0.5:5432#db.shop",
        )
        .unwrap();
        assert_eq!(rules[0].san, "emoji-svc.emojivoto");
        assert_eq!(rules[0].local.to_string(), "127.137.0.1:8080");
        assert_eq!(rules[1].san, "db.shop");
        assert_eq!(rules[1].remote, "10.0.0.5:5432");
    }

    #[test]
    fn bad_egress_entries_name_the_entry() {
        for (bad, says) in [
            ("emoji#127.0.0.1:1", "expected NAME#LOCAL"),
            ("emoji#0.0.0.0:80#e:80", "loopback"),
            ("emoji#localhost:80#e:80", "expected IP:PORT"),
            ("emoji#127.0.0.1:80#e", "expected HOST:PORT"),
            ("emoji#127.0.0.1:80#e:0", "expected HOST:PORT"),
            ("emoji#127.0.0.1:80#e:80#*", "SAN \"*\""),
            ("a#127.0.0.1:80#e:80##b#127.0.0.1:80#f:80", "already used"),
        ] {
            let error = parse_egress(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
