//! From a workload's pod spec, its images' configurations and the ConfigMaps and Secrets it
//! consumes to [`PolicyData`]: what each container must be.

use std::collections::{BTreeMap, BTreeSet};

use chiaro_k8s::{
    ConfigSourceKind, ConfigSources, Container, Document, EnvVar, INITIALIZER_NAME, K8sError,
    MESH_NAME, PodSecurityContext, VOLUME_OWNER_NAME, VolumeMount, VolumeSource, Workload,
    regex_escape,
};

use crate::copy_files::{PinnedSecretFile, copy_volumes};
use crate::data::{
    BlockDeviceRule, ContainerRules, DeviceRule, EnvRule, MountRule, OomScoreAdj, PodRules,
    PolicyData, ProcessRules, SandboxValue, UserRules,
};
use crate::error::PolicyError;
use crate::image::{ImageConfig, runtime_names};
use chiaro_pod::volumes::EMPTYDIR_PREFIX;

use crate::platform::{ALL_CAPABILITIES, EPHEMERAL_DIR, Platform, SHARED_FILE_PREFIX};
use crate::qos::{BadQuantity, pod_qos};
use crate::sizing::{VmSize, vm_size};

/// Choices that change what a policy pins.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Pin environment values taken from Secrets (they become readable to anyone who can read
    /// the pod's annotations). When off, such variables must be present with any value.
    pub pin_secret_values: bool,
    /// The runtime the pods run on.
    pub platform: Platform,
    /// The VM every pod starts from, before its limits are added (`default_vcpus` and
    /// `default_memory`): generate writes it into each pod and the policy pins it.
    pub vm_base: VmSize,
    /// ConfigMap, Secret, downward-API and projected volumes (by name, in any workload) whose
    /// files are left unpinned: the host may copy any files into them.
    pub unpinned_volumes: BTreeSet<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            pin_secret_values: true,
            platform: Platform::kata_confidential(),
            vm_base: VmSize::KATA_BASE,
            unpinned_volumes: BTreeSet::new(),
        }
    }
}

/// A Secret value copied into a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedSecret {
    /// Container.
    pub container: String,
    /// Environment variable.
    pub variable: String,
    /// Secret name.
    pub secret: String,
    /// Key in the Secret.
    pub key: String,
}

/// A generated policy's data and what the user must be told about it.
#[derive(Debug, Clone)]
pub struct GeneratedPolicy {
    /// The data.
    pub data: PolicyData,
    /// Secret values pinned (readable in the pod's annotations).
    pub pinned_secrets: Vec<PinnedSecret>,
    /// Secret files of volumes whose sizes are pinned (readable in the pod's annotations).
    pub pinned_secret_files: Vec<PinnedSecretFile>,
    /// The size the runtime gives the pod's VM: the base plus the pod's limits.
    pub vm_size: VmSize,
    /// The pod's own containers without a memory limit: their memory comes out of the base.
    pub without_memory_limit: Vec<String>,
}

/// Default capabilities of a container (containerd's default set).
const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The pause container's user and group (`65535`).
const PAUSE_USER: u32 = 65535;
/// The signals that end a process (`SIGKILL`, `SIGTERM`): all the host may send Chiaro's own
/// containers, whose early end the pod survives only by failing closed.
const TEARDOWN_SIGNALS: [u32; 2] = [9, 15];
const IP_REGEX: &str = "(([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\\.){3}([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])|[0-9a-fA-F:.]+";
const PORT_REGEX: &str = "[0-9]{1,5}";
const DNS_REGEX: &str = "[a-zA-Z0-9_.-]+";
const UUID_REGEX: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const SERVICE_REGEX: &str = "[A-Z](?:[A-Z0-9_]{0,61}[A-Z0-9])?";

/// Generates the policy data of `workload`, found in `document`: the pod-level refusals, the
/// pod's rules, its volumes' sources, then each container's rules.
pub fn generate(
    document: &Document,
    workload: &Workload,
    images: &BTreeMap<String, ImageConfig>,
    config: &ConfigSources,
    options: &GenerateOptions,
) -> Result<GeneratedPolicy, PolicyError> {
    let spec = &workload.pod_spec;
    let template = |field: &str| {
        document.value.pointer(&format!(
            "{}/spec/{field}",
            workload.kind.template_pointer()
        ))
    };
    refuse_shared_host(workload, template("setHostnameAsFQDN"))?;
    let pod_security = spec.security_context.as_ref();
    let bad_quantity = |bad: BadQuantity| {
        unsupported(
            workload,
            &format!("container {:?}: {}", bad.container, bad.field),
            bad.problem.hint(),
        )
    };
    let qos = pod_qos(spec.init_containers.iter().chain(&spec.containers)).map_err(bad_quantity)?;
    let sizing =
        vm_size(&spec.init_containers, &spec.containers, options.vm_base).map_err(bad_quantity)?;
    let mut pod = pod_rules(workload, pod_security);
    pod.pinned_annotations = options
        .vm_base
        .base_annotations()
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    let oom_score_adj =
        qos.oom_score_adj(template("priorityClassName").and_then(serde_json::Value::as_str));
    let volumes = volume_sources(document, workload)?;
    let (copy_volumes, pinned_secret_files) = copy_volumes(document, workload, config, options)?;
    let context = PodContext {
        workload,
        config,
        options,
        volumes: &volumes,
        oom_score_adj,
    };
    let (containers, pinned_secrets) = context.all_containers(images)?;
    Ok(GeneratedPolicy {
        data: PolicyData {
            pod,
            sandbox: sandbox_container(pod_security),
            containers,
            platform: options.platform.clone(),
            copy_volumes,
        },
        pinned_secrets,
        pinned_secret_files,
        vm_size: sizing.size,
        without_memory_limit: sizing.without_memory_limit,
    })
}

fn unsupported(workload: &Workload, field: &str, hint: &str) -> PolicyError {
    PolicyError::Unsupported {
        workload: workload.name.clone(),
        field: field.to_owned(),
        hint: hint.to_owned(),
    }
}

/// What a confidential pod cannot have: the host's namespaces, a cluster FQDN as host name
/// (`set_hostname_as_fqdn`: the template's `spec.setHostnameAsFQDN`).
fn refuse_shared_host(
    workload: &Workload,
    set_hostname_as_fqdn: Option<&serde_json::Value>,
) -> Result<(), PolicyError> {
    let spec = &workload.pod_spec;
    if spec.host_network == Some(true) {
        return Err(unsupported(
            workload,
            "spec.hostNetwork",
            "a confidential pod cannot share the host's network namespace",
        ));
    }
    if spec.host_pid == Some(true) || spec.host_ipc == Some(true) {
        return Err(unsupported(
            workload,
            "spec.hostPID/hostIPC",
            "a confidential pod cannot share the host's namespaces",
        ));
    }
    if set_hostname_as_fqdn.and_then(serde_json::Value::as_bool) == Some(true) {
        return Err(unsupported(
            workload,
            "spec.setHostnameAsFQDN",
            "the policy pins the pod's host name to its name or spec.hostname, not a cluster FQDN",
        ));
    }
    Ok(())
}

/// The pod's own rules: its name and namespace, sysctls (the runtime's two and the pod's),
/// process-namespace sharing, fsGroup and host name.
fn pod_rules(workload: &Workload, pod_security: Option<&PodSecurityContext>) -> PodRules {
    let spec = &workload.pod_spec;
    let mut sysctls = BTreeMap::from([
        (
            "net.ipv4.ip_unprivileged_port_start".to_owned(),
            "0".to_owned(),
        ),
        (
            "net.ipv4.ping_group_range".to_owned(),
            "0 2147483647".to_owned(),
        ),
    ]);
    let mut required_sysctls = Vec::new();
    for sysctl in pod_security
        .map(|s| s.sysctls.as_slice())
        .unwrap_or_default()
    {
        let value = match &sysctl.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        sysctls.insert(sysctl.name.clone(), value);
        required_sysctls.push(sysctl.name.clone());
    }
    let namespace_regex = match &workload.namespace {
        Some(namespace) => format!("^{}$", regex_escape(namespace)),
        None => "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$".to_owned(),
    };
    PodRules {
        name_regex: workload.pod_name_regex(),
        namespace_regex,
        share_process_namespace: spec.share_process_namespace.unwrap_or(false),
        sysctls,
        required_sysctls,
        fs_group: pod_security.and_then(|s| s.fs_group),
        hostname: spec.hostname.clone().filter(|name| !name.is_empty()),
        pinned_annotations: BTreeMap::new(),
    }
}

/// Each volume's source, by name.
fn volume_sources(
    document: &Document,
    workload: &Workload,
) -> Result<BTreeMap<String, VolumeSource>, PolicyError> {
    let mut volumes = BTreeMap::new();
    for (index, volume) in workload.pod_spec.volumes.iter().enumerate() {
        let source = workload
            .volume_source(document, index, volume)
            .map_err(PolicyError::Input)?;
        volumes.insert(volume.name.clone(), source);
    }
    Ok(volumes)
}

/// The pause container every sandbox starts with; its image is part of the guest image. It runs
/// as the pod-level user, else as the pause image's `65535:65535`.
fn sandbox_container(pod_security: Option<&PodSecurityContext>) -> ContainerRules {
    let uid = pod_security
        .and_then(|s| s.run_as_user)
        .unwrap_or(PAUSE_USER);
    let gid = pod_security
        .and_then(|s| s.run_as_group)
        .unwrap_or(PAUSE_USER);
    ContainerRules {
        images: vec!["pause".to_owned()],
        after: Vec::new(),
        sidecar: false,
        signals: None,
        // The kubelet gives it -998; the pause process holds nothing, and its score decides only
        // which process the guest kills first, so any (Kata's hand-written requests omit it).
        oom_score_adj: vec![OomScoreAdj {
            min: -1000,
            max: 1000,
        }],
        process: ProcessRules {
            args: vec!["/pause".to_owned()],
            cwd: "/".to_owned(),
            terminal: false,
            no_new_privileges: true,
            user: user_rules(uid, gid, pod_security),
            capabilities: capability_sets(
                DEFAULT_CAPABILITIES
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect(),
            ),
            env: vec![EnvRule {
                required: false,
                ..EnvRule::exact(
                    "PATH",
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                )
            }],
        },
        read_only_root: true,
        mounts: Vec::new(),
        devices: Vec::new(),
        block_devices: Vec::new(),
        privileged: false,
        rootfs_propagation: String::new(),
        exec: Vec::new(),
    }
}

/// The identity of a process: its groups are the GID plus the pod's `supplementalGroups` and
/// `fsGroup`, as the kubelet sets them for every container, the pause container included.
fn user_rules(uid: u32, gid: u32, pod: Option<&PodSecurityContext>) -> UserRules {
    let mut groups = BTreeSet::from([gid]);
    if let Some(pod) = pod {
        groups.extend(&pod.supplemental_groups);
        groups.extend(pod.fs_group);
    }
    UserRules {
        uid,
        gid,
        additional_gids: groups.into_iter().collect(),
    }
}

fn capability_sets(capabilities: BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
    let all: Vec<String> = capabilities.into_iter().collect();
    BTreeMap::from([
        ("Ambient".to_owned(), Vec::new()),
        ("Bounding".to_owned(), all.clone()),
        ("Effective".to_owned(), all.clone()),
        ("Inheritable".to_owned(), Vec::new()),
        ("Permitted".to_owned(), all),
    ])
}

struct PodContext<'a> {
    workload: &'a Workload,
    config: &'a ConfigSources,
    options: &'a GenerateOptions,
    volumes: &'a BTreeMap<String, VolumeSource>,
    oom_score_adj: Vec<OomScoreAdj>,
}

impl PodContext<'_> {
    /// The rules of every container, init containers first (each knows the ones before it),
    /// and the secret values pinned on the way.
    fn all_containers(
        &self,
        images: &BTreeMap<String, ImageConfig>,
    ) -> Result<(BTreeMap<String, ContainerRules>, Vec<PinnedSecret>), PolicyError> {
        let spec = &self.workload.pod_spec;
        let mut containers = BTreeMap::new();
        let mut pinned_secrets = Vec::new();
        let mut before = Vec::new();
        for container in &spec.init_containers {
            let rules = self.container(container, images, &before, true, &mut pinned_secrets)?;
            before.push(container.name.clone());
            if containers.insert(container.name.clone(), rules).is_some() {
                return Err(unsupported(
                    self.workload,
                    "spec.initContainers",
                    "two containers have the same name",
                ));
            }
        }
        for container in &spec.containers {
            let rules = self.container(container, images, &before, false, &mut pinned_secrets)?;
            if containers.insert(container.name.clone(), rules).is_some() {
                return Err(unsupported(
                    self.workload,
                    "spec.containers",
                    "two containers have the same name",
                ));
            }
        }
        Ok((containers, pinned_secrets))
    }

    fn unsupported(&self, container: &str, field: &str, hint: &str) -> PolicyError {
        unsupported(
            self.workload,
            &format!("container {container:?}: {field}"),
            hint,
        )
    }

    fn container(
        &self,
        container: &Container,
        images: &BTreeMap<String, ImageConfig>,
        after: &[String],
        is_init: bool,
        pinned_secrets: &mut Vec<PinnedSecret>,
    ) -> Result<ContainerRules, PolicyError> {
        let name = &container.name;
        let image_text = container
            .image
            .as_deref()
            .ok_or_else(|| self.unsupported(name, "image", "a container needs an image"))?;
        let image = images
            .get(image_text)
            .ok_or_else(|| PolicyError::MissingImage {
                container: name.clone(),
                image: image_text.to_owned(),
            })?;
        let security = container.security_context.as_ref();
        let privileged = security.and_then(|s| s.privileged) == Some(true);
        if privileged && *name != VOLUME_OWNER_NAME {
            return Err(self.unsupported(
                name,
                "securityContext.privileged",
                "a privileged container can reach the guest kernel and every other container",
            ));
        }
        let env = self.environment(container, image, pinned_secrets)?;
        let args = self.args(container, image, &env)?;
        let user = self.user(container, image)?;
        let capabilities = if privileged {
            capability_sets(
                ALL_CAPABILITIES
                    .iter()
                    .map(|c| format!("CAP_{c}"))
                    .collect(),
            )
        } else {
            self.capabilities(container)?
        };
        let mut env_rules: Vec<EnvRule> = env.into_values().collect();
        env_rules.extend(self.platform_env(container));
        let cwd = container
            .working_dir
            .clone()
            .filter(|dir| !dir.is_empty())
            .or_else(|| Some(image.working_dir.clone()).filter(|dir| !dir.is_empty()))
            .unwrap_or_else(|| "/".to_owned());
        let mut exec = Vec::new();
        for probe in [
            &container.liveness_probe,
            &container.readiness_probe,
            &container.startup_probe,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(action) = &probe.exec {
                exec.push(action.command.clone());
            }
        }
        if let Some(lifecycle) = &container.lifecycle {
            for handler in [&lifecycle.post_start, &lifecycle.pre_stop]
                .into_iter()
                .flatten()
            {
                if let Some(action) = &handler.exec {
                    exec.push(action.command.clone());
                }
            }
        }
        let chiaro_own = [INITIALIZER_NAME, MESH_NAME, VOLUME_OWNER_NAME].contains(&name.as_str());
        let mut mounts = self.mounts(container, image)?;
        if privileged {
            mounts.extend(writable_system_mounts());
        }
        Ok(ContainerRules {
            images: runtime_names(image_text, image),
            after: after.to_vec(),
            sidecar: is_init && container.restart_policy.as_deref() == Some("Always"),
            signals: chiaro_own.then(|| TEARDOWN_SIGNALS.to_vec()),
            oom_score_adj: self.oom_score_adj.clone(),
            process: ProcessRules {
                args,
                cwd,
                terminal: container.tty.unwrap_or(false),
                no_new_privileges: security.and_then(|s| s.allow_privilege_escalation)
                    == Some(false),
                user,
                capabilities,
                env: env_rules,
            },
            read_only_root: security
                .and_then(|s| s.read_only_root_filesystem)
                .unwrap_or(false),
            mounts,
            devices: gpu_devices(container),
            block_devices: container
                .volume_devices
                .iter()
                .map(|device| BlockDeviceRule {
                    path: device.device_path.clone(),
                    volume: device.name.clone(),
                })
                .collect(),
            privileged,
            rootfs_propagation: rootfs_propagation(container).to_owned(),
            exec,
        })
    }

    /// Image env, then envFrom, then env: a later definition of a name replaces an earlier one.
    fn environment(
        &self,
        container: &Container,
        image: &ImageConfig,
        pinned_secrets: &mut Vec<PinnedSecret>,
    ) -> Result<BTreeMap<String, EnvRule>, PolicyError> {
        let name = &container.name;
        let mut env = BTreeMap::new();
        for entry in &image.env {
            let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
            env.insert(key.to_owned(), EnvRule::exact(key, value));
        }
        for source in &container.env_from {
            let prefix = source.prefix.clone().unwrap_or_default();
            let (kind, reference) = match (&source.config_map_ref, &source.secret_ref) {
                (Some(reference), None) => (ConfigSourceKind::ConfigMap, reference),
                (None, Some(reference)) => (ConfigSourceKind::Secret, reference),
                _ => {
                    return Err(self.unsupported(
                        name,
                        "envFrom",
                        "each envFrom entry names exactly one ConfigMap or Secret",
                    ));
                }
            };
            let Some(data) = self.config.get(kind, &reference.name) else {
                if reference.optional == Some(true) {
                    continue;
                }
                return Err(PolicyError::MissingConfig {
                    container: name.clone(),
                    kind: kind_name(kind),
                    name: reference.name.clone(),
                    key: None,
                });
            };
            for (key, value) in &data.data {
                let variable = format!("{prefix}{key}");
                let value = self.text_value(name, &variable, value)?;
                let rule = self.config_rule(
                    kind,
                    name,
                    &variable,
                    &reference.name,
                    key,
                    &value,
                    pinned_secrets,
                );
                env.insert(variable, rule);
            }
        }
        for variable in &container.env {
            let rule = self.env_var_rule(container, variable, &env, pinned_secrets)?;
            if let Some(rule) = rule {
                env.insert(variable.name.clone(), rule);
            }
        }
        Ok(env)
    }

    fn text_value(
        &self,
        container: &str,
        variable: &str,
        value: &[u8],
    ) -> Result<String, PolicyError> {
        String::from_utf8(value.to_vec()).map_err(|_| {
            self.unsupported(
                container,
                &format!("env {variable}"),
                "the value is not UTF-8 text and cannot be an environment variable",
            )
        })
    }

    #[expect(clippy::too_many_arguments, reason = "one call site per source kind")]
    fn config_rule(
        &self,
        kind: ConfigSourceKind,
        container: &str,
        variable: &str,
        object: &str,
        key: &str,
        value: &str,
        pinned_secrets: &mut Vec<PinnedSecret>,
    ) -> EnvRule {
        if kind == ConfigSourceKind::Secret {
            if !self.options.pin_secret_values {
                return EnvRule::pattern(variable, "(?s)^.*$", true);
            }
            pinned_secrets.push(PinnedSecret {
                container: container.to_owned(),
                variable: variable.to_owned(),
                secret: object.to_owned(),
                key: key.to_owned(),
            });
        }
        EnvRule::exact(variable, value)
    }

    fn env_var_rule(
        &self,
        container: &Container,
        variable: &EnvVar,
        defined: &BTreeMap<String, EnvRule>,
        pinned_secrets: &mut Vec<PinnedSecret>,
    ) -> Result<Option<EnvRule>, PolicyError> {
        let name = &container.name;
        let key = variable.name.as_str();
        let Some(source) = &variable.value_from else {
            let value = variable.value.as_deref().unwrap_or_default();
            return Ok(Some(match expand(value, defined) {
                Expanded::Exact(value) => EnvRule::exact(key, &value),
                Expanded::Pattern(regex) => EnvRule::pattern(key, &format!("^{regex}$"), true),
            }));
        };
        let lookup = |kind, object: &str, item: &str, optional: Option<bool>| match self
            .config
            .get(kind, object)
            .and_then(|c| c.data.get(item))
        {
            Some(value) => Ok(Some(value.clone())),
            None if optional == Some(true) => Ok(None),
            None => Err(PolicyError::MissingConfig {
                container: name.clone(),
                kind: kind_name(kind),
                name: object.to_owned(),
                key: Some(item.to_owned()),
            }),
        };
        if let Some(selector) = &source.config_map_key_ref {
            let Some(value) = lookup(
                ConfigSourceKind::ConfigMap,
                &selector.name,
                &selector.key,
                selector.optional,
            )?
            else {
                return Ok(None);
            };
            return Ok(Some(EnvRule::exact(
                key,
                &self.text_value(name, key, &value)?,
            )));
        }
        if let Some(selector) = &source.secret_key_ref {
            let Some(value) = lookup(
                ConfigSourceKind::Secret,
                &selector.name,
                &selector.key,
                selector.optional,
            )?
            else {
                return Ok(None);
            };
            let value = self.text_value(name, key, &value)?;
            return Ok(Some(self.config_rule(
                ConfigSourceKind::Secret,
                name,
                key,
                &selector.name,
                &selector.key,
                &value,
                pinned_secrets,
            )));
        }
        if let Some(field) = &source.field_ref {
            return self.field_rule(name, key, &field.field_path).map(Some);
        }
        if source.resource_field_ref.is_some() {
            return Ok(Some(EnvRule::pattern(key, "^[0-9]+$", true)));
        }
        Err(self.unsupported(name, &format!("env {key}"), "valueFrom names no source"))
    }

    /// Downward-API values: pinned where the pod spec fixes them, patterns where the cluster
    /// decides them at run time.
    fn field_rule(&self, container: &str, key: &str, path: &str) -> Result<EnvRule, PolicyError> {
        let workload = self.workload;
        let quoted = |prefix: &str| {
            path.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix("']"))
                .map(str::to_owned)
        };
        let exact = |value: &str| EnvRule::exact(key, value);
        Ok(match path {
            "metadata.name" => EnvRule::sandbox(key, SandboxValue::Name, true),
            "metadata.namespace" => EnvRule::sandbox(key, SandboxValue::Namespace, true),
            "metadata.uid" => EnvRule::pattern(key, &format!("^{UUID_REGEX}$"), true),
            "spec.nodeName" => EnvRule::pattern(key, &format!("^{DNS_REGEX}$"), true),
            "spec.serviceAccountName" => exact(
                workload
                    .pod_spec
                    .service_account_name
                    .as_deref()
                    .or(workload.pod_spec.service_account.as_deref())
                    .unwrap_or("default"),
            ),
            "status.hostIP" | "status.podIP" => {
                EnvRule::pattern(key, &format!("^({IP_REGEX})$"), true)
            }
            "status.hostIPs" | "status.podIPs" => {
                EnvRule::pattern(key, &format!("^({IP_REGEX})(,({IP_REGEX}))*$"), true)
            }
            _ => {
                if let Some(label) = quoted("metadata.labels['") {
                    exact(workload.pod_labels.get(&label).map_or("", String::as_str))
                } else if let Some(annotation) = quoted("metadata.annotations['") {
                    exact(
                        workload
                            .pod_annotations
                            .get(&annotation)
                            .map_or("", String::as_str),
                    )
                } else {
                    return Err(self.unsupported(
                        container,
                        &format!("env {key}: fieldRef {path}"),
                        "this downward-API field is not supported",
                    ));
                }
            }
        })
    }

    /// Variables the kubelet and runtime add.
    fn platform_env(&self, container: &Container) -> Vec<EnvRule> {
        let mut rules = vec![EnvRule::sandbox("HOSTNAME", SandboxValue::Hostname, false)];
        let services = if self.workload.pod_spec.enable_service_links == Some(false) {
            "KUBERNETES".to_owned()
        } else {
            SERVICE_REGEX.to_owned()
        };
        let ip = format!("({IP_REGEX})");
        let url = format!("^(tcp|udp|sctp)://{ip}:{PORT_REGEX}$");
        rules.extend([
            EnvRule::patterns(&format!("^{services}_SERVICE_HOST$"), &format!("^{ip}$")),
            EnvRule::patterns(
                &format!("^{services}_SERVICE_PORT$"),
                &format!("^{PORT_REGEX}$"),
            ),
            EnvRule::patterns(
                &format!("^{services}_SERVICE_PORT_{DNS_REGEX}$"),
                &format!("^{PORT_REGEX}$"),
            ),
            EnvRule::patterns(&format!("^{services}_PORT$"), &url),
            EnvRule::patterns(
                &format!("^{services}_PORT_{PORT_REGEX}_(TCP|UDP|SCTP)$"),
                &url,
            ),
            EnvRule::patterns(
                &format!("^{services}_PORT_{PORT_REGEX}_(TCP|UDP|SCTP)_PROTO$"),
                "^(tcp|udp|sctp)$",
            ),
            EnvRule::patterns(
                &format!("^{services}_PORT_{PORT_REGEX}_(TCP|UDP|SCTP)_PORT$"),
                &format!("^{PORT_REGEX}$"),
            ),
            EnvRule::patterns(
                &format!("^{services}_PORT_{PORT_REGEX}_(TCP|UDP|SCTP)_ADDR$"),
                &format!("^{ip}$"),
            ),
        ]);
        if container.tty == Some(true) {
            rules.push(EnvRule {
                required: false,
                ..EnvRule::exact("TERM", "xterm")
            });
        }
        rules
    }

    /// Kubernetes' rules: `command` replaces the entrypoint, `args` the cmd; `$(VAR)` expands.
    fn args(
        &self,
        container: &Container,
        image: &ImageConfig,
        env: &BTreeMap<String, EnvRule>,
    ) -> Result<Vec<String>, PolicyError> {
        let raw: Vec<String> = match (&container.command, &container.args) {
            (Some(command), args) => command
                .iter()
                .chain(args.iter().flatten())
                .cloned()
                .collect(),
            (None, Some(args)) => image.entrypoint.iter().chain(args).cloned().collect(),
            (None, None) => image.entrypoint.iter().chain(&image.cmd).cloned().collect(),
        };
        if raw.is_empty() {
            return Err(self.unsupported(
                &container.name,
                "command",
                "neither the pod nor the image names a command",
            ));
        }
        raw.iter()
            .map(|arg| match expand(arg, env) {
                Expanded::Exact(text) => Ok(text),
                Expanded::Pattern(_) => Err(self.unsupported(
                    &container.name,
                    "command/args",
                    "an argument references a variable whose value is only known at run time",
                )),
            })
            .collect()
    }

    fn user(&self, container: &Container, image: &ImageConfig) -> Result<UserRules, PolicyError> {
        let pod = self.workload.pod_spec.security_context.as_ref();
        let own = container.security_context.as_ref();
        let (image_uid, image_gid) = parse_image_user(&image.user).ok_or_else(|| {
            self.unsupported(
                &container.name,
                "image User",
                &format!(
                    "the image runs as {:?}, a name the policy cannot resolve without the image's \
                     /etc/passwd; set securityContext.runAsUser and runAsGroup",
                    image.user
                ),
            )
        })?;
        let uid = own
            .and_then(|s| s.run_as_user)
            .or_else(|| pod.and_then(|s| s.run_as_user))
            .or(image_uid)
            .unwrap_or(0);
        let gid = own
            .and_then(|s| s.run_as_group)
            .or_else(|| pod.and_then(|s| s.run_as_group))
            .or(image_gid)
            .unwrap_or(0);
        let non_root = own
            .and_then(|s| s.run_as_non_root)
            .or_else(|| pod.and_then(|s| s.run_as_non_root))
            .unwrap_or(false);
        if non_root && uid == 0 {
            return Err(self.unsupported(
                &container.name,
                "securityContext.runAsNonRoot",
                &format!(
                    "runAsNonRoot is true but the container runs as UID 0 (image user {:?}); the \
                     kubelet would refuse to start it: set securityContext.runAsUser",
                    image.user
                ),
            ));
        }
        Ok(user_rules(uid, gid, pod))
    }

    fn capabilities(
        &self,
        container: &Container,
    ) -> Result<BTreeMap<String, Vec<String>>, PolicyError> {
        let mut set: BTreeSet<String> = DEFAULT_CAPABILITIES
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        let requested = container
            .security_context
            .as_ref()
            .and_then(|s| s.capabilities.as_ref());
        if let Some(requested) = requested {
            for drop in &requested.drop {
                if drop == "ALL" {
                    set.clear();
                } else {
                    set.remove(&capability_name(drop));
                }
            }
            for add in &requested.add {
                if add == "ALL" {
                    return Err(self.unsupported(
                        &container.name,
                        "securityContext.capabilities.add",
                        "ALL capabilities make the container as strong as the guest kernel",
                    ));
                }
                set.insert(capability_name(add));
            }
        }
        Ok(capability_sets(set))
    }

    /// A mount's propagation option: for an encrypted volume's directory (a memory emptyDir
    /// the volume owner mounts the file system on) `rshared` in the owner (`Bidirectional`)
    /// and `rslave` in the containers (`HostToContainer`); `rprivate` for any other mount, as
    /// Kata's runtime mounts pod volumes in the guest whatever the pod spec asks.
    fn propagation(
        &self,
        container: &str,
        mount: &VolumeMount,
        source: &VolumeSource,
    ) -> Result<&'static str, PolicyError> {
        let directory = self
            .workload
            .encrypted_volumes
            .iter()
            .any(|volume| volume.name.emptydir_volume() == mount.name);
        if !directory {
            return Ok("rprivate");
        }
        let propagation = mount.mount_propagation.as_deref().unwrap_or("None");
        match (propagation, source) {
            ("Bidirectional", VolumeSource::EmptyDir { memory: true })
                if container == VOLUME_OWNER_NAME =>
            {
                Ok("rshared")
            }
            ("HostToContainer", VolumeSource::EmptyDir { memory: true })
                if container != VOLUME_OWNER_NAME =>
            {
                Ok("rslave")
            }
            _ => Err(self.unsupported(
                container,
                &format!("volumeMounts {}: mountPropagation {propagation}", mount.name),
                "an encrypted volume's directory is mounted Bidirectional by its owner alone and HostToContainer by the containers, as generate writes it",
            )),
        }
    }

    fn mounts(
        &self,
        container: &Container,
        image: &ImageConfig,
    ) -> Result<Vec<MountRule>, PolicyError> {
        let name = &container.name;
        let mut mounts = Vec::new();
        for mount in &container.volume_mounts {
            let source = self.volumes.get(&mount.name).ok_or_else(|| {
                self.unsupported(
                    name,
                    &format!("volumeMounts {}", mount.name),
                    "no volume of this name in the pod",
                )
            })?;
            if mount.sub_path.is_some() {
                return Err(self.unsupported(
                    name,
                    &format!("volumeMounts {}: subPath", mount.name),
                    "subPath mounts are not supported yet; mount the whole volume",
                ));
            }
            let access = if mount.read_only == Some(true) {
                "ro"
            } else {
                "rw"
            };
            let propagation = self.propagation(name, mount, source)?;
            let rule =
                |source_regex: String, options: Vec<&str>, storage: Option<&str>| MountRule {
                    destination: mount.mount_path.clone(),
                    kind: "bind".to_owned(),
                    source_regex,
                    options: options.into_iter().map(str::to_owned).collect(),
                    optional_options: Vec::new(),
                    storage: storage.map(str::to_owned),
                    volume: Some(mount.name.clone()),
                    required: true,
                };
            mounts.push(match source {
                VolumeSource::EmptyDir { memory: false } => rule(
                    "^/run/kata-containers/sandbox/storage/[A-Za-z0-9+/=]+$".to_owned(),
                    vec!["rbind", "rprivate", access],
                    Some("emptydir_encrypted"),
                ),
                // The runtime names a memory emptyDir's directory after its volume: pinning
                // the name pins which volume this mount shows.
                VolumeSource::EmptyDir { memory: true } => rule(
                    format!("^{EPHEMERAL_DIR}/{}$", regex_escape(&mount.name)),
                    vec!["rbind", propagation, access],
                    Some("emptydir_memory"),
                ),
                VolumeSource::EncryptedBlock => {
                    return Err(self.unsupported(
                        name,
                        &format!("volumeMounts {}", mount.name),
                        "an encrypted volume is mounted through its volume owner's directory, which generate writes; generate the workload first",
                    ));
                }
                // The runtime names a shared entry after the mount point's last component.
                VolumeSource::ConfigMap { .. }
                | VolumeSource::Secret { .. }
                | VolumeSource::Projected => rule(
                    shared_file_regex(&mount.mount_path),
                    vec!["rbind", "rprivate", "ro"],
                    None,
                ),
            });
        }
        // Image VOLUMEs not covered by a pod volume: the runtime shares a host directory.
        for volume in &image.volumes {
            let path = volume.trim_end_matches('/');
            if container
                .volume_mounts
                .iter()
                .any(|m| m.mount_path.trim_end_matches('/') == path)
            {
                continue;
            }
            // containerd would mount a host directory there, inside the decrypted file
            // system: the workload's data under it would be the host's, in plain.
            if let Some(mount) = container.volume_mounts.iter().find(|m| {
                m.name.starts_with(EMPTYDIR_PREFIX) && is_at_or_under(path, &m.mount_path)
            }) {
                return Err(self.unsupported(
                    name,
                    &format!("image VOLUME {path}"),
                    &format!(
                        "it lies in the encrypted volume mounted at {}, where containerd would mount a host directory in plain; mount the encrypted volume at {path}",
                        mount.mount_path
                    ),
                ));
            }
            mounts.push(MountRule {
                destination: path.to_owned(),
                kind: "bind".to_owned(),
                source_regex: shared_file_regex(path),
                options: ["rbind", "rprivate", "rw"].map(str::to_owned).to_vec(),
                optional_options: Vec::new(),
                storage: None,
                volume: None,
                required: false,
            });
        }
        Ok(mounts)
    }
}

/// Whether `path` is `dir` or below it, component by component.
fn is_at_or_under(path: &str, dir: &str) -> bool {
    let components = |text: &'_ str| -> Vec<String> {
        text.split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .map(str::to_owned)
            .collect()
    };
    components(path).starts_with(&components(dir))
}

/// The root's propagation containerd gives a container: `rshared` with a `Bidirectional`
/// mount, else `rslave` with a `HostToContainer` mount, else none (private).
fn rootfs_propagation(container: &Container) -> &'static str {
    let propagations: Vec<Option<&str>> = container
        .volume_mounts
        .iter()
        .map(|mount| mount.mount_propagation.as_deref())
        .collect();
    if propagations.contains(&Some("Bidirectional")) {
        "rshared"
    } else if propagations.contains(&Some("HostToContainer")) {
        "rslave"
    } else {
        ""
    }
}

/// `/sys` and the cgroup file system writable, as containerd mounts them for a privileged
/// container (the volume owner).
fn writable_system_mounts() -> Vec<MountRule> {
    [
        ("/sys", "sysfs", vec!["nosuid", "noexec", "nodev", "rw"]),
        (
            "/sys/fs/cgroup",
            "cgroup",
            vec!["nosuid", "noexec", "nodev", "relatime", "rw"],
        ),
    ]
    .into_iter()
    .map(|(destination, kind, options)| MountRule {
        destination: destination.to_owned(),
        kind: kind.to_owned(),
        source_regex: format!("^{kind}$"),
        options: options.into_iter().map(str::to_owned).collect(),
        optional_options: ["nsdelegate", "memory_recursiveprot"]
            .map(str::to_owned)
            .to_vec(),
        storage: None,
        volume: None,
        required: false,
    })
    .collect()
}

/// GPUs requested through `nvidia.com/pgpu` or `nvidia.com/gpu` limits, passed as VFIO devices
/// named by CDI annotations.
fn gpu_devices(container: &Container) -> Vec<DeviceRule> {
    let Some(resources) = &container.resources else {
        return Vec::new();
    };
    let count: u32 = ["nvidia.com/pgpu", "nvidia.com/gpu"]
        .iter()
        .filter_map(|key| resources.limits.get(*key))
        .filter_map(|value| match value {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        })
        .sum();
    if count == 0 {
        return Vec::new();
    }
    vec![DeviceRule {
        annotation_key_regex: "^cdi\\.k8s\\.io/vfio[0-9]+$".to_owned(),
        annotation_key_prefix: "cdi.k8s.io/vfio".to_owned(),
        annotation_value_regex: "^nvidia\\.com/gpu=[0-9]+$".to_owned(),
        count,
        kind: "vfio-pci-gk".to_owned(),
        path_prefix: "/dev/vfio/devices/vfio".to_owned(),
    }]
}

/// The entry the runtime shares into the container from the host for a mount at `destination`
/// (volume files, image volumes): named after the destination's last component.
fn shared_file_regex(destination: &str) -> String {
    let trimmed = destination.trim_end_matches('/');
    let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
    format!("{SHARED_FILE_PREFIX}{}$", regex_escape(name))
}

fn kind_name(kind: ConfigSourceKind) -> &'static str {
    match kind {
        ConfigSourceKind::ConfigMap => "ConfigMap",
        ConfigSourceKind::Secret => "Secret",
    }
}

fn capability_name(name: &str) -> String {
    if name.starts_with("CAP_") {
        name.to_owned()
    } else {
        format!("CAP_{name}")
    }
}

/// `uid`, `uid:gid` or empty; `None` when a part is a name.
fn parse_image_user(user: &str) -> Option<(Option<u32>, Option<u32>)> {
    if user.is_empty() {
        return Some((None, None));
    }
    let (uid, gid) = match user.split_once(':') {
        Some((uid, gid)) => (uid, Some(gid)),
        None => (user, None),
    };
    let uid = uid.parse().ok()?;
    let gid = match gid {
        Some(gid) => Some(gid.parse().ok()?),
        None => None,
    };
    Some((Some(uid), gid))
}

enum Expanded {
    Exact(String),
    /// A regular expression (without anchors) for a value with run-time parts.
    Pattern(String),
}

/// Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` is a literal `$`,
/// undefined references stay as written.
fn expand(text: &str, env: &BTreeMap<String, EnvRule>) -> Expanded {
    let mut exact = String::new();
    let mut pattern = String::new();
    let mut dynamic = false;
    let mut rest = text;
    while let Some((literal, after_dollar)) = rest.split_once('$') {
        exact.push_str(literal);
        pattern.push_str(&regex_escape(literal));
        if let Some(after) = after_dollar.strip_prefix('$') {
            exact.push('$');
            pattern.push_str("\\$");
            rest = after;
            continue;
        }
        // `$(NAME)`: the name, and what follows the `)`.
        let reference = after_dollar
            .strip_prefix('(')
            .and_then(|inner| inner.split_once(')'));
        match reference.and_then(|(name, after)| env.get(name).map(|rule| (rule, after))) {
            Some((rule, after)) => {
                if let Some(value) = &rule.value {
                    exact.push_str(value);
                    pattern.push_str(&regex_escape(value));
                } else {
                    dynamic = true;
                    let regex = rule.value_regex.as_deref().unwrap_or(".*");
                    pattern.push_str(&format!(
                        "({})",
                        regex.trim_start_matches('^').trim_end_matches('$')
                    ));
                }
                rest = after;
            }
            None => {
                exact.push('$');
                pattern.push_str("\\$");
                rest = after_dollar;
            }
        }
    }
    exact.push_str(rest);
    pattern.push_str(&regex_escape(rest));
    if dynamic {
        Expanded::Pattern(pattern)
    } else {
        Expanded::Exact(exact)
    }
}

impl From<K8sError> for PolicyError {
    fn from(error: K8sError) -> Self {
        Self::Input(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, EnvRule> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), EnvRule::exact(k, v)))
            .collect()
    }

    #[test]
    fn expansion_follows_kubernetes() {
        let defined = env(&[("A", "x")]);
        let Expanded::Exact(text) = expand("$(A)-$$(A)-$(B)-$", &defined) else {
            panic!("exact expected");
        };
        assert_eq!(text, "x-$(A)-$(B)-$");
    }

    #[test]
    fn expansion_of_run_time_values_is_a_pattern() {
        let mut defined = env(&[]);
        defined.insert("IP".to_owned(), EnvRule::pattern("IP", "^[0-9.]+$", true));
        let Expanded::Pattern(regex) = expand("http://$(IP):80", &defined) else {
            panic!("pattern expected");
        };
        assert_eq!(regex, "http://([0-9.]+):80");
    }

    #[test]
    fn image_users() {
        assert_eq!(parse_image_user(""), Some((None, None)));
        assert_eq!(parse_image_user("10:20"), Some((Some(10), Some(20))));
        assert_eq!(parse_image_user("nobody"), None);
    }
}
