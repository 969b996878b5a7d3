//! The volume owner's injection: the `chiaro-volumes` native sidecar that opens each encrypted
//! volume in the guest, the in-memory directory it mounts the file system on, and the
//! containers that name the volume rewritten to mount that directory instead (`docs/volumes.md`).

use chiaro_pod::volumes::{VolumeArgs, VolumeName};
use chiaro_pod::{CredentialsDir, env, layout::MOUNT};
use serde_json::{Map, Value, json};

use crate::documents::DocumentId;
use crate::error::K8sError;
use crate::injection::{CREDENTIALS_VOLUME, array_entry, named};

/// The volume owner: a native sidecar started after the initializer.
pub const VOLUME_OWNER_NAME: &str = chiaro_pod::volumes::OWNER_CONTAINER;
/// The volume owner's binary in its image.
pub const VOLUME_OWNER_BINARY: &str = "/usr/local/bin/chiaro-volume";

/// The volume owner's image and the volumes it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeOwner {
    /// Its image (pinned by digest).
    pub image: String,
    /// The encrypted volumes, in the annotation's order.
    pub volumes: Vec<VolumeName>,
    /// Each pod of the workload has volumes of its own (a StatefulSet's claim templates): the
    /// pod's name is part of each key's context, so two replicas' volumes never share a key.
    pub per_replica: bool,
}

impl VolumeOwner {
    /// The container: privileged (Kubernetes allows `Bidirectional` mount propagation, which
    /// carries its mounts to the other containers, only to privileged containers; its binary
    /// drops what it does not need), root, a read-only root, each volume's device and
    /// directory, and the credentials volume writable (it reads the workload secret and writes
    /// each volume's ready file).
    pub(crate) fn container(&self) -> Value {
        let mut mounts = vec![json!({"name": CREDENTIALS_VOLUME, "mountPath": MOUNT})];
        mounts.extend(self.volumes.iter().map(|volume| {
            json!({
                "name": volume.emptydir_volume(),
                "mountPath": volume.owner_mount_dir(),
                "mountPropagation": "Bidirectional",
            })
        }));
        let mut container = json!({
            "name": VOLUME_OWNER_NAME,
            "image": self.image,
            "command": [VOLUME_OWNER_BINARY],
            "args": VolumeArgs::owner(self.volumes.clone(), self.per_replica).args(),
            "restartPolicy": "Always",
            "volumeDevices": self.volumes.iter().map(device).collect::<Vec<_>>(),
            "volumeMounts": mounts,
            "securityContext": {
                "privileged": true,
                "readOnlyRootFilesystem": true,
                "runAsUser": 0,
                "runAsNonRoot": false,
            },
        });
        if let (true, Some(container)) = (self.per_replica, container.as_object_mut()) {
            container.insert(
                "env".to_owned(),
                json!([{
                    "name": env::POD_NAME,
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                }]),
            );
        }
        container
    }

    /// Adds each volume's in-memory directory (replacing one of the same name).
    pub(crate) fn add_directories(&self, volumes: &mut Vec<Value>) {
        for volume in &self.volumes {
            let directory =
                json!({"name": volume.emptydir_volume(), "emptyDir": {"medium": "Memory"}});
            match named(volumes, &volume.emptydir_volume()) {
                Some(existing) => *existing = directory,
                None => volumes.push(directory),
            }
        }
    }

    /// Rewrites `container`'s mounts of encrypted volumes to their directories (with
    /// `HostToContainer` propagation, so the owner's mount, also a later one, reaches it) and
    /// gives it each such volume's device (so the runtime keeps the device attached while the
    /// container lives, also across the owner's restarts). The ready files it must wait for.
    /// `path` names the container in errors.
    ///
    /// # Errors
    /// [`K8sError::Unsupported`] for a mount of an encrypted volume with `Bidirectional`
    /// propagation.
    pub(crate) fn rewrite_mounts(
        &self,
        container: &mut Map<String, Value>,
        at: &DocumentId,
        path: &str,
    ) -> Result<Vec<String>, K8sError> {
        let mut mounted = Vec::new();
        for (index, mount) in array_entry(container, "volumeMounts")
            .iter_mut()
            .enumerate()
        {
            let name = mount
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(volume) = self
                .volumes
                .iter()
                .find(|v| v.as_str() == name || v.emptydir_volume() == name)
            else {
                continue;
            };
            if mount.get("readOnly").and_then(Value::as_bool) == Some(true) {
                return Err(K8sError::Unsupported {
                    at: at.clone(),
                    path: format!("{path}.volumeMounts[{index}].readOnly"),
                    hint: format!(
                        "encrypted volume {volume}: the file system reaches the container by mount propagation, which keeps the owner's read-write mount; mount it read-write"
                    ),
                });
            }
            if mount.get("mountPropagation").and_then(Value::as_str) == Some("Bidirectional") {
                return Err(K8sError::Unsupported {
                    at: at.clone(),
                    path: format!("{path}.volumeMounts[{index}].mountPropagation"),
                    hint: format!(
                        "encrypted volume {volume}: only the volume owner mounts it; the containers get HostToContainer"
                    ),
                });
            }
            if let Some(mount) = mount.as_object_mut() {
                mount.insert("name".to_owned(), json!(volume.emptydir_volume()));
                mount.insert("mountPropagation".to_owned(), json!("HostToContainer"));
            }
            if !mounted.contains(volume) {
                mounted.push(volume.clone());
            }
        }
        if mounted.is_empty() {
            return Ok(Vec::new());
        }
        let devices = array_entry(container, "volumeDevices");
        for volume in &mounted {
            match named(devices, volume.as_str()) {
                Some(existing) => *existing = device(volume),
                None => devices.push(device(volume)),
            }
        }
        let credentials = CredentialsDir::pod();
        Ok(mounted
            .iter()
            .map(|volume| credentials.volume_ready(volume).display().to_string())
            .collect())
    }
}

/// A volume's device entry.
fn device(volume: &VolumeName) -> Value {
    json!({"name": volume.as_str(), "devicePath": volume.device_path()})
}
