//! Which workload `chiaro port-forward` must reach, from what the user typed and the verified
//! manifest only (never from what the host answers): the target, the ports, and the server
//! identity (a SAN) the target's mesh certificate must carry.

use chiaro_manifest::{Manifest, Role};

/// What the user named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `pod/NAME` (or a bare NAME).
    Pod(String),
    /// `svc/NAME` (or `service/NAME`).
    Service(String),
}

/// The local and the remote port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ports {
    /// Where to listen here (0: any free port).
    pub(crate) local: u16,
    /// The target's port.
    pub(crate) remote: u16,
}

/// Why the target or the identity cannot be settled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum IdentityError {
    #[error("{0:?} is not pod/NAME or svc/NAME")]
    BadTarget(String),
    #[error("{0:?} is not LOCAL:REMOTE or REMOTE (ports 1 to 65535; LOCAL may be 0)")]
    BadPorts(String),
    #[error(
        "no workload of the verified manifest fits {resource} in namespace {namespace}: none \
         has the identity {expected}"
    )]
    NoSuchWorkload {
        resource: String,
        namespace: String,
        expected: String,
    },
    #[error(
        "{resource} fits more than one workload of the verified manifest ({candidates}): name \
         the identity with --server-name"
    )]
    Ambiguous {
        resource: String,
        candidates: String,
    },
    #[error("--server-name {0}: no entry of the verified manifest has this SAN")]
    UnknownServerName(String),
    #[error("--server-name {0}: more than one entry of the verified manifest has this SAN")]
    SharedServerName(String),
}

impl Resource {
    pub(crate) fn parse(text: &str) -> Result<Self, IdentityError> {
        let bad = || IdentityError::BadTarget(text.to_owned());
        let (kind, name) = text.split_once('/').unwrap_or(("pod", text));
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'));
        if !valid {
            return Err(bad());
        }
        match kind {
            "pod" | "pods" | "po" => Ok(Self::Pod(name.to_owned())),
            "svc" | "service" | "services" => Ok(Self::Service(name.to_owned())),
            _ => Err(bad()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Pod(name) => format!("pod/{name}"),
            Self::Service(name) => format!("svc/{name}"),
        }
    }
}

impl Ports {
    pub(crate) fn parse(text: &str) -> Result<Self, IdentityError> {
        let bad = || IdentityError::BadPorts(text.to_owned());
        let number = |part: &str| part.parse::<u16>().map_err(|_| bad());
        let (local, remote) = match text.split_once(':') {
            Some(("", remote)) => (0, number(remote)?),
            Some((local, remote)) => (number(local)?, number(remote)?),
            None => (number(text)?, number(text)?),
        };
        if remote == 0 {
            return Err(bad());
        }
        Ok(Self { local, remote })
    }
}

/// The DNS name a workload or Service `name` in `namespace` has in every mesh certificate of
/// it (`generate` gives each `name`, `name.ns`, `name.ns.svc` and this one).
fn cluster_name(name: &str, namespace: &str) -> String {
    format!("{name}.{namespace}.svc.cluster.local")
}

/// The characters Kubernetes draws the generated parts of pod names from (no vowels, no
/// `0`, `1`, `3`: `k8s.io/apimachinery/pkg/util/rand`).
const GENERATED: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Whether `pod` is a name a controller gives the pods of workload `workload`: the name itself
/// (a bare Pod), `WORKLOAD-ORDINAL` (StatefulSet), `WORKLOAD-XXXXX` (DaemonSet, Job,
/// ReplicaSet), `WORKLOAD-HASH-XXXXX` (Deployment: a pod-template hash of 5 to 10 characters)
/// or `WORKLOAD-TIME-XXXXX` (CronJob). A mere prefix is not enough: `web-api-…` is no pod of
/// `web`.
fn is_pod_of(pod: &str, workload: &str) -> bool {
    if pod == workload {
        return true;
    }
    let Some(rest) = pod
        .strip_prefix(workload)
        .and_then(|rest| rest.strip_prefix('-'))
    else {
        return false;
    };
    let generated = |part: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&part.len()) && part.bytes().all(|b| GENERATED.contains(&b))
    };
    let ordinal = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    match rest.split('-').collect::<Vec<_>>().as_slice() {
        [one] => ordinal(one) || generated(one, 5..=5),
        [hash, suffix] => (generated(hash, 5..=10) || ordinal(hash)) && generated(suffix, 5..=5),
        _ => false,
    }
}

/// The SAN the target's server certificate must carry: `explicit` if given (a SAN of exactly
/// one manifest entry), else the one `resource` names in `namespace`.
pub(crate) fn server_identity(
    resource: &Resource,
    namespace: &str,
    explicit: Option<&str>,
    manifest: &Manifest,
) -> Result<String, IdentityError> {
    let workloads = || {
        manifest
            .policies()
            .values()
            .filter(|entry| entry.role == Role::Workload)
    };
    if let Some(san) = explicit {
        return match workloads()
            .filter(|entry| entry.sans.iter().any(|s| s == san))
            .count()
        {
            0 => Err(IdentityError::UnknownServerName(san.to_owned())),
            1 => Ok(san.to_owned()),
            _ => Err(IdentityError::SharedServerName(san.to_owned())),
        };
    }
    let suffix = format!(".{namespace}.svc.cluster.local");
    let fits = |san: &str| -> bool {
        let Some(name) = san.strip_suffix(&suffix).filter(|n| !n.contains('.')) else {
            return false;
        };
        match resource {
            Resource::Service(service) => name == service,
            Resource::Pod(pod) => is_pod_of(pod, name),
        }
    };
    let mut candidates: Vec<&String> = workloads()
        .filter_map(|entry| entry.sans.iter().find(|san| fits(san)))
        .collect();
    candidates.sort();
    match candidates.as_slice() {
        [] => Err(IdentityError::NoSuchWorkload {
            resource: resource.describe(),
            namespace: namespace.to_owned(),
            expected: match resource {
                Resource::Service(name) => cluster_name(name, namespace),
                Resource::Pod(name) => format!(
                    "WORKLOAD{suffix}, {name} a name the controller of WORKLOAD gives its pods"
                ),
            },
        }),
        [one] => Ok((*one).clone()),
        several => Err(IdentityError::Ambiguous {
            resource: resource.describe(),
            candidates: several
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let entry = |sans: &[&str]| serde_json::json!({ "sans": sans });
        let text = serde_json::json!({
            "version": 1,
            "policies": {
                "aa".repeat(32): entry(&["web", "web.pf.svc.cluster.local", "front.pf.svc.cluster.local"]),
                "bb".repeat(32): entry(&["web-api", "web-api.pf.svc.cluster.local"]),
                "cc".repeat(32): entry(&["db", "db.other.svc.cluster.local"]),
                "dd".repeat(32): entry(&["db.pf.svc.cluster.local"]),
                "ee".repeat(32): entry(&["db-x.pf.svc.cluster.local"]),
            },
            "reference_values": {
                "snp": [{ "measurements": ["00".repeat(48)], "minimum_tcb": { "bootloader": 3, "tee": 0, "snp": 8, "microcode": 115 } }]
            },
            "workload_owner_key_digests": ["22".repeat(32)],
            "seed_share_owner_keys": []
        });
        Manifest::parse(&text.to_string()).unwrap()
    }

    fn identity(target: &str, namespace: &str) -> Result<String, IdentityError> {
        server_identity(&Resource::parse(target)?, namespace, None, &manifest())
    }

    #[test]
    fn a_pod_names_its_workload_and_a_service_itself() {
        assert_eq!(
            identity("pod/web-7d9f8c6b5d-q8x2z", "pf").unwrap(),
            "web.pf.svc.cluster.local"
        );
        assert_eq!(identity("web", "pf").unwrap(), "web.pf.svc.cluster.local");
        // By the shape of generated names: a pod of web-api is not web's.
        assert_eq!(
            identity("pod/web-api-5c4b9-x2x2x", "pf").unwrap(),
            "web-api.pf.svc.cluster.local"
        );
        assert_eq!(
            identity("svc/front", "pf").unwrap(),
            "front.pf.svc.cluster.local"
        );
        assert_eq!(
            identity("pod/db-0", "other").unwrap(),
            "db.other.svc.cluster.local"
        );
    }

    #[test]
    fn a_target_no_workload_or_several_fit_is_refused() {
        assert!(matches!(
            identity("pod/mail-1", "pf"),
            Err(IdentityError::NoSuchWorkload { .. })
        ));
        assert!(matches!(
            identity("svc/web", "other"),
            Err(IdentityError::NoSuchWorkload { .. })
        ));
        // The prefix of a pod name, never a substring or another namespace's.
        assert!(matches!(
            identity("pod/webserver", "pf"),
            Err(IdentityError::NoSuchWorkload { .. })
        ));
        // db-x-1 is a pod of db-x, not of db (`x-1` is no generated part). A pod of a workload
        // the manifest does not have is no pod of one whose name is a prefix of its name (the
        // host's routing would otherwise decide which it reaches).
        for other in [
            "pod/web-admin-7d9f8c6b5d-q8x2z",
            "pod/web-ab",
            "pod/web-7d9f8-x-y",
        ] {
            assert!(
                matches!(
                    identity(other, "pf"),
                    Err(IdentityError::NoSuchWorkload { .. })
                ),
                "{other}"
            );
        }
        assert_eq!(
            identity("pod/db-x-1", "pf").unwrap(),
            "db-x.pf.svc.cluster.local"
        );
        for bad in ["deployment/web", "pod/", "pod/Web", "svc/a b"] {
            assert!(
                matches!(Resource::parse(bad), Err(IdentityError::BadTarget(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_explicit_server_name_must_be_one_entrys() {
        let manifest = manifest();
        let pod = Resource::Pod("anything".into());
        assert_eq!(
            server_identity(&pod, "pf", Some("web-api"), &manifest).unwrap(),
            "web-api"
        );
        assert_eq!(
            server_identity(&pod, "pf", Some("mail"), &manifest),
            Err(IdentityError::UnknownServerName("mail".into()))
        );
    }

    #[test]
    fn ports_read_as_kubectl_writes_them() {
        let ports = |text| Ports::parse(text);
        assert_eq!(
            ports("8080"),
            Ok(Ports {
                local: 8080,
                remote: 8080
            })
        );
        assert_eq!(
            ports("9000:8080"),
            Ok(Ports {
                local: 9000,
                remote: 8080
            })
        );
        assert_eq!(
            ports(":8080"),
            Ok(Ports {
                local: 0,
                remote: 8080
            })
        );
        assert_eq!(
            ports("0:8080"),
            Ok(Ports {
                local: 0,
                remote: 8080
            })
        );
        for bad in ["", "8080:", "x:80", "80:0", "0", "70000"] {
            assert_eq!(
                ports(bad),
                Err(IdentityError::BadPorts(bad.into())),
                "{bad}"
            );
        }
    }
}
