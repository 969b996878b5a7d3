//! Typed, read-only views of the pod-spec fields that decide what runs in a pod.
//!
//! Every struct refuses fields it does not list: a field that could change what runs must be
//! understood by the policy generator. Fields that only affect scheduling or the host side are
//! listed and ignored (`IgnoredAny`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

/// `spec` of a Pod, or `spec.template.spec` of a workload.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSpec {
    /// The pod's containers.
    pub containers: Vec<Container>,
    /// Init containers, run in order before the containers (native sidecars among them).
    #[serde(default)]
    pub init_containers: Vec<Container>,
    /// The pod's volumes.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// Pod-level security settings.
    pub security_context: Option<PodSecurityContext>,
    /// One PID namespace for all containers.
    pub share_process_namespace: Option<bool>,
    /// The runtime class (Chiaro sets it).
    pub runtime_class_name: Option<String>,
    /// Whether the service account token is mounted.
    pub automount_service_account_token: Option<bool>,
    /// Whether Kubernetes service environment variables are injected.
    pub enable_service_links: Option<bool>,
    /// The pod's host name.
    pub hostname: Option<String>,
    /// The pod's subdomain.
    pub subdomain: Option<String>,
    /// The service account.
    pub service_account_name: Option<String>,
    /// Deprecated alias of `serviceAccountName`.
    pub service_account: Option<String>,
    /// Host network: refused by the generator.
    pub host_network: Option<bool>,
    /// Host PID namespace: refused by the generator.
    #[serde(rename = "hostPID")]
    pub host_pid: Option<bool>,
    /// Host IPC namespace: refused by the generator.
    #[serde(rename = "hostIPC")]
    pub host_ipc: Option<bool>,
    /// Extra /etc/hosts entries (host-provided file either way).
    pub host_aliases: Option<IgnoredAny>,
    /// Restart policy (kubelet side).
    pub restart_policy: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub termination_grace_period_seconds: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub active_deadline_seconds: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub dns_policy: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub dns_config: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub node_selector: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub node_name: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub affinity: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub tolerations: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub topology_spread_constraints: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub scheduler_name: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub priority_class_name: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub priority: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub preemption_policy: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub image_pull_secrets: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub readiness_gates: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    #[serde(rename = "setHostnameAsFQDN")]
    pub set_hostname_as_fqdn: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub os: Option<IgnoredAny>,
    /// Scheduling or host side only; ignored.
    pub overhead: Option<IgnoredAny>,
    /// Scheduling only (the pod is not scheduled until the gates are removed); ignored.
    pub scheduling_gates: Option<IgnoredAny>,
    /// Scheduling only (gang scheduling, Kubernetes 1.37 alpha); ignored.
    pub scheduling_group: Option<IgnoredAny>,
}

impl PodSpec {
    /// The ports the containers declare, with the container's name (init containers first).
    pub fn container_ports(&self) -> Vec<(&str, u16)> {
        self.init_containers
            .iter()
            .chain(&self.containers)
            .flat_map(|container| {
                container
                    .ports
                    .iter()
                    .map(|port| (container.name.as_str(), port.container_port))
            })
            .collect()
    }
}

/// One container (or init container).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    /// Name, unique in the pod.
    pub name: String,
    /// Image reference.
    pub image: Option<String>,
    /// Replaces the image's entrypoint.
    pub command: Option<Vec<String>>,
    /// Replaces the image's cmd.
    pub args: Option<Vec<String>>,
    /// Replaces the image's working directory.
    pub working_dir: Option<String>,
    /// Environment variables.
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// Environment variables from ConfigMaps and Secrets.
    #[serde(default)]
    pub env_from: Vec<EnvFromSource>,
    /// Volume mounts.
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
    /// Raw block devices: only an encrypted volume's, as generate writes them
    /// ([`crate::EncryptedVolume`]).
    #[serde(default)]
    pub volume_devices: Vec<VolumeDevice>,
    /// Container security settings.
    pub security_context: Option<SecurityContext>,
    /// Resource requests and limits (GPU counts matter to the policy).
    pub resources: Option<ResourceRequirements>,
    /// Probes whose `exec` commands the policy allows.
    pub liveness_probe: Option<Probe>,
    /// Probes whose `exec` commands the policy allows.
    pub readiness_probe: Option<Probe>,
    /// Probes whose `exec` commands the policy allows.
    pub startup_probe: Option<Probe>,
    /// Lifecycle hooks whose `exec` commands the policy allows.
    pub lifecycle: Option<Lifecycle>,
    /// Allocate a terminal.
    pub tty: Option<bool>,
    /// `Always` on an init container makes it a native sidecar.
    pub restart_policy: Option<String>,
    /// Keep stdin open (the host can write to it only if the policy allows WriteStream).
    pub stdin: Option<bool>,
    /// Host side only; ignored.
    pub stdin_once: Option<IgnoredAny>,
    /// The ports it listens on (the policy ignores them; local mode serves them). `ports:`
    /// with no value (as templates render an empty list) is no ports, as Kubernetes reads it.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ports: Vec<ContainerPort>,
    /// Host side only; ignored.
    pub image_pull_policy: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub termination_message_path: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub termination_message_policy: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub resize_policy: Option<IgnoredAny>,
    /// When the kubelet restarts the container (Kubernetes 1.34 alpha): host side; a restarted
    /// container is created again and checked by the policy as the first time; ignored.
    pub restart_policy_rules: Option<IgnoredAny>,
}

/// A list that may be written as `null`.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A port a container listens on.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerPort {
    /// The port number in the pod.
    pub container_port: u16,
    /// Its name (for Services' `targetPort`).
    pub name: Option<String>,
    /// `TCP` (the default), `UDP` or `SCTP`.
    pub protocol: Option<String>,
    /// Host side only; ignored.
    pub host_port: Option<IgnoredAny>,
    /// Host side only; ignored.
    #[serde(rename = "hostIP")]
    pub host_ip: Option<IgnoredAny>,
}

/// One environment variable.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Literal value (may reference other variables as `$(NAME)`).
    pub value: Option<String>,
    /// Value from elsewhere.
    pub value_from: Option<EnvVarSource>,
}

/// Where an environment variable's value comes from.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVarSource {
    /// A key of a ConfigMap.
    pub config_map_key_ref: Option<ConfigMapKeySelector>,
    /// A key of a Secret.
    pub secret_key_ref: Option<SecretKeySelector>,
    /// A field of the pod (downward API).
    pub field_ref: Option<FieldSelector>,
    /// A resource limit or request of the container.
    pub resource_field_ref: Option<IgnoredAny>,
}

/// A key of a ConfigMap.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapKeySelector {
    /// ConfigMap name.
    pub name: String,
    /// Key.
    pub key: String,
    /// Whether a missing key leaves the variable unset.
    pub optional: Option<bool>,
}

/// A key of a Secret.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeySelector {
    /// Secret name.
    pub name: String,
    /// Key.
    pub key: String,
    /// Whether a missing key leaves the variable unset.
    pub optional: Option<bool>,
}

/// A field of the pod.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSelector {
    /// e.g. `metadata.name`, `metadata.labels['app']`, `status.podIP`.
    pub field_path: String,
    /// API version of the path.
    pub api_version: Option<IgnoredAny>,
}

/// All keys of a ConfigMap or Secret as environment variables.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvFromSource {
    /// Prefix for each variable name.
    pub prefix: Option<String>,
    /// The ConfigMap.
    pub config_map_ref: Option<LocalObjectReference>,
    /// The Secret.
    pub secret_ref: Option<LocalObjectReference>,
}

/// A reference to an object in the pod's namespace.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalObjectReference {
    /// Object name.
    pub name: String,
    /// Whether the object may be missing.
    pub optional: Option<bool>,
}

/// A volume mounted into a container.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeMount {
    /// The volume's name.
    pub name: String,
    /// Where.
    pub mount_path: String,
    /// Read only.
    pub read_only: Option<bool>,
    /// A path inside the volume.
    pub sub_path: Option<String>,
    /// Mount propagation: `HostToContainer` (rslave) or `Bidirectional` (rshared) only where
    /// generate writes them, for encrypted volumes; `None` otherwise (rprivate).
    pub mount_propagation: Option<String>,
}

/// A volume's raw block device in a container.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeDevice {
    /// The volume's name.
    pub name: String,
    /// The device node's path in the container.
    pub device_path: String,
}

/// A pod volume.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Name.
    pub name: String,
    /// The source, one of the supported kinds.
    #[serde(flatten)]
    pub source: BTreeMap<String, serde_json::Value>,
}

/// The kinds of volume the generator supports, read from [`Volume::source`].
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeSource {
    /// `emptyDir` on disk (an encrypted block device in the guest) or in memory.
    EmptyDir {
        /// `medium: Memory`.
        memory: bool,
    },
    /// `configMap`.
    ConfigMap {
        /// ConfigMap name.
        name: String,
    },
    /// `secret`.
    Secret {
        /// Secret name.
        name: String,
    },
    /// `downwardAPI` or `projected`: files the runtime writes from pod fields or tokens.
    Projected,
    /// A persistent volume the pod marks for encryption: its raw block device, which only the
    /// volume owner opens ([`crate::EncryptedVolume`]).
    EncryptedBlock,
}

/// Files of a ConfigMap or Secret volume.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyToPath {
    /// Key.
    pub key: String,
    /// File path in the volume.
    pub path: String,
    /// File mode.
    pub mode: Option<u32>,
}

/// Pod-level security settings.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSecurityContext {
    /// UID of the containers' processes.
    pub run_as_user: Option<u32>,
    /// GID of the containers' processes.
    pub run_as_group: Option<u32>,
    /// Refuse to run as root (checked by the kubelet).
    pub run_as_non_root: Option<bool>,
    /// Extra groups of every process.
    #[serde(default)]
    pub supplemental_groups: Vec<u32>,
    /// Group owning volumes; also an extra group of every process.
    pub fs_group: Option<u32>,
    /// Namespaced kernel parameters.
    #[serde(default)]
    pub sysctls: Vec<Sysctl>,
    /// Host side only; ignored.
    pub fs_group_change_policy: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub seccomp_profile: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub se_linux_options: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub supplemental_groups_policy: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub app_armor_profile: Option<IgnoredAny>,
}

/// A kernel parameter.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sysctl {
    /// Name.
    pub name: String,
    /// Value (numbers are accepted and read as text).
    pub value: serde_json::Value,
}

/// Container security settings.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityContext {
    /// UID.
    pub run_as_user: Option<u32>,
    /// GID.
    pub run_as_group: Option<u32>,
    /// Refuse to run as root (checked by the kubelet).
    pub run_as_non_root: Option<bool>,
    /// Privileged containers are refused by the generator.
    pub privileged: Option<bool>,
    /// `false` sets no_new_privileges.
    pub allow_privilege_escalation: Option<bool>,
    /// Read-only root file system.
    pub read_only_root_filesystem: Option<bool>,
    /// Capabilities added and dropped.
    pub capabilities: Option<Capabilities>,
    /// Host side only; ignored.
    pub seccomp_profile: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub se_linux_options: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub app_armor_profile: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub proc_mount: Option<IgnoredAny>,
}

/// Capabilities added and dropped.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    /// Added, without the `CAP_` prefix.
    #[serde(default)]
    pub add: Vec<String>,
    /// Dropped, without the `CAP_` prefix; `ALL` drops all.
    #[serde(default)]
    pub drop: Vec<String>,
}

/// Resource requirements.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceRequirements {
    /// Limits by resource name.
    #[serde(default)]
    pub limits: BTreeMap<String, serde_json::Value>,
    /// Requests by resource name.
    #[serde(default)]
    pub requests: BTreeMap<String, serde_json::Value>,
    /// Host side only; ignored.
    pub claims: Option<IgnoredAny>,
}

/// A probe; only `exec` runs inside the pod.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// A command run in the container.
    pub exec: Option<ExecAction>,
    /// Host side only; ignored.
    pub http_get: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub tcp_socket: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub grpc: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub initial_delay_seconds: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub period_seconds: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub timeout_seconds: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub success_threshold: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub failure_threshold: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub termination_grace_period_seconds: Option<IgnoredAny>,
}

/// A command run in a container.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecAction {
    /// argv.
    #[serde(default)]
    pub command: Vec<String>,
}

/// Lifecycle hooks.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifecycle {
    /// After start.
    pub post_start: Option<LifecycleHandler>,
    /// Before stop.
    pub pre_stop: Option<LifecycleHandler>,
    /// Host side only; ignored.
    pub stop_signal: Option<IgnoredAny>,
}

/// A lifecycle hook.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LifecycleHandler {
    /// A command run in the container.
    pub exec: Option<ExecAction>,
    /// Host side only; ignored.
    pub http_get: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub tcp_socket: Option<IgnoredAny>,
    /// Host side only; ignored.
    pub sleep: Option<IgnoredAny>,
}

#[cfg(test)]
mod tests {
    use super::Container;

    fn container(json: &str) -> Result<Container, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn ports_take_every_field_of_a_kubernetes_container_port() {
        let web = container(
            r#"{"name": "web", "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP", "hostPort": 80, "hostIP": "0.0.0.0"}, {"containerPort": 9090}]}"#,
        )
        .unwrap();
        let ports: Vec<u16> = web.ports.iter().map(|p| p.container_port).collect();
        assert_eq!(ports, [8080, 9090]);
        assert_eq!(web.ports[0].name.as_deref(), Some("http"));
    }

    #[test]
    fn ports_written_empty_or_left_out_are_no_ports() {
        for json in [
            r#"{"name": "web", "ports": null}"#,
            r#"{"name": "web", "ports": []}"#,
            r#"{"name": "web"}"#,
        ] {
            assert!(container(json).unwrap().ports.is_empty(), "{json}");
        }
    }

    #[test]
    fn a_port_out_of_range_or_an_unknown_port_field_is_refused() {
        assert!(container(r#"{"name": "web", "ports": [{"containerPort": 70000}]}"#).is_err());
        assert!(
            container(r#"{"name": "web", "ports": [{"containerPort": 80, "hostPorts": 1}]}"#)
                .is_err()
        );
    }
}
