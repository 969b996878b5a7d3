//! What protects an opened volume, as cryptsetup reports it, and the protection Chiaro requires.
//!
//! The LUKS2 header is not authenticated: a host can rewrite its data segment to
//! `cipher_null` without integrity and keep the keyslot and its digest, so the derived key
//! still opens the volume, and the data would then be the host's to read and forge. So after
//! opening, the owner reads what the kernel's active mapping uses (`cryptsetup status`) and
//! refuses anything but AES-XTS with HMAC-SHA256 integrity on 4096-byte sectors (the INSECURE
//! file stand-in, which has no mapping, reads the header's segment and has no integrity).

use std::fmt;

/// The cipher every Chiaro volume is formatted with.
pub const CIPHER: &str = "aes-xts-plain64";
/// Its integrity: dm-integrity's HMAC-SHA256 tag per sector.
pub const INTEGRITY: &str = "hmac(sha256)";
/// Its sector size.
pub const SECTOR_SIZE: u32 = 4096;

/// What cryptsetup says protects a volume.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Protection {
    /// `cipher:`.
    pub cipher: Option<String>,
    /// `integrity:`.
    pub integrity: Option<String>,
    /// `sector size:` (`status`) or `sector:` (`luksDump`).
    pub sector_size: Option<u32>,
}

impl Protection {
    /// Reads `cryptsetup status NAME` or the data segment of `cryptsetup luksDump DEVICE`: the
    /// first `cipher:`, `integrity:` and sector size lines (lower-case keys; `luksDump`'s
    /// keyslots, which come after the segments, write `Cipher:`).
    pub fn parse(text: &str) -> Self {
        let mut protection = Self::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "cipher" if protection.cipher.is_none() => {
                    protection.cipher = Some(value.to_owned());
                }
                "integrity" if protection.integrity.is_none() => {
                    protection.integrity = Some(value.to_owned());
                }
                "sector size" | "sector" if protection.sector_size.is_none() => {
                    let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
                    protection.sector_size = digits.parse().ok();
                }
                _ => {}
            }
        }
        protection
    }

    /// Whether this is Chiaro's protection (with `authenticated`: also the integrity tags).
    pub fn is_required(&self, authenticated: bool) -> bool {
        let integrity_ok = if authenticated {
            self.integrity.as_deref() == Some(INTEGRITY)
        } else {
            self.integrity.as_deref().is_none_or(|i| i == "(none)")
        };
        self.cipher.as_deref() == Some(CIPHER)
            && integrity_ok
            && self.sector_size == Some(SECTOR_SIZE)
    }
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |value: &Option<String>| value.clone().unwrap_or_else(|| "none".to_owned());
        write!(
            f,
            "cipher {}, integrity {}, sector size {}",
            text(&self.cipher),
            text(&self.integrity),
            self.sector_size
                .map_or_else(|| "unknown".to_owned(), |size| size.to_string())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cryptsetup status` of a volume the owner formatted (cryptsetup 2.6).
    const STATUS: &str = "/dev/mapper/chiaro-data is active.\n  type:    LUKS2\n  cipher:  aes-xts-plain64\n  keysize: 768 bits\n  key location: keyring\n  integrity: hmac(sha256)\n  integrity keysize: 256 bits\n  device:  /dev/vda\n  sector size:  4096\n  offset:  0 sectors\n  size:    100000 sectors\n  mode:    read/write\n";

    #[test]
    fn the_owners_volume_is_protected_as_required() {
        let protection = Protection::parse(STATUS);
        assert_eq!(protection.cipher.as_deref(), Some(CIPHER));
        assert_eq!(protection.integrity.as_deref(), Some(INTEGRITY));
        assert_eq!(protection.sector_size, Some(4096));
        assert!(protection.is_required(true));
    }

    #[test]
    fn attack_a_header_rewritten_to_cipher_null_or_without_integrity_is_not_protected() {
        for status in [
            STATUS.replace("aes-xts-plain64", "cipher_null-ecb"),
            STATUS.replace("  integrity: hmac(sha256)\n", ""),
            STATUS.replace("hmac(sha256)", "crc32c"),
            STATUS.replace("sector size:  4096", "sector size:  512"),
        ] {
            let protection = Protection::parse(&status);
            assert!(!protection.is_required(true), "{protection}");
        }
    }

    #[test]
    fn the_stand_ins_header_is_read_from_its_segment() {
        let dump = "LUKS header information\nVersion:       \t2\n\nData segments:\n  0: crypt\n\toffset: 16777216 [bytes]\n\tlength: (whole device)\n\tcipher: aes-xts-plain64\n\tsector: 4096 [bytes]\n\nKeyslots:\n  0: luks2\n\tCipher:     cipher_null\n";
        let protection = Protection::parse(dump);
        assert!(protection.is_required(false), "{protection}");
        assert!(!protection.is_required(true), "no integrity tags");
        let null = Protection::parse(
            &dump.replace("\tcipher: aes-xts-plain64", "\tcipher: cipher_null-ecb"),
        );
        assert!(!null.is_required(false));
    }
}
