//! The 32-byte hashes a manifest deals in, as newtypes with hex text forms.

use std::fmt;

use serde::{Serialize, Serializer};

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
    };
}

hash32!(
    /// The digest of a pod's initdata (SHA-256): what SNP `HOST_DATA` carries, and what TDX
    /// `MRCONFIGID` carries in its first 32 bytes (the rest zero).
    PolicyHash
);
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

impl PolicyHash {
    /// Whether verified evidence carries this policy hash in its launch binding.
    pub fn matches(&self, binding: &chiaro_attest::InitDataBinding) -> bool {
        match binding {
            chiaro_attest::InitDataBinding::HostData(host_data) => host_data.as_bytes() == &self.0,
            chiaro_attest::InitDataBinding::MrConfigId(config_id) => {
                let (head, tail) = config_id.as_bytes().split_at(32);
                head == self.0 && tail.iter().all(|byte| *byte == 0)
            }
        }
    }
}
