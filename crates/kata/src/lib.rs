//! A node's Kata Containers configuration, read, and the guest kernel command line assembled
//! from it exactly as the Kata Go runtime (`containerd-shim-kata-v2`) does for a QEMU
//! confidential guest (AMD SEV-SNP or Intel TDX). The SEV-SNP launch digest covers the SHA-256
//! of that line (QEMU's `-append`), so reference values need it byte for byte, together with
//! the firmware, kernel, image or initrd, vCPU count and model this crate also reads.
//!
//! Pure: no I/O. The caller reads the files (and, where the runtime reads the node, passes a
//! [`Node`]).
//!
//! - `error`: [`Error`], every refusal, and [`Location`].
//! - `file`: the TOML file as the runtime decodes it, drop-ins merged.
//! - `config`: [`KataConfig`] validated, with the paths, memory size and CPU model.
//! - `sizing`: the VM's vCPU count and `nr_cpus=`, for a [`Node`] and a [`Pod`].
//! - `params`: kernel parameters, `kernel_params` split and printed as the runtime does.
//! - `command_line`: [`KataConfig::kernel_command_line`], the assembly in the runtime's order.
//!
//! What is refused rather than guessed: hypervisors other than QEMU, a configuration that is
//! not a confidential guest, `enable_debug` and the agent's debug console, machine types other
//! than q35, dm-verity `kernel_verity_params` and `launch_process_timeout` (keys of later
//! releases), and — without a [`Node`] and a [`Pod`] — results that depend on the node's CPU
//! count. Not
//! reproduced, because the host controls them per pod: the `io.katacontainers.config.hypervisor.*`
//! annotations the configuration enables (see [`KataConfig::enable_annotations`]); a pod whose
//! annotations change the command line gets another launch digest and is refused by
//! attestation.
//!
//! # The Kata release and the sources checked
//!
//! Kata Containers 3.x of 2025 (the releases with initdata, `InitdataDigest`, and the SNP guest
//! policy), Go runtime `src/runtime/`, read at these blobs of `kata-containers/kata-containers`
//! (the crawl stores single files, not one tree, so the commits differ; where two versions
//! were stored the one of that release was chosen, and the list says which functions were
//! compared):
//!
//! - `virtcontainers/qemu.go` @ `0083d1aee13eddb7a9abce9d29aeb24a9230fa12`: `kernelParameters`,
//!   `defaultKernelParameters`, `CreateVM` (`kernel.Params` after `buildDevices`, `-cpu`
//!   model + `,` + `cpu_features`, `appendProtectionDevice(…, InitdataDigest)`).
//! - `virtcontainers/qemu_amd64.go` (the version with `qgsPort`, `snpCertsPath`,
//!   `snpGuestPolicy`; also `01e56a7c6d1150701939cd868f7162b579f81bbd`): `kernelParams`,
//!   `newQemuArch` (IOMMU, nvdimm disabled for confidential guests), `cpuModel` (`EPYC-v4`).
//! - `virtcontainers/qemu_arch_base.go` (the version with `legacySerial` and
//!   `handleImagePath` returning an error): `kernelParameters(debug)`, `kernelParamsNonDebug`,
//!   `kernelParamsSystemdNonDebug`, `appendConsole`, `handleImagePath`.
//! - `virtcontainers/hypervisor.go` (with `Initdata`, `QgsPort`): `GetKernelRootParams`,
//!   `KernelParamFields`, `DeserializeParams`, `SerializeParams`, `AddKernelParam`.
//! - `virtcontainers/hypervisor_config_linux.go`: `validateHypervisorConfig`.
//! - `virtcontainers/kata_agent.go` (with `CdhApiTimeout`): `KataAgentKernelParams`.
//! - `pkg/katautils/config.go` @ `3fc170788d88efe9d1eb767f0c2f2c85c463a210`: the TOML structs,
//!   `defaultVCPUs`, `defaultMaxVCPUs`, `defaultMemSz`, `cpuFeatures`, `blockDeviceDriver`,
//!   `newQemuHypervisorConfig`, `updateRuntimeConfigAgent`, `SetKernelParams`,
//!   `decodeDropIns`.
//! - `pkg/katautils/create.go` @ `00c774e2a5640f445548e0274e610249e0b39718`:
//!   `systemdKernelParam`, `getKernelParams`, `needSystemd`, `checkForFIPS`.
//! - `pkg/oci/utils.go` (the version with `addHypervisorGPUOverrides`): `SandboxConfig`, whose
//!   static resource management adds the pod's CPUs and sets `DefaultMaxVCPUs = NumVCPUs()`
//!   (Kata PR 9195, merged after November 2024), `CalculateSandboxSizing`;
//!   `virtcontainers/utils/utils.go`: `CalculateCPUsF`.
//! - `pkg/govmm/vmm_amd64.go` @ `4decf30b3ea63b122cb93f495b4cef22265c7b8c`: `MaxVCPUs` (240);
//!   `pkg/govmm/qemu/qemu.go`: `appendKernel`.
//! - Templates: `config/configuration-qemu-snp.toml.in` @
//!   `0264aa507df469f638049378d7ab65c24cba632d`, `config/configuration-qemu-tdx.toml.in` @
//!   `0230073800d5d0698d7e8becef35dad10b3c582d`.
//!
//! Cross-checked against Edgeless Contrast's SNP launch-digest derivation of 2024
//! (`edgelesssys/contrast`, Nix, `cmdlineBase`: the same parameters in the same order; test
//! `contrast_cross_check`).
//!
//! `docs/kata-command-line.md` says what a node's Kata upgrade means for reference values.

#![deny(clippy::indexing_slicing, clippy::panic_in_result_fn)]

mod command_line;
mod config;
mod error;
mod file;
mod params;
mod sizing;

pub use config::{DEFAULT_CPU_MODEL, GuestImage, KataConfig, Platform, RootfsType, SNP_CPU_MODEL};
pub use error::{Error, Location};
pub use sizing::{MAX_VCPUS, Node, Pod};
