//! Rewriting a workload's pod template for Chiaro: the runtime class, the initializer init
//! container, the credentials volume, pinned images and annotations. Pure JSON rewriting;
//! every step is idempotent, so rewriting a rewritten workload changes nothing.

use std::collections::BTreeMap;

use chiaro_pod::layout::{MESH_READY_FILE, MESH_STATUS_PORT, MOUNT, READY_PATH};
use chiaro_pod::{InitializerEnv, MeshArgs, MeshEnv, ProbeTable};
use serde_json::{Map, Value, json};

use chiaro_start::VerifiedFile;

use crate::probes::{move_probes, previous_table, restore_probes};
use crate::start_gate::{ImageCommand, gate_container, gate_exec_handlers};
use crate::volume_owner::{VOLUME_OWNER_NAME, VolumeOwner};
use crate::{DocumentId, K8sError, WorkloadKind};

/// The runtime class of Chiaro's confidential pods.
pub const RUNTIME_CLASS: &str = "chiaro-cc";
/// The init container that attests the pod and fetches its credentials.
pub const INITIALIZER_NAME: &str = "chiaro-initializer";
/// The in-memory volume the initializer writes credentials to (mounted at
/// [`chiaro_pod::layout::MOUNT`]).
pub const CREDENTIALS_VOLUME: &str = "chiaro-credentials";
/// The mesh proxy, a native sidecar started right after the initializer.
pub const MESH_NAME: &str = "chiaro-mesh";

/// What to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// The initializer's image (pinned by digest).
    pub initializer_image: String,
    /// The initializer's environment.
    pub initializer_env: InitializerEnv,
    /// The mesh proxy, when the pod asks for one.
    pub mesh: Option<MeshSidecar>,
    /// The volume owner, when the pod has encrypted volumes.
    pub volume_owner: Option<VolumeOwner>,
    /// The runtime class to set.
    pub runtime_class: String,
    /// The own command of each container image, keyed by the image as the pod spec names it
    /// (needed for containers whose pod spec sets no `command`).
    pub images: BTreeMap<String, ImageCommand>,
    /// The ConfigMap and Secret files each container mounts whose content its start gate
    /// checks, by container name.
    pub verified_files: BTreeMap<String, Vec<VerifiedFile>>,
}

/// The mesh proxy's image and configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshSidecar {
    /// Its image (pinned by digest).
    pub image: String,
    /// The ingress annotation's value ([`chiaro_pod::env::MESH_INGRESS`]).
    pub ingress: String,
    /// The egress annotation's value ([`chiaro_pod::env::MESH_EGRESS`]).
    pub egress: String,
}

impl MeshSidecar {
    /// The container: a native sidecar (`restartPolicy: Always`) in transparent mode, with
    /// `NET_ADMIN` only (for the pod's firewall rules), and a startup probe on its readiness so
    /// the kubelet starts nothing after it before it is ready. It runs as root even in a pod
    /// with `runAsNonRoot` (a non-root process gets no effective capabilities from Kubernetes);
    /// it writes [`MESH_READY_FILE`] into the credentials volume, which it mounts writable.
    /// `probes` are the workload's probes it runs for the kubelet.
    fn container(&self, probes: ProbeTable) -> Value {
        let env = MeshEnv {
            ingress: self.ingress.clone(),
            egress: self.egress.clone(),
            probes,
        };
        json!({
            "name": MESH_NAME,
            "image": self.image,
            "restartPolicy": "Always",
            "args": MeshArgs::sidecar().args(),
            "env": env_list(&env.vars()),
            "volumeMounts": [{"name": CREDENTIALS_VOLUME, "mountPath": MOUNT}],
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "runAsUser": 0,
                "runAsNonRoot": false,
                "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
            },
            "startupProbe": {
                "httpGet": {"path": READY_PATH, "port": MESH_STATUS_PORT},
                "periodSeconds": 1,
                "failureThreshold": 300,
            },
        })
    }
}

/// A container's `env` list.
fn env_list(vars: &[(String, String)]) -> Vec<Value> {
    vars.iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect()
}

fn template_mut<'a>(
    value: &'a mut Value,
    kind: WorkloadKind,
    at: &DocumentId,
) -> Result<&'a mut Map<String, Value>, K8sError> {
    value
        .pointer_mut(kind.template_pointer())
        .and_then(Value::as_object_mut)
        .ok_or_else(|| K8sError::Invalid {
            at: at.clone(),
            path: kind
                .template_pointer()
                .trim_start_matches('/')
                .replace('/', "."),
            detail: "no pod template".to_owned(),
        })
}

fn object_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

pub(crate) fn array_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let entry = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    match entry {
        Value::Array(items) => items,
        _ => unreachable!("made an array above"),
    }
}

pub(crate) fn named<'a>(items: &'a mut [Value], name: &str) -> Option<&'a mut Value> {
    items
        .iter_mut()
        .find(|item| item.get("name").and_then(Value::as_str) == Some(name))
}

/// Injects the runtime class, the credentials volume, the initializer (first init container),
/// the volume owner when the pod has encrypted volumes (next, with each volume's directory;
/// the containers that mount such a volume get its directory and wait for its ready file:
/// [`crate::VolumeOwner`]), the mesh proxy when asked for (last of Chiaro's, with the pod's
/// network probes moved to it), the credentials mount (read-only, in every other container)
/// and the start gate in front of every other container's command (waiting for the mesh proxy
/// when there is one; [`crate::start_gate`]) into `value`'s pod template. `at`
/// names the document in errors. Returns a line for each network probe that will fail
/// against the mesh proxy (see [`crate::probes`]).
///
/// # Errors
/// [`K8sError::Invalid`] when the document has no pod template, a container already uses
/// the credentials path for something else, or a probe's port is not a port.
pub fn inject(
    value: &mut Value,
    kind: WorkloadKind,
    injection: &Injection,
    at: &DocumentId,
) -> Result<Vec<String>, K8sError> {
    let template = template_mut(value, kind, at)?;
    let spec = object_entry(template, "spec");
    let previous = previous_table(
        spec.get("initContainers")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice),
        at,
    )?;
    let (probes, notes) = if injection.mesh.is_some() {
        move_probes(spec, &previous, at)?
    } else {
        restore_probes(spec, &previous);
        (ProbeTable::default(), Vec::new())
    };
    spec.insert(
        "runtimeClassName".to_owned(),
        Value::String(injection.runtime_class.clone()),
    );

    let volume = json!({"name": CREDENTIALS_VOLUME, "emptyDir": {"medium": "Memory"}});
    let volumes = array_entry(spec, "volumes");
    match named(volumes, CREDENTIALS_VOLUME) {
        Some(existing) => *existing = volume,
        None => volumes.push(volume),
    }
    if let Some(owner) = &injection.volume_owner {
        owner.add_directories(volumes);
    }

    let init_containers = array_entry(spec, "initContainers");
    init_containers.retain(|c| {
        let name = c.get("name").and_then(Value::as_str);
        !matches!(name, Some(INITIALIZER_NAME | MESH_NAME | VOLUME_OWNER_NAME))
    });
    let mut ours = vec![initializer_container(injection)];
    ours.extend(injection.volume_owner.iter().map(VolumeOwner::container));
    if let Some(mesh) = &injection.mesh {
        ours.push(mesh.container(probes));
    }
    let injected = ours.len();
    init_containers.splice(0..0, ours);
    let mesh_ready: Vec<String> = injection
        .mesh
        .iter()
        .map(|_| MESH_READY_FILE.to_owned())
        .collect();

    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for (index, container) in containers.iter_mut().enumerate() {
            if list == "initContainers" && index < injected {
                continue;
            }
            let name = container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let Some(container) = container.as_object_mut() else {
                continue;
            };
            let path = format!("{list}[{name}]");
            let mut wait_files = mesh_ready.clone();
            if let Some(owner) = &injection.volume_owner {
                wait_files.extend(owner.rewrite_mounts(container, at, &path)?);
            }
            gate_and_mount(container, injection, &wait_files, at, &path)?;
        }
    }
    Ok(notes)
}

/// The initializer: root, also in a pod with `runAsNonRoot` (the guest's attestation interface,
/// configfs-tsm, is root's), with no capabilities, writing the credentials volume.
fn initializer_container(injection: &Injection) -> Value {
    json!({
        "name": INITIALIZER_NAME,
        "image": injection.initializer_image,
        "env": env_list(&injection.initializer_env.vars()),
        "volumeMounts": [{"name": CREDENTIALS_VOLUME, "mountPath": MOUNT}],
        "securityContext": attesting_security_context(),
    })
}

/// The security context of a container that attests (the initializer, the Coordinator): root,
/// also in a pod with `runAsNonRoot`, because the guest's attestation interface, configfs-tsm,
/// is root's; no capabilities, no privilege escalation, a read-only root.
pub fn attesting_security_context() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsUser": 0,
        "runAsNonRoot": false,
        "capabilities": {"drop": ["ALL"]},
    })
}

/// A workload container: behind the gate (its command, exec probes and hooks), without
/// network privileges beside a mesh, with the credentials mounted read-only. `path` names it.
fn gate_and_mount(
    container: &mut Map<String, Value>,
    injection: &Injection,
    wait_files: &[String],
    at: &DocumentId,
    path: &str,
) -> Result<(), K8sError> {
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .and_then(|image| injection.images.get(image));
    let name = container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let verify_files = injection
        .verified_files
        .get(name)
        .cloned()
        .unwrap_or_default();
    gate_container(container, wait_files, &verify_files, image, at, path)?;
    gate_exec_handlers(container, wait_files, &verify_files, at, path)?;
    if injection.mesh.is_some() {
        refuse_network_privileges(container, at, path)?;
    }
    let mounts = array_entry(container, "volumeMounts");
    let clash = mounts.iter().any(|mount| {
        mount
            .get("mountPath")
            .and_then(Value::as_str)
            .is_some_and(at_or_under_credentials)
            && mount.get("name").and_then(Value::as_str) != Some(CREDENTIALS_VOLUME)
    });
    if clash {
        return Err(K8sError::Invalid {
            at: at.clone(),
            path: format!("{path}.volumeMounts"),
            detail: format!(
                "{MOUNT} is where Chiaro mounts the pod's credentials and start gate; mount this volume elsewhere (not at or under it)"
            ),
        });
    }
    let mount = json!({"name": CREDENTIALS_VOLUME, "mountPath": MOUNT, "readOnly": true});
    match named(mounts, CREDENTIALS_VOLUME) {
        Some(existing) => *existing = mount,
        None => mounts.push(mount),
    }
    Ok(())
}

/// Whether a mount path is the credentials path or below it, however spelled (`/chiaro/`,
/// `//chiaro/./bin`): another volume there could hold a start gate or ready file of the host's.
fn at_or_under_credentials(path: &str) -> bool {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    let credentials: Vec<&str> = MOUNT.split('/').filter(|p| !p.is_empty()).collect();
    parts.starts_with(&credentials) || parts.contains(&"..")
}

/// In a meshed pod no container but the proxy may change the pod's network configuration: with
/// `NET_ADMIN` (or `SYS_ADMIN`) it could remove the redirect rules the start gate relies on.
fn refuse_network_privileges(
    container: &Map<String, Value>,
    at: &DocumentId,
    path: &str,
) -> Result<(), K8sError> {
    let added = container
        .get("securityContext")
        .and_then(|s| s.get("capabilities"))
        .and_then(|c| c.get("add"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for capability in added {
        let name = capability.trim_start_matches("CAP_");
        if matches!(name, "NET_ADMIN" | "SYS_ADMIN" | "ALL") {
            return Err(K8sError::Unsupported {
                at: at.clone(),
                path: format!("{path}.securityContext.capabilities.add"),
                hint: format!(
                    "{capability} in a meshed pod could remove the mesh proxy's redirect rules; only the proxy may change the pod's network"
                ),
            });
        }
    }
    Ok(())
}

/// Every container of the pod template, init containers first.
fn containers(value: &Value, kind: WorkloadKind) -> impl Iterator<Item = &Value> {
    let spec = value.pointer(&format!("{}/spec", kind.template_pointer()));
    ["initContainers", "containers"]
        .into_iter()
        .filter_map(move |list| spec?.get(list).and_then(Value::as_array))
        .flatten()
}

/// The images of every container of the pod template, in order (init containers first).
pub fn container_images(value: &Value, kind: WorkloadKind) -> Vec<String> {
    containers(value, kind)
        .filter_map(|container| container.get("image").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Replaces every container image by what `pin` returns for it.
pub fn pin_images(value: &mut Value, kind: WorkloadKind, pin: impl Fn(&str) -> Option<String>) {
    let Some(spec) = value.pointer_mut(&format!("{}/spec", kind.template_pointer())) else {
        return;
    };
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers {
            let pinned = container
                .get("image")
                .and_then(Value::as_str)
                .and_then(&pin);
            if let (Some(pinned), Some(container)) = (pinned, container.as_object_mut()) {
                container.insert("image".to_owned(), Value::String(pinned));
            }
        }
    }
}

/// Sets the pod template's annotation `key`.
///
/// # Errors
/// [`K8sError::Invalid`] when the document has no pod template.
pub fn set_pod_annotation(
    value: &mut Value,
    kind: WorkloadKind,
    key: &str,
    annotation: &str,
    at: &DocumentId,
) -> Result<(), K8sError> {
    let template = template_mut(value, kind, at)?;
    let metadata = object_entry(template, "metadata");
    object_entry(metadata, "annotations")
        .insert(key.to_owned(), Value::String(annotation.to_owned()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use chiaro_pod::layout::START_GATE;

    use super::*;
    use crate::VOLUME_OWNER_NAME;

    fn at() -> DocumentId {
        DocumentId {
            file: "f.yaml".to_owned(),
            index: 2,
            line: 1,
            column: 1,
            item: None,
        }
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "initContainers": [{"name": "setup", "image": "busybox:1"}],
                    "containers": [{"name": "web", "image": "nginx:1.27", "command": ["nginx"],
                        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
                    "volumes": [{"name": "cache", "emptyDir": {}}]
                }
            }}
        })
    }

    fn injection() -> Injection {
        Injection {
            initializer_image: "init@sha256:00".to_owned(),
            initializer_env: InitializerEnv {
                coordinator: "c:7777".to_owned(),
                deployment_anchor: None,
            },
            mesh: None,
            volume_owner: None,
            runtime_class: RUNTIME_CLASS.to_owned(),
            verified_files: BTreeMap::new(),
            images: BTreeMap::from([(
                "busybox:1".to_owned(),
                ImageCommand {
                    entrypoint: vec![],
                    cmd: vec!["sh".to_owned()],
                },
            )]),
        }
    }

    fn with_mesh(ingress: &str) -> Injection {
        Injection {
            mesh: Some(MeshSidecar {
                image: "mesh@sha256:11".to_owned(),
                ingress: ingress.to_owned(),
                egress: String::new(),
            }),
            ..injection()
        }
    }

    #[test]
    fn the_mesh_sidecar_follows_the_initializer_once() {
        let mut value = deployment();
        let with_mesh = with_mesh("web#8080");
        inject(&mut value, WorkloadKind::Deployment, &with_mesh, &at()).unwrap();
        let once = value.clone();
        inject(&mut value, WorkloadKind::Deployment, &with_mesh, &at()).unwrap();
        assert_eq!(value, once, "injecting twice changes nothing");
        let init = &value["spec"]["template"]["spec"]["initContainers"];
        assert_eq!(init[0]["name"], INITIALIZER_NAME);
        assert_eq!(init[1]["name"], MESH_NAME);
        assert_eq!(init[1]["restartPolicy"], "Always");
        assert_eq!(init[1]["env"][0]["value"], "web#8080");
        assert_eq!(
            init[1]["securityContext"]["capabilities"]["add"],
            json!(["NET_ADMIN"])
        );
        assert_eq!(init[2]["name"], "setup");
        inject(&mut value, WorkloadKind::Deployment, &injection(), &at()).unwrap();
        assert_eq!(
            value["spec"]["template"]["spec"]["initContainers"][1]["name"], "setup",
            "without mesh annotations the sidecar goes again"
        );
    }

    #[test]
    fn every_other_container_runs_behind_the_gate_and_waits_for_a_mesh() {
        let mut value = deployment();
        let with_mesh = with_mesh("");
        inject(&mut value, WorkloadKind::Deployment, &with_mesh, &at()).unwrap();
        let spec = &value["spec"]["template"]["spec"];
        let gate = [START_GATE, "--wait-file", MESH_READY_FILE];
        assert_eq!(
            spec["initContainers"][2]["command"],
            json!([
                gate[0],
                gate[1],
                gate[2],
                "--entrypoint-from-image",
                "--args-from-image",
                "--"
            ]),
            "user init"
        );
        assert_eq!(
            spec["initContainers"][2]["args"],
            json!(["sh"]),
            "the image's Cmd"
        );
        assert_eq!(
            spec["containers"][0]["command"],
            json!([START_GATE, "--wait-file", MESH_READY_FILE, "--", "nginx"])
        );
        let mesh = &spec["initContainers"][1];
        assert_eq!(
            mesh["args"],
            json!([
                "--transparent",
                "--credentials",
                MOUNT,
                "--ready-file",
                MESH_READY_FILE
            ])
        );
        assert_eq!(
            mesh["volumeMounts"][0].get("readOnly"),
            None,
            "writes its ready file"
        );
        assert!(
            spec["initContainers"][0].get("command").is_none(),
            "not the initializer"
        );

        inject(&mut value, WorkloadKind::Deployment, &injection(), &at()).unwrap();
        let spec = &value["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"][0]["command"],
            json!([START_GATE, "--", "nginx"]),
            "without a mesh the gate waits for nothing but still needs the initializer's binary"
        );
    }

    #[test]
    fn injects_initializer_volume_mounts_and_runtime_class_once() {
        let mut value = deployment();
        inject(&mut value, WorkloadKind::Deployment, &injection(), &at()).unwrap();
        let spec = &value["spec"]["template"]["spec"];
        assert_eq!(spec["runtimeClassName"], "chiaro-cc");
        assert_eq!(spec["initContainers"][0]["name"], INITIALIZER_NAME);
        assert_eq!(spec["initContainers"][0]["env"][0]["value"], "c:7777");
        assert_eq!(spec["initContainers"][1]["name"], "setup");
        assert_eq!(
            spec["initContainers"][1]["volumeMounts"][0]["readOnly"],
            true
        );
        assert_eq!(
            spec["containers"][0]["volumeMounts"][1]["name"],
            CREDENTIALS_VOLUME
        );
        assert_eq!(spec["volumes"][1]["emptyDir"]["medium"], "Memory");
        let once = value.clone();
        inject(&mut value, WorkloadKind::Deployment, &injection(), &at()).unwrap();
        assert_eq!(value, once, "injecting twice changes nothing");
    }

    #[test]
    fn a_foreign_mount_at_the_credentials_path_is_refused() {
        let mut value = deployment();
        value["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] =
            json!(MOUNT);
        let error = inject(&mut value, WorkloadKind::Deployment, &injection(), &at()).unwrap_err();
        assert!(
            error.to_string().contains("f.yaml:1:1:")
                && error.to_string().contains("containers[web]"),
            "{error}"
        );
    }

    #[test]
    fn attack_another_volume_at_or_under_the_credentials_path_is_refused() {
        for path in ["/chiaro/", "/chiaro/bin", "//chiaro/./bin", "/x/../chiaro"] {
            let mut value = deployment();
            value["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] =
                json!(path);
            let error =
                inject(&mut value, WorkloadKind::Deployment, &injection(), &at()).unwrap_err();
            assert!(error.to_string().contains("start gate"), "{path}: {error}");
        }
        assert!(!at_or_under_credentials("/chiaros"));
    }

    #[test]
    fn attack_network_admin_beside_the_mesh_is_refused() {
        let mut value = deployment();
        value["spec"]["template"]["spec"]["containers"][0]["securityContext"] =
            json!({"capabilities": {"add": ["NET_ADMIN"]}});
        let with_mesh = with_mesh("");
        let error = inject(&mut value, WorkloadKind::Deployment, &with_mesh, &at()).unwrap_err();
        assert!(error.to_string().contains("redirect rules"), "{error}");
        inject(&mut value, WorkloadKind::Deployment, &injection(), &at())
            .expect("without a mesh there are no rules to protect");
    }

    #[test]
    fn images_are_listed_and_pinned_and_annotations_set() {
        let mut value = deployment();
        assert_eq!(
            container_images(&value, WorkloadKind::Deployment),
            ["busybox:1", "nginx:1.27"]
        );
        pin_images(&mut value, WorkloadKind::Deployment, |image| {
            (image == "nginx:1.27").then(|| "nginx:1.27@sha256:11".to_owned())
        });
        assert_eq!(
            container_images(&value, WorkloadKind::Deployment),
            ["busybox:1", "nginx:1.27@sha256:11"]
        );
        set_pod_annotation(&mut value, WorkloadKind::Deployment, "k", "v", &at()).unwrap();
        assert_eq!(
            value["spec"]["template"]["metadata"]["annotations"]["k"],
            "v"
        );
        let mut pod = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}});
        set_pod_annotation(&mut pod, WorkloadKind::Pod, "k", "v", &at()).unwrap();
        assert_eq!(pod["metadata"]["annotations"]["k"], "v");
    }

    fn with_volumes(mesh: bool) -> Injection {
        Injection {
            volume_owner: Some(VolumeOwner {
                image: "init@sha256:00".to_owned(),
                volumes: vec![chiaro_pod::VolumeName::parse("data").unwrap()],
                per_replica: true,
            }),
            ..if mesh { with_mesh("") } else { injection() }
        }
    }

    fn stateful_set() -> Value {
        let mut value = deployment();
        value["kind"] = json!("StatefulSet");
        value["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "data", "mountPath": "/var/lib/db"}]);
        value
    }

    #[test]
    fn the_volume_owner_follows_the_initializer_and_the_mounts_move_to_its_directory_once() {
        let mut value = stateful_set();
        let injection = with_volumes(true);
        inject(&mut value, WorkloadKind::StatefulSet, &injection, &at()).unwrap();
        let once = value.clone();
        inject(&mut value, WorkloadKind::StatefulSet, &injection, &at()).unwrap();
        assert_eq!(value, once, "injecting twice changes nothing");
        let spec = &value["spec"]["template"]["spec"];
        let names: Vec<&str> = spec["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [INITIALIZER_NAME, VOLUME_OWNER_NAME, MESH_NAME, "setup"]
        );
        let owner = &spec["initContainers"][1];
        assert_eq!(owner["restartPolicy"], "Always");
        assert_eq!(owner["securityContext"]["privileged"], true);
        assert_eq!(
            owner["volumeDevices"],
            json!([{"name": "data", "devicePath": "/dev/chiaro-volumes/data"}])
        );
        assert_eq!(
            owner["volumeMounts"][1],
            json!({"name": "chiaro-vol-data", "mountPath": "/chiaro-volumes/data", "mountPropagation": "Bidirectional"})
        );
        assert_eq!(
            owner["args"],
            json!(["--volume", "data", "--per-replica", "--credentials", MOUNT])
        );
        assert_eq!(
            owner["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.name"
        );
        let db = &spec["containers"][0];
        assert_eq!(
            db["volumeMounts"][0],
            json!({"name": "chiaro-vol-data", "mountPath": "/var/lib/db", "mountPropagation": "HostToContainer"})
        );
        assert_eq!(
            db["volumeDevices"],
            json!([{"name": "data", "devicePath": "/dev/chiaro-volumes/data"}])
        );
        assert_eq!(
            db["command"],
            json!([
                START_GATE,
                "--wait-file",
                MESH_READY_FILE,
                "--wait-file",
                "/chiaro/volumes/data.ready",
                "--",
                "nginx"
            ])
        );
        assert!(
            spec["initContainers"][3].get("volumeDevices").is_none(),
            "a container that does not mount the volume gets no device"
        );
        assert!(
            spec["volumes"]
                .as_array()
                .unwrap()
                .contains(&json!({"name": "chiaro-vol-data", "emptyDir": {"medium": "Memory"}}))
        );
    }

    #[test]
    fn a_read_only_mount_of_an_encrypted_volume_is_refused() {
        let mut value = stateful_set();
        value["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] =
            json!(true);
        let error = inject(
            &mut value,
            WorkloadKind::StatefulSet,
            &with_volumes(false),
            &at(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("volumeMounts[0].readOnly") && error.contains("mount propagation"),
            "{error}"
        );
    }

    #[test]
    fn attack_a_container_mounting_an_encrypted_volume_bidirectionally_is_refused() {
        let mut value = stateful_set();
        value["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPropagation"] =
            json!("Bidirectional");
        let error = inject(
            &mut value,
            WorkloadKind::StatefulSet,
            &with_volumes(false),
            &at(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("containers[web].volumeMounts[0].mountPropagation")
                && error.contains("only the volume owner mounts it"),
            "{error}"
        );
    }

    #[test]
    fn the_gate_of_a_container_and_of_its_exec_hooks_checks_its_pinned_files() {
        let mut value = deployment();
        value["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] =
            json!({"exec": {"command": ["/bin/check"]}});
        let file = VerifiedFile {
            path: "/etc/app/app.conf".to_owned(),
            sha256: "ab".repeat(32),
        };
        let injection = Injection {
            verified_files: BTreeMap::from([("web".to_owned(), vec![file])]),
            ..injection()
        };
        inject(&mut value, WorkloadKind::Deployment, &injection, &at()).unwrap();
        let web = &value["spec"]["template"]["spec"]["containers"][0];
        let flag = json!(format!("/etc/app/app.conf={}", "ab".repeat(32)));
        for command in [&web["command"], &web["livenessProbe"]["exec"]["command"]] {
            let words = command.as_array().unwrap();
            let at = words.iter().position(|w| w == "--verify-file").unwrap();
            assert_eq!(words[at + 1], flag, "{command}");
        }
    }
}
