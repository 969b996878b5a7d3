//! Firmware images made here: a footer table (SEV-ES reset block, SEV hashes table address,
//! SEV metadata pointer) and SEV metadata with chosen sections, for the layouts and the
//! malformations the real images do not have.

use crate::Rng;

pub(crate) const FOOTER_GUID: u128 = 0x96b582de_1fb2_45f7_baea_a366c55a082d;
pub(crate) const RESET_BLOCK_GUID: u128 = 0x00f771de_1a7e_4fcb_890e_68c77e2fb44e;
pub(crate) const HASHES_TABLE_GUID: u128 = 0x7255371f_3a3b_4b04_927b_1da6efa8d454;
pub(crate) const METADATA_GUID: u128 = 0xdc886566_984a_4798_a75e_5585a7bf67cc;

/// The in-memory bytes of a GUID written as one hex number.
pub(crate) fn guid(value: u128) -> [u8; 16] {
    chiaro_measure::snp::Guid::from_u128(value).to_bytes()
}

/// Section types.
pub(crate) const SEC_MEM: u32 = 1;
pub(crate) const SECRETS: u32 = 2;
pub(crate) const CPUID: u32 = 3;
pub(crate) const SVSM_CAA: u32 = 4;
pub(crate) const KERNEL_HASHES: u32 = 0x10;

/// Where the metadata starts in the image.
pub(crate) const METADATA_AT: usize = 0x100;

/// A firmware image to build.
#[derive(Debug, Clone)]
pub(crate) struct Firmware {
    pub(crate) pages: usize,
    pub(crate) reset_address: Option<u32>,
    pub(crate) hashes_table_gpa: Option<u32>,
    /// `(gpa, size, type)`, or no metadata pointer at all.
    pub(crate) sections: Option<Vec<(u32, u32, u32)>>,
}

impl Firmware {
    /// OVMF's layout (the AmdSev build's sections).
    pub(crate) fn amd_sev() -> Self {
        Self {
            pages: 4,
            reset_address: Some(0x0080_b004),
            hashes_table_gpa: Some(0x0081_0c00),
            sections: Some(vec![
                (0x80_0000, 0x9000, SEC_MEM),
                (0x80_a000, 0x3000, SEC_MEM),
                (0x80_d000, 0x1000, SECRETS),
                (0x80_e000, 0x1000, CPUID),
                (0x80_f000, 0x1000, SVSM_CAA),
                (0x81_0000, 0x1000, KERNEL_HASHES),
                (0x81_1000, 0xf000, SEC_MEM),
            ]),
        }
    }

    /// A random valid layout: sections of random types at random pages below 4 GiB, the
    /// kernel-hashes section (if any) one page.
    pub(crate) fn random(rng: &mut Rng) -> Self {
        let count = rng.below(9) as usize;
        let sections = (0..count)
            .map(|_| {
                let kind = *rng.pick(&[SEC_MEM, SEC_MEM, SECRETS, CPUID, SVSM_CAA, KERNEL_HASHES]);
                let pages = match kind {
                    SECRETS | CPUID | KERNEL_HASHES => 1,
                    _ => rng.range(0, 24) as u32,
                };
                let gpa = (rng.below(0x8_0000) as u32) << 12;
                (gpa, pages << 12, kind)
            })
            .collect();
        Self {
            pages: rng.range(1, 8) as usize,
            reset_address: Some(rng.range(1, u64::from(u32::MAX)) as u32),
            hashes_table_gpa: Some(rng.range(0, 4096 - 0xb0) as u32 | 0x0081_0000),
            sections: Some(sections),
        }
    }

    /// The image: random filler, the metadata at [`METADATA_AT`], the footer table before the
    /// last 32 bytes.
    pub(crate) fn build(&self, rng: &mut Rng) -> Vec<u8> {
        let len = self.pages * 4096;
        let mut image = rng.bytes(len);
        let mut entries = Vec::new();
        let mut entry = |guid_value: u128, data: &[u8]| {
            entries.extend_from_slice(data);
            entries.extend_from_slice(&((data.len() + 18) as u16).to_le_bytes());
            entries.extend_from_slice(&guid(guid_value));
        };
        if let Some(address) = self.reset_address {
            entry(RESET_BLOCK_GUID, &address.to_le_bytes());
        }
        if let Some(gpa) = self.hashes_table_gpa {
            let mut data = gpa.to_le_bytes().to_vec();
            data.extend_from_slice(&0x400u32.to_le_bytes());
            entry(HASHES_TABLE_GUID, &data);
        }
        if let Some(sections) = &self.sections {
            let mut metadata = b"ASEV".to_vec();
            metadata.extend_from_slice(&(16 + 12 * sections.len() as u32).to_le_bytes());
            metadata.extend_from_slice(&1u32.to_le_bytes());
            metadata.extend_from_slice(&(sections.len() as u32).to_le_bytes());
            for (gpa, size, kind) in sections {
                for value in [gpa, size, kind] {
                    metadata.extend_from_slice(&value.to_le_bytes());
                }
            }
            image[METADATA_AT..METADATA_AT + metadata.len()].copy_from_slice(&metadata);
            entry(METADATA_GUID, &((len - METADATA_AT) as u32).to_le_bytes());
        }
        let footer_at = len - 32 - 18;
        let start = footer_at - entries.len();
        image[start..footer_at].copy_from_slice(&entries);
        image[footer_at..footer_at + 2]
            .copy_from_slice(&((entries.len() + 18) as u16).to_le_bytes());
        image[footer_at + 2..footer_at + 18].copy_from_slice(&guid(FOOTER_GUID));
        image
    }
}
