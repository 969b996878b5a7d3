//! The policy hash: SHA-256 of a pod's initdata.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The digest of a pod's initdata (SHA-256): what SNP `HOST_DATA` carries, and what TDX
/// `MRCONFIGID` carries in its first 32 bytes (the rest zero).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyHash([u8; 32]);

impl PolicyHash {
    /// Wraps raw bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses exactly 64 hex characters.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let bytes = hex::decode(text).ok()?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok().map(Self)
    }
}

impl fmt::Display for PolicyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PolicyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PolicyHash({})", hex::encode(self.0))
    }
}

impl Serialize for PolicyHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("expected 64 hex digits, got {text:?}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_text_round_trips_and_other_lengths_are_refused() {
        let hash = PolicyHash::new([0xab; 32]);
        assert_eq!(PolicyHash::from_hex(&hash.to_string()), Some(hash));
        assert_eq!(PolicyHash::from_hex(&"ab".repeat(31)), None);
        assert_eq!(PolicyHash::from_hex(&"zz".repeat(32)), None);
    }
}
