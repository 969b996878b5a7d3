//! The guest kernel command line, assembled in the runtime's order: what QEMU gets as
//! `-append` (`govmm/qemu` `appendKernel` passes `Kernel.Params` unchanged).
//!
//! Go sources, in the order their parameters appear:
//!
//! 1. `virtcontainers/qemu_amd64.go` `kernelParams` (the x86 list) and, with `enable_iommu`,
//!    `intel_iommu=on iommu=pt` (`newQemuArch`);
//! 2. `virtcontainers/qemu_arch_base.go` `handleImagePath`: with an image,
//!    `hypervisor.go` `GetKernelRootParams` (virtio-blk, since a confidential guest has nvdimm
//!    disabled, so no DAX);
//! 3. `qemu_arch_base.go` `appendConsole`: `console=hvc0 console=hvc1`, or `console=ttyS0`
//!    with `use_legacy_serial`;
//! 4. `qemu_arch_base.go` `kernelParameters(false)`: `quiet`, and with an image
//!    `systemd.show_status=false` (`kernelParamsSystemdNonDebug`);
//! 5. `virtcontainers/qemu.go` `kernelParameters`: `panic=1` (`defaultKernelParameters`),
//!    `nr_cpus=` the maximum vCPU count (`sizing`), `selinux=0` or `selinux=1` (`disable_guest_selinux`),
//!    then `HypervisorConfig.KernelParams`, which `katautils/config.go` `SetKernelParams`
//!    filled with: the systemd parameters when there is an image (`katautils/create.go`
//!    `systemdKernelParam`), `scsi_mod.scan=none` for virtio-scsi, the agent's parameters
//!    (`virtcontainers/kata_agent.go` `KataAgentKernelParams`) and last the configuration's
//!    `kernel_params`;
//! 6. after the pod's annotations (not reproduced: host-controlled), `fips=1` on a FIPS node
//!    (`katautils/create.go` `checkForFIPS`).

use crate::Error;
use crate::config::{GuestImage, KataConfig, RootfsType};
use crate::params::{self, Param};
use crate::sizing::{Node, Pod};

/// `qemu_amd64.go` `kernelParams`.
const AMD64_PARAMS: &[(&str, &str)] = &[
    ("tsc", "reliable"),
    ("no_timer_check", ""),
    ("rcupdate.rcu_expedited", "1"),
    ("i8042.direct", "1"),
    ("i8042.dumbkbd", "1"),
    ("i8042.nopnp", "1"),
    ("i8042.noaux", "1"),
    ("noreplace-smp", ""),
    ("reboot", "k"),
    ("cryptomgr.notests", ""),
    ("net.ifnames", "0"),
    ("pci", "lastbus=0"),
];

/// `katautils/create.go` `systemdKernelParam` (`systemdUnitName` is `kata-containers.target`).
const SYSTEMD_PARAMS: &[(&str, &str)] = &[
    ("systemd.unit", "kata-containers.target"),
    ("systemd.mask", "systemd-networkd.service"),
    ("systemd.mask", "systemd-networkd.socket"),
];

impl KataConfig {
    /// The kernel command line of a pod VM, byte for byte as the runtime builds it, for a pod
    /// without CPU limits and without annotations that change it, on a node with FIPS mode off
    /// and enough CPUs (see [`KataConfig::max_vcpus`], which gives `nr_cpus=`). Refused where
    /// `nr_cpus=` would be the node's CPU count: use [`KataConfig::kernel_command_line_for`].
    pub fn kernel_command_line(&self) -> Result<String, Error> {
        Ok(params::serialize(
            &self.kernel_params(self.max_vcpus()?, false),
        ))
    }

    /// The kernel command line of `pod`'s VM on `node`, byte for byte as the runtime builds it,
    /// for a pod without annotations that change it.
    pub fn kernel_command_line_for(&self, node: &Node, pod: &Pod) -> String {
        params::serialize(&self.kernel_params(self.max_vcpus_for(node, pod), node.fips))
    }

    /// The parameters, in order, with `nr_cpus` as given.
    fn kernel_params(&self, nr_cpus: u32, fips: bool) -> Vec<Param> {
        let pairs = |list: &[(&str, &str)]| -> Vec<Param> {
            list.iter()
                .map(|(key, value)| Param::new(key, value))
                .collect()
        };
        let image = match &self.guest_image {
            GuestImage::Image { rootfs_type, .. } => Some(*rootfs_type),
            GuestImage::Initrd { .. } => None,
        };
        let mut params = pairs(AMD64_PARAMS);
        if self.iommu {
            params.push(Param::new("intel_iommu", "on"));
            params.push(Param::new("iommu", "pt"));
        }
        if let Some(rootfs_type) = image {
            // `GetKernelRootParams(rootfs_type, disableNvdimm = true, dax = false)`.
            params.push(Param::new("root", "/dev/vda1"));
            let flags = match rootfs_type {
                RootfsType::Ext4 | RootfsType::Xfs => "data=ordered,errors=remount-ro ro",
                RootfsType::Erofs => "ro",
            };
            params.push(Param::new("rootflags", flags));
            params.push(Param::new("rootfstype", rootfs_type.as_str()));
        }
        if self.legacy_serial {
            params.push(Param::new("console", "ttyS0"));
        } else {
            params.push(Param::new("console", "hvc0"));
            params.push(Param::new("console", "hvc1"));
        }
        params.push(Param::new("quiet", ""));
        if image.is_some() {
            params.push(Param::new("systemd.show_status", "false"));
        }
        params.push(Param::new("panic", "1"));
        params.push(Param::new("nr_cpus", &nr_cpus.to_string()));
        params.push(Param::new(
            "selinux",
            if self.disable_guest_selinux { "0" } else { "1" },
        ));
        if image.is_some() {
            params.extend(pairs(SYSTEMD_PARAMS));
        }
        if self.virtio_scsi {
            params.push(Param::new("scsi_mod.scan", "none"));
        }
        if self.agent.debug {
            params.push(Param::new("agent.log", "debug"));
        }
        if self.agent.trace {
            params.push(Param::new("agent.trace", "true"));
        }
        if self.agent.cdh_api_timeout > 0 {
            params.push(Param::new(
                "agent.cdh_api_timeout",
                &self.agent.cdh_api_timeout.to_string(),
            ));
        }
        params.extend(self.kernel_params.iter().cloned());
        if fips {
            params.push(Param::new("fips", "1"));
        }
        params
    }
}
