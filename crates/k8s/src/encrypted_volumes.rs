//! Encrypted persistent volumes: which of a pod's persistent volumes it marks for encryption
//! ([`ENCRYPTED_VOLUMES_ANNOTATION`]), where each one's block device comes from, and what may
//! stand in a pod spec for them.
//!
//! A persistent volume reaches the guest from the host. Chiaro accepts one only as a raw block
//! device (`volumeMode: Block`) that the pod's volume owner (`chiaro-volumes`, injected by
//! [`crate::inject`]) opens inside the guest with LUKS2 and dm-integrity; the containers that
//! name the volume in `volumeMounts` get the decrypted file system in its place. A persistent
//! volume the pod does not mark is refused: the host would see and change its data in plain.

use chiaro_pod::volumes::{
    EMPTYDIR_PREFIX, ENCRYPTED_VOLUMES_ANNOTATION, VolumeName, parse_encrypted_volumes,
};
use serde_json::Value;

use crate::documents::{Document, DocumentId};
use crate::error::K8sError;
use crate::pod_spec::PodSpec;
use crate::workload::WorkloadKind;

/// Where an encrypted volume's block device comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimSource {
    /// A pod volume `persistentVolumeClaim: {claimName}`.
    Claim {
        /// The claim's name.
        claim_name: String,
    },
    /// A StatefulSet's `volumeClaimTemplates` entry (one claim per pod).
    Template,
}

/// A volume the pod marks for encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedVolume {
    /// The volume's name in the pod (and its key's context).
    pub name: VolumeName,
    /// Where its block device comes from.
    pub source: ClaimSource,
}

/// Why a pod cannot have unencrypted persistent storage.
const PERSISTENT_VOLUMES: &str = "the host would see and change the data of a persistent volume in plain; mark it for encryption (annotation chiaro.dev/encrypted-volumes on the pod template, docs/volumes.md)";

/// Why an encrypted volume must be a raw block device.
const BLOCK_ONLY: &str = "an encrypted volume must be a raw block device (volumeMode: Block), which the pod encrypts in the guest; a file system would be mounted by the host";

/// The volumes of `document`'s pod that its annotations mark for encryption, each checked to be
/// a persistent volume of the pod in block mode; every other persistent volume refused.
///
/// # Errors
/// [`K8sError::Invalid`] for an annotation that does not parse or names a volume the pod does
/// not have; [`K8sError::Unsupported`] for a marked volume that is not persistent or not in
/// block mode, and for a persistent volume that is not marked.
pub(crate) fn encrypted_volumes(
    document: &Document,
    kind: WorkloadKind,
    annotations: &std::collections::BTreeMap<String, String>,
    pod_spec: &PodSpec,
) -> Result<Vec<EncryptedVolume>, K8sError> {
    let marked = match annotations.get(ENCRYPTED_VOLUMES_ANNOTATION) {
        None => Vec::new(),
        Some(text) => parse_encrypted_volumes(text).map_err(|error| K8sError::Invalid {
            at: document.id.clone(),
            path: format!(
                "{}metadata.annotations.{ENCRYPTED_VOLUMES_ANNOTATION}",
                kind.template_path()
            ),
            detail: error.to_string(),
        })?,
    };
    let templates = claim_templates(document, kind);
    refuse_reserved_names(document, kind, pod_spec, &marked)?;
    let mut volumes = Vec::new();
    for name in marked {
        let source = source_of(document, kind, pod_spec, &templates, &name)?;
        volumes.push(EncryptedVolume { name, source });
    }
    refuse_unmarked(document, kind, pod_spec, &templates, &volumes)?;
    Ok(volumes)
}

/// Refuses marked names with Chiaro's prefix and pod volumes named like an encrypted volume's
/// directory that are not the directory generate writes for a marked volume (an in-memory
/// emptyDir): another volume there would stand where the file system is mounted.
fn refuse_reserved_names(
    document: &Document,
    kind: WorkloadKind,
    pod_spec: &PodSpec,
    marked: &[VolumeName],
) -> Result<(), K8sError> {
    if let Some(name) = marked
        .iter()
        .find(|name| name.as_str().starts_with("chiaro-"))
    {
        return Err(K8sError::Invalid {
            at: document.id.clone(),
            path: format!(
                "{}metadata.annotations.{ENCRYPTED_VOLUMES_ANNOTATION}",
                kind.template_path()
            ),
            detail: format!("volume \"{name}\": names starting with chiaro- are Chiaro's"),
        });
    }
    for (index, volume) in pod_spec.volumes.iter().enumerate() {
        if !volume.name.starts_with(EMPTYDIR_PREFIX) {
            continue;
        }
        let generated = marked
            .iter()
            .any(|name| name.emptydir_volume() == volume.name)
            && volume.source.len() == 1
            && volume.source.get("emptyDir") == Some(&serde_json::json!({"medium": "Memory"}));
        if !generated {
            return Err(K8sError::Unsupported {
                at: document.id.clone(),
                path: format!("{}spec.volumes[{index}]", kind.template_path()),
                hint: format!(
                    "volume \"{}\": names starting with {EMPTYDIR_PREFIX} are the directories of encrypted volumes, which generate writes",
                    volume.name
                ),
            });
        }
    }
    Ok(())
}

/// A StatefulSet's claim templates: index, name and template.
fn claim_templates(document: &Document, kind: WorkloadKind) -> Vec<(usize, String, &Value)> {
    if kind != WorkloadKind::StatefulSet {
        return Vec::new();
    }
    document
        .value
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, template)| {
            let name = template
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            (index, name, template)
        })
        .collect()
}

/// Where the marked volume `name` comes from. A StatefulSet's claim template of that name takes
/// precedence over a pod volume of the same name, as the StatefulSet controller has it.
fn source_of(
    document: &Document,
    kind: WorkloadKind,
    pod_spec: &PodSpec,
    templates: &[(usize, String, &Value)],
    name: &VolumeName,
) -> Result<ClaimSource, K8sError> {
    let unsupported = |path: String, hint: String| K8sError::Unsupported {
        at: document.id.clone(),
        path,
        hint,
    };
    if let Some((index, _, template)) = templates.iter().find(|(_, n, _)| n == name.as_str()) {
        let path = format!("spec.volumeClaimTemplates[{index}].spec.volumeMode");
        if template.pointer("/spec/volumeMode").and_then(Value::as_str) != Some("Block") {
            return Err(unsupported(
                path,
                format!("volume claim template \"{name}\": {BLOCK_ONLY}"),
            ));
        }
        return Ok(ClaimSource::Template);
    }
    let Some((index, volume)) = pod_spec
        .volumes
        .iter()
        .enumerate()
        .find(|(_, volume)| volume.name == name.as_str())
    else {
        return Err(K8sError::Invalid {
            at: document.id.clone(),
            path: format!(
                "{}metadata.annotations.{ENCRYPTED_VOLUMES_ANNOTATION}",
                kind.template_path()
            ),
            detail: format!(
                "names volume \"{name}\", which the pod does not have (neither in spec.volumes nor, for a StatefulSet, in spec.volumeClaimTemplates)"
            ),
        });
    };
    let path = format!("{}spec.volumes[{index}]", kind.template_path());
    if let Some(claim) = volume.source.get("persistentVolumeClaim") {
        let claim_name = claim
            .get("claimName")
            .and_then(Value::as_str)
            .ok_or_else(|| K8sError::Invalid {
                at: document.id.clone(),
                path: format!("{path}.persistentVolumeClaim.claimName"),
                detail: "missing".to_owned(),
            })?;
        if claim.get("readOnly").and_then(Value::as_bool) == Some(true) {
            return Err(unsupported(
                format!("{path}.persistentVolumeClaim.readOnly"),
                format!(
                    "volume \"{name}\": the volume owner opens the device to write its header and journal; mount the volume read-only in the containers instead"
                ),
            ));
        }
        return Ok(ClaimSource::Claim {
            claim_name: claim_name.to_owned(),
        });
    }
    if volume.source.contains_key("ephemeral") {
        // Its data ends with the pod, but a key from the workload secret would open an old
        // pod's disk in a new pod; Kata encrypts a disk emptyDir in the guest under a key of
        // its own, made there.
        return Err(unsupported(
            format!("{path}.ephemeral"),
            format!(
                "volume \"{name}\": an ephemeral volume is not encrypted by Chiaro; use an emptyDir, which Kata encrypts in the guest with a key made there for the pod"
            ),
        ));
    }
    let kind_name = volume.source.keys().next().cloned().unwrap_or_default();
    Err(unsupported(
        path,
        format!(
            "volume \"{name}\" is marked for encryption but its source is {kind_name}; only persistent volumes (persistentVolumeClaim, ephemeral, a StatefulSet's volumeClaimTemplates) are encrypted"
        ),
    ))
}

/// Refuses each persistent volume (claim template, `persistentVolumeClaim`, `ephemeral`) that
/// the pod does not mark.
fn refuse_unmarked(
    document: &Document,
    kind: WorkloadKind,
    pod_spec: &PodSpec,
    templates: &[(usize, String, &Value)],
    marked: &[EncryptedVolume],
) -> Result<(), K8sError> {
    let is_marked = |name: &str| marked.iter().any(|volume| volume.name.as_str() == name);
    let unsupported = |path: String, what: String| K8sError::Unsupported {
        at: document.id.clone(),
        path,
        hint: format!("{what}: {PERSISTENT_VOLUMES}"),
    };
    if let Some((index, name, _)) = templates.iter().find(|(_, name, _)| !is_marked(name)) {
        return Err(unsupported(
            format!("spec.volumeClaimTemplates[{index}]"),
            format!("volume claim template \"{name}\""),
        ));
    }
    for (index, volume) in pod_spec.volumes.iter().enumerate() {
        for source in ["persistentVolumeClaim", "ephemeral"] {
            if volume.source.contains_key(source) && !is_marked(&volume.name) {
                return Err(unsupported(
                    format!("{}spec.volumes[{index}].{source}", kind.template_path()),
                    format!("volume {:?}", volume.name),
                ));
            }
        }
    }
    Ok(())
}

/// Refuses a container's `volumeDevices` other than those generate writes: each encrypted
/// volume's device at its owner's device path. A raw block device in a workload container would
/// give it the host's plain data.
pub(crate) fn refuse_foreign_devices(
    at: &DocumentId,
    kind: WorkloadKind,
    pod_spec: &PodSpec,
    marked: &[EncryptedVolume],
) -> Result<(), K8sError> {
    let lists = [
        ("initContainers", &pod_spec.init_containers),
        ("containers", &pod_spec.containers),
    ];
    for (list, containers) in lists {
        for (index, container) in containers.iter().enumerate() {
            for (device_index, device) in container.volume_devices.iter().enumerate() {
                let ours = marked.iter().any(|volume| {
                    volume.name.as_str() == device.name
                        && volume.name.device_path() == device.device_path
                });
                if !ours {
                    return Err(K8sError::Unsupported {
                        at: at.clone(),
                        path: format!(
                            "{}spec.{list}[{index}].volumeDevices[{device_index}]",
                            kind.template_path()
                        ),
                        hint: format!(
                            "raw block device {:?}: the host would see and change its data in plain; mark the volume for encryption (chiaro.dev/encrypted-volumes) and mount it with volumeMounts, and the container gets the decrypted file system",
                            device.name
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{ClaimSource, K8sError, Workload, read_documents};

    fn workload(yaml: &str) -> Result<Workload, K8sError> {
        let documents = read_documents("db.yaml", yaml).unwrap();
        Workload::from_document(&documents[0]).map(Option::unwrap)
    }

    const STATEFUL_SET: &str = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n  template:\n    metadata:\n      annotations: {chiaro.dev/encrypted-volumes: ANNOTATION}\n    spec:\n      containers: [{name: c, image: x, volumeMounts: [{name: data, mountPath: /data}]}]\n      volumes: VOLUMES\n  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec: {accessModes: [ReadWriteOncePod], volumeMode: MODE}\n";

    fn stateful_set(annotation: &str, mode: &str, volumes: &str) -> Result<Workload, K8sError> {
        workload(
            &STATEFUL_SET
                .replace("ANNOTATION", annotation)
                .replace("MODE", mode)
                .replace("VOLUMES", volumes),
        )
    }

    #[test]
    fn a_marked_block_claim_template_and_claim_are_encrypted_volumes() {
        let w = stateful_set(
            "'data, logs'",
            "Block",
            "[{name: logs, persistentVolumeClaim: {claimName: logs}}]",
        )
        .unwrap();
        let sources: Vec<(&str, &ClaimSource)> = w
            .encrypted_volumes
            .iter()
            .map(|v| (v.name.as_str(), &v.source))
            .collect();
        assert_eq!(
            sources,
            [
                ("data", &ClaimSource::Template),
                (
                    "logs",
                    &ClaimSource::Claim {
                        claim_name: "logs".to_owned()
                    }
                )
            ]
        );
    }

    #[test]
    fn a_marked_claim_template_in_file_system_mode_is_refused() {
        for mode in ["Filesystem", "null"] {
            let error = stateful_set("data", mode, "[]").unwrap_err().to_string();
            assert!(
                error.starts_with("db.yaml:1:1:spec.volumeClaimTemplates[0].spec.volumeMode: not supported: volume claim template \"data\": an encrypted volume must be a raw block device"),
                "{mode}: {error}"
            );
        }
    }

    #[test]
    fn an_unmarked_claim_beside_a_marked_one_is_refused() {
        let error = stateful_set(
            "data",
            "Block",
            "[{name: logs, persistentVolumeClaim: {claimName: logs}}]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("db.yaml:1:1:spec.template.spec.volumes[0].persistentVolumeClaim: not supported: volume \"logs\": the host would see and change"),
            "{error}"
        );
    }

    #[test]
    fn the_annotation_must_name_a_persistent_volume_of_the_pod() {
        let error = stateful_set("'data, cache'", "Block", "[{name: cache, emptyDir: {}}]")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("spec.template.spec.volumes[0]: not supported: volume \"cache\" is marked for encryption but its source is emptyDir"),
            "{error}"
        );
        let error = stateful_set("'data, nope'", "Block", "[]")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("metadata.annotations.chiaro.dev/encrypted-volumes: names volume \"nope\", which the pod does not have"),
            "{error}"
        );
        let error = stateful_set("'data,,'", "Block", "[]")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("metadata.annotations.chiaro.dev/encrypted-volumes: chiaro.dev/encrypted-volumes: entry \"\""),
            "{error}"
        );
    }

    #[test]
    fn a_read_only_claim_and_an_ephemeral_file_system_are_refused() {
        let error = stateful_set(
            "'data, logs'",
            "Block",
            "[{name: logs, persistentVolumeClaim: {claimName: logs, readOnly: true}}]",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("persistentVolumeClaim.readOnly"), "{error}");
        let error = stateful_set(
            "'data, scratch'",
            "Block",
            "[{name: scratch, ephemeral: {volumeClaimTemplate: {spec: {accessModes: [ReadWriteOnce], volumeMode: Block}}}}]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("volumes[0].ephemeral: not supported")
                && error.contains("use an emptyDir"),
            "{error}"
        );
    }

    #[test]
    fn a_raw_device_in_a_container_is_refused_unless_it_is_an_encrypted_volumes() {
        let yaml = STATEFUL_SET
            .replace("ANNOTATION", "data")
            .replace("MODE", "Block")
            .replace("VOLUMES", "[]");
        let with_device = |path: &str| {
            yaml.replace(
                "volumeMounts: [{name: data, mountPath: /data}]",
                &format!("volumeDevices: [{{name: data, devicePath: {path}}}]"),
            )
        };
        assert!(workload(&with_device("/dev/chiaro-volumes/data")).is_ok());
        let error = workload(&with_device("/dev/xvda")).unwrap_err().to_string();
        assert!(
            error.starts_with("db.yaml:1:1:spec.template.spec.containers[0].volumeDevices[0]: not supported: raw block device \"data\""),
            "{error}"
        );
    }

    #[test]
    fn attack_volumes_named_like_an_encrypted_volumes_directory_are_refused() {
        for volumes in [
            "[{name: chiaro-vol-data, emptyDir: {}}]",
            "[{name: chiaro-vol-logs, emptyDir: {medium: Memory}}]",
            "[{name: chiaro-vol-data, configMap: {name: c}}]",
        ] {
            let error = stateful_set("data", "Block", volumes)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("are the directories of encrypted volumes"),
                "{volumes}: {error}"
            );
        }
        assert!(
            stateful_set(
                "data",
                "Block",
                "[{name: chiaro-vol-data, emptyDir: {medium: Memory}}]"
            )
            .is_ok(),
            "the directory generate writes"
        );
        let error = stateful_set("'data, chiaro-x'", "Block", "[]")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("names starting with chiaro- are Chiaro's"),
            "{error}"
        );
    }
}
