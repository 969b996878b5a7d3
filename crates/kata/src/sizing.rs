//! The VM's vCPU count and its maximum (`nr_cpus=`), which depend on the node and — with
//! `static_sandbox_resource_mgmt`, as the SEV-SNP and TDX templates set it — on the pod.
//!
//! Go sources: `katautils/config.go` `defaultVCPUs`, `getCurrentCpuNum`, `defaultMaxVCPUs`
//! (from the configuration); `pkg/oci/utils.go` `SandboxConfig` (with static resource
//! management: `NumVCPUsF += WorkloadCPUs`, then `DefaultMaxVCPUs = NumVCPUs()`, Kata PR 9195),
//! `CalculateSandboxSizing` and `utils.CalculateCPUsF` (the workload's CPUs);
//! `virtcontainers/hypervisor_config_linux.go` `validateHypervisorConfig` (0 vCPUs is 1, a
//! maximum of 0 or above 240 is 240); `hypervisor.go` `RoundUpNumVCPUs`.

use crate::{Error, KataConfig};

/// `govmm.MaxVCPUs()` on amd64 (`pkg/govmm/vmm_amd64.go`).
pub const MAX_VCPUS: u32 = 240;

/// What the runtime reads from the node it runs on, where it changes the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// The number of `processor` lines in the node's `/proc/cpuinfo` (`getHostCPUs`).
    pub cpus: u32,
    /// Whether `/proc/sys/crypto/fips_enabled` reads 1: the runtime then appends `fips=1`
    /// (`katautils/create.go` `checkForFIPS`).
    pub fips: bool,
}

/// The pod's CPU limit, as the runtime receives it from containerd (the
/// `io.kubernetes.cri.sandbox-cpu-quota` and `-period` annotations, the sum over the pod's
/// containers): with `static_sandbox_resource_mgmt` it is added to `default_vcpus`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pod {
    cpus: f32,
}

impl Pod {
    /// A pod without CPU limits (containerd's quota is then 0 or -1): no vCPUs are added.
    pub const NO_CPU_LIMIT: Self = Self { cpus: 0.0 };

    /// A pod whose CPU limit is `quota` per `period` (CFS microseconds):
    /// `utils.CalculateCPUsF`, `float32(quota) / float32(period)`, or none when `quota` is
    /// negative or `period` is 0.
    pub fn from_cfs(quota: i64, period: u64) -> Self {
        if quota >= 0 && period != 0 {
            Self {
                cpus: quota as f32 / period as f32,
            }
        } else {
            Self::NO_CPU_LIMIT
        }
    }

    /// The CPUs the limit adds (a Go `float32`).
    pub fn cpus(&self) -> f32 {
        self.cpus
    }
}

/// `uint32(math.Ceil(float64(cpus)))`; Rust's conversion saturates where Go's is undefined.
fn round_up(cpus: f32) -> u32 {
    f64::from(cpus).ceil() as u32
}

impl KataConfig {
    /// `NumVCPUsF` from the configuration on a node with `cpus` CPUs (`defaultVCPUs`): a
    /// negative value, or one above the node's CPU count (at most 240), is that count; 0 is 1.
    fn configured_vcpus(&self, cpus: u32) -> f32 {
        let cpus = cpus.min(MAX_VCPUS) as f32;
        let vcpus = self.default_vcpus;
        if vcpus < 0.0 || vcpus > cpus {
            cpus
        } else if vcpus == 0.0 {
            1.0
        } else {
            vcpus
        }
    }

    /// `NumVCPUsF` in `oci.SandboxConfig`: the configured count plus, with static resource
    /// management, the pod's CPUs (`validateHypervisorConfig` makes a 0 a 1 later, after the
    /// maximum was taken from it).
    fn sandbox_vcpus(&self, node: &Node, pod: &Pod) -> f32 {
        let vcpus = self.configured_vcpus(node.cpus);
        if self.static_sandbox_resource_mgmt {
            vcpus + pod.cpus
        } else {
            vcpus
        }
    }

    /// The `default_vcpus` the configuration asks for, as the runtime resolves it (0 or absent is
    /// 1), rounded up, assuming the node has at least that many CPUs. A negative value (the
    /// node's CPU count) or one above 240 is refused here: see [`KataConfig::vcpus_for`].
    pub fn default_vcpus(&self) -> Result<u32, Error> {
        let vcpus = self.default_vcpus;
        if vcpus < 0.0 || vcpus > MAX_VCPUS as f32 {
            return Err(Error::DependsOnNode {
                key: "hypervisor.qemu.default_vcpus",
                value: vcpus.to_string(),
            });
        }
        Ok(round_up(self.configured_vcpus(MAX_VCPUS)))
    }

    /// The VM's vCPU count (QEMU's `-smp`; an SEV-SNP launch digest has one VMSA per vCPU) for
    /// a pod without CPU limits, on a node with at least that many CPUs.
    pub fn vcpus(&self) -> Result<u32, Error> {
        self.default_vcpus()
    }

    /// The VM's vCPU count for `pod` on `node` (`NumVCPUs()`): the configured count, plus the
    /// pod's CPU limit with `static_sandbox_resource_mgmt`, rounded up.
    pub fn vcpus_for(&self, node: &Node, pod: &Pod) -> u32 {
        match self.sandbox_vcpus(node, pod) {
            0.0 => 1,
            vcpus => round_up(vcpus),
        }
    }

    /// The maximum vCPU count, the command line's `nr_cpus=`, for a pod without CPU limits on
    /// a node with at least that many CPUs: with `static_sandbox_resource_mgmt` the vCPU count
    /// ([`KataConfig::vcpus`]); otherwise `default_maxvcpus` (at most 240), where 0 — the
    /// node's CPU count — is refused here: see [`KataConfig::max_vcpus_for`].
    pub fn max_vcpus(&self) -> Result<u32, Error> {
        if self.static_sandbox_resource_mgmt {
            return self.vcpus();
        }
        match self.default_maxvcpus {
            0 => Err(Error::DependsOnNode {
                key: "hypervisor.qemu.default_maxvcpus",
                value: "0".to_owned(),
            }),
            max => Ok(max.min(MAX_VCPUS)),
        }
    }

    /// The maximum vCPU count, `nr_cpus=`, for `pod` on `node`. With
    /// `static_sandbox_resource_mgmt` it is the VM's vCPU count ([`KataConfig::vcpus_for`]).
    /// Otherwise it is `default_maxvcpus` (`defaultMaxVCPUs`), where 0 or a value of at least
    /// the node's CPU count is the node's CPU count. Either is at most 240, and 0 becomes 240
    /// (`validateHypervisorConfig`).
    pub fn max_vcpus_for(&self, node: &Node, pod: &Pod) -> u32 {
        let max = if self.static_sandbox_resource_mgmt {
            round_up(self.sandbox_vcpus(node, pod))
        } else {
            let mut max = self.default_maxvcpus;
            if max >= node.cpus || max == 0 {
                max = node.cpus;
            }
            max.min(MAX_VCPUS)
        };
        if max == 0 || max > MAX_VCPUS {
            MAX_VCPUS
        } else {
            max
        }
    }
}
