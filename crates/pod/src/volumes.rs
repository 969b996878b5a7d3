//! Encrypted volumes: which block-mode volumes of a pod the volume owner (`chiaro-volume`, the
//! pod's `chiaro-volumes` sidecar) opens with LUKS2 and dm-integrity, and where each of its
//! pieces is. Generate reads the annotation and injects the owner with [`VolumeArgs`]; the owner
//! parses the same arguments and finds the device, the mapping and the mount at the paths
//! below. Every name and path of a volume is spelled here once.
//!
//! The annotation [`ENCRYPTED_VOLUMES_ANNOTATION`] lists volume names, comma-separated (spaces
//! around the commas allowed): each an RFC 1123 label of at most [`MAX_NAME_LEN`] characters,
//! so that the injected emptyDir's name `chiaro-vol-NAME` is still a 63-character label; no
//! name twice; at least one.

use std::fmt;
use std::path::PathBuf;

use crate::layout::MOUNT;
use crate::{AnnotationFault, PodError};

/// Annotation: the pod's volumes the owner encrypts (block-mode PVC volumes).
pub const ENCRYPTED_VOLUMES_ANNOTATION: &str = "chiaro.dev/encrypted-volumes";
/// The longest volume name: `chiaro-vol-` and the name fit a 63-character volume name.
pub const MAX_NAME_LEN: usize = 52;
/// The owner container's name.
pub const OWNER_CONTAINER: &str = "chiaro-volumes";
/// Where the owner sees each volume's block device (`volumeDevices[].devicePath`).
pub const DEVICE_DIR: &str = "/dev/chiaro-volumes";
/// Where the owner mounts each volume's emptyDir, and the opened file system on it.
pub const OWNER_MOUNT_ROOT: &str = "/chiaro-volumes";
/// The prefix of the emptyDir injected per volume, shared with the app containers.
pub const EMPTYDIR_PREFIX: &str = "chiaro-vol-";
/// The prefix of each volume's device-mapper name.
pub const MAPPER_PREFIX: &str = "chiaro-";

/// The owner's flag: one volume (repeated).
pub const VOLUME_FLAG: &str = "volume";
/// The owner's flag: the keys are per replica (the pod's name, [`crate::env::POD_NAME`]).
pub const PER_REPLICA_FLAG: &str = "per-replica";
/// The owner's flag: the credentials directory (workload secret in, ready files out).
pub const CREDENTIALS_FLAG: &str = crate::layout::CREDENTIALS_FLAG;
/// The owner's flag, local mode only: INSECURE, each volume is a regular file and its "mount" a
/// plain directory; the data is not encrypted (the header and key logic are the real ones).
pub const INSECURE_FILE_STAND_IN_FLAG: &str = "insecure-file-stand-in";
/// The owner's flag, with [`INSECURE_FILE_STAND_IN_FLAG`] only: the directory holding each
/// volume's file (`DIR/NAME`) instead of [`DEVICE_DIR`].
pub const DEVICE_DIR_FLAG: &str = "device-dir";
/// The owner's flag, with [`INSECURE_FILE_STAND_IN_FLAG`] only: the directory holding each
/// volume's plain directory (`DIR/NAME`) instead of [`OWNER_MOUNT_ROOT`].
pub const MOUNT_ROOT_FLAG: &str = "mount-root";

/// A volume's name as the pod spec has it: a DNS label of at most [`MAX_NAME_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VolumeName(String);

impl VolumeName {
    /// Parses one name.
    ///
    /// # Errors
    /// [`PodError::Annotation`] for [`ENCRYPTED_VOLUMES_ANNOTATION`], naming the entry.
    pub fn parse(text: &str) -> Result<Self, PodError> {
        if is_label(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(fault(
                text,
                AnnotationFault::VolumeName {
                    name: text.to_owned(),
                },
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `/dev/chiaro-volumes/NAME`: the block device in the owner container.
    pub fn device_path(&self) -> PathBuf {
        PathBuf::from(DEVICE_DIR).join(&self.0)
    }

    /// `/chiaro-volumes/NAME`: the owner's mount of the emptyDir, where it mounts the volume.
    pub fn owner_mount_dir(&self) -> PathBuf {
        PathBuf::from(OWNER_MOUNT_ROOT).join(&self.0)
    }

    /// `chiaro-vol-NAME`: the emptyDir generate injects, shared (Bidirectional) with the apps.
    pub fn emptydir_volume(&self) -> String {
        format!("{EMPTYDIR_PREFIX}{}", self.0)
    }

    /// `chiaro-NAME`: the device-mapper name of the opened volume.
    pub fn mapper_name(&self) -> String {
        format!("{MAPPER_PREFIX}{}", self.0)
    }
}

impl fmt::Display for VolumeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses [`ENCRYPTED_VOLUMES_ANNOTATION`]'s value.
///
/// # Errors
/// [`PodError::Annotation`] naming the bad entry: not a label of at most [`MAX_NAME_LEN`]
/// characters, a name listed twice, or no name at all.
pub fn parse_encrypted_volumes(text: &str) -> Result<Vec<VolumeName>, PodError> {
    let mut names: Vec<VolumeName> = Vec::new();
    for entry in text.split(',').map(str::trim) {
        let name = VolumeName::parse(entry)?;
        if names.contains(&name) {
            return Err(fault(entry, AnnotationFault::VolumeTwice));
        }
        names.push(name);
    }
    Ok(names)
}

/// The owner's arguments, as generate writes them and the owner's flags read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeArgs {
    /// `--volume NAME`, once per volume.
    pub volumes: Vec<VolumeName>,
    /// `--per-replica`: each pod's keys also depend on its name.
    pub per_replica: bool,
    /// `--credentials DIR`.
    pub credentials: String,
}

impl VolumeArgs {
    /// The owner of a pod: its volumes, the pod's credentials.
    pub fn owner(volumes: Vec<VolumeName>, per_replica: bool) -> Self {
        Self {
            volumes,
            per_replica,
            credentials: MOUNT.to_owned(),
        }
    }

    /// The container's `args`.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for volume in &self.volumes {
            args.extend([format!("--{VOLUME_FLAG}"), volume.to_string()]);
        }
        if self.per_replica {
            args.push(format!("--{PER_REPLICA_FLAG}"));
        }
        args.extend([format!("--{CREDENTIALS_FLAG}"), self.credentials.clone()]);
        args
    }
}

fn is_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    let inner = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes.iter().all(inner)
        && edge(bytes.first())
        && edge(bytes.last())
}

fn fault(entry: &str, fault: AnnotationFault) -> PodError {
    PodError::Annotation {
        annotation: ENCRYPTED_VOLUMES_ANNOTATION,
        entry: entry.to_owned(),
        fault,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::CredentialsDir;

    fn names(text: &str) -> Vec<String> {
        parse_encrypted_volumes(text)
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn refusal(text: &str) -> (String, AnnotationFault) {
        match parse_encrypted_volumes(text) {
            Err(PodError::Annotation { entry, fault, .. }) => (entry, fault),
            other => (format!("{other:?}"), AnnotationFault::VolumeTwice),
        }
    }

    #[test]
    fn names_are_comma_separated_with_spaces_allowed() {
        assert_eq!(names("data"), ["data"]);
        assert_eq!(names("data , logs,db-0"), ["data", "logs", "db-0"]);
    }

    #[test]
    fn a_bad_entry_is_named() {
        let bad = |name: &str| {
            (
                name.to_owned(),
                AnnotationFault::VolumeName {
                    name: name.to_owned(),
                },
            )
        };
        assert_eq!(refusal("data,Logs"), bad("Logs"));
        assert_eq!(refusal(""), bad(""));
        assert_eq!(refusal("data,,logs"), bad(""));
        assert_eq!(refusal("-data"), bad("-data"));
        assert_eq!(refusal("data-"), bad("data-"));
        assert_eq!(refusal("da_ta"), bad("da_ta"));
        assert_eq!(refusal("../x"), bad("../x"));
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert_eq!(refusal(&long), bad(&long));
        assert_eq!(names(&"a".repeat(MAX_NAME_LEN)).len(), 1);
        assert_eq!(
            refusal("data, logs, data"),
            ("data".to_owned(), AnnotationFault::VolumeTwice)
        );
    }

    #[test]
    fn the_error_names_the_annotation_and_the_entry() {
        let error = parse_encrypted_volumes("data,Bad")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some(
                "chiaro.dev/encrypted-volumes: entry \"Bad\": volume name \"Bad\": use 1-52 of \
                 a-z, 0-9 and -, starting and ending with a letter or digit"
            )
        );
    }

    /// The layout as deployed pods and their pinned policies have it.
    #[test]
    fn the_layout_is_that_of_deployed_pods() {
        let name = VolumeName::parse("data").unwrap();
        assert_eq!(name.device_path(), Path::new("/dev/chiaro-volumes/data"));
        assert_eq!(name.owner_mount_dir(), Path::new("/chiaro-volumes/data"));
        assert_eq!(name.emptydir_volume(), "chiaro-vol-data");
        assert_eq!(name.mapper_name(), "chiaro-data");
        assert_eq!(
            CredentialsDir::pod().volume_ready(&name),
            Path::new("/chiaro/volumes/data.ready")
        );
        assert_eq!(name.emptydir_volume().len(), "chiaro-vol-".len() + 4);
        assert!(EMPTYDIR_PREFIX.len() + MAX_NAME_LEN <= 63);
    }

    #[test]
    fn the_owner_arguments_are_pinned() {
        let volumes = parse_encrypted_volumes("data,logs").unwrap();
        assert_eq!(
            VolumeArgs::owner(volumes.clone(), true).args(),
            [
                "--volume",
                "data",
                "--volume",
                "logs",
                "--per-replica",
                "--credentials",
                "/chiaro"
            ]
        );
        assert_eq!(
            VolumeArgs::owner(volumes, false).args(),
            [
                "--volume",
                "data",
                "--volume",
                "logs",
                "--credentials",
                "/chiaro"
            ]
        );
    }
}
