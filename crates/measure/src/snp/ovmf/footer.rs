//! OVMF's GUIDed footer table (`OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm`).
//!
//! The table ends 32 bytes before the end of the image (before the reset vector), with a
//! footer entry: a 16-bit length (of the whole table, footer included) and
//! `OVMF_TABLE_FOOTER_GUID`. The entries before it are read backwards from the footer, each
//! ending with the same header: its data, then its 16-bit length (data and header), then its
//! GUID.

use crate::Error;
use crate::snp::guid::Guid;

/// The GUID of the footer entry that ends the table.
const OVMF_TABLE_FOOTER_GUID: Guid = Guid::from_u128(0x96b582de_1fb2_45f7_baea_a366c55a082d);

/// An entry's header: its 16-bit length, then its GUID.
const HEADER_LEN: usize = 2 + 16;

/// Where the table ends: this many bytes before the end of the image.
const TABLE_END_FROM_IMAGE_END: usize = 32;

/// The entries, in the order they were read (from the footer backwards).
#[derive(Debug, Clone, Default)]
pub(super) struct FooterTable<'a> {
    entries: Vec<(Guid, &'a [u8])>,
}

/// Splits an entry's header (length, GUID) off the end of `bytes`.
fn header(bytes: &[u8]) -> Option<(&[u8], usize, Guid)> {
    let (rest, header) = bytes.split_at_checked(bytes.len().checked_sub(HEADER_LEN)?)?;
    let (len, guid) = header.split_first_chunk::<2>()?;
    let guid: [u8; 16] = guid.try_into().ok()?;
    Some((
        rest,
        usize::from(u16::from_le_bytes(*len)),
        Guid::from_bytes(guid),
    ))
}

impl<'a> FooterTable<'a> {
    /// Reads the table of `image`; an image whose footer GUID is absent has an empty table.
    pub(super) fn parse(image: &'a [u8]) -> Result<Self, Error> {
        let Some(end) = image.len().checked_sub(TABLE_END_FROM_IMAGE_END) else {
            return Ok(Self::default());
        };
        let Some((before_footer, total_len, guid)) = image.get(..end).and_then(header) else {
            return Ok(Self::default());
        };
        if guid != OVMF_TABLE_FOOTER_GUID {
            return Ok(Self::default());
        }
        // A footer shorter than itself says there is no table (sev-snp-measure reads none).
        let Some(table_len) = total_len.checked_sub(HEADER_LEN) else {
            return Ok(Self::default());
        };
        let mut table = before_footer
            .len()
            .checked_sub(table_len)
            .and_then(|start| before_footer.get(start..))
            .ok_or(Error::FooterTableLength {
                claimed: table_len,
                available: before_footer.len(),
            })?;
        let mut entries = Vec::new();
        while let Some((rest, entry_len, guid)) = header(table) {
            let data_len = entry_len
                .checked_sub(HEADER_LEN)
                .filter(|&data_len| data_len <= rest.len())
                .ok_or(Error::FooterEntryLength {
                    claimed: entry_len,
                    available: table.len(),
                })?;
            let (before, data) = rest.split_at(rest.len().saturating_sub(data_len));
            entries.push((guid, data));
            table = before;
        }
        Ok(Self { entries })
    }

    /// The data of entry `guid`: of several, the last read (furthest from the end).
    pub(super) fn entry(&self, guid: Guid) -> Option<&'a [u8]> {
        self.entries
            .iter()
            .rev()
            .find(|(entry_guid, _)| *entry_guid == guid)
            .map(|(_, data)| *data)
    }
}

/// The little-endian 32-bit value an entry's data starts with.
pub(super) fn entry_u32(data: &[u8], entry: &'static str) -> Result<u32, Error> {
    data.first_chunk::<4>()
        .map(|bytes| u32::from_le_bytes(*bytes))
        .ok_or(Error::FooterEntryTooShort {
            entry,
            len: data.len(),
        })
}
