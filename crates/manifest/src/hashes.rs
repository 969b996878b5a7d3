//! The 32-byte hashes a manifest deals in, as newtypes with hex text forms.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! hash32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        impl $name {
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

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::from_hex(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("expected 64 hex digits, got {text:?}"))
                })
            }
        }
    };
}

hash32!(
    /// SHA-256 of a manifest's canonical JSON.
    ManifestHash
);
hash32!(
    /// SHA-256 of a [`crate::Transition`].
    TransitionHash
);
hash32!(
    /// SHA-256 of a workload owner's public key (SubjectPublicKeyInfo DER).
    KeyDigest
);

hash32!(
    /// A deployment's identity: public, derived from its seed
    /// ([`DeploymentId::from_seed`]); every owner signature names it.
    DeploymentId
);

impl TransitionHash {
    /// The "previous transition" of the first manifest.
    pub const ZERO: Self = Self([0; 32]);
}
