//! TCB versions and processor generations.
//!
//! A `TCB_VERSION` is 8 bytes whose layout depends on the generation (ABI specification
//! Table 3): Milan and Genoa put the bootloader SPL at byte 0, TEE at 1, SNP at 6 and microcode
//! at 7; Turin adds the FMC SPL at byte 0 and moves bootloader, TEE and SNP to bytes 1, 2 and 3.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An AMD EPYC generation with its own root key (ARK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Product {
    /// EPYC 7003 (Zen 3).
    Milan,
    /// EPYC 9004/8004 and Siena (Zen 4).
    Genoa,
    /// EPYC 9005 (Zen 5).
    Turin,
}

impl Product {
    /// Every generation Chiaro pins a root for.
    pub const ALL: [Self; 3] = [Self::Milan, Self::Genoa, Self::Turin];

    /// The name AMD uses in KDS URLs and certificate subjects.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// Parses a VCEK `productName` such as `Milan-B0` or `Genoa`: the part before the stepping.
    pub fn from_product_name(name: &str) -> Option<Self> {
        let family = name.split('-').next().unwrap_or_default();
        Self::ALL
            .into_iter()
            .find(|product| product.name().eq_ignore_ascii_case(family))
    }

    /// Whether this generation's `TCB_VERSION` uses the Turin layout with an FMC SPL.
    pub const fn has_fmc(self) -> bool {
        matches!(self, Self::Turin)
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Product {
    type Err = UnknownProduct;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_product_name(text).ok_or_else(|| UnknownProduct(text.to_owned()))
    }
}

/// A product name that is not Milan, Genoa or Turin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown AMD product {0:?} (expected Milan, Genoa or Turin)")]
pub struct UnknownProduct(pub String);

/// An undecoded 8-byte `TCB_VERSION` as it appears in the report.
#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct RawTcb(u64);

impl RawTcb {
    /// Wraps the little-endian value read from the report.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw value.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Decodes the components with the layout of `product`.
    pub fn decode(self, product: Product) -> TcbVersion {
        let bytes = self.0.to_le_bytes();
        let [b0, b1, b2, b3, _, _, b6, b7] = bytes;
        if product.has_fmc() {
            TcbVersion {
                fmc: Some(b0),
                bootloader: b1,
                tee: b2,
                snp: b3,
                microcode: b7,
            }
        } else {
            TcbVersion {
                fmc: None,
                bootloader: b0,
                tee: b1,
                snp: b6,
                microcode: b7,
            }
        }
    }
}

impl fmt::Debug for RawTcb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawTcb({:#018x})", self.0)
    }
}

impl From<RawTcb> for String {
    fn from(tcb: RawTcb) -> Self {
        format!("{:#018x}", tcb.0)
    }
}

/// A decoded TCB version: the security patch level of each firmware component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcbVersion {
    /// FMC SPL (Turin and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
    /// Bootloader SPL.
    pub bootloader: u8,
    /// TEE (PSP OS) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
}

/// A component of a [`TcbVersion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcbComponent {
    /// FMC SPL.
    Fmc,
    /// Bootloader SPL.
    Bootloader,
    /// TEE SPL.
    Tee,
    /// SNP SPL.
    Snp,
    /// Microcode SPL.
    Microcode,
}

impl fmt::Display for TcbComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fmc => "fmc",
            Self::Bootloader => "bootloader",
            Self::Tee => "tee",
            Self::Snp => "snp",
            Self::Microcode => "microcode",
        })
    }
}

impl TcbVersion {
    /// The components present in this version, in a fixed order, with their values.
    pub fn components(&self) -> impl Iterator<Item = (TcbComponent, u8)> {
        [
            self.fmc.map(|fmc| (TcbComponent::Fmc, fmc)),
            Some((TcbComponent::Bootloader, self.bootloader)),
            Some((TcbComponent::Tee, self.tee)),
            Some((TcbComponent::Snp, self.snp)),
            Some((TcbComponent::Microcode, self.microcode)),
        ]
        .into_iter()
        .flatten()
    }
}

impl fmt::Display for TcbVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc {fmc} / ")?;
        }
        write!(
            f,
            "bl {} / tee {} / snp {} / ucode {}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}
