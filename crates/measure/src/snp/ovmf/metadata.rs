//! OVMF's SEV metadata (`OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm`): the guest memory the
//! VMM must add to the launch besides the firmware image.
//!
//! A header (`ASEV`, its length, version 1, the number of sections) and then one 12-byte
//! descriptor per section: guest-physical address, size, type, all 32-bit little-endian.

use crate::Error;
use crate::snp::ovmf::{FOUR_GIB, PAGE_SIZE};

const SIGNATURE: [u8; 4] = *b"ASEV";
const HEADER_LEN: usize = 16;
const DESCRIPTOR_LEN: usize = 12;

/// The type of a metadata section, and so what the VMM adds for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// `SNP_SEC_MEM` (1): memory the firmware uses before it can accept pages itself; added as
    /// zero pages (unmeasured pages on GCE).
    SnpSecMem,
    /// `SNP_SECRETS` (2): the secrets page the PSP fills; one page.
    SnpSecrets,
    /// `CPUID` (3): the CPUID page the PSP checks; one page.
    Cpuid,
    /// `SVSM_CAA` (4): the SVSM calling area; zero pages.
    SvsmCaa,
    /// `SNP_KERNEL_HASHES` (0x10): the page holding the SEV hashes table of a direct boot;
    /// zero pages without one.
    SnpKernelHashes,
}

impl SectionKind {
    /// The kind of metadata type `value`, if OVMF defines one.
    pub const fn from_u32(value: u32) -> Option<Self> {
        match value {
            1 => Some(Self::SnpSecMem),
            2 => Some(Self::SnpSecrets),
            3 => Some(Self::Cpuid),
            4 => Some(Self::SvsmCaa),
            0x10 => Some(Self::SnpKernelHashes),
            _ => None,
        }
    }

    /// How many bytes from the section's address the VMM adds: the secrets and CPUID sections
    /// are one page whatever their size says (as sev-snp-measure adds them).
    const fn measured_len(self, size: u32) -> u64 {
        match self {
            Self::SnpSecrets | Self::Cpuid => PAGE_SIZE as u64,
            Self::SnpSecMem | Self::SvsmCaa | Self::SnpKernelHashes => size as u64,
        }
    }
}

/// One section of the SEV metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataSection {
    /// Its type.
    pub kind: SectionKind,
    /// The guest-physical address of its first page.
    pub gpa: u32,
    /// Its size in bytes: a whole number of pages, except for the one-page secrets and CPUID
    /// sections, whose size is not read.
    pub size: u32,
}

impl MetadataSection {
    /// Its pages' count.
    pub(crate) const fn pages(&self) -> u64 {
        self.kind.measured_len(self.size) / PAGE_SIZE as u64
    }
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let chunk: [u8; 4] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(chunk))
}

/// The sections of the metadata that starts `offset_from_end` bytes before the end of `image`.
pub(super) fn parse(image: &[u8], offset_from_end: u32) -> Result<Vec<MetadataSection>, Error> {
    let offset_error = Error::MetadataOffset {
        offset_from_end,
        image_len: image.len(),
    };
    let start = usize::try_from(offset_from_end)
        .ok()
        .and_then(|offset| image.len().checked_sub(offset))
        .ok_or_else(|| offset_error.clone())?;
    let metadata = image.get(start..).ok_or_else(|| offset_error.clone())?;
    let Some((header, _)) = metadata.split_first_chunk::<HEADER_LEN>() else {
        return Err(offset_error);
    };
    let [s0, s1, s2, s3, ..] = *header;
    let found = [s0, s1, s2, s3];
    if found != SIGNATURE {
        return Err(Error::MetadataSignature { found });
    }
    let field = |offset| u32_at(header, offset).ok_or_else(|| offset_error.clone());
    let len = field(4)?;
    let version = field(8)?;
    let items = field(12)?;
    if version != 1 {
        return Err(Error::MetadataVersion { found: version });
    }
    let length_error = Error::MetadataLength {
        len,
        items,
        available: metadata.len(),
    };
    let descriptors_len = u64::from(items) * DESCRIPTOR_LEN as u64;
    let fits = (HEADER_LEN as u64).saturating_add(descriptors_len) <= u64::from(len)
        && u64::from(len) <= metadata.len() as u64;
    if !fits {
        return Err(length_error);
    }
    let descriptors = metadata
        .get(HEADER_LEN..)
        .ok_or_else(|| length_error.clone())?;
    descriptors
        .chunks_exact(DESCRIPTOR_LEN)
        .take(usize::try_from(items).map_err(|_| length_error.clone())?)
        .enumerate()
        .map(|(index, descriptor)| {
            let value = |offset| u32_at(descriptor, offset).ok_or_else(|| length_error.clone());
            let (gpa, size, section_type) = (value(0)?, value(4)?, value(8)?);
            let kind = SectionKind::from_u32(section_type).ok_or(Error::UnknownSectionType {
                index,
                section_type,
            })?;
            let measured = kind.measured_len(size);
            let page = PAGE_SIZE as u64;
            let whole_pages = u64::from(gpa).is_multiple_of(page) && measured.is_multiple_of(page);
            let below_4_gib = u64::from(gpa) + measured <= FOUR_GIB;
            if !(whole_pages && below_4_gib) {
                return Err(Error::SectionRange {
                    index,
                    kind,
                    gpa,
                    size,
                });
            }
            Ok(MetadataSection { kind, gpa, size })
        })
        .collect()
}
