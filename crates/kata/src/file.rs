//! The configuration file as the runtime decodes it (`katautils/config.go` `tomlConfig`): the
//! keys that matter, typed; every other key ignored (a main file has many); drop-in files
//! (`config.d/`, `decodeDropIns`) merged key by key.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{Error, Location};

/// `[hypervisor.<name>]`, the keys this crate reads.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawHypervisor {
    pub(crate) path: Option<String>,
    pub(crate) kernel: Option<String>,
    pub(crate) initrd: Option<String>,
    pub(crate) image: Option<String>,
    pub(crate) rootfs_type: Option<String>,
    pub(crate) firmware: Option<String>,
    pub(crate) firmware_volume: Option<String>,
    pub(crate) cpu_features: Option<String>,
    pub(crate) kernel_params: Option<String>,
    pub(crate) kernel_verity_params: Option<String>,
    pub(crate) machine_type: Option<String>,
    pub(crate) block_device_driver: Option<String>,
    pub(crate) enable_annotations: Option<Vec<String>>,
    /// A `float32` in Go; TOML integers are accepted as in Go.
    pub(crate) default_vcpus: Option<f64>,
    pub(crate) default_maxvcpus: Option<u32>,
    pub(crate) default_memory: Option<u32>,
    pub(crate) snp_guest_policy: Option<u64>,
    pub(crate) confidential_guest: Option<bool>,
    pub(crate) sev_snp_guest: Option<bool>,
    pub(crate) enable_debug: Option<bool>,
    pub(crate) enable_iommu: Option<bool>,
    pub(crate) disable_image_nvdimm: Option<bool>,
    pub(crate) disable_guest_selinux: Option<bool>,
    pub(crate) use_legacy_serial: Option<bool>,
}

/// `[agent.<name>]`, the keys this crate reads.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawAgent {
    pub(crate) enable_debug: Option<bool>,
    pub(crate) enable_tracing: Option<bool>,
    pub(crate) debug_console_enabled: Option<bool>,
    pub(crate) cdh_api_timeout: Option<u32>,
    /// Not read by the release this crate models; present in later releases' configurations,
    /// whose runtime turns it into `agent.launch_process_timeout=`.
    pub(crate) launch_process_timeout: Option<u32>,
}

/// `[runtime]`, the keys this crate reads.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawRuntime {
    pub(crate) enable_debug: Option<bool>,
    pub(crate) static_sandbox_resource_mgmt: Option<bool>,
}

/// The whole file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawFile {
    pub(crate) hypervisor: BTreeMap<String, RawHypervisor>,
    pub(crate) agent: BTreeMap<String, RawAgent>,
    pub(crate) runtime: RawRuntime,
}

/// The `toml:"…"` tags of the Go `hypervisor` struct (`katautils/config.go`, with the SNP and
/// later keys of the configuration templates): a drop-in may set only these, and a key equal to
/// one of them but for letter case is refused.
const HYPERVISOR_KEYS: &[&str] = &[
    "path",
    "jailer_path",
    "kernel",
    "initrd",
    "image",
    "rootfs_type",
    "firmware",
    "firmware_volume",
    "machine_accelerators",
    "cpu_features",
    "kernel_params",
    "kernel_verity_params",
    "machine_type",
    "tdx_quote_generation_service_socket_port",
    "block_device_driver",
    "entropy_source",
    "shared_fs",
    "virtio_fs_daemon",
    "virtio_fs_cache",
    "vhost_user_store_path",
    "file_mem_backend",
    "guest_hook_path",
    "guest_memory_dump_path",
    "seccompsandbox",
    "block_device_aio",
    "remote_hypervisor_socket",
    "valid_hypervisor_paths",
    "valid_jailer_paths",
    "valid_virtio_fs_daemon_paths",
    "virtio_fs_extra_args",
    "pflashes",
    "valid_vhost_user_store_paths",
    "valid_file_mem_backends",
    "valid_entropy_sources",
    "enable_annotations",
    "rx_rate_limiter_max_rate",
    "tx_rate_limiter_max_rate",
    "memory_offset",
    "default_maxmemory",
    "disk_rate_limiter_bw_max_rate",
    "disk_rate_limiter_bw_one_time_burst",
    "disk_rate_limiter_ops_max_rate",
    "disk_rate_limiter_ops_one_time_burst",
    "net_rate_limiter_bw_max_rate",
    "net_rate_limiter_bw_one_time_burst",
    "net_rate_limiter_ops_max_rate",
    "net_rate_limiter_ops_one_time_burst",
    "hypervisor_loglevel",
    "virtio_fs_cache_size",
    "virtio_fs_queue_size",
    "default_maxvcpus",
    "default_memory",
    "memory_slots",
    "default_bridges",
    "msize_9p",
    "remote_hypervisor_timeout",
    "default_vcpus",
    "block_device_cache_set",
    "block_device_cache_direct",
    "block_device_cache_noflush",
    "enable_vhost_user_store",
    "vhost_user_reconnect_timeout_sec",
    "disable_block_device_use",
    "enable_mem_prealloc",
    "enable_hugepages",
    "enable_virtio_mem",
    "enable_iommu",
    "enable_iommu_platform",
    "enable_debug",
    "disable_nesting_checks",
    "enable_iothreads",
    "indep_iothreads",
    "disable_image_nvdimm",
    "hot_plug_vfio",
    "cold_plug_vfio",
    "pcie_root_port",
    "pcie_switch_port",
    "disable_vhost_net",
    "guest_memory_dump_paging",
    "confidential_guest",
    "sev_snp_guest",
    "snp_id_block",
    "snp_id_auth",
    "snp_guest_policy",
    "snp_certs_path",
    "enable_guest_swap",
    "rootless",
    "disable_seccomp",
    "disable_selinux",
    "disable_guest_selinux",
    "use_legacy_serial",
    "extra_monitor_socket",
    "reclaim_guest_freed_memory",
];

/// The Go `agent` struct's tags (and `launch_process_timeout` of later templates).
const AGENT_KEYS: &[&str] = &[
    "kernel_modules",
    "enable_debug",
    "enable_tracing",
    "debug_console_enabled",
    "dial_timeout",
    "cdh_api_timeout",
    "launch_process_timeout",
];

/// The Go `runtime` struct's tags.
const RUNTIME_KEYS: &[&str] = &[
    "internetworking_model",
    "jaeger_endpoint",
    "jaeger_user",
    "jaeger_password",
    "vfio_mode",
    "guest_selinux_label",
    "sandbox_bind_mounts",
    "experimental",
    "enable_tracing",
    "disable_new_netns",
    "disable_guest_seccomp",
    "enable_vcpus_pinning",
    "enable_debug",
    "sandbox_cgroup_only",
    "static_sandbox_resource_mgmt",
    "enable_pprof",
    "disable_guest_empty_dir",
    "create_container_timeout",
    "dan_conf",
    "emptydir_mode",
];

/// The Go `factory` struct's tags.
const FACTORY_KEYS: &[&str] = &[
    "template_path",
    "vm_cache_endpoint",
    "vm_cache_number",
    "enable_template",
];

/// The top-level tables (`tomlConfig`'s untagged fields, matched case-insensitively by name).
const TOP_KEYS: &[&str] = &["hypervisor", "agent", "factory", "runtime"];

/// Go's `strings.EqualFold` for the ASCII field names above: equal under simple case folding.
fn equal_fold(a: &str, b: &str) -> bool {
    let mut a = a.chars();
    let mut b = b.chars();
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) => {
                let same = x == y
                    || x.to_lowercase().eq(y.to_lowercase())
                    || x.to_uppercase().eq(y.to_uppercase());
                if !same {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A key the Go decoder would take for `field` although it is not `field`.
fn case_variant(key: &str, fields: &'static [&'static str]) -> Option<&'static str> {
    if fields.contains(&key) {
        return None;
    }
    fields.iter().copied().find(|field| equal_fold(key, field))
}

/// Refuse keys that match a runtime key only case-insensitively; in a drop-in (`drop_in`),
/// also keys of `[hypervisor.*]` and `[agent.*]` the runtime does not have (`applyKey` fails).
fn check_keys(table: &toml::Table, drop_in: Option<usize>) -> Result<(), Error> {
    for (top, value) in table {
        if let Some(field) = case_variant(top, TOP_KEYS) {
            return Err(Error::KeyCase {
                key: top.clone(),
                field,
            });
        }
        let Some(inner) = value.as_table() else {
            continue;
        };
        let fields = match top.as_str() {
            "hypervisor" => HYPERVISOR_KEYS,
            "agent" => AGENT_KEYS,
            "runtime" => {
                check_table(top, inner, RUNTIME_KEYS, None)?;
                continue;
            }
            "factory" => {
                check_table(top, inner, FACTORY_KEYS, None)?;
                continue;
            }
            _ => continue,
        };
        for (name, section) in inner {
            if let Some(section) = section.as_table() {
                check_table(&format!("{top}.{name}"), section, fields, drop_in)?;
            }
        }
    }
    Ok(())
}

fn check_table(
    prefix: &str,
    table: &toml::Table,
    fields: &'static [&'static str],
    drop_in: Option<usize>,
) -> Result<(), Error> {
    for key in table.keys() {
        if let Some(field) = case_variant(key, fields) {
            return Err(Error::KeyCase {
                key: format!("{prefix}.{key}"),
                field,
            });
        }
        if let Some(file) = drop_in
            && !fields.contains(&key.as_str())
        {
            return Err(Error::UnknownDropInKey {
                key: format!("{prefix}.{key}"),
                file,
            });
        }
    }
    Ok(())
}

/// Parse one file: syntax, the types of the keys read, key case (and drop-in keys).
fn parse_one(text: &str, drop_in: Option<usize>) -> Result<(RawFile, toml::Table), Error> {
    let syntax = |error: toml::de::Error| Error::Syntax {
        message: error.message().to_owned(),
        location: error.span().map(|span| Location::of(text, span.start)),
        file: drop_in,
    };
    let deserializer = toml::Deserializer::parse(text).map_err(syntax)?;
    let raw: RawFile = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let key = error.path().to_string();
        let inner = error.into_inner();
        Error::WrongType {
            key,
            message: inner.message().to_owned(),
            location: inner.span().map(|span| Location::of(text, span.start)),
            file: drop_in,
        }
    })?;
    let table: toml::Table = toml::from_str(text).map_err(syntax)?;
    check_keys(&table, drop_in)?;
    Ok((raw, table))
}

/// Overlay `top` on `base` key by key (tables merged, other values replaced), as the runtime
/// applies a drop-in: `updateFromDropIn` sets each key of `[hypervisor.*]` and `[agent.*]` the
/// drop-in has, and decodes the other tables over the values already read.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(below)), toml::Value::Table(above)) => merge(below, above),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The main file and its drop-ins, in the order the runtime reads them (file names sorted).
pub(crate) fn parse(text: &str, drop_ins: &[&str]) -> Result<RawFile, Error> {
    let (raw, mut table) = parse_one(text, None)?;
    if drop_ins.is_empty() {
        return Ok(raw);
    }
    for (index, drop_in) in drop_ins.iter().enumerate() {
        let (_, top) = parse_one(drop_in, Some(index))?;
        merge(&mut table, top);
    }
    table
        .try_into()
        .map_err(|error: toml::de::Error| Error::WrongType {
            key: String::new(),
            message: error.message().to_owned(),
            location: None,
            file: None,
        })
}

#[cfg(test)]
mod tests {
    use super::equal_fold;

    #[test]
    fn folding_is_go_s() {
        assert!(equal_fold("Kernel_Params", "kernel_params"));
        // U+212A KELVIN SIGN folds to k, U+017F LONG S to s, as in Go.
        assert!(equal_fold("\u{212a}ernel", "kernel"));
        assert!(equal_fold("\u{17f}hared_fs", "shared_fs"));
        assert!(!equal_fold("kernel", "kernels"));
    }
}
