//! Encrypted persistent volumes, as generate writes them and the volume owner
//! (`chiaro-volume`) reads them: the annotation that marks a pod's volumes, each volume's name,
//! and where its device, directories, mapping and ready file are. Pure; spelled once.
//!
//! A marked volume's raw block device is at [`VolumeName::device_path`] in the volume owner
//! (and in the containers that mount the volume); the owner opens it with LUKS2 as the
//! device-mapper device [`VolumeName::mapper_name`] and mounts the file system on the
//! in-memory directory [`VolumeName::emptydir_volume`] (at [`VolumeName::owner_mount_dir`] in
//! the owner, with `Bidirectional` propagation), which the containers mount where the pod spec
//! mounts the volume; once mounted it writes [`crate::CredentialsDir::volume_ready`], for which
//! their start gates wait.

use std::fmt;

use crate::layout::MOUNT;
use crate::{AnnotationFault, PodError};

/// Annotation: the pod's persistent volumes to encrypt, by name, separated by `,`.
pub const ENCRYPTED_VOLUMES_ANNOTATION: &str = "chiaro.dev/encrypted-volumes";

/// The longest volume name: `chiaro-vol-<name>` must be a volume name (63 characters) too.
pub const MAX_NAME: usize = 52;

/// The volume owner's flag: a volume to open (repeated).
pub const VOLUME_FLAG: &str = "volume";
/// The volume owner's flag: each key's context holds the pod's name ([`crate::env::POD_NAME`]).
pub const PER_REPLICA_FLAG: &str = "per-replica";
/// The volume owner's flag: the credentials directory (workload secret in, ready files out).
pub const CREDENTIALS_FLAG: &str = "credentials";

/// A pod volume's name, as an encrypted volume: an RFC 1123 label of at most [`MAX_NAME`]
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VolumeName(String);

impl VolumeName {
    /// Checks `name`.
    ///
    /// # Errors
    /// [`AnnotationFault::VolumeName`] for anything but 1-52 of `a-z`, `0-9` and `-`, starting
    /// and ending with a letter or digit.
    pub fn parse(name: &str) -> Result<Self, AnnotationFault> {
        let bytes = name.as_bytes();
        let edge =
            |byte: Option<&u8>| byte.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let valid = (1..=MAX_NAME).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && edge(bytes.first())
            && edge(bytes.last());
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(AnnotationFault::VolumeName {
                name: name.to_owned(),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The device node of its raw block device, in the owner and the containers that mount it.
    pub fn device_path(&self) -> String {
        format!("/dev/chiaro-volumes/{}", self.0)
    }

    /// Where the owner mounts the volume's directory (and the file system on it).
    pub fn owner_mount_dir(&self) -> String {
        format!("/chiaro-volumes/{}", self.0)
    }

    /// The in-memory pod volume the file system is mounted on.
    pub fn emptydir_volume(&self) -> String {
        format!("chiaro-vol-{}", self.0)
    }

    /// The device-mapper name of the opened volume.
    pub fn mapper_name(&self) -> String {
        format!("chiaro-{}", self.0)
    }
}

impl fmt::Display for VolumeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The annotation's volumes, in order.
///
/// # Errors
/// [`PodError::Annotation`] for an empty list, a name that is not a [`VolumeName`], or a name
/// given twice.
pub fn parse_encrypted_volumes(text: &str) -> Result<Vec<VolumeName>, PodError> {
    let fault = |entry: &str, fault| PodError::Annotation {
        annotation: ENCRYPTED_VOLUMES_ANNOTATION,
        entry: entry.to_owned(),
        fault,
    };
    let mut volumes: Vec<VolumeName> = Vec::new();
    for entry in text.split(',').map(str::trim) {
        let name = VolumeName::parse(entry).map_err(|f| fault(entry, f))?;
        if volumes.contains(&name) {
            return Err(fault(entry, AnnotationFault::VolumeTwice));
        }
        volumes.push(name);
    }
    Ok(volumes)
}

/// The volume owner's arguments, as generate writes them and its flags read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeArgs {
    /// `--volume NAME`, each.
    pub volumes: Vec<VolumeName>,
    /// `--per-replica`.
    pub per_replica: bool,
    /// `--credentials DIR`.
    pub credentials: String,
}

impl VolumeArgs {
    /// The owner of a pod's volumes, with the pod's credentials.
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
            args.extend([format!("--{VOLUME_FLAG}"), volume.as_str().to_owned()]);
        }
        if self.per_replica {
            args.push(format!("--{PER_REPLICA_FLAG}"));
        }
        args.extend([format!("--{CREDENTIALS_FLAG}"), self.credentials.clone()]);
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> VolumeName {
        VolumeName::parse(text).unwrap()
    }

    /// The contract as deployed pods and their pinned policies have it.
    #[test]
    fn the_paths_and_arguments_are_those_of_deployed_pods() {
        let data = name("data");
        assert_eq!(data.device_path(), "/dev/chiaro-volumes/data");
        assert_eq!(data.owner_mount_dir(), "/chiaro-volumes/data");
        assert_eq!(data.emptydir_volume(), "chiaro-vol-data");
        assert_eq!(data.mapper_name(), "chiaro-data");
        assert_eq!(
            VolumeArgs::owner(vec![data, name("logs")], true).args(),
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
    }

    #[test]
    fn the_annotation_lists_names_once_each() {
        assert_eq!(
            parse_encrypted_volumes("data, logs").unwrap(),
            [name("data"), name("logs")]
        );
        for (text, fault) in [
            ("", "volume name \"\""),
            ("data,", "volume name \"\""),
            ("Data", "volume name \"Data\""),
            ("-x", "volume name \"-x\""),
            ("data,data", "named twice"),
        ] {
            let error = parse_encrypted_volumes(text).unwrap_err().to_string();
            assert!(
                error.starts_with(ENCRYPTED_VOLUMES_ANNOTATION) && error.contains(fault),
                "{text:?}: {error}"
            );
        }
        let longest = "a".repeat(MAX_NAME);
        assert!(VolumeName::parse(&longest).is_ok());
        assert!(VolumeName::parse(&format!("{longest}a")).is_err());
        assert_eq!(
            name(&longest).emptydir_volume().len(),
            63,
            "the directory's name is a volume name"
        );
    }
}
