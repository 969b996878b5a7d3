//! The SANs of generated manifest entries: where each comes from, and the claims that keep
//! two entries from sharing one.

use std::collections::BTreeMap;
use std::fmt;

use chiaro_k8s::{Document, Service, Workload, dns_names};
use chiaro_names::San;
use serde_json::Value;

use super::{CoordinatorEntry, SANS_ANNOTATION};
use crate::PolicyError;

/// Where a SAN of a generated manifest entry comes from: what to change when two entries
/// would share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanSource {
    /// The workload's own name.
    WorkloadName,
    /// A Service (by name) that selects the workload's pods.
    Service(String),
    /// A StatefulSet's governing Service (by name): its per-pod names.
    GoverningService(String),
    /// The pod annotation [`SANS_ANNOTATION`].
    Annotation,
    /// The `sans` of a Coordinator entry the manifest already has (kept by generate).
    CoordinatorEntry,
}

impl fmt::Display for SanSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WorkloadName => f.write_str("its own name"),
            Self::Service(name) => write!(f, "Service {name:?}, which selects its pods"),
            Self::GoverningService(name) => write!(f, "its governing Service {name:?}"),
            Self::Annotation => write!(f, "its annotation {SANS_ANNOTATION}"),
            Self::CoordinatorEntry => f.write_str("its sans in manifest.json"),
        }
    }
}

/// The most per-pod names a StatefulSet's entry lists (its first replicas): a certificate
/// stays small, and a StatefulSet scaled beyond its YAML gets no per-pod names for the rest.
const MAX_PER_POD_NAMES: u64 = 64;

/// One SAN of a workload and where it comes from.
pub(super) struct SourcedSan {
    pub(super) san: String,
    source: SanSource,
}

/// The SANs of a workload: its own name and every Service selecting its pods, each as
/// `name`, `name.ns`, `name.ns.svc` and `name.ns.svc.cluster.local`; a StatefulSet's pods
/// also by their per-pod names under its governing Service (`name-0.service.ns.svc.cluster.local`,
/// one per declared replica, at most [`MAX_PER_POD_NAMES`]); then the annotation's extras,
/// each of which must be a valid SAN (no wildcard: it would name other workloads too).
pub(super) fn default_sans(
    workload: &Workload,
    document: &Document,
    namespace: &str,
    services: &[Service],
) -> Result<Vec<SourcedSan>, PolicyError> {
    let mut names = vec![(
        workload.name.trim_end_matches('-').to_owned(),
        SanSource::WorkloadName,
    )];
    for service in services {
        if service.selects(namespace, &workload.pod_labels) {
            names.push((
                service.name.clone(),
                SanSource::Service(service.name.clone()),
            ));
        }
    }
    let mut sans: Vec<SourcedSan> = Vec::new();
    let mut add = |san: String, source: &SanSource| {
        if !sans
            .iter()
            .any(|known| identity_key(&known.san) == identity_key(&san))
        {
            sans.push(SourcedSan {
                san,
                source: source.clone(),
            });
        }
    };
    for (name, source) in &names {
        for san in dns_names(name, namespace) {
            add(san, source);
        }
    }
    if let Some(governing) = document
        .value
        .pointer("/spec/serviceName")
        .and_then(Value::as_str)
        .filter(|_| document.kind() == Some("StatefulSet"))
    {
        // Per-pod names, one per declared replica (no wildcard: it would name other workloads'
        // pods under the same Service too).
        let replicas = document
            .value
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .min(MAX_PER_POD_NAMES);
        let pod_prefix = workload.name.trim_end_matches('-');
        for ordinal in 0..replicas {
            add(
                format!("{pod_prefix}-{ordinal}.{governing}.{namespace}.svc.cluster.local"),
                &SanSource::GoverningService(governing.to_owned()),
            );
        }
    }
    if let Some(extra) = workload.pod_annotations.get(SANS_ANNOTATION) {
        for san in extra.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if San::parse(san).is_none() {
                return Err(PolicyError::Input(chiaro_k8s::K8sError::Invalid {
                    at: document.id.clone(),
                    path: format!("spec.template.metadata.annotations[{SANS_ANNOTATION}]"),
                    detail: format!(
                        "{san:?} is not a DNS name, IP address or URI (no wildcards: a wildcard would name other workloads too)"
                    ),
                }));
            }
            add(san.to_owned(), &SanSource::Annotation);
        }
    }
    Ok(sans)
}

/// Who holds a SAN so far, for [`SanClaims::claim`].
struct SanHolder {
    holder: String,
    source: SanSource,
}

/// Every SAN the generated manifest gives out, by the identity it names
/// ([`San::identity`], so that `Web.` and `web` are one), with its holder.
#[derive(Default)]
pub(super) struct SanClaims(BTreeMap<String, SanHolder>);

impl SanClaims {
    /// The claims of the manifest's Coordinator entries (generate keeps them).
    pub(super) fn of_coordinator_entries(entries: &[CoordinatorEntry]) -> Self {
        let mut claims = Self::default();
        for entry in entries {
            for san in &entry.sans {
                claims.0.entry(identity_key(san)).or_insert(SanHolder {
                    holder: format!("the Coordinator's entry {}", entry.hash),
                    source: SanSource::CoordinatorEntry,
                });
            }
        }
        claims
    }

    /// Records `sans` as `holder`'s; refuses a SAN another holder has.
    pub(super) fn claim(&mut self, holder: &str, sans: &[SourcedSan]) -> Result<(), PolicyError> {
        for sourced in sans {
            if let Some(first) = self.0.get(&identity_key(&sourced.san)) {
                return Err(PolicyError::SharedSan {
                    san: sourced.san.clone(),
                    first: first.holder.clone(),
                    first_source: first.source.clone(),
                    second: holder.to_owned(),
                    second_source: sourced.source.clone(),
                });
            }
        }
        for sourced in sans {
            self.0.insert(
                identity_key(&sourced.san),
                SanHolder {
                    holder: holder.to_owned(),
                    source: sourced.source.clone(),
                },
            );
        }
        Ok(())
    }
}

/// The identity a SAN names, as text (an address, a name or a URI never look alike); a SAN
/// that is none of the three (a StatefulSet's wildcard) is compared as written, case-folded.
fn identity_key(san: &str) -> String {
    match San::parse(san).map(|parsed| parsed.identity()) {
        Some(San::Ip(ip)) => ip.to_string(),
        Some(San::Dns(name) | San::Uri(name)) => name,
        None => san.to_ascii_lowercase(),
    }
}
