//! The objects a cluster needs for Chiaro, as Kubernetes documents: Chiaro's namespace, its
//! RuntimeClasses, the Coordinator (a StatefulSet with its Services) and the untrusted
//! forwarder of `chiaro port-forward` (a plain Deployment). Pure: options in,
//! documents out; the Coordinator's policy is generated from these by
//! `chiaro_policy::generate_coordinator`, the same stages as every workload's.

use chiaro_api::endpoints::{
    HEALTHZ_PATH, MESH_API_PORT, READYZ_PATH, STATE_DIR, STATUS_PORT, USER_API_PORT,
};
use chiaro_k8s::{RUNTIME_CLASS, attesting_security_context};
use chiaro_policy::VmSize;
use serde_json::{Value, json};

/// Chiaro's namespace unless told otherwise.
pub(crate) const DEFAULT_NAMESPACE: &str = "chiaro";
/// The Coordinator's StatefulSet, and its Service for the CLI (every Coordinator, ready or
/// not: `recover` talks to one that is not).
pub(crate) const COORDINATOR: &str = "chiaro-coordinator";
/// The Coordinator's Service for initializers: only Coordinators that are ready.
pub(crate) const READY_SERVICE: &str = "chiaro-coordinator-ready";
/// The Coordinator's container.
pub(crate) const CONTAINER: &str = "coordinator";
/// The forwarder's Deployment (and container), which `chiaro port-forward` reaches with
/// `kubectl port-forward`.
pub(crate) const FORWARDER: &str = "chiaro-forwarder";
/// The label every object of Chiaro's carries.
const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "chiaro");
/// The label selecting the Coordinator's pods.
const NAME_LABEL: &str = "app.kubernetes.io/name";
/// The label kata-deploy (and the CoCo operator) put on nodes it installed Kata on.
const KATA_NODE_LABEL: &str = "katacontainers.io/kata-runtime";

/// `chiaro install`'s defaults (its flags and local mode take these).
pub(crate) mod defaults {
    /// The nodes' Kata handler for SEV-SNP (kata-deploy's and the CoCo chart's name).
    pub(crate) const SNP_HANDLER: &str = "kata-qemu-snp";
    /// The nodes' Kata handler for TDX.
    pub(crate) const TDX_HANDLER: &str = "kata-qemu-tdx";
    use chiaro_policy::VmSize;

    /// Memory each pod's VM adds beyond its containers: the VM base generate writes into
    /// every pod ([`VmSize::KATA_BASE`], one definition for both).
    pub(crate) fn overhead_memory() -> String {
        format!("{}Mi", VmSize::KATA_BASE.memory_mib)
    }
    /// CPU each pod's VM adds beyond its containers (the base's vCPUs).
    pub(crate) fn overhead_cpu() -> String {
        VmSize::KATA_BASE.vcpus.to_string()
    }
    /// The Coordinator's memory (request and limit).
    pub(crate) const COORDINATOR_MEMORY: &str = "256Mi";
    /// The Coordinator's CPU (request and limit).
    pub(crate) const COORDINATOR_CPU: &str = "1";
}

/// The Coordinator's mesh API as pods in any namespace reach it: the cluster DNS name of
/// [`READY_SERVICE`] in `namespace`.
pub(crate) fn mesh_address(namespace: &str) -> String {
    format!("{READY_SERVICE}.{namespace}.svc.cluster.local:{MESH_API_PORT}")
}

/// A confidential platform and the Kata handler that runs pods on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handler {
    /// The RuntimeClass's name (`chiaro-cc-snp`, `chiaro-cc-tdx`).
    pub(crate) class: String,
    /// The node's Kata handler (`kata-qemu-snp`, `kata-qemu-tdx`).
    pub(crate) handler: String,
}

impl Handler {
    /// The SEV-SNP RuntimeClass (`chiaro-cc-snp`) on the nodes' `handler`.
    pub(crate) fn snp(handler: &str) -> Self {
        Self {
            class: format!("{RUNTIME_CLASS}-snp"),
            handler: handler.to_owned(),
        }
    }

    /// The TDX RuntimeClass (`chiaro-cc-tdx`) on the nodes' `handler`.
    pub(crate) fn tdx(handler: &str) -> Self {
        Self {
            class: format!("{RUNTIME_CLASS}-tdx"),
            handler: handler.to_owned(),
        }
    }
}

/// What `install` writes.
#[derive(Debug, Clone)]
pub(crate) struct InstallPlan {
    /// Chiaro's namespace.
    pub(crate) namespace: String,
    /// The SNP and TDX RuntimeClasses.
    pub(crate) platforms: Vec<Handler>,
    /// Which of `platforms` [`RUNTIME_CLASS`] (and so the Coordinator) runs on.
    pub(crate) default_platform: Handler,
    /// Memory the VM adds to every pod (the RuntimeClass's overhead).
    pub(crate) overhead_memory: String,
    /// CPU the VM adds to every pod.
    pub(crate) overhead_cpu: String,
    /// The Coordinator's image, as given (pinned by generation).
    pub(crate) coordinator_image: String,
    /// The Coordinator's memory (request = limit: the VM is sized from it).
    pub(crate) coordinator_memory: String,
    /// The Coordinator's CPU (request = limit).
    pub(crate) coordinator_cpu: String,
    /// The forwarder's image, as given: it is not pinned, because nothing trusts it (it
    /// carries TLS records, `docs/port-forward.md`).
    pub(crate) forwarder_image: String,
}

impl InstallPlan {
    /// The base of the Coordinator's VM: the overhead its RuntimeClass declares, which must
    /// then be whole vCPUs and whole MiB (the Kata annotations take no fractions).
    pub(crate) fn vm_base(&self) -> anyhow::Result<VmSize> {
        let vcpus = self.overhead_cpu.parse().ok().filter(|vcpus| *vcpus >= 1);
        let memory_mib = chiaro_policy::memory_mib(&self.overhead_memory)
            .filter(|mib| *mib >= chiaro_policy::MIN_BASE_MEMORY_MIB);
        match (vcpus, memory_mib) {
            (Some(vcpus), Some(memory_mib)) => Ok(VmSize { vcpus, memory_mib }),
            (None, _) => anyhow::bail!(
                "--overhead-cpu {:?}: the overhead is the base of each pod's VM, so whole vCPUs \
                 (at least 1)",
                self.overhead_cpu
            ),
            (_, None) => anyhow::bail!(
                "--overhead-memory {:?}: the overhead is the base of each pod's VM, so whole MiB \
                 (at least {} MiB, as 2048Mi)",
                self.overhead_memory,
                chiaro_policy::MIN_BASE_MEMORY_MIB
            ),
        }
    }

    /// The cluster-wide objects: the namespace and the RuntimeClasses.
    pub(crate) fn cluster_documents(&self) -> Vec<Value> {
        let mut documents = vec![json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.namespace, "labels": labels(&[])},
        })];
        let default = Handler {
            class: RUNTIME_CLASS.to_owned(),
            handler: self.default_platform.handler.clone(),
        };
        for platform in std::iter::once(&default).chain(&self.platforms) {
            documents.push(self.runtime_class(platform));
        }
        documents
    }

    fn runtime_class(&self, platform: &Handler) -> Value {
        json!({
            "apiVersion": "node.k8s.io/v1",
            "kind": "RuntimeClass",
            "metadata": {"name": platform.class, "labels": labels(&[])},
            "handler": platform.handler,
            "overhead": {"podFixed": {"memory": self.overhead_memory, "cpu": self.overhead_cpu}},
            "scheduling": {"nodeSelector": {KATA_NODE_LABEL: "true"}},
        })
    }

    /// The Coordinator: its StatefulSet and its two Services.
    pub(crate) fn coordinator_documents(&self) -> Vec<Value> {
        vec![
            self.statefulset(),
            self.service(
                COORDINATOR,
                true,
                &[("user-api", USER_API_PORT), ("status", STATUS_PORT)],
            ),
            self.service(READY_SERVICE, false, &[("mesh-api", MESH_API_PORT)]),
        ]
    }

    fn statefulset(&self) -> Value {
        let resources = json!({"memory": self.coordinator_memory, "cpu": self.coordinator_cpu});
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": COORDINATOR, "namespace": self.namespace, "labels": labels(&[(NAME_LABEL, COORDINATOR)])},
            "spec": {
                "serviceName": COORDINATOR,
                "replicas": 1,
                "selector": {"matchLabels": {NAME_LABEL: COORDINATOR}},
                "template": {
                    "metadata": {"labels": labels(&[(NAME_LABEL, COORDINATOR)])},
                    "spec": {
                        "runtimeClassName": RUNTIME_CLASS,
                        "automountServiceAccountToken": false,
                        "enableServiceLinks": false,
                        "containers": [{
                            "name": CONTAINER,
                            "image": self.coordinator_image,
                            "ports": [
                                {"name": "user-api", "containerPort": USER_API_PORT},
                                {"name": "mesh-api", "containerPort": MESH_API_PORT},
                                {"name": "status", "containerPort": STATUS_PORT},
                            ],
                            "readinessProbe": {"httpGet": {"path": READYZ_PATH, "port": "status"}, "periodSeconds": 5},
                            "livenessProbe": {"httpGet": {"path": HEALTHZ_PATH, "port": "status"}, "periodSeconds": 10},
                            "resources": {"requests": resources, "limits": resources},
                            "securityContext": attesting_security_context(),
                            "volumeMounts": [
                                {"name": "state", "mountPath": STATE_DIR},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }],
                        // Guest memory: the host can neither read nor fill it. Until Chiaro's
                        // encrypted volumes exist, the state survives container restarts but
                        // not a new pod (docs/deploy.md). `/tmp` holds the collateral cache.
                        "volumes": [
                            {"name": "state", "emptyDir": {"medium": "Memory"}},
                            {"name": "tmp", "emptyDir": {"medium": "Memory"}},
                        ],
                    },
                },
            },
        })
    }

    /// The forwarder: a plain (runc) Deployment, outside every TCB. It listens on its pod's
    /// loopback only (`kubectl port-forward` reaches it there; no other pod can use it as a
    /// relay), has no Service, no account token, no capabilities, and runs as nobody.
    pub(crate) fn forwarder_documents(&self) -> Vec<Value> {
        let listen = format!("127.0.0.1:{}", chiaro_forwarder::PORT);
        let resources = json!({"memory": "32Mi", "cpu": "100m"});
        vec![json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": FORWARDER, "namespace": self.namespace, "labels": labels(&[(NAME_LABEL, FORWARDER)])},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {NAME_LABEL: FORWARDER}},
                "template": {
                    "metadata": {"labels": labels(&[(NAME_LABEL, FORWARDER)])},
                    "spec": {
                        "automountServiceAccountToken": false,
                        "enableServiceLinks": false,
                        "securityContext": {
                            "runAsNonRoot": true,
                            "runAsUser": 65534,
                            "runAsGroup": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [{
                            "name": FORWARDER,
                            "image": self.forwarder_image,
                            "args": ["--listen", listen],
                            "resources": {"requests": resources, "limits": resources},
                            "securityContext": {
                                "allowPrivilegeEscalation": false,
                                "readOnlyRootFilesystem": true,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }],
                    },
                },
            },
        })]
    }

    fn service(&self, name: &str, not_ready_too: bool, ports: &[(&str, u16)]) -> Value {
        let ports: Vec<Value> = ports
            .iter()
            .map(|(port_name, port)| json!({"name": port_name, "port": port, "targetPort": port_name}))
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels(&[])},
            "spec": {
                "selector": {NAME_LABEL: COORDINATOR},
                "publishNotReadyAddresses": not_ready_too,
                "ports": ports,
            },
        })
    }
}

/// Chiaro's label and `extra`.
fn labels(extra: &[(&str, &str)]) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(PART_OF.0.to_owned(), Value::from(PART_OF.1));
    for (key, value) in extra {
        map.insert((*key).to_owned(), Value::from(*value));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(cpu: &str, memory: &str) -> InstallPlan {
        InstallPlan {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            platforms: vec![Handler::snp(defaults::SNP_HANDLER)],
            default_platform: Handler::snp(defaults::SNP_HANDLER),
            overhead_memory: memory.to_owned(),
            overhead_cpu: cpu.to_owned(),
            coordinator_image: "chiaro/coordinator:0.1".to_owned(),
            coordinator_memory: defaults::COORDINATOR_MEMORY.to_owned(),
            coordinator_cpu: defaults::COORDINATOR_CPU.to_owned(),
            forwarder_image: "chiaro/forwarder:0.1".to_owned(),
        }
    }

    #[test]
    fn the_overhead_defaults_are_the_vm_base_and_a_fractional_one_is_refused() {
        let defaults = plan(&defaults::overhead_cpu(), &defaults::overhead_memory());
        assert_eq!(defaults.vm_base().unwrap(), VmSize::KATA_BASE);
        assert_eq!(
            plan("2", "4Gi").vm_base().unwrap(),
            VmSize {
                vcpus: 2,
                memory_mib: 4096
            }
        );
        for (cpu, memory, flag) in [
            ("1500m", "2048Mi", "--overhead-cpu"),
            ("0", "2048Mi", "--overhead-cpu"),
            ("1", "2G", "--overhead-memory"),
            ("1", "128Mi", "--overhead-memory"),
        ] {
            let error = plan(cpu, memory).vm_base().unwrap_err().to_string();
            assert!(error.starts_with(flag), "{error}");
        }
    }
}
