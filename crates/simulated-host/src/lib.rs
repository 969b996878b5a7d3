//! What a well-behaved Kata host (kubelet, containerd, the Kata shim) sends the agent to start a
//! pod, derived from the pod's policy data: `CreateSandboxRequest`, `CreateContainerRequest`s in
//! the shapes containerd and the shim produce (system mounts, namespaces, storages,
//! annotations) and `StartContainerRequest`s, also for a restarted container's new instance.
//!
//! This is a *simulation* of the untrusted side, for local mode (`chiaro local run` and
//! `tamper`) and tests: it shows the agent's decisions on honest requests, and lets a tamper
//! step change one field and see the refusal. It cannot invent values the policy only
//! constrains by pattern (downward-API fields), and says so.
//!
//! A crate of its own so that production policy code cannot reach it: `chiaro-policy` does not
//! depend on it (its integration tests do, as a dev-dependency).

mod copy_files;

pub use copy_files::{DATA_DIR, volume_copy_requests, volume_update_requests};

use chiaro_policy::{ContainerRules, EPHEMERAL_DIR, PolicyData, PolicyError, SandboxValue};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The pod as the host names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedPod {
    /// The pod name (matches the policy's pod-name pattern).
    pub name: String,
    /// The namespace.
    pub namespace: String,
    /// The network namespace the CNI created.
    pub netns: String,
}

/// The guest path of a container's shared entry for the mount at `destination` (a shared file,
/// or a volume), as the runtime names it: `<id>-<16 random hex>-<destination's last component>`
/// (the simulation's "random" hex is derived from the destination).
pub fn shared_entry(container_id: &str, destination: &str) -> String {
    let destination = destination.trim_end_matches('/');
    let name = destination.rsplit('/').next().unwrap_or(destination);
    let random = hex::encode(Sha256::digest(destination).get(..8).unwrap_or_default());
    format!("/run/kata-containers/shared/containers/{container_id}-{random}-{name}")
}

/// The name the sandbox ("pause") container has among a pod's containers.
pub const SANDBOX: &str = "sandbox";

/// A container's bundle (and container) id: 64 hex, stable per pod and container name.
pub fn bundle_id(pod: &SimulatedPod, container: &str) -> String {
    instance_id(pod, container, 0)
}

/// The bundle (and container) id of a container's `instance`th instance (0 for the first; a
/// restart is a new container with a new id).
pub fn instance_id(pod: &SimulatedPod, container: &str, instance: u32) -> String {
    let name = format!("{}/{}/{container}", pod.namespace, pod.name);
    hex::encode(Sha256::digest(if instance == 0 {
        name
    } else {
        format!("{name}#{instance}")
    }))
}

/// The host name the kubelet gives the pod: `spec.hostname`, else its name cut to 63
/// characters without a trailing `-` or `.`.
pub fn pod_hostname(data: &PolicyData, pod: &SimulatedPod) -> String {
    match &data.pod.hostname {
        Some(hostname) => hostname.clone(),
        None if pod.name.len() <= 63 => pod.name.clone(),
        None => pod
            .name
            .get(..63)
            .unwrap_or(&pod.name)
            .trim_end_matches(['-', '.'])
            .to_owned(),
    }
}

/// The `CreateSandboxRequest` the Kata runtime sends before any container.
pub fn create_sandbox_request(data: &PolicyData, pod: &SimulatedPod) -> Value {
    json!({
        "hostname": pod_hostname(data, pod),
        "dns": [],
        "storages": data.platform.sandbox_storages,
        "sandbox_pidns": data.pod.share_process_namespace,
        "sandbox_id": bundle_id(pod, SANDBOX),
        "guest_hook_path": "",
        "kernel_modules": [],
    })
}

/// The `StartContainerRequest` for a container's `instance`th instance.
pub fn start_container_request(pod: &SimulatedPod, container: &str, instance: u32) -> Value {
    json!({"container_id": instance_id(pod, container, instance)})
}

/// The order a kubelet creates the pod's containers in: the sandbox, the init containers in
/// order, then the others (by name; the kubelet starts them together).
pub fn creation_order(data: &PolicyData) -> Vec<String> {
    let mut containers: Vec<(&String, &ContainerRules)> = data.containers.iter().collect();
    containers.sort_by_key(|(name, rules)| (rules.after.len(), (*name).clone()));
    std::iter::once(SANDBOX.to_owned())
        .chain(containers.into_iter().map(|(name, _)| name.clone()))
        .collect()
}

fn unsupported(container: &str, what: String) -> PolicyError {
    PolicyError::Unsupported {
        workload: container.to_owned(),
        field: what,
        hint: "the simulated host cannot produce this; a real host does".to_owned(),
    }
}

/// The `CreateContainerRequest` a well-behaved host sends for `container` (or [`SANDBOX`]).
///
/// # Errors
/// [`PolicyError::Unsupported`] for an unknown container, or a variable or storage the
/// simulation cannot produce.
pub fn create_container_request(
    data: &PolicyData,
    pod: &SimulatedPod,
    container: &str,
) -> Result<Value, PolicyError> {
    create_instance_request(data, pod, container, 0)
}

/// The `CreateContainerRequest` for `container`'s `instance`th instance: the kubelet's restart
/// of a container that ended is the same request with a new container id.
///
/// # Errors
/// As [`create_container_request`].
pub fn create_instance_request(
    data: &PolicyData,
    pod: &SimulatedPod,
    container: &str,
    instance: u32,
) -> Result<Value, PolicyError> {
    let (rules, kind) = if container == SANDBOX {
        (&data.sandbox, "sandbox")
    } else {
        let rules = data
            .containers
            .get(container)
            .ok_or_else(|| unsupported(container, "no such container in the policy".to_owned()))?;
        (rules, "container")
    };
    let instance = Instance {
        data,
        pod,
        container,
        rules,
        kind,
        id: instance_id(pod, container, instance),
        hostname: pod_hostname(data, pod),
    };
    let image = instance.image()?;
    let (mounts, storages) = instance.mounts_and_storages(image)?;
    let env = instance.env()?;
    Ok(instance.request(image, mounts, storages, env))
}

/// One container instance as the host creates it.
struct Instance<'a> {
    data: &'a PolicyData,
    pod: &'a SimulatedPod,
    container: &'a str,
    rules: &'a ContainerRules,
    /// `sandbox` or `container`.
    kind: &'static str,
    id: String,
    hostname: String,
}

impl Instance<'_> {
    /// The image the host pulls: the one the pod spec names (a tag and a digest), else the
    /// first the policy allows.
    fn image(&self) -> Result<&str, PolicyError> {
        self.rules
            .images
            .iter()
            .find(|name| {
                name.split_once('@').is_some_and(|(name, _)| {
                    !name[name.rfind('/').map_or(0, |i| i + 1)..].contains(':')
                })
            })
            .or_else(|| self.rules.images.first())
            .map(String::as_str)
            .ok_or_else(|| unsupported(self.container, "no image".to_owned()))
    }

    fn shared(&self, destination: &str) -> String {
        shared_entry(&self.id, destination)
    }

    /// The OCI mounts (system ones, then the pod's volumes) and the agent's storages (the
    /// image, then memory-backed or encrypted volumes).
    fn mounts_and_storages(&self, image: &str) -> Result<(Vec<Value>, Vec<Value>), PolicyError> {
        let platform = &self.data.platform;
        let sys_access = if self.rules.privileged { "rw" } else { "ro" };
        let mut mounts = vec![
            json!({"destination": "/proc", "type_": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
            json!({"destination": "/dev", "type_": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
            json!({"destination": "/sys", "type_": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", sys_access]}),
            json!({"destination": "/dev/shm", "type_": "bind", "source": "/run/kata-containers/sandbox/shm", "options": ["rbind"]}),
        ];
        let mut storages = vec![json!({
            "driver": "image_guest_pull", "driver_options": [], "fs_group": null, "fstype": "overlay",
            "mount_point": format!("{}{}/rootfs", platform.guest_container_dir, self.id), "options": [],
            "source": image,
        })];
        if self.kind != "container" {
            return Ok((mounts, storages));
        }
        mounts.push(json!({"destination": "/etc/hosts", "type_": "bind", "source": self.shared("/etc/hosts"), "options": ["rbind", "rprivate", "rw"]}));
        mounts.push(json!({"destination": "/etc/resolv.conf", "type_": "bind", "source": self.shared("/etc/resolv.conf"), "options": ["rbind", "rprivate", "rw"]}));
        // A privileged container's writable /sys and cgroup file system are its own rules.
        for mount in self
            .rules
            .mounts
            .iter()
            .filter(|mount| mount.destination != "/sys")
        {
            if mount.destination == "/sys/fs/cgroup" {
                mounts.push(json!({"destination": mount.destination, "type_": mount.kind, "source": mount.kind, "options": mount.options}));
                continue;
            }
            let (source, storage) = self.volume_source(mount)?;
            mounts.push(json!({"destination": mount.destination, "type_": mount.kind, "source": source, "options": mount.options}));
            if let Some((kind, device, point)) = storage {
                let template = platform
                    .storages
                    .get(kind)
                    .ok_or_else(|| unsupported(self.container, format!("storage kind {kind}")))?;
                storages.push(json!({
                    "driver": template.driver, "driver_options": template.driver_options,
                    "fs_group": null, "fstype": template.fstype, "mount_point": point,
                    "options": template.options, "source": device,
                }));
            }
        }
        Ok((mounts, storages))
    }

    /// Where a volume mount's source is, and the storage the agent mounts there, if any:
    /// `(storage kind, device, mount point)`.
    #[expect(clippy::type_complexity, reason = "a private helper's one return")]
    fn volume_source<'m>(
        &self,
        mount: &'m chiaro_policy::MountRule,
    ) -> Result<(String, Option<(&'m str, String, String)>), PolicyError> {
        let volume = mount.volume.as_deref().unwrap_or("volume");
        Ok(match mount.storage.as_deref() {
            Some(kind @ "emptydir_memory") => {
                let source = format!("{EPHEMERAL_DIR}/{volume}");
                (source.clone(), Some((kind, "tmpfs".to_owned(), source)))
            }
            Some(kind @ "emptydir_encrypted") => {
                // The runtime attaches one device per volume.
                let device = format!("{}/0", hex::encode(&Sha256::digest(volume)[..2]));
                let point = format!(
                    "{}/{}",
                    self.data.platform.block_storage_dir,
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &device)
                );
                (point.clone(), Some((kind, device, point)))
            }
            Some(other) => {
                return Err(unsupported(self.container, format!("storage kind {other}")));
            }
            None => (self.shared(&mount.destination), None),
        })
    }

    /// The required environment with its pinned values (a container also gets `HOSTNAME`);
    /// a value the policy only constrains by pattern cannot be invented.
    fn env(&self) -> Result<Vec<String>, PolicyError> {
        let mut env = Vec::new();
        for rule in self.rules.process.env.iter().filter(|rule| rule.required) {
            match (&rule.name, &rule.value, rule.sandbox_value) {
                (Some(name), Some(value), _) => env.push(format!("{name}={value}")),
                (Some(name), None, Some(field)) => env.push(format!(
                    "{name}={}",
                    match field {
                        SandboxValue::Name => &self.pod.name,
                        SandboxValue::Namespace => &self.pod.namespace,
                        SandboxValue::Hostname => &self.hostname,
                    }
                )),
                _ => {
                    return Err(unsupported(
                        self.container,
                        format!(
                            "env {}: only a pattern is pinned (a downward-API value)",
                            rule.name.as_deref().unwrap_or("?")
                        ),
                    ));
                }
            }
        }
        if self.kind == "container" && !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
            env.push(format!("HOSTNAME={}", self.hostname));
        }
        Ok(env)
    }

    /// The CRI annotations containerd sets.
    fn annotations(&self, image: &str) -> Value {
        let platform = &self.data.platform;
        let mut annotations = json!({
            "io.katacontainers.pkg.oci.bundle_path": format!("{}{}", platform.bundle_path_prefix, self.id),
            "io.kubernetes.cri.container-type": self.kind,
            "io.kubernetes.cri.sandbox-name": self.pod.name,
            "io.kubernetes.cri.sandbox-namespace": self.pod.namespace,
            "io.kubernetes.cri.sandbox-id": bundle_id(self.pod, SANDBOX),
        });
        if self.kind == "container" {
            annotations["io.kubernetes.cri.container-name"] = json!(self.container);
            annotations["io.kubernetes.cri.image-name"] = json!(image);
        }
        annotations
    }

    /// The Linux namespaces (the sandbox also gets the CNI's network namespace).
    fn namespaces(&self) -> Vec<Value> {
        let mut namespaces: Vec<Value> = self
            .data
            .platform
            .namespaces
            .iter()
            .map(|namespace| json!({"Type": namespace.kind, "Path": namespace.path}))
            .collect();
        if self.kind == "sandbox" {
            namespaces.push(json!({"Type": "network", "Path": self.pod.netns}));
        }
        namespaces
    }

    /// The encrypted volumes' block devices as the runtime hot-plugs them (virtio-blk, one PCI
    /// slot per volume).
    fn devices(&self) -> Vec<Value> {
        self.rules
            .block_devices
            .iter()
            .map(|device| {
                json!({
                    "id": format!("02/{:02x}", slot(&device.volume)),
                    "type_": "blk",
                    "vm_path": "",
                    "container_path": device.path,
                    "options": [],
                })
            })
            .collect()
    }

    /// The OCI spec's nodes of those devices, with the host's numbers (the agent sets the
    /// guest's).
    fn device_nodes(&self) -> Vec<Value> {
        self.rules
            .block_devices
            .iter()
            .map(|device| {
                json!({
                    "Path": device.path, "Type": "b", "Major": 259, "Minor": slot(&device.volume),
                    "FileMode": 432, "UID": 0, "GID": 0,
                })
            })
            .collect()
    }

    /// The whole request.
    fn request(
        &self,
        image: &str,
        mounts: Vec<Value>,
        storages: Vec<Value>,
        env: Vec<String>,
    ) -> Value {
        let (platform, rules, id, kind) = (&self.data.platform, self.rules, &self.id, self.kind);
        // containerd masks nothing for a privileged container (the volume owner), and allows it
        // every device.
        let (masked, readonly): (&[String], &[String]) = if rules.privileged {
            (&[], &[])
        } else {
            (&platform.masked_paths, &platform.readonly_paths)
        };
        let device_rules = if rules.privileged {
            json!([{"Allow": true, "Type": "a", "Major": null, "Minor": null, "Access": "rwm"}])
        } else {
            json!([])
        };
        json!({
            "container_id": id,
            "exec_id": id,
            "OCI": {
                "Annotations": self.annotations(image),
                "Hooks": null,
                "Hostname": if kind == "sandbox" { self.hostname.as_str() } else { "" },
                "Linux": {
                    "MaskedPaths": masked,
                    "ReadonlyPaths": readonly,
                    "Namespaces": self.namespaces(),
                    "Sysctl": if kind == "sandbox" { json!(self.data.pod.sysctls) } else { json!({}) },
                    "Devices": self.device_nodes(),
                    "Resources": {"Devices": device_rules},
                    "RootfsPropagation": rules.rootfs_propagation,
                    "Seccomp": null,
                },
                "Mounts": mounts,
                "Process": {
                    "Args": rules.process.args,
                    "Cwd": rules.process.cwd,
                    "Env": env,
                    "NoNewPrivileges": rules.process.no_new_privileges,
                    "Terminal": false,
                    "User": {"UID": rules.process.user.uid, "GID": rules.process.user.gid, "AdditionalGids": rules.process.user.additional_gids, "Username": ""},
                    "Capabilities": rules.process.capabilities,
                    "ApparmorProfile": platform.apparmor_profiles.first().cloned().unwrap_or_default(),
                    "SelinuxLabel": "",
                    "Rlimits": [],
                    "OOMScoreAdj": rules.oom_score_adj.last().map_or(0, |range| range.max),
                },
                "Root": {"Path": format!("{}{id}/rootfs", platform.guest_container_dir), "Readonly": rules.read_only_root},
                "Version": "1.1.0",
            },
            "storages": storages,
            "devices": self.devices(),
            "shared_mounts": [],
            "sandbox_pidns": false,
            "string_user": null,
        })
    }
}

/// The PCI slot the runtime gives a volume's device: one per volume, the same in every container.
fn slot(volume: &str) -> u8 {
    Sha256::digest(volume)[0]
}
