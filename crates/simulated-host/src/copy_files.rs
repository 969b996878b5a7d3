//! The `CopyFileRequest`s the Kata Go runtime sends for a container's ConfigMap, Secret,
//! downward-API and projected volumes when the guest shares no file system with the host
//! (`shared_fs = none`), in the form the agent hands its policy (`PolicyCopyFileRequest`: the
//! request without its `data`, with the file type and a symlink's target).
//!
//! The runtime walks the kubelet's volume directory in lexical order (Go's `filepath.WalkDir`)
//! and copies every entry to `<shared entry>/<its path>`: the directory itself, the timestamped
//! directory with the files, `..data -> ..<timestamp>`, then each user-visible `name ->
//! ..data/name`. On an update (the kubelet re-projects into a new timestamped directory) it
//! copies the new directory, then `..data` again, then the symlinks of names that are new.

use chiaro_policy::{PolicyData, PolicyError, VolumeFiles};
use serde_json::{Value, json};

use crate::{SimulatedPod, instance_id, shared_entry};

/// `S_IFREG`, `S_IFDIR`, `S_IFLNK`: the type bits of `file_mode` (the host file's `st_mode`).
const REGULAR: u32 = 0o100_000;
const DIRECTORY: u32 = 0o040_000;
const SYMLINK: u32 = 0o120_000;
/// The runtime's `uint32(DirMode)`: `0750 | os.ModeDir` (Go's own directory bit, 1 << 31).
const DIR_MODE: u32 = 0o750 | 1 << 31;
/// The kubelet's data directory in the simulation's first copy of a volume.
pub const DATA_DIR: &str = "..2026_12_02_04_45_55.1234567890";
/// The size the simulation gives a file whose size the policy leaves open.
const UNPINNED_SIZE: u64 = 42;

/// The requests that deliver `container`'s pinned volumes for its `instance`th instance, the
/// kubelet's data directory named `timestamp` (as `..2026_12_02_04_45_55.1234567890`), sent
/// before its `CreateContainerRequest`.
///
/// # Errors
/// [`PolicyError::Unsupported`] for a container the policy does not have.
pub fn volume_copy_requests(
    data: &PolicyData,
    pod: &SimulatedPod,
    container: &str,
    instance: u32,
    timestamp: &str,
) -> Result<Vec<Value>, PolicyError> {
    let mut requests = Vec::new();
    for (entry, files) in pinned_mounts(data, pod, container, instance)? {
        let mut paths: Vec<(Vec<String>, Value)> = vec![(Vec::new(), directory(&entry, ""))];
        paths.extend(data_dir(&entry, files, timestamp, data));
        paths.push((
            vec!["..data".to_owned()],
            symlink(&entry, "..data", timestamp),
        ));
        for name in &files.top {
            paths.push((
                vec![name.clone()],
                symlink(&entry, name, &format!("..data/{name}")),
            ));
        }
        // WalkDir's order: each directory before its entries, entries by name.
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        requests.extend(paths.into_iter().map(|(_, request)| request));
    }
    Ok(requests)
}

/// The requests of a late update with unchanged files: the kubelet re-projected the volumes
/// into `timestamp`, and the runtime copies that directory and points `..data` at it.
///
/// # Errors
/// As [`volume_copy_requests`].
pub fn volume_update_requests(
    data: &PolicyData,
    pod: &SimulatedPod,
    container: &str,
    instance: u32,
    timestamp: &str,
) -> Result<Vec<Value>, PolicyError> {
    let mut requests = Vec::new();
    for (entry, files) in pinned_mounts(data, pod, container, instance)? {
        let mut paths = data_dir(&entry, files, timestamp, data);
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        requests.extend(paths.into_iter().map(|(_, request)| request));
        requests.push(symlink(&entry, "..data", timestamp));
    }
    Ok(requests)
}

/// Each pinned volume mount of the container: its shared entry and the volume's files.
fn pinned_mounts<'d>(
    data: &'d PolicyData,
    pod: &SimulatedPod,
    container: &str,
    instance: u32,
) -> Result<Vec<(String, &'d VolumeFiles)>, PolicyError> {
    let rules = data
        .containers
        .get(container)
        .ok_or_else(|| PolicyError::Unsupported {
            workload: container.to_owned(),
            field: "no such container in the policy".to_owned(),
            hint: "the simulated host copies the volumes of the policy's containers".to_owned(),
        })?;
    let id = instance_id(pod, container, instance);
    Ok(rules
        .mounts
        .iter()
        .filter_map(|mount| {
            let files = data.copy_volumes.volumes.get(mount.volume.as_deref()?)?;
            Some((shared_entry(&id, &mount.destination), files))
        })
        .collect())
}

/// The timestamped directory, its directories and its files.
fn data_dir(
    entry: &str,
    files: &VolumeFiles,
    timestamp: &str,
    data: &PolicyData,
) -> Vec<(Vec<String>, Value)> {
    let gid = data.pod.fs_group.unwrap_or(0);
    let key = |path: &str| {
        std::iter::once(timestamp.to_owned())
            .chain(path.split('/').map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let mut paths = vec![(vec![timestamp.to_owned()], directory(entry, timestamp))];
    for dir in &files.dirs {
        paths.push((key(dir), directory(entry, &format!("{timestamp}/{dir}"))));
    }
    for (path, rule) in &files.files {
        let mode = rule.modes.last().copied().unwrap_or(0o644);
        paths.push((
            key(path),
            json!({
                "path": format!("{entry}/{timestamp}/{path}"),
                "file_type": "Regular",
                "symlink_target": null,
                "file_size": rule.size.unwrap_or(UNPINNED_SIZE),
                "file_mode": REGULAR | mode,
                "dir_mode": DIR_MODE,
                "uid": 0,
                "gid": gid,
                "offset": 0,
            }),
        ));
    }
    paths
}

fn directory(entry: &str, path: &str) -> Value {
    json!({
        "path": if path.is_empty() { entry.to_owned() } else { format!("{entry}/{path}") },
        "file_type": "Directory",
        "symlink_target": null,
        "file_size": 0,
        "file_mode": DIRECTORY | 0o755,
        "dir_mode": DIR_MODE,
        "uid": 0,
        "gid": 0,
        "offset": 0,
    })
}

fn symlink(entry: &str, path: &str, target: &str) -> Value {
    json!({
        "path": format!("{entry}/{path}"),
        "file_type": "Symlink",
        "symlink_target": target,
        "file_size": 0,
        "file_mode": SYMLINK | 0o777,
        "dir_mode": DIR_MODE,
        "uid": 0,
        "gid": 0,
        "offset": 0,
    })
}
