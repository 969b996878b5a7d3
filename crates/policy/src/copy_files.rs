//! The files of ConfigMap, Secret, downward-API and projected volumes as the Kata runtime copies
//! them into the guest (`shared_fs = none`), pinned by the policy.
//!
//! The kubelet writes such a volume with its atomic writer: the files in a timestamped directory
//! `..2026_12_02_04_45_55.1234567890/`, a symlink `..data -> ..<timestamp>`, and each top-level
//! name a symlink `name -> ..data/name`. The Go runtime walks that directory (lexical order) and
//! sends one `CopyFileRequest` per entry to `<shared dir>/<container id>-<16 hex>-<mount point's
//! last component>/…`; on an update it copies a new timestamped directory and then the new
//! `..data`. The agent hands the policy the request without its `data` (`PolicyCopyFileRequest`:
//! path, file type, symlink target, size, mode, owner, offset), so a file's content is visible to
//! the policy only as its size. What is pinned per volume ([`VolumeFiles`]): every file (by its
//! path below the timestamped directory) with its size and mode, the directories of nested
//! `items` paths, and the user-visible names; `docs/policy.md` says what follows from it.
//!
//! Stages: [`copy_volumes`] reads each file volume ([`FileVolume`]), projects its files from the
//! ConfigMaps and Secrets given to generate ([`project`]), then names the shared entries the
//! runtime will copy them to ([`entries`]).

use std::collections::{BTreeMap, BTreeSet};

use chiaro_k8s::{
    ConfigSourceKind, ConfigSources, Container, Document, DownwardApiFile, FileVolume, KeyToPath,
    ObjectFiles, ProjectedSource, Workload,
};
use serde::{Deserialize, Serialize};

use crate::error::PolicyError;
use crate::generate::GenerateOptions;

/// The kubelet's timestamped data directory (`..2006_01_02_15_04_05.<random digits>`).
pub const DATA_DIR_REGEX: &str =
    r"^\.\.[0-9]{4}_[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}\.[0-9]+$";

/// The mode of a projected file without `mode` or `defaultMode` (Kubernetes' default, 0644).
pub const DEFAULT_FILE_MODE: u32 = 0o644;

/// The bits the kubelet adds to every file of a read-only volume when the pod has an `fsGroup`.
const FS_GROUP_FILE_BITS: u32 = 0o440;

/// The largest file the runtime copies in one request (its `grpcMaxDataSize`); a ConfigMap or
/// Secret holds at most this much, so every pinned file is one request at offset 0.
const MAX_PINNED_SIZE: usize = 1024 * 1024;

/// The mode the kubelet gives a service-account token file when it owns it to the pod's user.
const TOKEN_FILE_MODE: u32 = 0o600;

/// Shared entries the runtime copies for every container (`platform::Platform::mounts`): a
/// pinned volume under one of these names would be confused with them.
const PLATFORM_ENTRIES: [&str; 5] = [
    "hosts",
    "hostname",
    "resolv.conf",
    "termination-log",
    "serviceaccount",
];

/// The pinned volumes of a pod and the shared entries they arrive in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CopyVolumes {
    /// The kubelet's timestamped directory names ([`DATA_DIR_REGEX`]).
    pub data_dir_regex: String,
    /// Each pinned volume's files, by volume name.
    pub volumes: BTreeMap<String, VolumeFiles>,
    /// The shared entry names (a mount point's last component) under which the runtime copies
    /// pinned volumes, each with the volumes mounted under that name.
    pub entries: BTreeMap<String, Vec<String>>,
}

/// The files the kubelet projects into one volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VolumeFiles {
    /// Each regular file by its path below the timestamped directory.
    pub files: BTreeMap<String, FileRule>,
    /// The directories below the timestamped directory (of nested `items` paths).
    pub dirs: Vec<String>,
    /// The user-visible names, each a symlink `name -> ..data/name`.
    pub top: Vec<String>,
    /// Every file's content is known (a ConfigMap's or Secret's): the start gate of each
    /// container that mounts the volume checks their SHA-256 (`chiaro_start::VerifiedFile`),
    /// and `..data` may not be pointed anywhere else afterwards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub content_pinned: bool,
}

/// What the policy pins of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRule {
    /// Its size in bytes; absent when generate does not know the content (a service-account
    /// token, a Secret with `pin_secret_values` off, a downward-API value decided at run time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The permission bits it may have (`mode & 0o7777`).
    pub modes: Vec<u32>,
    /// The SHA-256 of its content (lower-case hex) where generate knows it; the start gate
    /// checks it (the agent shows the policy no content), so it is not in the policy's data.
    #[serde(skip)]
    pub sha256: Option<String>,
}

/// A Secret's file whose size a policy pins (readable in the pod's annotations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedSecretFile {
    /// The volume.
    pub volume: String,
    /// The file's path in the volume.
    pub path: String,
    /// Secret name.
    pub secret: String,
    /// Key in the Secret.
    pub key: String,
}

/// The pinned volumes of `workload` and the Secret files pinned on the way.
pub(crate) fn copy_volumes(
    document: &Document,
    workload: &Workload,
    config: &ConfigSources,
    options: &GenerateOptions,
) -> Result<(CopyVolumes, Vec<PinnedSecretFile>), PolicyError> {
    let mut volumes = BTreeMap::new();
    let mut pinned = Vec::new();
    let mut unpinned = BTreeSet::new();
    let spec = &workload.pod_spec;
    // The runtime copies only mounted volumes; one no container mounts needs no pinning.
    let mounted: BTreeSet<&str> = spec
        .init_containers
        .iter()
        .chain(&spec.containers)
        .flat_map(|container| &container.volume_mounts)
        .map(|mount| mount.name.as_str())
        .collect();
    for (index, volume) in spec.volumes.iter().enumerate() {
        let Some(files) = workload.file_volume(document, index, volume)? else {
            continue;
        };
        if !mounted.contains(volume.name.as_str()) {
            continue;
        }
        if options.unpinned_volumes.contains(&volume.name) {
            unpinned.insert(volume.name.clone());
            continue;
        }
        let mut projection = Projection {
            at: format!("{}:{}", document.id, volume_path(workload, index)),
            volume: &volume.name,
            workload,
            config,
            options,
            files: BTreeMap::new(),
            pinned: &mut pinned,
        };
        project(&mut projection, &files)?;
        let files = projection.into_files()?;
        volumes.insert(volume.name.clone(), files);
    }
    let entries = entries(workload, &volumes, &unpinned)?;
    Ok((
        CopyVolumes {
            data_dir_regex: DATA_DIR_REGEX.to_owned(),
            volumes,
            entries,
        },
        pinned,
    ))
}

/// `spec.template.spec.volumes[i]` for messages.
fn volume_path(workload: &Workload, index: usize) -> String {
    let template = workload.kind.template_pointer().trim_start_matches('/');
    let prefix = if template.is_empty() {
        String::new()
    } else {
        format!("{}.", template.replace('/', "."))
    };
    format!("{prefix}spec.volumes[{index}]")
}

/// One volume's files while they are projected.
struct Projection<'a> {
    at: String,
    volume: &'a str,
    workload: &'a Workload,
    config: &'a ConfigSources,
    options: &'a GenerateOptions,
    files: BTreeMap<String, FileRule>,
    pinned: &'a mut Vec<PinnedSecretFile>,
}

/// The files the kubelet writes for `volume`, as [`Projection::files`].
fn project(projection: &mut Projection<'_>, volume: &FileVolume) -> Result<(), PolicyError> {
    match volume {
        FileVolume::ConfigMap(object) => projection.object(ConfigSourceKind::ConfigMap, object),
        FileVolume::Secret(object) => projection.object(ConfigSourceKind::Secret, object),
        FileVolume::DownwardApi(files) => projection.downward(&files.items, files.default_mode),
        FileVolume::Projected(projected) => {
            for source in &projected.sources {
                match source {
                    ProjectedSource::ConfigMap(object) => {
                        projection.object(ConfigSourceKind::ConfigMap, object)?;
                    }
                    ProjectedSource::Secret(object) => {
                        projection.object(ConfigSourceKind::Secret, object)?;
                    }
                    ProjectedSource::DownwardApi(items) => {
                        projection.downward(items, projected.default_mode)?;
                    }
                    ProjectedSource::ServiceAccountToken(path) => {
                        let mode = projection.mode(None, projected.default_mode)?;
                        let mut modes = projection.modes(mode);
                        modes.push(TOKEN_FILE_MODE);
                        projection.add(path, None, modes, None)?;
                    }
                }
            }
            Ok(())
        }
    }
}

impl Projection<'_> {
    /// A ConfigMap's or Secret's keys: all of them, or the listed `items`.
    fn object(&mut self, kind: ConfigSourceKind, object: &ObjectFiles) -> Result<(), PolicyError> {
        let Some(source) = self.config.get(kind, &object.name) else {
            if object.optional {
                // The kubelet projects nothing of a missing optional object: pinned as absent.
                return Ok(());
            }
            return Err(self.missing(kind, &object.name, None));
        };
        let whole: Vec<KeyToPath>;
        let items = if object.items.is_empty() {
            whole = source
                .data
                .keys()
                .map(|key| KeyToPath {
                    key: key.clone(),
                    path: key.clone(),
                    mode: None,
                })
                .collect();
            &whole
        } else {
            &object.items
        };
        for item in items {
            let Some(value) = source.data.get(&item.key) else {
                if object.optional {
                    continue;
                }
                return Err(self.missing(kind, &object.name, Some(&item.key)));
            };
            if value.len() > MAX_PINNED_SIZE {
                return Err(self.unsupported(
                    &format!("{} {:?} key {:?}", kind_name(kind), object.name, item.key),
                    "the API server holds at most 1 MiB in a ConfigMap or Secret",
                ));
            }
            let mode = self.mode(item.mode, object.default_mode)?;
            let size = if kind == ConfigSourceKind::Secret && !self.options.pin_secret_values {
                None
            } else {
                Some(u64::try_from(value.len()).unwrap_or(u64::MAX))
            };
            if kind == ConfigSourceKind::Secret && size.is_some() {
                self.pinned.push(PinnedSecretFile {
                    volume: self.volume.to_owned(),
                    path: item.path.clone(),
                    secret: object.name.clone(),
                    key: item.key.clone(),
                });
            }
            let modes = self.modes(mode);
            let sha256 = size.map(|_| sha256_hex(value));
            self.add(&item.path, size, modes, sha256)?;
        }
        Ok(())
    }

    /// Downward-API files: the size where generate knows the value, any size where the cluster
    /// decides it at run time.
    fn downward(
        &mut self,
        items: &[DownwardApiFile],
        default_mode: Option<u32>,
    ) -> Result<(), PolicyError> {
        for item in items {
            let size = match (&item.field_ref, &item.resource_field_ref) {
                (Some(field), None) => self.field_size(&item.path, &field.field_path)?,
                // A resource without a limit reads as the node's allocatable.
                (None, Some(_)) => None,
                _ => {
                    return Err(self.unsupported(
                        &format!("downwardAPI item {:?}", item.path),
                        "an item names exactly one of fieldRef and resourceFieldRef",
                    ));
                }
            };
            let mode = self.mode(item.mode, default_mode)?;
            let modes = self.modes(mode);
            self.add(&item.path, size, modes, None)?;
        }
        Ok(())
    }

    /// The size of a pod field's file, where the pod spec fixes it. The label and annotation
    /// maps are never pinned: controllers add labels (`pod-template-hash`) and annotations
    /// (generate's own initdata) the YAML does not hold.
    fn field_size(&self, path: &str, field: &str) -> Result<Option<u64>, PolicyError> {
        let len = |text: &str| Some(u64::try_from(text.len()).unwrap_or(u64::MAX));
        let quoted = |prefix: &str| {
            field
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix("']"))
        };
        Ok(match field {
            "metadata.uid" => Some(36),
            "metadata.namespace" => self.workload.namespace.as_deref().and_then(len),
            "metadata.name" | "metadata.labels" | "metadata.annotations" => None,
            _ => {
                if let Some(label) = quoted("metadata.labels['") {
                    self.workload
                        .pod_labels
                        .get(label)
                        .and_then(|value| len(value))
                } else if let Some(annotation) = quoted("metadata.annotations['") {
                    self.workload
                        .pod_annotations
                        .get(annotation)
                        .and_then(|value| len(value))
                } else {
                    return Err(self.unsupported(
                        &format!("downwardAPI item {path:?}: fieldRef {field}"),
                        "a volume projects only metadata fields",
                    ));
                }
            }
        })
    }

    /// `mode`, else the volume's `defaultMode`, else 0644.
    fn mode(&self, mode: Option<u32>, default_mode: Option<u32>) -> Result<u32, PolicyError> {
        let mode = mode.or(default_mode).unwrap_or(DEFAULT_FILE_MODE);
        if mode > 0o777 {
            return Err(self.unsupported(
                &format!("mode {mode:o}"),
                "a projected file's mode is at most 0777",
            ));
        }
        Ok(mode)
    }

    /// The modes the kubelet may give a file of `mode`: with an `fsGroup`, group-readable too.
    fn modes(&self, mode: u32) -> Vec<u32> {
        let fs_group = self
            .workload
            .pod_spec
            .security_context
            .as_ref()
            .and_then(|s| s.fs_group)
            .is_some();
        let mut modes = vec![mode];
        if fs_group && mode | FS_GROUP_FILE_BITS != mode {
            modes.push(mode | FS_GROUP_FILE_BITS);
        }
        modes
    }

    fn add(
        &mut self,
        path: &str,
        size: Option<u64>,
        modes: Vec<u32>,
        sha256: Option<String>,
    ) -> Result<(), PolicyError> {
        let clean = !path.is_empty()
            && !path.starts_with('/')
            && !path.starts_with("..")
            && path.split('/').all(|part| !part.is_empty() && part != "..");
        if !clean {
            return Err(self.unsupported(
                &format!("path {path:?}"),
                "a projected file's path is relative, without empty or .. components, and does \
                 not start with ..",
            ));
        }
        if self
            .files
            .insert(
                path.to_owned(),
                FileRule {
                    size,
                    modes,
                    sha256,
                },
            )
            .is_some()
        {
            return Err(self.unsupported(
                &format!("path {path:?}"),
                "two files of the volume have this path",
            ));
        }
        Ok(())
    }

    /// The files with the directories and user-visible names they imply.
    fn into_files(self) -> Result<VolumeFiles, PolicyError> {
        let mut dirs = BTreeSet::new();
        let mut top = BTreeSet::new();
        for path in self.files.keys() {
            let parts: Vec<&str> = path.split('/').collect();
            top.extend(parts.first().map(|part| (*part).to_owned()));
            for end in 1..parts.len() {
                dirs.insert(parts.get(..end).unwrap_or_default().join("/"));
            }
        }
        if let Some(both) = dirs.iter().find(|dir| self.files.contains_key(*dir)) {
            return Err(self.unsupported(
                &format!("path {both:?}"),
                "a path is both a file and a directory of the volume",
            ));
        }
        let known = self
            .files
            .values()
            .filter(|file| file.sha256.is_some())
            .count();
        if known > 0 && known < self.files.len() {
            // Its ..data must stay re-pointable for what generate cannot know (a token), so
            // the ConfigMap's or Secret's files in it could be replaced after the gate's check.
            return Err(self.unsupported(
                "sources",
                "it mixes ConfigMap or Secret files with files generate cannot know (a token, a \
                 downward-API value decided at run time, a Secret left unpinned); put them in \
                 volumes of their own, or leave the volume unpinned (--unpinned-volume)",
            ));
        }
        let content_pinned = !self.files.is_empty() && known == self.files.len();
        Ok(VolumeFiles {
            files: self.files,
            dirs: dirs.into_iter().collect(),
            top: top.into_iter().collect(),
            content_pinned,
        })
    }

    fn missing(&self, kind: ConfigSourceKind, name: &str, key: Option<&str>) -> PolicyError {
        PolicyError::MissingVolumeSource {
            at: self.at.clone(),
            volume: self.volume.to_owned(),
            kind: kind_name(kind),
            name: name.to_owned(),
            key: key.map(str::to_owned),
        }
    }

    fn unsupported(&self, field: &str, hint: &str) -> PolicyError {
        PolicyError::Unsupported {
            workload: self.workload.name.clone(),
            field: format!("{}: volume {:?}: {field}", self.at, self.volume),
            hint: hint.to_owned(),
        }
    }
}

/// The shared entry names of the pinned volumes' mounts. An entry is named after the mount
/// point's last component only, so a pinned volume may not share its name with the runtime's own
/// entries or with a volume left unpinned.
fn entries(
    workload: &Workload,
    volumes: &BTreeMap<String, VolumeFiles>,
    unpinned: &BTreeSet<String>,
) -> Result<BTreeMap<String, Vec<String>>, PolicyError> {
    let spec = &workload.pod_spec;
    let mounts = || {
        spec.init_containers
            .iter()
            .chain(&spec.containers)
            .flat_map(|container: &Container| &container.volume_mounts)
            .map(|mount| (entry_name(&mount.mount_path), mount))
    };
    let mut entries: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, mount) in mounts() {
        if volumes.contains_key(&mount.name) {
            entries
                .entry(name.to_owned())
                .or_default()
                .insert(mount.name.clone());
        }
    }
    let refuse = |path: &str, hint: String| PolicyError::Unsupported {
        workload: workload.name.clone(),
        field: format!("volumeMounts {path}"),
        hint,
    };
    if let Some((name, both)) = entries.iter().find(|(_, volumes)| volumes.len() > 1) {
        let both: Vec<&str> = both.iter().map(String::as_str).collect();
        return Err(refuse(
            name,
            format!(
                "volumes {both:?} are mounted at paths ending in {name:?}, and the runtime names \
                 each copy only after that last component: a file of one could be added to the \
                 other's mount; mount them at paths that end differently"
            ),
        ));
    }
    for (name, mount) in mounts() {
        if !entries.contains_key(name) {
            continue;
        }
        if PLATFORM_ENTRIES.contains(&name) {
            return Err(refuse(
                &mount.mount_path,
                format!(
                    "the runtime copies its own {name:?} into every container under this name; \
                     mount volume {:?} at a path that ends otherwise, or leave it unpinned \
                     (--unpinned-volume {})",
                    mount.name, mount.name
                ),
            ));
        }
        if unpinned.contains(&mount.name) {
            return Err(refuse(
                &mount.mount_path,
                format!(
                    "volume {:?} is left unpinned but its mount point ends like a pinned \
                     volume's ({name:?}); mount it at a path that ends otherwise",
                    mount.name
                ),
            ));
        }
    }
    Ok(entries
        .into_iter()
        .map(|(name, volumes)| (name, volumes.into_iter().collect()))
        .collect())
}

/// The SHA-256 of `bytes`, lower-case hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The runtime's name for a mount's shared entry: the mount point's last component.
pub(crate) fn entry_name(mount_path: &str) -> &str {
    let trimmed = mount_path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

fn kind_name(kind: ConfigSourceKind) -> &'static str {
    match kind {
        ConfigSourceKind::ConfigMap => "ConfigMap",
        ConfigSourceKind::Secret => "Secret",
    }
}

#[cfg(test)]
mod tests {
    use chiaro_k8s::read_documents;

    use super::*;

    fn volumes(yaml: &str, options: &GenerateOptions) -> Result<CopyVolumes, PolicyError> {
        let documents = read_documents("pod.yaml", yaml).map_err(PolicyError::Input)?;
        let mut config = ConfigSources::default();
        for document in &documents {
            config.add(document).map_err(PolicyError::Input)?;
        }
        let workload = Workload::from_document(&documents[0])
            .map_err(PolicyError::Input)?
            .ok_or_else(|| PolicyError::PolicyData(serde::de::Error::custom("no workload")))?;
        copy_volumes(&documents[0], &workload, &config, options).map(|(volumes, _)| volumes)
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n    volumeMounts: [{name: v, mountPath: /etc/v/}]\n  volumes:\n  - name: v\n    configMap: {name: cm, items: [{key: a, path: x/y/a}, {key: b, path: b}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: \"1\", b: \"22\"}\n";

    #[test]
    fn nested_paths_give_their_directories_and_one_top_level_name() {
        let volumes = volumes(POD, &GenerateOptions::default()).unwrap();
        let files = &volumes.volumes["v"];
        assert_eq!(files.dirs, ["x", "x/y"]);
        assert_eq!(files.top, ["b", "x"]);
        assert_eq!(files.files["x/y/a"].size, Some(1));
        assert_eq!(files.files["b"].modes, [DEFAULT_FILE_MODE]);
        assert_eq!(volumes.entries["v"], ["v".to_owned()]);
        assert_eq!(volumes.data_dir_regex, DATA_DIR_REGEX);
    }

    #[test]
    fn an_unpinned_volume_is_left_out() {
        let options = GenerateOptions {
            unpinned_volumes: BTreeSet::from(["v".to_owned()]),
            ..GenerateOptions::default()
        };
        let volumes = volumes(POD, &options).unwrap();
        assert!(volumes.volumes.is_empty() && volumes.entries.is_empty());
    }

    #[test]
    fn the_entry_is_the_mount_points_last_component() {
        assert_eq!(entry_name("/etc/app/"), "app");
        assert_eq!(entry_name("/etc/app.d"), "app.d");
        assert_eq!(entry_name("config"), "config");
    }

    #[test]
    fn a_mode_above_0777_is_refused() {
        let yaml = POD.replace("{key: b, path: b}", "{key: b, path: b, mode: 4095}");
        let error = volumes(&yaml, &GenerateOptions::default()).unwrap_err();
        assert!(error.to_string().contains("at most 0777"), "{error}");
    }
}
