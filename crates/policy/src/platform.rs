//! What the Kata runtime (containerd shim with guest image pull) and the kubelet add to every
//! pod: mounts, namespaces, masked paths, storages, path layout. Part of every policy's data, so
//! the rules hold no runtime constants.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::MountRule;

/// The Kata runtime's conventions, as the policy checks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    /// containerd's bundle directory; the last component is the container id.
    pub bundle_path_prefix: String,
    /// Guest directory holding `<container id>/rootfs`.
    pub guest_container_dir: String,
    /// Guest directory where block storages are mounted, by base64 of the device id.
    pub block_storage_dir: String,
    /// Annotation keys the runtime sets that carry no configuration for the guest.
    pub annotation_key_patterns: Vec<String>,
    /// Namespaces every container has (the network namespace is checked separately).
    pub namespaces: Vec<Namespace>,
    /// Paths that must be masked.
    #[serde(rename = "MaskedPaths")]
    pub masked_paths: Vec<String>,
    /// Paths that must be read-only.
    #[serde(rename = "ReadonlyPaths")]
    pub readonly_paths: Vec<String>,
    /// AppArmor profiles the runtime may name (not enforced in the guest).
    pub apparmor_profiles: Vec<String>,
    /// Mounts of every container (`container`) and of the sandbox container (`sandbox`).
    pub mounts: BTreeMap<String, Vec<MountRule>>,
    /// Storage kinds backing pod volumes, by name.
    pub storages: BTreeMap<String, StorageTemplate>,
    /// Storages of CreateSandboxRequest.
    pub sandbox_storages: Vec<serde_json::Value>,
    /// Where CopyFileRequest may write: a container's shared entries.
    pub copy_file_prefix_regexes: Vec<String>,
    /// The agent's device types of a hot-plugged block device (virtio-blk, virtio-scsi).
    pub block_device_types: Vec<String>,
    /// Network configuration limits.
    pub network: NetworkRules,
}

/// An OCI namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// `ipc`, `uts`, `mount`, ...
    #[serde(rename = "Type")]
    pub kind: String,
    /// Empty for a new namespace.
    #[serde(rename = "Path")]
    pub path: String,
}

/// A storage kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageTemplate {
    /// Agent storage driver.
    pub driver: String,
    /// Exact driver options.
    pub driver_options: Vec<String>,
    /// File system type.
    pub fstype: String,
    /// Mount options.
    pub options: Vec<String>,
    /// Source pattern.
    pub source_regex: String,
    /// Mount point pattern, or `block` for the block storage directory plus base64(source).
    pub mount_point: String,
}

/// Limits on the host's network configuration of the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRules {
    /// Devices the host may not configure.
    pub forbidden_devices: Vec<String>,
    /// MAC addresses the host may not set.
    pub forbidden_hw_addrs: Vec<String>,
    /// Interface flag words allowed (0 or IFF_NOARP).
    pub interface_raw_flags: Vec<u32>,
    /// Loopback addresses, which no route or neighbour may use.
    pub loopback_address_regexes: Vec<String>,
    /// Neighbour states allowed (NUD_REACHABLE, NUD_PERMANENT).
    pub arp_states: Vec<u32>,
    /// Neighbour flag words allowed (combinations of NTF_PROXY and NTF_ROUTER).
    pub arp_flags: Vec<u32>,
}

/// The Linux capabilities, through `CAP_CHECKPOINT_RESTORE` (Linux 5.9), without `CAP_`: what
/// containerd may give a privileged container (the ones the host kernel knows).
pub(crate) const ALL_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Where the runtime has the agent mount memory-backed emptyDirs, one directory per volume name.
pub const EPHEMERAL_DIR: &str = "/run/kata-containers/sandbox/ephemeral";

/// A Kubernetes volume name (an RFC 1123 label).
pub(crate) const VOLUME_NAME_REGEX: &str = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?";

/// Shared-file entries of a container: `<shared dir>/<bundle id>-<16 chars>-<name>`.
pub(crate) const SHARED_FILE_PREFIX: &str = "^/run/kata-containers/shared/containers(/passthrough)?/(watchable/)?$(bundle-id)-[a-z0-9]{16}-";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn mount(destination: &str, kind: &str, source_regex: &str, options: &[&str]) -> MountRule {
    MountRule {
        destination: destination.to_owned(),
        kind: kind.to_owned(),
        source_regex: source_regex.to_owned(),
        options: strings(options),
        optional_options: Vec::new(),
        storage: None,
        volume: None,
        required: false,
    }
}

fn shared_file(name: &str) -> String {
    format!("{SHARED_FILE_PREFIX}{}$", name.replace('.', "\\."))
}

impl Platform {
    /// Kata Containers with confidential guests: images pulled in the guest, emptyDirs on
    /// ephemeral-key encrypted block devices, containerd as the CRI runtime.
    pub fn kata_confidential() -> Self {
        let system_mounts = [
            mount("/proc", "proc", "^proc$", &["nosuid", "noexec", "nodev"]),
            mount(
                "/dev",
                "tmpfs",
                "^tmpfs$",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
            mount(
                "/dev/pts",
                "devpts",
                "^devpts$",
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            ),
            mount(
                "/dev/mqueue",
                "mqueue",
                "^mqueue$",
                &["nosuid", "noexec", "nodev"],
            ),
            mount(
                "/sys",
                "sysfs",
                "^sysfs$",
                &["nosuid", "noexec", "nodev", "ro"],
            ),
            mount(
                "/dev/shm",
                "bind",
                "^/run/kata-containers/sandbox/shm$",
                &["rbind"],
            ),
        ];
        let mut container_mounts = system_mounts.to_vec();
        container_mounts.extend([
            MountRule {
                optional_options: strings(&["nsdelegate", "memory_recursiveprot"]),
                ..mount(
                    "/sys/fs/cgroup",
                    "cgroup",
                    "^cgroup$",
                    &["nosuid", "noexec", "nodev", "relatime", "ro"],
                )
            },
            mount(
                "/etc/hosts",
                "bind",
                &shared_file("hosts"),
                &["rbind", "rprivate", "rw"],
            ),
            mount(
                "/dev/termination-log",
                "bind",
                &shared_file("termination-log"),
                &["rbind", "rprivate", "rw"],
            ),
            MountRule {
                optional_options: strings(&["rw", "ro"]),
                ..mount(
                    "/etc/hostname",
                    "bind",
                    &shared_file("hostname"),
                    &["rbind", "rprivate"],
                )
            },
            MountRule {
                optional_options: strings(&["rw", "ro"]),
                ..mount(
                    "/etc/resolv.conf",
                    "bind",
                    &shared_file("resolv.conf"),
                    &["rbind", "rprivate"],
                )
            },
            mount(
                "/var/run/secrets/kubernetes.io/serviceaccount",
                "bind",
                &shared_file("serviceaccount"),
                &["rbind", "rprivate", "ro"],
            ),
        ]);
        let mut sandbox_mounts = system_mounts.to_vec();
        sandbox_mounts.push(mount(
            "/etc/resolv.conf",
            "bind",
            &shared_file("resolv.conf"),
            &["rbind", "ro", "nosuid", "nodev", "noexec"],
        ));
        let storages = BTreeMap::from([
            (
                "emptydir_encrypted".to_owned(),
                StorageTemplate {
                    driver: "blk".to_owned(),
                    driver_options: strings(&["encryption_key=ephemeral", "create_filesystem"]),
                    fstype: "ext4".to_owned(),
                    options: Vec::new(),
                    source_regex: "^[0-9a-f]+/[0-9a-f]+$".to_owned(),
                    mount_point: "block".to_owned(),
                },
            ),
            (
                "emptydir_memory".to_owned(),
                StorageTemplate {
                    driver: "ephemeral".to_owned(),
                    driver_options: Vec::new(),
                    fstype: "tmpfs".to_owned(),
                    options: Vec::new(),
                    source_regex: "^tmpfs$".to_owned(),
                    // The runtime names it after the pod volume, an RFC 1123 label (never `.`
                    // or `..`); each mount pins its volume's exact path.
                    mount_point: format!("^{EPHEMERAL_DIR}/{VOLUME_NAME_REGEX}$"),
                },
            ),
        ]);
        Self {
            bundle_path_prefix: "/run/containerd/io.containerd.runtime.v2.task/k8s.io/".to_owned(),
            guest_container_dir: "/run/kata-containers/".to_owned(),
            block_storage_dir: "/run/kata-containers/sandbox/storage".to_owned(),
            annotation_key_patterns: strings(&[
                "^io\\.kubernetes\\.cri\\.(container-name|container-type|sandbox-id|sandbox-name|sandbox-namespace|sandbox-uid|sandbox-log-directory|sandbox-cpu-period|sandbox-cpu-quota|sandbox-cpu-shares|sandbox-memory|podsandbox\\.image-name)$",
                "^io\\.katacontainers\\.pkg\\.oci\\.(bundle_path|container_type)$",
                "^nerdctl/network-namespace$",
            ]),
            namespaces: ["ipc", "uts", "mount"]
                .iter()
                .map(|kind| Namespace {
                    kind: (*kind).to_owned(),
                    path: String::new(),
                })
                .collect(),
            masked_paths: strings(&[
                "/proc/acpi",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/proc/scsi",
                "/sys/firmware",
            ]),
            readonly_paths: strings(&[
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ]),
            apparmor_profiles: strings(&["", "cri-containerd.apparmor.d"]),
            mounts: BTreeMap::from([
                ("container".to_owned(), container_mounts),
                ("sandbox".to_owned(), sandbox_mounts),
            ]),
            storages,
            sandbox_storages: vec![serde_json::json!({
                "driver": "ephemeral",
                "driver_options": [],
                "source": "shm",
                "fstype": "tmpfs",
                "options": ["noexec", "nosuid", "nodev", "mode=1777", "size=67108864"],
                "mount_point": "/run/kata-containers/sandbox/shm",
                "fs_group": null,
            })],
            copy_file_prefix_regexes: vec![SHARED_FILE_PREFIX.replace("$(bundle-id)", "[a-z0-9]+")],
            block_device_types: strings(&["blk", "scsi"]),
            network: NetworkRules {
                forbidden_devices: strings(&["lo"]),
                forbidden_hw_addrs: strings(&["00:00:00:00:00:00"]),
                interface_raw_flags: vec![0, 128],
                loopback_address_regexes: strings(&[
                    "^127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$",
                    "^(0{0,4}:){0,7}0{0,3}1$",
                    // IPv4-mapped, dotted or in hex (both cases spelled out: the agent's regex
                    // has no `(?i)`).
                    "^(0{0,4}:){1,6}[fF]{4}:127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$",
                    "^(0{0,4}:){1,6}[fF]{4}:7[fF][0-9a-fA-F]{2}:[0-9a-fA-F]{1,4}$",
                ]),
                arp_states: vec![2, 128],
                arp_flags: vec![0, 8, 128, 136],
            },
        }
    }
}
