//! The SEV-SNP launch digest of a guest that boots OVMF, as sev-snp-measure (`--mode snp`)
//! computes it.
//!
//! The PSP folds every page the VMM adds with `SNP_LAUNCH_UPDATE` into one SHA-384 chain
//! ([`page_info`]), in the order the VMM adds them:
//!
//! 1. the firmware image ([`ovmf`]), page by page as normal pages, ending at 4 GiB: the
//!    OVMF-only hash ([`Ovmf::ovmf_hash`]);
//! 2. the sections of OVMF's SEV metadata, in their order: `SNP_SEC_MEM` as zero pages
//!    (unmeasured on GCE), `SNP_SECRETS` as the secrets page, `CPUID` as the CPUID page (EC2
//!    adds it after all other sections instead), `SVSM_CAA` as zero pages, and
//!    `SNP_KERNEL_HASHES` as the page holding the SEV hashes table of a direct boot
//!    ([`sev_hashes`]) or as zero pages without one;
//! 3. one VMSA per vCPU ([`vmsa`]): the boot processor's (reset vector `0xFFFFFFF0`), then one
//!    per application processor (the SEV-ES reset block's address), with the vCPU signature
//!    and guest features ([`vcpu`]) and the VMM's reset state ([`vmm`]).
//!
//! [`launch`] puts these together: [`FirmwareMeasurement`] is the digest after steps 1 and 2,
//! which neither the vCPU model nor the guest features touch, so a caller trying many of those
//! hashes the firmware once.
//!
//! # Why a digest for N vCPUs follows from the 1-vCPU digest
//! Each step of the chain depends only on the digest before it and on the page's `PAGE_INFO`
//! (contents hash, type, address). All VMSAs are added last, after every other page, and every
//! AP VMSA is the same page (the same reset address, signature, features and VMM state; no
//! per-vCPU field such as an APIC ID is in it), added at the same address ([`VMSA_GPA`]). So
//! the digest for N vCPUs is the 1-vCPU digest followed by N − 1 identical steps, which need
//! only the AP VMSA's hash: [`ScalableDigest`] holds the two values, and
//! [`extend_with_ap_vmsas`] takes the steps. Every VMM here has this layout; one that did not
//! would have no [`ScalableDigest`].

mod chain;
pub mod guid;
pub mod launch;
pub mod ovmf;
pub mod page_info;
pub mod sev_hashes;
pub mod vcpu;
pub mod vmm;
pub mod vmsa;

pub use guid::Guid;
pub use launch::{FirmwareMeasurement, ScalableDigest, Vmsas, launch_digest};
pub use ovmf::{MetadataSection, Ovmf, SectionKind};
pub use page_info::{PageInfo, PageType, Sha384Digest, VMSA_GPA, extend_with_ap_vmsas};
pub use sev_hashes::{DirectBoot, Sha256Digest, cmdline_sha256};
pub use vcpu::{CpuSignature, GuestFeatures, VcpuModel};
pub use vmm::Vmm;
pub use vmsa::VmsaPage;
