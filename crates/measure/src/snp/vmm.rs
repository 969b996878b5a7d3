//! The VMMs whose SEV-SNP launches sev-snp-measure models, and where they differ: the initial
//! register state they put in the VMSAs, how they add `SNP_SEC_MEM`, and when they add the
//! CPUID page.

use std::fmt;
use std::str::FromStr;

use crate::Error;
use crate::snp::page_info::PageType;
use crate::snp::vcpu::CpuSignature;

/// The VMM that launches the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Vmm {
    /// QEMU/KVM.
    #[default]
    Qemu,
    /// Amazon EC2.
    Ec2,
    /// Google Compute Engine.
    Gce,
}

/// The reset state of one vCPU as a VMM sets it, where the VMMs differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResetState {
    /// `CS`, `SS` and `TR` segment attributes.
    pub(crate) cs_attrib: u16,
    pub(crate) ss_attrib: u16,
    pub(crate) tr_attrib: u16,
    /// `RDX`: the CPUID signature at reset.
    pub(crate) rdx: u64,
    /// `MXCSR` and the x87 control word.
    pub(crate) mxcsr: u32,
    pub(crate) x87_fcw: u16,
    /// The guest `PAT` MSR.
    pub(crate) g_pat: u64,
}

/// Where the vCPUs' VMSAs come in the launch, which decides whether the digest for N vCPUs
/// follows from the 1-vCPU digest and one AP VMSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VmsaLayout {
    /// After every other page: the boot processor's VMSA, then one per application processor,
    /// all alike.
    BspThenIdenticalAps,
}

/// The PAT MSR's power-on value (AMD APM vol. 2, A.3).
const DEFAULT_PAT: u64 = 0x0007_0406_0007_0406;

/// The reset `EIP` of the boot processor.
pub(crate) const BSP_RESET_EIP: u32 = 0xffff_fff0;

impl Vmm {
    /// Every VMM.
    pub const ALL: [Self; 3] = [Self::Qemu, Self::Ec2, Self::Gce];

    /// Its name as sev-snp-measure spells it (`--vmm-type`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Qemu => "QEMU",
            Self::Ec2 => "ec2",
            Self::Gce => "gce",
        }
    }

    /// How it adds `SNP_SEC_MEM`: zero pages, except GCE, which adds them unmeasured.
    pub(crate) const fn sec_mem_page_type(self) -> PageType {
        match self {
            Self::Qemu | Self::Ec2 => PageType::Zero,
            Self::Gce => PageType::Unmeasured,
        }
    }

    /// Whether it adds the CPUID page after all other metadata sections (EC2) rather than in
    /// its place among them.
    pub(crate) const fn cpuid_page_last(self) -> bool {
        matches!(self, Self::Ec2)
    }

    /// Where it adds the VMSAs. Every VMM here adds them last (after all metadata sections,
    /// EC2's late CPUID page included) and builds every AP's from the same reset address.
    pub(crate) const fn vmsa_layout(self) -> VmsaLayout {
        match self {
            Self::Qemu | Self::Ec2 | Self::Gce => VmsaLayout::BspThenIdenticalAps,
        }
    }

    /// The reset state of a vCPU starting at `eip` with this CPUID signature. Only QEMU puts
    /// the signature in `RDX`; EC2 and GCE put 0x600 there whatever the model.
    pub(crate) const fn reset_state(self, eip: u32, signature: CpuSignature) -> ResetState {
        match self {
            Self::Qemu => ResetState {
                cs_attrib: 0x9b,
                ss_attrib: 0x93,
                tr_attrib: 0x8b,
                rdx: signature.0 as u64,
                mxcsr: 0x1f80,
                x87_fcw: 0x37f,
                g_pat: DEFAULT_PAT,
            },
            Self::Ec2 => ResetState {
                // EC2 leaves the code segment's accessed bit clear at the reset vector.
                cs_attrib: if eip == BSP_RESET_EIP { 0x9a } else { 0x9b },
                ss_attrib: 0x92,
                tr_attrib: 0x83,
                rdx: 0x600,
                mxcsr: 0,
                x87_fcw: 0,
                g_pat: DEFAULT_PAT,
            },
            Self::Gce => ResetState {
                cs_attrib: 0x9b,
                ss_attrib: 0x93,
                tr_attrib: 0x8b,
                rdx: 0x600,
                mxcsr: 0,
                x87_fcw: 0,
                g_pat: 0x0007_0106,
            },
        }
    }
}

impl fmt::Display for Vmm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Vmm {
    type Err = Error;

    /// `QEMU`, `ec2` or `gce`, in any case.
    fn from_str(name: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|vmm| vmm.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::UnknownVmm {
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::Vmm;

    #[test]
    fn names_parse_in_any_case() {
        for vmm in Vmm::ALL {
            assert_eq!(vmm.to_string().parse::<Vmm>(), Ok(vmm));
            assert_eq!(vmm.to_string().to_uppercase().parse::<Vmm>(), Ok(vmm));
        }
        assert_eq!("qemu".parse::<Vmm>(), Ok(Vmm::Qemu));
        assert!("kvm".parse::<Vmm>().is_err());
    }
}
