//! The pod-spec and container fields Kubernetes has but Chiaro does not support yet, each with
//! why: one table, so a field the typed views ([`crate::PodSpec`], [`crate::Container`]) do not
//! read is either one of these (valid Kubernetes, refused with the reason) or not a Kubernetes
//! field at all (misspelt). Fields that never reach the Kata agent are read and ignored by the
//! views themselves (`IgnoredAny`), not listed here.

use std::fmt;

use crate::documents::DocumentId;
use crate::error::K8sError;

/// An object of a pod spec whose fields are checked against Kubernetes' own list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecObject {
    /// `spec` of a pod (or of a pod template).
    PodSpec,
    /// A container or init container.
    Container,
}

impl fmt::Display for SpecObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PodSpec => "PodSpec",
            Self::Container => "Container",
        })
    }
}

/// A Kubernetes field of `object` that Chiaro refuses for now, and why.
struct NotYet {
    object: SpecObject,
    field: &'static str,
    why: &'static str,
}

/// Every field of Kubernetes' PodSpec and Container (v1.37) that the typed views do not read.
const NOT_YET: &[NotYet] = &[
    NotYet {
        object: SpecObject::PodSpec,
        field: "hostUsers",
        why: "user namespaces (hostUsers: false) map the pod's user IDs to others on the host, a mapping the policy does not pin yet; leave hostUsers out",
    },
    NotYet {
        object: SpecObject::PodSpec,
        field: "hostnameOverride",
        why: "it sets the pod's host name, which the policy pins from metadata.name, hostname and subdomain only; leave it out",
    },
    NotYet {
        object: SpecObject::PodSpec,
        field: "resourceClaims",
        why: "devices from dynamic resource allocation reach the guest as devices the policy does not cover yet",
    },
    NotYet {
        object: SpecObject::PodSpec,
        field: "resources",
        why: "pod-level resources change the sandbox's limits, which the policy's QoS rules do not cover yet; give each container its resources",
    },
    NotYet {
        object: SpecObject::PodSpec,
        field: "ephemeralContainers",
        why: "ephemeral containers (kubectl debug) would run commands the policy did not pin",
    },
    NotYet {
        object: SpecObject::PodSpec,
        field: "evictionResponders",
        why: "new in Kubernetes 1.37 (alpha) and not reviewed for confidential pods yet",
    },
];

/// The error for the field `field` at `path` of `document` that the views did not read:
/// [`K8sError::NotYetSupported`] for a field of [`NOT_YET`], [`K8sError::UnknownField`] for any
/// other (the views read every other field Kubernetes has).
pub(crate) fn unread_field(
    at: &DocumentId,
    path: &str,
    object: SpecObject,
    field: &str,
) -> K8sError {
    match NOT_YET
        .iter()
        .find(|entry| entry.object == object && entry.field == field)
    {
        Some(entry) => K8sError::NotYetSupported {
            at: at.clone(),
            path: path.to_owned(),
            why: entry.why,
        },
        None => K8sError::UnknownField {
            at: at.clone(),
            path: path.to_owned(),
            object,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::{Container, PodSpec};

    /// `kubernetes-validate`'s v1.37.0 schemas: `podspec-v1.json` and `container-v1.json`.
    const KUBERNETES_POD_SPEC: &[&str] = &[
        "activeDeadlineSeconds",
        "affinity",
        "automountServiceAccountToken",
        "containers",
        "dnsConfig",
        "dnsPolicy",
        "enableServiceLinks",
        "ephemeralContainers",
        "evictionResponders",
        "hostAliases",
        "hostIPC",
        "hostNetwork",
        "hostPID",
        "hostUsers",
        "hostname",
        "hostnameOverride",
        "imagePullSecrets",
        "initContainers",
        "nodeName",
        "nodeSelector",
        "os",
        "overhead",
        "preemptionPolicy",
        "priority",
        "priorityClassName",
        "readinessGates",
        "resourceClaims",
        "resources",
        "restartPolicy",
        "runtimeClassName",
        "schedulerName",
        "schedulingGates",
        "schedulingGroup",
        "securityContext",
        "serviceAccount",
        "serviceAccountName",
        "setHostnameAsFQDN",
        "shareProcessNamespace",
        "subdomain",
        "terminationGracePeriodSeconds",
        "tolerations",
        "topologySpreadConstraints",
        "volumes",
    ];
    const KUBERNETES_CONTAINER: &[&str] = &[
        "args",
        "command",
        "env",
        "envFrom",
        "image",
        "imagePullPolicy",
        "lifecycle",
        "livenessProbe",
        "name",
        "ports",
        "readinessProbe",
        "resizePolicy",
        "resources",
        "restartPolicy",
        "restartPolicyRules",
        "securityContext",
        "startupProbe",
        "stdin",
        "stdinOnce",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "tty",
        "volumeDevices",
        "volumeMounts",
        "workingDir",
    ];

    /// Whether the view reading `base` with `field` set reads the field (any error but an
    /// unknown field: the value here is not of the field's type).
    fn reads(base: &Value, field: &str, read: fn(Value) -> Result<(), String>) -> bool {
        let mut value = base.clone();
        value[field] = json!(null);
        read(value).map_or_else(|error| !error.starts_with("unknown field"), |()| true)
    }

    fn pod_spec(value: Value) -> Result<(), String> {
        serde_json::from_value::<PodSpec>(value)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn container(value: Value) -> Result<(), String> {
        serde_json::from_value::<Container>(value)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_kubernetes_pod_spec_and_container_field_is_read_or_refused_with_a_reason() {
        let cases = [
            (
                SpecObject::PodSpec,
                KUBERNETES_POD_SPEC,
                json!({"containers": []}),
                pod_spec as fn(Value) -> Result<(), String>,
            ),
            (
                SpecObject::Container,
                KUBERNETES_CONTAINER,
                json!({"name": "c"}),
                container,
            ),
        ];
        for (object, fields, base, read) in cases {
            for field in fields {
                let listed = NOT_YET
                    .iter()
                    .any(|entry| entry.object == object && entry.field == *field);
                assert_ne!(
                    reads(&base, field, read),
                    listed,
                    "{object}.{field}: read by the view xor listed as not supported yet"
                );
            }
        }
        for entry in NOT_YET {
            let fields = match entry.object {
                SpecObject::PodSpec => KUBERNETES_POD_SPEC,
                SpecObject::Container => KUBERNETES_CONTAINER,
            };
            assert!(
                fields.contains(&entry.field),
                "{}: not a Kubernetes field",
                entry.field
            );
        }
    }
}
