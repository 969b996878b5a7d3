//! The whole launch digest, in two stages: [`FirmwareMeasurement`] (every page but the VMSAs,
//! which depend on neither the vCPU model nor the guest features) and then the VMSAs, directly
//! ([`FirmwareMeasurement::launch_digest`]) or in the scalable form ([`ScalableDigest`]).

use std::num::NonZeroU32;

use sha2::{Digest as _, Sha384};

use crate::Error;
use crate::snp::chain::Chain;
use crate::snp::ovmf::{Ovmf, SectionKind};
use crate::snp::page_info::{PageType, Sha384Digest, extend_with_ap_vmsas};
use crate::snp::sev_hashes::DirectBoot;
use crate::snp::vcpu::{CpuSignature, GuestFeatures};
use crate::snp::vmm::{BSP_RESET_EIP, Vmm, VmsaLayout};
use crate::snp::vmsa::{VmsaPage, vmsa_page};

/// The digest after the firmware image and its metadata sections: everything the VMM adds
/// before the VMSAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareMeasurement {
    digest: Sha384Digest,
    ap_reset_address: u32,
    vmm: Vmm,
}

/// The boot processor's and the application processors' VMSAs of one guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vmsas {
    /// The boot processor's, starting at the reset vector (`0xFFFFFFF0`).
    pub bsp: VmsaPage,
    /// Every application processor's, starting at the SEV-ES reset block's address.
    pub ap: VmsaPage,
}

/// The launch digest of a guest for any vCPU count: the 1-vCPU digest and the SHA-384 of the
/// AP VMSA, which each further vCPU adds once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalableDigest {
    /// The digest with the boot processor alone.
    pub one_vcpu: Sha384Digest,
    /// The SHA-384 of every application processor's VMSA.
    pub ap_vmsa: Sha384Digest,
}

impl ScalableDigest {
    /// The launch digest with `vcpus` vCPUs.
    pub fn for_vcpus(&self, vcpus: NonZeroU32) -> Sha384Digest {
        extend_with_ap_vmsas(&self.one_vcpu, &self.ap_vmsa, vcpus.get() - 1)
    }
}

impl FirmwareMeasurement {
    /// Measures `ovmf`'s image, then its metadata sections as `vmm` adds them, with `boot`'s
    /// SEV hashes table in the `SNP_KERNEL_HASHES` page (or that page as zeros without one).
    ///
    /// # Errors
    /// [`Error::NoKernelHashesSection`] when `boot` is given and the firmware has no
    /// `SNP_KERNEL_HASHES` section; the footer table errors when the firmware lacks the SEV-ES
    /// reset block (or, with `boot`, the SEV hashes table address); and the errors of a
    /// hashes table that does not fit its page.
    pub fn new(ovmf: &Ovmf<'_>, boot: Option<&DirectBoot>, vmm: Vmm) -> Result<Self, Error> {
        Self::from_ovmf_hash(ovmf.ovmf_hash(), ovmf, boot, vmm)
    }

    /// As [`new`](Self::new), but from the firmware's OVMF-only hash ([`Ovmf::ovmf_hash`])
    /// computed earlier, as sev-snp-measure's `--snp-ovmf-hash`: the image's pages are not
    /// hashed again, only its footer table and metadata are read.
    pub fn from_ovmf_hash(
        ovmf_hash: Sha384Digest,
        ovmf: &Ovmf<'_>,
        boot: Option<&DirectBoot>,
        vmm: Vmm,
    ) -> Result<Self, Error> {
        let ap_reset_address = ovmf.ap_reset_address()?;
        if ap_reset_address == 0 {
            return Err(Error::ZeroApResetAddress);
        }
        if boot.is_some() && !ovmf.has_section(SectionKind::SnpKernelHashes) {
            return Err(Error::NoKernelHashesSection);
        }
        let mut chain = Chain::from_digest(ovmf_hash);
        for section in ovmf.sections() {
            let gpa = u64::from(section.gpa);
            match section.kind {
                SectionKind::SnpSecMem => {
                    chain.empty_pages(vmm.sec_mem_page_type(), gpa, section.pages());
                }
                SectionKind::SnpSecrets => chain.empty_pages(PageType::Secrets, gpa, 1),
                SectionKind::Cpuid if vmm.cpuid_page_last() => {}
                SectionKind::Cpuid => chain.empty_pages(PageType::Cpuid, gpa, 1),
                SectionKind::SnpKernelHashes => match boot {
                    Some(boot) => {
                        if section.pages() != 1 {
                            return Err(Error::KernelHashesSectionSize { size: section.size });
                        }
                        let offset = ovmf.sev_hashes_table_gpa()? & 0xfff;
                        chain.normal_pages(gpa, &boot.page(offset)?);
                    }
                    None => chain.empty_pages(PageType::Zero, gpa, section.pages()),
                },
                SectionKind::SvsmCaa => chain.empty_pages(PageType::Zero, gpa, section.pages()),
            }
        }
        if vmm.cpuid_page_last() {
            for section in ovmf.sections() {
                if section.kind == SectionKind::Cpuid {
                    chain.empty_pages(PageType::Cpuid, u64::from(section.gpa), 1);
                }
            }
        }
        Ok(Self {
            digest: chain.digest(),
            ap_reset_address,
            vmm,
        })
    }

    /// The digest after every page but the VMSAs.
    pub const fn digest(&self) -> Sha384Digest {
        self.digest
    }

    /// The VMM it was measured for.
    pub const fn vmm(&self) -> Vmm {
        self.vmm
    }

    /// The APs' reset address from the firmware's SEV-ES reset block.
    pub const fn ap_reset_address(&self) -> u32 {
        self.ap_reset_address
    }

    /// The VMSAs of this guest's vCPUs for a vCPU signature and guest features.
    pub fn vmsas(&self, signature: impl Into<CpuSignature>, features: GuestFeatures) -> Vmsas {
        let signature = signature.into();
        let vmsa = |eip| vmsa_page(eip, features, &self.vmm.reset_state(eip, signature));
        Vmsas {
            bsp: vmsa(BSP_RESET_EIP),
            ap: vmsa(self.ap_reset_address),
        }
    }

    /// The digest for every vCPU count at once (see [`ScalableDigest`]), for this VMM's
    /// layout of the VMSAs: all last, the APs' identical.
    pub fn with_vcpus(
        &self,
        signature: impl Into<CpuSignature>,
        features: GuestFeatures,
    ) -> ScalableDigest {
        match self.vmm.vmsa_layout() {
            VmsaLayout::BspThenIdenticalAps => {
                let vmsas = self.vmsas(signature, features);
                let mut chain = Chain::from_digest(self.digest);
                chain.vmsa_page(&vmsas.bsp);
                ScalableDigest {
                    one_vcpu: chain.digest(),
                    ap_vmsa: Sha384::digest(vmsas.ap).into(),
                }
            }
        }
    }

    /// The launch digest with `vcpus` vCPUs, each VMSA page added in turn.
    pub fn launch_digest(
        &self,
        vcpus: NonZeroU32,
        signature: impl Into<CpuSignature>,
        features: GuestFeatures,
    ) -> Sha384Digest {
        let vmsas = self.vmsas(signature, features);
        let mut chain = Chain::from_digest(self.digest);
        chain.vmsa_page(&vmsas.bsp);
        for _ in 1..vcpus.get() {
            chain.vmsa_page(&vmsas.ap);
        }
        chain.digest()
    }
}

/// The launch digest (the attestation report's `MEASUREMENT`) of a guest booting `ovmf`, with
/// `boot` measured through the SEV hashes table if given, `vcpus` vCPUs of this signature and
/// these SEV features, launched by `vmm`: what `sev-snp-measure --mode snp` prints.
pub fn launch_digest(
    ovmf: &Ovmf<'_>,
    boot: Option<&DirectBoot>,
    vmm: Vmm,
    vcpus: NonZeroU32,
    signature: impl Into<CpuSignature>,
    features: GuestFeatures,
) -> Result<Sha384Digest, Error> {
    Ok(FirmwareMeasurement::new(ovmf, boot, vmm)?.launch_digest(vcpus, signature, features))
}
