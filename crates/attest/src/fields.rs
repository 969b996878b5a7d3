//! Fixed-size evidence fields as newtypes: each prints and parses as lowercase hex.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a hex string could not become a fixed-size field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldParseError {
    /// The text is not hexadecimal.
    #[error("{field}: not hexadecimal")]
    NotHex {
        /// The field being parsed.
        field: &'static str,
    },
    /// The text decodes to the wrong number of bytes.
    #[error("{field}: expected {expected} bytes, got {got}")]
    Length {
        /// The field being parsed.
        field: &'static str,
        /// Bytes the field holds.
        expected: usize,
        /// Bytes the text decoded to.
        got: usize,
    },
}

macro_rules! fixed_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Number of bytes in this field.
            pub const LEN: usize = $len;

            /// Wraps raw bytes.
            pub const fn new(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Copies a slice of exactly [`Self::LEN`] bytes.
            ///
            /// # Errors
            /// [`FieldParseError::Length`] when the slice has another length.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, FieldParseError> {
                <[u8; $len]>::try_from(bytes).map(Self).map_err(|_| FieldParseError::Length {
                    field: stringify!($name),
                    expected: $len,
                    got: bytes.len(),
                })
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

        impl FromStr for $name {
            type Err = FieldParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let bytes = hex::decode(text.trim())
                    .map_err(|_| FieldParseError::NotHex { field: stringify!($name) })?;
                Self::from_slice(&bytes)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&hex::encode(self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

fixed_bytes!(
    /// A 48-byte launch measurement: SNP `MEASUREMENT`, TDX `MRTD`, or a TDX RTMR.
    Measurement,
    48
);
fixed_bytes!(
    /// The 64 bytes of report data the guest chose (SNP `REPORT_DATA`, TDX `REPORTDATA`).
    ReportData,
    64
);
fixed_bytes!(
    /// SNP `HOST_DATA`: 32 bytes the host set at launch (Chiaro: the initdata digest).
    HostData,
    32
);
fixed_bytes!(
    /// A 48-byte SHA-384 digest (SNP ID-key / author-key digests, TDX `MRCONFIGID`, `MROWNER`).
    Digest48,
    48
);
fixed_bytes!(
    /// The SNP `CHIP_ID`: 64 bytes identifying the processor (zero when masked).
    ChipId,
    64
);
fixed_bytes!(
    /// A SHA-256 fingerprint of a DER certificate.
    Fingerprint,
    32
);

impl ChipId {
    /// Whether the chip id is all zero (`MASK_CHIP_ID` set, or a VLEK-signed report).
    pub fn is_masked(&self) -> bool {
        self.0.iter().all(|byte| *byte == 0)
    }
}
