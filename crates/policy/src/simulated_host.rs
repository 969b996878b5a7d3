//! What a well-behaved Kata host (kubelet, containerd, the Kata shim) sends the agent to start a
//! pod, derived from the pod's policy data: `CreateContainerRequest`s in the shapes containerd
//! and the shim produce (system mounts, namespaces, storages, annotations).
//!
//! This is a *simulation* of the untrusted side, for local mode and tests: it shows the agent's
//! decisions on honest requests, and lets a tamper step change one field and see the refusal.
//! It cannot invent values the policy only constrains by pattern (downward-API fields), and
//! says so.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::{ContainerRules, PolicyData, PolicyError};

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

/// The name the sandbox ("pause") container has among a pod's containers.
pub const SANDBOX: &str = "sandbox";

/// A container's bundle (and container) id: 64 hex, stable per pod and container name.
pub fn bundle_id(pod: &SimulatedPod, container: &str) -> String {
    hex::encode(Sha256::digest(format!(
        "{}/{}/{container}",
        pod.namespace, pod.name
    )))
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
    let (rules, kind) = if container == SANDBOX {
        (&data.sandbox, "sandbox")
    } else {
        let rules = data
            .containers
            .get(container)
            .ok_or_else(|| unsupported(container, "no such container in the policy".to_owned()))?;
        (rules, "container")
    };
    let id = bundle_id(pod, container);
    let platform = &data.platform;
    let shared =
        |file: &str| format!("/run/kata-containers/shared/containers/{id}-0123456789abcdef-{file}");
    let mut mounts = vec![
        json!({"destination": "/proc", "type_": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type_": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/sys", "type_": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/dev/shm", "type_": "bind", "source": "/run/kata-containers/sandbox/shm", "options": ["rbind"]}),
    ];
    let image = rules
        .images
        .iter()
        .find(|name| {
            name.split_once('@').is_some_and(|(name, _)| {
                !name[name.rfind('/').map_or(0, |i| i + 1)..].contains(':')
            })
        })
        .or_else(|| rules.images.first())
        .ok_or_else(|| unsupported(container, "no image".to_owned()))?;
    let mut storages = vec![json!({
        "driver": "image_guest_pull", "driver_options": [], "fs_group": null, "fstype": "overlay",
        "mount_point": format!("{}{id}/rootfs", platform.guest_container_dir), "options": [],
        "source": image,
    })];
    if kind == "container" {
        mounts.push(json!({"destination": "/etc/hosts", "type_": "bind", "source": shared("hosts"), "options": ["rbind", "rprivate", "rw"]}));
        mounts.push(json!({"destination": "/etc/resolv.conf", "type_": "bind", "source": shared("resolv.conf"), "options": ["rbind", "rprivate", "rw"]}));
        for (index, mount) in rules.mounts.iter().enumerate() {
            let (source, storage) = match mount.storage.as_deref() {
                Some(kind @ "emptydir_memory") => {
                    let source = format!("/run/kata-containers/sandbox/ephemeral/volume{index}");
                    (source.clone(), Some((kind, "tmpfs".to_owned(), source)))
                }
                Some(kind @ "emptydir_encrypted") => {
                    let device = format!("{index:x}/0");
                    let point = format!(
                        "{}/{}",
                        platform.block_storage_dir,
                        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &device)
                    );
                    (point.clone(), Some((kind, device, point)))
                }
                Some(other) => {
                    return Err(unsupported(container, format!("storage kind {other}")));
                }
                None => {
                    let file: String = mount
                        .destination
                        .rsplit('/')
                        .next()
                        .unwrap_or("volume")
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                                c
                            } else {
                                '_'
                            }
                        })
                        .collect();
                    (shared(&file), None)
                }
            };
            mounts.push(json!({"destination": mount.destination, "type_": mount.kind, "source": source, "options": mount.options}));
            if let Some((kind, device, point)) = storage {
                let template = platform
                    .storages
                    .get(kind)
                    .ok_or_else(|| unsupported(container, format!("storage kind {kind}")))?;
                storages.push(json!({
                    "driver": template.driver, "driver_options": template.driver_options,
                    "fs_group": null, "fstype": template.fstype, "mount_point": point,
                    "options": template.options, "source": device,
                }));
            }
        }
    }
    let mut env = Vec::new();
    for rule in rules.process.env.iter().filter(|rule| rule.required) {
        match (&rule.name, &rule.value) {
            (Some(name), Some(value)) => env.push(format!("{name}={value}")),
            (Some(name), None) if name == "HOSTNAME" => env.push(format!("HOSTNAME={}", pod.name)),
            _ => {
                return Err(unsupported(
                    container,
                    format!(
                        "env {}: only a pattern is pinned (a downward-API value)",
                        rule.name.as_deref().unwrap_or("?")
                    ),
                ));
            }
        }
    }
    let mut annotations = json!({
        "io.katacontainers.pkg.oci.bundle_path": format!("{}{id}", platform.bundle_path_prefix),
        "io.kubernetes.cri.container-type": kind,
        "io.kubernetes.cri.sandbox-name": pod.name,
        "io.kubernetes.cri.sandbox-namespace": pod.namespace,
        "io.kubernetes.cri.sandbox-id": bundle_id(pod, SANDBOX),
    });
    if kind == "container" {
        annotations["io.kubernetes.cri.container-name"] = json!(container);
        annotations["io.kubernetes.cri.image-name"] = json!(image);
    }
    let mut namespaces: Vec<Value> = platform
        .namespaces
        .iter()
        .map(|namespace| json!({"Type": namespace.kind, "Path": namespace.path}))
        .collect();
    if kind == "sandbox" {
        namespaces.push(json!({"Type": "network", "Path": pod.netns}));
    }
    Ok(json!({
        "container_id": id,
        "exec_id": id,
        "OCI": {
            "Annotations": annotations,
            "Hooks": null,
            "Hostname": "",
            "Linux": {
                "MaskedPaths": platform.masked_paths,
                "ReadonlyPaths": platform.readonly_paths,
                "Namespaces": namespaces,
                "Sysctl": data.pod.sysctls,
                "Devices": [],
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
            },
            "Root": {"Path": format!("{}{id}/rootfs", platform.guest_container_dir), "Readonly": rules.read_only_root},
            "Version": "1.1.0",
        },
        "storages": storages,
        "devices": [],
        "sandbox_pidns": false,
        "string_user": null,
    }))
}
