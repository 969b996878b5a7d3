//! The configuration validated: what the runtime would start, or a refusal.
//!
//! Go sources: `katautils/config.go` (`newQemuHypervisorConfig` and the `hypervisor` getters,
//! `updateRuntimeConfigAgent`), `virtcontainers/hypervisor_config_linux.go`
//! (`validateHypervisorConfig`), `virtcontainers/qemu_amd64.go` (`newQemuArch`, `cpuModel`).

use crate::Error;
use crate::file::{self, RawAgent, RawFile, RawHypervisor};
use crate::params::{self, Param};

/// `vc.MinHypervisorMemory`: a `default_memory` below it is replaced by the default.
const MIN_MEMORY_MIB: u32 = 256;

/// `defaultMemSize` (`katautils/config-settings.go.in`).
const DEFAULT_MEMORY_MIB: u32 = 2048;

/// The QEMU CPU model of an SEV-SNP guest (`qemuAmd64.cpuModel`).
pub const SNP_CPU_MODEL: &str = "EPYC-v4";

/// The QEMU CPU model otherwise (`defaultCPUModel`).
pub const DEFAULT_CPU_MODEL: &str = "host";

/// The confidential-computing hardware of the node, which the runtime probes at start
/// (`availableGuestProtection`) and this crate takes from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// AMD SEV-SNP.
    AmdSevSnp,
    /// Intel TDX.
    IntelTdx,
}

/// The guest's root file system (`rootfs_type`), used when the guest boots from an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsType {
    /// `ext4` (also the default).
    Ext4,
    /// `xfs` (given the same `rootflags` as ext4 by `GetKernelRootParams`).
    Xfs,
    /// `erofs`.
    Erofs,
}

impl RootfsType {
    /// The name as in the configuration and on the command line (`rootfstype=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ext4 => "ext4",
            Self::Xfs => "xfs",
            Self::Erofs => "erofs",
        }
    }
}

/// What the guest boots from besides the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestImage {
    /// A disk image (`image`), attached as virtio-blk (`/dev/vda1`) for a confidential guest.
    Image {
        /// The path as written in the configuration (the runtime resolves symbolic links).
        path: String,
        /// Its root file system.
        rootfs_type: RootfsType,
    },
    /// An initrd (`initrd`), given to QEMU as `-initrd`.
    Initrd {
        /// The path as written in the configuration (the runtime resolves symbolic links).
        path: String,
    },
}

/// The `[agent.*]` settings that add kernel parameters (`KataAgentKernelParams`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Agent {
    pub(crate) debug: bool,
    pub(crate) trace: bool,
    pub(crate) cdh_api_timeout: u32,
}

/// A node's Kata configuration for a QEMU confidential guest, validated: every setting that
/// reaches the kernel command line is one this crate reproduces.
#[derive(Debug, Clone, PartialEq)]
pub struct KataConfig {
    pub(crate) qemu_path: Option<String>,
    pub(crate) kernel: String,
    pub(crate) guest_image: GuestImage,
    pub(crate) firmware: Option<String>,
    pub(crate) firmware_volume: Option<String>,
    pub(crate) cpu_features: String,
    pub(crate) default_vcpus: f32,
    pub(crate) default_maxvcpus: u32,
    pub(crate) default_memory: u32,
    pub(crate) sev_snp_guest: bool,
    pub(crate) snp_guest_policy: Option<u64>,
    pub(crate) iommu: bool,
    pub(crate) legacy_serial: bool,
    pub(crate) disable_guest_selinux: bool,
    pub(crate) virtio_scsi: bool,
    pub(crate) kernel_params: Vec<Param>,
    pub(crate) agent: Agent,
    pub(crate) static_sandbox_resource_mgmt: bool,
    pub(crate) enable_annotations: Vec<String>,
}

/// `Some(path)` for a non-empty path.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.is_empty())
}

/// `hypervisor.cpuFeatures()`: split on commas, drop empty pieces, trim the others of white
/// space, join with commas and trim commas from both ends.
fn cpu_features(value: &str) -> String {
    let mut joined = String::new();
    for feature in value.split(',') {
        if !feature.is_empty() {
            joined.push_str(feature.trim());
            joined.push(',');
        }
    }
    joined.trim_matches(',').to_owned()
}

fn agent(raw: &RawAgent) -> Result<Agent, Error> {
    if raw.debug_console_enabled == Some(true) {
        return Err(Error::Debug {
            key: "agent.kata.debug_console_enabled",
        });
    }
    if let Some(timeout) = raw.launch_process_timeout {
        return Err(Error::Unsupported {
            key: "agent.kata.launch_process_timeout",
            value: timeout.to_string(),
            reason: "the key belongs to a later Kata release than this crate models, whose \
                     runtime builds the command line differently",
        });
    }
    Ok(Agent {
        debug: raw.enable_debug == Some(true),
        trace: raw.enable_tracing == Some(true),
        cdh_api_timeout: raw.cdh_api_timeout.unwrap_or(0),
    })
}

fn guest_image(raw: &RawHypervisor) -> Result<GuestImage, Error> {
    match (non_empty(raw.image.clone()), non_empty(raw.initrd.clone())) {
        (Some(_), Some(_)) => Err(Error::ImageAndInitrd),
        (None, None) => Err(Error::NoGuestImage),
        (None, Some(path)) => Ok(GuestImage::Initrd { path }),
        (Some(path), None) => {
            // `hypervisor.rootfsType()` defaults to ext4; `GetKernelRootParams` refuses others.
            let rootfs_type = match raw.rootfs_type.as_deref().unwrap_or("") {
                "" | "ext4" => RootfsType::Ext4,
                "xfs" => RootfsType::Xfs,
                "erofs" => RootfsType::Erofs,
                other => {
                    return Err(Error::InvalidValue {
                        key: "hypervisor.qemu.rootfs_type",
                        value: other.to_owned(),
                        reason: "the runtime refuses it (\"unsupported rootfs type\")",
                    });
                }
            };
            Ok(GuestImage::Image { path, rootfs_type })
        }
    }
}

/// `default_vcpus`, a Go `float32`: TOML floats that do not fit, and NaN (whose conversion to
/// a vCPU count Go leaves undefined), are refused.
fn default_vcpus(value: Option<f64>) -> Result<f32, Error> {
    let Some(value) = value else { return Ok(0.0) };
    if value.is_nan() || (value.is_finite() && value.abs() > f64::from(f32::MAX)) {
        return Err(Error::InvalidValue {
            key: "hypervisor.qemu.default_vcpus",
            value: value.to_string(),
            reason: "not a number a Go float32 holds",
        });
    }
    // Go decodes the value as a float32.
    Ok(value as f32)
}

impl KataConfig {
    /// Reads a node's Kata configuration file (such as
    /// `/opt/kata/share/defaults/kata-containers/configuration-qemu-snp.toml`).
    ///
    /// Keys the runtime reads but the command line does not depend on are ignored, as are
    /// unknown keys. A key of the wrong type is an error naming the key and its place.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_with_drop_ins(text, &[])
    }

    /// Reads the configuration file and the drop-in files of its `config.d/` directory, given
    /// in the order the runtime reads them (sorted by file name); each drop-in overrides the
    /// keys it sets (`katautils/config.go` `decodeDropIns`). A drop-in that sets a
    /// `[hypervisor.*]` or `[agent.*]` key the runtime does not know is refused, as the runtime
    /// refuses it.
    pub fn parse_with_drop_ins(text: &str, drop_ins: &[&str]) -> Result<Self, Error> {
        Self::from_raw(file::parse(text, drop_ins)?)
    }

    fn from_raw(raw: RawFile) -> Result<Self, Error> {
        let mut hypervisors = raw.hypervisor.into_iter();
        let (name, hypervisor) = match (hypervisors.next(), hypervisors.next()) {
            (None, _) => return Err(Error::NoHypervisor),
            (Some(only), None) => only,
            (Some((first, _)), Some((second, _))) => {
                let mut names = vec![first, second];
                names.extend(hypervisors.map(|(name, _)| name));
                return Err(Error::SeveralHypervisors(names));
            }
        };
        if name != "qemu" {
            return Err(Error::UnsupportedHypervisor(name));
        }
        let mut agents = raw.agent.into_iter();
        let agent = match (agents.next(), agents.next()) {
            (None, _) => Agent::default(),
            (Some((_, only)), None) => agent(&only)?,
            (Some((first, _)), Some((second, _))) => {
                let mut names = vec![first, second];
                names.extend(agents.map(|(name, _)| name));
                return Err(Error::SeveralAgents(names));
            }
        };
        let h = hypervisor;
        if h.confidential_guest != Some(true) {
            return Err(Error::NotConfidential);
        }
        if h.enable_debug == Some(true) {
            return Err(Error::Debug {
                key: "hypervisor.qemu.enable_debug",
            });
        }
        if let Some(verity) = h
            .kernel_verity_params
            .as_ref()
            .filter(|value| !value.is_empty())
        {
            return Err(Error::Unsupported {
                key: "hypervisor.qemu.kernel_verity_params",
                value: verity.clone(),
                reason: "dm-verity parameters belong to a later Kata release than this crate \
                         models (its Go source was not available to check the assembly against)",
            });
        }
        match h.machine_type.as_deref().unwrap_or("") {
            "" | "q35" => {}
            other => {
                return Err(Error::Unsupported {
                    key: "hypervisor.qemu.machine_type",
                    value: other.to_owned(),
                    reason: "only q35 is supported for confidential guests",
                });
            }
        }
        // `blockDeviceDriver()`: empty is `defaultBlockDeviceDriver` (virtio-scsi).
        let virtio_scsi = match h.block_device_driver.as_deref().unwrap_or("") {
            "" | "virtio-scsi" => true,
            "virtio-blk" | "virtio-mmio" | "nvdimm" | "virtio-blk-ccw" => false,
            other => {
                return Err(Error::InvalidValue {
                    key: "hypervisor.qemu.block_device_driver",
                    value: other.to_owned(),
                    reason: "the runtime refuses it (\"Invalid hypervisor block storage driver\")",
                });
            }
        };
        let kernel = non_empty(h.kernel.clone()).ok_or(Error::NoKernel)?;
        let guest_image = guest_image(&h)?;
        let kernel_params = params::parse_kernel_params(h.kernel_params.as_deref().unwrap_or(""))?;
        let default_memory = match h.default_memory.unwrap_or(0) {
            memory if memory < MIN_MEMORY_MIB => DEFAULT_MEMORY_MIB,
            memory => memory,
        };
        Ok(Self {
            qemu_path: non_empty(h.path),
            kernel,
            guest_image,
            firmware: non_empty(h.firmware),
            firmware_volume: non_empty(h.firmware_volume),
            cpu_features: cpu_features(h.cpu_features.as_deref().unwrap_or("")),
            default_vcpus: default_vcpus(h.default_vcpus)?,
            default_maxvcpus: h.default_maxvcpus.unwrap_or(0),
            default_memory,
            sev_snp_guest: h.sev_snp_guest == Some(true),
            snp_guest_policy: h.snp_guest_policy,
            iommu: h.enable_iommu == Some(true),
            legacy_serial: h.use_legacy_serial == Some(true),
            // A Go bool: absent is false, i.e. guest SELinux *enabled* (`selinux=1`); the
            // templates set it to true.
            disable_guest_selinux: h.disable_guest_selinux == Some(true),
            virtio_scsi,
            kernel_params,
            agent,
            static_sandbox_resource_mgmt: raw.runtime.static_sandbox_resource_mgmt == Some(true),
            enable_annotations: h.enable_annotations.unwrap_or_default(),
        })
    }

    /// The QEMU binary (`path`), if set.
    pub fn qemu_path(&self) -> Option<&str> {
        self.qemu_path.as_deref()
    }

    /// The guest kernel (`kernel`), as written (the runtime resolves symbolic links, so the
    /// caller should measure the file the link points to).
    pub fn kernel(&self) -> &str {
        &self.kernel
    }

    /// The disk image or initrd the guest boots from.
    pub fn guest_image(&self) -> &GuestImage {
        &self.guest_image
    }

    /// The disk image (`image`), if the guest boots from one.
    pub fn image(&self) -> Option<&str> {
        match &self.guest_image {
            GuestImage::Image { path, .. } => Some(path),
            GuestImage::Initrd { .. } => None,
        }
    }

    /// The initrd (`initrd`), if the guest boots from one: QEMU's `-initrd`.
    pub fn initrd(&self) -> Option<&str> {
        match &self.guest_image {
            GuestImage::Initrd { path } => Some(path),
            GuestImage::Image { .. } => None,
        }
    }

    /// The firmware (`firmware`): OVMF for SEV-SNP, TDVF for TDX; `None` leaves QEMU's default.
    pub fn firmware(&self) -> Option<&str> {
        self.firmware.as_deref()
    }

    /// The firmware volume (`firmware_volume`, TDX), if set.
    pub fn firmware_volume(&self) -> Option<&str> {
        self.firmware_volume.as_deref()
    }

    /// Whether `sev_snp_guest` is true.
    pub fn sev_snp_guest(&self) -> bool {
        self.sev_snp_guest
    }

    /// `snp_guest_policy`, if set (QEMU's default, 0x30000, applies otherwise).
    pub fn snp_guest_policy(&self) -> Option<u64> {
        self.snp_guest_policy
    }

    /// The vCPU model QEMU is given (`qemuAmd64.cpuModel`): `EPYC-v4` for an SEV-SNP guest on
    /// an SEV-SNP node, `host` on a TDX node. On an SEV-SNP node without `sev_snp_guest` the
    /// runtime starts a plain SEV guest, which is refused.
    pub fn cpu_model(&self, platform: Platform) -> Result<&'static str, Error> {
        match platform {
            Platform::AmdSevSnp if self.sev_snp_guest => Ok(SNP_CPU_MODEL),
            Platform::AmdSevSnp => Err(Error::NotSevSnp),
            Platform::IntelTdx => Ok(DEFAULT_CPU_MODEL),
        }
    }

    /// `cpu_features` as the runtime normalises it (`hypervisor.cpuFeatures()`).
    pub fn cpu_features(&self) -> &str {
        &self.cpu_features
    }

    /// QEMU's `-cpu` argument: the model, a comma and the features (`CreateVM` appends the
    /// comma even when there are no features).
    pub fn qemu_cpu_argument(&self, platform: Platform) -> Result<String, Error> {
        Ok(format!(
            "{},{}",
            self.cpu_model(platform)?,
            self.cpu_features
        ))
    }

    /// The default memory in MiB (`default_memory`; below 256 or absent is 2048). With
    /// [`KataConfig::static_sandbox_resource_mgmt`] the runtime adds the pod's memory limit
    /// (memory is not part of an SEV-SNP launch digest).
    pub fn default_memory_mib(&self) -> u32 {
        self.default_memory
    }

    /// `[runtime] static_sandbox_resource_mgmt`: the VM is sized when it starts from the pod's
    /// limits (see [`KataConfig::vcpus_for`]), so the vCPU count and `nr_cpus` — and with them
    /// an SEV-SNP launch digest — depend on the pod.
    pub fn static_sandbox_resource_mgmt(&self) -> bool {
        self.static_sandbox_resource_mgmt
    }

    /// `enable_annotations`: the hypervisor annotations (regular expressions over the names after
    /// `io.katacontainers.config.hypervisor.`) a pod may set. Those that reach the launch
    /// measurement (`kernel_params`, `default_maxvcpus`, `default_vcpus`, `kernel`, `image`,
    /// `initrd`, `firmware`, `enable_iommu`, …) are host-controlled: the host's runtime reads
    /// them from the pod spec it is given.
    pub fn enable_annotations(&self) -> &[String] {
        &self.enable_annotations
    }
}
