//! What the owner reads off a device and a mapping without a tool: the LUKS2 binary header in
//! the first 4096 bytes (magic, version, label, UUID), the ext4 superblock magic, and the
//! device-mapper UUID cryptsetup gives a mapping.
//!
//! The binary header (LUKS2 on-disk format, section 2): magic (6 bytes: `LUKS\xba\xbe` for the
//! primary header, `SKUL\xba\xbe` for the secondary) at 0, version (u16, big-endian) at 6,
//! label (48 bytes, NUL-terminated) at 24, UUID (40 bytes, NUL-terminated) at 168. The
//! checksum covers the JSON area beyond these 4096 bytes; cryptsetup checks it when it opens
//! the device, so this reader only decides which plan applies and never trusts more.

/// How many bytes [`read_header`] looks at.
pub const HEADER_LEN: usize = 4096;
/// The label the owner writes at `luksFormat`: first-time setup has not finished.
pub const LABEL_FORMATTING: &str = "chiaro:formatting";
/// The label the owner writes once the file system exists: the volume may hold data.
pub const LABEL_READY: &str = "chiaro:ready";

const PRIMARY_MAGIC: &[u8; 6] = b"LUKS\xba\xbe";
const SECONDARY_MAGIC: &[u8; 6] = b"SKUL\xba\xbe";
const VERSION_OFFSET: usize = 6;
const LABEL_OFFSET: usize = 24;
const LABEL_LEN: usize = 48;
const UUID_OFFSET: usize = 168;
const UUID_LEN: usize = 40;

/// The ext4 superblock starts 1024 bytes into the file system; its magic 0xEF53 (little-endian)
/// is at 0x38 in it.
pub const EXT4_PROBE_LEN: usize = 2048;
const EXT4_MAGIC_OFFSET: usize = 1024 + 0x38;
const EXT4_MAGIC: [u8; 2] = [0x53, 0xEF];

/// What the first [`HEADER_LEN`] bytes of a device hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// No LUKS magic.
    Absent,
    /// A LUKS2 primary header.
    Luks2 {
        /// Its label.
        label: String,
        /// Its UUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`).
        uuid: String,
    },
    /// A LUKS magic, but not a LUKS2 primary header this reader accepts.
    Damaged(HeaderFault),
}

/// What is wrong with a header that has a LUKS magic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderFault {
    /// Fewer bytes than a binary header.
    Truncated,
    /// The secondary header's magic where the primary belongs.
    SecondaryAtStart,
    /// Another LUKS version (LUKS1 is not Chiaro's).
    Version(u16),
    /// A label that is not NUL-terminated UTF-8.
    Label,
    /// A UUID that is not the textual form of a UUID.
    Uuid,
}

impl std::fmt::Display for HeaderFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated => f.write_str("truncated binary header"),
            Self::SecondaryAtStart => f.write_str("a secondary header's magic at offset 0"),
            Self::Version(version) => write!(f, "LUKS version {version}, not 2"),
            Self::Label => f.write_str("a label that is not NUL-terminated UTF-8"),
            Self::Uuid => f.write_str("a UUID that is not one"),
        }
    }
}

/// Reads the binary header at the start of `bytes` (the device's first [`HEADER_LEN`] bytes).
pub fn read_header(bytes: &[u8]) -> Header {
    match bytes.first_chunk::<6>() {
        Some(magic) if magic == PRIMARY_MAGIC => {}
        Some(magic) if magic == SECONDARY_MAGIC => {
            return Header::Damaged(HeaderFault::SecondaryAtStart);
        }
        Some(_) => return Header::Absent,
        None if PRIMARY_MAGIC.starts_with(bytes) && !bytes.is_empty() => {
            return Header::Damaged(HeaderFault::Truncated);
        }
        None => return Header::Absent,
    }
    match parse_primary(bytes) {
        Ok(header) => header,
        Err(fault) => Header::Damaged(fault),
    }
}

/// Whether `bytes` (a file system's first [`EXT4_PROBE_LEN`] bytes) carry the ext4 (ext2/3)
/// superblock magic.
pub fn has_ext4_magic(bytes: &[u8]) -> bool {
    bytes
        .get(EXT4_MAGIC_OFFSET..EXT4_MAGIC_OFFSET + 2)
        .is_some_and(|magic| magic == EXT4_MAGIC)
}

/// Whether a device-mapper UUID (`/sys/block/dm-N/dm/uuid`) is the one cryptsetup gives a
/// mapping of the LUKS2 volume `luks_uuid` (`CRYPT-LUKS2-<uuid without dashes>-<name>`).
pub fn dm_uuid_is_of(dm_uuid: &str, luks_uuid: &str) -> bool {
    let bare: String = luks_uuid.chars().filter(|c| *c != '-').collect();
    dm_uuid
        .strip_prefix("CRYPT-LUKS2-")
        .and_then(|rest| rest.strip_prefix(bare.as_str()))
        .is_some_and(|rest| rest.starts_with('-'))
}

fn parse_primary(bytes: &[u8]) -> Result<Header, HeaderFault> {
    let field = |offset: usize, len: usize| {
        bytes
            .get(offset..offset + len)
            .ok_or(HeaderFault::Truncated)
    };
    let version = field(VERSION_OFFSET, 2)?;
    let version = u16::from_be_bytes([
        version.first().copied().unwrap_or(0),
        version.get(1).copied().unwrap_or(0),
    ]);
    if version != 2 {
        return Err(HeaderFault::Version(version));
    }
    let label = c_string(field(LABEL_OFFSET, LABEL_LEN)?).ok_or(HeaderFault::Label)?;
    let uuid = c_string(field(UUID_OFFSET, UUID_LEN)?).ok_or(HeaderFault::Uuid)?;
    if !is_uuid(&uuid) {
        return Err(HeaderFault::Uuid);
    }
    Ok(Header::Luks2 { label, uuid })
}

/// The NUL-terminated UTF-8 string at the start of `field` (a full field without a NUL is not
/// one).
fn c_string(field: &[u8]) -> Option<String> {
    let end = field.iter().position(|&b| b == 0)?;
    let text = std::str::from_utf8(field.get(..end)?).ok()?;
    Some(text.to_owned())
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "4819a17b-9f25-41ab-be4f-0a3c11b5103c";

    fn header(magic: &[u8; 6], version: u16, label: &str, uuid: &str) -> Vec<u8> {
        let mut bytes = vec![0; HEADER_LEN];
        bytes[..6].copy_from_slice(magic);
        bytes[6..8].copy_from_slice(&version.to_be_bytes());
        bytes[LABEL_OFFSET..LABEL_OFFSET + label.len()].copy_from_slice(label.as_bytes());
        bytes[UUID_OFFSET..UUID_OFFSET + uuid.len()].copy_from_slice(uuid.as_bytes());
        bytes
    }

    #[test]
    fn a_luks2_header_gives_its_label_and_uuid() {
        assert_eq!(
            read_header(&header(PRIMARY_MAGIC, 2, LABEL_READY, UUID)),
            Header::Luks2 {
                label: LABEL_READY.to_owned(),
                uuid: UUID.to_owned()
            }
        );
    }

    #[test]
    fn zeros_and_other_data_have_no_header() {
        assert_eq!(read_header(&[0; HEADER_LEN]), Header::Absent);
        assert_eq!(read_header(b"\x7fELF"), Header::Absent);
        assert_eq!(read_header(&[]), Header::Absent);
    }

    #[test]
    fn damaged_and_foreign_headers_are_named() {
        let damaged = |bytes: &[u8]| match read_header(bytes) {
            Header::Damaged(fault) => fault,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            damaged(&header(SECONDARY_MAGIC, 2, "", UUID)),
            HeaderFault::SecondaryAtStart
        );
        assert_eq!(
            damaged(&header(PRIMARY_MAGIC, 1, "", UUID)),
            HeaderFault::Version(1)
        );
        assert_eq!(
            damaged(&header(PRIMARY_MAGIC, 2, "", "not-a-uuid")),
            HeaderFault::Uuid
        );
        let mut unterminated = header(PRIMARY_MAGIC, 2, "", UUID);
        unterminated[LABEL_OFFSET..LABEL_OFFSET + LABEL_LEN].fill(b'a');
        assert_eq!(damaged(&unterminated), HeaderFault::Label);
        assert_eq!(damaged(b"LUK"), HeaderFault::Truncated);
        assert_eq!(
            damaged(&header(PRIMARY_MAGIC, 2, "", UUID)[..100]),
            HeaderFault::Truncated
        );
    }

    #[test]
    fn the_ext4_magic_is_read_at_its_offset() {
        let mut fs = vec![0; EXT4_PROBE_LEN];
        assert!(!has_ext4_magic(&fs));
        fs[1024 + 0x38] = 0x53;
        fs[1024 + 0x39] = 0xEF;
        assert!(has_ext4_magic(&fs));
        assert!(!has_ext4_magic(&fs[..1080]));
    }

    #[test]
    fn a_mapping_belongs_to_the_volume_its_uuid_names() {
        let dm = "CRYPT-LUKS2-4819a17b9f2541abbe4f0a3c11b5103c-chiaro-data";
        assert!(dm_uuid_is_of(dm, UUID));
        assert!(!dm_uuid_is_of(dm, "5819a17b-9f25-41ab-be4f-0a3c11b5103c"));
        assert!(!dm_uuid_is_of("CRYPT-PLAIN-chiaro-data", UUID));
    }
}
