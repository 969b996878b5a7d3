//! Content digests: `sha256:` and 64 lowercase hex digits, the only algorithm accepted.

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::RegistryError;

/// The SHA-256 digest of a manifest, index or blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `content`.
    pub fn of(content: &[u8]) -> Self {
        Self(Sha256::digest(content).into())
    }

    /// Parses `sha256:<64 lowercase hex>`.
    ///
    /// # Errors
    /// [`RegistryError::Digest`] for another algorithm, length or alphabet.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let error = |reason: &str| RegistryError::Digest {
            digest: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (algorithm, encoded) = text
            .split_once(':')
            .ok_or_else(|| error("expected algorithm:hex"))?;
        if algorithm != "sha256" {
            return Err(error("only sha256 digests are supported"));
        }
        if encoded.len() != 64
            || !encoded
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(error("expected 64 lowercase hex digits"));
        }
        let mut bytes = [0; 32];
        hex::decode_to_slice(encoded, &mut bytes).map_err(|e| error(&e.to_string()))?;
        Ok(Self(bytes))
    }

    /// The 64 hex digits, without the algorithm.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether `content` hashes to this digest.
    pub fn matches(&self, content: &[u8]) -> bool {
        Self::of(content) == *self
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_content() {
        let digest = Digest::of(b"hello");
        let text = digest.to_string();
        assert_eq!(
            text,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(Digest::parse(&text).unwrap(), digest);
        assert!(digest.matches(b"hello"));
        assert!(!digest.matches(b"hellp"));
    }

    #[test]
    fn refuses_other_algorithms_lengths_and_case() {
        let hex64 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        for bad in [
            format!("sha512:{hex64}"),
            format!("sha256:{}", &hex64[1..]),
            format!("sha256:{}", hex64.to_uppercase()),
            hex64.to_owned(),
            format!("sha256:{hex64}0"),
        ] {
            assert!(
                matches!(Digest::parse(&bad), Err(RegistryError::Digest { .. })),
                "{bad}"
            );
        }
    }
}
