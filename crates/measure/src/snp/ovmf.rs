//! An OVMF firmware image as the VMM loads it for an SEV-SNP guest: ending at 4 GiB, with
//! OVMF's GUIDed footer table (`footer`) and, through it, the SEV metadata (`metadata`)
//! that says which guest pages the VMM adds besides the image itself.

mod footer;
mod metadata;

pub use metadata::{MetadataSection, SectionKind};

use crate::Error;
use crate::snp::chain::Chain;
use crate::snp::guid::Guid;
use crate::snp::page_info::Sha384Digest;

use footer::FooterTable;

/// The end of the firmware: OVMF is mapped so that its last byte is just below 4 GiB.
pub const FOUR_GIB: u64 = 0x1_0000_0000;

/// The size of a guest page, the unit of `SNP_LAUNCH_UPDATE`.
pub const PAGE_SIZE: usize = 4096;

/// The footer table entry of the SEV-ES reset block: the APs' reset address.
pub const SEV_ES_RESET_BLOCK_GUID: Guid = Guid::from_u128(0x00f771de_1a7e_4fcb_890e_68c77e2fb44e);
/// The footer table entry that points at the SEV metadata (its offset from the image's end).
pub const OVMF_SEV_METADATA_GUID: Guid = Guid::from_u128(0xdc886566_984a_4798_a75e_5585a7bf67cc);
/// The footer table entry that gives the guest-physical address of the SEV hashes table.
pub const SEV_HASH_TABLE_RV_GUID: Guid = Guid::from_u128(0x7255371f_3a3b_4b04_927b_1da6efa8d454);

/// A parsed OVMF image, borrowing the caller's bytes.
#[derive(Debug, Clone)]
pub struct Ovmf<'a> {
    image: &'a [u8],
    footer: FooterTable<'a>,
    sections: Vec<MetadataSection>,
}

impl<'a> Ovmf<'a> {
    /// Reads the footer table and the SEV metadata of `image`, a whole firmware file (or its
    /// last pages: whatever the VMM maps below 4 GiB).
    ///
    /// An image without a footer table (its footer GUID absent) parses, with no entries and no
    /// sections, as in sev-snp-measure: it still has an OVMF-only hash, but
    /// [`FirmwareMeasurement::new`](crate::snp::FirmwareMeasurement::new) refuses it for lack
    /// of the SEV-ES reset block.
    pub fn parse(image: &'a [u8]) -> Result<Self, Error> {
        let len = image.len();
        if len == 0
            || !len.is_multiple_of(PAGE_SIZE)
            || u64::try_from(len).map_or(true, |l| l > FOUR_GIB)
        {
            return Err(Error::FirmwareSize { len });
        }
        let footer = FooterTable::parse(image)?;
        let sections = match footer.entry(OVMF_SEV_METADATA_GUID) {
            Some(entry) => {
                let offset_from_end = footer::entry_u32(entry, "OVMF_SEV_METADATA")?;
                metadata::parse(image, offset_from_end)?
            }
            None => Vec::new(),
        };
        Ok(Self {
            image,
            footer,
            sections,
        })
    }

    /// The image.
    pub const fn image(&self) -> &'a [u8] {
        self.image
    }

    /// The guest-physical address of the image's first byte: 4 GiB less its length.
    pub fn gpa(&self) -> u64 {
        // `parse` checked that the length is at most 4 GiB.
        FOUR_GIB.saturating_sub(self.image.len() as u64)
    }

    /// The sections of the SEV metadata, in the order the VMM adds them.
    pub fn sections(&self) -> &[MetadataSection] {
        &self.sections
    }

    /// Whether the SEV metadata has a section of this kind.
    pub fn has_section(&self, kind: SectionKind) -> bool {
        self.sections.iter().any(|section| section.kind == kind)
    }

    /// The data of the footer table entry `guid` (when the table has it more than once, the
    /// one furthest from the end, as sev-snp-measure reads it).
    pub fn footer_entry(&self, guid: Guid) -> Option<&'a [u8]> {
        self.footer.entry(guid)
    }

    /// The APs' reset address from the SEV-ES reset block: the AP VMSA's `CS` base is its
    /// upper 16 bits, `RIP` its lower.
    pub fn ap_reset_address(&self) -> Result<u32, Error> {
        let name = "SEV_ES_RESET_BLOCK";
        let entry = self
            .footer
            .entry(SEV_ES_RESET_BLOCK_GUID)
            .ok_or(Error::MissingFooterEntry { entry: name })?;
        footer::entry_u32(entry, name)
    }

    /// The guest-physical address OVMF expects the SEV hashes table at.
    pub fn sev_hashes_table_gpa(&self) -> Result<u32, Error> {
        let name = "SEV_HASH_TABLE_RV";
        let entry = self
            .footer
            .entry(SEV_HASH_TABLE_RV_GUID)
            .ok_or(Error::MissingFooterEntry { entry: name })?;
        footer::entry_u32(entry, name)
    }

    /// The OVMF-only hash (sev-snp-measure `--mode snp:ovmf-hash`): the launch digest after the
    /// image's pages, each added as a normal page at its address below 4 GiB.
    pub fn ovmf_hash(&self) -> Sha384Digest {
        let mut chain = Chain::new();
        chain.normal_pages(self.gpa(), self.image);
        chain.digest()
    }
}
