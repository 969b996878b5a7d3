//! A measured direct boot: the SEV hashes table QEMU writes into the firmware's
//! `SNP_KERNEL_HASHES` page (QEMU `target/i386/sev.c`, `SevHashTable`), which OVMF checks the
//! kernel, initrd and command line it loads against.
//!
//! The table is a header entry (GUID, 16-bit length of the whole table) and three entries
//! (GUID, 16-bit length, SHA-256) for the command line, the initrd and the kernel, in that
//! order, padded to 16 bytes with zeros. It lies in its page at the offset of the table's
//! address (`SEV_HASH_TABLE_RV_GUID`), the rest of the page zeros.

use sha2::{Digest as _, Sha256};

use crate::Error;
use crate::snp::guid::Guid;
use crate::snp::ovmf::PAGE_SIZE;

/// A SHA-256 value.
pub type Sha256Digest = [u8; 32];

const SEV_HASH_TABLE_HEADER_GUID: Guid = Guid::from_u128(0x9438d606_4f22_4cc9_b479_a793d411fd21);
const SEV_CMDLINE_ENTRY_GUID: Guid = Guid::from_u128(0x97d02dd8_bd20_4c94_aa78_e7714d36ab2a);
const SEV_INITRD_ENTRY_GUID: Guid = Guid::from_u128(0x44baf731_3a2f_4bd7_9af1_41e29169781d);
const SEV_KERNEL_ENTRY_GUID: Guid = Guid::from_u128(0x4de79437_abd2_427f_b835_d5b172d2045b);

/// One entry: GUID, length, SHA-256.
const ENTRY_LEN: usize = 16 + 2 + 32;
/// The table without padding: header (GUID, length) and three entries.
const TABLE_LEN: usize = 16 + 2 + 3 * ENTRY_LEN;
/// The table padded to a multiple of 16 bytes, as QEMU writes it.
pub const PADDED_TABLE_LEN: usize = TABLE_LEN.next_multiple_of(16);

/// The kernel, initrd and command line of a direct boot, as their SHA-256 digests (all the
/// launch digest depends on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectBoot {
    kernel: Sha256Digest,
    initrd: Sha256Digest,
    cmdline: Sha256Digest,
}

impl DirectBoot {
    /// A direct boot of these files. An empty `initrd` or `cmdline` is measured as QEMU measures
    /// none: the SHA-256 of no bytes, and of the command line `""` (one NUL).
    pub fn new(kernel: &[u8], initrd: &[u8], cmdline: &str) -> Self {
        Self::from_sha256(
            Sha256::digest(kernel).into(),
            Sha256::digest(initrd).into(),
            cmdline,
        )
    }

    /// A direct boot whose kernel and initrd the caller has hashed (say, while streaming large
    /// files): their SHA-256 digests, and the command line.
    pub fn from_sha256(kernel: Sha256Digest, initrd: Sha256Digest, cmdline: &str) -> Self {
        Self {
            kernel,
            initrd,
            cmdline: cmdline_sha256(cmdline),
        }
    }

    /// The kernel's SHA-256.
    pub const fn kernel_sha256(&self) -> Sha256Digest {
        self.kernel
    }

    /// The initrd's SHA-256.
    pub const fn initrd_sha256(&self) -> Sha256Digest {
        self.initrd
    }

    /// The command line's SHA-256 ([`cmdline_sha256`]).
    pub const fn cmdline_sha256(&self) -> Sha256Digest {
        self.cmdline
    }

    /// The padded SEV hashes table.
    pub fn table(&self) -> [u8; PADDED_TABLE_LEN] {
        let mut table = [0u8; PADDED_TABLE_LEN];
        let entries = [
            (SEV_CMDLINE_ENTRY_GUID, &self.cmdline),
            (SEV_INITRD_ENTRY_GUID, &self.initrd),
            (SEV_KERNEL_ENTRY_GUID, &self.kernel),
        ];
        let mut out = table.iter_mut();
        let mut put = |bytes: &[u8]| {
            // `bytes` first: zip stops on it without taking a slot from `out`.
            for (byte, slot) in bytes.iter().zip(out.by_ref()) {
                *slot = *byte;
            }
        };
        put(&SEV_HASH_TABLE_HEADER_GUID.to_bytes());
        put(&(TABLE_LEN as u16).to_le_bytes());
        for (guid, hash) in entries {
            put(&guid.to_bytes());
            put(&(ENTRY_LEN as u16).to_le_bytes());
            put(hash);
        }
        table
    }

    /// The `SNP_KERNEL_HASHES` page: the table at `offset`, zeros around it.
    pub(crate) fn page(&self, offset: u32) -> Result<[u8; PAGE_SIZE], Error> {
        let mut page = [0u8; PAGE_SIZE];
        let slot = usize::try_from(offset)
            .ok()
            .and_then(|start| page.get_mut(start..start.checked_add(PADDED_TABLE_LEN)?))
            .ok_or(Error::HashesTableOffset { offset })?;
        slot.copy_from_slice(&self.table());
        Ok(page)
    }
}

/// The SHA-256 of a kernel command line as QEMU hashes it: its bytes and a trailing NUL.
pub fn cmdline_sha256(cmdline: &str) -> Sha256Digest {
    Sha256::new()
        .chain_update(cmdline.as_bytes())
        .chain_update([0])
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::{DirectBoot, PADDED_TABLE_LEN, TABLE_LEN};

    #[test]
    fn table_is_qemus_length() {
        assert_eq!((TABLE_LEN, PADDED_TABLE_LEN), (0xa8, 0xb0));
    }

    #[test]
    fn table_is_laid_out_as_qemu_writes_it() {
        let table = DirectBoot::from_sha256([0x11; 32], [0x22; 32], "").table();
        let entry = |at: usize| &table[at..at + 50];
        assert_eq!(&table[16..18], &[0xa8, 0]);
        assert_eq!(&entry(18)[16..18], &[50, 0]);
        assert_eq!(&entry(68)[18..], &[0x22; 32]);
        assert_eq!(&entry(118)[18..], &[0x11; 32]);
        assert_eq!(&table[168..], &[0; 8]);
    }

    #[test]
    fn table_fits_only_inside_its_page() {
        let boot = DirectBoot::new(b"kernel", b"", "");
        let last = (4096 - PADDED_TABLE_LEN) as u32;
        assert!(boot.page(last).is_ok());
        assert!(boot.page(last + 1).is_err());
        assert!(boot.page(u32::MAX).is_err());
    }
}
