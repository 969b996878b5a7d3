//! `policy_data`: everything pod-specific the rules check, as it is serialised into the policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::copy_files::CopyVolumes;
use crate::platform::Platform;

/// The data of one pod's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyData {
    /// Pod-wide rules.
    pub pod: PodRules,
    /// The pod's sandbox (pause) container.
    pub sandbox: ContainerRules,
    /// The pod's containers and init containers by name.
    pub containers: BTreeMap<String, ContainerRules>,
    /// What the Kata runtime and kubelet add to every pod.
    pub platform: Platform,
    /// The ConfigMap, Secret, downward-API and projected volumes whose copied files are pinned.
    #[serde(default)]
    pub copy_volumes: CopyVolumes,
}

/// Pod-wide rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRules {
    /// Names the pod may have (`io.kubernetes.cri.sandbox-name`).
    pub name_regex: String,
    /// Namespaces the pod may be in.
    pub namespace_regex: String,
    /// `shareProcessNamespace`.
    pub share_process_namespace: bool,
    /// Sysctls the containers may set, with their values.
    pub sysctls: BTreeMap<String, String>,
    /// The sysctls the pod spec sets: the sandbox container must set each (with its value in
    /// `sysctls`); the runtime's own defaults may be absent.
    pub required_sysctls: Vec<String>,
    /// `fsGroup`, the group volumes may be owned by.
    pub fs_group: Option<u32>,
    /// `spec.hostname`, the pod's host name when the pod spec sets one; otherwise the kubelet
    /// names the host after the pod (truncated to 63 characters).
    pub hostname: Option<String>,
    /// Annotations any container's request may carry only with exactly these values: the VM
    /// base generate wrote into the pod (`default_vcpus`, `default_memory`), should the runtime
    /// pass the pod's annotations on to the guest.
    #[serde(default)]
    pub pinned_annotations: BTreeMap<String, String>,
}

/// What one container may be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRules {
    /// Image references the runtime may name for it (all pinned by digest when generated from
    /// pinned images).
    pub images: Vec<String>,
    /// Containers that must have been created before this one, and started before it starts.
    pub after: Vec<String>,
    /// A native sidecar (an init container with `restartPolicy: Always`): the containers after
    /// it start only while the instance that was started is live.
    pub sidecar: bool,
    /// The signals the host may send its processes; `None` for any. Chiaro's initializer and
    /// mesh proxy take only the teardown signals (`SIGKILL`, `SIGTERM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signals: Option<Vec<u32>>,
    /// The OOM score adjustments the kubelet may give it (by the pod's QoS class): any value
    /// of these ranges.
    pub oom_score_adj: Vec<OomScoreAdj>,
    /// Its process.
    pub process: ProcessRules,
    /// `readOnlyRootFilesystem`.
    pub read_only_root: bool,
    /// Mounts of pod volumes and image volumes.
    pub mounts: Vec<MountRule>,
    /// Devices it may have.
    pub devices: Vec<DeviceRule>,
    /// The encrypted volumes' raw block devices it may have (the volume owner's, and those of
    /// the containers that mount such a volume).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block_devices: Vec<BlockDeviceRule>,
    /// A privileged container: Chiaro's volume owner alone (Kubernetes allows the mount
    /// propagation it needs only there). Its capabilities may be any the runtime knows, and the
    /// runtime masks no paths and mounts `/sys` writable for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// `OCI.Linux.RootfsPropagation` as containerd sets it: empty, or `rshared` for a
    /// container with a `Bidirectional` mount, `rslave` for one with a `HostToContainer` mount.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rootfs_propagation: String,
    /// Commands the host may exec in it (probes and lifecycle hooks).
    pub exec: Vec<Vec<String>>,
}

/// An encrypted volume's raw block device in a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDeviceRule {
    /// The device node's path in the container.
    pub path: String,
    /// The pod volume it is.
    pub volume: String,
}

/// An inclusive range of `oom_score_adj` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OomScoreAdj {
    /// Lowest.
    pub min: i64,
    /// Highest.
    pub max: i64,
}

impl OomScoreAdj {
    /// Exactly `value`.
    pub const fn exactly(value: i64) -> Self {
        Self {
            min: value,
            max: value,
        }
    }
}

/// A process: command, user, environment, privileges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRules {
    /// argv.
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// `tty`.
    pub terminal: bool,
    /// Set when `allowPrivilegeEscalation: false`.
    pub no_new_privileges: bool,
    /// Identity.
    pub user: UserRules,
    /// Capability sets by OCI name (`Ambient`, `Bounding`, ...).
    pub capabilities: BTreeMap<String, Vec<String>>,
    /// Environment rules.
    pub env: Vec<EnvRule>,
}

/// The process identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRules {
    /// UID.
    pub uid: u32,
    /// GID.
    pub gid: u32,
    /// All groups, including the GID.
    pub additional_gids: Vec<u32>,
}

/// One environment rule: a variable by name or name pattern, with a value or value pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvRule {
    /// Exact name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Name pattern, for variables the platform adds (service links, host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_regex: Option<String>,
    /// Exact value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Value pattern, for values known only at run time (pod IP, pod name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_regex: Option<String>,
    /// The value must be this field of the sandbox the policy state holds (the pod's name,
    /// namespace or host name), for values the kubelet derives from the pod's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_value: Option<SandboxValue>,
    /// The variable must be present.
    pub required: bool,
}

/// A field of the pod's sandbox, as the policy state pins it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxValue {
    /// The pod's name.
    Name,
    /// The pod's namespace.
    Namespace,
    /// The pod's host name.
    Hostname,
}

impl EnvRule {
    /// `name=value`, required.
    pub fn exact(name: &str, value: &str) -> Self {
        Self {
            name: Some(name.to_owned()),
            name_regex: None,
            value: Some(value.to_owned()),
            value_regex: None,
            sandbox_value: None,
            required: true,
        }
    }

    /// `name` with a value matching `value_regex`.
    pub fn pattern(name: &str, value_regex: &str, required: bool) -> Self {
        Self {
            name: Some(name.to_owned()),
            name_regex: None,
            value: None,
            value_regex: Some(value_regex.to_owned()),
            sandbox_value: None,
            required,
        }
    }

    /// `name` whose value is the sandbox's `field`.
    pub fn sandbox(name: &str, field: SandboxValue, required: bool) -> Self {
        Self {
            name: Some(name.to_owned()),
            name_regex: None,
            value: None,
            value_regex: None,
            sandbox_value: Some(field),
            required,
        }
    }

    /// Optional variables whose names and values match patterns.
    pub fn patterns(name_regex: &str, value_regex: &str) -> Self {
        Self {
            name: None,
            name_regex: Some(name_regex.to_owned()),
            value: None,
            value_regex: Some(value_regex.to_owned()),
            sandbox_value: None,
            required: false,
        }
    }
}

/// A mount the container may have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRule {
    /// Mount point in the container.
    pub destination: String,
    /// OCI mount type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Source path pattern; `$(bundle-id)` stands for the container's bundle id.
    pub source_regex: String,
    /// Options it must have.
    pub options: Vec<String>,
    /// Options it may have in addition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub optional_options: Vec<String>,
    /// The platform storage kind backing it, if the guest creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// The pod volume it mounts (a storage serves one volume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// The request must have it (the pod spec's mounts); the runtime's and image volumes' may
    /// be absent.
    pub required: bool,
}

/// Devices a container may have, each named by an annotation (CDI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRule {
    /// Annotation keys naming devices.
    pub annotation_key_regex: String,
    /// The key with the device number removed.
    pub annotation_key_prefix: String,
    /// Annotation values.
    pub annotation_value_regex: String,
    /// How many devices.
    pub count: u32,
    /// Agent device type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Device path without the number.
    pub path_prefix: String,
}
