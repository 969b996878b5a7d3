//! The crate's one error type.

use crate::snp::ovmf::SectionKind;

/// Why a launch measurement could not be computed from the inputs given.
///
/// Every malformed input is one of these; nothing in the crate panics on any input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The firmware image is empty, not a whole number of 4 KiB pages, or larger than the
    /// 4 GiB it is loaded below.
    #[error(
        "the firmware image is {len} bytes: it must be a non-zero multiple of 4096 of at most 4 GiB"
    )]
    FirmwareSize {
        /// The image's length in bytes.
        len: usize,
    },
    /// OVMF's GUIDed footer table claims more bytes than the image holds before it.
    #[error("the OVMF footer table claims {claimed} bytes, but only {available} precede it")]
    FooterTableLength {
        /// The table's length as its footer gives it, without the footer.
        claimed: usize,
        /// The bytes in the image before the footer.
        available: usize,
    },
    /// An entry of the footer table is shorter than its own header or longer than what is
    /// left of the table.
    #[error(
        "an OVMF footer table entry claims {claimed} bytes, but its header is 18 and {available} are left"
    )]
    FooterEntryLength {
        /// The entry's length as it gives it.
        claimed: usize,
        /// The table bytes left for it.
        available: usize,
    },
    /// A footer table entry that must hold a 32-bit value holds fewer than 4 bytes.
    #[error("the OVMF footer table entry {entry} holds {len} bytes, fewer than 4")]
    FooterEntryTooShort {
        /// Which entry.
        entry: &'static str,
        /// Its data's length.
        len: usize,
    },
    /// The firmware lacks a footer table entry the measurement needs.
    #[error("the firmware has no {entry} entry in its OVMF footer table")]
    MissingFooterEntry {
        /// Which entry.
        entry: &'static str,
    },
    /// The SEV-ES reset block gives 0 as the APs' reset address: the firmware cannot start
    /// application processors.
    #[error("the SEV-ES reset block gives AP reset address 0")]
    ZeroApResetAddress,
    /// The SEV metadata's offset from the end of the image does not leave room for its
    /// header inside the image.
    #[error(
        "the SEV metadata is said to start {offset_from_end} bytes before the end of a {image_len}-byte image"
    )]
    MetadataOffset {
        /// The offset the footer table gives.
        offset_from_end: u32,
        /// The image's length.
        image_len: usize,
    },
    /// The SEV metadata header's signature is not `ASEV`.
    #[error("the SEV metadata signature is {found:02x?}, not \"ASEV\"")]
    MetadataSignature {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// The SEV metadata header's version is not 1.
    #[error("the SEV metadata version is {found}, not 1")]
    MetadataVersion {
        /// The version found.
        found: u32,
    },
    /// The SEV metadata's length is shorter than its header and items or runs past the image.
    #[error(
        "the SEV metadata is {len} bytes for {items} items, at {available} bytes before the image's end"
    )]
    MetadataLength {
        /// The length its header gives.
        len: u32,
        /// The number of section descriptors its header gives.
        items: u32,
        /// The bytes from its start to the image's end.
        available: usize,
    },
    /// A metadata section has a type neither OVMF nor the PSP defines.
    #[error("SEV metadata section {index} has unknown type {section_type:#x}")]
    UnknownSectionType {
        /// The section's index in the metadata.
        index: usize,
        /// Its type.
        section_type: u32,
    },
    /// A metadata section's address or size is not page-aligned, it is empty, or it runs past
    /// 4 GiB.
    #[error(
        "SEV metadata section {index} ({kind:?}) at {gpa:#x}, {size:#x} bytes, is not whole pages below 4 GiB"
    )]
    SectionRange {
        /// The section's index in the metadata.
        index: usize,
        /// Its type.
        kind: SectionKind,
        /// Its guest-physical address.
        gpa: u32,
        /// Its size in bytes.
        size: u32,
    },
    /// A kernel was given but the firmware has no `SNP_KERNEL_HASHES` section to measure its
    /// hashes in (sev-snp-measure: "Kernel specified but OVMF metadata doesn't include
    /// SNP_KERNEL_HASHES section").
    #[error("a kernel was given, but the firmware's SEV metadata has no SNP_KERNEL_HASHES section")]
    NoKernelHashesSection,
    /// The `SNP_KERNEL_HASHES` section is not exactly the one page the hashes table fills.
    #[error("the SNP_KERNEL_HASHES section is {size:#x} bytes, not one page")]
    KernelHashesSectionSize {
        /// Its size in bytes.
        size: u32,
    },
    /// The SEV hashes table would not fit in its page at the offset the footer table gives.
    #[error("the SEV hashes table at page offset {offset:#x} does not fit in its page")]
    HashesTableOffset {
        /// The table's offset in the page.
        offset: u32,
    },
    /// A vCPU model name sev-snp-measure does not know.
    #[error("unknown vCPU model {name:?}")]
    UnknownVcpuModel {
        /// The name given.
        name: String,
    },
    /// A VMM type other than `QEMU`, `ec2` and `gce`.
    #[error("unknown VMM type {name:?} (QEMU, ec2 or gce)")]
    UnknownVmm {
        /// The name given.
        name: String,
    },
    /// A number that is not decimal or `0x`/`0o`/`0b`-prefixed, or too large.
    #[error("{what} {text:?} is not a number (decimal, or 0x, 0o, 0b prefixed) in range")]
    InvalidNumber {
        /// What the number was for.
        what: &'static str,
        /// The text given.
        text: String,
    },
}
