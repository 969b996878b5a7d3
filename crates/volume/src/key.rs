//! The volume key: HKDF-SHA256 over the workload secret, bound to the volume's name and, for
//! per-replica volumes, the pod's name.
//!
//! `volume_key = HKDF-SHA256(ikm = workload secret, salt = none, info = "chiaro volume key v1"
//! 0x00 VOLUME 0x00 REPLICA-or-empty)`, 32 bytes. Neither name can hold a NUL (a DNS label; an
//! environment value), so distinct contexts give distinct `info` strings. The key is the LUKS2
//! passphrase, fed raw on stdin: it has 256 bits of entropy, so the keyslot needs no slow
//! password hashing (`docs/volumes.md`).

use std::fmt;

use chiaro_pod::VolumeName;
use hkdf::Hkdf;
use sha2::Sha256;

use crate::Error;

/// The `info` prefix of every volume key.
pub const KEY_INFO: &[u8] = b"chiaro volume key v1";
/// The shortest workload secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The workload secret the initializer writes (`secrets/workload-secret-seed`, hex).
pub struct WorkloadSecret(Vec<u8>);

impl WorkloadSecret {
    /// Parses the file's content: hex, surrounding white space ignored.
    ///
    /// # Errors
    /// [`Error::Secret`]: not hex, or shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let bytes = hex::decode(text.trim()).map_err(|_| Error::Secret)?;
        if bytes.len() < MIN_SECRET_LEN {
            return Err(Error::Secret);
        }
        Ok(Self(bytes))
    }
}

impl fmt::Debug for WorkloadSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkloadSecret(..)")
    }
}

/// What a volume key is bound to besides the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyContext {
    /// The volume's name in the pod spec.
    pub volume: VolumeName,
    /// The pod's name for per-replica volumes (StatefulSet pods `db-0`, `db-1`): a disk moved to
    /// another replica does not open there.
    pub replica: Option<String>,
}

/// A volume's LUKS2 key (32 bytes).
pub struct VolumeKey([u8; 32]);

impl VolumeKey {
    /// The raw key, as `cryptsetup --key-file -` reads it.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for VolumeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VolumeKey(..)")
    }
}

/// Derives the key of the volume `context` names.
pub fn volume_key(secret: &WorkloadSecret, context: &KeyContext) -> VolumeKey {
    let mut info = KEY_INFO.to_vec();
    info.push(0);
    info.extend_from_slice(context.volume.as_str().as_bytes());
    info.push(0);
    info.extend_from_slice(context.replica.as_deref().unwrap_or("").as_bytes());
    let mut key = [0; 32];
    #[expect(
        clippy::expect_used,
        reason = "32 bytes is within HKDF-SHA256's limit of 8160"
    )]
    Hkdf::<Sha256>::new(None, &secret.0)
        .expand(&info, &mut key)
        .expect("32 bytes of HKDF-SHA256 output");
    VolumeKey(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> WorkloadSecret {
        WorkloadSecret::from_hex(&hex::encode([byte; 32])).unwrap()
    }

    fn context(volume: &str, replica: Option<&str>) -> KeyContext {
        KeyContext {
            volume: VolumeName::parse(volume).unwrap(),
            replica: replica.map(str::to_owned),
        }
    }

    fn key(secret: &WorkloadSecret, volume: &str, replica: Option<&str>) -> String {
        hex::encode(volume_key(secret, &context(volume, replica)).as_bytes())
    }

    /// Computed once with this code and pinned: a change breaks every volume already written.
    #[test]
    fn the_derivation_is_pinned() {
        assert_eq!(key(&secret(0x11), "data", None), PINNED_DATA);
        assert_eq!(key(&secret(0x11), "data", Some("db-0")), PINNED_DATA_DB0);
    }

    #[test]
    fn volumes_replicas_and_secrets_get_different_keys() {
        let one = secret(1);
        let keys = [
            key(&one, "data", None),
            key(&one, "logs", None),
            key(&one, "data", Some("db-0")),
            key(&one, "data", Some("db-1")),
            key(&secret(2), "data", None),
            // The separator: "data" + replica "x" is not volume "data-x" or "datax".
            key(&one, "datax", None),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in keys.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
        assert_eq!(key(&one, "data", None), key(&secret(1), "data", None));
    }

    #[test]
    fn the_secret_file_is_the_hex_of_32_bytes_or_more() {
        assert!(WorkloadSecret::from_hex(&format!("{}\n", hex::encode([7; 32]))).is_ok());
        assert!(WorkloadSecret::from_hex(&hex::encode([7; 31])).is_err());
        assert!(WorkloadSecret::from_hex("zz").is_err());
        assert_eq!(format!("{:?}", secret(1)), "WorkloadSecret(..)");
    }

    // Also what Python's hmac gives for RFC 5869 HKDF with these inputs.
    const PINNED_DATA: &str = "d1f4dfe729f2a61db0a9424fef569e900444933d3ce4859f359cf9913d644a8e";
    const PINNED_DATA_DB0: &str =
        "d10b767d0d2a07d2068053ec48b95e6752ed9bcfc0108311298c62be6ff03834";
}
